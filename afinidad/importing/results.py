"""What reading any file yields besides what it was read for: the rows that were not imported, and why."""

from __future__ import annotations

from dataclasses import dataclass

Problem = tuple[str | None, str]  # (field at fault or None, reason): what is wrong with a row, before it is yielded


@dataclass
class RejectedRow:
    """One data row that was not imported, and why. `line` is where it starts in the file (1-based, the CSV
    header is line 1). `field` is the column (CSV) or the key (JSON) at fault, or None when the row as a whole
    is (bad JSON, wrong column count, rejected with its group). There is exactly one RejectedRow per row not
    imported."""

    line: int
    reason: str
    field: str | None = None
