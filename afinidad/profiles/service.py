"""Profiles and identities in the store: attribute incoming events, answer profile look-ups, rebuild.

`attribute` is the one path by which events reach profiles, used by live ingestion and by `rebuild`
alike, so a rebuilt workspace is what live ingestion would have produced."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from afinidad.errors import FieldProblem, InvalidInput, NotFound
from afinidad.profiles.identifiers import (
    ANONYMOUS_ID,
    EMAIL,
    PHONE,
    USER_ID,
    Identifier,
    message_identifiers,
    normalise_email,
    normalise_phone,
)
from afinidad.profiles.resolution import IdentityGraph, IdentityRecord, ProfileRecord, ResolvableMessage
from afinidad.store.bulk import write_many
from afinidad.store.models import Event, Identity, Profile, ProfileMerge

_CHUNK = 500  # identifiers per IN (...) query: far below SQLite's and PostgreSQL's parameter limits


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def identifiers_of_row(row: dict[str, Any], default_region: str) -> list[Identifier]:
    return message_identifiers(
        user_id=row.get("user_id"),
        anonymous_id=row.get("anonymous_id"),
        previous_id=row.get("previous_id"),
        traits=row.get("traits") if row.get("type") == "identify" else None,
        context=row.get("context"),
        default_region=default_region,
    )


_IDENTITIES = Identity.__table__
_PROFILE_COLUMNS = ("id", "workspace_id", "merged_into", "shared", "traits", "event_counts", "first_seen", "last_seen",
                    "created_at")  # fmt: skip
_IDENTITY_COLUMNS = ("workspace_id", "kind", "value", "profile_id", "first_seen", "last_seen", "links", "blocked")
_MERGE_COLUMNS = ("workspace_id", "outcome", "survivor_id", "other_id", "message_id", "identifier_kind",
                  "identifier_value", "reason", "at")  # fmt: skip
_PROFILES = Profile.__table__


_IDENTITY_FIELDS = "i.kind, i.value, i.profile_id, i.first_seen, i.last_seen, i.links, i.blocked"


def _identities_where(session: Session, workspace_id: str, column: str, keys: list[str], kind: str | None = None):  # type: ignore[no-untyped-def]
    """Identity rows whose `column` (value or profile_id) is one of `keys`.

    On PostgreSQL each key is probed through its index by a LATERAL join kept apart by `OFFSET 0`, whatever
    the planner's statistics say: a plain IN, or a join the planner may flatten, let a young or never-analysed
    table be scanned whole per batch. SQLite's planner needs no help."""
    connection = session.connection()
    kind_filter = f" AND i.kind = '{kind}'" if kind else ""  # kind is one of our constants, never input
    if connection.dialect.name == "postgresql":
        sql = (
            f"SELECT {_IDENTITY_FIELDS} FROM unnest(%s::text[]) AS k(key) JOIN LATERAL "
            f"(SELECT * FROM identities i WHERE i.workspace_id = %s AND i.{column} = k.key{kind_filter} OFFSET 0) i "
            "ON true"
        )
        yield from connection.exec_driver_sql(sql, (keys, workspace_id))
        return
    for chunk in _chunks(keys):
        marks = ", ".join("?" for _ in chunk)
        sql = (
            f"SELECT {_IDENTITY_FIELDS} FROM identities i "
            f"WHERE i.workspace_id = ? AND i.{column} IN ({marks}){kind_filter}"
        )
        yield from connection.exec_driver_sql(sql, (workspace_id, *chunk))


