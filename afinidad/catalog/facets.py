"""Facets of a search, computed from the per-category and per-price-bucket counts the store returns: the
categories one level below the one chosen, and a few price ranges with "nice" bounds (1-2-5 steps), so the
same code serves a catalog priced in yen and one priced in euros."""

from __future__ import annotations

from collections import Counter

from afinidad.catalog.products import CATEGORY_SEPARATOR

# Bucket i holds prices in [EDGES[i-1], EDGES[i]); bucket 0 is below EDGES[0], the last is EDGES[-1] and up.
EDGES: tuple[int, ...] = tuple(step * 10**power for power in range(8) for step in (1, 2, 5))
MAX_PRICE_RANGES = 6
MAX_CATEGORIES = 30


def price_bucket_sql(column: str) -> str:
    """A SQL expression giving a price's bucket index (the same on SQLite and PostgreSQL)."""
    cases = " ".join(f"WHEN {column} < {edge} THEN {index}" for index, edge in enumerate(EDGES))
    return f"CASE {cases} ELSE {len(EDGES)} END"


def price_facet(buckets: list[tuple[int, int]], max_ranges: int = MAX_PRICE_RANGES) -> list[dict[str, object]]:
    """Merge the non-empty buckets into at most `max_ranges` ranges, joining the smallest neighbours first."""
    ranges = [[index, index, count] for index, count in sorted(buckets) if count]
    while len(ranges) > max_ranges:
        smallest = min(range(len(ranges) - 1), key=lambda i: ranges[i][2] + ranges[i + 1][2])
        left, right = ranges[smallest], ranges.pop(smallest + 1)
        left[1], left[2] = right[1], left[2] + right[2]
    return [
        {
            "from": EDGES[first - 1] if first > 0 else 0,
            "to": EDGES[last] if last < len(EDGES) else None,
            "count": count,
        }
        for first, last, count in ranges
    ]


def category_facet(
    counts: list[tuple[str, int]], selected: str | None, limit: int = MAX_CATEGORIES
) -> list[dict[str, object]]:
    """Counts of the categories one level below `selected` (the top level when nothing is selected)."""
    prefix = [part.strip() for part in (selected or "").split(">") if part.strip()]
    depth = len(prefix)
    totals: Counter[str] = Counter()
    for category, count in counts:
        path = [part for part in (category or "").split(CATEGORY_SEPARATOR) if part]
        if len(path) <= depth or path[:depth] != prefix:
            continue
        totals[CATEGORY_SEPARATOR.join(path[: depth + 1])] += count
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [{"value": value, "count": count} for value, count in ranked]
