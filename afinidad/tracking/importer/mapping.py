"""Mappings: how CSV rows become Segment messages. Parsed from TOML and checked once, before any row is read;
the ready ones ship in ``afinidad/tracking/mappings/``. The format is documented in the docstring of
`afinidad.tracking.importer`."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from afinidad.errors import MappingError
from afinidad.tracking.importer.templates import MISSING, Template, parse_template


@dataclass(frozen=True)
class Leaf:
    """A leaf of the message shape: fallback templates, or a constant."""

    alternatives: tuple[Template, ...]
    constant: Any = MISSING


Shape = dict[str, Any]  # nested dicts whose leaves are Leaf


@dataclass(frozen=True)
class Source:
    delimiter: str = ","
    encoding: str = "utf-8"
    strip: bool = True
    timezone: str = "UTC"
    datetime_format: str | None = None


@dataclass(frozen=True)
class Rule:
    column: str
    equals: str | None
    starts_with: str | None
    empty: bool | None
    overrides: Shape


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

    def columns(self) -> tuple[set[str], set[str]]:
        """(required, optional) column names the mapping reads."""
        templates: list[Template] = []
        for shape in (self.message, *(rule.overrides for rule in self.rules)):
            templates.extend(_templates_in(shape))
        templates.extend(template for _, leaf in self.identity for template in leaf.alternatives)
        if self.group:
            templates.append(self.group.by)
            templates.extend(_templates_in(self.group.item))
        required = {rule.column for rule in self.rules}
        optional: set[str] = set()
        for template in templates:
            for placeholder in template.placeholders:
                (optional if placeholder.optional else required).add(placeholder.column)
        return required, optional - required


def _templates_in(shape: Shape) -> Iterator[Template]:
    for node in shape.values():
        if isinstance(node, dict):
            yield from _templates_in(node)
        else:
            yield from node.alternatives


# ---------------------------------------------------------------------------------------------------------
# Parsing and checking

_TOP_KEYS = {"description", "source", "message", "identity", "when", "group", "totals"}
_SOURCE_KEYS = {"delimiter", "encoding", "strip", "timezone", "datetime_format"}
_RULE_KEYS = {"column", "equals", "starts_with", "empty", "set"}
_GROUP_KEYS = {"by", "window", "into", "item"}
_SUM = re.compile(r"^\s*sum\(\s*(\w+(?:\s*\*\s*\w+)*)\s*\)\s*$")


def parse_mapping(text: str, name: str = "mapping") -> EventMapping:
    """Parse and check a mapping given as TOML text; `name` is used in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise MappingError(f"{name}: not valid TOML ({error})") from None
    try:
        return _build_mapping(data, name)
    except MappingError as error:
        raise MappingError(f"{name}: {error.detail}") from None


def _build_mapping(data: dict[str, Any], name: str) -> EventMapping:
    _check_keys(data, _TOP_KEYS, "mapping")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise MappingError("description must be a string")
    source = _parse_source(_table(data.get("source", {}), "[source]"))
    message = _parse_shape(_table(data.get("message"), "[message]"), "[message]")
    identity_table = _table(data.get("identity", {}), "[identity]")
    identity = tuple((key, _parse_leaf(value, f"[identity].{key}")) for key, value in identity_table.items())
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
    rules = tuple(_parse_rule(rule, index) for index, rule in enumerate(when))
    group = _parse_group(_table(data["group"], "[group]")) if "group" in data else None
    totals = _parse_totals(_table(data.get("totals", {}), "[totals]"), group)
    written = list(_leaf_paths(message))
    for extra in ([group.into] if group else []) + [total.path for total in totals]:
        if _overlaps(extra, written):
            raise MappingError(f"{'.'.join(extra)} is written twice (by [message] and [group]/[totals])")
        written.append(extra)
    return EventMapping(name, message, source, identity, rules, group, totals, description)


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise MappingError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MappingError(f"{where} must be a table")
    return value


def _parse_leaf(value: Any, where: str) -> Leaf:
    if isinstance(value, str):
        return Leaf((parse_template(value, where),))
    if isinstance(value, list):
        if not value or not all(isinstance(item, str) for item in value):
            raise MappingError(f"{where}: a list is a fallback and must hold template strings")
        return Leaf(tuple(parse_template(item, f"{where}[{i}]") for i, item in enumerate(value)))
    if isinstance(value, bool | int | float):
        return Leaf((), constant=value)
    raise MappingError(f"{where}: {value!r} is not a template, a list of templates, a number or a boolean")


