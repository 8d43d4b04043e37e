"""Ideas for copy from what the workspace's data shows now, each saying which signal it came from: trending and
rising products, what people search for, what recent reviews talk about, and the season. Pure: the signals
in, the ideas out; `service.ideas` reads the signals.

An idea is a starting point a marketer can turn into a brief, not finished copy: it is short, names its
evidence, and states nothing that the signal does not (a rising product is "rising", not "best-selling")."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

# Words that carry no theme, per language (reviews are read in the shop's languages).
STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset((
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "had", "has", "have", "i", "in",
        "is", "it", "its", "it's", "my", "not", "of", "on", "or", "so", "that", "the", "this", "to", "too", "very",
        "was", "were", "with", "you", "your", "we", "they", "them", "me", "our", "just", "really", "also", "would",
        "will", "can", "did", "do", "does", "got", "get", "one", "all", "more", "most", "much", "no", "yes",
        "than", "then", "there", "their", "what", "when", "which", "who", "why", "how",
    )),
    "es": frozenset((
        "a", "al", "algo", "como", "con", "de", "del", "el", "ella", "en", "es", "esta", "este", "esto", "fue",
        "ha", "hay", "la", "las", "le", "lo", "los", "me", "mi", "muy", "no", "nos", "o", "para", "pero", "por",
        "que", "se", "sin", "su", "sus", "también", "te", "tiene", "un", "una", "uno", "y", "ya", "más", "bien",
        "todo",
    )),
}  # fmt: skip
SEASONS = {"en": ("winter", "spring", "summer", "autumn"), "es": ("invierno", "primavera", "verano", "otoño")}


@dataclass(frozen=True)
class Idea:
    kind: str  # subject_line, headline, social_post, keyword
    text: str
    signal: str  # trending, rising, search, reviews, season
    evidence: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "text": self.text, "signal": self.signal, "evidence": self.evidence}


def season_of(day: date, southern: bool = False) -> int:
    """0 winter, 1 spring, 2 summer, 3 autumn, by meteorological season."""
    index = (day.month % 12) // 3
    return (index + 2) % 4 if southern else index


def themes(reviews: Iterable[str], language: str, top: int = 5) -> list[tuple[str, int]]:
    """The words (and two-word phrases) recent reviews repeat, most frequent first, stopwords left out."""
    stop = STOPWORDS.get(language, set())
    counts: Counter[str] = Counter()
    for text in reviews:
        tokens = [t for t in re.findall(r"[^\W\d_]{3,}", text.lower()) if t not in stop]
        counts.update(set(tokens))
        counts.update({f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)})
    return [(term, n) for term, n in counts.most_common(top * 3) if n >= 2][:top]


def ideas(trending: list[dict], searches: list[tuple[str, int]], reviews: list[str], today: date,
          language: str = "en", southern: bool = False) -> list[Idea]:  # fmt: skip
    """Ideas from each signal that has something to say."""
    en = language == "en"
    found: list[Idea] = []
    for item in trending[:3]:
        title, rising = item["title"], float(item.get("rising") or 1.0)
        if rising >= 2:
            text = f"{title} is catching on" if en else f"{title} está de moda"
            found.append(Idea("subject_line", text, "rising", f"{rising:.1f}x more interest in the last quarter "
                              "of the window than before"))  # fmt: skip
        else:
            text = f"Our most-viewed right now: {title}" if en else f"Lo más visto ahora: {title}"
            found.append(Idea("subject_line", text, "trending", f"trending score {item.get('score')}"))
    for query, count in searches[:5]:
        found.append(Idea("keyword", query, "search", f"searched {count} times in the last 30 days"))
        text = f"Looking for {query}?" if en else f"¿Buscas {query}?"
        if len(text) <= 30:
            found.append(Idea("headline", text, "search", f"searched {count} times in the last 30 days"))
    for term, count in themes(reviews, language, top=3):
        text = f"What our customers say about {term}" if en else f"Lo que dicen nuestros clientes sobre {term}"
        found.append(Idea("social_post", text, "reviews", f"'{term}' in {count} recent reviews"))
    season = SEASONS.get(language, SEASONS["en"])[season_of(today, southern)]
    text = f"Ready for {season}?" if en else f"¿Listo para {season}?"
    found.append(Idea("subject_line", text, "season", f"{today.isoformat()} is {season}"))
    return found
