"""Every piece is checked before a person sees it, whichever provider wrote it: channel limits, brand rules,
language, facts against the catalog, personal data, unfilled placeholders. Each finding names its rule, the
field and the span (character offsets in that field), and says whether it blocks approval.

Pure: a piece, a brand kit and the catalog facts in, findings out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from afinidad.content.brand import BrandKit
from afinidad.content.channels import AD_COUNTS, FIELDS, HASHTAG_LIMITS, NETWORKS, sms_segments
from afinidad.content.language import MIN_WORDS, guess, words
from afinidad.content.pieces import MERGE_FIELDS, Piece

CURRENCY_SIGNS = {"€": "EUR", "$": "USD", "£": "GBP", "₹": "INR", "¥": "JPY"}
_AMOUNT = r"\d{1,3}(?:[.,\s]\d{3})+(?:[.,]\d{1,2})?(?!\d)|\d+(?:[.,]\d{1,2})?(?!\d)"
_CODES = "EUR|USD|GBP|INR|MXN|ARS|COP|CLP|Rs\\.?"
PRICE = re.compile(
    rf"(?P<pre>[€$£₹¥]|\b(?:{_CODES}))\s?(?P<a>{_AMOUNT})"
    rf"|(?P<b>{_AMOUNT})\s?(?P<post>[€$£₹¥]|(?:{_CODES})\b)"
)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"(?<![\w.,])\+?\d[\d\s().-]{7,}\d(?![\w%])")
CARD = re.compile(r"\b(?:\d[ -]?){13,19}\b")
PLACEHOLDER = re.compile(r"\{\{\s*(?P<merge>[^{}]*?)\s*\}\}|\{[A-Za-z_]+\}|\[[A-Z][A-Z _]{2,}\]|%%?[A-Z_]{3,}%%?"
                         r"|<<[^<>]+>>|\bTODO\b|\bXXX\b|(?i:\blorem ipsum\b)")  # fmt: skip
EMOJI = re.compile("[\U0001f300-\U0001faff\U00002600-\U000027bf\U0001f000-\U0001f2ff\U0001f900-\U0001f9ff]")
CLOSE_LANGUAGES = {frozenset(pair) for pair in (("es", "pt"), ("es", "ca"), ("es", "it"), ("pt", "it"), ("fr", "ca"))}
CLOSE_MIN_WORDS = 12
HASHTAG = re.compile(r"(?<!\w)#\w+")
TU_FORMS = re.compile(r"\b(tú|tu|tus|te|contigo|ti)\b", re.IGNORECASE)
USTED_FORMS = re.compile(r"\b(usted|ustedes)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    rule: str
    blocking: bool
    field: str
    message: str
    start: int | None = None
    end: int | None = None
    excerpt: str | None = None

    def as_dict(self) -> dict:
        span = [self.start, self.end] if self.start is not None else None
        return {"rule": self.rule, "blocking": self.blocking, "field": self.field, "message": self.message,
                "span": span, "excerpt": self.excerpt}  # fmt: skip


def _finding(rule: str, blocking: bool, field: str, text: str, start: int, end: int, message: str) -> Finding:
    return Finding(rule, blocking, field, message, start, end, text[start:end])


def _money(raw: str) -> Decimal | None:
    """12.99, 12,99, 1.299,00, 1,299.00, 1 299 -> a Decimal; the last separator followed by 1–2 digits is
    the decimal one."""
    text = raw.replace(" ", "")
    match = re.search(r"[.,](\d{1,2})$", text)
    whole = re.sub(r"[.,]", "", text[: match.start()] if match else text)
    try:
        return Decimal(f"{whole}.{match.group(1)}" if match else whole)
    except InvalidOperation:
        return None


def _limits(piece: Piece, kit: BrandKit) -> list[Finding]:
    found = []
    for limit in FIELDS.get(piece.content_type, ()):
        value = piece.fields.get(limit.name)
        if value in (None, "", []):
            if limit.required:
                found.append(Finding("missing_field", True, limit.name, f"{limit.name} is required for "
                                     f"{piece.content_type.replace('_', ' ')}"))  # fmt: skip
            continue
        items = value if isinstance(value, list) else [value]
        for i, text in enumerate(items):
            path = f"{limit.name}.{i}" if isinstance(value, list) else limit.name
            if limit.max_chars is not None and len(text) > limit.max_chars:
                found.append(_finding("too_long", True, path, text, limit.max_chars, len(text),
                                      f"{len(text)} characters; at most {limit.max_chars}"))  # fmt: skip
        if limit.name in AD_COUNTS and isinstance(value, list):
            least, most = AD_COUNTS[limit.name]
            if not least <= len(value) <= most:
                found.append(Finding("ad_count", True, limit.name, f"{len(value)} {limit.name}; {least} to {most}"))
    text = piece.fields.get("text")
    if piece.content_type == "social_post" and isinstance(text, str):
        most = NETWORKS.get(piece.network or "", None)
        if most is None:
            found.append(Finding("unknown_network", True, "network", f"one of {', '.join(NETWORKS)}"))
        elif len(text) > most:
            found.append(_finding("too_long", True, "text", text, most, len(text),
                                  f"{len(text)} characters; {piece.network} allows {most}"))  # fmt: skip
        tags = list(HASHTAG.finditer(text))
        cap = HASHTAG_LIMITS.get(piece.network or "", 30)
        if len(tags) > cap:
            found.append(_finding("too_many_hashtags", False, "text", text, tags[cap].start(), tags[-1].end(),
                                  f"{len(tags)} hashtags; {cap} at most read well on {piece.network}"))  # fmt: skip
    if piece.content_type == "sms" and isinstance(text, str):
        cost = sms_segments(text)
        if cost.segments > kit.max_sms_segments:
            found.append(_finding("too_long", True, "text", text, 0, len(text),
                                  f"{cost.segments} SMS segments ({cost.encoding}, {cost.units} units); "
                                  f"at most {kit.max_sms_segments}"))  # fmt: skip
        if cost.encoding == "UCS-2":
            first = next(i for i, ch in enumerate(text) if sms_segments(ch).encoding != "GSM-7")
            found.append(_finding("sms_encoding", False, "text", text, first, first + 1, "a character outside "
                                  "GSM-7 makes the whole SMS UCS-2 (70 characters a segment)"))  # fmt: skip
    return found


@lru_cache(maxsize=256)
def _alternation(phrases: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for a whole list (longest first, so "risk free" wins over "risk"), compiled once per list."""
    ordered = sorted(phrases, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(p) for p in ordered) + r")(?!\w)", re.IGNORECASE)


