"""The default writer: no network, no weights. It composes copy from aligned phrasings (`phrases`) and the facts
of the brief and the catalog, per content type, tone and language, so that it is grammatical, varied and
never states what it was not given. Deterministic for a seed.

Each variant is a set of choices (which phrasing per slot); candidates that break a channel limit are dropped
and the variants kept are the most different from one another (word-bigram Jaccard distance, chosen
greedily), so two variants differ in more than a word. A variant's choices are kept with it: the same
choices in another language are its localisation."""

from __future__ import annotations

import random
import re
import string
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from afinidad.content import phrases as P
from afinidad.content.brand import BrandKit
from afinidad.content.channels import AD_COUNTS, FIELDS, GSM_BASIC, GSM_EXTENSION, HASHTAG_LIMITS, NETWORKS
from afinidad.content.pieces import Piece, ProductFact

CANDIDATES_PER_VARIANT = 6
CURRENCY_SIGN = {"EUR": "€", "USD": "$", "GBP": "£", "INR": "₹"}


@dataclass
class Brief:
    """What to write. `goal` picks the message (promote, offer, winback, new_arrivals, seasonal); an offer
    needs `offer_percent` and `offer_code`; `review` is the review a reply answers."""

    content_type: str
    language: str = "en"
    goal: str = "promote"
    tone: str | None = None
    offer_percent: int | None = None
    offer_code: str | None = None
    season: str | None = None
    network: str | None = None
    url: str | None = None
    personal: bool = False  # greet by {{first_name}}, filled per person at send time
    review: dict[str, Any] = field(default_factory=dict)  # rating (1-5), text


@dataclass
class Draft:
    piece: Piece
    choices: dict[str, int]  # slot -> phrasing index: the variant's identity across languages


def money(amount: Decimal, currency: str, language: str) -> str:
    """12.99 EUR -> "€12.99" in English, "12,99 €" in Spanish; whole amounts without decimals."""
    text = f"{amount:.2f}".removesuffix(".00")
    sign = CURRENCY_SIGN.get(currency)
    if language == "es":
        return f"{text.replace('.', ',')} {sign or currency}"
    return f"{sign}{text}" if sign else f"{text} {currency}"


def to_gsm(text: str) -> str:
    """Replace characters outside GSM-7 with their unaccented letters where one exists (a Spanish SMS keeps
    ñ and é, which GSM-7 has, and loses the accent on á, í, ó, ú, which it has not)."""
    out = []
    for ch in text:
        if ch in GSM_BASIC or ch in GSM_EXTENSION:
            out.append(ch)
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            out.append(base if base and all(c in GSM_BASIC for c in base) else "")
    return "".join(out)


class _Facts(dict):
    """The values a phrasing may use; a phrasing asking for a missing one is skipped."""

    def __missing__(self, key: str) -> str:
        raise KeyError(key)


def _facts(brief: Brief, products: Sequence[ProductFact], kit: BrandKit) -> _Facts:
    facts = _Facts(shop=kit.name)
    if products:
        first = products[0]
        facts["product"] = first.title
        if first.selling_price is not None:
            facts["price"] = money(first.selling_price, first.currency, brief.language)
        if first.brand:
            facts["brand"] = first.brand
        if first.category:
            facts["category"] = first.category.split(">")[-1].strip()
        if len(products) > 1:
            joiner = " and " if brief.language == "en" else " y "
            names = [p.title for p in products[1:4]]
            facts["others"] = names[0] if len(names) == 1 else ", ".join(names[:-1]) + joiner + names[-1]
    if brief.offer_percent is not None and brief.offer_code:
        facts.update(percent=str(brief.offer_percent), code=brief.offer_code)
    if brief.season:
        facts["season"] = brief.season
    if brief.url:
        facts["url"] = brief.url
    return facts


def _fill(template: str, facts: _Facts) -> str | None:
    needed = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    if not needed <= set(facts):
        return None
    # merge fields ({{first_name}}) are kept as they are: str.format turns "{{" into "{"
    return template.replace("{{", "\0").replace("}}", "\1").format_map(facts).replace("\0", "{{").replace("\1", "}}")


def _pick(bank: P.Bank, key: str, language: str, facts: _Facts, rng: random.Random, choice: int | None = None
          ) -> tuple[str | None, int]:  # fmt: skip
    """A phrasing of `bank[key]` (or `bank["*"]`) that the facts can fill, and its index."""
    options = (bank.get(key) or bank.get("*") or bank[next(iter(bank))]).get(language) or ()
    order = [choice] if choice is not None else rng.sample(range(len(options)), len(options))
    for index in order:
        if index is not None and index < len(options):
            text = _fill(options[index], facts)
            if text is not None:
                return text, index
    return None, -1


