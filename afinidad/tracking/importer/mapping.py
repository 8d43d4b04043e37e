"""Mappings: how CSV rows become Segment messages. Parsed from TOML and checked once, before any row is read;
the ready ones ship in ``afinidad/tracking/mappings/``. The format is documented in the docstring of
`afinidad.tracking.importer`; the parts every mapping shares (``[source]``, templates, ``[[when]]``) are in
`afinidad.importing.mapping`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from afinidad.errors import MappingError
from afinidad.importing.mapping import (
    Leaf,
    Rule,
    Shape,
    Source,
    check_keys,
    leaf_paths,
    load_ready_or_file,
    overlaps,
    parse_description,
    parse_leaf,
    parse_rule,
    parse_shape,
    parse_source,
    parse_toml,
    ready_mappings,
    table_at,
    templates_in,
)
from afinidad.importing.templates import Template, parse_template


@dataclass(frozen=True)
class Group:
    by: Template
    window: int
    into: tuple[str, ...]
    item: Shape


@dataclass(frozen=True)
class Total:
    path: tuple[str, ...]
    factors: tuple[str, ...]
    expression: str


@dataclass(frozen=True)
class EventMapping:
    """How CSV rows become Segment messages (format: the docstring of `afinidad.tracking.importer`). Build
    with `load_mapping` or `parse_mapping`; it is checked when built, and again against the file's header
    when reading."""

    name: str
    message: Shape
    source: Source = field(default_factory=Source)
    identity: tuple[tuple[str, Leaf], ...] = ()
    rules: tuple[Rule, ...] = ()
    group: Group | None = None
    totals: tuple[Total, ...] = ()
    description: str = ""

    def shapes(self) -> list[Shape]:
        """Every shape of templates: the message, each rule's overrides, and a group's item."""
        return [self.message, *(rule.overrides for rule in self.rules), *([self.group.item] if self.group else [])]

    def columns(self) -> tuple[set[str], set[str]]:
        """(required, optional) column names the mapping reads."""
        templates = [template for shape in self.shapes() for template in templates_in(shape)]
        templates.extend(template for _, leaf in self.identity for template in leaf.alternatives)
        if self.group:
            templates.append(self.group.by)
        required = {rule.column for rule in self.rules}
        optional: set[str] = set()
        for template in templates:
            for placeholder in template.placeholders:
                (optional if placeholder.optional else required).add(placeholder.column)
        return required, optional - required


# ---------------------------------------------------------------------------------------------------------
# Parsing and checking

_TOP_KEYS = {"description", "source", "message", "identity", "when", "group", "totals"}
_GROUP_KEYS = {"by", "window", "into", "item"}
_SUM = re.compile(r"^\s*sum\(\s*(\w+(?:\s*\*\s*\w+)*)\s*\)\s*$")


def parse_mapping(text: str, name: str = "mapping") -> EventMapping:
    """Parse and check a mapping given as TOML text; `name` is used in error messages."""
    return parse_toml(text, name, _build_mapping)


def _build_mapping(data: dict[str, Any], name: str) -> EventMapping:
    check_keys(data, _TOP_KEYS, "mapping")
    description = parse_description(data)
    source = parse_source(table_at(data.get("source", {}), "[source]"))
    message = parse_shape(table_at(data.get("message"), "[message]"), "[message]")
    identity_table = table_at(data.get("identity", {}), "[identity]")
    identity = tuple((key, parse_leaf(value, f"[identity].{key}")) for key, value in identity_table.items())
    for key, _ in identity:
        if key not in ("userId", "anonymousId"):
            raise MappingError(f"[identity] holds userId and/or anonymousId, not {key!r}")
        if key in message:
            raise MappingError(f"{key} is in both [message] and [identity]; keep it in one")
    if "type" not in message:
        raise MappingError('[message] type is required (e.g. type = "track")')
    if not identity and not ({"userId", "anonymousId"} & set(message)):
        raise MappingError("no userId or anonymousId: set one in [message] or [identity]")
    when = data.get("when", [])
    if not isinstance(when, list):
        raise MappingError("when must be an array of tables: write [[when]]")
    rules = tuple(parse_rule(rule, index) for index, rule in enumerate(when))
    group = _parse_group(table_at(data["group"], "[group]")) if "group" in data else None
    totals = _parse_totals(table_at(data.get("totals", {}), "[totals]"), group)
    written = list(leaf_paths(message))
    for extra in ([group.into] if group else []) + [total.path for total in totals]:
        if overlaps(extra, written):
            raise MappingError(f"{'.'.join(extra)} is written twice (by [message] and [group]/[totals])")
        written.append(extra)
    mapping = EventMapping(name, message, source, identity, rules, group, totals, description)
    _refuse_decimals(mapping)
    return mapping


def _refuse_decimals(mapping: EventMapping) -> None:
    """Messages are JSON, which has no exact decimals: `|decimal` is for catalog prices, `|float` for events."""
    templates = [template for shape in mapping.shapes() for template in templates_in(shape)]
    templates.extend(template for _, leaf in mapping.identity for template in leaf.alternatives)
    for template in templates:
        for placeholder in template.placeholders:
            if any(name == "decimal" for name, _ in placeholder.conversions):
                raise MappingError(
                    f"{template.text!r}: |decimal is for catalog mappings; messages are JSON, use |float"
                )


def _parse_group(table: dict[str, Any]) -> Group:
    check_keys(table, _GROUP_KEYS, "[group]")
    by, window, into = table.get("by"), table.get("window", 0), table.get("into")
    if not isinstance(by, str):
        raise MappingError('[group] by is required: a template such as "{OrderId}"')
    by_template = parse_template(by, "[group] by")
    if not by_template.placeholders:
        raise MappingError(f'[group] by {by!r} references no column; write it as a template, e.g. "{{{by}}}"')
    if isinstance(window, bool) or not isinstance(window, int) or window < 0:
        raise MappingError("[group] window must be a whole number of rows, 0 or more")
    if not isinstance(into, str) or not all(into.split(".")):
        raise MappingError('[group] into is required: where the list goes, e.g. "properties.products"')
    item = table_at(table.get("item"), "[group.item]")
    if not item:
        raise MappingError("[group.item] must map at least one field")
    return Group(by_template, window, tuple(into.split(".")), parse_shape(item, "[group.item]"))


def _parse_totals(table: dict[str, Any], group: Group | None) -> tuple[Total, ...]:
    if table and group is None:
        raise MappingError("[totals] needs a [group]: totals are computed over a group's rows")
    totals = []
    for path in leaf_paths(table):
        where = f"[totals] {'.'.join(path)}"
        expression: Any = table
        for key in path:
            expression = expression[key]
        match = _SUM.match(expression) if isinstance(expression, str) else None
        if match is None:
            raise MappingError(f'{where}: expected "sum(field * field ...)", got {expression!r}')
        factors = tuple(name.strip() for name in match.group(1).split("*"))
        assert group is not None
        unknown = [name for name in factors if name not in group.item or isinstance(group.item[name], dict)]
        if unknown:
            raise MappingError(f"{where}: {', '.join(unknown)} not among the [group.item] fields")
        totals.append(Total(path, factors, expression.strip()))
    return tuple(totals)


# ---------------------------------------------------------------------------------------------------------
# Ready mappings (afinidad/tracking/mappings/*.toml) and users' files


def _mappings_folder() -> Any:
    return resources.files("afinidad.tracking").joinpath("mappings")


def available_mappings() -> dict[str, str]:
    """The ready mappings shipped with Afinidad: name -> description (for `--mapping` help)."""
    return {name: mapping.description for name, mapping in ready_mappings(_mappings_folder(), parse_mapping).items()}


def load_mapping(name_or_path: str) -> EventMapping:
    """A ready mapping by name (``online-retail``), or a user's file when the argument ends in ``.toml``
    or contains a path separator (``./my-shop.toml``)."""
    return load_ready_or_file(name_or_path, _mappings_folder(), parse_mapping)