def _parse_shape(table: Mapping[str, Any], where: str) -> Shape:
    return {
        key: _parse_shape(value, f"{where}.{key}") if isinstance(value, dict) else _parse_leaf(value, f"{where}.{key}")
        for key, value in table.items()
    }


def _leaf_paths(shape: Shape, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, node in shape.items():
        if isinstance(node, dict):
            yield from _leaf_paths(node, (*prefix, key))
        else:
            yield (*prefix, key)


def _overlaps(path: tuple[str, ...], paths: Iterable[tuple[str, ...]]) -> bool:
    """True when one path is the other or lies inside it (both would write the same place)."""
    return any(other[: len(path)] == path or path[: len(other)] == other for other in paths)


def _parse_source(table: dict[str, Any]) -> Source:
    _check_keys(table, _SOURCE_KEYS, "[source]")
    source = Source(**table)
    for key in ("delimiter", "encoding", "timezone"):
        if not isinstance(getattr(source, key), str):
            raise MappingError(f"[source] {key} must be a string")
    if len(source.delimiter) != 1:
        raise MappingError("[source] delimiter must be one character")
    if not isinstance(source.strip, bool):
        raise MappingError("[source] strip must be true or false")
    if source.datetime_format is not None and not isinstance(source.datetime_format, str):
        raise MappingError("[source] datetime_format must be a strptime format string")
    try:
        ZoneInfo(source.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise MappingError(f"[source] timezone {source.timezone!r} is not a known IANA zone") from None
    try:
        "".encode(source.encoding)
    except LookupError:
        raise MappingError(f"[source] encoding {source.encoding!r} is unknown") from None
    return source


def _parse_rule(table: Any, index: int) -> Rule:
    where = f"[[when]] #{index + 1}"
    table = _table(table, where)
    _check_keys(table, _RULE_KEYS, where)
    column, overrides = table.get("column"), table.get("set")
    if not isinstance(column, str) or not column:
        raise MappingError(f"{where}: `column` (a column name) is required")
    tests = {key: table[key] for key in ("equals", "starts_with", "empty") if key in table}
    if not tests:
        raise MappingError(f"{where}: give at least one of equals, starts_with, empty")
    for key in ("equals", "starts_with"):
        if key in tests and not isinstance(tests[key], str):
            raise MappingError(f"{where}: {key} must be a string")
    if "empty" in tests and not isinstance(tests["empty"], bool):
        raise MappingError(f"{where}: empty must be true or false")
    if not isinstance(overrides, dict) or not overrides:
        raise MappingError(f"{where}: `set` (fields to override) is required")
    return Rule(
        column,
        tests.get("equals"),
        tests.get("starts_with"),
        tests.get("empty"),
        _parse_shape(overrides, where),
    )


def _parse_group(table: dict[str, Any]) -> Group:
    _check_keys(table, _GROUP_KEYS, "[group]")
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
    item = _table(table.get("item"), "[group.item]")
    if not item:
        raise MappingError("[group.item] must map at least one field")
    return Group(by_template, window, tuple(into.split(".")), _parse_shape(item, "[group.item]"))


def _parse_totals(table: dict[str, Any], group: Group | None) -> tuple[Total, ...]:
    if table and group is None:
        raise MappingError("[totals] needs a [group]: totals are computed over a group's rows")
    totals = []
    for path in _leaf_paths(table):
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
    found = {}
    for entry in _mappings_folder().iterdir():
        if entry.name.endswith(".toml"):
            mapping = parse_mapping(entry.read_text("utf-8"), entry.name)
            found[entry.name.removesuffix(".toml")] = mapping.description
    return dict(sorted(found.items()))


_MAPPING_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def load_mapping(name_or_path: str) -> EventMapping:
    """A ready mapping by name (``online-retail``), or a user's file when the argument ends in ``.toml``
    or contains a path separator (``./my-shop.toml``)."""
    if name_or_path.endswith(".toml") or "/" in name_or_path or "\\" in name_or_path:
        path = Path(name_or_path)
        try:
            text = path.read_text("utf-8")
        except OSError as error:
            raise MappingError(f"cannot read mapping file {path}: {error.strerror or error}") from None
        return parse_mapping(text, str(path))
    resource = _mappings_folder().joinpath(f"{name_or_path}.toml")
    if not _MAPPING_NAME.match(name_or_path) or not resource.is_file():
        ready = ", ".join(available_mappings())
        raise MappingError(f"no ready mapping {name_or_path!r} (ready: {ready}); or give a path to a .toml file")
    return parse_mapping(resource.read_text("utf-8"), name_or_path)
