"""Display names from a platform's directory (Slack's users.info, the Teams roster), kept a day.

A name is looked for in this replica's memory, then in the store (any replica may have refreshed
it), and only then asked of the platform. The memory is bounded: a replica serving thousands of
workspaces keeps the names in use, not every name it ever saw.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import timedelta

from store import people
from store.db import Database, StoreUnavailable

NAME_MAX_AGE = timedelta(days=1)
NAMES_KEPT = 20_000

Lookup = Callable[[], Awaitable[str | None]]


class DisplayNames:
    def __init__(
        self,
        db: Database,
        platform: str,
        *,
        max_age: timedelta = NAME_MAX_AGE,
        kept: int = NAMES_KEPT,
    ) -> None:
        self.db = db
        self.platform = platform
        self.max_age = max_age
        self.kept = kept
        self._names: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._names)

    async def get(self, workspace: str, user: str, lookup: Lookup) -> str | None:
        """`user`'s name in `workspace`; `lookup` asks the platform when nothing fresh is known.
        None when nobody knows it (the platform refused, or the person is not in its directory)."""
        key = (workspace, user)
        remembered = self._names.get(key)
        if remembered and time.monotonic() - remembered[1] < self.max_age.total_seconds():
            self._names.move_to_end(key)
            return remembered[0]
        name = await self._stored(workspace, user) or await lookup()
        if name:
            self._names[key] = (name, time.monotonic())
            self._names.move_to_end(key)
            while len(self._names) > self.kept:
                self._names.popitem(last=False)
        return name

    async def _stored(self, workspace: str, user: str) -> str | None:
        try:
            return await people.fresh_display_name(
                self.db, self.platform, workspace, user, self.max_age
            )
        except StoreUnavailable:
            return None
