"""RFM groups and micro-segments as segments of a workspace, on SQLite and PostgreSQL: everyone in exactly
one RFM group, scores on profiles, rules reading them, ids kept by a retrain, and no rule set on them."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from afinidad.catalog.service import upsert_products
from afinidad.demo.loader import demo_products
from afinidad.demo.simulator import simulate
from afinidad.segments.learned import learn
from afinidad.segments.service import create_segment, list_segments, members
from afinidad.settings import Settings
from afinidad.store.engine import Store
from afinidad.store.models import Profile, ProfileScore
from afinidad.tracking.bulk import import_messages
from afinidad.tracking.importer import ImportedMessage
from afinidad.workspaces.service import create_workspace
from tests.conftest import Server


def test_learned_segments_cover_everyone_and_feed_rules(server: Server, store: Store) -> None:
    with store.session() as session:
        shop = create_workspace(session, f"learn-{uuid.uuid4().hex[:8]}")
        upsert_products(session, shop.id, demo_products(7))
    messages = (ImportedMessage(line=i + 1, message=m) for i, m in enumerate(simulate(seed=9, shoppers=250, days=45)))
    import_messages(store, shop.id, messages, Settings(), chunk_size=2000)
    first = learn(store, shop.id)
    rfm = [row for row in first if row.kind == "rfm"]
    micro = [row for row in first if row.kind == "micro"]
    with store.reader() as session:
        people = session.execute(select(func.count()).select_from(Profile).where(
            Profile.workspace_id == shop.id, Profile.merged_into.is_(None))).scalar()  # fmt: skip
        scored = session.execute(select(func.count()).select_from(ProfileScore).where(
            ProfileScore.workspace_id == shop.id, ProfileScore.name == "rfm_recency")).scalar()  # fmt: skip
    assert sum(row.size for row in rfm) == people  # exactly one group each, "No purchase yet" included
    buyers = people - next(row.size for row in rfm if row.name == "RFM: No purchase yet")
    assert scored == buyers
    clustered = sum(row.size for row in micro)  # an order without product lines leaves nothing to cluster on
    assert 0.95 * buyers <= clustered <= buyers
    assert len(micro) >= 3 and all(row.description for row in micro)
    assert len({row.description for row in micro}) == len(micro)

    made = create_segment(store, shop.id, "champions-or-loyal",
                          text='segment "RFM: Champions" or segment "RFM: Loyal customers"')  # fmt: skip
    sizes = {row.name: row.size for row in rfm}
    assert made["size"] == sizes["RFM: Champions"] + sizes["RFM: Loyal customers"]
    recent = create_segment(store, shop.id, "recent", text="score.rfm_recency >= 4")
    assert 0 < recent["size"] < buyers

    again = learn(store, shop.id)  # the same orders: the same groups and the same micro-segments
    assert {(row.name, row.size) for row in again} == {(row.name, row.size) for row in first}
    assert all(row.entered == row.left == 0 for row in again)
    with store.reader() as session:
        listed = {row["name"]: row for row in list_segments(session, shop.id)}
        champion = members(session, shop.id, "RFM: Champions", limit=5)
    assert listed["RFM: Champions"]["kind"] == "rfm" and listed["RFM: Champions"]["text"] is None
    assert champion["members"] and champion["size"] == sizes["RFM: Champions"]
    with server.client(headers={"Authorization": f"Bearer {shop.secret_key}"}) as client:
        refused = client.patch("/v1/segments/RFM: Champions", json={"text": "consent.email"})
        assert refused.status_code == 409 and "made by a model" in refused.text
