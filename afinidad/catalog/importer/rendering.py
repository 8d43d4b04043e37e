"""A product mapping bound to one file's header: renders a row to its product id and a flat record of fields
(a path per field), or says a rule skips it, collecting what is wrong instead of raising."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from afinidad.catalog.importer.mapping import FieldPath, ProductMapping
from afinidad.importing.binding import bind_leaf, header_binder, rule_matches
from afinidad.importing.mapping import flatten
from afinidad.importing.missing import MISSING
from afinidad.importing.results import Problem
from afinidad.importing.templates import CellError, Render, Row

Record = dict[FieldPath, Any]
Fields = tuple[tuple[FieldPath, Render], ...]


class ProductRenderer:
    """Renders rows of one file. The fields a row renders depend on which rules match it; each combination
    of matching rules is worked out once and kept, as files have few of them."""

    def __init__(self, mapping: ProductMapping, header: Sequence[str], path: Path) -> None:
        required, optional = mapping.columns()
        index_of, bind = header_binder(header, required, optional, mapping.source, path, mapping.name)
        self.id = bind_leaf(mapping.id, bind)
        id_columns = [p.column for t in mapping.id.alternatives for p in t.placeholders]
        self.id_column = id_columns[0] if id_columns else None
        self._rules = [
            (
                index_of[rule.column],
                rule,
                {path: bind_leaf(leaf, bind) for path, leaf in flatten(rule.overrides).items()},
            )
            for rule in mapping.rules
        ]
        self._base = {path: bind_leaf(leaf, bind) for path, leaf in mapping.fields.items()}
        self._fields: dict[tuple[int, ...], Fields | None] = {(): tuple(self._base.items())}

    def _fields_for(self, row: Row) -> Fields | None:
        matched = tuple(i for i, (column, rule, _) in enumerate(self._rules) if rule_matches(rule, row[column]))
        if matched in self._fields:
            return self._fields[matched]
        fields: Fields | None = None
        if not any(self._rules[i][1].skip for i in matched):
            merged = dict(self._base)
            for i in matched:  # later rules win; an override replaces whatever it overlaps
                for path, render in self._rules[i][2].items():
                    for other in [p for p in merged if p[: len(path)] == path or path[: len(p)] == p]:
                        del merged[other]
                    merged[path] = render
            fields = tuple(merged.items())
        self._fields[matched] = fields
        return fields

    def render(self, row: Row, problems: list[Problem]) -> tuple[str, Record] | None:
        """(product id, its fields) for `row`, or None when a rule skips the row. What is wrong with the row
        is added to `problems`; the caller rejects the row when there is any."""
        fields = self._fields_for(row)
        if fields is None:
            return None
        product_id: Any = MISSING
        try:
            product_id = self.id(row)
        except CellError as error:
            problems.append((error.column, f"{error} (for id)"))
        else:
            if product_id is MISSING:
                problems.append((self.id_column, f"{self.id_column} is empty: cannot tell which product this is"))
            elif isinstance(product_id, bool) or not isinstance(product_id, str | int):
                problems.append((self.id_column, f"the id must be text, not {type(product_id).__name__}"))
        record: Record = {}
        for path, render in fields:
            try:
                value = render(row)
            except CellError as error:
                problems.append((error.column, f"{error} (for {'.'.join(path)})"))
                continue
            if value is not MISSING:
                record[path] = value
        return str(product_id).strip(), record
