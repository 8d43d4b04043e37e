"""How shoppers make themselves known during a visit: signing in, signing up (with an `alias` in the app),
the `group` call of those who buy for a business, and what guests type at checkout.

Guests type their e-mail by hand, so capitals happen; a few type `TEST_EMAIL` instead, the trap a profile
merger must not follow.
"""

from __future__ import annotations

import random
from typing import Any

from afinidad.demo.messages import Session
from afinidad.demo.personas import TEST_EMAIL, Persona, ShopperState


def traits(persona: Persona) -> dict[str, Any]:
    """What the shop knows about a member, sent with every `identify`."""
    known: dict[str, Any] = {
        "email": persona.email,
        "first_name": persona.first_name,
        "last_name": persona.last_name,
        "address": {"city": persona.city.name, "country": persona.city.country},
    }
    if persona.phone:
        known["phone"] = persona.phone
    return known


def identify(persona: Persona, state: ShopperState, session: Session) -> None:
    session.user_id = persona.user_id
    session.emit("identify", {"traits": traits(persona)}, (5.0, 40.0))
    if persona.organization is not None and not state.grouped:
        state.grouped = True
        org = persona.organization
        org_traits = {"name": org.name, "industry": org.industry, "employees": org.employees}
        session.emit("group", {"groupId": org.group_id, "traits": org_traits}, (0.5, 3.0))


def sign_up(persona: Persona, state: ShopperState, session: Session, alias: bool) -> None:
    state.registered = True
    previous = session.anonymous_id
    identify(persona, state, session)
    if alias and previous is not None:  # the mobile pattern: tie the install to the new account
        session.emit("alias", {"previousId": previous}, (0.1, 1.0))
    session.track("Signed Up", {"method": "email"}, pause=(0.2, 2.0))
    if state.email_known_at is None:
        state.email_known_at = session.clock


def sign_in_on_arrival(
    persona: Persona,
    state: ShopperState,
    rng: random.Random,
    session: Session,
    *,
    sign_in_share: float,
    sign_up_share: float,
    alias: bool = False,
) -> None:
    """Members sign in with probability `sign_in_share`, shoppers who will sign up do so with `sign_up_share`."""
    if session.user_id is not None:
        return
    if state.registered and rng.random() < sign_in_share:
        identify(persona, state, session)
    elif persona.account == "signs_up" and not state.registered and rng.random() < sign_up_share:
        sign_up(persona, state, session, alias)


def checkout_identity(persona: Persona, state: ShopperState, rng: random.Random, session: Session) -> None:
    """At checkout the shop needs an e-mail: members sign in, some sign up, the rest type one in."""
    if session.user_id is not None:
        return
    if state.registered and not persona.types_test_email and rng.random() < 0.85:
        identify(persona, state, session)
        return
    if persona.account == "signs_up" and not state.registered and rng.random() < 0.5:
        sign_up(persona, state, session, alias=False)
        return
    if persona.types_test_email and not state.test_email_used:
        state.test_email_used = True
        session.emit("identify", {"traits": {"email": TEST_EMAIL}}, (10.0, 40.0))
        return
    typed = persona.email
    if rng.random() < 0.08:  # what people type is not normalised: capitals happen
        local, domain = typed.split("@")
        typed = f"{local.capitalize()}@{domain.capitalize()}"
    guest_traits = {
        "email": typed,
        "first_name": persona.first_name,
        "last_name": persona.last_name,
        "address": {"city": persona.city.name, "country": persona.city.country},
    }
    session.emit("identify", {"traits": guest_traits}, (10.0, 40.0))
    if state.email_known_at is None and rng.random() < 0.5:  # opted in to the newsletter
        state.email_known_at = session.clock
