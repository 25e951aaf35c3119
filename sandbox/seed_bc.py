"""BC demo company "CRONUS Sandbox": setup tables, customers, contacts, items, documents.

Every currency except JPY has an exchange rate, so synchronizing JPY fails as BC does ("no exchange
rate defined"). VAT: customers in GB and the US are DOMESTIC (VAT25 25 %, VAT10 10 %, NO VAT 0 %),
in DE/DK EU and in JP/CA EXPORT (0 % for every product group); items are VAT25 except the lamp
1928-S (VAT10); resources and the G/L accounts VAT25 (account 6910 NO VAT); the chair 1960-S has
a price including VAT (DOMESTIC). Setup: write-in product Item WRITEIN, freight G/L account 6810.
Ids come from :func:`sandbox.seed.seed_id` (``seed_id("bc", <entity>, <key>)``).
"""

from __future__ import annotations

from typing import Any

from sandbox.seed import BC_COMPANY_ID, seed_id

START = "2024-01-01"

# fmt: off
CURRENCIES = [("EUR", "Euro", "€", 1.08), ("GBP", "Pound Sterling", "£", 1.27),
              ("CAD", "Canadian Dollar", "$", 0.73), ("DKK", "Danish Krone", "kr", 0.145),
              ("JPY", "Japanese Yen", "¥", None)]
VENDORS = [("10000", "Fabrikam, Inc."), ("20000", "First Up Consultants"),
           ("30000", "Graphic Design Institute")]  # fmt: skip
UOMS = [("PCS", "Piece", "H87"), ("BOX", "Box", "BX"), ("HOUR", "Hour", "HUR"), ("DAY", "Day", "DAY"),
        ("PACK", "Pack", "PK"), ("SET", "Set", "SET")]
PAYMENT_TERMS = [("14 DAYS", "Net 14 days", "14D"), ("30 DAYS", "Net 30 days", "30D"),
                 ("1M(8D)", "1 Month/2% 8 days", "1M"), ("CM", "Current Month", "CM"),
                 ("COD", "Cash on delivery", "0D")]
SHIPMENT_METHODS = [("CFR", "Cost and Freight"), ("CIF", "Cost Insurance and Freight"),
                    ("EXW", "Ex Warehouse"), ("FOB", "Free on Board"), ("PICKUP", "Pickup at Location")]
SHIPPING_AGENTS = [("DHL", "DHL Systems, Inc."), ("FEDEX", "Federal Express Corporation"),
                   ("UPS", "UPS Ground")]
SALESPEOPLE = [("JO", "Jim Olive"), ("PS", "Peter Saddow"), ("OF", "Otis Falls")]
PRICE_GROUPS = [("RETAIL", "Retail customers"), ("WHOLESALE", "Wholesale customers"),
                ("EXPORT", "Export customers (EUR)")]
