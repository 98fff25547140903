"""What a handler is given: the message, where it came from (workspace, project, sender) and the services."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from handlers.matching.registry import MatcherRegistry, WorkspaceIndex
from handlers.message import Message, Notification
from seed.catalogue import CatalogueSpec
from store import assignments
from store.db import Database
from store.outbox import Outgoing
from store.records import Holder, Holding, PersonRecord, ProjectRef, WorkspaceRef

# Holders of these roles may assign and remove anyone in their project (besides workspace admins).
MANAGING_ROLES = ("Group Manager", "Team Lead", "Project Lead")


@dataclass(frozen=True)
class HandlerConfig:
    """The policy handlers follow; built from the environment by `bot.settings`."""

    admins: frozenset[str] = frozenset()
    remind_after: timedelta = timedelta(minutes=60)
    managing_roles: tuple[str, ...] = MANAGING_ROLES
    # The catalogue a workspace starts with when the bot first sees it (WHOOWNS_CATALOG); None is
    # the default catalogue.
    new_catalogue: CatalogueSpec | None = None
    # Platforms whose notifications go through the outbox to a delivery worker; the console shows
    # its own in the reply.
    outbox_platforms: frozenset[str] = frozenset({"slack", "teams"})
    # The ownership review: an ask left unanswered this long is reported to the first of
    # `reviewer_roles` (then the managing roles) that someone holds in the project.
    review_grace: timedelta = timedelta(days=7)
    reviewer_roles: tuple[str, ...] = ("Team Lead",)
    # How often a replica looks whether a workspace's review or digest is due.
    review_check_every: timedelta = timedelta(hours=1)
    digest_every: timedelta = timedelta(days=7)


def utc_now() -> datetime:
    return datetime.now(UTC)


class ChannelProjects:
    """Which project a channel answers for, remembered for `ttl` seconds per replica.

    A link made on this replica is seen at once (`forget`); one made on another within `ttl`.
    """

    def __init__(self, ttl: float = 3.0, kept: int = 20_000) -> None:
        self.ttl = ttl
        self.kept = kept
        self._known: dict[tuple[int, str], tuple[ProjectRef, float]] = {}

    def get(self, workspace_id: int, channel: str | None) -> ProjectRef | None:
        found = self._known.get((workspace_id, channel or ""))
        if found is None:
            return None
        fresh = channel is None or time.monotonic() - found[1] < self.ttl  # the default never moves
        return found[0] if fresh else None

    def put(self, workspace_id: int, channel: str | None, project: ProjectRef) -> None:
        self._known[(workspace_id, channel or "")] = (project, time.monotonic())
        if len(self._known) > self.kept:
            del self._known[next(iter(self._known))]  # the first put: an old one

    def forget(self) -> None:
        self._known.clear()


@dataclass
class Services:
    db: Database
    matchers: MatcherRegistry
    config: HandlerConfig = field(default_factory=HandlerConfig)
    channel_projects: ChannelProjects = field(default_factory=ChannelProjects)
    # The time handlers see; tests move it to let covers lapse and reminders fall due.
    clock: Callable[[], datetime] = utc_now

    def now(self) -> datetime:
        return self.clock()


@dataclass
class Turn:
    message: Message
    workspace: WorkspaceRef
    project: ProjectRef
    sender: PersonRecord
    services: Services

    @property
    def db(self) -> Database:
        return self.services.db

    async def index(self) -> WorkspaceIndex:
        return await self.services.matchers.index(self.workspace.id)

    async def holders(
        self, role_ids: Iterable[int] | None = None, *, project_id: int | None = None
    ) -> dict[int, list[Holder]]:
        """Current holders (by the services' clock) per role id, in this turn's project by default."""
        project = self.project.id if project_id is None else project_id
        return await assignments.holders(self.db, project, role_ids, at=self.services.now())

    async def role_holders(self, role_id: int) -> list[Holder]:
        return (await self.holders([role_id])).get(role_id, [])

    async def holdings(self, person_id: int) -> list[Holding]:
        return await assignments.holdings(
            self.db, self.project.id, person_id, at=self.services.now()
        )

    async def managing_roles(self) -> tuple[str, ...]:
        """The configured managing roles that this workspace's catalogue has, as it names them."""
        catalog = (await self.index()).catalog
        found = (catalog.role_named(name) for name in self.services.config.managing_roles)
        return tuple(role.name for role in found if role is not None)

    def outbox(self, notifications: Iterable[Notification]) -> list[Outgoing]:
        return outgoing(self.services, self.message.platform, notifications)

    @property
    def sender_is_admin(self) -> bool:
        admins = self.services.config.admins
        ids = (self.message.user_id, *self.message.user_aliases)
        return self.message.operator or any(i in admins for i in ids)


def outgoing(
    services: Services, platform: str, notifications: Iterable[Notification]
) -> list[Outgoing]:
    """Notifications as outbox rows, for a platform a delivery worker serves (else none)."""
    if platform not in services.config.outbox_platforms:
        return []
    return [
        Outgoing(note.user_id, note.name, note.payload(), note.fallback_channel)
        for note in notifications
    ]
