"""Rule segments as a workspace keeps them: defined (JSON or text), rebuilt in bulk, and followed as events
arrive, so that a new order moves a person in or out within seconds. Every entry and exit is recorded
(`segment_changes`), and each rebuild adds a point to the size history.

The follower reads events past a cursor (`events.seq`) and re-evaluates the people they belong to. A
window that slides past someone ("ordered in the last 90 days") changes no event, so the periodic rebuild
(`afinidad worker`) is what moves those people out."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from afinidad.errors import Conflict, FieldProblem, InvalidInput, NotFound
from afinidad.segments import rules as rule_language
from afinidad.segments.evaluate import select as select_members
from afinidad.segments.facts import CHUNK, current_members, gather
from afinidad.store.engine import Store
from afinidad.store.models import Event, Segment, SegmentChange, SegmentCursor, SegmentMember, SegmentSize

FOLLOW_BATCH = 5_000  # events read per follower step


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _rule_of(rule: Any, text: str | None) -> rule_language.Rule:
    if (rule is None) == (text is None):
        raise InvalidInput("Give the rule as JSON (`rule`) or as text (`text`), one of them.",
                           [FieldProblem("rule", "exactly one of rule and text")])  # fmt: skip
    return rule_language.parse(text) if text is not None else rule_language.from_json(rule)


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 100 or name.startswith("seg_"):
        raise InvalidInput("Invalid segment name.", [FieldProblem("name", "1 to 100 characters, not starting seg_")])
    return name


def _by_name_or_id(session: Session, workspace_id: str) -> dict[str, Segment]:
    rows = session.execute(select(Segment).where(Segment.workspace_id == workspace_id)).scalars().all()
    return {key: row for row in rows for key in (row.id, row.name)}


def _check_references(session: Session, workspace_id: str, rule: rule_language.Rule, own: str | None) -> None:
    """Every segment a rule reads exists, and reading it makes no cycle back to this one."""
    known = _by_name_or_id(session, workspace_id)
    missing = [name for name in rule_language.references(rule) if name not in known]
    if missing:
        raise InvalidInput("The rule reads segments that do not exist.",
                           [FieldProblem("rule", f"no segment {name!r}") for name in sorted(missing)])  # fmt: skip
    if own is None:
        return
    seen, stack = set(), [known[name].id for name in rule_language.references(rule)]
    while stack:
        current = stack.pop()
        if current == own:
            raise InvalidInput("The rule would make segments read each other in a cycle.",
                               [FieldProblem("rule", "reads, through other segments, the segment itself")])  # fmt: skip
        if current in seen:
            continue
        seen.add(current)
        reading = session.get(Segment, current)
        if reading is None or reading.kind != "rule":
            continue
        stack.extend(known[name].id for name in rule_language.references(rule_language.from_json(reading.rule))
                     if name in known)  # fmt: skip


def describe(row: Segment) -> dict[str, Any]:
    text = rule_language.to_text(rule_language.from_json(row.rule)) if row.kind == "rule" else None
    return {"id": row.id, "name": row.name, "kind": row.kind, "description": row.description,
            "rule": row.rule if row.kind == "rule" else None, "text": text, "size": row.size,
            "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at),
            "rebuilt_at": _iso(row.rebuilt_at)}  # fmt: skip


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") + "Z" if moment else None


def create_segment(
    store: Store, workspace_id: str, name: str, *, rule: Any = None, text: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Define a segment and fill it at once (a bulk build of its members)."""
    parsed = _rule_of(rule, text)
    name = _check_name(name)
    with store.session() as session:
        _check_references(session, workspace_id, parsed, None)
        now = _now()
        row = Segment(id="seg_" + uuid.uuid4().hex[:20], workspace_id=workspace_id, name=name,
                      description=description, rule=rule_language.to_json(parsed), size=0, created_at=now,
                      updated_at=now)  # fmt: skip
        if session.get(SegmentCursor, workspace_id) is None:  # follow from here: the build below covers the past
            latest = session.execute(select(func.max(Event.seq)).where(Event.workspace_id == workspace_id)).scalar()
            session.add(SegmentCursor(workspace_id=workspace_id, last_seq=int(latest or 0)))
        session.add(row)
        try:
            session.flush()
        except IntegrityError as error:
            raise Conflict(f"A segment named {name!r} already exists in this workspace.") from error
        segment_id = row.id
    rebuild(store, workspace_id, [segment_id])
    with store.reader() as session:
        return describe(_get(session, workspace_id, segment_id))