CUSTOMERS = [  # no, name, address, city, post code, country,
    # currency, salesperson, payment terms, shipment method, shipping agent, blocked
    ("10000", "The Cannon Group PLC", "192 Market Square", "Birmingham", "B27 4KT", "GB",
     "", "PS", "1M(8D)", "EXW", "DHL", " "),
    ("20000", "Selangorian Ltd.", "153 Thomas Drive", "Coventry", "CV6 1GY", "GB",
     "GBP", "JO", "14 DAYS", "CIF", "UPS", " "),
    ("30000", "John Haddock Insurance Co.", "10 High Tower Green", "Manchester", "M61 2DG", "GB",
     "", "JO", "30 DAYS", "EXW", "", " "),
    ("40000", "Deerfield Graphics Company", "10 Deerfield Road", "Atlanta", "31772", "US",
     "", "OF", "30 DAYS", "FOB", "FEDEX", " "),
    ("50000", "Guildford Water Department", "2 Guildford Street", "Guildford", "GU3 1WS", "GB",
     "", "PS", "14 DAYS", "", "", "All"),
    ("60000", "Autohaus Mielberg KG", "Walkürenweg 2", "Hamburg", "20097", "DE",
     "EUR", "OF", "1M(8D)", "CFR", "DHL", " "),
    ("70000", "Nordic Fjord Design A/S", "Strandvejen 12", "Copenhagen", "2100", "DK",
     "DKK", "JO", "30 DAYS", "CIF", "UPS", " "),
    ("80000", "Tokyo Trading Co., Ltd.", "1-2-3 Marunouchi", "Tokyo", "100-0005",
     "JP", "JPY", "PS", "COD", "FOB", "FEDEX", " "),
    ("90000", "Maple Leaf Outfitters", "220 King Street West", "Toronto", "M5H 1K4", "CA",
     "CAD", "OF", "CM", "PICKUP", "", " "),
]
PERSONS = [  # customer ("" = the Litware prospect), first, surname, job title, primary contact?
    ("10000", "Mark", "McArthur", "Purchasing Manager", True),
    ("10000", "Emily", "Bryce", "Office Manager", False),
    ("20000", "Mindy", "Martin", "CEO", True), ("30000", "Peter", "Houston", "Facilities Lead", True),
    ("40000", "Ian", "Deberry", "Art Director", True),
    ("60000", "Klaus", "Mielberg", "Managing Director", True),
    ("70000", "Freja", "Holm", "Designer", True), ("90000", "Olivia", "Tremblay", "Owner", True),
    ("", "Kevin", "Prospect", "Buyer", False),
]
ITEMS = [  # no, description, unit price, unit cost, base unit, inventory, blocked, type
    ("1896-S", "ATHENS Desk", 1000.8, 780.7, "PCS", 12, False, "Inventory"),
    ("1900-S", "PARIS Guest Chair, black", 192.8, 150.4, "PCS", 50, False, "Inventory"),
    ("1906-S", "ATHENS Mobile Pedestal", 281.4, 219.5, "PCS", 20, False, "Inventory"),
    ("1908-S", "LONDON Swivel Chair, blue", 190.1, 148.3, "PCS", 35, False, "Inventory"),
    ("1920-S", "ANTWERP Conference Table", 649.4, 506.6, "PCS", 6, False, "Inventory"),
    ("1928-S", "AMSTERDAM Lamp", 54.9, 42.8, "PCS", 120, False, "Inventory"),
    ("1936-S", "BERLIN Guest Chair, yellow", 192.8, 150.4, "PCS", 0, True, "Inventory"),
    ("1960-S", "ROME Guest Chair, green", 192.8, 150.4, "BOX", 18, False, "Inventory"),
    ("WRITEIN", "Write-in product", 0.0, 0.0, "PCS", 0, False, "Service"),
]
VAT_GROUPS = {"GB": "DOMESTIC", "US": "DOMESTIC", "DE": "EU", "DK": "EU", "JP": "EXPORT", "CA": "EXPORT"}
VAT_SETUPS = [("DOMESTIC", "VAT25", 25.0), ("DOMESTIC", "VAT10", 10.0), ("DOMESTIC", "NO VAT", 0.0),
              *((bus, prod, 0.0) for bus in ("EU", "EXPORT") for prod in ("VAT25", "VAT10", "NO VAT"))]
ITEM_VAT = {"1928-S": "VAT10"}  # the others: VAT25
PRICE_INCLUDES_VAT = {"1960-S": "DOMESTIC"}  # item -> VAT Bus. Posting Gr. (Price)
GL_ACCOUNTS = [("6110", "Sales, Retail - Dom.", "VAT25"), ("6810", "Freight", "VAT25"),
               ("6910", "Invoice Rounding", "NO VAT")]
RESOURCES = [("LINDA", "Linda Martin", "Person", 110.0, 70.0, 160),
             ("MARTY", "Marty Horst", "Person", 100.0, 65.0, 160),
             ("TERRY", "Terry Dodds", "Person", 95.0, 60.0, 120),
             ("LIFT", "Forklift", "Machine", 60.0, 30.0, 200)]
SALES_PRICES = [("1896-S", "Customer Price Group", "RETAIL", "", 1100.0),
                ("1900-S", "Customer Price Group", "RETAIL", "", 210.0),
                ("1896-S", "Customer Price Group", "WHOLESALE", "", 950.0),
                ("1920-S", "Customer Price Group", "WHOLESALE", "", 600.0),
                ("1928-S", "Customer Price Group", "EXPORT", "EUR", 52.0),
                ("1906-S", "All Customers", "", "", 270.0)]
