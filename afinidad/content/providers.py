"""Chat completions from any OpenAI-compatible server (Ollama, vLLM, llama.cpp's server, OpenAI) over httpx.

One wire format covers every model we run, so the client speaks it directly instead of pulling in the
`openai` package: retries, concurrency, structured output and token accounting are then ours to test.

Structured output degrades in steps because servers differ: OpenAI, vLLM, recent llama.cpp and Ollama
(0.5+) honour `response_format: json_schema`; older llama.cpp refuses it (some builds with 500, naming
`response_format`), llama-cpp-python answers 500/422, LM Studio refuses `json_object`; and some servers accept
a format and ignore it. So a refusal moves to `json_object`, then to an instruction in the system message,
and every answer is parsed and checked against the schema whatever the server promised."""

from __future__ import annotations

import email.utils
import json
import logging
import math
import os
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from afinidad.content.schema_check import (
    check_answer,
    correction_message,
    ensure_supported,
    schema_name,
    with_schema_instruction,
)
from afinidad.errors import AfinidadError

log = logging.getLogger(__name__)

Reason = Literal[
    "timeout", "connection", "rate_limited", "server_error", "invalid_output", "unauthorized", "bad_request",
    "configuration",
]  # fmt: skip
_FORMATS = ("json_schema", "json_object", "instruction")  # strongest first


