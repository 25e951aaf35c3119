"""``GET /api/status``: the operator's status page, server-rendered HTML (Jinja2, autoescaped).

The query string chooses what is shown: ``mapping`` and ``record`` filter the sync errors,
``cursor`` pages them (older), ``q`` searches couplings by either id, ``part`` renders one
section only (``review``, ``errors``, ``health``, ``mappings``, ``couplings``) for the page's
script to swap in. The page's buttons call the manage routes (``/api/manage/mappings/...``) with
the function key the page was opened with. A bad parameter gives the page with a notice and 400.
"""

from __future__ import annotations

import functools
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from markupsafe import escape

from sync_core.app import status_data as data
from sync_core.app.wiring import Services, services
from sync_core.errors import SyncError
from sync_core.state.ports import OUTCOMES

log = logging.getLogger(__name__)

PARTS = ("review", "errors", "health", "mappings", "couplings")
KEPT_PARAMS = ("code", "mapping", "record", "cursor", "q")  # what the page's links carry on
REVIEW_EVERY_MS = 2000
MAX_PARAM = 200


@dataclass(frozen=True)
class StatusPage:
    status: int
    html: str
    headers: dict[str, str] = field(default_factory=dict)


class BadParameter(Exception):
    """A query parameter the page cannot use; the message says which and why."""


@functools.cache
def _templates() -> jinja2.Environment:
    folder = Path(__file__).resolve().parent / "templates"
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _headers(nonce: str) -> dict[str, str]:
    policy = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",  # the page's URL carries the function key
    }


def _clean(params: Mapping[str, str], svc: Services) -> tuple[dict[str, str], str]:
    """The kept parameters, and a notice for the first bad one (dropped)."""
    kept = {k: str(params.get(k, "")).strip() for k in KEPT_PARAMS}
    notice = ""
    for name, value in kept.items():
        if len(value) > MAX_PARAM:
            kept[name], notice = "", f"{name} is longer than {MAX_PARAM} characters"
    if kept["mapping"] and kept["mapping"] not in {m.name for m in svc.catalog}:
        notice = f"unknown mapping {kept['mapping']!r}: showing every mapping's errors"
        kept["mapping"] = ""
    return kept, notice


def _link_builder(kept: Mapping[str, str]) -> Callable[..., str]:
    def link(**changes: str) -> str:
        values = {**kept, **changes}
        return "status?" + urlencode({k: v for k, v in values.items() if v})

    return link


def _errors(svc: Services, kept: dict[str, str]) -> tuple[data.ErrorsView, str]:
    try:
        return data.errors_view(svc, kept["mapping"], kept["record"], kept["cursor"]), ""
    except ValueError:
        kept["cursor"] = ""
        view = data.errors_view(svc, kept["mapping"], kept["record"])
        return view, "that page of errors does not exist (bad cursor): showing the newest"


def _section(name: str, svc: Services, kept: dict[str, str]) -> tuple[str, dict[str, Any], str]:
    """The macro that renders section ``name`` and its arguments (plus a notice)."""
    if name == "review":
        return "review_section", {"review": data.review_view(svc)}, ""
    if name == "errors":
        errors, notice = _errors(svc, kept)
        names = [m.name for m in svc.catalog]
        return "errors_section", {"errors": errors, "mapping_names": names}, notice
    if name == "health":
        return "health_section", {"health": data.health_view(svc)}, ""
    if name == "couplings":
        return "couplings_section", {"search": data.coupling_search(svc, kept["q"], kept["mapping"])}, ""
    return "mappings_section", {"mappings": data.mapping_views(svc)}, ""


def _context(svc: Services, kept: dict[str, str], nonce: str) -> dict[str, Any]:
    return {
        "outcomes": OUTCOMES,
        "code": kept["code"],
        "link": _link_builder(kept),
        "nonce": nonce,
        "company": svc.settings.bc_company_id,
        "dataverse": svc.settings.dataverse_url,
        "now": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "review_every_ms": REVIEW_EVERY_MS,
    }


def _render_part(part: str, svc: Services, kept: dict[str, str], nonce: str) -> str:
    macro, args, _ = _section(part, svc, kept)
    module = _templates().get_template("status_parts.html").make_module(_context(svc, kept, nonce))
    return str(getattr(module, macro)(*args.values()))


def _render_page(
    svc: Services, kept: dict[str, str], notice: str, nonce: str, started: float
) -> tuple[str, str]:
    context = _context(svc, kept, nonce)
    sections = data.in_parallel(
        lambda name: _section(name, svc, kept), ("mappings", "review", "errors", "couplings")
    )
    for _, args, note in sections:
        context.update(args)
        notice = notice or note
    context.update(notice=notice, elapsed_ms=round((time.perf_counter() - started) * 1000))
    return _templates().get_template("status.html").render(context), notice


def status_page(params: Mapping[str, str], *, svc: Services | None = None) -> StatusPage:
    started, nonce = time.perf_counter(), secrets.token_urlsafe(16)
    part = str(params.get("part", "")).strip()
    if part and part not in PARTS:
        return StatusPage(
            400, escape(f"unknown part {part[:40]!r} (one of {', '.join(PARTS)})"), _headers(nonce)
        )
    try:
        s = svc or services()
        kept, notice = _clean(params, s)
        if part:
            html = _render_part(part, s, kept, nonce)
        else:
            html, notice = _render_page(s, kept, notice, nonce, started)
    except SyncError as exc:  # storage or an API unavailable, or the deployment misconfigured
        log.warning("status page not rendered: %s", exc.message)
        return StatusPage(503, _unavailable(exc), _headers(nonce))
    log.info(
        "status page%s rendered in %.0f ms",
        f" part {part}" if part else "",
        (time.perf_counter() - started) * 1000,
    )
    return StatusPage(400 if notice else 200, html, _headers(nonce))


def _unavailable(exc: SyncError) -> str:
    text, remedy = escape(exc.message), escape(exc.remedy or "try again in a moment")
    return (
        f"<!doctype html><title>bcsync status</title><h1>Status unavailable</h1><p>{text}</p><p>{remedy}</p>"
    )
