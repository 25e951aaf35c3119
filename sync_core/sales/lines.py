"""BC's line rules for a sales document built from a CRM order or quote (bc-integration §5.1 step 7-9).

Pure: the products are resolved before (``references.py``); here they become the lines of the
companion ``salesDocuments`` deep insert, numbered 10000, 20000, ... in the CRM sequence:
- the description rules: the first text line of the CRM memo (else ``productdescription``); a
  write-in line takes its first 100 characters and the rest as extra lines; an item or resource
  line keeps BC's description and the whole text becomes extra lines when it differs (quotes:
  always); every further memo line gives more extra lines; extra lines are text lines
  (type blank) of 100 characters attached to the product line;
- the unit price: an order line of an item whose price includes VAT, in the customer's VAT
  business group, is divided by 1 + VAT % (unit-amount precision 0.00001); quotes are not;
- line discount amount = quantity x volume discount + manual discount;
- freight: one G/L Account line (the setup's freight account) of quantity 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sync_core.sales.crm_document import CrmLine

TEXT_LENGTH = 100  # Sales Line Description
LINE_STEP = 10000
UNIT_AMOUNT_PRECISION = 5  # BC's default Unit-Amount Rounding Precision 0.00001
TEXT_LINE = " "


@dataclass(frozen=True)
class LineProduct:
    """What a CRM line is in BC: the coupled item or resource, or the write-in product."""

    type: str  # "Item" | "Resource"
    number: str
    description: str  # BC's description of the item or resource
    write_in: bool = False
    price_includes_vat: bool = False
    vat_bus_posting_gr_price: str = ""
    vat_percent: float = 0.0


def chunks(text: str, size: int = TEXT_LENGTH) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def descriptions(line: CrmLine, product: LineProduct, *, quote: bool) -> tuple[str, list[str]]:
    """(the product line's description, "" = BC's own; the extra text lines)."""
    memo = line.description.splitlines()
    text = (memo[0].strip() if memo else "") or line.product_description
    if product.write_in:
        own, extra = text[:TEXT_LENGTH], chunks(text[TEXT_LENGTH:])
    else:
        own = ""
        extra = chunks(text) if text and (quote or text != product.description) else []
    for further in memo[1:]:
        extra += chunks(further.strip())
    return own, extra


def unit_price(line: CrmLine, product: LineProduct, vat_bus_posting_group: str, *, quote: bool) -> float:
    price = line.price_per_unit
    in_group = product.price_includes_vat and product.vat_bus_posting_gr_price == vat_bus_posting_group
    if not quote and in_group and product.vat_percent:
        price = round(price / (1 + product.vat_percent / 100), UNIT_AMOUNT_PRECISION)
    return price


def line_discount(line: CrmLine) -> float:
    return round(line.quantity * line.volume_discount + line.manual_discount, 2)


@dataclass
class LineNumbers:
    next_no: int = LINE_STEP

    def take(self) -> int:
        number, self.next_no = self.next_no, self.next_no + LINE_STEP
        return number


def document_lines(
    line: CrmLine, product: LineProduct, numbers: LineNumbers, vat_bus_posting_group: str, *, quote: bool
) -> list[dict[str, Any]]:
    """The product line of one CRM line and its attached text lines."""
    own, extra = descriptions(line, product, quote=quote)
    line_no = numbers.take()
    product_line: dict[str, Any] = {
        "lineNo": line_no,
        "type": product.type,
        "number": product.number,
        "quantity": line.quantity,
        "unitPrice": unit_price(line, product, vat_bus_posting_group, quote=quote),
        "lineDiscountAmount": line_discount(line),
    }
    if own:
        product_line["description"] = own
    texts = [
        {"lineNo": numbers.take(), "type": TEXT_LINE, "description": text, "attachedToLineNo": line_no}
        for text in extra
    ]
    return [product_line, *texts]


def freight_line(numbers: LineNumbers, account: str, amount: float) -> dict[str, Any]:
    return {
        "lineNo": numbers.take(),
        "type": "G/L Account",
        "number": account,
        "quantity": 1,
        "unitPrice": amount,
    }
