"""Full synchronization review, the pure part: BC's recommendation rules and dependency waves.

BC (table 5373 "CRM Full Synch. Review Line", bc-integration-behaviour §2.2):
- a line starts only when every line of its Dependency Filter is Finished or has the
  recommendation "No Records Found";
- the recommendation: SALESPEOPLE always "Full Synchronization"; CURRENCY "Full Synchronization"
  only if Dataverse has exactly one transaction currency and its rate is 1, else "Couple Records";
  option mappings "Couple Records" if BC has rows, else "No Records Found"; units of measure count
  the Dataverse side as empty with at most one unit schedule; every other mapping "No Records
  Found" when both sides are empty, "Couple Records" when both have rows, else "Full
  Synchronization".
Each mapping declares which rule it follows and its place in a wave (``recommendation_rule`` and
``review_priority`` in its TOML file); no mapping is named here.
No I/O here: the caller reads at most two rows per side (``SideSample``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sync_core.errors import ConfigError, DataError
from sync_core.mapping.catalog import Catalog, CatalogError
from sync_core.mapping.model import IntegrationTableMapping
from sync_core.state.full_sync_review import (
    COUPLE_RECORDS,
    FULL_SYNCHRONIZATION,
    NO_RECORDS_FOUND,
    Recommendation,
    ReviewLine,
)

ReviewState = Literal["In Process", "Finished", "Error"]

SAMPLE_SIZE = 2  # BC asks IsEmpty / Count() = 1; two rows answer both


@dataclass(frozen=True)
class SideSample:
    """Up to ``SAMPLE_SIZE`` rows of one side: enough to tell empty, exactly one, or more."""

    rows: tuple[Mapping[str, Any], ...] = ()

    @property
    def count(self) -> int:
        return len(self.rows)

    @property
    def empty(self) -> bool:
        return not self.rows


def is_option(mapping: IntegrationTableMapping) -> bool:
    return mapping.kind == "option"


def samples_needed(mapping: IntegrationTableMapping) -> tuple[bool, bool]:
    """Which sides (BC, Dataverse) the recommendation of ``mapping`` reads."""
    if mapping.recommendation_rule == "full-synchronization":
        return False, False
    if mapping.recommendation_rule == "single-currency":
        return False, True
    if is_option(mapping):
        return True, False
    return True, True


def recommend(mapping: IntegrationTableMapping, bc: SideSample, crm: SideSample) -> Recommendation:
    """BC's "Initial Synch Recommendation" for one mapping (its declared ``recommendation_rule``)."""
    if mapping.recommendation_rule == "full-synchronization":
        return FULL_SYNCHRONIZATION
    if mapping.recommendation_rule == "single-currency":
        return _currency(crm)
    if is_option(mapping):
        return NO_RECORDS_FOUND if bc.empty else COUPLE_RECORDS
    crm_empty = crm.count <= 1 if mapping.recommendation_rule == "unit-groups" else crm.empty
    if bc.empty and crm_empty:
        return NO_RECORDS_FOUND
    if not bc.empty and not crm_empty:
        return COUPLE_RECORDS
    return FULL_SYNCHRONIZATION


def _currency(crm: SideSample) -> Recommendation:
    if crm.count == 1:
        try:
            rate = float(crm.rows[0].get("exchangerate") or 0)
        except (TypeError, ValueError):
            rate = 0.0
        if rate == 1.0:
            return FULL_SYNCHRONIZATION
    return COUPLE_RECORDS


def review_mappings(catalog: Catalog, selected: Sequence[str] | None = None) -> list[IntegrationTableMapping]:
    """The mappings of a full synchronization in dependency order.

    Excluded as BC does: mappings with ``in_full_sync = false`` and child mappings (synced with
    their parent). ``selected`` narrows the review to those mappings (an unknown name or an
    excluded one is a DataError: the request is wrong).
    """
    candidates = [m for m in catalog if m.in_full_sync and not m.parent]
    if selected:
        wanted = {known_mapping(catalog, name).name for name in selected}
        excluded = sorted(wanted - {m.name for m in candidates})
        if excluded:
            raise DataError(f"not part of a full synchronization: {', '.join(excluded)}")
        candidates = [m for m in candidates if m.name in wanted]
    return dependency_order(candidates)


def known_mapping(catalog: Catalog, name: str) -> IntegrationTableMapping:
    """A mapping an operator named; an unknown name is a DataError listing the known ones."""
    try:
        return catalog.get(name)
    except CatalogError as exc:
        raise DataError(exc.message) from None


def _priority(mapping: IntegrationTableMapping) -> tuple[int, str]:
    """BC's GetPrioritizedMappingList, as each mapping declares it (``review_priority``)."""
    return mapping.review_priority, mapping.name


def dependency_order(mappings: Iterable[IntegrationTableMapping]) -> list[IntegrationTableMapping]:
    """Waves: first the mappings without (in-set) dependencies, then those depending on them, ..."""
    pending = {m.name: m for m in mappings}
    placed: list[IntegrationTableMapping] = []
    done: set[str] = set()
    while pending:
        wave = [m for m in pending.values() if all(d in done or d not in pending for d in m.dependencies)]
        if not wave:
            raise ConfigError(f"dependency cycle among mappings {', '.join(sorted(pending))}")
        for mapping in sorted(wave, key=_priority):
            placed.append(mapping)
            done.add(mapping.name)
            del pending[mapping.name]
    return placed


def satisfies(line: ReviewLine) -> bool:
    """A line its dependants may follow: Finished, or nothing to synchronize."""
    return line.status == "Finished" or line.recommendation == NO_RECORDS_FOUND


def dependencies_met(line: ReviewLine, lines: Sequence[ReviewLine]) -> bool:
    """Every dependency in this run satisfied (a dependency outside the run counts as satisfied)."""
    by_name = {li.mapping: li for li in lines}
    return all(satisfies(by_name[d]) for d in line.dependencies if d in by_name)


def waiting_on(line: ReviewLine, lines: Sequence[ReviewLine]) -> list[str]:
    by_name = {li.mapping: li for li in lines}
    return [d for d in line.dependencies if d in by_name and not satisfies(by_name[d])]


def startable(lines: Sequence[ReviewLine]) -> list[ReviewLine]:
    """Waiting lines whose dependencies are now satisfied (BC's FindLinesThatCanBeStarted)."""
    return [li for li in lines if li.status == "Waiting" and dependencies_met(li, lines)]


def blocked(lines: Sequence[ReviewLine]) -> set[str]:
    """Lines in Error, and Waiting lines that depend (transitively) on one."""
    by_name = {li.mapping: li for li in lines}
    stuck = {li.mapping for li in lines if li.status == "Error"}
    grew = True
    while grew:
        more = {
            li.mapping
            for li in lines
            if li.status == "Waiting" and li.mapping not in stuck
            if any(d in stuck for d in li.dependencies if d in by_name)
        }
        grew = bool(more)
        stuck |= more
    return stuck


def review_state(lines: Sequence[ReviewLine]) -> ReviewState:
    """In Process while any line can still move; else Error if any line failed, else Finished."""
    stuck = blocked(lines)
    if any(li.status in ("Ready", "In Process", "Waiting") and li.mapping not in stuck for li in lines):
        return "In Process"
    return "Error" if stuck else "Finished"
