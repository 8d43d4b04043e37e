"""Structured answers: a small JSON Schema checker for the subset we ask models to fill in, and the words
that tell a model the schema or what was wrong with its last answer.

Why our own: a model's answer must be checked whether or not the server enforced the schema (several
OpenAI-compatible servers accept `response_format` and ignore it), and the subset a structured-output schema
uses is small enough that a page of code beats a new dependency. A schema that uses anything outside the
subset is refused up front (`unsupported_keywords`), so nothing passes unchecked by accident."""

from __future__ import annotations

import json
import re
from typing import Any

from afinidad.errors import AfinidadError

# Keywords that only describe; they never make a value invalid.
_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "$schema", "$id", "$comment"})
_CHECKED = frozenset(
    {"type", "properties", "required", "additionalProperties", "items", "enum"}
    | {"maxLength", "minLength", "minItems", "maxItems"}
)
_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    # JSON has one number type: 3.0 is an integer (JSON Schema draft 6 onwards).
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
}


class UnsupportedSchema(AfinidadError):
    """A schema uses keywords this checker does not implement, so answers could not be fully checked."""

    title = "Unsupported schema"


def unsupported_keywords(schema: dict[str, Any], path: str = "$") -> list[str]:
    """Every keyword in `schema` (and its sub-schemas) that the checker would silently skip, as `path: keyword`."""
    found = [f"{path}: {key}" for key in schema if key not in _CHECKED | _ANNOTATIONS]
    for name, sub in schema.get("properties", {}).items():
        found += unsupported_keywords(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        found += unsupported_keywords(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        found.append(f"{path}: additionalProperties (only true or false is supported)")
    for name in schema.get("type", []) if isinstance(schema.get("type"), list) else [schema.get("type")]:
        if name is not None and name not in _TYPES:
            found.append(f"{path}: type {name!r}")
    return found


def ensure_supported(schema: dict[str, Any]) -> None:
    unsupported = unsupported_keywords(schema)
    if unsupported:
        detail = "the schema uses keywords the answer checker does not support: " + "; ".join(unsupported)
        raise UnsupportedSchema(detail)


def schema_problems(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """What is wrong with `value` against `schema`, one readable line each (empty when it conforms).

    Stops descending into a value whose type is already wrong, so one mistake gives one line."""
    expected = schema.get("type")
    if expected is not None:
        names = expected if isinstance(expected, list) else [expected]
        if not any(_TYPES[name](value) for name in names):
            return [f"{path}: expected {' or '.join(names)}, got {_json_type(value)}"]
    problems: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} is not one of {schema['enum']!r}")
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(f"{path}: {len(value)} characters, at most {schema['maxLength']} allowed")
        if "minLength" in schema and len(value) < schema["minLength"]:
            problems.append(f"{path}: {len(value)} characters, at least {schema['minLength']} needed")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            problems.append(f"{path}: {len(value)} items, at least {schema['minItems']} needed")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(f"{path}: {len(value)} items, at most {schema['maxItems']} allowed")
        if isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                problems += schema_problems(item, schema["items"], f"{path}[{index}]")
    if isinstance(value, dict):
        properties: dict[str, Any] = schema.get("properties", {})
        problems += [f"{path}.{name}: required but missing" for name in schema.get("required", []) if name not in value]
        for name, item in value.items():
            if name in properties:
                problems += schema_problems(item, properties[name], f"{path}.{name}")
            elif schema.get("additionalProperties") is False:
                problems.append(f"{path}.{name}: not an allowed property")
    return problems


def _json_type(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _TYPES[name](value):
            return name
    return type(value).__name__


_FENCE = re.compile(r"```(?:json)?[ \t]*\n?(.*?)```", re.DOTALL | re.IGNORECASE)


def check_answer(text: str, schema: dict[str, Any]) -> tuple[Any, str | None]:
    """The JSON value in a model's answer and what is wrong with it (None when it is usable).

    Models asked for bare JSON still wrap it in a ```json fence often enough that refusing it would waste a
    call, so the first fenced block is accepted when the whole text does not parse."""
    candidates = [text.strip()] + [match.group(1).strip() for match in _FENCE.finditer(text)][:1]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        problems = schema_problems(value, schema)
        return value, ("; ".join(problems) if problems else None)
    return None, "the reply is not valid JSON" if text.strip() else "the reply is empty"


def schema_name(schema: dict[str, Any]) -> str:
    """OpenAI wants ^[a-zA-Z0-9_-]{1,64}$; the schema's title when it has one."""
    name = "".join(c if (c.isascii() and c.isalnum()) or c in "_-" else "_" for c in str(schema.get("title", "")))[:64]
    return name or "answer"


def with_schema_instruction(conversation: list[dict[str, Any]], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The conversation with the schema spelled out in its system message, for servers that cannot enforce it."""
    instruction = "Reply with only a JSON value matching this JSON Schema, with no other text:\n" + json.dumps(
        schema, ensure_ascii=False
    )
    if conversation and conversation[0].get("role") == "system":
        first = conversation[0]
        return [{**first, "content": f"{first.get('content') or ''}\n\n{instruction}"}, *conversation[1:]]
    return [{"role": "system", "content": instruction}, *conversation]


def correction_message(problem: str, schema: dict[str, Any]) -> str:
    return (
        f"Your previous reply could not be used: {problem}. Reply again with only the corrected JSON value, "
        f"matching this JSON Schema exactly, and no other text:\n{json.dumps(schema, ensure_ascii=False)}"
    )
