"""A mapping bound to one file's header: renders a row (or a group's first row, and each of its items) to
the fields of a message, collecting what is wrong instead of raising, so a bad cell costs its row only."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from afinidad.importing.binding import bind_leaf, bind_shape, header_binder, merge_shapes, rule_matches
from afinidad.importing.mapping import Leaf
from afinidad.importing.missing import MISSING
from afinidad.importing.templates import CellError, Render, Row
from afinidad.tracking.importer.mapping import EventMapping
from afinidad.tracking.importer.results import Problem


class Renderer:
    """A mapping bound to one file's header: renders rows (or a group's first row and items) to messages."""

    def __init__(self, mapping: EventMapping, header: Sequence[str], path: Path) -> None:
        required, optional = mapping.columns()
        index_of, bind = header_binder(header, required, optional, mapping.source, path, mapping.name)
        self.mapping = mapping
        self.message = bind_shape(mapping.message, bind)
        self.identity = [(key, bind_leaf(leaf, bind)) for key, leaf in mapping.identity]
        self.rules = [(index_of[rule.column], rule, bind_shape(rule.overrides, bind)) for rule in mapping.rules]
        self._merged: dict[tuple[int, ...], dict[str, Any]] = {(): self.message}
        group = mapping.group
        self.key = bind(group.by) if group else None
        self.key_column = group.by.placeholders[0].column if group else None
        self.item = bind_shape(group.item, bind) if group else {}
        flat = not any(isinstance(node, dict) for node in self.item.values())
        self.flat_item = tuple(self.item.items()) if flat else None
        self.item_where = f"{'.'.join(group.into)}[]." if group else ""
        self.item_columns = {  # item field -> the column it comes from, to name it in errors
            name: leaf.alternatives[0].placeholders[0].column
            for name, leaf in (group.item.items() if group else ())
            if isinstance(leaf, Leaf) and leaf.alternatives and leaf.alternatives[0].placeholders
        }

    def _shape_for(self, row: Row) -> dict[str, Any]:
        matched = tuple(i for i, (column, rule, _) in enumerate(self.rules) if rule_matches(rule, row[column]))
        shape = self._merged.get(matched)
        if shape is None:
            shape = self.message
            for i in matched:
                shape = merge_shapes(shape, self.rules[i][2])
            self._merged[matched] = shape
        return shape

    def message_for(self, row: Row, problems: list[Problem]) -> dict[str, Any]:
        message = _render(self._shape_for(row), row, problems, "")
        for key, render in self.identity:
            try:
                value = render(row)
            except CellError as error:
                problems.append((error.column, f"{error} (for {key})"))
                break
            if value is not MISSING:
                message[key] = value
                break
        return message

    def item_for(self, row: Row, problems: list[Problem]) -> dict[str, Any]:
        if self.flat_item is not None:
            return _render_flat(self.flat_item, row, problems, self.item_where)
        return _render(self.item, row, problems, self.item_where)


def place(message: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Put `value` at a dotted `path` of `message`, creating the objects on the way."""
    target = message
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def _render(bound: dict[str, Any], row: Row, problems: list[Problem], where: str) -> dict[str, Any]:
    out = {}
    for key, node in bound.items():
        if isinstance(node, dict):
            value = _render(node, row, problems, f"{where}{key}.")
            if not value:
                continue
        else:
            try:
                value = node(row)
            except CellError as error:
                problems.append((error.column, f"{error} (for {where}{key})"))
                continue
            if value is MISSING:
                continue
        out[key] = value
    return out


def _render_flat(leaves: tuple[tuple[str, Render], ...], row: Row, problems: list[Problem], where: str) -> dict:
    """`_render` for a shape without nesting (a group's items, rendered once per row: the hot path)."""
    out = {}
    for key, render in leaves:
        try:
            value = render(row)
        except CellError as error:
            problems.append((error.column, f"{error} (for {where}{key})"))
            continue
        if value is not MISSING:
            out[key] = value
    return out
