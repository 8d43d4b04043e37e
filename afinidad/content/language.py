"""Which language a piece of copy is in, offline: lingua's n-gram models (accurate on short texts, where
stopword counts fail) over the languages a shop is likely to write in. Models load on first use, per
language, and stay loaded.

A short text is ambiguous ("Última oportunidad" is Spanish and Portuguese alike), so the checker only calls
copy "in the wrong language" when it is long enough and the expected language is clearly not it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

CANDIDATES = ("en", "es", "pt", "fr", "de", "it", "ca", "nl")
MIN_WORDS = 6  # below this (names left out) a verdict is a guess: lingua reads short Spanish as Portuguese
_lock = threading.Lock()


@dataclass(frozen=True)
class LanguageGuess:
    code: str | None  # ISO 639-1, None when undecided
    confidence: float  # of `code`
    expected_confidence: float | None  # of the language asked about, when one was


def _language(code: str) -> Language:
    return Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper()))


@cache
def _detector(codes: tuple[str, ...]) -> LanguageDetector:
    return LanguageDetectorBuilder.from_languages(*(_language(code) for code in codes)).build()


def known(code: str) -> bool:
    try:
        _language(code)
    except (AttributeError, ValueError):
        return False
    return True


def guess(text: str, expected: str | None = None) -> LanguageGuess:
    """The most likely language of `text` among `CANDIDATES` (and `expected`, if it is another one)."""
    codes = tuple(sorted(set(CANDIDATES) | ({expected} if expected and known(expected) else set())))
    with _lock:  # building a detector loads models; detection itself is thread-safe
        detector = _detector(codes)
    values = detector.compute_language_confidence_values(text)
    if not values:
        return LanguageGuess(None, 0.0, None)
    top = values[0]
    code = top.language.iso_code_639_1.name.lower()
    expected_value = None
    if expected and known(expected):
        expected_value = next((v.value for v in values if v.language == _language(expected)), 0.0)
    return LanguageGuess(code, float(top.value), expected_value)


def words(text: str) -> int:
    return sum(1 for token in text.split() if any(ch.isalpha() for ch in token))