def _tone(kit: BrandKit, brief: Brief) -> str:
    tone = brief.tone or kit.tone
    return "formal" if tone in ("formal", "luxury") else "friendly"


def _message(brief: Brief, facts: _Facts) -> str:
    if brief.goal == "offer" or ("percent" in facts and brief.goal == "promote"):
        return "offer" if "percent" in facts else "promote"
    return brief.goal if brief.goal in P.SUBJECTS else "promote"


def _email(brief: Brief, products: Sequence[ProductFact], kit: BrandKit, facts: _Facts, rng: random.Random,
           fixed: dict[str, int]) -> tuple[dict[str, Any], dict[str, int]]:  # fmt: skip
    message, tone, lang = _message(brief, facts), _tone(kit, brief), brief.language
    choices: dict[str, int] = {}

    def take(slot: str, bank: P.Bank, key: str) -> str | None:
        text, choices[slot] = _pick(bank, key, lang, facts, rng, fixed.get(slot))
        return text

    subject = take("subject", P.SUBJECTS, message) or kit.name
    if not brief.personal:
        subject = re.sub(r",? ?\{\{first_name\}\}", "", subject)
    preheader = take("preheader", P.PREHEADERS, "offer" if message == "offer" else "*") or ""
    fields: dict[str, Any] = {"subject": subject, "preheader": preheader}
    if brief.content_type == "subject_line":
        return fields, choices
    opener = take("opener", P.OPENERS, tone) or ""
    if not brief.personal:
        opener = re.sub(r",? ?\{\{first_name\}\}", "", opener).replace(" :", ":").replace("¡Hola!", "¡Hola!")
    intro = take("intro", P.INTROS, message) or ""
    more = take("more", P.MORE, "*") if "others" in facts else None
    cta = take("cta", P.CTAS, tone) or ""
    signoff = take("signoff", P.SIGNOFFS, "*") or kit.name
    blocks = [(p.title, money(p.selling_price, p.currency, lang) if p.selling_price is not None else "",
               p.url or brief.url) for p in products[:4]]  # fmt: skip
    lines = [opener, "", intro] + ([more] if more else []) + [""]
    lines += [f"- {title}" + (f": {price}" if price else "") + (f" ({link})" if link else "")
              for title, price, link in blocks]  # fmt: skip
    lines += ["", f"{cta}: {brief.url}" if brief.url else f"{cta}.", "", signoff]
    lines += kit.disclaimers_for(brief.content_type, brief.language)
    fields["body_text"] = "\n".join(lines).strip()
    html_blocks = "".join(f'<tr><td><a href="{link or "#"}">{title}</a></td><td>{price}</td></tr>'
                          for title, price, link in blocks)  # fmt: skip
    disclaimers = "".join(f"<p><small>{d}</small></p>" for d in kit.disclaimers_for(brief.content_type, brief.language))
    fields["body_html"] = (f"<p>{opener}</p><p>{intro}{' ' + more if more else ''}</p><table>{html_blocks}</table>"
                           f'<p><a href="{brief.url or "#"}">{cta}</a></p><p>{signoff.replace(chr(10), "<br>")}</p>'
                           f"{disclaimers}")  # fmt: skip
    return fields, choices


def _ad(brief: Brief, facts: _Facts, rng: random.Random, fixed: dict[str, int]
        ) -> tuple[dict[str, Any], dict[str, int]]:  # fmt: skip
    lang, choices = brief.language, {}
    heads = [t for t in (_fill(x, facts) for x in P.AD_HEADLINES["*"][lang]) if t and len(t) <= 30]
    descs = [t for t in (_fill(x, facts) for x in P.AD_DESCRIPTIONS["*"][lang]) if t and len(t) <= 90]
    start = fixed.get("headlines", rng.randrange(max(len(heads), 1)))
    choices["headlines"] = start
    rotated = heads[start:] + heads[:start]
    dstart = fixed.get("descriptions", rng.randrange(max(len(descs), 1)))
    choices["descriptions"] = dstart
    return {"headlines": rotated[:5], "descriptions": (descs[dstart:] + descs[:dstart])[:2]}, choices


