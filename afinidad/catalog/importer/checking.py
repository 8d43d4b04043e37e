"""A merged product is checked as the API checks one (`ProductIn`), so a file can store nothing the API would
refuse; a product that fails is refused on every row it was made from, naming the field and why."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pydantic import ValidationError

from afinidad.catalog.importer.merging import ProductMerger
from afinidad.catalog.importer.results import ImportedProduct, RejectedRow
from afinidad.catalog.products import ProductIn

_MAX_ID = 255  # the store's limit


def checked_products(
    merger: ProductMerger, *, drop_title_from_category: bool = False, columns_of: Callable[[str], list[str]] | None
) -> Iterator[ImportedProduct | RejectedRow]:
    """Each merged product, validated; `columns_of(field)` names the columns a field is read from, so a
    missing field can say which column was empty (None for JSON lines)."""
    for product_id, lines, fields in merger.products():
        if drop_title_from_category:
            _drop_title_from_category(fields)
        if len(product_id) > _MAX_ID:
            yield from _refused(product_id, lines, "id", f"longer than {_MAX_ID} characters")
            continue
        try:
            product = ProductIn.model_validate(fields)
        except ValidationError as error:
            field, reason = _explain(error, columns_of)
            yield from _refused(product_id, lines, field, reason)
            continue
        yield ImportedProduct(lines[0], product_id, product, lines)


def _explain(error: ValidationError, columns_of: Callable[[str], list[str]] | None) -> tuple[str | None, str]:
    """(the first field at fault, every problem in words): pydantic's location as a dotted path
    (``image_urls[0]``), its message without the "Value error, " prefix."""
    problems = []
    for item in error.errors(include_url=False):
        field = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in item["loc"]).lstrip(".")
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing":
            message = _missing(columns_of(field) if columns_of else [])
        problems.append((field or None, message))
    if len(problems) == 1:
        return problems[0]
    return problems[0][0], "; ".join(f"{field}: {message}" if field else message for field, message in problems)


def _missing(columns: list[str]) -> str:
    if not columns:
        return "required"
    return f"required, and {' and '.join(columns)} {'is' if len(columns) == 1 else 'are'} empty"


def _refused(product_id: str, lines: Sequence[int], field: str | None, reason: str) -> Iterator[RejectedRow]:
    """One RejectedRow per row of the product: the first carries the reason, the others point at it."""
    first = lines[0]
    yield RejectedRow(first, f"product {product_id!r}: {reason}" if len(lines) > 1 else reason, field)
    for line in lines[1:]:
        yield RejectedRow(line, f"rejected with product {product_id!r}: see line {first}", field)


def _drop_title_from_category(fields: dict[str, Any]) -> None:
    """Drop the category path's last element when it is the product itself, as in scraped breadcrumbs
    (``Clothing >> Shorts >> Alisha Solid Women's Cycling Shorts``): a category is what many products share."""
    title, category = fields.get("title"), fields.get("category")
    if not isinstance(title, str) or not category:
        return
    if isinstance(category, str):  # as ProductIn reads a path written as text
        category = [part for part in (piece.strip() for piece in category.split(">")) if part]
    if not isinstance(category, list) or not category or not isinstance(category[-1], str):
        return
    if names_product(category[-1], title):
        fields["category"] = category[:-1]


def names_product(element: str, title: str) -> bool:
    """Whether a category element is the product's title: equal to it, the title with a detail in parentheses
    (``"... T-Shirt (Pack of 4)"``), or a name cut short with ``"..."`` that the title starts, or that starts
    with the title (``"Crystal Paper Weight..."``, ``"Sofa Bed (Finish Colo..."``). Blanks are compared
    collapsed. A category that merely begins like the title ("Mugs" or "Mug holders" for a mug titled "Mug")
    is no match."""
    element, title = " ".join(element.split()), " ".join(title.split())
    truncated = element.endswith("...")
    stem = element[:-3].rstrip() if truncated else element
    if not stem or not title:
        return False
    if stem == title or stem.startswith(title + " ("):
        return True
    return truncated and (title.startswith(stem) or stem.startswith(title + " "))
