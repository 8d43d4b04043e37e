"""Identity resolution: which profile a message belongs to, and which profiles it proves are one person.

Pure logic over an in-memory slice of the identity graph (`IdentityGraph`); `profiles.service` loads the
slice a batch needs, runs every message through `resolve`, and writes back what changed. Rebuilding from
the event log runs the same code, so live ingestion and `profiles rebuild` agree.

Rules, in the spirit of Segment Unify:
- identifiers seen together belong to one profile: profiles they point to are merged, the older survives;
- a profile holds at most one `user_id`: two profiles with different user ids are never merged by
  co-occurrence (only an explicit `alias` does that) — the merge is refused and recorded;
- an identifier seen on more than `max_profiles_per_identifier` profiles (a shared tablet,
  `test@test.com`) is blocked: it stops linking and moves to a `shared` profile of its own, so activity
  that carries nothing else no longer lands on a real person."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from afinidad.profiles.identifiers import ANONYMOUS_ID, PREVIOUS_ID, USER_ID, Identifier, profile_id_for

LAST_SEEN_STEP = timedelta(hours=1)


@dataclass
class IdentityRecord:
    identifier: Identifier
    profile_id: str
    first_seen: datetime
    last_seen: datetime
    links: int = 0
    blocked: bool = False
    new: bool = False
    dirty: bool = False


@dataclass
class ProfileRecord:
    id: str
    created_at: datetime
    first_seen: datetime
    last_seen: datetime
    traits: dict[str, Any] = field(default_factory=dict)
    event_counts: dict[str, int] = field(default_factory=dict)
    user_ids: set[str] = field(default_factory=set)
    merged_into: str | None = None
    shared: bool = False
    new: bool = False
    dirty: bool = False


@dataclass(frozen=True)
class MergeRecord:
    outcome: str  # merged | refused | blocked
    survivor_id: str
    other_id: str
    message_id: str
    identifier: Identifier
    reason: str
    at: datetime


@dataclass(frozen=True)
class ResolvableMessage:
    """What resolution needs to know of a message."""

    message_id: str
    type: str
    event: str | None
    timestamp: datetime
    received_at: datetime
    identifiers: list[Identifier]
    traits: dict[str, Any] | None = None


@dataclass
class IdentityGraph:
    workspace_id: str
    max_profiles_per_identifier: int = 5
    identities: dict[Identifier, IdentityRecord] = field(default_factory=dict)
    profiles: dict[str, ProfileRecord] = field(default_factory=dict)
    merges: list[MergeRecord] = field(default_factory=list)
    # (merged, survivor) pairs in order: the store re-points identities and profiles it did not load.
    repoints: list[tuple[str, str]] = field(default_factory=list)
    # Indexes so a merge touches only what it moves, however large the loaded slice (a rebuild loads all).
    _members: dict[str, set[Identifier]] = field(default_factory=dict)
    _absorbed: dict[str, set[str]] = field(default_factory=dict)

    def add_identity(self, record: IdentityRecord) -> None:
        self.identities[record.identifier] = record
        self._members.setdefault(record.profile_id, set()).add(record.identifier)

    def add_profile(self, profile: ProfileRecord) -> None:
        self.profiles[profile.id] = profile
        if profile.merged_into:
            self._absorbed.setdefault(profile.merged_into, set()).add(profile.id)

    def _move_identity(self, record: IdentityRecord, profile_id: str) -> None:
        self._members.get(record.profile_id, set()).discard(record.identifier)
        record.profile_id = profile_id
        record.dirty = True
        self._members.setdefault(profile_id, set()).add(record.identifier)

    # -- the one entry point -------------------------------------------------------------------------
    def resolve(self, message: ResolvableMessage) -> str:
        """Attribute `message` to a profile, linking and merging as its identifiers prove; returns its id."""
        identifiers = self._resolve_previous_id(message.identifiers)
        explicit = message.type == "alias"
        known = {i: self.identities.get(i) for i in identifiers}
        linkable = [i for i in identifiers if not (known[i] and known[i].blocked)]  # type: ignore[union-attr]
        if not linkable:
            record = known[identifiers[0]]
            assert record is not None
            self._touch_identity(record, message.timestamp)
            return self._record_activity(record.profile_id, message)

        candidates = self._candidates(linkable, known)
        if len(candidates) > 1:
            # Joining these profiles would put an identifier on too many: block it before it links them.
            for identifier in list(linkable):
                record = known[identifier]
                if (
                    record
                    and identifier.kind != USER_ID
                    and record.links + len(candidates) > self.max_profiles_per_identifier
                ):
                    record.links += len(candidates) - 1
                    self._block(record, message)
                    linkable.remove(identifier)
            if not linkable:
                return self._record_activity(self.identities[identifiers[0]].profile_id, message)
            candidates = self._candidates(linkable, known)
        user_id = next((i.value for i in linkable if i.kind == USER_ID), None)
        primary = self._choose_primary(candidates, user_id, known, message, linkable)

        # Identifiers already on the primary profile are "seen with" every profile this message joins too.
        on_primary = [i for i in linkable if known[i] and known[i].profile_id == primary]  # type: ignore[union-attr]
        for other in candidates:
            if other == primary or self.profiles[primary].merged_into:
                continue
            bridging = [i for i in linkable if known[i] and known[i].profile_id == other]  # type: ignore[union-attr]
            if not explicit and self._conflict(primary, other, user_id):
                self.merges.append(
                    MergeRecord("refused", primary, other, message.message_id, bridging[0],
                                "profiles have different user ids", message.timestamp)
                )  # fmt: skip
            else:
                self._merge(other, primary, message, bridging[0])
            for identifier in dict.fromkeys([*bridging, *on_primary]):
                self._note_link(identifier, message)

        for identifier in linkable:
            record = self.identities.get(identifier)
            if record is None:
                self.add_identity(
                    IdentityRecord(identifier, primary, message.timestamp, message.timestamp, new=True, dirty=True)
                )
                if identifier.kind == USER_ID:
                    self.profiles[primary].user_ids.add(identifier.value)
            else:
                self._touch_identity(record, message.timestamp)
        return self._record_activity(primary, message)

    # -- steps ---------------------------------------------------------------------------------------
    def _resolve_previous_id(self, identifiers: list[Identifier]) -> list[Identifier]:
        """An alias' previousId is a former user id if we know one by that value, else an anonymous id."""
        resolved = []
        for identifier in identifiers:
            if identifier.kind == PREVIOUS_ID:
                as_user = Identifier(USER_ID, identifier.value)
                identifier = as_user if as_user in self.identities else Identifier(ANONYMOUS_ID, identifier.value)
            if identifier not in resolved:
                resolved.append(identifier)
        return resolved

    def _choose_primary(
        self,
        candidates: list[str],
        user_id: str | None,
        known: dict[Identifier, IdentityRecord | None],
        message: ResolvableMessage,
        linkable: list[Identifier],
    ) -> str:
        if user_id is not None:
            record = known.get(Identifier(USER_ID, user_id))
            if record is not None and not record.blocked:
                return record.profile_id
            compatible = [c for c in candidates if not self.profiles[c].user_ids]
            if compatible:
                return self._oldest(compatible)
            return self._new_profile(Identifier(USER_ID, user_id), message)
        if candidates:
            identified = [c for c in candidates if self.profiles[c].user_ids]
            return identified[0] if identified else self._oldest(candidates)
        return self._new_profile(linkable[0], message)

    def _oldest(self, profile_ids: list[str]) -> str:
        return min(profile_ids, key=lambda p: (self.profiles[p].created_at, p))

    def _conflict(self, primary: str, other: str, message_user_id: str | None) -> bool:
        """Two different people: both sides carry a user id and they differ."""
        mine = set(self.profiles[primary].user_ids)
        if message_user_id:
            mine.add(message_user_id)
        theirs = self.profiles[other].user_ids
        return bool(mine and theirs and mine != theirs)

    def _new_profile(self, identifier: Identifier, message: ResolvableMessage, *, shared: bool = False) -> str:
        profile_id = profile_id_for(self.workspace_id, identifier, shared=shared)
        existing = self.profiles.get(profile_id)
        if existing is not None:  # only possible for shared profiles re-used after a rebuild
            return profile_id
        self.add_profile(
            ProfileRecord(
                profile_id,
                created_at=message.received_at,
                first_seen=message.timestamp,
                last_seen=message.timestamp,
                shared=shared,
                new=True,
                dirty=True,
            )
        )
        return profile_id

    def _merge(self, other: str, survivor: str, message: ResolvableMessage, via: Identifier) -> None:
        """Fold `other` into `survivor`: identities, traits (the survivor's win), counts, first/last seen."""
        loser, winner = self.profiles[other], self.profiles[survivor]
        winner.traits = {**loser.traits, **winner.traits}
        for name, count in loser.event_counts.items():
            winner.event_counts[name] = winner.event_counts.get(name, 0) + count
        winner.first_seen = min(winner.first_seen, loser.first_seen)
        winner.last_seen = max(winner.last_seen, loser.last_seen)
        winner.user_ids |= loser.user_ids
        winner.dirty = True
        loser.merged_into = survivor
        loser.dirty = True
        for identifier in list(self._members.get(other, ())):
            self._move_identity(self.identities[identifier], survivor)
        moved = self._absorbed.pop(other, set())
        for profile_id in moved:
            if profile_id in self.profiles:
                self.profiles[profile_id].merged_into = survivor
                self.profiles[profile_id].dirty = True
        self._absorbed.setdefault(survivor, set()).update(moved | {other})
        self.repoints.append((other, survivor))
        self.merges.append(
            MergeRecord("merged", survivor, other, message.message_id, via, "seen together", message.timestamp)
        )

    def _candidates(self, linkable: list[Identifier], known: dict[Identifier, IdentityRecord | None]) -> list[str]:
        candidates: list[str] = []
        for identifier in linkable:
            record = known[identifier]
            if record and record.profile_id not in candidates:
                candidates.append(record.profile_id)
        return candidates

    def _note_link(self, identifier: Identifier, message: ResolvableMessage) -> None:
        """Count that `identifier` was seen with one more profile; block it once that is too many."""
        record = self.identities[identifier]
        record.links += 1
        record.dirty = True
        if identifier.kind != USER_ID and not record.blocked and record.links + 1 > self.max_profiles_per_identifier:
            self._block(record, message)

    def _block(self, record: IdentityRecord, message: ResolvableMessage) -> None:
        """Stop `record` linking anything, and move it to a `shared` profile of its own so activity that carries
        nothing else stops landing on a real person. A user id is never blocked: it is the business' own key."""
        previous = record.profile_id
        record.blocked = True
        record.dirty = True
        self._move_identity(record, self._new_profile(record.identifier, message, shared=True))
        self.merges.append(
            MergeRecord(
                "blocked", record.profile_id, previous, message.message_id, record.identifier,
                f"seen on more than {self.max_profiles_per_identifier} profiles", message.timestamp,
            )
        )  # fmt: skip

    def _touch_identity(self, record: IdentityRecord, moment: datetime) -> None:
        """An identifier's `last_seen` moves in steps of `LAST_SEEN_STEP`: rewriting every known identifier of
        every event to move it by seconds was a tenth of the write path. Profiles keep exact times."""
        if moment >= record.last_seen + LAST_SEEN_STEP:
            record.last_seen = moment
            record.dirty = True
        if moment < record.first_seen:
            record.first_seen = moment
            record.dirty = True

    def _record_activity(self, profile_id: str, message: ResolvableMessage) -> str:
        profile = self.profiles[profile_id]
        key = message.event if message.type == "track" and message.event else message.type
        profile.event_counts[key] = profile.event_counts.get(key, 0) + 1
        profile.first_seen = min(profile.first_seen, message.timestamp)
        profile.last_seen = max(profile.last_seen, message.timestamp)
        if message.type == "identify" and message.traits:
            profile.traits = {**profile.traits, **message.traits}
        profile.dirty = True
        return profile_id
