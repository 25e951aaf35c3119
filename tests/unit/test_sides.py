"""Which side a direction reads and writes: one answer, given by the mapping and the coupling."""

from __future__ import annotations

from datetime import UTC, datetime

from sync_core.mapping.catalog import default_catalog
from sync_core.state.ports import Coupling
from sync_core.vocabulary import TO_BC, TO_DATAVERSE, bc_then_crm

T1, T2 = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)


def test_a_mapping_names_the_source_and_destination_of_each_direction() -> None:
    c = customer = default_catalog().get("CUSTOMER")
    bc = customer.bc_entity  # the companion API's integrationCustomers
    assert (c.source_entity(TO_DATAVERSE), c.destination_entity(TO_DATAVERSE)) == (bc, "accounts")
    assert (customer.source_entity(TO_BC), customer.destination_entity(TO_BC)) == ("accounts", bc)
    assert (customer.source_key(TO_DATAVERSE), customer.source_key(TO_BC)) == ("id", "accountid")
    assert customer.source_filter(TO_DATAVERSE) == customer.table_filter
    assert customer.source_filter(TO_BC) == customer.integration_table_filter


def test_a_coupling_names_the_ids_and_stamps_of_each_direction() -> None:
    c = Coupling("CUSTOMER", "bc-1", "crm-1", bc_modified_on=T1, crm_modified_on=T2)
    assert (c.source_id(TO_DATAVERSE), c.destination_id(TO_DATAVERSE)) == ("bc-1", "crm-1")
    assert (c.source_id(TO_BC), c.destination_id(TO_BC)) == ("crm-1", "bc-1")
    assert (c.last_source_modified_on(TO_DATAVERSE), c.last_destination_modified_on(TO_DATAVERSE)) == (T1, T2)
    assert (c.last_source_modified_on(TO_BC), c.last_destination_modified_on(TO_BC)) == (T2, T1)
    assert bc_then_crm(TO_DATAVERSE, "source", "dest") == ("source", "dest")
    assert bc_then_crm(TO_BC, "source", "dest") == ("dest", "source")
