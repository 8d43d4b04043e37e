"""Content blocks through the real API, on SQLite and PostgreSQL: weights honoured, experiments sticky per
person across identifiers, context and segment targeting, every choice logged with its propensity, and bad
blocks or requests refused with nothing logged."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from typing import Any

import httpx
from sqlalchemy import func, select

from afinidad.store.engine import Store
from afinidad.store.models import Decision
from afinidad.workspaces.service import CreatedWorkspace, create_workspace
from tests.conftest import Server

HERO = {"policy": "fixed", "variants": [
    {"id": "spring", "content": {"headline": "Spring is here"}, "weight": 70},
    {"id": "sale", "content": {"headline": "20% off"}, "weight": 30},
    {"id": "cosy", "content": {"headline": "Stay in, read"}, "when": {"weather": ["rain", "snow"]}},
    {"id": "gold", "content": {"headline": "For our gold members"}, "segment": "gold-members"},
]}  # fmt: skip


def _shop(store: Store) -> CreatedWorkspace:
    with store.session() as session:
        return create_workspace(session, f"blocks-{uuid.uuid4().hex[:8]}")


def _api(server: Server, shop: CreatedWorkspace) -> httpx.Client:
    return server.client(headers={"Authorization": f"Bearer {shop.secret_key}"})


def _decisions(store: Store, shop: CreatedWorkspace) -> int:
    with store.reader() as session:
        return session.execute(
            select(func.count()).select_from(Decision).where(Decision.workspace_id == shop.id)
        ).scalar_one()


def test_a_block_chooses_by_weight_and_targeting_and_logs_each_choice(server: Server, store: Store) -> None:
    shop = _shop(store)
    with _api(server, shop) as client:
        saved = client.put("/v1/blocks/hero", json=HERO)
        assert saved.status_code == 200, saved.text
        shown: Counter[str] = Counter()
        for i in range(400):
            body = client.post("/v1/decide", json={"slot": "hero", "user": f"visitor-{i}"}).json()
            shown[body["variant"]] += 1
            assert body["decision_id"].startswith("dec_") and body["propensity"] == {"spring": 0.7, "sale": 0.3}[
                body["variant"]]  # fmt: skip
        assert set(shown) == {"spring", "sale"} and 0.6 < shown["spring"] / 400 < 0.8  # 70% planned
        rainy = client.post("/v1/decide", json={"slot": "hero", "context": {"weather": "Rainy"}}).json()
        assert rainy["variant"] == "cosy" and rainy["propensity"] == 1.0 and rainy["content"]["headline"]
        sunny = client.post("/v1/decide", json={"slot": "hero", "context": {"weather": "sunny"}}).json()
        assert sunny["variant"] in ("spring", "sale")
        # a segment's members see their variant
        sent = client.post(
            "/v1/identify", json={"userId": "gina", "traits": {"plan": "gold"}}, auth=(shop.write_key, "")
        )
        assert sent.status_code == 200
        deadline = time.monotonic() + 10
        while client.get("/v1/profiles/gina").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (
            client.post("/v1/segments", json={"name": "gold-members", "text": 'trait.plan = "gold"'}).json()["size"]
            == 1
        )
        assert client.post("/v1/decide", json={"slot": "hero", "user": "gina"}).json()["variant"] == "gold"
    with store.reader() as session:
        mine = (Decision.workspace_id == shop.id, Decision.slot == "hero")
        logged = session.execute(select(Decision.items, Decision.policy).where(*mine)).all()
    assert len(logged) == 403 and all(items[0]["propensity"] > 0 for items, _ in logged)


def test_an_experiment_is_sticky_per_person_across_identifiers(server: Server, store: Store) -> None:
    shop = _shop(store)
    with _api(server, shop) as client:
        block = {**HERO, "policy": "experiment"}
        assert client.put("/v1/blocks/hero", json=block).status_code == 200
        sent = client.post("/v1/identify", json={"userId": "u-42", "traits": {"email": "ann@example.com"}},
                           auth=(shop.write_key, ""))  # fmt: skip
        assert sent.status_code == 200
        deadline = time.monotonic() + 10
        while client.get("/v1/profiles/u-42").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        seen = {client.post("/v1/decide", json={"slot": "hero", "user": who}).json()["variant"]
                for who in ("u-42", "ann@example.com", "u-42", "email:ann@example.com")}  # fmt: skip
        assert len(seen) == 1  # one person, one variant, whichever identifier the channel knows
        split = Counter(client.post("/v1/decide", json={"slot": "hero", "user": f"p-{i}"}).json()["variant"]
                        for i in range(300))  # fmt: skip
        assert 0.6 < split["spring"] / 300 < 0.8


def test_bad_blocks_and_requests_are_refused_and_log_nothing(server: Server, store: Store) -> None:
    shop = _shop(store)
    with _api(server, shop) as client:
        for body, field in [
            ({"variants": [{"id": "a", "content": {}, "weight": 60}, {"id": "b", "content": {}, "weight": 30}]},
             "block"),
            ({"variants": [{"id": "a", "content": {}, "weight": 100, "when": {"mood": ["happy"]}}]}, "variants.0.when"),
            ({"variants": [{"id": "a", "content": {}, "weight": 50}, {"id": "a", "content": {}, "weight": 50}]},
             "block"),
            ({"policy": "magic", "variants": [{"id": "a", "content": {}, "weight": 100}]}, "policy"),
            ({"variants": []}, "variants"),
        ]:  # fmt: skip
            refused = client.put("/v1/blocks/hero", json=body)
            assert refused.status_code == 400, refused.text
            assert refused.json()["errors"][0]["field"] == field, refused.json()
            assert "100%" in refused.text or field != "block" or "unique" in refused.text
        assert client.get("/v1/blocks").json()["data"] == []
        assert client.put("/v1/blocks/hero", json=HERO).status_code == 200
        before = _decisions(store, shop)
        assert client.post("/v1/decide", json={"slot": "nope"}).status_code == 404
        bad: dict[str, Any] = {"slot": "hero", "context": {"daypart": "teatime"}}
        refused = client.post("/v1/decide", json=bad)
        assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "daypart"
        assert _decisions(store, shop) == before


def test_a_bandit_block_moves_traffic_to_the_variant_that_wins(store: Store) -> None:
    import random

    from afinidad.decide import service
    from afinidad.settings import Settings
    from afinidad.tracking.bulk import import_messages
    from afinidad.tracking.importer import ImportedMessage

    shop = _shop(store)
    block = {"policy": "bandit", "variants": [{"id": "plain", "content": {"headline": "New in"}},
                                              {"id": "bold", "content": {"headline": "Last chance"}}]}  # fmt: skip
    with store.session() as session:
        service.save_block(session, shop.id, {**block, "slot": "offer"})
    rng, clicks = random.Random(5), {"plain": 0.02, "bold": 0.3}  # the truth the bandit must find
    shown: list[str] = []
    for round_ in range(8):  # rounds of 60 decisions, the rewards of each round arriving before the next
        service.REWARDS.forget()
        messages = []
        for i in range(60):
            with store.session() as session:
                answer = service.decide(session, shop.id, "offer", f"u{round_}-{i}", {}, rng=rng)
            assert 0.01 <= answer["propensity"] <= 0.99
            shown.append(answer["variant"])
            if rng.random() < clicks[answer["variant"]]:
                messages.append({"type": "track", "userId": f"u{round_}-{i}", "event": "Promotion Clicked",
                                 "properties": {"decision_id": answer["decision_id"]}})  # fmt: skip
        import_messages(store, shop.id, (ImportedMessage(line=n + 1, message=m) for n, m in enumerate(messages)),
                        Settings())  # fmt: skip
    first, last = shown[:60], shown[-120:]
    assert last.count("bold") / len(last) > 0.85 > first.count("bold") / len(first)  # learnt, not fixed


def test_a_contextual_block_learns_which_variant_suits_which_weather(store: Store) -> None:
    import random

    from afinidad.decide import service
    from afinidad.settings import Settings
    from afinidad.tracking.bulk import import_messages
    from afinidad.tracking.importer import ImportedMessage

    shop = _shop(store)
    variants = [{"id": "cosy", "content": {"headline": "Stay in, read"}},
                {"id": "outdoor", "content": {"headline": "Get outside"}}]  # fmt: skip
    block = {"policy": "contextual", "variants": variants}
    with store.session() as session:
        service.save_block(session, shop.id, {**block, "slot": "banner"})
    clicks = {("rain", "cosy"): 0.30, ("rain", "outdoor"): 0.03, ("sunny", "cosy"): 0.03, ("sunny", "outdoor"): 0.30}
    rng, shown = random.Random(8), []
    for round_ in range(10):  # rounds of 80 decisions; each round's clicks arrive before the next
        service.REWARDS.forget()
        messages = []
        for i in range(80):
            weather = rng.choice(["rain", "sunny"])
            with store.session() as session:
                answer = service.decide(session, shop.id, "banner", f"c{round_}-{i}", {"weather": weather}, rng=rng)
            assert 0.01 <= answer["propensity"] <= 0.99 and answer["policy"] == "contextual"
            shown.append((weather, answer["variant"]))
            if rng.random() < clicks[(weather, answer["variant"])]:
                messages.append({"type": "track", "userId": f"c{round_}-{i}", "event": "Promotion Clicked",
                                 "properties": {"decision_id": answer["decision_id"]}})  # fmt: skip
        import_messages(store, shop.id, (ImportedMessage(line=n + 1, message=m) for n, m in enumerate(messages)),
                        Settings())  # fmt: skip
    late = shown[-240:]
    for weather, best in (("rain", "cosy"), ("sunny", "outdoor")):
        mine = [variant for w, variant in late if w == weather]
        assert mine.count(best) / len(mine) > 0.8, (weather, mine.count(best), len(mine))  # learnt per context
    early = shown[:80]
    assert 0.2 < sum(v == "cosy" for _, v in early) / 80 < 0.8  # it did not know at first


def test_a_blocks_log_answers_what_each_variant_would_have_earned(server: Server, store: Store) -> None:
    import random

    from afinidad.decide import service
    from afinidad.settings import Settings
    from afinidad.tracking.bulk import import_messages
    from afinidad.tracking.importer import ImportedMessage

    shop = _shop(store)
    offer = {
        "policy": "fixed",
        "variants": [
            {"id": "plain", "content": {"headline": "New in"}, "weight": 70},
            {"id": "bold", "content": {"headline": "Last chance"}, "weight": 30},
        ],
    }
    with store.session() as session:
        service.save_block(session, shop.id, {**offer, "slot": "offer"})
    rng, shown, messages = random.Random(12), {"plain": [], "bold": []}, []
    for i in range(1500):
        with store.session() as session:
            answer = service.decide(session, shop.id, "offer", f"e{i}", {}, rng=rng)
        clicked = rng.random() < {"plain": 0.05, "bold": 0.25}[answer["variant"]]
        shown[answer["variant"]].append(clicked)
        if clicked:
            messages.append({"type": "track", "userId": f"e{i}", "event": "Promotion Clicked",
                             "properties": {"decision_id": answer["decision_id"]}})  # fmt: skip
    import_messages(store, shop.id, (ImportedMessage(line=n + 1, message=m) for n, m in enumerate(messages)),
                    Settings())  # fmt: skip
    with _api(server, shop) as client:
        report = client.get("/v1/blocks/offer/evaluation").json()
        assert client.get("/v1/blocks/offer/evaluation?days=0").status_code == 400
        assert client.get("/v1/blocks/nope/evaluation").status_code == 404
    assert report["decisions"] == 1500 and report["rewarded"] == len(messages)
    assert abs(report["logged"]["value"] - len(messages) / 1500) < 1e-6
    best = report["candidates"][0]
    assert best["name"] == "bold for everyone" and best["effective_sample_size"] == len(shown["bold"])
    # showing only `bold` is estimated from the rows that showed it: its own rate, exactly, for SNIPW
    assert abs(best["snipw"]["value"] - sum(shown["bold"]) / len(shown["bold"])) < 1e-6
    low, high = best["ipw"]["ci"]
    assert low < 0.25 < high and best["snipw"]["value"] > report["logged"]["value"]
    plain = next(c for c in report["candidates"] if c["name"] == "plain for everyone")
    assert abs(plain["snipw"]["value"] - sum(shown["plain"]) / len(shown["plain"])) < 1e-6
