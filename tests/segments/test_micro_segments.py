"""Learned micro-segments on UCI Online Retail (4,339 customers): the k silhouette chooses, each segment's size
and description (the figures docs/segments.md states), ids that survive a refit with another seed and a
refit one month later, plain-JSON persistence, a customer with no orders, and bad input. A small seeded shop
with categories and channels shows the descriptions those make."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import pytest

from afinidad.errors import InvalidInput
from afinidad.segments import (
    NO_PURCHASE_SEGMENT,
    CustomerFeatures,
    MicroSegments,
    OrderLines,
    SegmentsNotFitted,
    customer_features,
)

# The segments of the whole year, by id (largest first on a first fit): size and description.
ONLINE_RETAIL_SEGMENTS = {
    1: (1092, "Big spenders, frequent orders, ordered recently",
        "Grandes compradores, pedidos frecuentes, han comprado hace poco"),
    2: (1015, "Lapsed customers, long gaps between orders, mostly in the afternoon",
        "Clientes inactivos, mucho tiempo entre pedidos, sobre todo por la tarde"),
    3: (882, "Weekend buyers", "Compradores de fin de semana"),
    4: (737, "Occasional buyers, mostly in the morning, no recent order",
        "Compradores ocasionales, sobre todo por la mañana, sin pedidos recientes"),
    5: (613, "New customers, short gaps between orders, few orders",
        "Clientes nuevos, poco tiempo entre pedidos, pocos pedidos"),
}  # fmt: skip


def members(model: MicroSegments, segment_id: int) -> set[str]:
    return set(model.customer_ids_[model.labels_ == segment_id].tolist())


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b)


def test_online_retail_k_sizes_and_descriptions(retail_segments: MicroSegments) -> None:
    model = retail_segments
    assert sorted(model.silhouettes_) == list(range(3, 13))
    assert model.k_ == 5
    best = max(model.silhouettes_.values())
    assert model.silhouettes_[5] >= best * 0.99  # within the 1% tolerance of the best ...
    assert all(model.silhouettes_[k] < best * 0.99 for k in (3, 4))  # ... and the smallest k that is
    assert sum(model.sizes_) == 4_339
    sizes = dict(zip(model.segment_ids_, model.sizes_, strict=True))
    english, spanish = model.describe(), model.describe("es")
    for segment_id, (size, in_english, in_spanish) in ONLINE_RETAIL_SEGMENTS.items():
        assert sizes[segment_id] == pytest.approx(size, abs=20)
        assert english[segment_id] == in_english
        assert spanish[segment_id] == in_spanish


def test_segments_read_as_they_are_described(retail_segments: MicroSegments, retail_features: CustomerFeatures) -> None:
    """The words are checked against the members: what a marketer would look up after reading them."""
    spend, orders = retail_features.column("spend"), retail_features.column("orders")
    weekend, tenure = retail_features.column("weekend_share"), retail_features.column("tenure_days")
    labels = retail_segments.labels_
    assert np.median(spend[labels == 1]) > 2 * np.median(spend)
    assert np.median(orders[labels == 1]) > np.median(orders)
    assert weekend[labels == 3].mean() > 0.5 > weekend[labels != 3].mean()
    assert np.median(tenure[labels == 5]) < np.median(tenure) / 2


def test_descriptions_differ_and_do_not_change(retail_segments: MicroSegments) -> None:
    for language in ("en", "es"):
        texts = retail_segments.describe(language)
        assert len(set(texts.values())) == len(texts) == retail_segments.k_ + 1  # + "No purchase yet"
        assert retail_segments.describe(language) == texts


def test_another_seed_keeps_every_id(retail_features: CustomerFeatures, retail_segments: MicroSegments) -> None:
    stored = MicroSegments.from_dict(json.loads(json.dumps(retail_segments.to_dict())))  # as a service keeps it
    refit = MicroSegments(random_state=1).fit(retail_features, previous=stored)
    assert sorted(refit.segment_ids_) == sorted(retail_segments.segment_ids_)
    assert all(match.previous_id == match.segment_id for match in refit.matches_)
    for segment_id in refit.segment_ids_:  # and each id still holds the same customers
        assert jaccard(members(refit, segment_id), members(retail_segments, segment_id)) > 0.95
    assert refit.next_id_ == retail_segments.next_id_


def test_a_month_later_most_ids_persist(retail_lines: OrderLines, retail_features: CustomerFeatures) -> None:
    """Fitted on 2010-12-01..2011-11-09, refitted on 2011-01-01..2011-12-09 (the whole file's end)."""
    before = customer_features(retail_lines, as_of=np.datetime64("2011-11-09T23:59:59"))
    later_lines = retail_lines.subset(retail_lines.times >= np.datetime64("2011-01-01"))
    later = customer_features(later_lines)
    first = MicroSegments().fit(before)
    second = MicroSegments().fit(later, previous=first)
    kept = [match for match in second.matches_ if match.previous_id is not None]
    assert len(kept) >= 2 * first.k_ / 3
    assert all(match.previous_id == match.segment_id and match.distance <= match.limit for match in kept)
    new_ids = [match.segment_id for match in second.matches_ if match.previous_id is None]
    assert all(segment_id >= first.next_id_ for segment_id in new_ids)  # never a retired id


def test_plain_json_round_trip(retail_segments: MicroSegments, retail_features: CustomerFeatures) -> None:
    text = json.dumps(retail_segments.to_dict())  # no numpy types, no pickle
    restored = MicroSegments.from_dict(json.loads(text))
    assert (restored.predict(retail_features) == retail_segments.labels_).all()
    assert restored.describe() == retail_segments.describe()
    assert restored.describe("es") == retail_segments.describe("es")


def test_a_customer_without_orders_gets_the_no_purchase_segment(
    retail_lines: OrderLines, retail_segments: MicroSegments
) -> None:
    features = customer_features(retail_lines, customers=["12346", "new-signup"])  # 12346 did order
    segments = dict(zip(features.customer_ids.tolist(), retail_segments.predict(features).tolist(), strict=True))
    assert segments["new-signup"] == NO_PURCHASE_SEGMENT
    assert segments["12346"] in retail_segments.segment_ids_
    assert retail_segments.describe()[NO_PURCHASE_SEGMENT] == "No purchase yet"
    assert retail_segments.describe("es")[NO_PURCHASE_SEGMENT] == "Sin compras todavía"
    one = retail_lines.subset(retail_lines.customers == "12346")
    only_new = customer_features(one, as_of=features.as_of, customers=["x"])  # the same day: the same features
    assert retail_segments.predict(only_new).tolist() == [retail_segments.predict(features)[0], NO_PURCHASE_SEGMENT]


def seeded_shop(seed: int = 7) -> OrderLines:
    """Three kinds of customer, 60 each, all first seen in January: weekend mobile buyers of home decor with
    big baskets; weekday web buyers of toys, one or two items a time; frequent weekday buyers of stationery on
    the web. A quarter of the lines have no category."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1)  # a Monday
    records = []
    kinds = (  # kind, category, channel, weekdays, items per order, orders, unit prices
        ("decor", "home decor", "mobile", (5, 6), (8, 14), (1, 3), (10, 30)),
        ("toys", "toys", "web", (0, 1, 2, 3, 4), (1, 3), (1, 3), (4, 8)),
        ("paper", "stationery", "web", (0, 1, 2, 3, 4), (3, 6), (8, 14), (1, 3)),
    )
    for kind, category, channel, weekdays, items, order_counts, prices in kinds:
        for number in range(60):
            customer = f"{kind}-{number}"
            for order in range(rng.integers(*order_counts)):
                week = int(rng.integers(0, 4) if order == 0 else rng.integers(0, 50))  # all customers since January
                day = start + timedelta(weeks=week, days=int(rng.choice(weekdays)))
                when = day + timedelta(hours=int(rng.integers(9, 20)))
                for item in range(rng.integers(*items)):
                    records.append({
                        "customer": customer, "order": f"{customer}/{order}", "time": when.isoformat(),
                        "product": f"{category}-{item}", "category": None if item % 4 == 3 else category,
                        "quantity": int(rng.integers(1, 4)), "unit_price": float(rng.uniform(*prices)),
                        "channel": channel,
                    })  # fmt: skip
    return OrderLines.from_records(records)


def test_categories_and_channels_in_the_descriptions() -> None:
    features = customer_features(seeded_shop())
    model = MicroSegments(k_min=2, k_max=5).fit(features)
    assert model.k_ == 3
    english = model.describe()
    by_kind = {kind: english[int(model.labels_[model.customer_ids_ == f"{kind}-0"][0])]
               for kind in ("decor", "toys", "paper")}  # fmt: skip
    assert by_kind["decor"].startswith("Weekend buyers of home decor")
    assert "mostly mobile" in by_kind["decor"] or "large baskets" in by_kind["decor"]
    assert "toys" in by_kind["toys"]
    assert by_kind["paper"].startswith("Frequent buyers of stationery")
    spanish = model.describe("es", labels={"home decor": "decoración", "toys": "juguetes"})
    decor_id = int(model.labels_[model.customer_ids_ == "decor-0"][0])
    assert spanish[decor_id].startswith("Compradores de fin de semana de decoración")


def test_a_previous_model_with_other_features_still_matches() -> None:
    """A category that lost its column (no longer among the top ones) does not stop the ids from matching:
    centroids are compared on the features both models have."""
    lines = seeded_shop()
    with_categories = MicroSegments(k_min=3, k_max=3).fit(customer_features(lines))
    without = customer_features(lines, max_categories=1)  # only home decor keeps its column
    refit = MicroSegments(k_min=3, k_max=3).fit(without, previous=with_categories)
    assert sorted(refit.segment_ids_) == sorted(with_categories.segment_ids_)
    # To score later batches, features are built with the model's columns, whatever the batch's top ones are.
    assert with_categories.categories_ == ["home decor", "stationery", "toys"]
    aligned = customer_features(lines, max_categories=1, categories=with_categories.categories_)
    assert (with_categories.predict(aligned) == with_categories.labels_).all()


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"k_min": 1}, "k_min"),
        ({"k_min": 6, "k_max": 5}, "k_min"),
        ({"k_tolerance": 1.5}, "k_tolerance"),
        ({"silhouette_sample": 10}, "silhouette_sample"),
        ({"match_threshold": 0}, "match_threshold"),
        ({"clip": 0}, "clip"),
    ],
)
def test_bad_settings_name_the_field(settings: dict[str, float], field: str) -> None:
    features = customer_features(seeded_shop())
    with pytest.raises(InvalidInput) as raised:
        MicroSegments(**settings).fit(features)  # type: ignore[arg-type]
    assert field in [problem.field for problem in raised.value.problems]


def test_too_few_customers_and_unfitted_use() -> None:
    few = customer_features(seeded_shop().subset(np.char.startswith(seeded_shop().customers, "toys-1")))
    with pytest.raises(InvalidInput) as raised:
        MicroSegments().fit(few)
    assert raised.value.problems[0].field == "features"
    with pytest.raises(SegmentsNotFitted):
        MicroSegments().predict(few)
    with pytest.raises(InvalidInput) as raised:
        MicroSegments.from_dict({"format": 99})
    assert raised.value.problems[0].field == "format"
