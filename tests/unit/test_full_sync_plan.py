"""BC's full synchronization rules, pure: recommendations, review selection, dependency waves."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sync_core.errors import ConfigError, DataError
from sync_core.mapping.catalog import Catalog, default_catalog
from sync_core.mapping.model import FieldMapping, IntegrationTableMapping
from sync_core.state.full_sync_review import ReviewLine
from sync_core.sync.full_sync.plan import (
    SideSample,
    blocked,
    dependency_order,
    recommend,
    review_mappings,
    review_state,
    samples_needed,
    startable,
    waiting_on,
)

FULL, COUPLE, NONE = "Full Synchronization", "Couple Records", "No Records Found"
DECLARED = {
    m.name: {"recommendation_rule": m.recommendation_rule, "review_priority": m.review_priority}
    for m in default_catalog()
}
EMPTY, ONE, MANY = SideSample(), SideSample(({"x": 1},)), SideSample(({"x": 1}, {"x": 2}))


def mapping(name: str, *deps: str, **kw: object) -> IntegrationTableMapping:
    """A mapping with the full synchronization rules its namesake in the default catalog declares."""
    declared = DECLARED.get(name, {})
    return IntegrationTableMapping(
        name=name,
        bc_entity="e",
        crm_entity="c",
        crm_key="cid",
        direction="to-dataverse",
        fields=(FieldMapping("name", "displayName", direction="to-dataverse"),),
        dependencies=deps,
        **{**declared, **kw},  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("bc", "crm", "expected"),
    [(EMPTY, EMPTY, NONE), (ONE, MANY, COUPLE), (MANY, EMPTY, FULL), (EMPTY, ONE, FULL)],
)
def test_table_mappings_compare_both_sides(bc: SideSample, crm: SideSample, expected: str) -> None:
    assert recommend(mapping("CUSTOMER"), bc, crm) == expected
    assert samples_needed(mapping("CUSTOMER")) == (True, True)


def test_salespeople_is_always_a_full_synchronization() -> None:
    assert recommend(mapping("SALESPEOPLE"), MANY, MANY) == FULL
    assert samples_needed(mapping("SALESPEOPLE")) == (False, False)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (({"exchangerate": 1.0},), FULL),
        (({"exchangerate": "1.00"},), FULL),
        (({"exchangerate": 1.08},), COUPLE),
        (({"exchangerate": None},), COUPLE),
        (({"exchangerate": 1.0}, {"exchangerate": 1.0}), COUPLE),  # more than one currency
        ((), COUPLE),
    ],
)
def test_currency_full_only_with_exactly_one_dataverse_currency_at_rate_one(
    rows: tuple[dict, ...], expected: str
) -> None:
    assert recommend(mapping("CURRENCY"), MANY, SideSample(rows)) == expected
    assert samples_needed(mapping("CURRENCY")) == (False, True)


def test_option_mappings_couple_when_bc_has_rows() -> None:
    option = mapping("PAYMENT TERMS", kind="option")
    assert recommend(option, ONE, EMPTY) == COUPLE
    assert recommend(option, EMPTY, MANY) == NONE
    assert recommend(mapping("ANY OPTIONS", kind="option"), ONE, EMPTY) == COUPLE
    assert samples_needed(option) == (True, False)


def test_units_of_measure_count_one_schedule_as_empty() -> None:
    uom = mapping("UNIT OF MEASURE")
    assert recommend(uom, EMPTY, ONE) == NONE  # the default unit group alone
    assert recommend(uom, MANY, ONE) == FULL
    assert recommend(uom, MANY, MANY) == COUPLE
    assert recommend(uom, EMPTY, MANY) == FULL


def test_review_excludes_children_and_mappings_left_out_of_full_sync() -> None:
    catalog = Catalog(
        [
            mapping("CURRENCY"),
            mapping("POSTEDSALESINV-INV", "CURRENCY"),
            mapping("POSTEDSALESLINE-INV", parent="POSTEDSALESINV-INV", in_full_sync=False),
            mapping("SALESORDER-ORDER", in_full_sync=False),
        ]
    )
    assert [m.name for m in review_mappings(catalog)] == ["CURRENCY", "POSTEDSALESINV-INV"]
    assert [m.name for m in review_mappings(catalog, ["POSTEDSALESINV-INV"])] == ["POSTEDSALESINV-INV"]
    # the operator's request is wrong (HTTP 400), not the deployment (ConfigError: 500)
    with pytest.raises(DataError, match="SALESORDER-ORDER"):
        review_mappings(catalog, ["SALESORDER-ORDER"])
    with pytest.raises(DataError, match="unknown mapping"):
        review_mappings(catalog, ["NOPE"])


def test_dependency_waves_follow_bc() -> None:
    # BC test T100/T101: blank dependencies first, then CUSTOMER/VENDOR, CONTACT, OPPORTUNITY; items
    # after units of measure; price lists after currency and items
    maps = [
        mapping("OPPORTUNITY", "CONTACT"),
        mapping("CONTACT", "CUSTOMER", "VENDOR"),
        mapping("CUSTPRCGRP-PRICE", "CURRENCY", "ITEM-PRODUCT"),
        mapping("CUSTOMER", "SALESPEOPLE", "CURRENCY"),
        mapping("VENDOR", "SALESPEOPLE", "CURRENCY"),
        mapping("ITEM-PRODUCT", "UNIT OF MEASURE"),
        mapping("UNIT OF MEASURE"),
        mapping("CURRENCY"),
        mapping("SALESPEOPLE"),
        mapping("PAYMENT TERMS", kind="option"),
    ]
    order = [m.name for m in dependency_order(maps)]
    assert order[:4] == ["SALESPEOPLE", "CURRENCY", "UNIT OF MEASURE", "PAYMENT TERMS"]
    assert order[4:7] == ["CUSTOMER", "ITEM-PRODUCT", "VENDOR"]
    assert order[7:] == ["CONTACT", "CUSTPRCGRP-PRICE", "OPPORTUNITY"]
    with pytest.raises(ConfigError, match="cycle"):
        dependency_order([mapping("A", "B"), mapping("B", "A")])


def test_default_catalog_review_puts_every_dependency_first() -> None:
    order = [m.name for m in review_mappings(default_catalog())]
    for position, name in enumerate(order):
        deps = default_catalog().get(name).dependencies
        assert all(order.index(d) < position for d in deps if d in order), name


def line(name: str, status: str = "Waiting", rec: str = FULL, *deps: str) -> ReviewLine:
    return ReviewLine("run", name, rec, deps, status=status)  # type: ignore[arg-type]


def test_a_line_starts_when_its_dependencies_finished_or_found_nothing() -> None:
    lines = [
        line("CURRENCY", "In Process"),
        line("UNIT OF MEASURE", "Finished", NONE),
        line("SALESPEOPLE", "Finished"),
        line("ITEM-PRODUCT", "Waiting", FULL, "UNIT OF MEASURE"),
        line("CUSTOMER", "Waiting", COUPLE, "SALESPEOPLE", "CURRENCY"),
        line("RESOURCE-PRODUCT", "Waiting", FULL, "UNIT OF MEASURE", "NOT IN THIS RUN"),
    ]
    assert [li.mapping for li in startable(lines)] == ["ITEM-PRODUCT", "RESOURCE-PRODUCT"]
    assert waiting_on(lines[4], lines) == ["CURRENCY"]
    assert review_state(lines) == "In Process"
    lines[0] = replace(lines[0], status="Finished")
    assert [li.mapping for li in startable(lines)] == ["ITEM-PRODUCT", "CUSTOMER", "RESOURCE-PRODUCT"]


def test_review_state_finished_error_and_blocked_lines() -> None:
    done = [line("CURRENCY", "Finished"), line("CUSTOMER", "Finished", COUPLE, "CURRENCY")]
    assert review_state(done) == "Finished"
    failed = [
        line("CURRENCY", "Error"),
        line("CUSTOMER", "Waiting", FULL, "CURRENCY"),
        line("CONTACT", "Waiting", FULL, "CUSTOMER"),
        line("UNIT OF MEASURE", "Finished"),
    ]
    assert blocked(failed) == {"CURRENCY", "CUSTOMER", "CONTACT"}
    assert review_state(failed) == "Error"
    failed.append(line("ITEM-PRODUCT", "In Process", FULL, "UNIT OF MEASURE"))
    assert review_state(failed) == "In Process"  # another branch is still moving


def test_the_rules_are_declared_by_the_mappings_not_read_from_their_names() -> None:
    """A deployment that renames BC's mappings keeps BC's review order and recommendations."""
    catalog = default_catalog()
    renamed = Catalog(
        replace(m, name=f"X {m.name}", dependencies=tuple(f"X {d}" for d in m.dependencies), parent="")
        for m in catalog
        if not m.parent
    )
    assert [m.name for m in review_mappings(renamed)] == [f"X {m.name}" for m in review_mappings(catalog)]
    for m in review_mappings(catalog):
        twin = renamed.get(f"X {m.name}")
        for bc, crm in [(EMPTY, ONE), (MANY, MANY), (ONE, SideSample(({"exchangerate": 1},)))]:
            assert recommend(twin, bc, crm) == recommend(m, bc, crm)
        assert samples_needed(twin) == samples_needed(m)