def update_segment(
    store: Store, workspace_id: str, segment: str, *, rule: Any = None, text: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    parsed = _rule_of(rule, text)
    with store.session() as session:
        row = _get(session, workspace_id, segment)
        if row.kind != "rule":
            raise Conflict(f"{row.name!r} is made by a model (`afinidad segments learn`); its rule cannot be set.")
        _check_references(session, workspace_id, parsed, row.id)
        row.rule = rule_language.to_json(parsed)
        row.updated_at = _now()
        if description is not None:
            row.description = description
        segment_id = row.id
    rebuild(store, workspace_id, [segment_id])
    with store.reader() as session:
        return describe(_get(session, workspace_id, segment_id))


def delete_segment(session: Session, workspace_id: str, segment: str) -> None:
    row = _get(session, workspace_id, segment)
    readers = [other.name for other in _by_name_or_id(session, workspace_id).values()
               if other.id != row.id and other.kind == "rule" and {row.id, row.name} & rule_language.references(
                   rule_language.from_json(other.rule))]  # fmt: skip
    if readers:
        raise Conflict(f"Segments {sorted(set(readers))} read this one; change them first.")
    for table in (SegmentMember, SegmentSize):
        session.execute(delete(table).where(table.segment_id == row.id))
    session.delete(row)


def _get(session: Session, workspace_id: str, segment: str) -> Segment:
    row = session.execute(
        select(Segment).where(Segment.workspace_id == workspace_id, (Segment.id == segment) | (Segment.name == segment))
    ).scalar()
    if row is None:
        raise NotFound("No segment has this name or id in this workspace.")
    return row


def get_segment(session: Session, workspace_id: str, segment: str) -> dict[str, Any]:
    return describe(_get(session, workspace_id, segment))


def list_segments(session: Session, workspace_id: str) -> list[dict[str, Any]]:
    rows = session.execute(select(Segment).where(Segment.workspace_id == workspace_id).order_by(Segment.name))
    return [describe(row) for row in rows.scalars()]


def _ordered(rows: list[Segment]) -> list[Segment]:
    """Segments read by others come first, so a rule reading a segment sees its fresh members."""
    by_key = {key: row for row in rows for key in (row.id, row.name)}
    done: list[Segment] = []
    visiting: set[str] = set()

    def visit(row: Segment) -> None:
        if row in done or row.id in visiting:
            return
        visiting.add(row.id)
        for name in rule_language.references(rule_language.from_json(row.rule)) if row.kind == "rule" else ():
            if name in by_key:
                visit(by_key[name])
        done.append(row)

    for row in rows:
        visit(row)
    return done


@dataclass(frozen=True)
class Rebuilt:
    segment_id: str
    name: str
    size: int
    entered: int
    left: int


def rebuild(
    store: Store,
    workspace_id: str,
    segment_ids: list[str] | None = None,
    now: datetime | None = None,
    on_segment: Callable[[str], None] | None = None,
) -> list[Rebuilt]:
    """Recompute the members of the workspace's segments (or these) over every profile, record who
    entered and left, and add a point to each size history."""
    now = now or _now()
    with store.reader() as session:
        rows = session.execute(select(Segment).where(Segment.workspace_id == workspace_id)).scalars().all()
        for row in rows:
            session.expunge(row)
    wanted = _ordered([row for row in rows if row.kind == "rule" and (segment_ids is None or row.id in segment_ids)])
    names = {row.name: row.id for row in rows}
    results = []
    fresh: dict[str, set[str]] = {}
    for row in wanted:
        if on_segment:
            on_segment(row.name)
        rule = rule_language.from_json(row.rule)
        with store.reader() as session:
            facts = gather(session, workspace_id, [rule], now)
            for name in rule_language.references(rule):
                other = names.get(name, name)
                facts.members[name] = fresh.get(other) or current_members(session, other)
            before = current_members(session, row.id)
        members = select_members(rule, facts, names)
        fresh[row.id] = members
        with store.session() as session:
            entered, left = apply_changes(session, workspace_id, row.id, before, members, now)
            session.execute(update(Segment).where(Segment.id == row.id).values(size=len(members), rebuilt_at=now))
            session.merge(SegmentSize(segment_id=row.id, at=now, size=len(members)))
        results.append(Rebuilt(row.id, row.name, len(members), entered, left))
    return results


def apply_changes(session: Session, workspace_id: str, segment_id: str, before: set[str], after: set[str],
           now: datetime) -> tuple[int, int]:  # fmt: skip
    entered, left = sorted(after - before), sorted(before - after)
    for start in range(0, len(left), CHUNK):
        chunk = left[start : start + CHUNK]
        session.execute(delete(SegmentMember).where(SegmentMember.segment_id == segment_id,
                                                    SegmentMember.profile_id.in_(chunk)))  # fmt: skip
    if entered:
        rows = [{"segment_id": segment_id, "profile_id": pid, "workspace_id": workspace_id, "since": now}
                for pid in entered]  # fmt: skip
        session.execute(insert(SegmentMember), rows)
    base = {"workspace_id": workspace_id, "segment_id": segment_id, "at": now}
    changes = [base | {"profile_id": pid, "entered": True} for pid in entered]
    changes += [base | {"profile_id": pid, "entered": False} for pid in left]
    if changes:
        session.execute(insert(SegmentChange), changes)
    return len(entered), len(left)


def rebuild_stale(store: Store, max_age: timedelta, now: datetime | None = None) -> list[Rebuilt]:
    """Rebuild every segment not rebuilt for `max_age` (what moves people out of sliding windows)."""
    now = now or _now()
    with store.reader() as session:
        stale = session.execute(
            select(Segment.workspace_id, Segment.id).where(Segment.kind == "rule",
                (Segment.rebuilt_at.is_(None)) | (Segment.rebuilt_at <= now - max_age))
        ).all()  # fmt: skip
    by_workspace: dict[str, list[str]] = {}
    for workspace_id, segment_id in stale:
        by_workspace.setdefault(workspace_id, []).append(segment_id)
    done: list[Rebuilt] = []
    for workspace_id, segment_ids in sorted(by_workspace.items()):
        done += rebuild(store, workspace_id, segment_ids, now)
    return done


def follow(store: Store, now: datetime | None = None) -> int:
    """One step of following: for each workspace with segments, read the events past its cursor and
    re-evaluate the people they belong to in every segment. Returns the events read."""
    now = now or _now()
    with store.reader() as session:
        workspaces = sorted(set(session.execute(select(Segment.workspace_id).where(Segment.kind == "rule")).scalars()))
    read = 0
    for workspace_id in workspaces:
        read += _follow_workspace(store, workspace_id, now)
    return read


def _follow_workspace(store: Store, workspace_id: str, now: datetime) -> int:
    with store.reader() as session:
        cursor = session.get(SegmentCursor, workspace_id)
        if cursor is None:  # a new follower starts from now: the build at creation covered the past
            latest = session.execute(select(func.max(Event.seq)).where(Event.workspace_id == workspace_id)).scalar()
            start = int(latest or 0)
            new: list[tuple[int, str | None]] = []
        else:
            start = cursor.last_seq
            new = list(session.execute(
                select(Event.seq, Event.profile_id).where(Event.workspace_id == workspace_id, Event.seq > start)
                .order_by(Event.seq).limit(FOLLOW_BATCH)))  # fmt: skip
    last = new[-1][0] if new else start
    people = {profile for _, profile in new if profile}
    if people:
        _reevaluate(store, workspace_id, people, now)
    with store.session() as session:
        session.merge(SegmentCursor(workspace_id=workspace_id, last_seq=last))
    return len(new)


def _reevaluate(store: Store, workspace_id: str, profile_ids: set[str], now: datetime) -> None:
    """Bring these people's memberships up to date in every segment of the workspace."""
    from afinidad.store.models import Profile

    with store.reader() as session:
        rows = session.execute(select(Segment).where(Segment.workspace_id == workspace_id)).scalars().all()
        for row in rows:
            session.expunge(row)
        unified = {merged or pid for pid, merged in session.execute(
            select(Profile.id, Profile.merged_into).where(Profile.workspace_id == workspace_id,
                                                          Profile.id.in_(sorted(profile_ids))))}  # fmt: skip
    names = {row.name: row.id for row in rows}
    fresh: dict[str, set[str]] = {}
    for row in _ordered([row for row in rows if row.kind == "rule"]):
        rule = rule_language.from_json(row.rule)
        with store.reader() as session:
            facts = gather(session, workspace_id, [rule], now, only=unified)
            for name in rule_language.references(rule):
                other = names.get(name, name)
                facts.members[name] = fresh.get(other) or current_members(session, other, facts.profiles)
            before = current_members(session, row.id, facts.profiles)
        members = select_members(rule, facts, names)
        fresh[row.id] = members
        if members == before:
            continue
        with store.session() as session:
            entered, left = apply_changes(session, workspace_id, row.id, before, members, now)
            session.execute(update(Segment).where(Segment.id == row.id).values(size=Segment.size + entered - left))


def members(session: Session, workspace_id: str, segment: str, limit: int = 100, after: str | None = None
            ) -> dict[str, Any]:  # fmt: skip
    """A page of members (by profile id), with each one's traits and since when they are in."""
    from afinidad.store.models import Profile

    if not 1 <= limit <= 1000:
        raise InvalidInput("Invalid page.", [FieldProblem("limit", "must be between 1 and 1000")])
    row = _get(session, workspace_id, segment)
    query = (select(SegmentMember.profile_id, SegmentMember.since, Profile.traits)
             .join(Profile, Profile.id == SegmentMember.profile_id)
             .where(SegmentMember.segment_id == row.id).order_by(SegmentMember.profile_id).limit(limit))  # fmt: skip
    if after:
        query = query.where(SegmentMember.profile_id > after)
    found = [{"profile_id": pid, "since": _iso(since), "traits": traits or {}}
             for pid, since, traits in session.execute(query)]  # fmt: skip
    return {"segment": row.id, "size": row.size, "members": found,
            "next": found[-1]["profile_id"] if len(found) == limit else None}  # fmt: skip


def sizes(session: Session, workspace_id: str, segment: str, limit: int = 365) -> list[dict[str, Any]]:
    row = _get(session, workspace_id, segment)
    points = session.execute(select(SegmentSize.at, SegmentSize.size).where(SegmentSize.segment_id == row.id)
                             .order_by(SegmentSize.at.desc()).limit(limit)).all()  # fmt: skip
    return [{"at": _iso(at), "size": size} for at, size in reversed(points)]


def changes(session: Session, workspace_id: str, segment: str, limit: int = 100) -> list[dict[str, Any]]:
    row = _get(session, workspace_id, segment)
    rows = session.execute(select(SegmentChange.profile_id, SegmentChange.entered, SegmentChange.at)
                           .where(SegmentChange.segment_id == row.id)
                           .order_by(SegmentChange.id.desc()).limit(limit)).all()  # fmt: skip
    return [{"profile_id": pid, "entered": entered, "at": _iso(at)} for pid, entered, at in rows]


def export_csv(session: Session, workspace_id: str, segment: str, traits: list[str]) -> Iterator[str]:
    """The members as CSV lines: profile id, since, and the asked traits (dotted names allowed)."""
    from afinidad.segments.evaluate import trait_value

    after = None
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["profile_id", "since", *traits])
    yield buffer.getvalue()
    while True:
        page = members(session, workspace_id, segment, limit=1000, after=after)
        buffer.seek(0)
        buffer.truncate()
        for member in page["members"]:
            writer.writerow([member["profile_id"], member["since"],
                             *(_cell(trait_value(member["traits"], name)[1]) for name in traits)])  # fmt: skip
        yield buffer.getvalue()
        after = page["next"]
        if after is None:
            return


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # no formula runs when the CSV is opened in a spreadsheet
    return str(value)
