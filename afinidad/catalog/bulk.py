"""Bulk import of catalog files: read and merge the whole file first (a product's last row may be the file's
last), then store the products through the same upsert as the API, one chunk per transaction, with every
refused row kept for the report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from afinidad.catalog.importer import ImportedProduct, ProductMapping, RejectedRow, SkippedRow, read_products
from afinidad.catalog.service import upsert_products
from afinidad.errors import InvalidInput
from afinidad.store.engine import Store

ANALYZE_AFTER = 1_000  # products stored by one import: then the planner's statistics are refreshed


@dataclass
class CatalogImportReport:
    """`rows_read` = rows of the `products` read + `skipped` + rows in `rejected`; `stored` products were
    upserted (created, or replaced by the same or newer values)."""

    rows_read: int = 0
    products: int = 0
    stored: int = 0
    skipped: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)


def import_catalog(
    store: Store,
    workspace_id: str,
    path: Path,
    *,
    mapping: ProductMapping | None = None,
    chunk_size: int = 500,
    on_read: Callable[[int, CatalogImportReport], None] | None = None,
    on_write: Callable[[CatalogImportReport], None] | None = None,
) -> CatalogImportReport:
    """Import `path` into the workspace's catalog. `on_read(bytes_read, report)` is called while the file is
    read, `on_write(report)` after each stored chunk (``report.stored`` of ``report.products``)."""
    report = CatalogImportReport()
    products: list[ImportedProduct] = []

    def reading(done: int) -> None:
        if on_read is not None:
            on_read(done, report)

    for item in read_products(path, mapping, on_progress=reading):
        if isinstance(item, ImportedProduct):
            products.append(item)
            report.rows_read += item.rows
        elif isinstance(item, SkippedRow):
            report.skipped += 1
            report.rows_read += 1
        else:
            report.rejected.append(item)
            report.rows_read += 1
    report.products = len(products)
    store_products(store, workspace_id, products, report, chunk_size=chunk_size, on_write=on_write)
    if report.stored >= ANALYZE_AFTER:
        store.analyze("products", "product_stock", "product_search")
    report.rejected.sort(key=lambda row: row.line)
    return report


def store_products(
    store: Store,
    workspace_id: str,
    products: list[ImportedProduct],
    report: CatalogImportReport,
    *,
    chunk_size: int = 500,
    on_write: Callable[[CatalogImportReport], None] | None = None,
) -> None:
    """Upsert `products`, parents before variants so a variant finds its parent stored. A chunk the catalog
    refuses (a variant whose parent is nowhere) is stored without the products it names, which are refused."""
    ordered = sorted(products, key=lambda item: item.product.parent_id is not None)
    for start in range(0, len(ordered), chunk_size):
        pending = ordered[start : start + chunk_size]
        while pending:
            try:
                with store.session() as session:
                    upsert_products(
                        session, workspace_id, [(item.id, item.product) for item in pending], source="import"
                    )
            except InvalidInput as error:
                refused = {problem.index: problem for problem in error.problems if problem.index is not None}
                if not refused:
                    raise
                for index, problem in refused.items():
                    _refuse(pending[index], problem.field.split(".", 1)[-1], problem.reason, report)
                pending = [item for index, item in enumerate(pending) if index not in refused]
                continue
            report.stored += len(pending)
            break
        if on_write is not None:
            on_write(report)


def _refuse(item: ImportedProduct, field_name: str, reason: str, report: CatalogImportReport) -> None:
    first = item.lines[0]
    report.rejected.append(RejectedRow(first, f"product {item.id!r}: {reason}", field_name))
    report.rejected.extend(
        RejectedRow(line, f"rejected with product {item.id!r}: see line {first}", field_name) for line in item.lines[1:]
    )
