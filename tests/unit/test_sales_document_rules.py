"""BC's rules for a BC sales document made from a CRM order or quote (pure): lines and header."""

from __future__ import annotations

from typing import Any

import pytest

from sync_core.sales.crm_document import CrmDocument, CrmLine
from sync_core.sales.header import HeaderReferences, header_values
from sync_core.sales.lines import LineNumbers, LineProduct, descriptions, document_lines, freight_line

ITEM = LineProduct("Item", "1000", "Bicycle")
WRITE_IN = LineProduct("Item", "WRITE-IN", "Write-in item", write_in=True)
TEXT_250 = "".join(chr(ord("a") + i % 26) for i in range(250))


def line(description: str = "", product_description: str = "", **kw: Any) -> CrmLine:
    values: dict[str, Any] = dict(
        id="l1", sequence=1, product_id="p", product_description=product_description, description=description,
        quantity=1.0, price_per_unit=10.0, manual_discount=0.0, volume_discount=0.0,
    )  # fmt: skip
    return CrmLine(**(values | kw))


def test_long_description_of_an_item_line_goes_to_attached_text_lines() -> None:
    rows = document_lines(line(TEXT_250), ITEM, LineNumbers(), "", quote=False)
    assert "description" not in rows[0]  # the item line keeps BC's item description
    assert [r["description"] for r in rows[1:]] == [TEXT_250[:100], TEXT_250[100:200], TEXT_250[200:]]
    assert [(r["lineNo"], r["type"], r["attachedToLineNo"]) for r in rows[1:]] == [
        (20000, " ", 10000),
        (30000, " ", 10000),
        (40000, " ", 10000),
    ]


def test_long_description_of_a_write_in_line_starts_on_the_line_itself() -> None:
    rows = document_lines(line(TEXT_250), WRITE_IN, LineNumbers(), "", quote=False)
    assert rows[0]["description"] == TEXT_250[:100]
    assert [r["description"] for r in rows[1:]] == [TEXT_250[100:200], TEXT_250[200:]]


def test_item_text_equal_to_bc_description_gives_no_text_line_except_on_quotes() -> None:
    assert descriptions(line("Bicycle"), ITEM, quote=False) == ("", [])
    assert descriptions(line("Bicycle"), ITEM, quote=True) == ("", ["Bicycle"])


def test_first_memo_line_else_product_description_and_further_memo_lines() -> None:
    assert descriptions(line("", "Red bike"), WRITE_IN, quote=False) == ("Red bike", [])
    assert descriptions(line("Red bike\nwith bell\n\nand basket"), ITEM, quote=False) == (
        "",
        ["Red bike", "with bell", "and basket"],
    )


@pytest.mark.parametrize(
    ("group", "quote", "expected"),
    [("DOMESTIC", False, 100.0), ("EXPORT", False, 125.0), ("DOMESTIC", True, 125.0)],
)
def test_price_including_vat_is_divided_for_orders_in_the_items_vat_group(
    group: str, quote: bool, expected: float
) -> None:
    item = LineProduct(
        "Item",
        "1000",
        "Bicycle",
        price_includes_vat=True,
        vat_bus_posting_gr_price="DOMESTIC",
        vat_percent=25.0,
    )
    rows = document_lines(line("Bicycle", price_per_unit=125.0), item, LineNumbers(), group, quote=quote)
    assert rows[0]["unitPrice"] == expected


def test_line_discount_is_quantity_times_volume_discount_plus_manual_discount() -> None:
    [row] = document_lines(
        line(quantity=3.0, volume_discount=2.0, manual_discount=5.0), ITEM, LineNumbers(), "", quote=False
    )
    assert (row["quantity"], row["lineDiscountAmount"]) == (3.0, 11.0)


def test_freight_is_a_gl_account_line_of_quantity_one_after_the_other_lines() -> None:
    numbers = LineNumbers()
    document_lines(line(TEXT_250), ITEM, numbers, "", quote=False)
    assert freight_line(numbers, "6810", 12.5) == {
        "lineNo": 50000, "type": "G/L Account", "number": "6810", "quantity": 1, "unitPrice": 12.5,
    }  # fmt: skip


def order(**fields: Any) -> CrmDocument:
    return CrmDocument("salesorder", "id", fields.pop("number", "ORD-01001-X1Y2Z3"), 1, 3, fields)


REFS = HeaderReferences("C00010", "EUR", {"paymentTermsCode": "14 DAYS"})


def test_header_keys_and_lengths() -> None:
    doc = order(
        number="N" * 40, name="Big order for the spring season 2027!", requestdeliveryby="2027-03-01T00:00Z"
    )
    values = header_values(doc, REFS)
    assert values["documentType"] == "Order" and values["sellToCustomerNo"] == "C00010"
    assert values["yourReference"] == "N" * 35
    assert values["externalDocumentNo"] == "BIG ORDER FOR THE SPRING SEASON 202"
    assert (values["currencyCode"], values["paymentTermsCode"]) == ("EUR", "14 DAYS")
    assert values["requestedDeliveryDate"] == "2027-03-01"
    assert not any(k.startswith(("billTo", "shipTo")) for k in values)  # empty CRM blocks: not copied
    assert "invoiceDiscountAmount" not in values


def test_bill_to_copied_when_any_field_is_set_and_cut_to_bc_lengths() -> None:
    values = header_values(order(billto_city="C" * 40, billto_country="dk"), REFS)
    assert values["billToCity"] == "C" * 30 and values["billToCountryRegionCode"] == "DK"
    assert values["billToName"] == "" and "shipToCity" not in values


def test_header_discount_is_the_difference_of_the_totals_and_quote_validity() -> None:
    values = header_values(
        order(discountamount=5, totallineitemamount=100, totalamountlessfreight=92.5), REFS
    )
    assert values["invoiceDiscountAmount"] == 7.5
    quote = CrmDocument(
        "quote", "q", "QUO-01001-A", 1, 2, {"effectiveto": "2027-01-31T00:00:00Z", "description": "x"}
    )
    values = header_values(quote, REFS)
    assert (values["documentType"], values["quoteValidUntilDate"], values["workDescription"]) == (
        "Quote",
        "2027-01-31",
        "x",
    )