OPPORTUNITIES = [  # no, description, contact person, salesperson,
    # status, estimated value, closing date, date closed, probability
    ("OP000001", "Furniture for new Cannon office", "Mark McArthur", "PS",
     "In Progress", 25000.0, "2025-09-30", "", 40),
    ("OP000002", "Conference room refit", "Ian Deberry", "OF",
     "Not Started", 12000.0, "2025-11-15", "", 10),
    ("OP000003", "Lamps for Selangorian lobby", "Mindy Martin", "JO",
     "Won", 3000.0, "2025-03-31", "2025-03-20", 100),
]
POSTED_INVOICES = [  # no, customer, currency, currency factor, lines (type, no, qty, price), share still
    # open, last Detailed Cust. Ledg. Entry No. (the invoice's entry, then one per payment)
    ("103001", "10000", "", 0.0, [("Item", "1896-S", 2, 1000.8), ("Item", "1928-S", 4, 54.9)], 0.0, 2),
    ("103002", "20000", "GBP", 0.787402, [("Item", "1900-S", 6, 192.8)], 0.5, 4),
    ("103003", "60000", "EUR", 0.925926,
     [("Item", "1920-S", 1, 649.4), ("G/L Account", "6810", 1, 50.0)], 1.0, 5),
]
DOCUMENTS = [  # header set, line set, no, customer, lines (item, quantity)
    ("salesOrders", "salesOrderLines", "S-ORD101001", "10000", [("1896-S", 1), ("1906-S", 2)]),
    ("salesOrders", "salesOrderLines", "S-ORD101002", "40000", [("1920-S", 1), ("1900-S", 6)]),
    ("salesQuotes", "salesQuoteLines", "S-QUO10001", "30000", [("1908-S", 5)]),
    ("salesInvoices", "salesInvoiceLines", "S-INV102001", "90000", [("1928-S", 10)]),
]
# fmt: on


def load(bc: Any) -> None:
    bc.insert("companies", {"id": BC_COMPANY_ID, "name": "CRONUS Sandbox", "displayName": "CRONUS Sandbox",
                            "systemVersion": "24.0.16410.0", "businessProfileId": ""})  # fmt: skip
    for entity_set, entity, row in _setup_rows():
        key = row.get("code") or row.get("number") or row.get("currencyCode") or "setup"
        if entity == "vatPostingSetup":
            key = f"{row['vatBusPostingGroup']}/{row['vatProdPostingGroup']}"
        bc.insert(entity_set, {"id": seed_id("bc", entity, str(key)), **row})
    for no, _, vat in GL_ACCOUNTS:  # VAT Prod. Posting Groups: shown by no API page
        bc.store_fields("accounts", seed_id("bc", "glAccount", no), {"vatProdPostingGroup": vat})
    _customers(bc)
    _contacts(bc)
    for entity_set, row in _product_rows():
        bc.insert(entity_set, row)
    for item, location, inventory, on_purchase in _availability_rows():
        key = f"{item}/{location}"
        bc.insert("itemAvailability", {"id": seed_id("bc", "itemAvailability", key), "itemNo": item,
                                       "locationCode": location, "inventory": inventory,
                                       "qtyOnPurchOrders": on_purchase})  # fmt: skip
    for no, *_ in RESOURCES:
        bc.store_fields("resources", seed_id("bc", "resource", no), {"vatProdPostingGroup": "VAT25"})
    for row in _opportunity_rows(bc):
        bc.insert("opportunities", row)
    for entity_set, row in _document_rows():
        bc.insert(entity_set, row)


