"""Declarations of the BC emulator's sales-document views (plain data; built in ``bc_schema``).

BC keeps every sales document in one table, Sales Header (36), with its lines in Sales Line (37),
both keyed by Document Type. So do the views here: v2.0 ``salesOrders`` / ``salesQuotes`` /
``salesInvoices`` and the companion ``salesDocuments`` (Quote and Order, extension 1.1) all read
the stored table ``salesHeader`` (``where`` = the document types a view shows), and the line views
the table ``salesLine``: a document created through one is the same row, with the same ``id``, in
the other. Stored field names are v2.0's where v2.0 shows the field; the companion views rename
them (``sellToCustomerNo=customerNumber``) and translate options with ``map(api=stored|...)``.
The companion ``customerStatistics`` (extension 1.1) is a read-only view of the Customer table whose
figures are computed in :mod:`sandbox.bc_statistics`.
"""

from __future__ import annotations

from typing import Any

# stored table -> (code field, BC table caption, caption of the code field)
DOCUMENT_TABLES = {
    "salesHeader": ("number", "Sales Header", "No."),
    "salesLine": ("", "Sales Line", ""),
    "salesDocumentNote": ("", "Record Link", ""),
    "salesHeaderArchive": ("", "Sales Header Archive", ""),
    "salesDocumentEvent": ("", "CRM Sales Document Posting Buffer", ""),
    "salesShipmentHeader": ("number", "Sales Shipment Header", "No."),
    "vatPostingSetup": ("", "VAT Posting Setup", ""),
    "glAccount": ("number", "G/L Account", "No."),
    "customerActivity": ("", "Customer Activity", ""),  # bc_statistics: activity and adjustments
}
DOCUMENT_KEYS = {"vatPostingSetup": ("vatBusPostingGroup", "vatProdPostingGroup")}
# number series (by document type, see bc_documents.SERIES) -> the table whose numbers they are
SERIES_TABLES = {
    "salesOrder": "salesHeader",
    "salesQuote": "salesHeader",
    "salesInvoice": "salesHeader",
    "salesShipment": "salesShipmentHeader",
}
DOCUMENT_SERIES = {"salesShipment": ("{:d}", 102001, 1)}

ORDER, QUOTE, INVOICE = ("Order",), ("Quote",), ("Invoice",)

_PARTY = " ".join(
    f"{p}AddressLine1:100 {p}AddressLine2:50 {p}City:30 {p}Country:c:10 {p}State:30 {p}PostCode:c:20"
    for p in ("sellTo", "billTo", "shipTo")
)
DOC_HEADER = (
    "number:c:20 externalDocumentNumber:c:35 postingDate:d customerId=customerNumber:link(customer) "
    "customerNumber:c:20:rel(customer) customerName:100 billToName:100 "
    "billToCustomerId=billToCustomerNumber:link(customer) billToCustomerNumber:c:20:rel(customer) "
    f"shipToName:100 shipToContact:100 {_PARTY} "
    "currencyId=currencyCode:link(currency) currencyCode:c:10:rel(currency) "
    "paymentTermsId=paymentTermsCode:link(paymentTerms) "
    "shipmentMethodId=shipmentMethodCode:link(shipmentMethod) "
    "salesperson=salespersonCode:c:20:rel(salesperson) discountAmount:n "
    "discountAppliedBeforeTax:b:ro totalAmountExcludingTax:n:get(doc_amount) "
    "totalTaxAmount:n:get(doc_vat) totalAmountIncludingTax:n:get(doc_amount_incl_vat) "
    "phoneNumber:30 email:80"
)
DOC_LINE = (
    "documentId:g sequence:n itemId=lineObjectNumber:link(item) accountId:g "
    "lineType:enum(Comment|Account|Item|Resource|Value|Fixed_x0020_Asset|Charge) "
    "lineObjectNumber:c:20 description:100 description2:50 "
    "unitOfMeasureId=unitOfMeasureCode:link(unitOfMeasure) unitOfMeasureCode:c:10:rel(unitOfMeasure) "
    "quantity:n unitPrice:n discountAmount:n discountPercent:n discountAppliedBeforeTax:b:ro "
    "amountExcludingTax:n:get(line_amount) taxCode:c:20 taxPercent:n:get(line_vat_percent) "
    "totalTaxAmount:n:get(line_vat) amountIncludingTax:n:get(line_amount_incl_vat) "
    "invoiceDiscountAllocation:n:get(line_inv_discount) netAmount:n:get(line_net) "
    "netTaxAmount:n:get(line_net_vat) netAmountIncludingTax:n:get(line_net_incl_vat) "
    "itemVariantId:g locationId:g"
)
SHIP_QTY = "shipmentDate:d shippedQuantity:n:ro invoicedQuantity:n:ro invoiceQuantity:n shipQuantity:n"
V2_ORDER_STATUS = (
    "map(Draft=Open|In_x0020_Review=Pending_x0020_Approval|Open=Released|Open=Pending_x0020_Prepayment)"
)