def _load_graph(session: Session, workspace_id: str, identifiers: set[Identifier], limit: int) -> IdentityGraph:
    """The slice of the identity graph a batch touches: its identifiers, their profiles, and the user ids
    of those profiles (which the merge guard compares). Driver-level queries: this is the write hot path."""
    graph = IdentityGraph(workspace_id, max_profiles_per_identifier=limit)
    wanted = {(i.kind, i.value) for i in identifiers if i.kind != "previous_id"}
    # An alias' previous id may be a user id or an anonymous id: look up both.
    wanted |= {(kind, i.value) for i in identifiers if i.kind == "previous_id" for kind in (USER_ID, ANONYMOUS_ID)}
    # Look up by value (indexed) and filter the kind here.
    for row in _identities_where(session, workspace_id, "value", sorted({value for _, value in wanted})):
        if (row.kind, row.value) in wanted:
            graph.add_identity(_identity_record(row))
    profile_ids = sorted({record.profile_id for record in graph.identities.values()})
    if not profile_ids:
        return graph
    connection = session.connection()
    for chunk in _chunks(profile_ids, 5000):
        rows = connection.execute(
            select(
                _PROFILES.c.id, _PROFILES.c.created_at, _PROFILES.c.first_seen, _PROFILES.c.last_seen,
                _PROFILES.c.traits, _PROFILES.c.event_counts, _PROFILES.c.merged_into, _PROFILES.c.shared,
            ).where(_PROFILES.c.id.in_(chunk))
        )  # fmt: skip
        for row in rows:
            graph.add_profile(
                ProfileRecord(
                    row.id,
                    created_at=row.created_at,
                    first_seen=row.first_seen,
                    last_seen=row.last_seen,
                    traits=dict(row.traits or {}),
                    event_counts=dict(row.event_counts or {}),
                    merged_into=row.merged_into,
                    shared=row.shared,
                )
            )
    for row in _identities_where(session, workspace_id, "profile_id", profile_ids, kind=USER_ID):
        record = graph.identities.get(Identifier(USER_ID, row.value))
        if record is None:
            record = _identity_record(row)
            graph.add_identity(record)
        if not record.blocked:
            graph.profiles[record.profile_id].user_ids.add(row.value)
    return graph


def _time(value: datetime | str) -> datetime:
    # Driver-level reads on SQLite return the stored text; PostgreSQL returns datetimes.
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _identity_record(row: Any) -> IdentityRecord:
    return IdentityRecord(
        Identifier(row.kind, row.value),
        row.profile_id,
        first_seen=_time(row.first_seen),
        last_seen=_time(row.last_seen),
        links=row.links,
        blocked=bool(row.blocked),
    )


def _flush(session: Session, graph: IdentityGraph) -> None:
    """Write back only what changed, each kind of change as one executemany."""
    workspace_id = graph.workspace_id
    connection = session.connection()

    def profile_values(profile: ProfileRecord) -> dict[str, Any]:
        return {
            "id": profile.id,
            "workspace_id": workspace_id,
            "merged_into": profile.merged_into,
            "shared": profile.shared,
            "traits": profile.traits,
            "event_counts": profile.event_counts,
            "first_seen": profile.first_seen,
            "last_seen": profile.last_seen,
            "created_at": profile.created_at,
        }

    def identity_values(record: IdentityRecord) -> dict[str, Any]:
        return {
            "workspace_id": workspace_id,
            "kind": record.identifier.kind,
            "value": record.identifier.value,
            "profile_id": record.profile_id,
            "first_seen": record.first_seen,
            "last_seen": record.last_seen,
            "links": record.links,
            "blocked": record.blocked,
        }

    # Re-point what the batch did not load before writing what it did: the loaded rows carry final values.
    for merged, survivor in graph.repoints:
        connection.execute(
            update(_IDENTITIES)
            .where(_IDENTITIES.c.workspace_id == workspace_id, _IDENTITIES.c.profile_id == merged)
            .values(profile_id=survivor)
        )
        connection.execute(
            update(_PROFILES)
            .where(_PROFILES.c.workspace_id == workspace_id, _PROFILES.c.merged_into == merged)
            .values(merged_into=survivor)
        )
    write_many(
        connection,
        _PROFILES,
        _PROFILE_COLUMNS,
        (profile_values(p) for p in graph.profiles.values() if p.dirty or p.new),
        conflict=("id",),
        update=("merged_into", "shared", "traits", "event_counts", "first_seen", "last_seen"),
    )
    write_many(
        connection,
        _IDENTITIES,
        _IDENTITY_COLUMNS,
        (identity_values(r) for r in graph.identities.values() if r.dirty or r.new),
        conflict=("workspace_id", "kind", "value"),
        update=("profile_id", "first_seen", "last_seen", "links", "blocked"),
    )
    if graph.merges:
        write_many(
            connection,
            ProfileMerge.__table__,
            _MERGE_COLUMNS,
            [
                {
                    "workspace_id": workspace_id,
                    "outcome": merge.outcome,
                    "survivor_id": merge.survivor_id,
                    "other_id": merge.other_id,
                    "message_id": merge.message_id,
                    "identifier_kind": merge.identifier.kind,
                    "identifier_value": merge.identifier.value,
                    "reason": merge.reason,
                    "at": merge.at,
                }
                for merge in graph.merges
            ],
        )


