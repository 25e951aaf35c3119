"""The operator HTTP routes' use-cases: route values and the JSON body in, ``HttpResult`` out.

The same operations as ``python -m sync_core``: 200 when done, 202 when record messages were
enqueued for the queue function, 400 for a bad request (with the reason), 404 for an unknown
mapping, record or coupling, 409 when refused (records' state, or the record failed to sync),
503 when storage or an API is temporarily unavailable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sync_core.app.http import BadRequest, HttpResult, answer, flag, guid, json_body
from sync_core.app.operations import error_rows, job_rows, mapping_rows, plain, run_now, set_mapping
from sync_core.app.wiring import Services, services
from sync_core.sync.commands import couplings

DIRECTIONS = ("to-dataverse", "to-bc")


def _svc(svc: Services | None) -> Services:
    return svc or services()


def _selection(data: Mapping[str, Any], *, allow_all: bool = True) -> dict[str, Any]:
    chosen: dict[str, Any] = {"bc_id": guid(data, "bc_id"), "crm_id": guid(data, "crm_id")}
    chosen["all"] = flag(data, "all") if allow_all else False
    if sum(1 for v in chosen.values() if v) != 1:
        which = "bc_id, crm_id or all: true" if allow_all else "bc_id or crm_id"
        raise BadRequest(f"name exactly one of {which}")
    return chosen


# -- per-mapping actions (POST .../mappings/{mapping}/{action}) ------------------------------------


def _couple(svc: Services, mapping: str, raw: bytes) -> HttpResult:
    data = json_body(raw, {"bc_id", "crm_id"})
    bc_id, crm_id = guid(data, "bc_id", required=True), guid(data, "crm_id", required=True)
    result = couplings.couple(svc.sync_context(), mapping, bc_id or "", crm_id or "")
    return HttpResult(200, {"coupling": plain(result)})


def _uncouple(svc: Services, mapping: str, raw: bytes) -> HttpResult:
    chosen = _selection(json_body(raw, {"bc_id", "crm_id", "all"}))
    return HttpResult(200, {"uncoupled": plain(couplings.uncouple(svc.sync_context(), mapping, **chosen))})


def _create_in_dataverse(svc: Services, mapping: str, raw: bytes) -> HttpResult:
    bc_id = guid(json_body(raw, {"bc_id"}), "bc_id", required=True)
    result = couplings.create_in_dataverse(svc.sync_context(), mapping, bc_id or "")
    return HttpResult(200, {"created": plain(result)})


def _create_in_bc(svc: Services, mapping: str, raw: bytes) -> HttpResult:
    crm_id = guid(json_body(raw, {"crm_id"}), "crm_id", required=True)
    result = couplings.create_in_bc(svc.sync_context(), mapping, crm_id or "")
    return HttpResult(200, {"created": plain(result)})


def _sync_now(svc: Services, mapping: str, raw: bytes) -> HttpResult:
    data = json_body(raw, {"bc_id", "crm_id", "direction"})
    chosen = _selection(data, allow_all=False)
    if data.get("direction") not in DIRECTIONS:
        raise BadRequest(f"direction must be one of {', '.join(DIRECTIONS)}")
    result = couplings.sync_now(
        svc.sync_context(), mapping, data["direction"], bc_id=chosen["bc_id"], crm_id=chosen["crm_id"]
    )
    return HttpResult(200, {"synchronized": plain(result)})


def _match_attrs(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest("match must be a list of Dataverse attribute names (or one comma-separated string)")
    attrs = [v.strip() for v in value if v.strip()]
    if not attrs:
        raise BadRequest("match is required")
    return attrs


def _match_couple(svc: Services, mapping: str, raw: bytes) -> HttpResult:
    flags = ("case_sensitive", "create_new", "sync_after", "dry_run")
    data = json_body(raw, {"match", *flags})
    case_sensitive, create_new, sync_after, dry_run = (flag(data, name) for name in flags)
    result = couplings.match_couple(
        svc.sync_context(),
        mapping,
        _match_attrs(data.get("match")),
        case_sensitive=case_sensitive,
        create_new=create_new,
        sync_after=sync_after,
        dry_run=dry_run,
    )
    return HttpResult(202 if result.enqueued else 200, {"match_couple": plain(result)})


def _restore(svc: Services, mapping: str, raw: bytes) -> HttpResult:
    chosen = _selection(json_body(raw, {"bc_id", "crm_id", "all"}))
    result = couplings.restore(svc.sync_context(), mapping, **chosen)
    return HttpResult(202 if result.enqueued else 200, {"restore": plain(result)})


def _retry(svc: Services, mapping: str, raw: bytes) -> HttpResult:
    chosen = _selection(json_body(raw, {"bc_id", "crm_id", "all"}))
    result = couplings.retry(svc.sync_context(), mapping, **chosen)
    return HttpResult(202 if result.enqueued else 200, {"retry": plain(result)})


def _run(svc: Services, mapping: str, raw: bytes) -> HttpResult:
    json_body(raw, set())
    return HttpResult(202, {"jobs": run_now(svc.sync_context(), mapping)})


ACTIONS: dict[str, Callable[[Services, str, bytes], HttpResult]] = {
    "couple": _couple,
    "uncouple": _uncouple,
    "create-in-dataverse": _create_in_dataverse,
    "create-in-bc": _create_in_bc,
    "sync-now": _sync_now,
    "match-couple": _match_couple,
    "restore": _restore,
    "retry": _retry,
    "run": _run,
}


# -- entry points -----------------------------------------------------------------------------------


def mapping_action(mapping: str, action: str, body: bytes, *, svc: Services | None = None) -> HttpResult:
    handler = ACTIONS.get(action)
    if handler is None:
        return HttpResult(404, {"error": f"unknown action {action!r} (known: {', '.join(ACTIONS)})"})
    return answer(lambda: handler(_svc(svc), mapping, body))


def _mapping_set(svc: Services, mapping: str, raw: bytes) -> HttpResult:
    scalars = (
        "update_conflict_resolution",
        "deletion_conflict_resolution",
        "synch_only_coupled",
        "table_filter",
        "integration_table_filter",
    )
    data = json_body(raw, {*scalars, "enable_fields", "disable_fields"})
    if not isinstance(data.get("synch_only_coupled", False), bool):
        raise BadRequest("synch_only_coupled must be true or false")
    for name in ("table_filter", "integration_table_filter", *scalars[:2]):
        if data.get(name) is not None and not isinstance(data[name], str):
            raise BadRequest(f"{name} must be a string")
    lists = {}
    for name in ("enable_fields", "disable_fields"):
        value = data.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BadRequest(f"{name} must be a list of Dataverse attribute names")
        lists[name] = tuple(value)
    row = set_mapping(
        svc.catalog,
        svc.mapping_settings,
        mapping,
        enable=lists["enable_fields"],
        disable=lists["disable_fields"],
        **{k: data.get(k) for k in scalars},
    )
    return HttpResult(200, {"mapping": row})


def mapping_set(mapping: str, body: bytes, *, svc: Services | None = None) -> HttpResult:
    return answer(lambda: _mapping_set(_svc(svc), mapping, body))


def list_mappings(*, svc: Services | None = None) -> HttpResult:
    def call() -> HttpResult:
        current = _svc(svc)
        return HttpResult(200, {"mappings": mapping_rows(current.catalog, current.mapping_settings)})

    return answer(call)


def _limit(params: Mapping[str, str]) -> int:
    text = params.get("limit", "20")
    if not text.isdigit() or not 0 < int(text) <= 1000:
        raise BadRequest("limit must be a whole number from 1 to 1000")
    return int(text)


def list_jobs(params: Mapping[str, str], *, svc: Services | None = None) -> HttpResult:
    return answer(
        lambda: HttpResult(
            200, {"jobs": job_rows(_svc(svc).stores.job_log, params.get("mapping") or None, _limit(params))}
        )
    )


def list_errors(params: Mapping[str, str], *, svc: Services | None = None) -> HttpResult:
    return answer(
        lambda: HttpResult(
            200,
            {
                "errors": error_rows(
                    _svc(svc).stores.sync_errors, params.get("mapping") or None, _limit(params)
                )
            },
        )
    )
