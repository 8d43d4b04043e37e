"""Identity resolution as pure logic: one person across channels, and no over-merging."""

from __future__ import annotations

from datetime import datetime, timedelta

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
from afinidad.profiles.resolution import IdentityGraph, ResolvableMessage

T0 = datetime(2026, 1, 1, 12)


class Feed:
    """Sends messages through one graph with increasing times, like a live stream."""

    def __init__(self, limit: int = 5) -> None:
        self.graph = IdentityGraph("ws_test", max_profiles_per_identifier=limit)
        self.count = 0

    def send(self, *identifiers: Identifier, type: str = "track", traits: dict | None = None) -> str:
        self.count += 1
        moment = T0 + timedelta(minutes=self.count)
        message = ResolvableMessage(
            f"m{self.count}", type, "Product Viewed" if type == "track" else None, moment, moment,
            list(identifiers), traits,
        )  # fmt: skip
        return self.graph.resolve(message)

    def profile_of(self, identifier: Identifier) -> str:
        return self.graph.identities[identifier].profile_id

    def live_profiles(self) -> set[str]:
        return {p.id for p in self.graph.profiles.values() if p.merged_into is None and not p.shared}


def uid(value: str) -> Identifier:
    return Identifier(USER_ID, value)


def anon(value: str) -> Identifier:
    return Identifier(ANONYMOUS_ID, value)


def test_normalisation_makes_channels_meet() -> None:
    assert normalise_email("  Ana.Lopez@Example.COM ") == "ana.lopez@example.com"
    assert normalise_email("not-an-email") is None
    assert normalise_phone("(415) 555-0100", "US") == "+14155550100"
    assert normalise_phone("+34 612 34 56 78", "US") == "+34612345678"
    assert normalise_phone("12", "US") is None
    found = message_identifiers(
        user_id=None,
        anonymous_id="a-1",
        traits={"email": "ANA@example.com", "phone": "+34 612 34 56 78"},
        context={"externalIds": [{"id": "LC-9", "type": "loyalty_card"}, {"id": "Ana@Example.com", "type": "email"}]},
    )
    assert found == [
        Identifier(EMAIL, "ana@example.com"),
        Identifier(PHONE, "+34612345678"),
        Identifier("loyalty_card", "LC-9"),
        anon("a-1"),
    ]


def test_one_person_across_web_app_email_and_store() -> None:
    feed = Feed()
    web = feed.send(anon("web-cookie"))  # browses anonymously
    feed.send(anon("web-cookie"), uid("u-7"), Identifier(EMAIL, "ana@example.com"), type="identify")  # signs up
    app = feed.send(Identifier("app_device_id", "ios-1"), anon("app-install"))  # app before login
    feed.send(uid("u-7"), Identifier("app_device_id", "ios-1"))  # logs in on the app
    email = feed.send(Identifier(EMAIL, "ana@example.com"), anon("esp-1"))  # opens a newsletter
    store = feed.send(Identifier("loyalty_card", "LC-1"), anon("pos-LC-1"))  # buys in a store, card only
    feed.send(Identifier("loyalty_card", "LC-1"), Identifier(EMAIL, "ana@example.com"), type="identify")  # till

    person = feed.profile_of(uid("u-7"))
    assert web == person  # the anonymous profile became the person's (it was older)
    assert email == person  # the e-mail was known: the newsletter open landed on the person at once
    for identifier in (anon("app-install"), Identifier("app_device_id", "ios-1"), anon("esp-1"), anon("pos-LC-1")):
        assert feed.profile_of(identifier) == person
    assert app != person and store != person  # they existed on their own, then were merged in
    assert feed.live_profiles() == {person}
    assert feed.graph.profiles[person].event_counts == {"Product Viewed": 5, "identify": 2}
    merged = [m for m in feed.graph.merges if m.outcome == "merged"]
    assert len(merged) == 2
    assert {m.message_id for m in merged} == {"m4", "m7"}


def test_two_user_ids_are_never_merged_by_a_shared_identifier() -> None:
    feed = Feed()
    feed.send(anon("tablet"), uid("mum"))
    feed.send(anon("tablet"), uid("dad"))
    assert feed.profile_of(uid("mum")) != feed.profile_of(uid("dad"))
    refused = [m for m in feed.graph.merges if m.outcome == "refused"]
    assert len(refused) == 1 and refused[0].identifier == anon("tablet")


def test_alias_merges_even_two_user_ids() -> None:
    feed = Feed()
    feed.send(uid("old-id"))
    feed.send(uid("new-id"))
    feed.send(uid("new-id"), Identifier("previous_id", "old-id"), type="alias")
    assert feed.profile_of(uid("old-id")) == feed.profile_of(uid("new-id"))


def test_alias_of_an_anonymous_id() -> None:
    feed = Feed()
    anonymous = feed.send(anon("cookie-1"))
    feed.send(uid("u-1"), Identifier("previous_id", "cookie-1"), type="alias")
    assert feed.profile_of(uid("u-1")) == anonymous


def test_a_shared_tablet_stops_linking_after_the_limit() -> None:
    feed = Feed(limit=3)
    users = [f"user-{n}" for n in range(6)]
    for user in users:
        feed.send(anon("family-tablet"), uid(user))
    record = feed.graph.identities[anon("family-tablet")]
    assert record.blocked
    shared = feed.graph.profiles[record.profile_id]
    assert shared.shared  # the tablet lives on a profile of its own now
    assert len({feed.profile_of(uid(u)) for u in users}) == 6  # nobody was merged with anybody
    # Anonymous activity from the tablet no longer lands on the first user.
    first_user_events = dict(feed.graph.profiles[feed.profile_of(uid(users[0]))].event_counts)
    assert feed.send(anon("family-tablet")) == shared.id
    assert feed.graph.profiles[feed.profile_of(uid(users[0]))].event_counts == first_user_events
    assert [m.outcome for m in feed.graph.merges].count("blocked") == 1


def test_test_email_typed_by_many_anonymous_shoppers_is_blocked() -> None:
    feed = Feed(limit=3)
    shoppers = [f"visitor-{n}" for n in range(8)]
    for shopper in shoppers:
        feed.send(anon(shopper))  # each browses first
        feed.send(anon(shopper), Identifier(EMAIL, "test@test.com"), type="identify")  # then types the email
    profiles = {feed.profile_of(anon(s)) for s in shoppers}
    # The first shoppers were merged before the guard tripped (at most `limit` profiles' worth); the rest
    # stay apart, and the email no longer links anyone.
    assert feed.graph.identities[Identifier(EMAIL, "test@test.com")].blocked
    assert len(profiles) >= len(shoppers) - 3
    merged_people = max(sum(1 for s in shoppers if feed.profile_of(anon(s)) == p) for p in profiles)
    assert merged_people <= 3


def test_identify_traits_land_on_the_profile_and_survive_merges() -> None:
    feed = Feed()
    feed.send(anon("a"), type="identify", traits={"plan": "free", "first_name": "Ana"})
    feed.send(uid("u"), type="identify", traits={"plan": "pro"})
    feed.send(anon("a"), uid("u"))
    traits = feed.graph.profiles[feed.profile_of(uid("u"))].traits
    assert traits["first_name"] == "Ana"
    assert traits["plan"] in {"free", "pro"}