def _phrases(field: str, text: str, phrases: list[str], rule: str, blocking: bool, what: str) -> list[Finding]:
    if not phrases:
        return []
    return [_finding(rule, blocking, field, text, match.start(), match.end(), f"{what}: {match.group(0).lower()!r}")
            for match in _alternation(tuple(phrases)).finditer(text)]  # fmt: skip


def _prices(piece: Piece, field: str, text: str) -> list[Finding]:
    allowed = {price for p in piece.products for price in (p.price, p.sale_price) if price is not None}
    currencies = {p.currency for p in piece.products}
    found = []
    for match in PRICE.finditer(text):
        amount = _money(match.group("a") or match.group("b") or "")
        sign = match.group("pre") or match.group("post") or ""
        currency = CURRENCY_SIGNS.get(sign, sign.upper().rstrip(".").replace("RS", "INR"))
        right = amount is not None and any(abs(amount - price) < Decimal("0.005") for price in allowed)
        if not right or (currencies and currency not in currencies):
            truth = ", ".join(f"{p.title}: {p.selling_price or 'no price'} {p.currency}" for p in piece.products)
            found.append(_finding("wrong_price", True, field, text, match.start(), match.end(),
                                  f"{match.group(0).strip()} is not a current catalog price "
                                  f"({truth or 'no product'})"))  # fmt: skip
    return found


def _personal(field: str, text: str, kit: BrandKit) -> list[Finding]:
    own = {contact.lower().replace(" ", "") for contact in kit.contact}
    found = []
    for pattern, what in ((EMAIL, "an e-mail address"), (PHONE, "a phone number"), (CARD, "a card number")):
        for match in pattern.finditer(text):
            if match.group(0).lower().replace(" ", "") in own:
                continue
            if pattern is PHONE and sum(ch.isdigit() for ch in match.group(0)) < 9:
                continue  # "2016-2017", a size or a code, not a phone
            found.append(_finding("personal_data", True, field, text, match.start(), match.end(),
                                  f"{what} that is not the brand's own contact"))  # fmt: skip
    return found


def _placeholders(field: str, text: str, final: bool) -> list[Finding]:
    found = []
    for match in PLACEHOLDER.finditer(text):
        merge = match.group("merge")
        if merge is not None and merge in MERGE_FIELDS and not final:
            continue  # filled per person at send time
        found.append(_finding("placeholder", True, field, text, match.start(), match.end(),
                              f"{match.group(0)} is not filled in"))  # fmt: skip
    return found


