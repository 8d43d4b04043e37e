"""The parts every mapping shares, parsed from TOML and checked once, before any row is read: ``[source]``,
shapes of templates, ``[[when]]`` rules, and finding a ready mapping by name or a user's file by path."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from afinidad.errors import MappingError
from afinidad.importing.missing import MISSING
from afinidad.importing.templates import Template, parse_template


@dataclass(frozen=True)
class Leaf:
    """A leaf of a shape: fallback templates, or a constant."""

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
    empty_values: tuple[str, ...] = ()  # cells written like this are read as empty ("N/A", "No rating available")


@dataclass(frozen=True)
class Rule:
    """A ``[[when]]``: tests on one column's cell, and what to do on the rows that pass them."""

    column: str
    equals: str | None
    starts_with: str | None
    empty: bool | None
    overrides: Shape
    matches: re.Pattern[str] | None = None
    skip: bool = False


def check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise MappingError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def table_at(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MappingError(f"{where} must be a table")
    return value


def parse_leaf(value: Any, where: str) -> Leaf:
    if isinstance(value, str):
        return Leaf((parse_template(value, where),))
    if isinstance(value, list):
        if not value or not all(isinstance(item, str) for item in value):
            raise MappingError(f"{where}: a list is a fallback and must hold template strings")
        return Leaf(tuple(parse_template(item, f"{where}[{i}]") for i, item in enumerate(value)))
    if isinstance(value, bool | int | float):
        return Leaf((), constant=value)
    raise MappingError(f"{where}: {value!r} is not a template, a list of templates, a number or a boolean")


def parse_shape(table: Mapping[str, Any], where: str) -> Shape:
    return {
        key: parse_shape(value, f"{where}.{key}") if isinstance(value, dict) else parse_leaf(value, f"{where}.{key}")
        for key, value in table.items()
    }


def leaf_paths(shape: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, node in shape.items():
        if isinstance(node, dict):
            yield from leaf_paths(node, (*prefix, key))
        else:
            yield (*prefix, key)


def flatten(shape: Mapping[str, Any]) -> dict[tuple[str, ...], Any]:
    """{("attributes", "rating"): leaf, ...} for a nested shape (or any nested table)."""
    flat = {}
    for path in leaf_paths(shape):
        node: Any = shape
        for key in path:
            node = node[key]
        flat[path] = node
    return flat


def templates_in(shape: Shape) -> Iterator[Template]:
    for node in shape.values():
        if isinstance(node, dict):
            yield from templates_in(node)
        else:
            yield from node.alternatives


def overlaps(path: tuple[str, ...], paths: Iterable[tuple[str, ...]]) -> bool:
    """True when one path is the other or lies inside it (both would write the same place)."""
    return any(other[: len(path)] == path or path[: len(other)] == other for other in paths)


_SOURCE_KEYS = {"delimiter", "encoding", "strip", "timezone", "datetime_format", "empty_values"}


def parse_source(table: dict[str, Any]) -> Source:
    check_keys(table, _SOURCE_KEYS, "[source]")
    empty_values = table.get("empty_values", [])
    if not isinstance(empty_values, list) or not all(isinstance(value, str) for value in empty_values):
        raise MappingError('[source] empty_values must be a list of strings, e.g. ["N/A", "-"]')
    source = Source(**{**table, "empty_values": tuple(empty_values)})
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


_RULE_TESTS = ("equals", "starts_with", "empty", "matches")


def parse_rule(table: Any, index: int, *, can_skip: bool = False) -> Rule:
    """A ``[[when]]`` table. `can_skip`: the mapping allows ``skip = true`` (drop the row) as well as ``set``."""
    where = f"[[when]] #{index + 1}"
    table = table_at(table, where)
    check_keys(table, {"column", *_RULE_TESTS, "set", *(("skip",) if can_skip else ())}, where)
    column, overrides, skip = table.get("column"), table.get("set"), table.get("skip", False)
    if not isinstance(column, str) or not column:
        raise MappingError(f"{where}: `column` (a column name) is required")
    tests = {key: table[key] for key in _RULE_TESTS if key in table}
    if not tests:
        raise MappingError(f"{where}: give at least one of {', '.join(_RULE_TESTS)}")
    for key in ("equals", "starts_with", "matches"):
        if key in tests and not isinstance(tests[key], str):
            raise MappingError(f"{where}: {key} must be a string")
    if "empty" in tests and not isinstance(tests["empty"], bool):
        raise MappingError(f"{where}: empty must be true or false")
    pattern = None
    if "matches" in tests:
        try:
            pattern = re.compile(tests["matches"])
        except re.error as error:
            raise MappingError(f"{where}: matches {tests['matches']!r} is not a regular expression ({error})") from None
    if skip is not False:
        if skip is not True:
            raise MappingError(f"{where}: skip must be true (or left out)")
        if overrides is not None:
            raise MappingError(f"{where}: give either skip (drop the row) or set (change fields), not both")
        overrides = {}
    elif not isinstance(overrides, dict) or not overrides:
        need = "`set` (fields to override) or `skip = true`" if can_skip else "`set` (fields to override)"
        raise MappingError(f"{where}: {need} is required")
    return Rule(
        column,
        tests.get("equals"),
        tests.get("starts_with"),
        tests.get("empty"),
        parse_shape(overrides, where),
        pattern,
        skip,
    )


def parse_description(data: Mapping[str, Any]) -> str:
    description = data.get("description", "")
    if not isinstance(description, str):
        raise MappingError("description must be a string")
    return description


# ---------------------------------------------------------------------------------------------------------
# Ready mappings (a package's mappings/*.toml) and users' files

MappingT = TypeVar("MappingT")
_MAPPING_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def parse_toml(text: str, name: str, build: Callable[[dict[str, Any], str], MappingT]) -> MappingT:
    """Read a mapping's TOML and build it with `build`, every error prefixed with the mapping's `name`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise MappingError(f"{name}: not valid TOML ({error})") from None
    try:
        return build(data, name)
    except MappingError as error:
        raise MappingError(f"{name}: {error.detail}") from None


def ready_mappings(folder: Traversable, parse: Callable[[str, str], MappingT]) -> dict[str, MappingT]:
    """Every ``*.toml`` in `folder`, parsed, by name (file name without ``.toml``), sorted."""
    found = {
        entry.name.removesuffix(".toml"): parse(entry.read_text("utf-8"), entry.name)
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    }
    return dict(sorted(found.items()))


def load_ready_or_file(name_or_path: str, folder: Traversable, parse: Callable[[str, str], MappingT]) -> MappingT:
    """A ready mapping by name (``online-retail``), or a user's file when the argument ends in ``.toml``
    or contains a path separator (``./my-shop.toml``)."""
    if name_or_path.endswith(".toml") or "/" in name_or_path or "\\" in name_or_path:
        path = Path(name_or_path)
        try:
            text = path.read_text("utf-8")
        except OSError as error:
            raise MappingError(f"cannot read mapping file {path}: {error.strerror or error}") from None
        return parse(text, str(path))
    resource = folder.joinpath(f"{name_or_path}.toml")
    if not _MAPPING_NAME.match(name_or_path) or not resource.is_file():
        ready = ", ".join(sorted(e.name.removesuffix(".toml") for e in folder.iterdir() if e.name.endswith(".toml")))
        raise MappingError(f"no ready mapping {name_or_path!r} (ready: {ready}); or give a path to a .toml file")
    return parse(resource.read_text("utf-8"), name_or_path)
