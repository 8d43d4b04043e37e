"""The session writers, one per channel, each speaking as the library that channel really uses.

* web: analytics.js in the shopper's browser, with ad and newsletter UTM parameters on landing;
* app: analytics-swift or analytics-kotlin on the shopper's phone, or on the family's shared tablet;
* store: a till (analytics-java) that knows the loyalty card, and the e-mail only if the shopper gives it;
* email: the e-mail service provider (analytics-python) reporting deliveries, opens and clicks by address.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta
from typing import Any

from afinidad.demo.campaigns import SUBJECTS, Campaign
from afinidad.demo.catalog import Product
from afinidad.demo.funnel import Funnel
from afinidad.demo.identity import sign_in_on_arrival
from afinidad.demo.messages import MessageLog, Session, Views
from afinidad.demo.personas import Persona, ShopperState
from afinidad.demo.randomness import choose, uid
from afinidad.demo.schedule import next_daypart_moment
from afinidad.demo.text import slug
from afinidad.demo.weather import Weather, category_weights
from afinidad.demo.world import FAMILY_TABLET, SITE, zone

_WEB_LIBRARY = {"name": "analytics.js", "version": "next-1.72.0"}
_APP_LIBRARIES = {
    "ios": {"name": "analytics-swift", "version": "1.6.1"},
    "android": {"name": "analytics-kotlin", "version": "1.16.3"},
}
_ESP_LIBRARY = {"name": "analytics-python", "version": "2.3.3"}
_POS_LIBRARY = {"name": "analytics-java", "version": "3.5.1"}
_APP = {"name": "Afinidad Shop", "version": "3.4.1", "build": "341", "namespace": "com.afinidad.shop"}
_ESP_IP = "203.0.113.250"
_ESP_USER_AGENT = "AfinidadMailer/2.1 (+https://mail.afinidad.example)"
_POS_USER_AGENT = "AfinidadPOS/5.2 (till; Java 17)"
_ADS = (
    {"source": "google", "medium": "cpc", "name": "brand_search"},
    {"source": "google", "medium": "cpc", "name": "generic_home"},
    {"source": "instagram", "medium": "paid_social", "name": "new_season"},
    {"source": "facebook", "medium": "paid_social", "name": "retargeting"},
)
_AD_REFERRERS = {
    "google": "https://www.google.com/",
    "instagram": "https://l.instagram.com/",
    "facebook": "https://l.facebook.com/",
}


class ChannelWriters:
    """Writes one visit of a shopper through one channel into the run's message log."""

    def __init__(self, seed: int, log: MessageLog, weather: Weather, funnel: Funnel) -> None:
        self.seed = seed
        self.log = log
        self.weather = weather
        self.funnel = funnel
        self.tablet_anonymous_id = str(uid(seed, "family-tablet", "anonymous"))
        self.tablet_device_id = str(uid(seed, "family-tablet", "device")).upper()

    def _context(self, persona: Persona, at: datetime, user_agent: str, library: dict[str, str]) -> dict[str, Any]:
        local_day = at.astimezone(zone(persona.city.timezone)).date()
        return {
            "ip": persona.ip,
            "locale": persona.locale,
            "timezone": persona.city.timezone,
            "userAgent": user_agent,
            "library": dict(library),
            "weather": dict(self.weather.on(persona.city, local_day)),
        }

    def web_session(
        self,
        persona: Persona,
        state: ShopperState,
        rng: random.Random,
        at: datetime,
        *,
        campaign: Campaign | None = None,
        must_buy: bool = False,
    ) -> None:
        if rng.random() < 0.04:  # cleared cookies, a new browser: anonymous again until the next sign-in
            state.cookie_generation += 1
            state.cookie = str(uid(self.seed, "cookie", persona.index, state.cookie_generation))
            state.web_signed_in = False
        context = self._context(persona, at, persona.device.browser_user_agent, _WEB_LIBRARY)
        landing, referrer = "", ""
        utm: dict[str, str] | None = None
        if campaign is not None:
            utm = {"source": "newsletter", "medium": "email", "name": campaign.slug}
        elif rng.random() < 0.15:
            utm = dict(rng.choice(_ADS))
            referrer = _AD_REFERRERS[utm["source"]]
        if utm is not None:
            context["campaign"] = utm
            landing = f"?utm_source={utm['source']}&utm_medium={utm['medium']}&utm_campaign={utm['name']}"
        user_id = persona.user_id if state.web_signed_in else None
        session = Session(self.log, rng, at, context, state.cookie, user_id)
        views = Views(session, web=True, landing_search=landing, referrer=referrer)
        if campaign is not None:
            views.show("Category", f"/c/{slug(campaign.category)}")
        else:
            views.show("Home", "/")
        sign_in_on_arrival(persona, state, rng, session, sign_in_share=0.45, sign_up_share=0.22)
        self.funnel.shop(persona, state, rng, session, views, campaign, must_buy)
        state.web_signed_in = session.user_id is not None

    def app_session(
        self,
        persona: Persona,
        state: ShopperState,
        rng: random.Random,
        at: datetime,
        *,
        tablet: bool = False,
        must_buy: bool = False,
    ) -> None:
        device = FAMILY_TABLET if tablet else persona.device
        device_id = self.tablet_device_id if tablet else persona.app_device_id
        anonymous_id = self.tablet_anonymous_id if tablet else persona.app_anonymous_id
        if device_id is None or anonymous_id is None:
            return
        app_user_agent = f"AfinidadShop/{_APP['version']} ({device.model}; {device.os_name} {device.os_version})"
        context = self._context(persona, at, app_user_agent, _APP_LIBRARIES[device.kind])
        context["device"] = {
            "id": device_id,
            "type": device.kind,
            "model": device.model,
            "manufacturer": device.manufacturer,
        }
        context["os"] = {"name": device.os_name, "version": device.os_version}
        context["app"] = dict(_APP)
        context["network"] = {"wifi": rng.random() < 0.7, "cellular": True}
        context["externalIds"] = [{"id": device_id, "type": "app_device_id", "collection": "users", "encoding": "none"}]
        signed_in = state.app_signed_in and not tablet  # on the shared tablet, whoever uses it signs in
        session = Session(
            self.log, rng, at, context, anonymous_id, persona.user_id if signed_in else None, sent_at=True
        )
        session.track(
            "Application Opened",
            {"from_background": rng.random() < 0.4, "version": _APP["version"], "build": _APP["build"]},
            pause=(0.0, 1.0),
        )
        views = Views(session, web=False)
        views.show("Home", "/")
        sign_in_on_arrival(
            persona, state, rng, session, sign_in_share=1.0 if tablet else 0.9, sign_up_share=0.6, alias=True
        )
        self.funnel.shop(persona, state, rng, session, views, None, must_buy)
        if not tablet:
            state.app_signed_in = session.user_id is not None

    def store_visit(self, persona: Persona, state: ShopperState, rng: random.Random, at: datetime) -> None:
        """A till receipt: the store knows the loyalty card, and the e-mail only if the shopper gives it."""
        card = persona.loyalty_card
        if card is None:
            return
        city = persona.city
        context = self._context(persona, at, _POS_USER_AGENT, _POS_LIBRARY)
        context["ip"] = f"{city.network}.{city.store_host}"
        context["channel"] = "store"
        context["externalIds"] = [{"id": card, "type": "loyalty_card", "collection": "users", "encoding": "none"}]
        session = Session(self.log, rng, at, context, f"pos-{card}", None, local_zone=zone(city.timezone))
        if persona.shares_email_at_till and not state.email_given_at_till and rng.random() < 0.7:
            state.email_given_at_till = True
            session.emit("identify", {"traits": {"email": persona.email, "loyalty_card": card}}, (20.0, 90.0))
            if state.email_known_at is None:
                state.email_known_at = session.clock
        weights = category_weights(persona, at, context["weather"])
        assortment = self.funnel.assortment
        basket: list[tuple[Product, int]] = []
        for product_id, when in state.due.items():
            if when <= at and rng.random() < 0.85:
                basket.append((assortment.products[product_id], rng.choice((1, 1, 2))))
        for _ in range(rng.choice((1, 1, 2, 3))):
            if len(basket) >= 4:
                break
            product = assortment.pick(persona, choose(rng, weights), rng)
            if all(product is not item for item, _ in basket):
                basket.append((product, 1))
        basket.extend((companion, 1) for companion in assortment.companions_to_add(rng, basket))
        order = self.funnel.order_properties(rng, basket, affiliation=f"Afinidad {city.name}", coupon=None, store=True)
        order["store_id"] = city.store_id
        order["store_city"] = city.name
        session.track("Order Completed", order, pause=(60.0, 400.0))
        self.funnel.remember_purchase(persona, state, rng, basket, session.clock)

    def newsletter(
        self, persona: Persona, state: ShopperState, rng: random.Random, at: datetime, campaign: Campaign
    ) -> None:
        """What an e-mail service provider reports: delivery, opens and clicks, keyed by the address only."""
        if state.email_known_at is None or state.email_known_at > at:
            return
        email = persona.email
        context = self._context(persona, at, _ESP_USER_AGENT, _ESP_LIBRARY)
        context["ip"] = _ESP_IP
        context["traits"] = {"email": email}
        context["externalIds"] = [{"id": email, "type": "email", "collection": "users", "encoding": "none"}]
        esp_id = "esp-" + hashlib.sha256(email.encode()).hexdigest()[:24]
        session = Session(self.log, rng, at, context, esp_id, None)
        subject = SUBJECTS[campaign.category][0 if persona.locale.startswith("en") else 1]
        properties = {
            "campaign_id": campaign.campaign_id,
            "campaign_name": campaign.name,
            "email_subject": subject,
        }
        session.track("Email Delivered", dict(properties), pause=(0.0, 5.0))
        likes = campaign.category in persona.preferred_categories
        if rng.random() >= 0.12 + 0.6 * persona.channels.email + (0.1 if likes else 0.0):
            return
        session.clock = next_daypart_moment(persona, rng, session.clock)
        context["ip"] = persona.ip
        context["userAgent"] = persona.device.browser_user_agent
        session.track("Email Opened", dict(properties), pause=(0.0, 1.0))
        if rng.random() >= 0.06 + 0.35 * persona.channels.email + (0.2 if likes else 0.0):
            return
        link = f"{SITE}/c/{slug(campaign.category)}?utm_source=newsletter&utm_campaign={campaign.slug}"
        session.track("Email Link Clicked", {**properties, "link_url": link}, pause=(5.0, 90.0))
        clicked_at = session.clock + timedelta(seconds=rng.uniform(2.0, 12.0))
        self.web_session(persona, state, rng, clicked_at, campaign=campaign)