def _setup_rows() -> list[tuple[str, str, dict[str, Any]]]:
    def decimals(code: str) -> dict[str, Any]:
        return {"amountDecimalPlaces": "0:0" if code == "JPY" else "2:2",
                "amountRoundingPrecision": 1 if code == "JPY" else 0.01}  # fmt: skip

    rows = [("currencies", "currency", {"code": c, "displayName": n, "symbol": s, **decimals(c)})
            for c, n, s, _ in CURRENCIES]  # fmt: skip
    rows += [("currencyExchangeRates", "currencyExchangeRate",
              {"currencyCode": c, "startingDate": START, "exchangeRateAmount": 1,
               "relationalExchangeRateAmount": r})
             for c, _, _, r in CURRENCIES if r is not None]  # fmt: skip
    rows += [("unitsOfMeasure", "unitOfMeasure",
              {"code": c, "displayName": n, "internationalStandardCode": iso, "symbol": c.lower()})
             for c, n, iso in UOMS]  # fmt: skip
    rows += [("paymentTerms", "paymentTerms",
              {"code": c, "displayName": n, "dueDateCalculation": d,
               "discountPercent": 2 if c == "1M(8D)" else 0,
               "discountDateCalculation": "8D" if c == "1M(8D)" else ""})
             for c, n, d in PAYMENT_TERMS]  # fmt: skip
    rows += [
        ("shipmentMethods", "shipmentMethod", {"code": c, "displayName": n}) for c, n in SHIPMENT_METHODS
    ]
    rows += [("shippingAgents", "shippingAgent", {"code": c, "name": n}) for c, n in SHIPPING_AGENTS]
    rows += [
        ("vendors", "vendor", {"number": no, "displayName": name, "blocked": " "}) for no, name in VENDORS
    ]
    rows += [("salespeoplePurchasers", "salesperson",
              {"code": c, "displayName": n, "email": f"{n.split()[0].lower()}@cronus-sandbox.example",
               "jobTitle": "Sales Representative"}) for c, n in SALESPEOPLE]  # fmt: skip
    rows += [
        ("customerPriceGroups", "customerPriceGroup", {"code": c, "description": d}) for c, d in PRICE_GROUPS
    ]
    rows.append(("integrationSetup", "integrationSetup", {
        "lcyCode": "USD", "writeInProductType": "Item", "writeInProductNo": "WRITEIN",
        "freightGlAccountNo": "6810", "salesOrderIntegration": True, "autoCreateSalesOrders": True,
        "autoProcessQuotes": True}))  # fmt: skip
    return rows + _vat_and_account_rows()


def _vat_and_account_rows() -> list[tuple[str, str, dict[str, Any]]]:
    rows: list[tuple[str, str, dict[str, Any]]] = []
    rows += [("vatPostingSetups", "vatPostingSetup",
              {"vatBusPostingGroup": bus, "vatProdPostingGroup": prod, "vatPercent": pct})
             for bus, prod, pct in VAT_SETUPS]  # fmt: skip
    rows += [("accounts", "glAccount", {"number": no, "displayName": name, "accountType": "Posting",
              "category": "Income", "directPosting": True}) for no, name, _ in GL_ACCOUNTS]  # fmt: skip
    return rows


def _customers(bc: Any) -> None:
    for no, name, address, city, post, country, cur, sp, terms, ship, agent, blocked in CUSTOMERS:
        customer_id = seed_id("bc", "customer", no)
        bc.insert("integrationCustomers", {
            "id": customer_id, "number": no, "name": name, "address": address, "city": city, "postCode": post,
            "countryRegionCode": country, "currencyCode": cur, "salespersonCode": sp,
            "paymentTermsCode": terms,
            "shipmentMethodCode": ship, "shippingAgentCode": agent, "blocked": blocked,
            "phoneNo": f"+44 20 7946 0{no[:3]}", "email": f"info{no}@example.com",
            "homePage": f"www.customer{no}.example", "creditLimitLcy": 10000.0 + int(no) / 2,
            "vatBusPostingGroup": VAT_GROUPS[country]})  # fmt: skip
        bc.update("customerFinancialDetails", customer_id, {
            "balance": int(no) / 10, "totalSalesExcludingTax": int(no) / 2,
            "overdueAmount": 0.0})  # fmt: skip


def _contacts(bc: Any) -> None:
    litware = bc.insert("integrationContacts", {
        "id": seed_id("bc", "contact", "LITWARE"), "type": "Company", "name": "Litware Prospects Inc.",
        "city": "Chicago", "countryRegionCode": "US"})  # fmt: skip
    for customer, first, last, job, primary in PERSONS:
        customer_id = seed_id("bc", "customer", customer)
        company_no = (
            bc.get("integrationCustomers", customer_id)["companyContactNo"] if customer else litware["number"]
        )
        contact = bc.insert("integrationContacts", {
            "id": seed_id("bc", "contact", f"{first} {last}"), "type": "Person", "companyNo": company_no,
            "firstName": first, "surname": last, "email": f"{first.lower()}@example.com",
            "phoneNo": "+44 20 7946 0999"})  # fmt: skip
        bc.update("contacts", contact["id"], {"jobTitle": job})
        if primary:
            bc.update("integrationCustomers", customer_id,
                      {"primaryContactNo": contact["number"], "contact": f"{first} {last}"})  # fmt: skip


