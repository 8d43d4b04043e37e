"""The studio writing through a model provider, end to end: the real API server calls a local model server
that speaks OpenAI's chat-completions protocol. A good answer becomes checked drafts (and the checker catches a
price the model made up); invalid JSON, a timeout and rate limits give a clear error or a retry, with nothing
half-saved; tokens are accounted per workspace."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from afinidad.store.engine import Store
from afinidad.workspaces.service import CreatedWorkspace, create_workspace, issue_admin_key
from tests.conftest import Server
from tests.content.model_server import ModelServer, Reply, chat, error, in_order

BRIEF = {"content_type": "email", "language": "en", "goal": "promote", "product_ids": ["mug"], "variants": 2,
         "writer": "provider"}  # fmt: skip


def _email(subject: str, price: str = "€12.99") -> dict[str, str]:
    return {"subject": subject, "preheader": "Our stoneware mug, back in the shop.",
            "body_text": f"Hello,\n\nOur Blue Mug is back at {price}. Take a look.\n\nThe Acme team\nTerms apply.",
            "body_html": f"<p>Our Blue Mug is back at {price}.</p><p>Terms apply.</p>"}  # fmt: skip


def _answer(*variants: dict[str, str], prompt: int = 120, completion: int = 80) -> Any:
    content = json.dumps({"variants": list(variants)})
    return chat(content, {"prompt_tokens": prompt, "completion_tokens": completion}, model="acme-writer-7b")


@pytest.fixture
def model() -> Iterator[ModelServer]:
    server = ModelServer()
    yield server
    server.close()


def _studio(store: Store, server: Server, model: ModelServer) -> tuple[CreatedWorkspace, str]:
    with store.session() as session:
        shop = create_workspace(session, f"llm-{uuid.uuid4().hex[:8]}")
        admin = issue_admin_key(session, shop.id)
    with server.client(headers={"Authorization": f"Bearer {admin}"}) as client:
        product = {"title": "Blue Mug", "price": "12.99", "currency": "EUR"}
        assert client.put("/v1/catalog/products/mug", json=product).status_code == 200
        provider = {"base_url": model.url, "model": "acme-writer", "timeout_seconds": 1.0, "max_retries": 1,
                    "backoff_seconds": 0.01, "price_per_1k_prompt_tokens": 0.5,
                    "price_per_1k_completion_tokens": 1.5}  # fmt: skip
        kit = {"name": "Acme", "disclaimers": {"email": ["Terms apply."]}}
        changed = client.patch("/v1/workspace/settings", json={"content_provider": provider, "brand_kit": kit})
        assert changed.status_code == 200, changed.text
    return shop, admin


def _pieces(client: httpx.Client) -> int:
    return len(client.get("/v1/content").json()["data"])


def test_a_provider_writes_checked_drafts_and_its_tokens_are_counted(server: Server, store: Store,
                                                                      model: ModelServer) -> None:  # fmt: skip
    shop, _ = _studio(store, server, model)
    model.script = in_order(_answer(_email("Blue Mug is back"), _email("Your Blue Mug, €9.99", price="€9.99")))
    with server.client(headers={"Authorization": f"Bearer {shop.secret_key}"}) as client:
        made = client.post("/v1/content/generate", json=BRIEF)
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["writer"] == "acme-writer-7b" and body["usage"]["prompt_tokens"] == 120
        good, invented = body["pieces"]
        assert good["blocking"] is False and good["fields"]["subject"] == "Blue Mug is back"
        wrong = [f for f in invented["findings"] if f["rule"] == "wrong_price"]
        assert wrong and wrong[0]["blocking"] and wrong[0]["excerpt"] == "€9.99"  # the model made a price up
        sent = model.requests[0].body
        assert sent["model"] == "acme-writer" and sent["response_format"]["type"] == "json_schema"
        system = sent["messages"][0]["content"]
        assert "Acme" in system and "Terms apply." in system and "guaranteed" in system  # the brand's rules
        assert "12.99" in sent["messages"][1]["content"]  # the catalog's facts
        usage = client.get("/v1/content/usage").json()
        assert usage == {"calls": 1, "prompt_tokens": 120, "completion_tokens": 80, "cost": 0.18}


def test_provider_failures_give_clear_errors_and_store_nothing(server: Server, store: Store,
                                                                model: ModelServer) -> None:  # fmt: skip
    shop, _ = _studio(store, server, model)
    with server.client(headers={"Authorization": f"Bearer {shop.secret_key}"}) as client:
        model.script = in_order(chat("Sure! Here are your emails: ..."))  # never JSON
        refused = client.post("/v1/content/generate", json=BRIEF)
        assert refused.status_code == 502 and refused.json()["reason"] == "invalid_output"
        assert "not valid json" in refused.json()["detail"].lower()
        assert len(model.requests) == 2  # asked once more, with what was wrong
        model.script = in_order(Reply(delay=3.0, body={}))  # longer than the 1 s timeout
        slow = client.post("/v1/content/generate", json=BRIEF)
        assert slow.status_code == 502 and slow.json()["reason"] == "timeout" and "within 1.0s" in slow.text
        assert _pieces(client) == 0  # nothing half-saved
        model.script = in_order(error(429, "slow down", {"Retry-After": "0"}),
                                _answer(_email("Blue Mug is back"), _email("Back in stock: Blue Mug")))  # fmt: skip
        retried = client.post("/v1/content/generate", json=BRIEF)
        assert retried.status_code == 201 and retried.json()["usage"]["attempts"] == 2
        assert _pieces(client) == 2
        model.script = in_order(error(429, "slow down", {"Retry-After": "0"}))
        limited = client.post("/v1/content/generate", json=BRIEF)
        assert limited.status_code == 502 and limited.json()["reason"] == "rate_limited"
        assert _pieces(client) == 2


def test_the_provider_path_needs_a_configured_provider(server: Server, store: Store) -> None:
    with store.session() as session:
        shop = create_workspace(session, f"llm-{uuid.uuid4().hex[:8]}")
    with server.client(headers={"Authorization": f"Bearer {shop.secret_key}"}) as client:
        client.put("/v1/catalog/products/mug", json={"title": "Blue Mug", "price": "12.99", "currency": "EUR"})
        missing = client.post("/v1/content/generate", json=BRIEF)
        assert missing.status_code == 409 and "content_provider" in missing.json()["detail"]


def test_any_other_language_is_localised_by_the_provider(server: Server, store: Store, model: ModelServer) -> None:
    shop, _ = _studio(store, server, model)
    german = {"subject": "Der Blue Mug ist zurück", "preheader": "Unser Steinzeugbecher ist wieder da.",
              "body_text": "Hallo,\n\nunser Blue Mug ist für €12.99 zurück. Schauen Sie vorbei.\n\nTerms apply.",
              "body_html": "<p>Unser Blue Mug ist für €12.99 zurück.</p><p>Terms apply.</p>"}  # fmt: skip
    model.script = in_order(chat(json.dumps(german), {"prompt_tokens": 50, "completion_tokens": 40}))
    with server.client(headers={"Authorization": f"Bearer {shop.secret_key}"}) as client:
        english = client.post("/v1/content/generate", json={**BRIEF, "writer": "offline", "variants": 1}).json()
        made = client.post(f"/v1/content/{english['pieces'][0]['id']}/localise", json={"language": "de"})
        assert made.status_code == 201, made.text
        piece = made.json()
        assert piece["language"] == "de" and piece["fields"]["subject"] == "Der Blue Mug ist zurück"
        assert not piece["blocking"] and piece["writer"] == "served-model"
        asked = model.requests[-1].body["messages"]
        assert "German" in asked[0]["content"] and english["pieces"][0]["fields"]["subject"] in asked[1]["content"]
        assert client.get("/v1/content/usage").json()["prompt_tokens"] == 50
