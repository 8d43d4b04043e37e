"""Next best action from a randomized experiment in a workspace, through the real API on SQLite and
PostgreSQL: a discount works for past buyers only, free shipping for newcomers only, and nothing is best for
no one; the model learns who gets what from exposures and the events that followed, beats every
one-action-for-all policy on a held-out half, and answers per person with a logged decision."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select

from afinidad.decide import experiment_service, next_action
from afinidad.decide.behaviour import FEATURES, HORIZON_DAYS, behaviour
from afinidad.decide.outcomes import Happened
from afinidad.settings import Settings
from afinidad.store.engine import Store
from afinidad.store.models import Decision
from afinidad.tracking.bulk import import_messages
from afinidad.tracking.importer import ImportedMessage
from afinidad.workspaces.service import create_workspace
from tests.conftest import Server

# purchase rate per (action, kind of person): the truth the model must find
RATES = {("none", True): 0.15, ("discount", True): 0.55, ("freeship", True): 0.15,
         ("none", False): 0.10, ("discount", False): 0.10, ("freeship", False): 0.40}  # fmt: skip


def _send(store: Store, workspace_id: str, messages: list[dict[str, Any]]) -> None:
    items = (ImportedMessage(line=n, message=m) for n, m in enumerate(messages))
    assert import_messages(store, workspace_id, items, Settings()).stored == len(messages)


def test_the_next_best_action_is_learned_from_an_experiment_and_served(server: Server, store: Store) -> None:
    with store.session() as session:
        shop = create_workspace(session, f"nba-{uuid.uuid4().hex[:8]}")
    rng = random.Random(4)
    people = [f"p{i}" for i in range(2000)]
    buyers = {p for p in people if rng.random() < 0.5}
    earlier = (datetime.now(UTC) - timedelta(days=20)).isoformat()
    joined = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    _send(store, shop.id, [{"type": "identify", "userId": p, "timestamp": joined} for p in people] + [
        {"type": "track", "userId": p, "event": "Order Completed", "timestamp": earlier,
         "properties": {"revenue": 40}} for p in sorted(buyers)])  # fmt: skip
    with store.session() as session:
        experiment_service.create_experiment(session, shop.id, {
            "key": "winback", "variants": [{"id": "none", "weight": 34}, {"id": "discount", "weight": 33},
                                           {"id": "freeship", "weight": 33}],
            "metrics": [{"name": "purchase", "event": "Order Completed", "window_days": 14}]})  # fmt: skip
        experiment_service.start_experiment(session, shop.id, "winback")
    outcomes, bought = [], set()
    for person in people:
        with store.session() as session:
            action = experiment_service.assign(session, shop.id, "winback", person, {})["variant"]
        if rng.random() < RATES[(action, person in buyers)]:
            outcomes.append({"type": "track", "userId": person, "event": "Order Completed",
                             "properties": {"revenue": 30}})  # fmt: skip
            bought.add(person)
    _send(store, shop.id, outcomes)

    trained = next_action.train(store, shop.id, "winback")
    e = trained["evaluation"]
    assert trained["units"] == 2000 and trained["control"] == "none"
    for action in ("discount", "freeship"):  # each action's targeting beats random targeting
        assert e["actions"][action]["qini_auc"] > e["actions"][action]["random_qini_auc"] + 0.05
    model = e["policy_values"]["model"]["value"]
    assert all(model > e["policy_values"][a]["value"] for a in ("none", "discount", "freeship"))
    assert e["chosen_share"]["discount"] > 0.25 and e["chosen_share"]["freeship"] > 0.25

    # people whose history did not change since (someone who just bought is a past buyer now)
    asked = {"discount": sorted(buyers - bought)[:25], "freeship": sorted(set(people) - buyers - bought)[:25]}
    with server.client(headers={"Authorization": f"Bearer {shop.secret_key}"}) as client:
        for best, who in asked.items():  # most past buyers get the discount, most newcomers free shipping
            answers = [client.post("/v1/experiments/winback/next-action", json={"user": person}) for person in who]
            assert all(answer.status_code == 200 for answer in answers), answers[0].text
            right = [body for body in (a.json() for a in answers) if body["action"] == best]
            assert len(right) >= 20, [a.json()["expected_gain"] for a in answers]
            assert all(body["expected_gain"][best] > 0 and best in body["reason"] for body in right)
            assert all(body["decision_id"].startswith("dec_") and not body["send_nothing"] for body in right)
        # a stranger has no history at all, unlike everyone the model learned from: an answer, but no claim
        stranger = client.post("/v1/experiments/winback/next-action", json={"user": "someone-new"}).json()
        assert stranger["action"] in ("none", "discount", "freeship") and stranger["profile_id"] is None
        assert client.post("/v1/experiments/nope/next-action", json={"user": "p1"}).status_code == 404
    with store.reader() as session:
        logged = session.execute(select(Decision.items).where(Decision.workspace_id == shop.id,
                                                              Decision.policy == "uplift")).scalars().all()  # fmt: skip
    assert len(logged) == 51 and {"discount", "freeship"} <= {items[0]["variant"] for items in logged}
    assert all(items[0]["propensity"] == 1.0 and set(items[0]["gains"]) == {"discount", "freeship"} for items in logged)


def test_an_experiment_without_a_model_or_enough_units_says_so(server: Server, store: Store) -> None:
    with store.session() as session:
        shop = create_workspace(session, f"nba-{uuid.uuid4().hex[:8]}")
        experiment_service.create_experiment(session, shop.id, {
            "key": "tiny", "variants": [{"id": "a", "weight": 50}, {"id": "b", "weight": 50}],
            "metrics": [{"name": "purchase", "event": "Order Completed"}]})  # fmt: skip
    with server.client(headers={"Authorization": f"Bearer {shop.secret_key}"}) as client:
        missing = client.post("/v1/experiments/tiny/next-action", json={"user": "x"})
        assert missing.status_code == 404 and "next-action tiny" in missing.json()["detail"]
    try:
        next_action.train(store, shop.id, "tiny")
    except Exception as error:  # noqa: BLE001 - the type is checked below
        assert type(error).__name__ == "Conflict" and "50 exposed units" in str(error)
    else:
        raise AssertionError("training on no units must be refused")


def test_behaviour_reads_only_what_happened_before_each_moment() -> None:
    now = datetime(2026, 5, 1)
    events = [Happened("a", "Order Completed", now - timedelta(days=3), {"revenue": 20}),
              Happened("a", "Product Viewed", now - timedelta(days=1), {}),
              Happened("a", "Order Completed", now + timedelta(days=1), {"revenue": 99}),  # after: ignored
              Happened("b", "Product Viewed", now - timedelta(days=400), {})]  # beyond the horizon  # fmt: skip
    matrix = behaviour(["a", "b", "c"], {"a": now, "b": now, "c": now}, events)
    row = dict(zip(FEATURES, matrix[0], strict=True))
    assert row["orders"] == 1 and row["revenue"] == 20 and row["product_views"] == 1 and row["events"] == 2
    assert row["days_since_last_order"] == 3 and row["days_since_last_event"] == 1  # whole days
    assert row["days_since_first_event"] == 3 and row["active_days"] == 2
    assert np.all(matrix[1] == matrix[2]) and matrix[2][4] == HORIZON_DAYS  # no history: the same row
