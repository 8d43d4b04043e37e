"""A local model server that speaks OpenAI's chat-completions wire protocol, scripted per test: what the
provider client and the content studio's provider path are tested against."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    body: dict[str, Any]
    headers: dict[str, str]  # lower-case names


def chat(content: str | None, usage: dict[str, int] | None = None, model: str = "served-model") -> Reply:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
    }
    if usage is not None:
        body["usage"] = usage | {"total_tokens": sum(usage.values())}
    return Reply(body=body)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status=status, body={"error": {"message": message, "type": "error"}}, headers=headers or {})


def in_order(*replies: Reply) -> Callable[[Seen], Reply]:
    """Each request gets the next reply; the last one repeats."""
    queue = list(replies)
    return lambda _seen: queue.pop(0) if len(queue) > 1 else queue[0]


class ModelServer:
    """A ThreadingHTTPServer answering POST /v1/chat/completions with whatever `script` says."""

    def __init__(self) -> None:
        self.script: Callable[[Seen], Reply] = in_order(chat("hello", {"prompt_tokens": 1, "completion_tokens": 1}))
        self.requests: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._http.handle_error = lambda *_args: None  # clients that timed out and left are expected here
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/v1"

    def close(self) -> None:
        self.stopping.set()
        self._http.shutdown()
        self._http.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/v1/chat/completions":
                    return self._send(Reply(status=404, body={"error": {"message": "no such route"}}))
                seen = Seen(json.loads(raw), {k.lower(): v for k, v in self.headers.items()})
                with server._lock:
                    server.requests.append(seen)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    reply = server.script(seen)
                if reply.delay:
                    server.stopping.wait(reply.delay)
                with server._lock:
                    server.in_flight -= 1  # before answering, so the next request never overlaps this one
                self._send(reply)

            def _send(self, reply: Reply) -> None:
                payload = (reply.body if isinstance(reply.body, str) else json.dumps(reply.body)).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, *_args: Any) -> None:
                pass

        return Handler
