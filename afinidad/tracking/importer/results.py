"""What reading a file yields: a message ready to store, or a row that was not imported and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Problem = tuple[str | None, str]  # (field at fault or None, reason): what is wrong with a row, before it is yielded


@dataclass
class ImportedMessage:
    """A message ready to store. `line` is where it starts in the file (1-based, the CSV header is line 1);
    `rows` how many data rows it was made from (more than 1 for a group), so a caller can account for
    every row: imported rows + rejected rows = data rows."""

    line: int
    message: dict[str, Any]
    rows: int = 1


@dataclass
class RejectedRow:
    """One data row that was not imported, and why. `field` is the column (CSV) or the message key (JSON)
    at fault, or None when the row as a whole is (bad JSON, wrong column count, rejected with its group).
    There is exactly one RejectedRow per row not imported."""

    line: int
    reason: str
    field: str | None = None
