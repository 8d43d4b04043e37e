"""A small Python client for Afinidad's HTTP API.

Segment's and RudderStack's libraries already send events (set their host); this client is for the rest
of a Python back end: sending a few events synchronously with a clear error when one is refused, and
reading profiles and timelines with the secret key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx


class AfinidadAPIError(Exception):
    """The API refused a call; `problem` holds its RFC 9457 problem details (`errors` names each field)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"{status} {problem.get('title', '')}: {problem.get('detail', '')}")
        self.status = status
        self.problem = problem

    @property
    def errors(self) -> list[dict[str, Any]]:
        return list(self.problem.get("errors", []))


class Client:
    def __init__(
        self,
        host: str = "http://127.0.0.1:8000",
        *,
        write_key: str | None = None,
        secret_key: str | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._write_key = write_key
        self._secret_key = secret_key
        self._http = httpx.Client(base_url=host.rstrip("/"), timeout=timeout, transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- sending -------------------------------------------------------------------------------------
    def track(self, event: str, *, user_id: str | None = None, anonymous_id: str | None = None,
              properties: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:  # fmt: skip
        return self._send("track", {"event": event, "properties": properties or {}}, user_id, anonymous_id, fields)

    def identify(self, *, user_id: str | None = None, anonymous_id: str | None = None,
                 traits: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:  # fmt: skip
        return self._send("identify", {"traits": traits or {}}, user_id, anonymous_id, fields)

    def page(self, name: str | None = None, *, user_id: str | None = None, anonymous_id: str | None = None,
             properties: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:  # fmt: skip
        return self._send("page", {"name": name, "properties": properties or {}}, user_id, anonymous_id, fields)

    def alias(self, previous_id: str, user_id: str, **fields: Any) -> dict[str, Any]:
        return self._send("alias", {"previousId": previous_id}, user_id, None, fields)

    def batch(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """Send Segment messages as they are (each with its `type`); all are stored or none."""
        for message in messages:
            message.setdefault("messageId", str(uuid.uuid4()))
        return self._post("/v1/batch", {"batch": messages, "sentAt": _now()})

    def _send(
        self, kind: str, body: dict[str, Any], user_id: str | None, anonymous_id: str | None, fields: dict[str, Any]
    ) -> dict[str, Any]:
        message = {key: value for key, value in body.items() if value is not None}
        if user_id is not None:
            message["userId"] = user_id
        if anonymous_id is not None:
            message["anonymousId"] = anonymous_id
        message.setdefault("messageId", str(uuid.uuid4()))
        message.setdefault("timestamp", _now())
        message.update(fields)
        return self._post(f"/v1/{kind}", message)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if not self._write_key:
            raise ValueError("a write_key is needed to send events")
        return _result(self._http.post(path, json=body, auth=(self._write_key, "")))

    # -- reading -------------------------------------------------------------------------------------
    def profile(self, identifier: str) -> dict[str, Any]:
        """The unified profile behind any identifier (`u-42`, `email:ana@example.com`, a profile id)."""
        return self._get(f"/v1/profiles/{_quote(identifier)}")

    def merges(self, identifier: str) -> list[dict[str, Any]]:
        return self._get(f"/v1/profiles/{_quote(identifier)}/merges")["data"]

    def events(self, identifier: str, *, event: str | None = None, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """The profile's whole timeline, newest first, fetched page by page as you iterate."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": page_size}
            if cursor:
                params["cursor"] = cursor
            if event:
                params["event"] = event
            page = self._get(f"/v1/profiles/{_quote(identifier)}/events", params)
            yield from page["data"]
            cursor = page["next_cursor"]
            if not cursor:
                return

    def workspace(self) -> dict[str, Any]:
        return self._get("/v1/workspace")

    def _get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        if not self._secret_key:
            raise ValueError("a secret_key is needed to read")
        headers = {"Authorization": f"Bearer {self._secret_key}"}
        return _result(self._http.get(path, params=params, headers=headers))


def _quote(identifier: str) -> str:
    return httpx.URL("/" + identifier).raw_path.decode().lstrip("/").replace("/", "%2F")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _result(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        try:
            problem = response.json()
        except ValueError:
            problem = {"title": response.reason_phrase, "detail": response.text}
        raise AfinidadAPIError(response.status_code, problem)
    return response.json()
