"""Turning names into the ASCII pieces of URLs, ids and e-mail addresses ("Café del Sol" -> "cafe-del-sol")."""

from __future__ import annotations

import unicodedata


def slug(text: str) -> str:
    return "-".join(part for part in ascii_words(text) if part)


def ascii_words(text: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", text).lower()
    cleaned = "".join(ch if ch.isascii() and ch.isalnum() else " " for ch in decomposed)
    return cleaned.split()


def ascii_letters(text: str) -> str:
    """Only the ASCII letters and digits, lower-cased: "María" -> "maria", "Hernández" -> "hernandez"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if ch.isascii() and ch.isalnum()).lower()
