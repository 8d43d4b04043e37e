"""The content studio through the real API, on SQLite and PostgreSQL: a brief becomes checked drafts in the
brand's voice, a person reviews them (submit, approve, reject, edit, comment) with every step kept, a blocking
finding or a price that changed since stops approval and sending, approved pieces are rendered for one person
and become an experiment's variants; bad briefs change nothing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from afinidad.settings import Settings
from afinidad.store.engine import Store
from afinidad.tracking.bulk import import_messages
from afinidad.tracking.importer import ImportedMessage
from afinidad.workspaces.service import CreatedWorkspace, create_workspace, issue_admin_key
from tests.conftest import Server

KIT = {"name": "Acme", "languages": ["en", "es"], "disclaimers": {"email:en": ["Terms apply."],
                                                                  "email:es": ["Se aplican condiciones."]},
       "words_to_avoid": ["cheap"], "emoji": "few"}  # fmt: skip
BRIEF: dict[str, Any] = {"content_type": "email", "language": "en", "goal": "offer", "product_ids": ["mug", "lamp"],
                         "offer_percent": 20, "offer_code": "SPRING20", "url": "https://acme.example/spring",
                         "personal": True, "variants": 3, "seed": 4}  # fmt: skip


def _api(server: Server, shop: CreatedWorkspace) -> httpx.Client:
    return server.client(headers={"Authorization": f"Bearer {shop.secret_key}"})


def _shop(store: Store, server: Server) -> CreatedWorkspace:
    with store.session() as session:
        shop = create_workspace(session, f"studio-{uuid.uuid4().hex[:8]}")
        admin = issue_admin_key(session, shop.id)
    with _api(server, shop) as client:
        for pid, title, price in (("mug", "Blue Mug", "12.99"), ("lamp", "Reading Lamp", "45")):
            body = {"title": title, "price": price, "currency": "EUR", "brand": "Hearth", "category": "Home > Kitchen"}
            assert client.put(f"/v1/catalog/products/{pid}", json=body).status_code == 200
        kit = client.patch("/v1/workspace/settings", json={"brand_kit": KIT},
                           headers={"Authorization": f"Bearer {admin}"})  # fmt: skip
        assert kit.status_code == 200, kit.text
    return shop


def test_a_brief_becomes_checked_drafts_that_a_person_reviews(server: Server, store: Store) -> None:
    shop = _shop(store, server)
    with _api(server, shop) as client:
        made = client.post("/v1/content/generate", json=BRIEF)
        assert made.status_code == 201, made.text
        pieces = made.json()["pieces"]
        assert len(pieces) == 3 and len({p["fields"]["body_text"] for p in pieces}) == 3
        for piece in pieces:
            assert piece["status"] == "draft" and piece["writer"] == "offline" and piece["blocking"] is False
            assert "Terms apply." in piece["fields"]["body_text"] and "{{first_name}}" in piece["fields"]["body_text"]
        first, second, third = (p["id"] for p in pieces)
        assert client.post(f"/v1/content/{first}/approve").status_code == 409  # a draft is not in review yet
        assert client.post(f"/v1/content/{first}/submit").json()["status"] == "in_review"
        approved = client.post(f"/v1/content/{first}/approve", json={"comment": "lovely"})
        assert approved.status_code == 200 and approved.json()["status"] == "approved"

        # an edit that breaks the brand's rules: a new version, its findings, and no approval
        bad = client.put(f"/v1/content/{second}", json={"fields": {"subject": "Guaranteed cheap mugs, €5"}})
        assert bad.status_code == 200 and bad.json()["version"] == 2
        rules = {f["rule"]: f for f in bad.json()["findings"]}
        assert {"banned_claim", "avoided_word", "wrong_price"} <= set(rules)
        assert rules["wrong_price"]["excerpt"] == "€5" and rules["banned_claim"]["span"] == [0, 10]
        client.post(f"/v1/content/{second}/submit")
        refused = client.post(f"/v1/content/{second}/approve")
        assert refused.status_code == 409 and "banned_claim" in refused.json()["detail"]
        assert client.get(f"/v1/content/{second}").json()["status"] == "in_review"  # nothing changed
        assert client.post(f"/v1/content/{second}/reject", json={"comment": "off brand"}).json()["status"] == "rejected"
        client.post(f"/v1/content/{second}/comments", json={"comment": "try a softer subject"})
        steps = client.get(f"/v1/content/{second}/history").json()["data"]
        assert [s["action"] for s in steps] == ["generated", "edited", "submitted", "rejected", "commented"]
        assert steps[1]["before"]["subject"] != "Guaranteed cheap mugs, €5" and steps[3]["comment"] == "off brand"
        assert all(s["actor"].startswith("key ") for s in steps)

        # rendered for one person: their first name, checked as sent
        sent = import_messages(store, shop.id, [ImportedMessage(line=1, message={
            "type": "identify", "userId": "ana", "traits": {"first_name": "Ana"}}), ImportedMessage(line=2, message={
            "type": "track", "userId": "ana", "event": "Product Viewed", "properties": {"product_id": "lamp"}}),
            ImportedMessage(line=3, message={"type": "track", "userId": "ana", "event": "Order Completed",
                                             "timestamp": "2026-01-05T10:00:00Z", "properties": {"order_id": "a1",
                                             "products": [{"product_id": "mug"}, {"product_id": "lamp"}]}})],
            Settings())  # fmt: skip
        assert sent.stored == 3
        rendered = client.post(f"/v1/content/{first}/render", json={"user": "ana"}).json()
        assert "Ana" in rendered["fields"]["body_text"] and "{{" not in rendered["fields"]["body_text"]
        stranger = client.post(f"/v1/content/{first}/render", json={"user": "nobody"}).json()
        assert "{{" not in stranger["fields"]["body_text"]  # the greeting without a name
        assert client.post(f"/v1/content/{third}/render", json={"user": "ana"}).status_code == 409  # not approved

        # two approved variants become an experiment in one step; a draft cannot
        body = (pieces[2]["fields"]["body_text"] + "\nStill thinking about {{last_product}}? See "
                "{{recommended_products}}. Last time: {{last_basket}}.")  # fmt: skip
        assert client.put(f"/v1/content/{third}", json={"fields": {"body_text": body}}).json()["blocking"] is False
        client.post(f"/v1/content/{third}/submit")
        assert client.post(f"/v1/content/{third}/approve").json()["status"] == "approved"
        personal = client.post(f"/v1/content/{third}/render", json={"user": "ana"}).json()["fields"]["body_text"]
        assert "Still thinking about Reading Lamp? See" in personal and "{{" not in personal  # bought all: none left
        assert "Last time: Blue Mug and Reading Lamp." in personal
        assert client.post("/v1/content/experiments", json={"key": "spring", "piece_ids": [first, second]}
                           ).status_code == 409  # fmt: skip
        block = client.post("/v1/content/blocks", json={"slot": "promo", "piece_ids": [first, third]})
        assert block.status_code == 201 and block.json()["policy"] == "bandit", block.text
        shown = client.post("/v1/decide", json={"slot": "promo", "user": "ana"}).json()
        assert shown["variant"] in (first, third) and shown["content"]["fields"]["subject"]
        assert (
            client.post("/v1/content/blocks", json={"slot": "promo", "piece_ids": [first, second]}).status_code == 409
        )
        made = client.post("/v1/content/experiments", json={"key": "spring", "piece_ids": [first, third]})
        assert made.status_code == 201, made.text
        variants = made.json()["variants"]
        assert [v["id"] for v in variants] == [first, third] and sum(v["weight"] for v in variants) == 100
        assert variants[0]["content"]["fields"]["subject"] == pieces[0]["fields"]["subject"]

        # the catalog moves: the approved copy now states an old price, so it is not sent
        client.put("/v1/catalog/products/mug", json={"title": "Blue Mug", "price": "14.99", "currency": "EUR",
                                                     "brand": "Hearth", "category": "Home > Kitchen"})  # fmt: skip
        stale = client.post(f"/v1/content/{first}/render", json={"user": "ana"})
        assert stale.status_code == 409 and "wrong_price" in stale.json()["detail"]
        rechecked = client.post(f"/v1/content/{first}/check").json()
        assert any(f["rule"] == "wrong_price" and f["blocking"] for f in rechecked["findings"])


def test_every_content_type_is_written_in_spanish_too(server: Server, store: Store) -> None:
    with _api(server, _shop(store, server)) as client:
        for content_type, extra in (("subject_line", {}), ("search_ad", {}), ("sms", {}),
                                    ("social_post", {"network": "instagram"}), ("product_description", {}),
                                    ("review_reply", {"review": {"rating": 2, "text": "Llegó roto"}})):  # fmt: skip
            brief = {**BRIEF, "content_type": content_type, "language": "es", "variants": 2, **extra}
            made = client.post("/v1/content/generate", json=brief)
            assert made.status_code == 201, (content_type, made.text)
            assert all(not p["blocking"] and p["language"] == "es" for p in made.json()["pieces"]), content_type


def test_bad_briefs_are_refused_and_write_nothing(server: Server, store: Store) -> None:
    with _api(server, _shop(store, server)) as client:
        for change, field in [({"content_type": "poem"}, "content_type"),
                              ({"product_ids": ["ghost"]}, "product_ids"),
                              ({"offer_code": None}, "offer_code"),
                              ({"content_type": "social_post"}, "network"),
                              ({"language": "xx"}, "language"),
                              ({"variants": 50}, "variants"),
                              ({"url": "javascript:alert(1)"}, "url"),
                              ({"surprise": True}, "surprise")]:  # fmt: skip
            refused = client.post("/v1/content/generate", json={**BRIEF, **change})
            assert refused.status_code == 400, (change, refused.text)
            assert refused.json()["errors"][0]["field"] == field, refused.json()
        assert client.get("/v1/content").json()["data"] == []
        assert client.get("/v1/content/cnt_nope").status_code == 404
        assert client.post("/v1/content/cnt_nope/approve").status_code == 404
        piece = client.post("/v1/content/generate", json=BRIEF).json()["pieces"][0]["id"]
        wrong = client.put(f"/v1/content/{piece}", json={"fields": {"headline": "x"}})
        assert wrong.status_code == 400 and wrong.json()["errors"][0]["field"] == "fields.headline"
        assert client.get(f"/v1/content/{piece}").json()["version"] == 1
        bad_kit = client.patch("/v1/workspace/settings", json={"brand_kit": {"name": "Acme", "emoji": "lots"}})
        assert bad_kit.status_code in (400, 403)


def test_ideas_come_from_the_workspaces_signals_and_say_which(server: Server, store: Store) -> None:
    shop = _shop(store, server)
    messages = [{"type": "track", "userId": f"s{i}", "event": "Products Searched", "properties": {"query": q}}
                for i, q in enumerate(["linen shirt"] * 5 + ["Linen  Shirt", "blue mug", "blue mug"])]  # fmt: skip
    messages += [{"type": "track", "userId": f"r{i}", "event": "Product Reviewed",
                  "properties": {"product_id": "mug", "rating": 5, "review_body": text}}
                 for i, text in enumerate(["The glaze is lovely and the handle feels solid",
                                           "Lovely glaze, keeps tea warm", "Solid handle, lovely glaze"])]  # fmt: skip
    messages += [{"type": "track", "userId": f"v{i}", "event": "Product Viewed", "properties": {"product_id": "mug"}}
                 for i in range(6)]  # fmt: skip
    report = import_messages(store, shop.id, (ImportedMessage(line=n, message=m) for n, m in enumerate(messages)),
                             Settings())  # fmt: skip
    assert report.stored == len(messages)
    with _api(server, shop) as client:
        found = client.get("/v1/content/ideas").json()["ideas"]
        spanish = client.get("/v1/content/ideas?language=es").json()["ideas"]
        assert client.get("/v1/content/ideas?language=xx").status_code == 400
    by_signal: dict[str, list[dict]] = {}
    for idea in found:
        by_signal.setdefault(idea["signal"], []).append(idea)
    assert by_signal["search"][0] == {"kind": "keyword", "text": "linen shirt", "signal": "search",
                                      "evidence": "searched 6 times in the last 30 days"}  # fmt: skip
    assert any(i["text"] == "Looking for blue mug?" for i in by_signal["search"])
    assert {"lovely glaze", "glaze"} & {i["text"].rsplit(" about ", 1)[1] for i in by_signal["reviews"]}
    assert any("Blue Mug" in i["text"] for i in by_signal.get("trending", []) + by_signal.get("rising", []))
    assert len(by_signal["season"]) == 1 and any(i["signal"] == "season" and "¿" in i["text"] for i in spanish)


def test_a_piece_is_localised_offline_as_the_same_variant(server: Server, store: Store) -> None:
    with _api(server, _shop(store, server)) as client:
        english = client.post("/v1/content/generate", json={**BRIEF, "variants": 1}).json()["pieces"][0]
        spanish = client.post(f"/v1/content/{english['id']}/localise", json={"language": "es"})
        assert spanish.status_code == 201, spanish.text
        localised = spanish.json()
        assert localised["language"] == "es" and localised["status"] == "draft" and not localised["blocking"]
        assert localised["brief"]["localised_from"] == english["id"]
        assert localised["brief"]["choices"] == english["brief"]["choices"]  # the same variant
        assert "SPRING20" in localised["fields"]["body_text"] and "Se aplican condiciones." in localised["fields"][
            "body_text"]  # fmt: skip
        assert client.post(f"/v1/content/{english['id']}/localise", json={"language": "en"}).status_code == 400
        german = client.post(f"/v1/content/{english['id']}/localise", json={"language": "de"})
        assert german.status_code == 409 and "content_provider" in german.json()["detail"]


def test_a_brief_for_a_segment_writes_about_what_the_segment_likes(server: Server, store: Store) -> None:
    shop = _shop(store, server)
    fans = [{"type": "track", "userId": f"fan{i}", "event": "Product Viewed", "properties": {"product_id": "lamp"}}
            for i in range(3)]  # fmt: skip
    others = [{"type": "track", "userId": f"o{i}", "event": "Order Completed",
               "properties": {"order_id": f"o{i}", "products": [{"product_id": "mug"}]}} for i in range(5)]  # fmt: skip
    messages = (
        fans + others + [{"type": "identify", "userId": f"fan{i}", "traits": {"club": "light"}} for i in range(3)]
    )
    assert import_messages(store, shop.id, (ImportedMessage(line=n, message=m) for n, m in enumerate(messages)),
                           Settings()).stored == len(messages)  # fmt: skip
    with _api(server, shop) as client:
        segment = client.post("/v1/segments", json={"name": "light-club", "text": 'trait.club = "light"'})
        assert segment.status_code == 201 and segment.json()["size"] == 3, segment.text
        brief = {"content_type": "subject_line", "segment": "light-club", "variants": 2}
        for_fans = client.post("/v1/content/generate", json=brief).json()["pieces"]
        assert all(piece["products"] == ["lamp"] for piece in for_fans)  # the mug sells more, but not to them
        everyone = client.post("/v1/content/generate", json={**brief, "segment": None}).json()["pieces"]
        assert everyone[0]["products"][0] == "mug"  # trending for everyone
        unknown = client.post("/v1/content/generate", json={**brief, "segment": "nobody"})
        assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "segment"