def _language(piece: Piece, field: str, text: str) -> list[Finding]:
    """Names (products, brands, categories, links) say nothing about the language: they are left out first."""
    readable = HASHTAG.sub(" ", re.sub(r"https?://\S+", " ", PLACEHOLDER.sub(" ", text)))
    names = {name for p in piece.products for name in (p.title, p.brand, p.category) if name}
    names |= {part.strip() for p in piece.products if p.category for part in p.category.split(">")}
    for name in sorted(names, key=len, reverse=True):
        readable = re.sub(re.escape(name), " ", readable, flags=re.IGNORECASE)
    if words(readable) < MIN_WORDS or (piece.language == "es" and re.search("[¿¡ñÑ]", readable)):
        return []  # too short to judge; or written with marks only Spanish uses (Portuguese has no ¿ ¡ ñ)
    verdict = guess(readable, piece.language)
    close = frozenset((verdict.code or "", piece.language)) in CLOSE_LANGUAGES
    if close and words(readable) < CLOSE_MIN_WORDS:
        return []  # Spanish and Portuguese (or Catalan, Italian) share too much for a short text to tell
    if verdict.code != piece.language and (verdict.expected_confidence or 0.0) < 0.1 and verdict.confidence >= 0.4:
        return [Finding("wrong_language", True, field, f"reads as {verdict.code}, not {piece.language}", 0,
                        len(text), text[:80])]  # fmt: skip
    return []


def _syllables(word: str) -> int:
    return max(1, len(re.findall(r"[aeiouyáéíóúü]+", word.lower())))


def reading_ease(text: str, language: str) -> float | None:
    """Flesch reading ease (English) or Fernández-Huerta (Spanish): higher is easier; about 60–70 is plain."""
    sentences = max(1, len(re.findall(r"[.!?¡¿]+", text)))
    tokens = re.findall(r"[^\W\d_]+", text)
    if len(tokens) < 10:
        return None
    per_word = sum(_syllables(t) for t in tokens) / len(tokens)
    per_sentence = len(tokens) / sentences
    if language == "es":
        return 206.84 - 60.0 * per_word - 1.02 * per_sentence
    return 206.835 - 84.6 * per_word - 1.015 * per_sentence


def check(piece: Piece, kit: BrandKit, *, final: bool = False) -> list[Finding]:
    """Every finding for `piece`; with `final`, merge fields must be filled too (the copy as sent)."""
    found = _limits(piece, kit)
    for field, text in piece.texts():
        if field in ("body_html",):
            text = re.sub(r"<[^>]+>", lambda tag: " " * len(tag.group(0)), text)  # the words; spans stay put
        found += _phrases(field, text, kit.banned_claims, "banned_claim", True, "a claim the brand may not make")
        found += _phrases(field, text, kit.words_to_avoid, "avoided_word", False, "a word the brand avoids")
        found += _prices(piece, field, text)
        found += _personal(field, text, kit)
        found += _placeholders(field, text, final)
        found += _language(piece, field, text)
        emoji = list(EMOJI.finditer(text))
        if emoji and (kit.emoji == "none" or (kit.emoji == "few" and len(emoji) > 2)):
            found.append(_finding("emoji", kit.emoji == "none", field, text, emoji[0].start(), emoji[-1].end(),
                                  f"{len(emoji)} emoji; the brand allows {kit.emoji}"))  # fmt: skip
        if piece.language == "es":
            wrong = USTED_FORMS if kit.spanish_address == "tu" else TU_FORMS
            for match in wrong.finditer(text):
                found.append(_finding("formality", False, field, text, match.start(), match.end(),
                                      f"the brand addresses people as {kit.spanish_address}"))  # fmt: skip
        ease = reading_ease(text, piece.language) if kit.min_reading_ease is not None else None
        if ease is not None and kit.min_reading_ease is not None and ease < kit.min_reading_ease:
            found.append(Finding("reading_level", False, field, f"reading ease {ease:.0f}; the brand wants at "
                                 f"least {kit.min_reading_ease:.0f}"))  # fmt: skip
    body = " ".join(text for _, text in piece.texts())
    for disclaimer in kit.disclaimers_for(piece.content_type, piece.language):
        if disclaimer.lower() not in body.lower():
            found.append(Finding("missing_disclaimer", True, "body_text" if piece.content_type == "email" else "text",
                                 f"the required disclaimer is missing: {disclaimer!r}"))  # fmt: skip
    return found


def blocking(findings: list[Finding]) -> bool:
    return any(finding.blocking for finding in findings)
