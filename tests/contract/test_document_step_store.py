"""DocumentStepStore contract: the in-memory twin and Table Storage (Azurite) behave the same."""

from __future__ import annotations

from sync_core.state.stores import StateStores


def test_steps_are_recorded_per_document_and_replaced_by_a_new_value(stores: StateStores) -> None:
    steps = stores.document_steps
    assert steps.steps("salesorder:a") == {}
    steps.mark("salesorder:a", "bc-document")
    steps.mark("salesorder:a", "archive-quote", "2")
    steps.mark("salesorder:a", "archive-quote", "3")
    steps.mark("salesorder:b", "notes")
    assert steps.steps("salesorder:a") == {"bc-document": "done", "archive-quote": "3"}
    assert steps.steps("salesorder:b") == {"notes": "done"}


def test_forget_drops_one_document_only(stores: StateStores) -> None:
    steps = stores.document_steps
    steps.mark("quote:1/2", "bc-document")  # a key with a character Table Storage forbids
    steps.mark("quote:3", "bc-document")
    steps.forget("quote:1/2")
    steps.forget("quote:never")
    assert steps.steps("quote:1/2") == {}
    assert steps.steps("quote:3") == {"bc-document": "done"}
