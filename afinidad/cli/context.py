"""What every command needs: settings, a migrated store, a console."""

from __future__ import annotations

from functools import lru_cache

from rich.console import Console

from afinidad.settings import Settings, get_settings
from afinidad.store.engine import Store
from afinidad.store.migrate import upgrade

console = Console()
errors = Console(stderr=True)


def settings() -> Settings:
    return get_settings()


@lru_cache(maxsize=1)
def store() -> Store:
    current = settings()
    opened = Store.from_url(
        current.database_url.get_secret_value(), sqlite_synchronous=current.sqlite_synchronous, sqlite_immediate=True
    )
    upgrade(opened.engine)
    return opened
