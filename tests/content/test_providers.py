"""The provider client against a real HTTP server on a free port that speaks OpenAI's chat-completions wire
protocol, scripted per test: good answers, refused formats, bad JSON, 429s, 5xx, slow answers, 401s."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest

from afinidad.content.providers import (
    ChatClient,
    Completion,
    ProviderConfig,
    ProviderError,
    UsageLedger,
    retry_delay,
    server_wait,
)
from afinidad.content.schema_check import UnsupportedSchema
from tests.content.model_server import ModelServer, Reply, Seen, chat, error, in_order

KEY_ENV = "AFINIDAD_TEST_LLM_KEY"
KEY = "sk-test-7f3a9c1e5b2d4f60a8e1"
AD = {
    "title": "ad copy",
    "type": "object",
    "properties": {
        "headline": {"type": "string", "maxLength": 30},
        "tone": {"type": "string", "enum": ["warm", "bold"]},
    },
    "required": ["headline", "tone"],
    "additionalProperties": False,
}
GOOD_AD = {"headline": "Otoño en casa", "tone": "warm"}
BRIEF = [{"role": "system", "content": "You write ads."}, {"role": "user", "content": "An autumn ad."}]


@pytest.fixture
def server() -> Iterator[ModelServer]:
    model_server = ModelServer()
    yield model_server
    model_server.close()


@pytest.fixture
def waits() -> list[float]:
    return []


def client_for(server: ModelServer, waits: list[float] | None = None, **settings: Any) -> ChatClient:
    """A client whose waits are recorded (and really slept, so timing stays honest)."""
    ledger = settings.pop("ledger", None)
    config = ProviderConfig(base_url=server.url, model="test-model", **settings)

    def sleep(seconds: float) -> None:
        if waits is not None:
            waits.append(seconds)
        time.sleep(seconds)

    return ChatClient(config, ledger=ledger, sleep=sleep)


def ad_reply(content: Any, prompt: int = 20, completion: int = 10) -> Reply:
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    return chat(text, {"prompt_tokens": prompt, "completion_tokens": completion})


# -- structured output ------------------------------------------------------------------------------------------
def test_a_good_json_answer_is_parsed_checked_and_asked_for_with_a_strict_schema(server: ModelServer) -> None:
    server.script = in_order(ad_reply(GOOD_AD))
    with client_for(server) as client:
        answer = client.complete(BRIEF, json_schema=AD, temperature=0.2, max_tokens=200)

    assert answer.data == GOOD_AD
    assert json.loads(answer.text) == GOOD_AD
    assert (answer.attempts, answer.prompt_tokens, answer.completion_tokens) == (1, 20, 10)
    assert answer.model == "served-model" and answer.estimated is False and answer.cost is None
    [sent] = server.requests
    assert sent.body["model"] == "test-model"
    assert sent.body["messages"] == BRIEF
    assert (sent.body["temperature"], sent.body["max_tokens"]) == (0.2, 200)
    assert sent.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "ad_copy", "schema": AD, "strict": True},
    }


def test_an_answer_in_a_json_fence_is_accepted(server: ModelServer) -> None:
    server.script = in_order(ad_reply("Here you go:\n```json\n" + json.dumps(GOOD_AD) + "\n```"))
    with client_for(server) as client:
        assert client.complete(BRIEF, json_schema=AD).data == GOOD_AD
    assert len(server.requests) == 1


def test_a_server_refusing_json_schema_gets_json_object_and_the_schema_in_the_system_message(
    server: ModelServer, waits: list[float]
) -> None:
    def no_json_schema(seen: Seen) -> Reply:
        if seen.body.get("response_format", {}).get("type") == "json_schema":
            return error(400, "response_format type must be 'json_object' or 'text'")
        return ad_reply(GOOD_AD)

    server.script = no_json_schema
    with client_for(server, waits) as client:
        first = client.complete(BRIEF, json_schema=AD)
        second = client.complete(BRIEF, json_schema=AD)

    assert first.data == GOOD_AD and first.attempts == 2
    assert [r.body["response_format"]["type"] for r in server.requests] == ["json_schema", "json_object", "json_object"]
    system = server.requests[1].body["messages"][0]
    assert system["role"] == "system" and system["content"].startswith("You write ads.")
    assert "JSON Schema" in system["content"] and '"maxLength": 30' in system["content"]
    assert second.attempts == 1  # the client remembers what this server took for this schema
    assert waits == []  # a refused format is not a failure to back off from


def test_a_server_refusing_every_response_format_gets_only_the_instruction(server: ModelServer) -> None:
    def no_formats(seen: Seen) -> Reply:
        return error(400, "unsupported response_format") if "response_format" in seen.body else ad_reply(GOOD_AD)

    server.script = no_formats
    with client_for(server) as client:
        answer = client.complete([{"role": "user", "content": "An autumn ad."}], json_schema=AD)

    assert answer.data == GOOD_AD and answer.attempts == 3
    last = server.requests[-1].body
    assert "response_format" not in last
    assert last["messages"][0]["role"] == "system" and "JSON Schema" in last["messages"][0]["content"]
    assert last["messages"][1] == {"role": "user", "content": "An autumn ad."}


def test_an_old_llama_cpp_500_naming_response_format_steps_down_instead_of_retrying(
    server: ModelServer, waits: list[float]
) -> None:
    server.script = in_order(
        error(500, 'response_format type must be one of "text" or "json_object", but got: json_schema'),
        ad_reply(GOOD_AD),
    )
    with client_for(server, waits) as client:
        answer = client.complete(BRIEF, json_schema=AD)
    assert answer.data == GOOD_AD and answer.attempts == 2 and waits == []
    assert server.requests[1].body["response_format"] == {"type": "json_object"}


def test_invalid_json_is_sent_back_once_with_a_correction(server: ModelServer) -> None:
    server.script = in_order(ad_reply("Sure! Headline: Otoño en casa", 20, 8), ad_reply(GOOD_AD, 40, 10))
    with client_for(server) as client:
        answer = client.complete(BRIEF, json_schema=AD)

    assert answer.data == GOOD_AD and answer.attempts == 2
    assert (answer.prompt_tokens, answer.completion_tokens) == (60, 18)  # both requests were paid for
    retry = server.requests[1].body["messages"]
    assert retry[:2] == BRIEF
    assert retry[2] == {"role": "assistant", "content": "Sure! Headline: Otoño en casa"}
    assert retry[3]["role"] == "user"
    assert "could not be used: the reply is not valid JSON" in retry[3]["content"]


def test_two_unusable_answers_raise_invalid_output_and_are_still_counted(server: ModelServer) -> None:
    too_long = {"headline": "An autumn headline far longer than thirty characters", "tone": "warm"}
    server.script = in_order(ad_reply("{not json"), ad_reply(too_long))
    ledger = UsageLedger()
    with client_for(server, ledger=ledger) as client, pytest.raises(ProviderError) as raised:
        client.complete(BRIEF, json_schema=AD, workspace_id="ws-1")

    failure = raised.value
    assert failure.reason == "invalid_output" and failure.attempts == 2
    assert "after 2 attempts" in failure.detail
    assert "$.headline: 52 characters, at most 30 allowed" in failure.detail
    assert len(server.requests) == 2
    assert "the reply is not valid JSON" in server.requests[1].body["messages"][-1]["content"]
    assert ledger.totals("ws-1") == {"prompt_tokens": 40, "completion_tokens": 20, "cost": None, "calls": 1}


def test_a_schema_the_checker_cannot_check_is_refused_before_any_request(server: ModelServer) -> None:
    schema = {"type": "object", "properties": {"email": {"type": "string", "pattern": "@"}}}
    with client_for(server) as client, pytest.raises(UnsupportedSchema, match=r"\$\.email: pattern"):
        client.complete(BRIEF, json_schema=schema)
    assert server.requests == []


# -- retries and failures ----------------------------------------------------------------------------------------
def test_a_429_with_retry_after_is_waited_out_as_asked(server: ModelServer, waits: list[float]) -> None:
    server.script = in_order(error(429, "slow down", {"Retry-After": "0"}), ad_reply(GOOD_AD))
    started = time.monotonic()
    with client_for(server, waits, backoff_seconds=5.0) as client:  # our own backoff would wait 2.5-5 s
        answer = client.complete(BRIEF, json_schema=AD)
    assert answer.attempts == 2 and answer.data == GOOD_AD
    assert waits == [0.0]
    assert time.monotonic() - started < 1.0


def test_429_forever_gives_up_after_max_retries(server: ModelServer, waits: list[float]) -> None:
    server.script = in_order(error(429, "rate limit reached for requests"))
    with client_for(server, waits, max_retries=2, backoff_seconds=0.01) as client, pytest.raises(ProviderError) as e:
        client.complete(BRIEF)
    assert e.value.reason == "rate_limited" and e.value.attempts == 3 and e.value.status == 429
    assert "max_retries=2" in e.value.detail and "rate limit reached" in e.value.detail
    assert len(server.requests) == 3
    assert len(waits) == 2 and 0.005 <= waits[0] <= 0.01 and 0.01 <= waits[1] <= 0.02  # doubling, with jitter


def test_server_errors_are_retried_until_an_answer(server: ModelServer, waits: list[float]) -> None:
    server.script = in_order(
        error(503, "loading model"), error(500, "boom"), chat("ok", {"prompt_tokens": 3, "completion_tokens": 1})
    )
    with client_for(server, waits, backoff_seconds=0.01) as client:
        answer = client.complete(BRIEF)
    assert (answer.text, answer.data, answer.attempts, len(waits)) == ("ok", None, 3, 2)


def test_a_server_slower_than_the_timeout_fails_with_timeout(server: ModelServer) -> None:
    server.script = in_order(Reply(delay=5.0, body={}))
    started = time.monotonic()
    settings = {"timeout_seconds": 0.2, "max_retries": 1, "backoff_seconds": 0.01}
    with client_for(server, **settings) as client, pytest.raises(ProviderError) as raised:
        client.complete(BRIEF)
    assert raised.value.reason == "timeout" and raised.value.attempts == 2
    assert "no answer within 0.2s" in raised.value.detail
    assert 0.4 <= time.monotonic() - started < 1.0


def test_an_unreachable_server_is_a_connection_error(server: ModelServer) -> None:
    config = ProviderConfig(base_url=server.url, model="m", max_retries=1, backoff_seconds=0.0)
    server.close()
    with ChatClient(config) as client, pytest.raises(ProviderError) as raised:
        client.complete(BRIEF)
    assert raised.value.reason == "connection" and raised.value.attempts == 2


def test_a_bad_request_is_not_retried(server: ModelServer, waits: list[float]) -> None:
    server.script = in_order(error(404, "model 'test-model' not found, try pulling it first"))
    with client_for(server, waits) as client, pytest.raises(ProviderError) as raised:
        client.complete(BRIEF)
    assert raised.value.reason == "bad_request" and raised.value.status == 404 and raised.value.attempts == 1
    assert "not found, try pulling it first" in raised.value.detail
    assert len(server.requests) == 1 and waits == []


def test_a_malformed_success_is_a_server_error(server: ModelServer) -> None:
    server.script = in_order(Reply(body={"object": "chat.completion", "choices": []}))
    with client_for(server) as client, pytest.raises(ProviderError) as raised:
        client.complete(BRIEF)
    assert raised.value.reason == "server_error" and "without a chat completion" in raised.value.detail


# -- the key ------------------------------------------------------------------------------------------------------
def test_the_key_is_sent_as_a_bearer_token_read_from_the_environment(
    server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    with client_for(server, api_key_env=KEY_ENV) as client:
        client.complete(BRIEF)
        monkeypatch.setenv(KEY_ENV, KEY + "-rotated")
        client.complete(BRIEF)  # read at each call, so a rotated key is used without a restart
    with client_for(server) as keyless:  # local Ollama needs none
        keyless.complete(BRIEF)
    assert [r.headers.get("authorization") for r in server.requests] == [f"Bearer {KEY}", f"Bearer {KEY}-rotated", None]


def test_401_is_not_retried_and_the_key_appears_nowhere(
    server: ModelServer, waits: list[float], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    caplog.set_level(logging.DEBUG)
    server.script = in_order(error(401, f"Incorrect API key provided: {KEY}. Find your key at the dashboard."))
    with client_for(server, waits, api_key_env=KEY_ENV) as client, pytest.raises(ProviderError) as raised:
        client.complete(BRIEF, json_schema=AD)

    failure = raised.value
    assert failure.reason == "unauthorized" and failure.status == 401 and failure.attempts == 1
    assert len(server.requests) == 1 and waits == []
    assert "Incorrect API key provided: [REDACTED]" in failure.detail and KEY_ENV in failure.detail
    for text in (str(failure), repr(failure), failure.detail, caplog.text, repr(client.config), repr(client)):
        assert KEY not in text
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"  # it was sent, only never shown


def test_a_named_key_that_is_not_set_fails_before_any_request(
    server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with client_for(server, api_key_env=KEY_ENV) as client, pytest.raises(ProviderError) as raised:
        client.complete(BRIEF)
    assert raised.value.reason == "configuration" and KEY_ENV in raised.value.detail
    assert server.requests == []


# -- concurrency -------------------------------------------------------------------------------------------------
def test_no_more_than_max_concurrency_requests_are_in_flight(server: ModelServer) -> None:
    server.script = in_order(Reply(delay=0.1, body=chat("ok").body))
    with client_for(server, max_concurrency=2) as client, ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: client.complete(BRIEF), range(8)))
    assert [a.text for a in answers] == ["ok"] * 8
    assert server.max_in_flight == 2

    server.max_in_flight = 0  # the server itself can take more at once: the bound above was the client's
    with client_for(server, max_concurrency=8) as client, ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: client.complete(BRIEF), range(8)))
    assert server.max_in_flight > 2


# -- accounting ----------------------------------------------------------------------------------------------------
def test_usage_and_cost_are_totalled_per_workspace(server: ModelServer) -> None:
    server.script = in_order(chat("ok", {"prompt_tokens": 1000, "completion_tokens": 500}))
    ledger = UsageLedger()
    prices = {"price_per_1k_prompt_tokens": 0.5, "price_per_1k_completion_tokens": 1.5}
    with client_for(server, ledger=ledger, **prices) as client:
        answer = client.complete(BRIEF, workspace_id="ws-a")
        client.complete(BRIEF, workspace_id="ws-a")
        client.complete(BRIEF, workspace_id="ws-b")
        client.complete(BRIEF)  # no workspace: nothing recorded

    assert answer.cost == pytest.approx(0.5 + 0.75)
    assert ledger.totals("ws-a") == {"prompt_tokens": 2000, "completion_tokens": 1000, "cost": 2.5, "calls": 2}
    assert ledger.totals("ws-b")["calls"] == 1 and ledger.totals("ws-b")["cost"] == pytest.approx(1.25)
    assert ledger.totals("ws-never") == {"prompt_tokens": 0, "completion_tokens": 0, "cost": None, "calls": 0}


def test_missing_usage_is_estimated_from_characters(server: ModelServer) -> None:
    server.script = in_order(chat("abcdefghij"))  # no usage block, as some servers do
    with client_for(server, price_per_1k_completion_tokens=1.0) as client:
        answer = client.complete([{"role": "user", "content": "x" * 41}])
    assert answer.estimated is True
    assert (answer.prompt_tokens, answer.completion_tokens) == (11, 3)
    assert answer.cost == pytest.approx(3 / 1000)


def test_the_ledger_is_safe_under_threads() -> None:
    ledger = UsageLedger()
    one = Completion(text="", data=None, prompt_tokens=2, completion_tokens=1, cost=0.001, model="m", attempts=1)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: ledger.record("ws", one), range(4000)))
    totals = ledger.totals("ws")
    assert (totals["prompt_tokens"], totals["completion_tokens"], totals["calls"]) == (8000, 4000, 4000)
    assert totals["cost"] == pytest.approx(4.0)


# -- waiting -------------------------------------------------------------------------------------------------------
def test_retry_delay_doubles_with_jitter_and_honours_retry_after_up_to_the_cap() -> None:
    config = ProviderConfig(base_url="http://x/v1", model="m", backoff_seconds=0.5, max_backoff_seconds=20)
    assert [retry_delay(n, config, None, jitter=1.0) for n in (1, 2, 3, 7)] == [0.5, 1.0, 2.0, 20.0]
    assert retry_delay(3, config, None, jitter=0.0) == 1.0  # never less than half
    assert retry_delay(1, config, 7.0) == 7.0
    assert retry_delay(1, config, 600.0) == 20.0
    assert retry_delay(1, config, -3.0) == 0.0


def test_server_wait_reads_seconds_milliseconds_and_dates() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert server_wait({"retry-after": "3"}) == 3.0
    assert server_wait({"retry-after-ms": "250", "retry-after": "1"}) == 0.25
    in_ten = format_datetime(datetime(2025, 1, 1, 12, 0, 10, tzinfo=UTC), usegmt=True)
    assert server_wait({"retry-after": in_ten}, now=now) == 10.0
    assert server_wait({"retry-after": "soon"}) is None
    assert server_wait({}) is None
