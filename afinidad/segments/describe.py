"""Segments described in words a marketer reads, in English and Spanish, from their distinguishing features.

A feature distinguishes a segment when the segment's mean, in the clustering's scaled units, is at least
`MENTION_AT` (0.5) population standard deviations away from the population mean: half a standard deviation is
the conventional "medium" effect size (Cohen's d), enough to be visible in the segment's members. The features
are ranked by that distance (ties by name) and the first `max_phrases` become phrases. A share (weekend,
daypart, category, channel) is only named for being high, and only when the segment's own mean share is at
least `MIN_SHARE` (20%): "buyers of Christmas items" must mean that a fifth of their money goes there, not
that they spend 3% where others spend 1%.

The sentence is a subject ("Frequent buyers"), an object when the subject takes one ("of home decor"), then
the other phrases: "Weekend buyers of home decor, mostly mobile, high basket value". Descriptions of one model
are made distinct: a segment whose description equals another's gets its next phrase, and as a last resort
its id. Everything is a pure function of the numbers, so the same model always reads the same."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from afinidad.errors import FieldProblem, InvalidInput

LANGUAGES = ("en", "es")
MENTION_AT = 0.5  # standardised units
MIN_SHARE = 0.2  # a share feature must be at least this high in the segment to be named
MOSTLY_SHARE = 0.5  # "mostly X" from here on
NO_PURCHASE_SEGMENT = 0
NO_PURCHASE = {"en": "No purchase yet", "es": "Sin compras todavía"}
TYPICAL = {"en": "Typical customers", "es": "Clientes típicos"}
BUYERS = {"en": "Buyers", "es": "Compradores"}
SEGMENT = {"en": "segment", "es": "segmento"}


@dataclass(frozen=True)
class Phrase:
    """What one feature says about a segment, in one language: as the subject of the sentence (None when it
    cannot be one), whether that subject takes an object ("Frequent buyers" + "of home decor"), as an object
    (None when it cannot be one), and as a plain qualifier after a comma."""

    qualifier: str
    subject: str | None = None
    takes_object: bool = False
    object: str | None = None


# (feature, direction) -> language -> phrase. Directions: "high" and "low".
PHRASES: dict[tuple[str, str], dict[str, Phrase]] = {
    ("orders", "high"): {
        "en": Phrase("frequent orders", "Frequent buyers", True),
        "es": Phrase("pedidos frecuentes", "Compradores frecuentes", True),
    },
    ("orders", "low"): {
        "en": Phrase("few orders", "Occasional buyers", True),
        "es": Phrase("pocos pedidos", "Compradores ocasionales", True),
    },
    ("recency_days", "high"): {
        "en": Phrase("no recent order", "Lapsed customers"),
        "es": Phrase("sin pedidos recientes", "Clientes inactivos"),
    },
    ("recency_days", "low"): {
        "en": Phrase("ordered recently", "Recent buyers", True),
        "es": Phrase("han comprado hace poco", "Compradores recientes", True),
    },
    ("tenure_days", "high"): {
        "en": Phrase("long-standing customers", "Long-standing customers"),
        "es": Phrase("clientes desde hace tiempo", "Clientes veteranos"),
    },
    ("tenure_days", "low"): {
        "en": Phrase("new customers", "New customers"),
        "es": Phrase("clientes nuevos", "Clientes nuevos"),
    },
    ("spend", "high"): {
        "en": Phrase("high total spend", "Big spenders"),
        "es": Phrase("gasto total alto", "Grandes compradores"),
    },
    ("spend", "low"): {
        "en": Phrase("low total spend", "Small spenders"),
        "es": Phrase("gasto total bajo", "Clientes de gasto bajo"),
    },
    ("days_between_orders", "high"): {
        "en": Phrase("long gaps between orders"),
        "es": Phrase("mucho tiempo entre pedidos"),
    },
    ("days_between_orders", "low"): {
        "en": Phrase("short gaps between orders"),
        "es": Phrase("poco tiempo entre pedidos"),
    },
    ("basket_value", "high"): {
        "en": Phrase("high basket value"),
        "es": Phrase("cestas de alto valor"),
    },
    ("basket_value", "low"): {
        "en": Phrase("low basket value"),
        "es": Phrase("cestas de poco valor"),
    },
    ("basket_items", "high"): {
        "en": Phrase("large baskets", object="of large baskets"),
        "es": Phrase("cestas grandes", object="de cestas grandes"),
    },
    ("basket_items", "low"): {
        "en": Phrase("small baskets", object="of small baskets"),
        "es": Phrase("cestas pequeñas", object="de cestas pequeñas"),
    },
    ("unit_price", "high"): {
        "en": Phrase("high spend per item"),
        "es": Phrase("gasto alto por artículo"),
    },
    ("unit_price", "low"): {
        "en": Phrase("low spend per item"),
        "es": Phrase("gasto bajo por artículo"),
    },
    ("weekend_share", "high"): {
        "en": Phrase("often at weekends", "Weekend buyers", True),
        "es": Phrase("a menudo en fin de semana", "Compradores de fin de semana", True),
    },
}
DAYPARTS = {
    "en": {
        "night": "at night",
        "morning": "in the morning",
        "afternoon": "in the afternoon",
        "evening": "in the evening",
    },
    "es": {"night": "de noche", "morning": "por la mañana", "afternoon": "por la tarde", "evening": "al anochecer"},
}
MOSTLY = {"en": "mostly", "es": "sobre todo"}
OFTEN = {"en": "often", "es": "a menudo"}
OF = {"en": "of", "es": "de"}


def describe_segments(
    segment_ids: Sequence[int],
    feature_names: Sequence[str],
    standardised_means: np.ndarray,
    segment_means: np.ndarray,
    language: str = "en",
    labels: Mapping[str, str] | None = None,
    max_phrases: int = 3,
) -> dict[int, str]:
    """Descriptions by segment id, plus NO_PURCHASE_SEGMENT. `standardised_means[s, f]` is how far segment s
    is from the population on feature f in standard deviations; `segment_means[s, f]` its mean in the
    feature's own units (used for the shares). `labels` renames category and channel values for the reader
    (for instance into the description's language)."""
    if language not in LANGUAGES:
        raise InvalidInput(f"No descriptions in {language!r}.", [FieldProblem("language", "one of en, es")])
    ranked = [
        _ranked_phrases(list(feature_names), np.asarray(z), np.asarray(means), language, labels or {})
        for z, means in zip(standardised_means, segment_means, strict=True)
    ]
    counts = [min(max_phrases, len(phrases)) for phrases in ranked]
    texts = [_sentence(phrases[:count], language) for phrases, count in zip(ranked, counts, strict=True)]
    while True:  # lengthen the descriptions that collide until they differ or run out of phrases
        colliding = [i for i, text in enumerate(texts) if texts.count(text) > 1 and counts[i] < len(ranked[i])]
        if not colliding:
            break
        for i in colliding:
            counts[i] += 1
            texts[i] = _sentence(ranked[i][: counts[i]], language)
    texts = [f"{text} ({SEGMENT[language]} {segment_ids[i]})" if texts.count(text) > 1 else text
             for i, text in enumerate(texts)]  # fmt: skip
    return {NO_PURCHASE_SEGMENT: NO_PURCHASE[language]} | {
        int(segment_id): text for segment_id, text in zip(segment_ids, texts, strict=True)
    }


def distinguishing_features(
    feature_names: Sequence[str], standardised_means: np.ndarray, segment_means: np.ndarray
) -> list[tuple[str, str, float]]:
    """(feature, "high" or "low", standardised distance) of one segment, most distinguishing first: the
    features a description may name, before phrasing."""
    found = []
    for name, z, mean in zip(feature_names, standardised_means, segment_means, strict=True):
        if not np.isfinite(z) or abs(z) < MENTION_AT:
            continue
        direction = "high" if z > 0 else "low"
        if _is_share(name) and (direction == "low" or not mean >= MIN_SHARE):
            continue
        found.append((name, direction, float(z)))
    return sorted(found, key=lambda item: (-abs(item[2]), item[0]))


def _ranked_phrases(
    names: list[str], z: np.ndarray, means: np.ndarray, language: str, labels: Mapping[str, str]
) -> list[Phrase]:
    phrases = []
    for name, direction, _ in distinguishing_features(names, z, means):
        phrase = _phrase(name, direction, float(means[names.index(name)]), language, labels)
        if phrase is not None:
            phrases.append(phrase)
    return phrases


def _phrase(name: str, direction: str, mean: float, language: str, labels: Mapping[str, str]) -> Phrase | None:
    if (name, direction) in PHRASES:
        return PHRASES[(name, direction)][language]
    kind, _, value = name.partition(":")
    label = labels.get(value, value)
    amount = MOSTLY[language] if mean >= MOSTLY_SHARE else OFTEN[language]
    if kind == "category_share":
        return Phrase(f"{amount} {label}", object=f"{OF[language]} {label}")
    if kind == "channel_share":
        return Phrase(f"{amount} {label}")
    if kind == "daypart_share" and value in DAYPARTS[language]:
        return Phrase(f"{amount} {DAYPARTS[language][value]}")
    return None  # a feature this module has no words for is left out rather than named badly


def _sentence(phrases: list[Phrase], language: str) -> str:
    if not phrases:
        return TYPICAL[language]
    rest = list(phrases)
    subject_phrase = next((phrase for phrase in rest if phrase.subject is not None), None)
    if subject_phrase is not None:
        rest.remove(subject_phrase)
    object_phrase = next((phrase for phrase in rest if phrase.object is not None), None)
    if object_phrase is not None and (subject_phrase is None or subject_phrase.takes_object):
        rest.remove(object_phrase)
        subject = subject_phrase.subject if subject_phrase is not None else BUYERS[language]
        head = f"{subject} {object_phrase.object}"
    elif subject_phrase is not None:
        head = str(subject_phrase.subject)
    else:
        head = _capitalised(rest.pop(0).qualifier)
    return ", ".join([head, *(phrase.qualifier for phrase in rest)])


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _is_share(name: str) -> bool:
    return name.endswith("_share") or ":" in name
