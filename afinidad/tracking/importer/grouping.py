"""From CSV rows to messages: one message per row, or, with ``[group]``, one per group of rows (an order
and its lines), which is never half imported: one bad row rejects its whole group."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from afinidad.importing.files import CsvRow
from afinidad.importing.missing import MISSING
from afinidad.importing.templates import CellError, Row
from afinidad.tracking.importer.rendering import Renderer, place
from afinidad.tracking.importer.results import ImportedMessage, Problem, RejectedRow
from afinidad.tracking.importer.segment import finish
from afinidad.tracking.importer.totals import group_total


def single_rows(rows: Iterable[CsvRow], renderer: Renderer) -> Iterator[ImportedMessage | RejectedRow]:
    """One message per row (no ``[group]`` in the mapping)."""
    for line, cells, problem in rows:
        if problem:
            yield RejectedRow(line, problem)
            continue
        problems: list[Problem] = []
        message = renderer.message_for(cells, problems)
        if not problems:
            finished = finish(message)
            if finished is None:
                yield ImportedMessage(line, message)
                continue
            problems.append(finished)
        yield RejectedRow(line, "; ".join(reason for _, reason in problems), problems[0][0])


@dataclass
class _OpenGroup:
    key: str
    first_row: Row
    lines: list[int] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    problems: dict[int, list[Problem]] = field(default_factory=dict)  # line -> what is wrong with it
    last_index: int = 0


def grouped_rows(rows: Iterable[CsvRow], renderer: Renderer, window: int) -> Iterator[ImportedMessage | RejectedRow]:
    """Gather rows by group key; a group closes once `window` rows passed without one of its rows."""
    assert renderer.key is not None
    key_of, key_column = renderer.key, renderer.key_column
    open_groups: OrderedDict[str, _OpenGroup] = OrderedDict()  # least recently extended first
    closed: dict[str, int] = {}  # key -> first line, to catch a group coming back after it was emitted
    # No open group's last row comes before `oldest_last` (a lower bound, made exact whenever the oldest group is
    # looked at), so none can close before row `oldest_last + window + 1`: look only then, not on every row.
    oldest_last = -1
    for index, (line, cells, problem) in enumerate(rows):
        key: Any = MISSING
        try:
            key = key_of(cells)
        except CellError as error:
            yield RejectedRow(line, problem or f"cannot tell this row's group: {error}", error.column)
        except IndexError:  # a short or unreadable row without the key column
            yield RejectedRow(line, problem or "cannot tell this row's group")
        else:
            if key is MISSING:
                yield RejectedRow(line, problem or f"{key_column} is empty: cannot tell this row's group", key_column)
        group: _OpenGroup | None = None
        if key is not MISSING:
            key = str(key)
            group = open_groups.get(key)
            if group is not None:
                open_groups.move_to_end(key)
            elif key in closed:
                yield RejectedRow(
                    line,
                    f"group {key!r} (line {closed[key]}) ended more than {window} rows earlier and was "
                    "already emitted; keep a group's rows together (sort the file) or raise [group] window",
                    key_column,
                )
            else:
                group = open_groups[key] = _OpenGroup(key, cells)
        if group is not None:
            group.last_index = index
            group.lines.append(line)
            if problem:
                group.problems[line] = [(None, problem)]
            else:
                found: list[Problem] = []
                group.items.append(renderer.item_for(cells, found))
                if found:
                    group.problems[line] = found
        if oldest_last >= index - window:
            continue
        while open_groups:
            oldest = next(iter(open_groups.values()))
            if oldest.last_index >= index - window:
                oldest_last = oldest.last_index
                break
            del open_groups[oldest.key]
            closed[oldest.key] = oldest.lines[0]
            yield from _close(oldest, renderer)
    for group in open_groups.values():
        yield from _close(group, renderer)


def _close(group: _OpenGroup, renderer: Renderer) -> Iterator[ImportedMessage | RejectedRow]:
    problems = group.problems
    first_line = group.lines[0]
    message: dict[str, Any] = {}
    if not problems:
        found: list[Problem] = []
        message = renderer.message_for(group.first_row, found)
        if found:
            problems[first_line] = found
    if not problems:
        mapping = renderer.mapping
        assert mapping.group is not None
        place(message, mapping.group.into, group.items)
        computed: dict[str, Any] = {}  # revenue and total are often the same sum: compute it once
        for total in mapping.totals:
            if total.expression not in computed:
                amount, fault = group_total(total, group.items)
                if fault is not None:
                    index, name, reason = fault
                    problems[group.lines[index]] = [(renderer.item_columns.get(name), reason)]
                    break
                computed[total.expression] = amount
            place(message, total.path, computed[total.expression])
    if not problems:
        finished = finish(message)
        if finished is None:
            yield ImportedMessage(first_line, message, len(group.lines))
            return
        problems[first_line] = [finished]
    bad_lines = ", ".join(map(str, sorted(problems)))
    for line in group.lines:
        if line in problems:
            found = problems[line]
            yield RejectedRow(line, "; ".join(reason for _, reason in found), found[0][0])
        else:
            yield RejectedRow(line, f"rejected with its group {group.key!r}: see line(s) {bad_lines}")
