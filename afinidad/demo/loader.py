"""The main job's data step: a demo workspace filled with simulated shoppers across web, app, e-mail and
store, stored through the same validation and identity resolution as live traffic."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from afinidad.catalog.products import ProductIn
from afinidad.catalog.service import upsert_products
from afinidad.demo.catalog import generate_catalog
from afinidad.demo.simulator import TEST_EMAIL, simulate
from afinidad.profiles import service as profiles
from afinidad.settings import Settings
from afinidad.store.engine import Store
from afinidad.store.models import Identity, Workspace
from afinidad.tracking.bulk import ImportReport, import_messages
from afinidad.tracking.importer import ImportedMessage
from afinidad.workspaces.service import CreatedWorkspace, create_workspace, issue_keys

DEMO_WORKSPACE = "demo"


@dataclass(frozen=True)
class DemoData:
    workspace: CreatedWorkspace
    report: ImportReport
    profiles: int
    example_user: str | None
    blocked_identifiers: list[str]


def load_demo(
    store: Store,
    settings: Settings,
    *,
    seed: int = 7,
    shoppers: int = 300,
    days: int = 30,
    end: datetime | None = None,
    on_progress: Callable[[ImportReport], None] | None = None,
) -> DemoData:
    """Create (or reuse) the `demo` workspace with fresh keys, its catalogue, and the simulated shoppers.
    Loading twice stores nothing twice: the simulator's message ids are deterministic for a seed and a day."""
    with store.session() as session:
        exists = session.execute(select(Workspace.id).where(Workspace.name == DEMO_WORKSPACE)).first()
        workspace = issue_keys(session, DEMO_WORKSPACE) if exists else create_workspace(session, DEMO_WORKSPACE)
    with store.session() as session:
        upsert_products(session, workspace.id, demo_products(seed), source="demo")
    messages = (
        ImportedMessage(line=index + 1, message=message)
        for index, message in enumerate(simulate(seed=seed, shoppers=shoppers, days=days, end=end))
    )
    report = import_messages(store, workspace.id, messages, settings, chunk_size=2000, on_progress=on_progress)
    with store.reader() as session:
        count = profiles.count_profiles(session, workspace.id)
        example = _best_example(session, workspace.id)
        blocked = [
            f"{row.kind}:{row.value}"
            for row in session.execute(
                select(Identity.kind, Identity.value).where(
                    Identity.workspace_id == workspace.id, Identity.blocked.is_(True)
                )
            )
        ]
    return DemoData(workspace, report, count, example, sorted(blocked))


def demo_products(seed: int) -> list[tuple[str, ProductIn]]:
    """The simulator's catalogue as catalog products, with stock in the web shop and the Madrid store (a few
    sold out, so in-stock filters have something to do)."""
    rng = random.Random(f"afinidad-demo-stock:{seed}")
    return [
        (product.product_id, ProductIn(title=product.title, brand=product.brand, category=product.category,
                                       price=str(product.price), currency=product.currency, language="en",
                                       attributes={"sku": product.sku, "repeat_purchase": product.repeat_purchase},
                                       stock={"online": rng.choice([0, 3, 12, 40]), "madrid": rng.choice([0, 2, 8])}))
        for product in generate_catalog(seed)
    ]  # fmt: skip


def _best_example(session, workspace_id: str) -> str | None:  # type: ignore[no-untyped-def]
    """A user whose profile joins the most kinds of identifier: the best one to look at first."""
    rows = session.execute(
        select(Identity.profile_id, Identity.kind, Identity.value).where(
            Identity.workspace_id == workspace_id, Identity.blocked.is_(False)
        )
    ).all()
    kinds: dict[str, set[str]] = {}
    users: dict[str, str] = {}
    for profile_id, kind, value in rows:
        kinds.setdefault(profile_id, set()).add(kind)
        if kind == "user_id" and value != TEST_EMAIL:
            users.setdefault(profile_id, value)
    ranked = sorted((p for p in kinds if p in users), key=lambda p: (-len(kinds[p]), p))
    return users[ranked[0]] if ranked else None
