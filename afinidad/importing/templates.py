"""The template language of mappings (``"guest-{InvoiceNo}"``, ``"{Quantity|int}"``, ``"{Tree|split(>)}"``):
parsed once when a mapping is read, then bound to a file's column positions so rendering a row is a few list
lookups."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from afinidad.errors import MappingError
from afinidad.importing.conversions import CONVERSIONS, Converters
from afinidad.importing.missing import MISSING

Row = Sequence[str]
Render = Callable[[Row], Any]


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
    conversions: tuple[tuple[str, str | None], ...]  # (name, argument or None), applied left to right


@dataclass(frozen=True)
class Template:
    """A parsed template: text and placeholders, bound to column positions once the header is known."""

    text: str
    parts: tuple[str | Placeholder, ...]

    @property
    def placeholders(self) -> list[Placeholder]:
        return [part for part in self.parts if isinstance(part, Placeholder)]

    def bind(self, index_of: Mapping[str, int], converters: Converters) -> Render:
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


def _as_text(step: Callable[[str], Any]) -> Callable[[Any], Any]:
    return lambda value: step(value if isinstance(value, str) else str(value))


def _bind_placeholder(placeholder: Placeholder, index_of: Mapping[str, int], converters: Converters) -> Render:
    index = index_of.get(placeholder.column)
    if index is None:  # an optional column the file does not have
        return lambda row: MISSING
    column = placeholder.column
    steps = [converters.get(name, argument) for name, argument in placeholder.conversions]
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
    # The first step gets the cell, which is text; a later text step gets an earlier step's int or list as text.
    chain = tuple(
        step if position == 0 or not CONVERSIONS[name].on_text else _as_text(step)
        for position, (step, (name, _)) in enumerate(zip(steps, placeholder.conversions, strict=True))
    )

    def render(row: Row) -> Any:
        value: Any = row[index]
        if not value:
            return MISSING
        try:
            for step in chain:
                value = step(value)
                if value is MISSING:
                    return MISSING
        except ValueError as error:
            raise CellError(column, str(error)) from None
        return value

    return render


_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_CONVERSION = re.compile(r"^(\w+)(?:\((.*)\))?$", re.DOTALL)


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
    column, *pieces = (piece.strip() for piece in inner.split("|"))
    optional = column.endswith("?")
    column = column.removesuffix("?").rstrip()
    if not column:
        raise MappingError(f"{where}: a placeholder in {text!r} names no column")
    return Placeholder(column, optional, tuple(_parse_conversion(piece, where, text) for piece in pieces))


def _parse_conversion(piece: str, where: str, text: str) -> tuple[str, str | None]:
    match = _CONVERSION.match(piece)
    name, argument = (match.group(1), match.group(2)) if match else (piece, None)
    conversion = CONVERSIONS.get(name)
    if conversion is None:
        raise MappingError(f"{where}: unknown conversion {name!r} in {text!r}; known: {', '.join(CONVERSIONS)}")
    if conversion.argument and not argument:
        raise MappingError(f"{where}: {name} needs an argument in parentheses, e.g. {name}(>), in {text!r}")
    if not conversion.argument and argument is not None:
        raise MappingError(f"{where}: {name} takes no argument, in {text!r}")
    return name, argument
