"""Product mappings: how CSV rows become products. Parsed from TOML and checked once, before any row is read;
the ready ones ship in ``afinidad/catalog/mappings/``. The format is documented in the docstring of
`afinidad.catalog.importer`."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Literal

from afinidad.catalog.products import ProductIn
from afinidad.errors import MappingError
from afinidad.importing.mapping import (
    Leaf,
    Rule,
    Source,
    check_keys,
    flatten,
    leaf_paths,
    load_ready_or_file,
    parse_description,
    parse_rule,
    parse_shape,
    parse_source,
    parse_toml,
    ready_mappings,
    table_at,
)
from afinidad.importing.templates import Template

FieldPath = tuple[str, ...]  # a field's place in the product: ("title",), ("attributes", "rating")
Policy = Literal["last", "first", "most_common"]

PRODUCT_FIELDS = tuple(ProductIn.model_fields)
POLICIES: tuple[Policy, ...] = ("last", "first", "most_common")
_OBJECT_FIELDS = ("attributes", "stock")  # the fields whose value is an object: dotted keys go inside them
_REQUIRED = tuple(name for name, info in ProductIn.model_fields.items() if info.is_required())


@dataclass(frozen=True)
class ProductMapping:
    """How CSV rows become products (format: the docstring of `afinidad.catalog.importer`). Build with
    `load_mapping` or `parse_mapping`; it is checked when built, and again against the file's header when
    reading. `fields` and each rule's overrides are flat: a path per leaf."""

    name: str
    id: Leaf
    fields: dict[FieldPath, Leaf]
    source: Source = field(default_factory=Source)
    rules: tuple[Rule, ...] = ()
    merge: dict[FieldPath, Policy] = field(default_factory=dict)
    drop_title_from_category: bool = False
    description: str = ""

    def templates(self) -> list[Template]:
        leaves = [self.id, *self.fields.values()]
        for rule in self.rules:
            leaves.extend(flatten(rule.overrides).values())
        return [template for leaf in leaves for template in leaf.alternatives]

    def columns(self) -> tuple[set[str], set[str]]:
        """(required, optional) column names the mapping reads."""
        required = {rule.column for rule in self.rules}
        optional: set[str] = set()
        for template in self.templates():
            for placeholder in template.placeholders:
                (optional if placeholder.optional else required).add(placeholder.column)
        return required, optional - required

    def columns_of(self, name: str) -> list[str]:
        """The columns a product field is read from (to say which were empty when it is missing)."""
        return sorted(
            {
                placeholder.column
                for path, leaf in self.fields.items()
                if path[0] == name
                for template in leaf.alternatives
                for placeholder in template.placeholders
            }
        )

    def policy(self, path: FieldPath) -> Policy:
        """How rows of one product combine at `path`: the ``[merge]`` entry for the path or the nearest
        field that holds it (``attributes`` covers ``attributes.rating``), else ``last``."""
        for length in range(len(path), 0, -1):
            chosen = self.merge.get(path[:length])
            if chosen is not None:
                return chosen
        return "last"


_TOP_KEYS = {"description", "source", "product", "when", "merge", "drop_title_from_category"}


def parse_mapping(text: str, name: str = "mapping") -> ProductMapping:
    """Parse and check a product mapping given as TOML text; `name` is used in error messages."""
    return parse_toml(text, name, _build_mapping)


def _build_mapping(data: dict[str, Any], name: str) -> ProductMapping:
    check_keys(data, _TOP_KEYS, "mapping")
    description = parse_description(data)
    source = parse_source(table_at(data.get("source", {}), "[source]"))
    if "product" not in data:
        raise MappingError('[product] is required: at least id, title, price and currency (e.g. id = "{sku}")')
    fields = flatten(parse_shape(table_at(data["product"], "[product]"), "[product]"))
    _check_fields(fields, "[product]")
    identity = fields.pop(("id",), None)
    if identity is None:
        raise MappingError('[product] id is required: a template such as "{sku}"')
    absent = [name for name in _REQUIRED if not any(path[0] == name for path in fields)]
    if absent:
        raise MappingError(
            f'[product] needs {", ".join(absent)}: every product has them (a constant will do, e.g. currency = "EUR")'
        )
    when = data.get("when", [])
    if not isinstance(when, list):
        raise MappingError("when must be an array of tables: write [[when]]")
    rules = tuple(parse_rule(rule, index, can_skip=True) for index, rule in enumerate(when))
    for index, rule in enumerate(rules):
        overridden = flatten(rule.overrides)
        _check_fields(overridden, f"[[when]] #{index + 1} set")
        if ("id",) in overridden:
            raise MappingError(f"[[when]] #{index + 1}: set cannot change the id")
    merge = _parse_merge(table_at(data.get("merge", {}), "[merge]"))
    drop_title = data.get("drop_title_from_category", False)
    if not isinstance(drop_title, bool):
        raise MappingError("drop_title_from_category must be true or false")
    return ProductMapping(name, identity, fields, source, rules, merge, drop_title, description)


def _check_fields(fields: dict[FieldPath, Any], where: str) -> None:
    for path in fields:
        dotted, top = ".".join(path), path[0]
        if top != "id" and top not in PRODUCT_FIELDS:
            raise MappingError(f"{where}: unknown field {top!r}; product fields: id, {', '.join(PRODUCT_FIELDS)}")
        if len(path) > 1 and top not in _OBJECT_FIELDS:
            raise MappingError(
                f"{where}: {dotted}: {top} is not an object; only {' and '.join(_OBJECT_FIELDS)} take dotted keys"
            )


def _parse_merge(table: dict[str, Any]) -> dict[FieldPath, Policy]:
    merge: dict[FieldPath, Policy] = {}
    for path in leaf_paths(table):
        node: Any = table
        for key in path:
            node = node[key]
        dotted = ".".join(path)
        if path[0] not in PRODUCT_FIELDS or (len(path) > 1 and path[0] not in _OBJECT_FIELDS):
            raise MappingError(f"[merge] {dotted}: not a product field (the id is what rows are merged by)")
        if node not in POLICIES:
            raise MappingError(f"[merge] {dotted} = {node!r}: choose one of {', '.join(POLICIES)}")
        merge[path] = node
    return merge


# ---------------------------------------------------------------------------------------------------------
# Ready mappings (afinidad/catalog/mappings/*.toml) and users' files


def _mappings_folder() -> Traversable:
    return resources.files("afinidad.catalog").joinpath("mappings")


def available_mappings() -> dict[str, str]:
    """The ready product mappings shipped with Afinidad: name -> description (for `--mapping` help)."""
    return {name: mapping.description for name, mapping in ready_mappings(_mappings_folder(), parse_mapping).items()}


def load_mapping(name_or_path: str) -> ProductMapping:
    """A ready mapping by name (``flipkart``), or a user's file when the argument ends in ``.toml`` or
    contains a path separator (``./my-shop.toml``)."""
    return load_ready_or_file(name_or_path, _mappings_folder(), parse_mapping)
