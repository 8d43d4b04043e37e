"""Explanations say, for one customer, what raises or lowers its forecast, strongest first, in numbers a
person can check against its history."""

from __future__ import annotations

import pytest

from afinidad.predict import BetaGeometricNbd, ParetoNbd, explain_purchases


def test_a_frequent_recent_buyer(sample_bgnbd: BetaGeometricNbd) -> None:
    explanation = explain_purchases(sample_bgnbd, frequency=7, recency=28, T=30, horizon=39)
    assert explanation.expected_purchases == pytest.approx(float(sample_bgnbd.expected_purchases(39, 7, 28, 30)))
    assert explanation.expected_purchases > 4 * explanation.new_customer_expected_purchases
    history, silence, age = explanation.factors
    assert (history.name, history.value, history.effect) == ("repeat_purchases", 7, "raises")
    assert history.multiplier == pytest.approx(explanation.purchase_rate / explanation.typical_purchase_rate)
    assert history.text.startswith("7 repeat purchases in 30 weeks: about 0.21 a week")
    assert (silence.name, silence.value, silence.effect) == ("time_since_last_purchase", 2, "lowers")
    assert silence.text == "last purchase 2 weeks ago: 87% likely still a customer"
    assert (age.name, age.text) == ("customer_age", "customer for 30 weeks")


def test_a_frequent_buyer_gone_quiet_is_explained_by_the_silence_first(sample_pareto: ParetoNbd) -> None:
    explanation = explain_purchases(sample_pareto, frequency=7, recency=15, T=38.86, horizon=39)
    assert explanation.factors[0].name == "time_since_last_purchase"
    assert explanation.factors[0].effect == "lowers" and explanation.probability_alive < 0.1
    assert explanation.text.startswith("last purchase 24 weeks ago: 6% likely still a customer; 7 repeat purchases")


def test_customers_with_no_repeat_purchase_or_no_orders(sample_bgnbd: BetaGeometricNbd) -> None:
    quiet = explain_purchases(sample_bgnbd, frequency=0, recency=0, T=38.86, horizon=39)
    assert quiet.factors[0].name == "repeat_purchases" and quiet.factors[0].effect == "lowers"
    assert quiet.factors[0].text.startswith("no repeat purchase in 39 weeks")
    new = explain_purchases(sample_bgnbd, frequency=0, recency=0, T=0, horizon=39)
    assert new.expected_purchases == pytest.approx(new.new_customer_expected_purchases)
    assert [factor.effect for factor in new.factors] == ["neutral", "neutral", "neutral"]
    assert new.text == (
        "no purchase history yet: forecast as a typical new customer; no time to drop out yet: 100% likely still "
        "a customer; new customer"
    )


def test_days_as_the_unit(sample_bgnbd: BetaGeometricNbd) -> None:
    explanation = explain_purchases(sample_bgnbd, frequency=1, recency=1, T=1, horizon=30, unit="days")
    assert explanation.factors[-1].text == "customer for 1 day"
    assert "a day while a customer" in explanation.text