class ProviderError(AfinidadError):
    """A model provider call that did not give a usable answer; `reason` says which kind of failure."""

    title = "Model provider error"

    def __init__(self, detail: str, *, reason: Reason, attempts: int, status: int | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.attempts = attempts
        self.status = status


class ProviderConfig(BaseModel):
    """Where a model lives and how hard to try. The API key is named, never held: `api_key_env` is the
    environment variable read at each call, so the key stays out of configs, reprs, logs and errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field(min_length=1, description="Up to and including /v1, e.g. http://127.0.0.1:11434/v1.")
    model: str = Field(min_length=1)
    api_key_env: str | None = Field(default=None, description="Name of the variable holding the key; None: no key.")
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=3, ge=0, description="Retries after the first attempt (429, 5xx, timeouts).")
    backoff_seconds: float = Field(default=0.5, ge=0, description="First retry waits about this; doubles each time.")
    max_backoff_seconds: float = Field(default=20.0, ge=0, description="Cap on any wait, Retry-After included.")
    max_concurrency: int = Field(default=4, ge=1, description="Requests in flight at once from one client.")
    price_per_1k_prompt_tokens: float | None = Field(default=None, ge=0)
    price_per_1k_completion_tokens: float | None = Field(default=None, ge=0)


@dataclass(frozen=True)
class Completion:
    """One answer. Token counts and cost cover every request the answer took (a corrected answer costs two);
    `estimated` is True when the server sent no usage and the counts are characters / 4."""

    text: str
    data: Any  # the parsed JSON value when a schema was asked for, else None
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    model: str
    attempts: int
    estimated: bool = False


class UsageLedger:
    """Running token and cost totals per workspace, in memory and safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals: dict[str, dict[str, Any]] = {}

    def record(self, workspace_id: str, completion: Completion) -> None:
        with self._lock:
            totals = self._totals.setdefault(workspace_id, _empty_totals())
            totals["prompt_tokens"] += completion.prompt_tokens
            totals["completion_tokens"] += completion.completion_tokens
            totals["calls"] += 1
            if completion.cost is not None:  # unpriced calls add tokens, not cost
                totals["cost"] = (totals["cost"] or 0.0) + completion.cost

    def totals(self, workspace_id: str) -> dict[str, Any]:
        """`prompt_tokens`, `completion_tokens`, `calls`, and `cost` (None while no recorded call had a price)."""
        with self._lock:
            return dict(self._totals.get(workspace_id, _empty_totals()))


def _empty_totals() -> dict[str, Any]:
    return {"prompt_tokens": 0, "completion_tokens": 0, "cost": None, "calls": 0}


def retry_delay(retry: int, config: ProviderConfig, server_wait: float | None, jitter: float | None = None) -> float:
    """Seconds before retry number `retry` (1-based): the server's Retry-After when it sent one, else
    exponential backoff scaled by a random 50-100% so clients that failed together do not retry together."""
    if server_wait is not None:
        return min(max(server_wait, 0.0), config.max_backoff_seconds)
    backoff = min(config.backoff_seconds * 2 ** (retry - 1), config.max_backoff_seconds)
    return backoff * (0.5 + 0.5 * (random.random() if jitter is None else jitter))


def server_wait(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """The wait a 429/503 asks for: `retry-after-ms` (OpenAI), else `Retry-After` in seconds or as an HTTP date."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return float(value) * scale
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            continue
        return (when - (now or datetime.now(UTC))).total_seconds()
    return None


class ChatClient:
    """A client for one model; thread-safe, with at most `max_concurrency` requests in flight."""

    def __init__(
        self,
        config: ProviderConfig,
        *,
        ledger: UsageLedger | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.ledger = ledger
        self._sleep = sleep
        self._slots = threading.BoundedSemaphore(config.max_concurrency)
        self._format_for: dict[str, int] = {}  # schema -> the strongest format the server took for it
        self._format_lock = threading.Lock()
        limits = httpx.Limits(max_keepalive_connections=config.max_concurrency)  # the semaphore bounds the rest
        self._http = httpx.Client(
            base_url=config.base_url.rstrip("/"), timeout=config.timeout_seconds, limits=limits, transport=transport
        )

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def complete(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        json_schema: dict[str, Any] | None = None,
        temperature: float = 0.7,
        max_tokens: int | None = None,
        workspace_id: str | None = None,
    ) -> Completion:
        """Ask the model. With `json_schema`, `data` holds the checked JSON value; an answer that does not
        parse or fit is sent back once with what is wrong, and a second bad answer raises `invalid_output`.
        With a ledger and a `workspace_id`, the tokens are recorded, also when the answer was unusable."""
        if json_schema is not None:
            ensure_supported(json_schema)
        api_key = self._api_key()
        schema_key = json.dumps(json_schema, sort_keys=True)
        level = self._format_for.get(schema_key, 0)
        conversation = [dict(message) for message in messages]
        spent = _Spent()
        for _turn in range(2 if json_schema is not None else 1):
            while True:
                body = self._body(conversation, json_schema, level, temperature, max_tokens)
                response = self._send(body, api_key, spent)
                if response.status_code < 400:
                    break
                log.warning(
                    "model server refused response_format %s (%s); trying %s",
                    _FORMATS[level], response.status_code, _FORMATS[level + 1],
                )  # fmt: skip
                level += 1
            if json_schema is not None:
                with self._format_lock:
                    self._format_for[schema_key] = level
            text = self._read(response, body["messages"], spent)
            if json_schema is None:
                return self._finish(text, None, spent, workspace_id)
            data, problem = check_answer(text, json_schema)
            if problem is None:
                return self._finish(text, data, spent, workspace_id)
            correction = {"role": "user", "content": correction_message(problem, json_schema)}
            conversation = [*conversation, {"role": "assistant", "content": text}, correction]
        self._finish(text, None, spent, workspace_id)  # the unusable answers were still paid for
        raise ProviderError(
            f"model {self.config.model} gave no answer matching the schema after {spent.attempts} attempts "
            f"(one correction): {problem}",
            reason="invalid_output",
            attempts=spent.attempts,
        )

    # -- one request, with retries ---------------------------------------------------------------------------
    def _send(self, body: dict[str, Any], api_key: str | None, spent: _Spent) -> httpx.Response:
        """POST until an answer, a format refusal (returned so the caller can step down) or a final error."""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        retries = 0
        while True:
            spent.attempts += 1
            wait: float | None = None
            reason: Reason
            status: int | None
            try:
                with self._slots:
                    response = self._http.post("/chat/completions", json=body, headers=headers)
            except httpx.TimeoutException:
                reason, what, status = "timeout", f"no answer within {self.config.timeout_seconds}s", None
            except httpx.TransportError as error:
                reason, what, status = "connection", f"could not reach {self.config.base_url} ({error})", None
            else:
                status = response.status_code
                if status < 400 or _refuses_format(response, body):
                    return response
                what = f"answered {status}: {_server_message(response, api_key)}"
                if status in (401, 403):
                    hint = f"check {self.config.api_key_env}" if api_key else "no api_key_env is configured"
                    raise self._error("unauthorized", f"{what} ({hint})", spent, status)
                if status not in (408, 429) and status < 500:
                    raise self._error("bad_request", what, spent, status)
                reason = "rate_limited" if status == 429 else "timeout" if status == 408 else "server_error"
                wait = server_wait(response.headers) if status in (429, 503) else None
            if retries >= self.config.max_retries:
                raise self._error(reason, f"{what}; gave up (max_retries={self.config.max_retries})", spent, status)
            retries += 1
            delay = retry_delay(retries, self.config, wait)
            log.warning("model server %s; retry %d of %d in %.2fs", what, retries, self.config.max_retries, delay)
            self._sleep(delay)

    def _error(self, reason: Reason, what: str, spent: _Spent, status: int | None) -> ProviderError:
        detail = f"model {self.config.model} at {self.config.base_url}: {what}, after {spent.attempts} attempt(s)"
        return ProviderError(detail, reason=reason, attempts=spent.attempts, status=status)

    # -- building and reading ----------------------------------------------------------------------------------
    def _body(
        self, conversation: list[dict[str, Any]], schema: dict[str, Any] | None, level: int, temperature: float,
        max_tokens: int | None,
    ) -> dict[str, Any]:  # fmt: skip
        body: dict[str, Any] = {"model": self.config.model, "messages": conversation, "temperature": temperature}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if schema is None:
            return body
        if _FORMATS[level] == "json_schema":
            strict = {"name": schema_name(schema), "schema": schema, "strict": True}
            body["response_format"] = {"type": "json_schema", "json_schema": strict}
            return body
        if _FORMATS[level] == "json_object":  # OpenAI also requires the word JSON in the messages for this
            body["response_format"] = {"type": "json_object"}
        body["messages"] = with_schema_instruction(conversation, schema)
        return body

    def _read(self, response: httpx.Response, sent: list[dict[str, Any]], spent: _Spent) -> str:
        try:
            payload = response.json()
            message = payload["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError) as error:
            what = "answered without a chat completion"
            raise self._error("server_error", what, spent, response.status_code) from error
        text = message.get("content") or ""
        usage = payload.get("usage") or {}
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if not isinstance(prompt, int) or not isinstance(completion, int):
            spent.estimated = True
            prompt = _estimate(" ".join(str(m.get("content") or "") for m in sent))
            completion = _estimate(text)
        spent.prompt_tokens += prompt
        spent.completion_tokens += completion
        spent.model = str(payload.get("model") or self.config.model)
        return text

    def _finish(self, text: str, data: Any, spent: _Spent, workspace_id: str | None) -> Completion:
        config = self.config
        prices = (config.price_per_1k_prompt_tokens, config.price_per_1k_completion_tokens)
        cost = None
        if prices != (None, None):
            cost = (spent.prompt_tokens * (prices[0] or 0.0) + spent.completion_tokens * (prices[1] or 0.0)) / 1000
        completion = Completion(
            text=text, data=data, prompt_tokens=spent.prompt_tokens, completion_tokens=spent.completion_tokens,
            cost=cost, model=spent.model or config.model, attempts=spent.attempts, estimated=spent.estimated,
        )  # fmt: skip
        if self.ledger is not None and workspace_id is not None:
            self.ledger.record(workspace_id, completion)
        return completion

    def _api_key(self) -> str | None:
        name = self.config.api_key_env
        if name is None:
            return None
        key = os.environ.get(name)
        if not key:
            detail = f"the environment variable {name}, which should hold the API key, is not set"
            raise ProviderError(detail, reason="configuration", attempts=0)
        return key


@dataclass
class _Spent:
    """What one `complete` call has used so far, across fallbacks, retries and the correction."""

    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False
    model: str | None = None


def _refuses_format(response: httpx.Response, body: dict[str, Any]) -> bool:
    """Whether the server refused the response_format rather than the request (then a weaker one may work)."""
    if "response_format" not in body:
        return False
    status = response.status_code
    return status in (400, 422) or (status == 500 and "response_format" in response.text)


def _server_message(response: httpx.Response, api_key: str | None) -> str:
    """The server's own words, short, with the key removed (some servers echo what they were sent)."""
    try:
        payload = response.json()
        error = payload.get("error", payload)
        message = str(error.get("message", error) if isinstance(error, dict) else error)
    except (ValueError, AttributeError):
        message = response.text
    message = " ".join(message.split())[:300] or response.reason_phrase
    return message.replace(api_key, "[REDACTED]") if api_key else message


def _estimate(text: str) -> int:
    """About four characters per token for English and Spanish prose; good enough to budget, not to bill."""
    return math.ceil(len(text) / 4)
