"""`read_products`: a catalog file's products, merged by id and checked, with every row accounted for."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from afinidad.catalog.importer.checking import checked_products
from afinidad.catalog.importer.mapping import ProductMapping, available_mappings
from afinidad.catalog.importer.merging import ProductMerger
from afinidad.catalog.importer.rendering import ProductRenderer
from afinidad.catalog.importer.results import ImportedProduct, RejectedRow, SkippedRow
from afinidad.errors import MappingError
from afinidad.importing.files import csv_table, file_format, json_objects
from afinidad.importing.results import Problem

Item = ImportedProduct | SkippedRow | RejectedRow


def read_products(
    path: Path | str,
    mapping: ProductMapping | None = None,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[Item]:
    """Yield each skipped or rejected row as the file is read, then each product (merged from its rows and
    checked) or the rows of a product that failed its check, in the order products first appear.

    `mapping` is needed for CSV and refused for JSON lines, whose lines are products already.
    `on_progress`, if given, is called with the number of bytes of the file *on disk* consumed so far, about
    every 4,096 lines and once at the end of the reading (before products are yielded): use
    ``path.stat().st_size`` as the total of a progress bar.

    Raises `UnsupportedFile` or `MappingError` at once (unknown format, missing file, CSV without mapping) or
    when iteration starts (a header lacking a mapped column); bad rows never raise, they are yielded. Memory:
    the merged catalog (see `afinidad.catalog.importer.merging`)."""
    path = Path(path)
    if file_format(path) == "json":
        if mapping is not None:
            raise MappingError("mappings apply to CSV files; JSON lines are products already")
        return _read_json_lines(path, on_progress)
    if mapping is None:
        ready = ", ".join(available_mappings())
        raise MappingError(f"{path.name}: a CSV catalog needs a mapping: a ready one ({ready}) or a .toml file")
    return _read_csv(path, mapping, on_progress)


def _read_csv(path: Path, mapping: ProductMapping, on_progress: Callable[[int], None] | None) -> Iterator[Item]:
    header, rows = csv_table(path, mapping.source, on_progress)
    if header is None:
        return
    renderer = ProductRenderer(mapping, header, path)
    merger = ProductMerger(mapping.policy)
    for line, cells, problem in rows:
        if problem:
            yield RejectedRow(line, problem)
            continue
        problems: list[Problem] = []
        rendered = renderer.render(cells, problems)
        if problems:
            yield RejectedRow(line, "; ".join(reason for _, reason in problems), problems[0][0])
        elif rendered is None:
            yield SkippedRow(line)
        else:
            merger.add(rendered[0], line, rendered[1])
    yield from checked_products(
        merger, drop_title_from_category=mapping.drop_title_from_category, columns_of=mapping.columns_of
    )


def _read_json_lines(path: Path, on_progress: Callable[[int], None] | None) -> Iterator[Item]:
    merger = ProductMerger(lambda path: "last")
    for item in json_objects(path, on_progress, "product"):
        if isinstance(item, RejectedRow):
            yield item
            continue
        line, fields = item
        product_id = fields.pop("id", None)
        if isinstance(product_id, int) and not isinstance(product_id, bool):
            product_id = str(product_id)
        if not isinstance(product_id, str) or not product_id.strip():
            yield RejectedRow(line, 'no "id": each line is one product, with its id as text', "id")
            continue
        merger.add(product_id.strip(), line, {(key,): value for key, value in fields.items() if value is not None})
    yield from checked_products(merger, columns_of=None)
