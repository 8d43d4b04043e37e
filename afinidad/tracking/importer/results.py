"""What reading a file yields: a message ready to store, or a row that was not imported and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from afinidad.importing.results import Problem, RejectedRow

__all__ = ["ImportedMessage", "Problem", "RejectedRow"]


@dataclass
class ImportedMessage:
    """A message ready to store. `line` is where it starts in the file (1-based, the CSV header is line 1);
    `rows` how many data rows it was made from (more than 1 for a group), so a caller can account for
    every row: imported rows + rejected rows = data rows."""

    line: int
    message: dict[str, Any]
    rows: int = 1