_C_PARTY = " ".join(
    f"{p}Name:100 {p}Address={p}AddressLine1:100 {p}Address2={p}AddressLine2:50 {p}City:30 "
    f"{p}PostCode:c:20 {p}County={p}State:30 {p}CountryRegionCode={p}Country:c:10 {p}Contact:100"
    for p in ("billTo", "shipTo")
)
SALES_DOCUMENT = (
    "documentType:enum(Quote|Order) number:c:20:ro "
    "status:ro:enum(Open|Released|Pending_x0020_Approval|Pending_x0020_Prepayment) "
    "sellToCustomerNo=customerNumber:c:20:rel(customer) yourReference:35 "
    "externalDocumentNo=externalDocumentNumber:c:35 quoteNo=quoteNumber:c:20 workDescription "
    "currencyCode:c:10:rel(currency) requestedDeliveryDate:d quoteValidUntilDate=validUntilDate:d "
    "paymentTermsCode:c:10:rel(paymentTerms) shipmentMethodCode:c:10:rel(shipmentMethod) "
    "shippingAgentCode:c:10:rel(shippingAgent) paymentDiscountPercent:n "
    "invoiceDiscountAmount=discountAmount:n salespersonCode:c:20:rel(salesperson) "
    f"{_C_PARTY} pricesIncludingVat=pricesIncludeTax:b:ro amount:n:get(doc_amount) "
    "amountIncludingVat:n:get(doc_amount_incl_vat) completelyShipped:b:get(completely_shipped) "
    "fullyInvoiced:b:get(fully_invoiced) docNoOccurrence:n:ro"
)
SALES_DOCUMENT_LINE = (
    "documentId:g lineNo=sequence:n "
    "type=lineType:map(_=Comment|Item=Item|Resource=Resource|G/L_x0020_Account=Account) "
    "number=lineObjectNumber:c:20 description:100 description2:50 quantity:n "
    "unitOfMeasureCode:c:10:rel(unitOfMeasure) unitPrice:n lineDiscountAmount=discountAmount:n "
    "attachedToLineNo:n amount:n:get(line_net) amountIncludingVat:n:get(line_net_incl_vat) "
    "quantityShipped=shippedQuantity:n:ro quantityInvoiced=invoicedQuantity:n:ro "
    "outstandingQuantity:n:get(outstanding_quantity) qtyShippedNotInvoiced:n:get(shipped_not_invoiced)"
)
POSTED_INVOICE = (
    "number:c:20 yourReference:35 externalDocumentNo:c:35 sellToCustomerNo:c:20 currencyCode:c:10 "
    "currencyFactor:n dueDate:d shipmentDate:d salespersonCode:c:20 shipToName:100 "
    "shipToAddress:100 shipToAddress2:50 shipToCity:30 shipToCountryRegionCode:c:10 "
    "shipToPostCode:c:20 shipToCounty:30 billToName:100 billToAddress:100 billToAddress2:50 "
    "billToCity:30 billToCountryRegionCode:c:10 billToPostCode:c:20 billToCounty:30 amount:n "
    "amountIncludingVat:n invoiceDiscountAmount:n shippingAgentCode:c:10 paymentTermsCode:c:10 "
    "shipmentMethodCode:c:10 workDescription pricesIncludingVat:b remainingAmount:n:ro "
    "cancelled:b:ro lastDetailedEntryNo:n:ro"
)
CUSTOMER_STATISTICS = (  # one row per customer (table Customer), computed in bc_statistics
    "customerNo=number:c:20:ro name:100:ro balanceLcy:n:get(stat_balanceLcy) "
    "outstandingOrdersLcy:n:get(stat_outstandingOrdersLcy) "
    "shippedNotInvoicedLcy:n:get(stat_shippedNotInvoicedLcy) "
    "outstandingInvoicesLcy:n:get(stat_outstandingInvoicesLcy) totalLcy:n:get(stat_totalLcy) "
    "creditLimitLcy:n:ro overdueAmountsLcy:n:get(stat_overdueAmountsLcy) "
    "overdueAmountsAsOf:d:get(stat_overdueAmountsAsOf) totalSalesLcy:n:get(stat_totalSalesLcy) "
    "invoicedPrepaymentAmountLcy:n:get(stat_invoicedPrepaymentAmountLcy) "
    "lastActivityDateTime:t:get(stat_lastActivityDateTime)"
)
POSTED_INVOICE_LINE = (
    "lineNo:n type:enum(_|G/L_x0020_Account|Item|Resource|Fixed_x0020_Asset|Charge_x0020_(Item)) "
    "number:c:20 description:100 quantity:n unitOfMeasureCode:c:10 unitPrice:n "
    "lineDiscountAmount:n amount:n amountIncludingVat:n invDiscountAmount:n"
)

