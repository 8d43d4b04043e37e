"""UCI Online Retail as the RFM and micro-segment tests read it: the invoice lines of known customers
(CustomerID present), cancellations left out (InvoiceNo starting with C; the three "A" bad-debt adjustments
have no customer anyway). Read once per run from the shared data folder; the tests skip when it is absent."""

from __future__ import annotations

import csv
import gzip

import numpy as np
import pytest

from afinidad.predict.transactions import Transactions
from afinidad.segments import CustomerFeatures, MicroSegments, OrderLines, customer_features
from tests.conftest import data_path

ONLINE_RETAIL = ("uci-online-retail", "online_retail.csv.gz")


@pytest.fixture(scope="session")
def retail_lines() -> OrderLines:
    columns: dict[str, list[str]] = {name: [] for name in ("customer", "order", "product", "quantity", "time", "price")}
    with gzip.open(data_path(*ONLINE_RETAIL), "rt", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        assert next(reader) == [
            "InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country",
        ]  # fmt: skip
        for invoice, stock_code, _, quantity, when, unit_price, customer, _ in reader:
            if not customer or invoice.startswith(("C", "A")):
                continue
            columns["customer"].append(customer.removesuffix(".0"))
            columns["order"].append(invoice)
            columns["product"].append(stock_code)
            columns["quantity"].append(quantity)
            columns["time"].append(when)
            columns["price"].append(unit_price)
    return OrderLines(
        customers=np.array(columns["customer"]),
        times=np.array(columns["time"]),
        products=np.array(columns["product"]),
        quantities=np.array(columns["quantity"]),
        unit_prices=np.array(columns["price"]),
        orders=np.array(columns["order"]),
    )


@pytest.fixture(scope="session")
def retail_orders(retail_lines: OrderLines) -> Transactions:
    """One entry per invoice: its customer, its day and its value (the sum of quantity x unit price)."""
    invoices, first_line, line_invoice = np.unique(retail_lines.orders, return_index=True, return_inverse=True)
    value = np.bincount(line_invoice.ravel(), weights=retail_lines.quantities * retail_lines.unit_prices)
    return Transactions(
        retail_lines.customers[first_line], retail_lines.times[first_line].astype("datetime64[D]"), value
    )


@pytest.fixture(scope="session")
def retail_features(retail_lines: OrderLines) -> CustomerFeatures:
    return customer_features(retail_lines)


@pytest.fixture(scope="session")
def retail_segments(retail_features: CustomerFeatures) -> MicroSegments:
    return MicroSegments(random_state=0).fit(retail_features)
