"""What a handler is given: the message, where it came from (workspace, project, sender) and the services."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from handlers.matching.registry import MatcherRegistry, WorkspaceIndex
from handlers.message import Message
from store.db import Database
from store.records import PersonRecord, ProjectRef, WorkspaceRef

# Holders of these roles may assign and remove anyone in their project (besides workspace admins).
MANAGING_ROLES = ("Group Manager", "Team Lead", "Project Lead")


@dataclass(frozen=True)
class HandlerConfig:
    """The policy handlers follow; built from the environment by `bot.settings`."""

    admins: frozenset[str] = frozenset()
    remind_after: timedelta = timedelta(minutes=60)
    managing_roles: tuple[str, ...] = MANAGING_ROLES


@dataclass
class Services:
    db: Database
    matchers: MatcherRegistry
    config: HandlerConfig = field(default_factory=HandlerConfig)

    def now(self) -> datetime:
        return datetime.now(UTC)


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

    @property
    def sender_is_admin(self) -> bool:
        return self.message.operator or self.message.user_id in self.services.config.admins
