"""The mapping catalog: BC's CURRENCY defaults, and load errors that name the bad entry."""

import re
from pathlib import Path

import pytest

from sync_core.mapping.catalog import CatalogError, default_catalog, load_catalog
from sync_core.mapping.model import timer_function_name

FIXTURES = Path(__file__).parent.parent / "fixtures" / "mappings"

GOOD = """
name = "TEST"
bc_entity = "customers"
crm_entity = "accounts"
crm_key = "accountid"
direction = "bidirectional"
[[fields]]
bc_field = "displayName"
crm_field = "name"
"""


def _write(tmp_path: Path, text: str, name: str = "m.toml") -> Path:
    (tmp_path / name).write_text(text)
    return tmp_path


def test_currency_mapping_is_bcs_default() -> None:
    currency = default_catalog().get("CURRENCY")
    assert (currency.bc_entity, currency.crm_entity, currency.direction) == (
        "currencies",
        "transactioncurrencies",
        "to-dataverse",
    )
    assert currency.synch_only_coupled and currency.create_new_if_no_match
    assert [(f.bc_field, f.crm_field) for f in currency.fields] == [
        ("code", "isocurrencycode"),
        ("symbol", "currencysymbol"),
        ("displayName", "currencyname"),
    ]
    assert [f.crm_field for f in currency.match_fields] == ["isocurrencycode"]
    assert currency.hooks == ("currency-exchange-rate",)
    assert not currency.table_filter and not currency.integration_table_filter


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("CURRENCY", "sync_currency"),
        ("UNIT OF MEASURE", "sync_unit_of_measure"),
        ("ITEM-PRODUCT", "sync_item_product"),
        ("POSTEDSALESINV-INV", "sync_postedsalesinv_inv"),
    ],
)
def test_timer_function_names(name: str, expected: str) -> None:
    assert timer_function_name(name) == expected


def test_extra_directory_adds_a_mapping_without_engine_code(tmp_path: Path) -> None:
    catalog = load_catalog([_write(tmp_path, GOOD)])
    assert "TEST" in catalog.names() and "CURRENCY" in catalog.names()
    assert catalog.get("TEST").allows("to-bc") and catalog.get("TEST").allows("to-dataverse")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('direction = "bidirectional"\n[[fields]]', 'direction = "to-dataverse"\n[[fields]]'), None),
        (('crm_field = "name"', 'crm_field = "name"\ntransform = "shout"'), "unknown transform 'shout'"),
        (('crm_field = "name"', 'crm_field = "name"\ncolour = "red"'), "fields[0]: unknown key(s) colour"),
        (('crm_key = "accountid"', 'crm_key = "accountid"\nhooks = ["nope"]'), "unknown hook(s) nope"),
        (
            ('crm_key = "accountid"', 'crm_key = "accountid"\ndependencies = ["GHOST"]'),
            "dependency on unknown mapping(s) GHOST",
        ),
        (('direction = "bidirectional"', 'direction = "sideways"'), "direction must be one of"),
        (
            ('crm_key = "accountid"', 'crm_key = "accountid"\nwrite_rule = "teleport"'),
            "unknown write_rule 'teleport' (known: sales-order-state, product-default-price-list",
        ),
        (
            ('crm_key = "accountid"', 'crm_key = "accountid"\nuncoupled_with = ["CUSTOMER"]'),
            "uncoupled_with must be [parent mapping, Dataverse attribute]",
        ),
        (
            ('crm_key = "accountid"', 'crm_key = "accountid"\nuncoupled_with = ["GHOST", "_x_value"]'),
            "dependency on unknown mapping(s) GHOST",
        ),
        (  # a base unit is the unit of a unit schedule: the lookup must go to uomschedules
            ('crm_field = "name"', 'crm_field = "_x_value"\nlookup = "CURRENCY"\nbase_unit = true'),
            "fields[0]: base_unit needs direction to-dataverse and a lookup through a mapping to uom",
        ),
        (  # ... and it only flows to Dataverse
            ('crm_field = "name"', 'crm_field = "_x_value"\nlookup = "UNIT OF MEASURE"\nbase_unit = true'),
            "base_unit needs direction to-dataverse",
        ),
        (  # BC's ExternalAccess vocabulary only
            ('crm_field = "name"', 'crm_field = "name"\ncrm_access = "sometimes"'),
            "fields[0]: crm_access must be one of full, insert, modify (or empty), not 'sometimes'",
        ),
        (
            ('crm_field = "name"', 'crm_field = "name"\ndirection = "to-bc"\ncrm_access = "insert"'),
            "fields[0]: crm_access insert needs a field that is written to Dataverse",
        ),
        (
            ('crm_field = "name"', 'crm_field = "name"\ncrm_access = "modify"\non_insert_only = true'),
            "fields[0]: crm_access modify contradicts on_insert_only",
        ),
        (  # the full synchronization rules a mapping may declare (BC §2.2)
            ('crm_key = "accountid"', 'crm_key = "accountid"\nrecommendation_rule = "maybe"'),
            "recommendation_rule must be one of full-synchronization, single-currency, unit-groups "
            "(or empty), not 'maybe'",
        ),
        (
            ('crm_key = "accountid"', 'crm_key = "accountid"\nreview_priority = -1'),
            "review_priority must be a whole number >= 0, not -1",
        ),
        (  # line rules belong to a child mapping
            ('crm_key = "accountid"', 'crm_key = "accountid"\nline_products = { Item = "ITEM-PRODUCT" }'),
            "line_products and bc_navigation are for a child mapping (parent)",
        ),
        (
            (
                'crm_key = "accountid"',
                'crm_key = "accountid"\nparent = "CUSTOMER"\nline_products = { Item = "GHOST" }',
            ),
            "dependency on unknown mapping(s) GHOST",
        ),
        (
            (
                'crm_key = "accountid"',
                'crm_key = "accountid"\nparent = "CUSTOMER"\nline_products = { Item = "SALESORDER-ORDER" }',
            ),
            "line_products Item must name a mapping with a bc_code_field",
        ),
        (  # what a line does with an uncoupled product: BC's choices, for lines only
            (
                'crm_key = "accountid"',
                'crm_key = "accountid"\nparent = "CUSTOMER"\nline_products = { Item = "ITEM-PRODUCT" }\n'
                'uncoupled_line_products = "guess"',
            ),
            "uncoupled_line_products must be one of fail, synchronize, not 'guess'",
        ),
        (
            ('crm_key = "accountid"', 'crm_key = "accountid"\nuncoupled_line_products = "synchronize"'),
            "uncoupled_line_products needs line_products",
        ),
        (  # the posted invoice's rule follows the customer and currency lookups
            ('crm_key = "accountid"', 'crm_key = "accountid"\nwrite_rule = "posted-sales-invoice"'),
            "write_rule posted-sales-invoice needs _customerid_value mapped through a lookup",
        ),
    ],
)
def test_invalid_mapping_files_are_load_errors(tmp_path: Path, change, message) -> None:
    old, new = change
    text = GOOD.replace(old, new)
    if message is None:  # a to-dataverse mapping with a field that is bidirectional by default: fine
        load_catalog([_write(tmp_path, text)])
        return
    with pytest.raises(CatalogError, match=re.escape(message)) as info:
        load_catalog([_write(tmp_path, text)])
    assert "m.toml [TEST]" in str(info.value)