def _hashtags(brief: Brief, facts: _Facts, kit: BrandKit) -> list[str]:
    words = [facts.get("brand"), facts.get("category"), kit.name, facts.get("season")]
    words.append(P.HASHTAG_WORDS[brief.language]["offer" if "percent" in facts else "new"])
    tags = []
    for word in words:
        if word:
            tag = "#" + re.sub(r"[^\w]", "", word.title())
            if len(tag) > 2 and tag not in tags:
                tags.append(tag)
    return tags[: HASHTAG_LIMITS.get(brief.network or "", 3)]


def _social(brief: Brief, kit: BrandKit, facts: _Facts, rng: random.Random, fixed: dict[str, int]
            ) -> tuple[dict[str, Any], dict[str, int]]:  # fmt: skip
    text, index = _pick(P.SOCIAL, "*", brief.language, facts, rng, fixed.get("text"))
    cta, cta_index = _pick(P.CTAS, _tone(kit, brief), brief.language, facts, rng, fixed.get("cta"))
    parts = [text or kit.name]
    if brief.url:
        parts.append(f"{cta}: {brief.url}")
    if kit.emoji != "none":
        parts[0] = parts[0] + " ✨"
    body = " ".join(parts) + "\n\n" + " ".join(_hashtags(brief, facts, kit))
    disclaimers = kit.disclaimers_for(brief.content_type, brief.language)
    if disclaimers:
        body += "\n" + " ".join(disclaimers)
    limit = NETWORKS.get(brief.network or "x", 280)
    return {"text": body[:limit]}, {"text": index, "cta": cta_index}


def _sms(brief: Brief, kit: BrandKit, facts: _Facts, rng: random.Random, fixed: dict[str, int]
         ) -> tuple[dict[str, Any], dict[str, int]]:  # fmt: skip
    local = _Facts(facts)
    local.setdefault("url", brief.url or "")
    cta, cta_index = _pick(P.CTAS, _tone(kit, brief), brief.language, local, rng, fixed.get("cta"))
    local["cta"] = cta or ""
    text, index = _pick(P.SMS, "*", brief.language, local, rng, fixed.get("text"))
    body = (
        " ".join([(text or kit.name).strip(), *kit.disclaimers_for("sms", brief.language)]).replace(" .", ".").strip()
    )
    return {"text": to_gsm(body.replace(":  ", ": ").rstrip(": "))}, {"text": index, "cta": cta_index}


def _description(brief: Brief, products: Sequence[ProductFact], facts: _Facts, rng: random.Random,
                 fixed: dict[str, int]) -> tuple[dict[str, Any], dict[str, int]]:  # fmt: skip
    product, lang, choices = products[0], brief.language, {}
    sentences = []
    for slot, bank in (("opener", P.DESCRIPTION_OPENERS), ("category", P.DESCRIPTION_CATEGORY)):
        text, choices[slot] = _pick(bank, "*", lang, facts, rng, fixed.get(slot))
        if text:
            sentences.append(text)
    attribute_style = fixed.get("attributes", rng.randrange(len(P.DESCRIPTION_ATTRIBUTE["*"][lang])))
    choices["attributes"] = attribute_style
    template = P.DESCRIPTION_ATTRIBUTE["*"][lang][attribute_style]
    for key, value in list(product.attributes.items())[:12]:
        sentences.append(template.format(key=key.strip(), value=str(value).strip().rstrip(".")))
    price, choices["price"] = _pick(P.DESCRIPTION_PRICE, "*", lang, facts, rng, fixed.get("price"))
    if price:
        sentences.append(price)
    kept: list[str] = []
    for sentence in sentences:  # whole sentences only: a cut one could state half a fact
        if len(" ".join([*kept, sentence])) > 2000:
            break
        kept.append(sentence)
    return {"title": product.title[:150], "text": " ".join(kept)}, choices


def _review_reply(brief: Brief, kit: BrandKit, facts: _Facts, rng: random.Random, fixed: dict[str, int]
                  ) -> tuple[dict[str, Any], dict[str, int]]:  # fmt: skip
    rating = int(brief.review.get("rating") or 3)
    mood = "positive" if rating >= 4 else "negative" if rating <= 2 else "neutral"
    local = _Facts(facts)
    local.setdefault("product", "your order" if brief.language == "en" else "tu pedido")
    text, index = _pick(P.REVIEW_REPLIES, mood, brief.language, local, rng, fixed.get("text"))
    signoff, sign_index = _pick(P.SIGNOFFS, "*", brief.language, local, rng, fixed.get("signoff"))
    return {"text": f"{text}\n{signoff}"}, {"text": index, "signoff": sign_index}