def lock_workspace(session: Session, workspace_id: str) -> None:
    """Serialise identity work per workspace until the transaction ends. Resolution reads the identity graph
    and then writes it; two processes doing that at once (several API servers on one PostgreSQL, or a server
    and an import) could each link an identifier to a different profile. SQLite needs nothing here: its
    writers take the database's write lock when they begin (see `make_engine(sqlite_immediate=True)`)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (workspace_id,))


def attribute(
    session: Session,
    workspace_id: str,
    rows: list[dict[str, Any]],
    *,
    default_region: str = "US",
    max_profiles_per_identifier: int = 5,
) -> None:
    """Set `profile_id` on each event row (in order), creating, linking and merging profiles."""
    # Rows prepared by the tracking layer carry their identifiers already (worked out in the HTTP process).
    per_row = [row.get("identifiers") or identifiers_of_row(row, default_region) for row in rows]
    wanted = {identifier for identifiers in per_row for identifier in identifiers}
    graph = _load_graph(session, workspace_id, wanted, max_profiles_per_identifier)
    for row, identifiers in zip(rows, per_row, strict=True):
        if not identifiers:  # a message whose only ids failed normalisation still needs a home
            identifiers = [Identifier(ANONYMOUS_ID, row.get("anonymous_id") or row["message_id"])]
        row["profile_id"] = graph.resolve(
            ResolvableMessage(
                message_id=row["message_id"],
                type=row["type"],
                event=row.get("event"),
                timestamp=row["timestamp"],
                received_at=row["received_at"],
                identifiers=identifiers,
                traits=row["profile_traits"] if "profile_traits" in row else row.get("traits"),
            )
        )
    _flush(session, graph)


# -- reading --------------------------------------------------------------------------------------------

_KIND_ALIASES = {"user": USER_ID, "userid": USER_ID, "anonymous": ANONYMOUS_ID, "anonymousid": ANONYMOUS_ID}


def _lookup_candidates(text: str, default_region: str) -> list[Identifier]:
    if ":" in text:
        kind, _, value = text.partition(":")
        kind = _KIND_ALIASES.get(kind.strip().lower(), kind.strip().lower())
        if kind == EMAIL:
            value = normalise_email(value) or value
        elif kind == PHONE:
            value = normalise_phone(value, default_region) or value
        candidates = [Identifier(kind, value)]
        if kind not in (USER_ID, ANONYMOUS_ID, EMAIL, PHONE):
            candidates += [Identifier(USER_ID, text), Identifier(ANONYMOUS_ID, text)]  # ids may contain ':'
        return candidates
    candidates = [Identifier(USER_ID, text), Identifier(ANONYMOUS_ID, text)]
    if email := normalise_email(text):
        candidates.append(Identifier(EMAIL, email))
    if text.lstrip().startswith("+") and (phone := normalise_phone(text, default_region)):
        candidates.append(Identifier(PHONE, phone))
    return candidates


def find_profile_id(session: Session, workspace_id: str, identifier: str, default_region: str = "US") -> str:
    """A profile by its id, or by any identifier (`user_id:42`, `email:ana@example.com`, or a bare value)."""
    text = identifier.strip()
    if not text:
        raise InvalidInput("An identifier is required.", [FieldProblem("identifier", "must not be empty")])
    if text.startswith("prof_"):
        row = session.execute(
            select(Profile.id, Profile.merged_into).where(Profile.workspace_id == workspace_id, Profile.id == text)
        ).first()
        if row is not None:
            return row.merged_into or row.id
    for candidate in _lookup_candidates(text, default_region):
        profile_id = session.execute(
            select(Identity.profile_id).where(
                Identity.workspace_id == workspace_id,
                Identity.kind == candidate.kind,
                Identity.value == candidate.value,
            )
        ).scalar()
        if profile_id is not None:
            return profile_id
    if ":" not in text:  # a bare value of any other kind (a loyalty card, a device id), if it is unambiguous
        owners = set(
            session.execute(
                select(Identity.profile_id)
                .where(Identity.workspace_id == workspace_id, Identity.value == text)
                .limit(5)
            ).scalars()
        )
        if len(owners) == 1:
            return owners.pop()
    raise NotFound("No profile has this identifier in this workspace.")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="milliseconds") + "Z" if moment else None


def member_profile_ids(session: Session, workspace_id: str, profile_id: str) -> list[str]:
    absorbed = session.execute(
        select(Profile.id).where(Profile.workspace_id == workspace_id, Profile.merged_into == profile_id)
    ).scalars()
    return [profile_id, *absorbed]


def get_profile(session: Session, workspace_id: str, identifier: str, default_region: str = "US") -> dict[str, Any]:
    profile_id = find_profile_id(session, workspace_id, identifier, default_region)
    profile = session.execute(
        select(Profile).where(Profile.workspace_id == workspace_id, Profile.id == profile_id)
    ).scalar_one()
    identities = session.execute(
        select(Identity)
        .where(Identity.workspace_id == workspace_id, Identity.profile_id == profile_id)
        .order_by(Identity.kind, Identity.first_seen)
    ).scalars()
    merged = member_profile_ids(session, workspace_id, profile_id)[1:]
    counts = dict(sorted((profile.event_counts or {}).items(), key=lambda item: (-item[1], item[0])))
    return {
        "id": profile.id,
        "shared": profile.shared,
        "identities": [
            {
                "kind": row.kind,
                "value": row.value,
                "first_seen": _iso(row.first_seen),
                "last_seen": _iso(row.last_seen),
                "blocked": row.blocked,
            }
            for row in identities
        ],
        "traits": profile.traits or {},
        "first_seen": _iso(profile.first_seen),
        "last_seen": _iso(profile.last_seen),
        "event_counts": counts,
        "total_events": sum(counts.values()),
        "merged_profiles": sorted(merged),
    }


def event_view(row: Event) -> dict[str, Any]:
    view = {
        "seq": row.seq,
        "messageId": row.message_id,
        "type": row.type,
        "event": row.event,
        "userId": row.user_id,
        "anonymousId": row.anonymous_id,
        "timestamp": _iso(row.timestamp),
        "receivedAt": _iso(row.received_at),
        "context": row.context,
        "properties": row.properties,
        "traits": row.traits,
        "enrichment": row.enrichment,
    }
    if row.group_id:
        view["groupId"] = row.group_id
    if row.previous_id:
        view["previousId"] = row.previous_id
    return view


def timeline(
    session: Session,
    workspace_id: str,
    identifier: str,
    *,
    limit: int = 50,
    before: tuple[datetime, int] | None = None,
    event: str | None = None,
    default_region: str = "US",
) -> tuple[list[dict[str, Any]], tuple[datetime, int] | None]:
    """A profile's events, newest first, keyset-paginated by (timestamp, seq) so pages stay stable while
    events keep arriving."""
    profile_id = find_profile_id(session, workspace_id, identifier, default_region)
    members = member_profile_ids(session, workspace_id, profile_id)
    query = select(Event).where(Event.workspace_id == workspace_id, Event.profile_id.in_(members))
    if event:
        query = query.where(or_(Event.event == event, Event.type == event))
    if before is not None:
        moment, seq = before
        query = query.where(or_(Event.timestamp < moment, (Event.timestamp == moment) & (Event.seq < seq)))
    rows = list(session.execute(query.order_by(Event.timestamp.desc(), Event.seq.desc()).limit(limit + 1)).scalars())
    page = rows[:limit]
    next_key = (page[-1].timestamp, page[-1].seq) if len(rows) > limit else None
    return [event_view(row) for row in page], next_key


def merges_of(session: Session, workspace_id: str, identifier: str, default_region: str = "US") -> list[dict[str, Any]]:
    profile_id = find_profile_id(session, workspace_id, identifier, default_region)
    members = member_profile_ids(session, workspace_id, profile_id)
    rows = session.execute(
        select(ProfileMerge)
        .where(
            ProfileMerge.workspace_id == workspace_id,
            or_(ProfileMerge.survivor_id.in_(members), ProfileMerge.other_id.in_(members)),
        )
        .order_by(ProfileMerge.id)
    ).scalars()
    return [
        {
            "outcome": row.outcome,
            "survivor": row.survivor_id,
            "other": row.other_id,
            "messageId": row.message_id,
            "identifier": f"{row.identifier_kind}:{row.identifier_value}",
            "reason": row.reason,
            "at": _iso(row.at),
        }
        for row in rows
    ]


def count_profiles(session: Session, workspace_id: str) -> int:
    return session.execute(
        select(func.count())
        .select_from(Profile)
        .where(Profile.workspace_id == workspace_id, Profile.merged_into.is_(None), Profile.shared.is_(False))
    ).scalar_one()


# -- rebuilding -----------------------------------------------------------------------------------------

_REBUILD_COLUMNS = (
    Event.seq, Event.message_id, Event.type, Event.event, Event.user_id, Event.anonymous_id, Event.previous_id,
    Event.timestamp, Event.received_at, Event.context, Event.traits,
)  # fmt: skip


def rebuild(
    session: Session,
    workspace_id: str,
    *,
    default_region: str = "US",
    max_profiles_per_identifier: int = 5,
    chunk_size: int = 5000,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Drop the workspace's profiles, identities and merges and derive them again from its events, in the
    order they were received. Returns the number of events replayed."""
    lock_workspace(session, workspace_id)
    for table in (Profile, Identity, ProfileMerge):
        session.execute(delete(table).where(table.workspace_id == workspace_id))
    total = session.execute(
        select(func.count()).select_from(Event).where(Event.workspace_id == workspace_id)
    ).scalar_one()
    done, last_seq = 0, 0
    while True:
        batch = session.execute(
            select(*_REBUILD_COLUMNS)
            .where(Event.workspace_id == workspace_id, Event.seq > last_seq)
            .order_by(Event.seq)
            .limit(chunk_size)
        ).all()
        if not batch:
            break
        rows = [dict(row._mapping) for row in batch]
        attribute(
            session,
            workspace_id,
            rows,
            default_region=default_region,
            max_profiles_per_identifier=max_profiles_per_identifier,
        )
        session.execute(
            update(Event),
            [{"seq": row["seq"], "profile_id": row["profile_id"]} for row in rows],
        )
        last_seq = rows[-1]["seq"]
        done += len(rows)
        if on_progress:
            on_progress(done, total)
    return done