@pytest.mark.parametrize(
    ("access", "on_create", "on_update"),
    [("", True, True), ("full", True, True), ("insert", True, False), ("modify", False, True)],
)
def test_crm_access_says_when_a_value_is_sent(
    tmp_path: Path, access: str, on_create: bool, on_update: bool
) -> None:
    text = GOOD.replace('crm_field = "name"', f'crm_field = "name"\ncrm_access = "{access}"')
    [field] = load_catalog([_write(tmp_path, text)], include_defaults=False).get("TEST").fields
    assert (field.crm_access, field.sent_on_create, field.sent_on_update) == (access, on_create, on_update)


def test_field_direction_contradicting_mapping_direction(tmp_path: Path) -> None:
    text = GOOD.replace('direction = "bidirectional"', 'direction = "to-dataverse"').replace(
        'crm_field = "name"', 'crm_field = "name"\ndirection = "to-bc"'
    )
    with pytest.raises(CatalogError, match=r"fields\[0\]: direction to-bc contradicts"):
        load_catalog([_write(tmp_path, text)])


def test_field_mapped_twice_and_not_toml(tmp_path: Path) -> None:
    twice = GOOD + '[[fields]]\nbc_field = "number"\ncrm_field = "name"\n'
    with pytest.raises(CatalogError, match="crm_field name is mapped twice"):
        load_catalog([_write(tmp_path, twice)], include_defaults=False)
    with pytest.raises(CatalogError, match=r"bad\.toml: not valid TOML"):
        load_catalog([_write(tmp_path, "name = ", "bad.toml")])


def test_unknown_mapping_lists_known_ones() -> None:
    with pytest.raises(CatalogError, match=r"unknown mapping 'NOPE' .*CURRENCY"):
        default_catalog().get("NOPE")


def test_echo_suppression_rule(tmp_path: Path) -> None:
    from sync_core.sync.jobs.mapping_job import _suppress_echo

    catalog = load_catalog([_write(tmp_path, GOOD)])
    assert _suppress_echo(catalog.get("TEST"))
    one_way_back = (
        GOOD + '[[fields]]\nbc_field = "number"\ncrm_field = "accountnumber"\ndirection = "to-bc"\n'
    )
    assert not _suppress_echo(load_catalog([_write(tmp_path, one_way_back)]).get("TEST"))
    assert not _suppress_echo(default_catalog().get("CURRENCY"))


def test_contacts_are_uncoupled_with_their_customer() -> None:
    contact = default_catalog().get("CONTACT")
    assert contact.uncoupled_with == ("CUSTOMER", "_parentcustomerid_value")
    assert not any(
        m.uncoupled_with for m in default_catalog() if m.name not in ("CONTACT", "POSTEDSALESLINE-INV")
    )


def test_the_local_currency_is_declared_by_one_mapping_that_maps_its_code(tmp_path: Path) -> None:
    assert default_catalog().lcy_mapping() == default_catalog().get("CURRENCY")
    assert default_catalog().get("CURRENCY").crm_code_field == "isocurrencycode"
    lcy = GOOD.replace('crm_key = "accountid"', 'crm_key = "accountid"\nblank_code_is_lcy = true')
    with pytest.raises(CatalogError, match="blank_code_is_lcy is declared by CURRENCY, TEST: one at most"):
        load_catalog([_write(tmp_path, lcy)])
    needs_code = "m.toml [TEST]: blank_code_is_lcy needs a bc_code_field"
    with pytest.raises(CatalogError, match=re.escape(needs_code)):
        load_catalog([_write(tmp_path, lcy)], include_defaults=False)
    coded = lcy.replace("blank_code_is_lcy", 'bc_code_field = "displayName"\nblank_code_is_lcy')
    assert load_catalog([_write(tmp_path, coded)], include_defaults=False).lcy_mapping() is not None
