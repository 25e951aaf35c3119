"""Match-based coupling, the pure part: match keys, the Dataverse index, classifying BC records.

BC's "Couple Records" (§4.6): the match attributes are Dataverse attribute names, each mapped back
to its BC field through the mapping's field mappings; a BC value is compared after the field's
transform, case-insensitively unless asked otherwise. A blank match value never matches.
Every BC record is one of: matched (exactly one available row), ambiguous (several rows, or a row
an earlier BC record already matched), unmatched, or already coupled. A Dataverse row that is
already coupled is not available, so it is left out of the index.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sync_core.errors import DataError
from sync_core.mapping.model import FieldMapping, IntegrationTableMapping
from sync_core.mapping.transforms import resolve

MatchClass = Literal["matched", "ambiguous", "unmatched", "already_coupled"]
CLASSES: tuple[MatchClass, ...] = ("matched", "ambiguous", "unmatched", "already_coupled")
SAMPLE_SIZE = 10
MAX_CANDIDATES = 5  # ids kept per key: enough to show an ambiguity

Key = tuple[str, ...]


def match_fields(mapping: IntegrationTableMapping, attrs: Iterable[str]) -> tuple[FieldMapping, ...]:
    """The field mappings named by Dataverse attributes; DataError naming a bad one."""
    by_crm = {f.crm_field: f for f in mapping.fields}
    chosen: list[FieldMapping] = []
    for attr in (a.strip() for a in attrs):
        f = by_crm.get(attr)
        if f is None:
            known = ", ".join(sorted(by_crm))
            raise DataError(f"mapping {mapping.name} has no field mapping for {attr!r} (known: {known})")
        if not f.bc_field:
            raise DataError(f"{attr} is mapped to a constant in {mapping.name}; it cannot be matched on")
        if f.lookup or f.option_map:
            raise DataError(f"{attr} is a lookup or option field in {mapping.name}; match on a value field")
        if f not in chosen:
            chosen.append(f)
    if not chosen:
        raise DataError("name at least one Dataverse attribute to match on (--match)")
    return tuple(chosen)


def _norm(value: Any, case_sensitive: bool) -> str | None:
    if value is None or (isinstance(value, str) and value == ""):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(float(value))
    text = str(value)
    return text if case_sensitive else text.casefold()


@dataclass(frozen=True)
class MatchKey:
    """How a BC record and a Dataverse row are compared."""

    fields: tuple[FieldMapping, ...]
    case_sensitive: bool = False

    @property
    def bc_fields(self) -> tuple[str, ...]:
        return tuple(f.bc_field for f in self.fields)

    @property
    def crm_fields(self) -> tuple[str, ...]:
        return tuple(f.crm_field for f in self.fields)

    def _key(self, values: Iterable[Any]) -> Key | None:
        parts = [_norm(v, self.case_sensitive) for v in values]
        return tuple(p for p in parts if p is not None) if all(p is not None for p in parts) else None

    def bc_key(self, bc: Mapping[str, Any]) -> Key | None:
        return self._key(resolve(f.transform)(bc.get(f.bc_field)) for f in self.fields)

    def crm_key(self, crm: Mapping[str, Any]) -> Key | None:
        return self._key(crm.get(f.crm_field) for f in self.fields)


class MatchIndex:
    """Available (uncoupled) Dataverse rows by match key."""

    def __init__(self, key: MatchKey) -> None:
        self.key = key
        self._rows: dict[Key, list[str]] = {}
        self.rows = self.unavailable = self.blank = 0

    def add(self, crm_id: str, values: Mapping[str, Any], *, coupled: bool) -> None:
        self.rows += 1
        if coupled:
            self.unavailable += 1
            return
        key = self.key.crm_key(values)
        if key is None:
            self.blank += 1
            return
        ids = self._rows.setdefault(key, [])
        if len(ids) < MAX_CANDIDATES:
            ids.append(crm_id)
        elif len(ids) == MAX_CANDIDATES:
            ids.append("...")

    def candidates(self, key: Key) -> list[str]:
        return self._rows.get(key, [])


@dataclass
class MatchReport:
    """Counts per class and a few examples of each (ids only)."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0))
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {c: [] for c in CLASSES})

    def note(self, cls: MatchClass, bc_id: str, crm_ids: list[str]) -> None:
        self.counts[cls] += 1
        if len(self.samples[cls]) < SAMPLE_SIZE:
            sample: dict[str, Any] = {"bc_id": bc_id}
            if cls == "matched":
                sample["crm_id"] = crm_ids[0]
            elif crm_ids:
                sample["crm_ids"] = list(crm_ids)
            self.samples[cls].append(sample)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class Matcher:
    """Classifies BC records one by one; a Dataverse row goes to the first BC record matching it."""

    def __init__(self, index: MatchIndex) -> None:
        self.index = index
        self._taken: set[str] = set()

    def classify(self, bc_fields: Mapping[str, Any], *, coupled: bool) -> tuple[MatchClass, list[str]]:
        if coupled:
            return "already_coupled", []
        key = self.index.key.bc_key(bc_fields)
        found = [] if key is None else self.index.candidates(key)
        if not found:
            return "unmatched", []
        if len(found) > 1 or found[0] in self._taken:
            return "ambiguous", list(found)
        self._taken.add(found[0])
        return "matched", [found[0]]
