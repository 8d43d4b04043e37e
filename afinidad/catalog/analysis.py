"""Text analysis for catalog search: words -> language-aware stems, the same in SQLite and PostgreSQL.

Why in Python and not in each database: SQLite's FTS5 only stems English (porter), and PostgreSQL's Spanish
configuration needs server-side setup we cannot assume. Doing it here with the Snowball stemmers (PyStemmer,
the same algorithms PostgreSQL ships) gives both stores identical terms, so a search finds the same products
on the embedded default and in production, and "zapatos" finds "zapato" on both.

Rules:
- Words are runs of letters and digits (Unicode), case-folded; stop words of the text's language are dropped.
- Each word is stemmed with the Snowball stemmer of the language, then stripped of accents, so "camión" and
  "camion" meet.
- A product in a known language is indexed with that language's stems. One without a language is indexed
  with the stems of every default language (English and Spanish), so an untagged catalog still searches well.
- A query word matches any of its stems in the query's languages ("zapatos" -> {"zapato", "zapat"}).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import Stemmer

DEFAULT_LANGUAGES = ("en", "es")

# ISO 639-1 -> Snowball algorithm (those PyStemmer ships that a shop is likely to use).
ALGORITHMS = {
    "ar": "arabic", "ca": "catalan", "cs": "czech", "da": "danish", "de": "german", "el": "greek", "en": "english",
    "es": "spanish", "eu": "basque", "fi": "finnish", "fr": "french", "hu": "hungarian", "id": "indonesian",
    "it": "italian", "lt": "lithuanian", "nl": "dutch", "no": "norwegian", "pl": "polish", "pt": "portuguese",
    "ro": "romanian", "ru": "russian", "sv": "swedish", "tr": "turkish",
}  # fmt: skip

# Short lists: words that carry no meaning in a product search. Kept small on purpose ("top", "new" stay).
STOP_WORDS = {
    "en": frozenset(
        {
            "a",
            "an",
            "and",
            "are",
            "as",
            "at",
            "be",
            "by",
            "for",
            "from",
            "in",
            "into",
            "is",
            "it",
            "of",
            "on",
            "or",
            "the",
            "this",
            "that",
            "to",
            "with",
            "without",
        }
    ),
    "es": frozenset(
        {
            "a",
            "al",
            "con",
            "de",
            "del",
            "e",
            "el",
            "en",
            "es",
            "la",
            "las",
            "lo",
            "los",
            "o",
            "para",
            "por",
            "se",
            "sin",
            "su",
            "sus",
            "u",
            "un",
            "una",
            "unos",
            "unas",
            "y",
        }
    ),
}

_WORD = re.compile(r"\w+")


def language_of(tag: str | None) -> str | None:
    """The primary language subtag we can stem ("es-MX" -> "es"), or None when unknown or unsupported."""
    if not tag:
        return None
    primary = tag.split("-", 1)[0].lower()
    return primary if primary in ALGORITHMS else None


@lru_cache(maxsize=64)
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(ALGORITHMS[language])


def _unaccent(word: str) -> str:
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def stems(text: str, languages: Sequence[str]) -> list[str]:
    """The index terms of a text: its words' stems in each of `languages`, stop words dropped, in order."""
    found = words(text)
    out: list[str] = []
    for language in languages:
        stop = STOP_WORDS.get(language, frozenset())
        kept = [word for word in found if word not in stop]
        out.extend(_unaccent(stem) for stem in _stemmer(language).stemWords(kept))
    return out


def index_languages(tag: str | None) -> tuple[str, ...]:
    language = language_of(tag)
    return (language,) if language else DEFAULT_LANGUAGES


@dataclass(frozen=True)
class QueryTerm:
    """One word of a query: it matches a document holding any of `alternatives` (or a term starting with one,
    when `prefix`)."""

    word: str
    alternatives: tuple[str, ...]
    prefix: bool = False


def query_terms(text: str, languages: Iterable[str], *, prefix: bool = False) -> list[QueryTerm]:
    """The terms a search must all match. Stop words are dropped unless the query has nothing else.
    With `prefix`, the last word also matches longer terms (search as you type)."""
    chosen = [language for language in dict.fromkeys(languages) if language in ALGORITHMS]
    found = words(text)
    stop = frozenset().union(*(STOP_WORDS.get(language, frozenset()) for language in chosen))
    meaningful = [word for word in found if word not in stop] or found
    terms = []
    for position, word in enumerate(meaningful):
        last = position == len(meaningful) - 1
        alternatives = {_unaccent(_stemmer(language).stemWord(word)) for language in chosen}
        if prefix and last:
            alternatives.add(_unaccent(word))
        terms.append(QueryTerm(word, tuple(sorted(alternatives)), prefix and last))
    return terms
