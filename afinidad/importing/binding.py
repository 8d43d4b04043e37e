"""A mapping meets a file: its columns are found in the header once, and its shapes become functions of a row,
so rendering a row is a few list lookups."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from afinidad.errors import MappingError
from afinidad.importing.conversions import Converters
from afinidad.importing.mapping import Leaf, Rule, Shape, Source
from afinidad.importing.missing import MISSING
from afinidad.importing.templates import Render, Row, Template


def header_binder(
    header: Sequence[str], required: set[str], optional: set[str], source: Source, path: Path, mapping_name: str
) -> tuple[dict[str, int], Callable[[Template], Render]]:
    """(column -> position, a function binding a template to this header). Refuses a header that lacks a
    column the mapping needs, or has one it reads twice, before any row is read."""
    index_of: dict[str, int] = {}
    for position, column in enumerate(header):
        index_of.setdefault(column, position)
    absent = sorted(required - set(index_of))
    if absent:
        raise MappingError(
            f"{path.name}: mapping {mapping_name!r} reads column(s) {', '.join(absent)} that the header "
            f"lacks (header: {', '.join(header)})"
        )
    doubled = sorted(c for c in (required | optional) if header.count(c) > 1)
    if doubled:
        raise MappingError(f"{path.name}: column(s) {', '.join(doubled)} appear twice in the header")
    converters = Converters(source.datetime_format, source.timezone)
    return index_of, lambda template: template.bind(index_of, converters)


def rule_matches(rule: Rule, cell: str) -> bool:
    """All of the rule's tests hold for the cell (``matches`` must match the whole cell)."""
    if rule.empty is not None and (not cell) != rule.empty:
        return False
    if rule.equals is not None and cell != rule.equals:
        return False
    if rule.starts_with is not None and not cell.startswith(rule.starts_with):
        return False
    return rule.matches is None or rule.matches.fullmatch(cell) is not None


def bind_shape(shape: Shape, bind: Callable[[Template], Render]) -> dict[str, Any]:
    return {
        key: bind_shape(node, bind) if isinstance(node, dict) else bind_leaf(node, bind) for key, node in shape.items()
    }


def bind_leaf(leaf: Leaf, bind: Callable[[Template], Render]) -> Render:
    if not leaf.alternatives:
        constant = leaf.constant
        return lambda row: constant
    alternatives = [bind(template) for template in leaf.alternatives]
    if len(alternatives) == 1:
        return alternatives[0]

    def first_present(row: Row) -> Any:
        for alternative in alternatives:
            value = alternative(row)
            if value is not MISSING:
                return value
        return MISSING

    return first_present


def merge_shapes(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` laid over `base`, table by table (a rule's ``set`` over the mapping's shape)."""
    merged = dict(base)
    for key, node in override.items():
        if isinstance(node, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_shapes(merged[key], node)
        else:
            merged[key] = node
    return merged
