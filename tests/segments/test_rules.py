"""The rule language: text and JSON spell the same tree, and every mistake says where and why."""

from __future__ import annotations

import pytest

from afinidad.errors import InvalidInput
from afinidad.segments import rules
from afinidad.segments.evaluate import Facts, aggregate_key, select

SPELLINGS = [
    'count("Order Completed" in 90d) >= 2 and trait.country = "ES"',
    'count("Product Viewed" where category = "Shoes" in 7d) >= 1 or (not consent.email and score.churn > 0.5)',
    'sum("Order Completed".revenue in 365d) > 100.5 and trait.plan in ["gold", "silver"] and segment "vip"',
    "trait.email exists and not (trait.age < 18 or trait.blocked = true)",
    'max("Order Completed".revenue) >= 50',
]


@pytest.mark.parametrize("text", SPELLINGS)
def test_text_and_json_are_one_tree(text: str) -> None:
    rule = rules.parse(text)
    assert rules.parse(rules.to_text(rule)) == rule
    assert rules.from_json(rules.to_json(rule)) == rule
    assert rules.to_text(rule) == text


@pytest.mark.parametrize(
    ("text", "column", "reason"),
    [
        ('count("Order Completed" in 90d) >= "two"', 36, "expected a number"),
        ('trait.age > "old"', 11, "> compares numbers"),
        ("foo.bar = 1", 1, "unknown field 'foo'"),
        ("consent.telepathy", 1, "unknown consent purpose"),
        ('count("X" in 0d) > 1', 14, "the window must be 1 to"),
        ("trait.a = 1 and", 16, "expected a condition"),
        ('sum("Order Completed" in 3d) > 1', 1, "needs a property"),
        ("trait.a = 1 trait.b = 2", 13, "after a complete rule"),
        ('trait.a = "x', 11, "unexpected"),
    ],
)
def test_text_mistakes_name_their_column(text: str, column: int, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        rules.parse(text)
    [problem] = refused.value.problems
    assert problem.field == "rule" and problem.reason.startswith(f"column {column}: ") and reason in problem.reason


def test_json_mistakes_name_their_path_all_at_once() -> None:
    with pytest.raises(InvalidInput) as refused:
        rules.from_json({"all": [{"trait": "age", "op": "gt", "value": "x"},
                                 {"event": "A", "op": "gte", "value": 1, "foo": 2},
                                 {"wat": 1}, {"score": "churn", "op": "gt", "value": True},
                                 {"event": "A", "within_days": 4000, "op": "gte", "value": 1}]})  # fmt: skip
    found = {(p.field, p.reason.split(";")[0]) for p in refused.value.problems}
    assert found == {
        ("rule.all[0].value", "must be a number to compare with >"),
        ("rule.all[1].foo", "unknown field"),
        ("rule.all[2]", "unknown condition ['wat']"),
        ("rule.all[3].value", "must be a number"),
        ("rule.all[4].within_days", "must be a whole number of days, 1 to 3650"),
    }


def test_selection_is_set_algebra_over_facts() -> None:
    orders = rules.parse('count("Order Completed" in 90d) >= 2')
    spend = rules.parse('sum("Order Completed".revenue in 90d) > 100')
    facts = Facts(profiles={"a", "b", "c", "d"},
                  traits={"a": {"country": "es"}, "b": {"country": "ES", "age": 40}, "c": {"country": 7}},
                  aggregates={aggregate_key(orders): {"a": 3, "b": 1},
                              aggregate_key(spend): {"a": 120.0, "c": 500.0}},
                  consent={"email": {"b", "d"}}, scores={"churn": {"a": 0.9, "d": 0.1}},
                  members={"seg_x": {"d"}})  # fmt: skip
    assert select(rules.parse('trait.country = "ES"'), facts) == {"a", "b"}  # case-blind; 7 is not "ES"
    assert select(rules.parse("trait.age >= 18"), facts) == {"b"}
    assert select(rules.parse('trait.country != "ES"'), facts) == {"c", "d"}  # d has no country at all
    assert select(orders, facts) == {"a"}
    assert select(rules.parse('count("Order Completed" in 90d) < 2'), facts) == {"b", "c", "d"}  # none counts 0
    assert select(rules.parse(f"{rules.to_text(orders)} or {rules.to_text(spend)}"), facts) == {"a", "c"}
    assert select(rules.parse("not consent.email"), facts) == {"a", "c"}
    assert select(rules.parse("score.churn > 0.5"), facts) == {"a"}
    assert select(rules.parse('segment "vip"'), facts, {"vip": "seg_x"}) == {"d"}
    assert rules.references(rules.parse('segment "vip" and segment "x"')) == {"vip", "x"}
