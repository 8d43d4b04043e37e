"""The checker catches each seeded violation with the right rule, field and span, lets clean copy through, and
tells blocking findings from advice."""

from __future__ import annotations

from decimal import Decimal

import pytest

from afinidad.content.brand import BrandKit, check_brand_kit
from afinidad.content.channels import sms_segments
from afinidad.content.checker import blocking, check, reading_ease
from afinidad.content.pieces import Piece, ProductFact
from afinidad.errors import InvalidInput

KIT = BrandKit(name="Acme", languages=["en", "es"], disclaimers={"email:en": ["Terms apply."]},
               words_to_avoid=["cheap"], contact=["hello@acme.example"], emoji="none")  # fmt: skip
MUG = ProductFact("mug", "Blue Mug", Decimal("12.99"), "EUR", sale_price=Decimal("9.99"))
CLEAN = {"subject": "Blue Mug, now €9.99", "preheader": "Our stoneware mug for your morning coffee.",
         "body_text": "Our Blue Mug is back in the shop at €12.99, or €9.99 while the sale lasts. Write to "
                      "hello@acme.example with any question. Terms apply.",
         "body_html": "<p>Blue Mug: <b>€9.99</b></p><p>Terms apply.</p>"}  # fmt: skip


def _email(**changes: str) -> Piece:
    return Piece("email", "en", {**CLEAN, **changes}, [MUG])


def _only(piece: Piece, rule: str, kit: BrandKit = KIT):  # noqa: ANN202 - a Finding
    found = [f for f in check(piece, kit) if f.rule == rule]
    assert len(found) == 1, (rule, check(piece, kit))
    return found[0]


def test_clean_copy_has_no_findings() -> None:
    assert check(_email(), KIT) == []


@pytest.mark.parametrize(
    "field, text, rule, excerpt",
    [
        ("subject", "Blue Mug, now €8.99", "wrong_price", "€8.99"),
        ("body_text", "Blue Mug for 11,50 € only. Terms apply.", "wrong_price", "11,50 €"),
        ("preheader", "Guaranteed to keep coffee hot for hours.", "banned_claim", "Guaranteed"),
        ("preheader", "A cheap and cheerful mug for your desk.", "avoided_word", "cheap"),
        ("preheader", "Hi [FIRST NAME], your mug is waiting for you.", "placeholder", "[FIRST NAME]"),
        ("preheader", "Hi {{ nickname }}, your mug is waiting for you.", "placeholder", "{{ nickname }}"),
        ("preheader", "Questions? Call Ana on +34 612 345 678 today.", "personal_data", "+34 612 345 678"),
        ("preheader", "Write to ana.lopez@gmail.com for a refund today.", "personal_data", "ana.lopez@gmail.com"),
        ("preheader", "Nuestra taza azul favorita para tu café de cada mañana.", "wrong_language", None),
        ("preheader", "Good morning ☕ your mug is waiting for you.", "emoji", "☕"),
    ],
)  # fmt: skip
def test_each_seeded_violation_is_caught_with_its_span(field: str, text: str, rule: str, excerpt: str | None) -> None:
    piece = _email(**{field: text})
    finding = _only(piece, rule)
    assert finding.field == field
    if excerpt is not None:
        assert finding.excerpt == excerpt and text[finding.start : finding.end] == excerpt
    assert finding.blocking is (rule != "avoided_word")
    assert blocking(check(piece, KIT)) is finding.blocking or rule == "avoided_word"


