"""host.json options the local runner honours, and app-setting resolution.

Only what the runner uses is read: ``extensions.queues`` (batchSize, visibilityTimeout,
maxDequeueCount, messageEncoding, maxPollingInterval) and ``extensions.http.routePrefix``.
Defaults are the Functions host's (see api-facts §G.4), except ``maxPollingInterval`` whose
local default is 2 s as under Core Tools.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SETTING_REF = re.compile(r"%([^%]+)%")
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")


@dataclass(frozen=True)
class QueueOptions:
    batch_size: int = 16
    visibility_timeout_s: float = 0.0
    max_dequeue_count: int = 5
    message_encoding: str = "base64"
    max_polling_interval_s: float = 2.0


@dataclass(frozen=True)
class HostOptions:
    queues: QueueOptions
    route_prefix: str = "api"


def parse_timespan(value: str | int | float) -> float:
    """``[d.]hh:mm:ss[.fff]`` -> seconds (numbers are taken as seconds)."""
    if isinstance(value, int | float):
        return float(value)
    match = _TIMESPAN.match(value.strip())
    if not match:
        raise ValueError(f"not a TimeSpan (expected [d.]hh:mm:ss): {value!r}")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def load_host_options(host_json: Path | str | Mapping[str, Any]) -> HostOptions:
    """Read host.json (a path or an already parsed dict)."""
    if isinstance(host_json, Mapping):
        data: Mapping[str, Any] = host_json
    else:
        data = json.loads(Path(host_json).read_text(encoding="utf-8"))
    extensions = data.get("extensions") or {}
    return HostOptions(
        queues=_queue_options(extensions.get("queues") or {}),
        route_prefix=str((extensions.get("http") or {}).get("routePrefix", "api")).strip("/"),
    )


def _queue_options(raw: Mapping[str, Any]) -> QueueOptions:
    defaults = QueueOptions()
    batch_size = int(raw.get("batchSize", defaults.batch_size))
    if not 1 <= batch_size <= 32:
        raise ValueError(f"host.json extensions.queues.batchSize must be 1..32, got {batch_size}")
    encoding = str(raw.get("messageEncoding", defaults.message_encoding)).lower()
    if encoding not in ("base64", "none"):
        raise ValueError(f"host.json messageEncoding must be 'base64' or 'none', got {encoding!r}")
    polling = raw.get("maxPollingInterval")
    return QueueOptions(
        batch_size=batch_size,
        visibility_timeout_s=parse_timespan(raw.get("visibilityTimeout", "00:00:00")),
        max_dequeue_count=int(raw.get("maxDequeueCount", defaults.max_dequeue_count)),
        message_encoding=encoding,
        max_polling_interval_s=max(
            0.1, parse_timespan(polling) if polling is not None else defaults.max_polling_interval_s
        ),
    )


def resolve_setting_refs(value: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace ``%NAME%`` with the app setting NAME (the Functions binding-expression rule)."""
    env = os.environ if environ is None else environ

    def _lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise KeyError(f"app setting {name!r} (referenced as %{name}%) is not set")
        return env[name]

    return _SETTING_REF.sub(_lookup, value)


def connection_string(setting_name: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The connection string behind a binding's ``connection`` (an app-setting NAME)."""
    env = os.environ if environ is None else environ
    name = setting_name or "AzureWebJobsStorage"
    for candidate in (name, f"AzureWebJobs{name}"):
        if env.get(candidate):
            return env[candidate]
    raise KeyError(f"app setting {name!r} (a storage connection string) is not set")
