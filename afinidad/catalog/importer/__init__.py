"""Read a catalog export as products, merged by id and checked as the API checks them, with every bad row
reported by its line.

Why this exists: `afinidad import catalog FILE` brings in the catalog a shop already has (a feed, a
marketplace export, or the products hidden in a sales history) without writing code. It is pure: it reads
the file and yields; `afinidad.catalog.bulk` stores in chunks and the CLI shows progress. As rows of one
product may be anywhere in a file, the whole catalog is held until the end of the file (see ``merging``).

Files
-----
- JSON lines (``.jsonl``, ``.ndjson``, ``.json``): one product per line, as ``PUT
  /v1/catalog/products/{id}`` takes it, plus its ``"id"``. Needs no mapping. A line without an id, or not a
  JSON object, is a `RejectedRow`; unknown keys reject the product (``Extra inputs are not permitted``).
- CSV (``.csv``): rows become products through a `ProductMapping` (a ready one, or a user's ``.toml``).
- Either may be gzip-compressed; see `afinidad.importing` for how files are read.

Rows with the same id are merged into one product (see ``[merge]``), which is then validated with
`ProductIn`: a product that fails (no price, a negative one, an unknown currency, a sale price above the
price) is refused on each of its rows, the first naming the field (``price``, ``image_urls[0]``) and why.
A cell a conversion refuses rejects its row alone, naming line and column; the product is then made from its
other rows, if any. Rows a rule skips are counted, not refused. So: rows of stored products + skipped rows
+ refused rows = data rows.

Importing the same file again changes nothing: products are upserted by id, and the catalog's history
records a price only when it changes.

Mapping format (TOML; ready ones live in ``afinidad/catalog/mappings/``)
---------------------------------------------------------------------
Every value is a *template* over the CSV's columns, as for events: ``"{pid}"``, ``"{Qty|int}"``,
``"{Tree|json|first|split(>)}"``. The template language, its conversions (``decimal`` for exact prices,
``split(SEP)``, ``ruby_hash``, ``key_values``...), ``[source]`` and the conditions of ``[[when]]`` are
documented in `afinidad.importing`. Unknown keys and fields are errors, to catch typos. Sections:

``[source]``
    How to read the file (delimiter, encoding, empty values...): see `afinidad.importing`.
``[product]`` (required)
    ``id`` (required: rows with the same id are one product) and the fields of `ProductIn`: ``title``,
    ``price`` and ``currency`` (required; a constant will do: ``currency = "GBP"``), ``description``,
    ``brand``, ``category`` (a list, or text split at ``>``), ``sale_price``, ``cost``, ``stock``,
    ``attributes``, ``image_urls``, ``language``, ``parent_id``, ``active``. ``attributes`` and ``stock``
    are objects and take dotted keys or nested tables::

        [product]
        id = "{sku}"
        title = "{name}"
        price = "{price|decimal}"
        currency = "EUR"
        stock.default = "{qty|int}"
        attributes.rating = "{rating|float}"

``[[when]]``
    Rules tested on each row, with the conditions of `afinidad.importing` (``equals``, ``starts_with``,
    ``empty``, ``matches``), and one action: ``set`` (fields laid over ``[product]`` for that row,
    ``set.active = false``; later matching rules win) or ``skip = true`` (the row is no product: postage, a
    fee, a refund; it is counted as skipped, and its cells are not converted, so a fee with an odd price is
    not refused).
``[merge]``
    How rows of one product combine, per field (or dotted path inside ``attributes``/``stock``): ``"last"``
    (default: the last row giving the field wins), ``"first"`` or ``"most_common"`` (ties: the value seen
    last). A row that does not give a field never erases it. ``title = "most_common"``.
``drop_title_from_category``
    ``true``: a category path whose last element is the product itself (its title, the title with a detail
    in parentheses, or a name cut short with "..." that agrees with the title, as in scraped breadcrumbs)
    loses that element. Default false.
``description``
    A line shown when listing ready mappings.

Modules
-------
``reader`` (`read_products`), ``mapping`` (`ProductMapping`, TOML parsing, the ready mappings),
``rendering`` (a mapping bound to a header: a row to an id and its fields), ``merging`` (rows to products),
``checking`` (validation, refusals), ``results`` (what reading yields).
"""

from __future__ import annotations

from afinidad.catalog.importer.mapping import ProductMapping, available_mappings, load_mapping, parse_mapping
from afinidad.catalog.importer.reader import read_products
from afinidad.catalog.importer.results import ImportedProduct, RejectedRow, SkippedRow
from afinidad.errors import MappingError, UnsupportedFile

__all__ = [
    "ImportedProduct",
    "MappingError",
    "ProductMapping",
    "RejectedRow",
    "SkippedRow",
    "UnsupportedFile",
    "available_mappings",
    "load_mapping",
    "parse_mapping",
    "read_products",
]
