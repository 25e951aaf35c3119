"""What the operator commands and the admin routes both show and change, as plain values.

Mappings with their runtime settings merged in, ``mapping-set``, the job log and sync errors.
The mapping settings store is passed in (``Services.mapping_settings`` in a deployment).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, is_dataclass
from typing import Any

from sync_core.errors import ConflictError, DataError, NotFoundError
from sync_core.mapping.catalog import Catalog, CatalogError
from sync_core.mapping.model import IntegrationTableMapping
from sync_core.mapping.overrides import MappingOverrides, apply_overrides, merge_overrides
from sync_core.state.mapping_settings import MappingSettingsStore
from sync_core.state.ports import JobLogStore, SyncErrorStore
from sync_core.sync.commands.support import mapping_of
from sync_core.sync.context import SyncContext
from sync_core.sync.jobs.mapping_job import run_mapping_job

log = logging.getLogger(__name__)

SAVE_ATTEMPTS = 3


def plain(value: Any) -> dict[str, Any]:
    """A result dataclass (or mapping) as a JSON-friendly dict."""
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else dict(value)


def mapping_row(m: IntegrationTableMapping, overrides: MappingOverrides | None = None) -> dict[str, Any]:
    return {
        "name": m.name,
        "bc_entity": m.bc_entity,
        "crm_entity": m.crm_entity,
        "direction": m.direction,
        "table_filter": m.table_filter,
        "integration_table_filter": m.integration_table_filter,
        "synch_only_coupled": m.synch_only_coupled,
        "update_conflict_resolution": m.update_conflict_resolution,
        "deletion_conflict_resolution": m.deletion_conflict_resolution,
        "schedule_minutes": m.interval_minutes,
        "inactivity_timeout_minutes": m.inactivity_timeout_minutes,
        "timer_function": m.function_name,
        "dependencies": list(m.dependencies),
        "runtime_settings": (overrides or MappingOverrides()).as_dict(),
        "fields": [
            {"bc": f.bc_field, "crm": f.crm_field, "direction": f.direction, "enabled": f.enabled}
            for f in m.fields
        ],
    }


def _get_mapping(catalog: Catalog, name: str) -> IntegrationTableMapping:
    try:
        return catalog.get(name)
    except CatalogError as exc:
        raise NotFoundError(exc.message) from None


def mapping_rows(catalog: Catalog, settings: MappingSettingsStore) -> list[dict[str, Any]]:
    """Every mapping as it runs: the catalog's values with the stored runtime settings applied."""
    rows, stored = [], settings.all()
    for m in catalog:
        overrides = stored.get(m.name, MappingOverrides())
        try:
            rows.append(mapping_row(apply_overrides(m, overrides), overrides))
        except DataError as exc:  # the mapping file changed under its settings: show, don't hide
            row = mapping_row(m, overrides)
            row["settings_error"] = exc.message
            rows.append(row)
    return rows


def set_mapping(
    catalog: Catalog,
    settings: MappingSettingsStore,
    name: str,
    *,
    enable: tuple[str, ...] = (),
    disable: tuple[str, ...] = (),
    **scalars: Any,
) -> dict[str, Any]:
    """``mapping-set``: merge the changes into the stored settings (ETag-safe) and show the result."""
    mapping = _get_mapping(catalog, name)
    for _ in range(SAVE_ATTEMPTS):
        current = settings.get(mapping.name)
        merged = merge_overrides(current, enable=enable, disable=disable, **scalars)
        effective = apply_overrides(mapping, merged)  # DataError names an unknown attribute
        try:
            saved = settings.save(mapping.name, merged)
        except ConflictError:  # changed meanwhile (AlreadyExistsError too): re-read and merge again
            continue
        log.info("%s: runtime settings now %s", mapping.name, saved.as_dict())
        return mapping_row(effective, saved)
    raise ConflictError(f"the settings of {mapping.name} kept changing; try again")


def run_now(ctx: SyncContext, mapping: str) -> list[dict[str, Any]]:
    """``run``: the mapping's job now, as its timer would run it; what each direction enqueued."""
    runs = run_mapping_job(ctx, mapping_of(ctx, mapping).name, trigger="command")
    return [
        {"job_id": r.job_id, "direction": r.direction, "read": r.read, "enqueued": r.enqueued} for r in runs
    ]


def job_rows(job_log: JobLogStore, mapping: str | None, limit: int) -> list[dict[str, Any]]:
    rows = []
    for run in job_log.list_runs(mapping, limit=limit):
        summary = job_log.summary(run.job_id)
        rows.append(
            {
                **asdict(run),
                "counts": summary.counts if summary else {},
                "finished": bool(summary and summary.finished),
            }
        )
    return rows


def error_rows(sync_errors: SyncErrorStore, mapping: str | None, limit: int) -> list[dict[str, Any]]:
    return [asdict(e) for e in sync_errors.list(mapping, limit=limit)]
