"""The template language of mappings (``"guest-{InvoiceNo}"``, ``"{Quantity|int}"``): parsed once when a
mapping is read, then bound to a file's column positions so rendering a row is a few list lookups."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from afinidad.errors import MappingError
from afinidad.tracking.importer.conversions import CONVERSIONS

Row = Sequence[str]
Render = Callable[[Row], Any]


class _Missing:
    """What a template renders to when a cell it needs is empty: the field is then left out."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING = _Missing()


class CellError(Exception):
    """A cell a conversion refused; rendering turns it into a problem of the row, naming the column."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(f"{column}: {message}")
        self.column = column
        self.message = message


@dataclass(frozen=True)
class Placeholder:
    column: str
    optional: bool
    conversions: tuple[str, ...]


@dataclass(frozen=True)
class Template:
    """A parsed template: text and placeholders, bound to column positions once the header is known."""

    text: str
    parts: tuple[str | Placeholder, ...]

    @property
    def placeholders(self) -> list[Placeholder]:
        return [part for part in self.parts if isinstance(part, Placeholder)]

    def bind(self, index_of: Mapping[str, int], converters: Mapping[str, Callable[[str], Any]]) -> Render:
        if not self.parts:
            return lambda row: MISSING
        if len(self.parts) == 1:
            only = self.parts[0]
            if isinstance(only, str):
                return lambda row: only
            return _bind_placeholder(only, index_of, converters)
        pieces: list[tuple[str, Render | None]] = [
            (part, None) if isinstance(part, str) else ("", _bind_placeholder(part, index_of, converters))
            for part in self.parts
        ]

        def render_text(row: Row) -> Any:
            out = []
            for literal, placeholder in pieces:
                if placeholder is None:
                    out.append(literal)
                    continue
                value = placeholder(row)
                if value is MISSING:
                    return MISSING
                out.append(value if isinstance(value, str) else str(value))
            return "".join(out)

        return render_text


def _bind_placeholder(
    placeholder: Placeholder, index_of: Mapping[str, int], converters: Mapping[str, Callable[[str], Any]]
) -> Render:
    index = index_of.get(placeholder.column)
    if index is None:  # an optional column the file does not have
        return lambda row: MISSING
    column = placeholder.column
    steps = tuple(converters[name] for name in placeholder.conversions)
    if not steps:
        return lambda row: row[index] or MISSING
    if len(steps) == 1:  # the usual case ("{Quantity|int}"), once per cell: no loop, cells are already text
        (only_step,) = steps

        def render_one(row: Row) -> Any:
            value = row[index]
            if not value:
                return MISSING
            try:
                return only_step(value)
            except ValueError as error:
                raise CellError(column, str(error)) from None

        return render_one

    def render(row: Row) -> Any:
        value: Any = row[index]
        if not value:
            return MISSING
        try:
            for step in steps:
                value = step(value if isinstance(value, str) else str(value))
        except ValueError as error:
            raise CellError(column, str(error)) from None
        return value

    return render


_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def parse_template(text: str, where: str) -> Template:
    """Parse `text`; `where` (``"[message].userId"``) starts the error message if the text is no template."""
    parts: list[str | Placeholder] = []
    literal: list[str] = []
    position = 0
    for match in _TOKEN.finditer(text):
        literal.append(text[position : match.start()])
        position = match.end()
        token = match.group(0)
        if token == "{{":
            literal.append("{")
        elif token == "}}":
            literal.append("}")
        elif match.group(1) is None:
            raise MappingError(f"{where}: unbalanced {token!r} in {text!r} (write {{{{ or }}}} for a brace)")
        else:
            if "".join(literal):
                parts.append("".join(literal))
            literal = []
            parts.append(_parse_placeholder(match.group(1), where, text))
    literal.append(text[position:])
    if "".join(literal):
        parts.append("".join(literal))
    return Template(text, tuple(parts))


def _parse_placeholder(inner: str, where: str, text: str) -> Placeholder:
    column, *conversions = (piece.strip() for piece in inner.split("|"))
    optional = column.endswith("?")
    column = column.removesuffix("?").rstrip()
    if not column:
        raise MappingError(f"{where}: a placeholder in {text!r} names no column")
    for name in conversions:
        if name not in CONVERSIONS:
            raise MappingError(f"{where}: unknown conversion {name!r} in {text!r}; known: {', '.join(CONVERSIONS)}")
    return Placeholder(column, optional, tuple(conversions))