def usted(text: str) -> str:
    """Spanish written with tú, rewritten for a brand that says usted (see `phrases.USTED`)."""
    for before, after in P.USTED:
        text = re.sub(rf"(?<!\w){re.escape(before)}(?!\w)", after, text)
    return text


def _write(brief: Brief, products: Sequence[ProductFact], kit: BrandKit, rng: random.Random,
           fixed: dict[str, int]) -> Draft:  # fmt: skip
    facts = _facts(brief, products, kit)
    kind = brief.content_type
    if kind in ("email", "subject_line"):
        fields, choices = _email(brief, products, kit, facts, rng, fixed)
    elif kind == "search_ad":
        fields, choices = _ad(brief, facts, rng, fixed)
    elif kind == "social_post":
        fields, choices = _social(brief, kit, facts, rng, fixed)
    elif kind == "sms":
        fields, choices = _sms(brief, kit, facts, rng, fixed)
    elif kind == "product_description":
        fields, choices = _description(brief, products, facts, rng, fixed)
    elif kind == "review_reply":
        fields, choices = _review_reply(brief, kit, facts, rng, fixed)
    else:
        raise ValueError(f"unknown content type {kind!r}")
    if brief.language == "es" and kit.spanish_address == "usted":
        fields = {name: [usted(v) for v in value] if isinstance(value, list) else usted(value)
                  for name, value in fields.items()}  # fmt: skip
    offer = brief.offer_percent if "percent" in facts else None
    piece = Piece(kind, brief.language, fields, list(products), network=brief.network, offer_percent=offer)
    return Draft(piece, choices)


def _fits(piece: Piece) -> bool:
    """Within every length limit, and with as many ad headlines and descriptions as the channel needs."""
    for name, (least, _) in AD_COUNTS.items():
        if piece.content_type == "search_ad" and len(piece.fields.get(name) or []) < least:
            return False
    for limit in FIELDS.get(piece.content_type, ()):
        value = piece.fields.get(limit.name)
        items = value if isinstance(value, list) else [value] if isinstance(value, str) else []
        if limit.max_chars is not None and any(len(item) > limit.max_chars for item in items):
            return False
    return True


def _bigrams(piece: Piece) -> frozenset[tuple[str, str]]:
    tokens = re.findall(r"\w+", " ".join(text for name, text in piece.texts() if name != "body_html").lower())
    return frozenset(zip(tokens, tokens[1:], strict=False))


def _jaccard_distance(first: frozenset, second: frozenset) -> float:
    union = len(first | second)
    return 1.0 - len(first & second) / union if union else 0.0


def distance(a: Piece, b: Piece) -> float:
    """1 - Jaccard similarity of the pieces' word bigrams (the HTML body left out: it repeats the text):
    0 for the same words in the same order."""
    return _jaccard_distance(_bigrams(a), _bigrams(b))


def generate(brief: Brief, products: Sequence[ProductFact], kit: BrandKit, variants: int = 3, seed: int = 0
             ) -> list[Draft]:  # fmt: skip
    """`variants` drafts, as different from each other as the phrasings allow; the same for the same seed."""
    rng = random.Random(seed)
    candidates: list[tuple[Draft, frozenset]] = []
    seen: set[str] = set()
    for _ in range(max(variants * CANDIDATES_PER_VARIANT, 8)):
        draft = _write(brief, products, kit, rng, {})
        key = repr(sorted(draft.piece.fields.items()))
        if key not in seen and _fits(draft.piece):
            seen.add(key)
            candidates.append((draft, _bigrams(draft.piece)))
    if not candidates:
        return []
    chosen = [candidates[0]]
    nearest = [_jaccard_distance(bigrams, chosen[0][1]) for _, bigrams in candidates]  # to the closest chosen
    while len(chosen) < min(variants, len(candidates)):
        best = max(range(len(candidates)), key=lambda i: nearest[i])
        chosen.append(candidates[best])
        nearest = [min(d, _jaccard_distance(bigrams, candidates[best][1])) for d, (_, bigrams) in zip(nearest,
                   candidates, strict=True)]  # fmt: skip
    return [draft for draft, _ in chosen]


def localise(draft: Draft, brief: Brief, products: Sequence[ProductFact], kit: BrandKit, language: str) -> Draft:
    """The same variant in another language: the same choices, written from the aligned phrasings."""
    other = Brief(**{**brief.__dict__, "language": language})
    return _write(other, products, kit, random.Random(0), draft.choices)
