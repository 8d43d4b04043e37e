"""The value of a field a row does not give: kept apart from ``None`` (which a JSON cell may hold on purpose)
so that an empty cell leaves a field out instead of setting it to null."""

from __future__ import annotations


class _Missing:
    """What a template renders to when a cell it needs is empty: the field is then left out."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING = _Missing()
