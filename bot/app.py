"""The one wiring place: builds the store, the matcher registry and the dispatcher from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bot.settings import Settings
from handlers.dispatch import Dispatcher
from handlers.matching.registry import shipped_registry
from handlers.turn import Services
from store import migrate
from store.db import Database


@dataclass
class Core:
    settings: Settings
    db: Database
    services: Services
    dispatcher: Dispatcher


@asynccontextmanager
async def open_core(settings: Settings, *, upgrade: bool = True) -> AsyncIterator[Core]:
    """The store (schema upgraded), matchers and handlers; the database is closed on exit."""
    db = Database(settings.database_url, schema=settings.database_schema)
    try:
        if upgrade:
            await migrate.upgrade(db)
        # The example model and the embedding model are loaded here, once, rather than on the
        # first question.
        matchers = shipped_registry(
            db, workspaces_kept=settings.workspaces_kept, phrase_budget=settings.matcher_phrases
        )
        await matchers.warm()
        services = Services(db=db, matchers=matchers, config=settings.handler_config())
        yield Core(settings, db, services, Dispatcher(services))
    finally:
        await db.dispose()