def test_limits_disclaimers_and_merge_fields() -> None:
    long_subject = "Blue Mug " * 8
    too_long = _only(_email(subject=long_subject), "too_long")
    assert (too_long.field, too_long.start, too_long.end) == ("subject", 60, len(long_subject))
    missing = _only(_email(body_text="Our Blue Mug is back in the shop at €12.99.", body_html="<p>Blue Mug</p>"),
                    "missing_disclaimer")  # fmt: skip
    assert missing.blocking and "Terms apply." in missing.message
    assert _only(_email(subject=""), "missing_field").field == "subject"
    merge = _email(preheader="Hi {{first_name}}, your mug is waiting.")
    assert [f.rule for f in check(merge, KIT)] == []  # filled per person at send time...
    assert [f.rule for f in check(merge, KIT, final=True)] == ["placeholder"]  # ...but never sent unfilled
    html = _email(body_html="<p>Blue Mug: <b>€7.99</b></p><p>Terms apply.</p>")
    wrong = _only(html, "wrong_price")
    assert html.fields["body_html"][wrong.start : wrong.end] == "€7.99"  # spans count the markup


def test_ads_sms_and_social_posts_keep_their_channels_limits() -> None:
    ad = Piece("search_ad", "en", {"headlines": ["Blue Mug", "Shop Acme", "A very long headline beyond thirty"],
                                   "descriptions": ["Stoneware mug.", "Order online."]}, [MUG])  # fmt: skip
    finding = _only(ad, "too_long")
    assert (finding.field, finding.start) == ("headlines.2", 30)
    few = Piece("search_ad", "en", {"headlines": ["Blue Mug"], "descriptions": ["Mug.", "Order online."]}, [MUG])
    assert _only(few, "ad_count").field == "headlines"
    assert sms_segments("a" * 160).segments == 1 and sms_segments("a" * 161).segments == 2
    assert sms_segments("€" * 80).units == 160 and sms_segments("€" * 81).segments == 2  # € costs two septets
    assert sms_segments("á" * 70).encoding == "UCS-2" and sms_segments("á" * 71).segments == 2
    assert sms_segments("😀" * 35).units == 70
    sms = Piece("sms", "es", {"text": "Acme: tu taza azul te espera aquí, entra ya. " * 4}, [MUG])
    assert _only(sms, "too_long").blocking and _only(sms, "sms_encoding").blocking is False  # í is not GSM-7
    post = Piece("social_post", "en", {"text": "Blue Mug " + " ".join(f"#tag{i}" for i in range(6))}, [MUG],
                 network="x")  # fmt: skip
    assert _only(post, "too_many_hashtags").blocking is False
    assert _only(Piece("social_post", "en", {"text": "x" * 281}, [MUG], network="x"), "too_long").start == 280
    assert _only(Piece("social_post", "en", {"text": "Blue Mug"}, [MUG], network="myspace"), "unknown_network")


def test_spanish_address_and_reading_level_are_advice() -> None:
    usted = BrandKit(name="Acme", spanish_address="usted", min_reading_ease=60)
    piece = Piece("review_reply", "es", {"text": "Gracias por tu reseña de la taza, nos alegra que te guste mucho."},
                  [MUG])  # fmt: skip
    formality = [f for f in check(piece, usted) if f.rule == "formality"]
    assert {f.excerpt.lower() for f in formality} == {"tu", "te"} and not blocking(formality)
    dense = ("Notwithstanding considerable organisational reconfiguration, comprehensive interdepartmental "
             "communication methodologies facilitate unprecedented operational effectiveness.")  # fmt: skip
    assert (
        reading_ease(dense, "en") < 30 < reading_ease("We like it. You will like it. It is a good mug for tea.", "en")
    )
    assert _only(Piece("review_reply", "en", {"text": dense}, [MUG]), "reading_level", usted).blocking is False


def test_a_bad_brand_kit_is_refused_naming_the_field() -> None:
    for raw, field in [({"name": "Acme", "languages": ["xx"]}, "languages"),
                       ({"name": "Acme", "disclaimers": {"fax": ["x"]}}, "disclaimers"),
                       ({"name": "Acme", "emoji": "lots"}, "emoji"), ({"languages": ["en"]}, "name")]:  # fmt: skip
        with pytest.raises(InvalidInput) as refused:
            check_brand_kit(raw)
        assert refused.value.problems[0].field == field
