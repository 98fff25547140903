"""One matcher per workspace, built from the store and rebuilt when the catalogue version moves."""

from __future__ import annotations

import asyncio
import time

from handlers.matching.examples import ExampleModel
from handlers.matching.matcher import CatalogEntry, Matcher, Target, Thresholds
from handlers.matching.roles import RoleResolver
from store import catalog as catalog_queries
from store.db import Database
from store.records import Catalog


def catalog_entries(catalog: Catalog) -> list[CatalogEntry]:
    entries: list[CatalogEntry] = []
    for role in catalog.roles:
        entries.append(CatalogEntry(Target(role.id, role.name), (role.name, *role.aliases)))
        for r in role.responsibilities:
            entries.append(
                CatalogEntry(
                    Target(role.id, role.name, r.id, r.text), (r.text, *r.keywords, *r.learned)
                )
            )
    return entries


class WorkspaceIndex:
    """The catalogue of one workspace with its matcher and role resolver, at one catalogue version."""

    def __init__(
        self,
        catalog: Catalog,
        thresholds: Thresholds | None = None,
        examples: ExampleModel | None = None,
    ) -> None:
        self.catalog = catalog
        self.matcher = Matcher(catalog_entries(catalog), thresholds, examples)
        self.roles = RoleResolver(catalog.roles)

    @property
    def version(self) -> int:
        return self.catalog.version


class MatcherRegistry:
    """Caches each workspace's index; checks the version in the database at most every `recheck` seconds."""

    def __init__(
        self,
        db: Database,
        *,
        thresholds: Thresholds | None = None,
        examples: ExampleModel | None = None,
        recheck: float = 0.5,
    ) -> None:
        self._db = db
        self._thresholds = thresholds
        self._examples = examples
        self._recheck = recheck
        self._indexes: dict[int, tuple[WorkspaceIndex, float]] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    def forget(self, workspace_id: int) -> None:
        self._indexes.pop(workspace_id, None)

    async def index(self, workspace_id: int) -> WorkspaceIndex:
        cached = self._indexes.get(workspace_id)
        now = time.monotonic()
        if cached and now - cached[1] < self._recheck:
            return cached[0]
        if cached:
            version = await catalog_queries.catalog_version(self._db, workspace_id)
            if version == cached[0].version:
                self._indexes[workspace_id] = (cached[0], now)
                return cached[0]
        lock = self._locks.setdefault(workspace_id, asyncio.Lock())
        async with lock:
            current = self._indexes.get(workspace_id)
            if current and current[0] is not (cached[0] if cached else None):
                return current[0]
            catalog = await catalog_queries.load_catalog(self._db, workspace_id)
            built = WorkspaceIndex(catalog, self._thresholds, self._examples)
            self._indexes[workspace_id] = (built, time.monotonic())
            return built