def _product_rows() -> list[tuple[str, dict[str, Any]]]:
    rows = [("integrationItems", {
        "id": seed_id("bc", "item", no), "number": no, "description": text, "unitPrice": price,
        "unitCost": cost,
        "baseUnitOfMeasure": uom, "inventory": stock, "blocked": blocked,
        "grossWeight": 0.0 if kind == "Service" else 12.5, "unitVolume": 0.0 if kind == "Service" else 0.4,
        "vatProdPostingGroup": ITEM_VAT.get(no, "VAT25"), "priceIncludesVat": no in PRICE_INCLUDES_VAT,
        "vatBusPostingGrPrice": PRICE_INCLUDES_VAT.get(no, "")})
        for no, text, price, cost, uom, stock, blocked, kind in ITEMS]  # fmt: skip
    rows += [("resources", {
        "id": seed_id("bc", "resource", no), "number": no, "name": name, "type": kind,
        "baseUnitOfMeasure": "HOUR", "unitPrice": price, "unitCost": cost, "capacity": capacity})
        for no, name, kind, price, cost, capacity in RESOURCES]  # fmt: skip
    rows += [("salesPrices", {
        "id": seed_id("bc", "salesPrice", f"{item}/{kind}/{code}"), "itemNo": item, "salesType": kind,
        "salesCode": code, "currencyCode": cur, "startingDate": START, "unitOfMeasureCode": "PCS",
        "minimumQuantity": 0, "unitPrice": price})
        for item, kind, code, cur, price in SALES_PRICES]  # fmt: skip
    return rows


def _availability_rows() -> list[tuple[str, str, float, float]]:
    """Item Availability by Location: the blank location holds the item's inventory; two items are
    also stocked in the EAST warehouse with a purchase order on its way."""
    rows = [(no, "", float(stock), 0.0) for no, _, _, _, _, stock, _, kind in ITEMS if kind != "Service"]
    return [*rows, ("1896-S", "EAST", 5.0, 10.0), ("1928-S", "EAST", 12.0, 0.0)]


def _opportunity_rows(bc: Any) -> list[dict[str, Any]]:
    rows = []
    for no, text, person, sp, status, value, closing, closed, probability in OPPORTUNITIES:
        contact = bc.get("integrationContacts", seed_id("bc", "contact", person))
        rows.append({
            "id": seed_id("bc", "opportunity", no), "number": no, "description": text,
            "contactNo": contact["number"], "contactCompanyNo": contact["companyNo"], "salespersonCode": sp,
            "status": status, "estimatedValueLcy": value, "estimatedClosingDate": closing,
            "dateClosed": closed or "0001-01-01", "probability": probability,
            "currentValueLcy": round(value * probability / 100, 2)})  # fmt: skip
    return rows


def _posted_invoice(
    no: str, customer: str, currency: str, factor: float, lines: list, still_open: float, last_entry: int
) -> dict:
    items = {row[0]: row for row in ITEMS}
    rows = [{"lineNo": 10000 * (i + 1), "type": kind, "number": number, "quantity": qty, "unitPrice": price,
             "description": items[number][1] if number in items else "Freight",
             "unitOfMeasureCode": items[number][4] if number in items else "",
             "amount": round(qty * price, 2), "amountIncludingVat": round(qty * price * 1.2, 2)}
            for i, (kind, number, qty, price) in enumerate(lines)]  # fmt: skip
    amount = round(sum(r["amount"] for r in rows), 2)
    name = next(c[1] for c in CUSTOMERS if c[0] == customer)
    return {
        "id": seed_id("bc", "postedSalesInvoice", no), "number": no, "sellToCustomerNo": customer,
        "currencyCode": currency, "currencyFactor": factor, "dueDate": "2025-06-30",
        "shipmentDate": "2025-05-31", "billToName": name, "shipToName": name, "amount": amount,
        "amountIncludingVat": round(amount * 1.2, 2),
        "remainingAmount": round(amount * 1.2 * still_open, 2), "lastDetailedEntryNo": last_entry,
        "lines": rows}  # fmt: skip


def _document_rows() -> list[tuple[str, dict[str, Any]]]:
    rows = [("postedSalesInvoices", _posted_invoice(*invoice)) for invoice in POSTED_INVOICES]
    for header_set, line_set, no, customer, lines in DOCUMENTS:
        doc_id = seed_id("bc", header_set, no)
        rows.append((header_set, {"id": doc_id, "number": no, "customerNumber": customer}))
        rows += [(line_set, {"id": seed_id("bc", line_set, f"{no}/{i + 1}"), "documentId": doc_id,
                             "lineType": "Item", "lineObjectNumber": item, "quantity": qty})
                 for i, (item, qty) in enumerate(lines)]  # fmt: skip
    return rows
