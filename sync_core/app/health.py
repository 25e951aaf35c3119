"""Health checks: settings valid, storage reachable, sign-in to BC and Dataverse working.

Each check reports ``ok`` and, when failing, the error class and a message with no secret in it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sync_core.app.wiring import Services, services
from sync_core.errors import SyncError

log = logging.getLogger(__name__)


def _check(name: str, probe: Callable[[], Any]) -> dict[str, Any]:
    try:
        probe()
        return {"ok": True}
    except SyncError as exc:
        log.warning("health check %s failed: %s", name, type(exc).__name__)
        return {"ok": False, "error": type(exc).__name__, "message": exc.message}
    except Exception as exc:  # storage SDK errors and the like: report the class, not the details
        log.warning("health check %s failed: %s", name, type(exc).__name__)
        return {"ok": False, "error": type(exc).__name__, "message": "check failed"}


def run_checks(svc: Services | None = None) -> dict[str, Any]:
    svc = svc or services()  # raises ConfigError when settings are invalid
    checks = {
        "settings": {"ok": True},
        "storage": _check("storage", lambda: svc.stores.job_log.list_runs(limit=1)),
        "bc_sign_in": _check("bc_sign_in", svc.bc_tokens.token),
        "dataverse_sign_in": _check("dataverse_sign_in", svc.dataverse_tokens.token),
    }
    healthy = all(c["ok"] for c in checks.values())
    return {"status": "healthy" if healthy else "unhealthy", "checks": checks}
