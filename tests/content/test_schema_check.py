"""The answer checker on its own: what a model's JSON is checked for, and the words it is told."""

from __future__ import annotations

import pytest

from afinidad.content.schema_check import (
    UnsupportedSchema,
    check_answer,
    correction_message,
    ensure_supported,
    schema_name,
    schema_problems,
    unsupported_keywords,
    with_schema_instruction,
)

POST = {
    "type": "object",
    "properties": {
        "caption": {"type": "string", "minLength": 1, "maxLength": 20},
        "hashtags": {"type": "array", "items": {"type": "string", "maxLength": 10}, "minItems": 1, "maxItems": 3},
        "network": {"type": "string", "enum": ["instagram", "tiktok"]},
        "slides": {"type": "integer"},
        "score": {"type": "number"},
        "boosted": {"type": "boolean"},
        "link": {"type": ["string", "null"]},
    },
    "required": ["caption", "hashtags", "network"],
    "additionalProperties": False,
}
GOOD = {"caption": "Otoño", "hashtags": ["#otono"], "network": "tiktok", "slides": 3, "score": 0.5, "link": None}


def test_a_conforming_value_has_no_problems() -> None:
    assert schema_problems(GOOD, POST) == []
    assert schema_problems(GOOD | {"slides": 3.0, "boosted": True, "link": "https://x.es"}, POST) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"caption": "x" * 21}, "$.caption: 21 characters, at most 20 allowed"),
        ({"caption": ""}, "$.caption: 0 characters, at least 1 needed"),
        ({"hashtags": []}, "$.hashtags: 0 items, at least 1 needed"),
        ({"hashtags": ["#a", "#b", "#c", "#d"]}, "$.hashtags: 4 items, at most 3 allowed"),
        ({"hashtags": ["#ok", 7]}, "$.hashtags[1]: expected string, got integer"),
        ({"hashtags": ["#muchotoolong"]}, "$.hashtags[0]: 13 characters, at most 10 allowed"),
        ({"network": "myspace"}, "$.network: 'myspace' is not one of ['instagram', 'tiktok']"),
        ({"slides": 2.5}, "$.slides: expected integer, got number"),
        ({"slides": True}, "$.slides: expected integer, got boolean"),
        ({"score": "high"}, "$.score: expected number, got string"),
        ({"boosted": 1}, "$.boosted: expected boolean, got integer"),
        ({"link": 3}, "$.link: expected string or null, got integer"),
        ({"colour": "red"}, "$.colour: not an allowed property"),
    ],
)
def test_each_kind_of_mistake_is_named_with_its_path(change: dict[str, object], problem: str) -> None:
    assert schema_problems(GOOD | change, POST) == [problem]


def test_missing_required_properties_and_a_wrong_root_type() -> None:
    assert schema_problems({"caption": "hi"}, POST) == [
        "$.hashtags: required but missing",
        "$.network: required but missing",
    ]
    assert schema_problems(["not", "an", "object"], POST) == ["$: expected object, got array"]


def test_an_answer_is_parsed_bare_or_from_the_first_json_fence() -> None:
    assert check_answer('  {"caption": "a", "hashtags": ["#a"], "network": "tiktok"}\n', POST)[1] is None
    fenced = 'Here it is:\n```json\n{"caption": "a", "hashtags": ["#a"], "network": "tiktok"}\n```\nEnjoy!'
    assert check_answer(fenced, POST) == ({"caption": "a", "hashtags": ["#a"], "network": "tiktok"}, None)
    assert check_answer('```\n{"caption": "a"}\n```', POST)[1] == (
        "$.hashtags: required but missing; $.network: required but missing"
    )
    assert check_answer("Sure! Caption: autumn", POST) == (None, "the reply is not valid JSON")
    assert check_answer("  ", POST) == (None, "the reply is empty")


def test_keywords_the_checker_would_skip_are_refused() -> None:
    schema = {
        "type": "object",
        "description": "annotations are fine",
        "properties": {
            "email": {"type": "string", "pattern": "@", "format": "email"},
            "items": {"type": "array", "items": {"anyOf": [{"type": "string"}]}},
            "extra": {"type": "object", "additionalProperties": {"type": "string"}},
            "when": {"type": "date"},
        },
    }
    assert unsupported_keywords(schema) == [
        "$.email: pattern",
        "$.email: format",
        "$.items[]: anyOf",
        "$.extra: additionalProperties (only true or false is supported)",
        "$.when: type 'date'",
    ]
    with pytest.raises(UnsupportedSchema, match="pattern"):
        ensure_supported(schema)
    ensure_supported(POST)  # everything POST uses is checked


def test_schema_name_fits_openais_pattern() -> None:
    assert schema_name({"title": "Ad copy: otoño/2025"}) == "Ad_copy__oto_o_2025"
    assert schema_name({"title": "x" * 80}) == "x" * 64
    assert schema_name({}) == "answer"


def test_the_instruction_joins_an_existing_system_message_or_becomes_one() -> None:
    brief = [{"role": "system", "content": "You write ads."}, {"role": "user", "content": "Go."}]
    joined = with_schema_instruction(brief, {"type": "object"})
    assert joined[0]["content"].startswith("You write ads.\n\nReply with only a JSON value")
    assert joined[0]["content"].endswith('{"type": "object"}') and joined[1:] == brief[1:]
    assert brief[0]["content"] == "You write ads."  # the caller's messages are left alone
    added = with_schema_instruction(brief[1:], {"type": "object"})
    assert added[0]["role"] == "system" and added[1:] == brief[1:]
    assert "$.caption: required" in correction_message("$.caption: required but missing", POST)
