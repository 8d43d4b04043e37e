"""What reading a catalog file yields: a product ready to store, a row a mapping rule skipped on purpose, or a
row that was not imported and why (`RejectedRow`, shared with the event importer)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from afinidad.catalog.products import ProductIn
from afinidad.importing.results import RejectedRow

__all__ = ["ImportedProduct", "RejectedRow", "SkippedRow"]


@dataclass
class ImportedProduct:
    """A product ready to store, merged from the rows at `lines` (the first one is `line`), so a caller can
    account for every row: rows of imported products + skipped rows + rejected rows = data rows."""

    line: int
    id: str
    product: ProductIn
    lines: Sequence[int]

    @property
    def rows(self) -> int:
        return len(self.lines)


@dataclass
class SkippedRow:
    """A row a ``[[when]]`` rule with ``skip = true`` dropped: not a product (postage, a fee), so not an error."""

    line: int
