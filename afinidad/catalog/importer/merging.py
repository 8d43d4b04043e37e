"""Rows with the same product id become one product. Exports often repeat a product on many rows (one per
sale in Online Retail, one per colour in others); each field is combined by its ``[merge]`` policy:

- ``last`` (default): the last row that gives the field wins, so an update further down a file wins;
- ``first``: the first row that gives it wins;
- ``most_common``: the value most rows give (ties: the one seen last), for files where a price or a name
  drifts over time and the usual one is the truth.

A row that does not give a field (an empty cell) never erases it: merging takes values, not gaps. Memory: one
entry per product, holding its line numbers (4 bytes each) and its fields (for ``most_common``, one count per
distinct value): the whole catalog, as a product's last row may be the file's last."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Hashable, Iterator
from typing import Any

from afinidad.catalog.importer.mapping import FieldPath, Policy

Record = dict[FieldPath, Any]


class _Product:
    __slots__ = ("lines", "tallies", "values")

    def __init__(self) -> None:
        self.lines = array("I")
        self.values: dict[FieldPath, Any] = {}
        self.tallies: dict[FieldPath, dict[Hashable, list[Any]]] = {}  # value key -> [count, last seen, value]


def _hashable(value: Any) -> Hashable:
    """A key for counting values that may be lists or objects (a category path, attributes)."""
    if isinstance(value, list):
        return ("list", tuple(_hashable(item) for item in value))
    if isinstance(value, dict):
        return ("object", tuple(sorted((str(key), _hashable(item)) for key, item in value.items())))
    return value


class ProductMerger:
    """Collects records (a product id and its flat fields, one per row) and yields one product per id, in the
    order ids first appeared."""

    def __init__(self, policy: Callable[[FieldPath], Policy]) -> None:
        self._policy_of = policy
        self._policies: dict[FieldPath, Policy] = {}
        self._products: dict[str, _Product] = {}
        self._seen = 0

    def __len__(self) -> int:
        return len(self._products)

    def add(self, product_id: str, line: int, record: Record) -> None:
        product = self._products.get(product_id)
        if product is None:
            product = self._products[product_id] = _Product()
        product.lines.append(line)
        self._seen += 1
        for path, value in record.items():
            policy = self._policies.get(path)
            if policy is None:
                policy = self._policies[path] = self._policy_of(path)
            if policy == "last":
                product.values[path] = value
            elif policy == "first":
                product.values.setdefault(path, value)
            else:
                tally = product.tallies.setdefault(path, {})
                key = _hashable(value)
                seen = tally.get(key)
                if seen is None:
                    tally[key] = [1, self._seen, value]
                else:
                    seen[0] += 1
                    seen[1] = self._seen

    def products(self) -> Iterator[tuple[str, array, dict[str, Any]]]:
        """(id, its lines, its fields as the nested object a `ProductIn` is made from), releasing each product
        as it goes."""
        for product_id in list(self._products):
            product = self._products.pop(product_id)
            flat = dict(product.values)
            for path, tally in product.tallies.items():
                flat[path] = max(tally.values(), key=lambda seen: (seen[0], seen[1]))[2]
            yield product_id, product.lines, _nested(flat)


def _nested(flat: Record) -> dict[str, Any]:
    """{("attributes", "rating"): 4} -> {"attributes": {"rating": 4}}; shorter paths first, so a whole object
    given by one row and a key of it given by another combine."""
    out: dict[str, Any] = {}
    for path, value in sorted(flat.items(), key=lambda item: len(item[0])):
        target = out
        for key in path[:-1]:
            node = target.get(key)
            target[key] = node = dict(node) if isinstance(node, dict) else {}
            target = node
        target[path[-1]] = value
    return out
