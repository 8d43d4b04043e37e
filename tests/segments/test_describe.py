"""Descriptions from distinguishing features, on hand-made segment profiles: the threshold, the share rule,
how the sentence is put together, both languages, and descriptions kept distinct."""

from __future__ import annotations

import numpy as np
import pytest

from afinidad.errors import InvalidInput
from afinidad.segments import NO_PURCHASE_SEGMENT, describe_segments, distinguishing_features

NAMES = ["orders", "basket_items", "unit_price", "weekend_share", "category_share:home decor", "channel_share:mobile",
         "basket_value"]  # fmt: skip


def describe(z: list[list[float]], means: list[list[float]], language: str = "en", **kwargs: object) -> list[str]:
    texts = describe_segments(list(range(1, len(z) + 1)), NAMES, np.array(z), np.array(means), language, **kwargs)
    assert texts[NO_PURCHASE_SEGMENT] == {"en": "No purchase yet", "es": "Sin compras todavía"}[language]
    return [texts[i] for i in range(1, len(z) + 1)]


def test_the_examples_of_the_issue() -> None:
    z = [
        [0.1, 0.2, 0.0, 2.0, 1.5, 1.0, 0.8],  # weekend, home decor, mobile, high basket value
        [1.8, -1.2, -0.9, 0.0, 0.0, 0.0, -0.3],  # frequent, small baskets, cheap items
    ]
    means = [[2, 10, 3.0, 0.7, 0.6, 0.8, 90.0], [12, 3, 1.0, 0.1, 0.1, 0.3, 20.0]]
    assert describe(z, means, max_phrases=4) == [
        "Weekend buyers of home decor, mostly mobile, high basket value",
        "Frequent buyers of small baskets, low spend per item",
    ]
    assert describe(z, means, "es", max_phrases=4, labels={"home decor": "decoración", "mobile": "móvil"}) == [
        "Compradores de fin de semana de decoración, sobre todo móvil, cestas de alto valor",
        "Compradores frecuentes de cestas pequeñas, gasto bajo por artículo",
    ]


def test_only_features_half_a_standard_deviation_away_are_named() -> None:
    assert describe([[0.49, -0.49, 0, 0, 0, 0, 0]], [[1, 1, 1, 0, 0, 0, 1]]) == ["Typical customers"]
    assert describe([[0.5, 0, 0, 0, 0, 0, 0]], [[1, 1, 1, 0, 0, 0, 1]]) == ["Frequent buyers"]
    assert describe([[0, 0, 0, 0, 0, 0, -0.7]], [[1, 1, 1, 0, 0, 0, 1]], "es") == ["Cestas de poco valor"]


def test_a_share_is_named_only_when_it_is_high_and_large() -> None:
    # Far above the others, but only 15% of the segment's spend: not "buyers of home decor".
    assert describe([[0, 0, 0, 0, 3.0, 0, 0]], [[1, 1, 1, 0, 0.15, 0, 1]]) == ["Typical customers"]
    # Low shares are never named.
    assert describe([[0, 0, 0, -2.0, 0, -2.0, 0]], [[1, 1, 1, 0, 0, 0, 1]]) == ["Typical customers"]
    assert describe([[0, 0, 0, 0, 0, 1.0, 0]], [[1, 1, 1, 0, 0, 0.3, 1]]) == ["Often mobile"]
    found = distinguishing_features(NAMES, np.array([0.6, 0, 0, 0, 0.9, 0, -0.6]), np.array([1, 1, 1, 0, 0.5, 0, 1]))
    assert found == [("category_share:home decor", "high", 0.9), ("basket_value", "low", -0.6), ("orders", "high", 0.6)]


def test_colliding_descriptions_are_lengthened() -> None:
    z = [[1.0, 0, 0, 0, 0, 0, 0.6], [1.0, 0, 0, 0, 0, 0, -0.6]]
    means = [[9, 1, 1, 0, 0, 0, 1], [9, 1, 1, 0, 0, 0, 1]]
    assert describe(z, means, max_phrases=1) == [
        "Frequent buyers, high basket value",
        "Frequent buyers, low basket value",
    ]
    same = [[1.0, 0, 0, 0, 0, 0, 0], [1.0, 0, 0, 0, 0, 0, 0]]
    assert describe(same, means) == ["Frequent buyers (segment 1)", "Frequent buyers (segment 2)"]
    assert describe(same, means, "es") == ["Compradores frecuentes (segmento 1)", "Compradores frecuentes (segmento 2)"]


def test_unknown_language() -> None:
    with pytest.raises(InvalidInput) as raised:
        describe([[0] * 7], [[0] * 7], "fr")
    assert raised.value.problems[0].field == "language"
