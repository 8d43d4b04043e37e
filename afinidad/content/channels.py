"""What each channel allows: the fields a piece of each content type has, their length limits, and how an
SMS is billed. Pure: the checker enforces these, the generators write within them.

Limits are the platforms' own where they are hard (Google Ads: 30-character headlines, 90-character
descriptions; X: 280 characters; SMS segments) and common practice where they are soft (a subject line is
cut on phones after about 60 characters, a preheader after about 100)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ContentType = Literal["email", "subject_line", "search_ad", "social_post", "sms", "product_description",
                      "review_reply"]  # fmt: skip
CONTENT_TYPES: tuple[str, ...] = ("email", "subject_line", "search_ad", "social_post", "sms", "product_description",
                                  "review_reply")  # fmt: skip
NETWORKS: dict[str, int] = {"x": 280, "instagram": 2200, "facebook": 2000, "linkedin": 3000, "tiktok": 2200}
HASHTAG_LIMITS: dict[str, int] = {"instagram": 30, "x": 3, "linkedin": 5, "facebook": 5, "tiktok": 10}


@dataclass(frozen=True)
class FieldLimit:
    """A field of a piece: its most characters (None: no limit), and whether it may be empty."""

    name: str
    max_chars: int | None
    required: bool = True
    repeated: bool = False  # a list of values (headlines, descriptions), each within the limit


FIELDS: dict[str, tuple[FieldLimit, ...]] = {
    "email": (FieldLimit("subject", 60), FieldLimit("preheader", 100), FieldLimit("body_text", 5000),
              FieldLimit("body_html", 20000)),
    "subject_line": (FieldLimit("subject", 60), FieldLimit("preheader", 100, required=False)),
    "search_ad": (FieldLimit("headlines", 30, repeated=True), FieldLimit("descriptions", 90, repeated=True)),
    "social_post": (FieldLimit("text", None),),  # the network decides: see NETWORKS
    "sms": (FieldLimit("text", None),),  # counted in segments: see `sms_segments`
    "product_description": (FieldLimit("title", 150), FieldLimit("text", 2000)),
    "review_reply": (FieldLimit("text", 1000),),
}  # fmt: skip
AD_COUNTS = {"headlines": (3, 15), "descriptions": (2, 4)}  # Google responsive search ads: at least, at most

# GSM 03.38: the basic set costs one septet, the extension set two (an escape, then the character).
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SmsCost:
    """How an SMS is sent: its encoding, its length in that encoding's units, and the segments billed."""

    encoding: Literal["GSM-7", "UCS-2"]
    units: int
    segments: int
    per_segment: int  # units per segment at this length (single, or concatenated)


def sms_segments(text: str) -> SmsCost:
    """GSM-7 when every character is in the GSM set (160 septets in one segment, 153 each when concatenated,
    extension characters counting two); otherwise UCS-2 (70 code units, 67 when concatenated, characters
    outside the Basic Multilingual Plane such as most emoji counting two)."""
    if all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text):
        units = sum(2 if ch in GSM_EXTENSION else 1 for ch in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
        single, multi, encoding = 70, 67, "UCS-2"
    if units <= single:
        return SmsCost(encoding, units, 1 if units else 0, single)  # type: ignore[arg-type]
    return SmsCost(encoding, units, -(-units // multi), multi)  # type: ignore[arg-type]