# (name, table, field specs, keyword arguments of bc_schema.view); api "c" = the companion root
V2_DOCUMENT_VIEWS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("salesOrders", "salesHeader",
     f"{DOC_HEADER} orderDate:d partialShipping:b requestedDeliveryDate:d "
     f"fullyShipped:b:get(completely_shipped) pricesIncludeTax:b:ro status:ro:{V2_ORDER_STATUS}",
     {"nav": {"salesOrderLines": ("salesOrderLines", "documentId")}, "where": ORDER}),
    ("salesOrderLines", "salesLine", f"{DOC_LINE} {SHIP_QTY}", {"where": ORDER}),
    ("salesQuotes", "salesHeader",
     f"{DOC_HEADER} documentDate:d dueDate:d validUntilDate:d sentDate:ro acceptedDate:d:ro "
     "status=quoteStatus:ro:enum(Draft|Sent|Accepted|Expired_x0020_)",
     {"nav": {"salesQuoteLines": ("salesQuoteLines", "documentId")}, "where": QUOTE}),
    ("salesQuoteLines", "salesLine", DOC_LINE, {"where": QUOTE}),
    ("salesInvoices", "salesHeader",
     f"{DOC_HEADER} invoiceDate:d dueDate:d promisedPayDate:d customerPurchaseOrderReference:35 "
     "orderId:g:ro orderNumber:ro disputeStatusId:g disputeStatus:ro pricesIncludeTax:b:ro "
     "remainingAmount:n:ro "
     "status=invoiceStatus:ro:enum(_x0020_|Draft|In_x0020_Review|Open|Paid|Canceled|Corrective)",
     {"nav": {"salesInvoiceLines": ("salesInvoiceLines", "documentId")}, "where": INVOICE}),
    ("salesInvoiceLines", "salesLine", f"{DOC_LINE} shipmentDate:d", {"where": INVOICE}),
    ("accounts", "glAccount",
     "number:c:20 displayName=name:100 category:enum(_|Assets|Liabilities|Equity|Income|"
     "CostOfGoodsSold|Expense) subCategory:80 blocked:b "
     "accountType:enum(Posting|Heading|Total|Begin-Total|End-Total) directPosting:b netChange:n:ro",
     {"get_only": True}),
]  # fmt: skip
COMPANION_DOCUMENT_VIEWS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("postedSalesInvoices", "postedSalesInvoice", POSTED_INVOICE,
     {"get_only": True, "nav": {"lines": ("postedSalesInvoiceLines", "documentId")}}),
    ("postedSalesInvoiceLines", "postedSalesInvoiceLine", POSTED_INVOICE_LINE, {"get_only": True}),
    ("salesDocuments", "salesHeader", SALES_DOCUMENT,
     {"where": QUOTE + ORDER, "nav": {"lines": ("salesDocumentLines", "documentId"),
                                      "notes": ("salesDocumentNotes", "documentId")}}),
    ("salesDocumentLines", "salesLine", SALES_DOCUMENT_LINE, {"where": QUOTE + ORDER}),
    ("salesDocumentNotes", "salesDocumentNote", "description:250 noteText createdAt:t",
     {"patch": False, "order": ("createdAt",)}),
    ("salesDocumentArchives", "salesHeaderArchive",
     "documentType:ro:enum(Quote|Order) number:c:20:ro docNoOccurrence:n:ro versionNo:n:ro "
     "archivedAt:t:ro yourReference:35:ro externalDocumentNo:c:35:ro",
     {"get_only": True, "order": ("documentType", "number", "docNoOccurrence", "versionNo")}),
    ("salesDocumentEvents", "salesDocumentEvent",
     "sequenceNo:n:ro eventType:ro:enum(Released|ShipmentPosted|InvoicePosted|OrderFullyInvoiced|"
     "OrderDeleted) salesDocumentId:g:ro orderNo:c:20:ro yourReference:35:ro "
     "postedDocumentNo:c:20:ro sellToCustomerNo:c:20:ro createdAt:t:ro",
     {"get_only": True, "order": ("sequenceNo",)}),
    ("vatPostingSetups", "vatPostingSetup",
     "vatBusPostingGroup:c:20 vatProdPostingGroup:c:20 vatPercent:n", {"get_only": True}),
    ("customerStatistics", "customer", CUSTOMER_STATISTICS,
     {"get_only": True, "order": ("customerNo",), "entity_type": "customerStatistic"}),
]  # fmt: skip
# sets only reachable through their parent's navigation (not listed, not addressable on their own)
DOCUMENT_NESTED_ONLY = {"postedSalesInvoiceLines", "salesDocumentNotes"}
