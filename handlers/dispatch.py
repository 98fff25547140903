"""The one entry point adapters call: a platform-neutral message in, a reply out."""

from __future__ import annotations

import logging

from handlers.intents import build_router
from handlers.message import Message, Reply, line
from handlers.router import Router
from handlers.turn import Services, Turn
from handlers.wording import STORE_DOWN, refusal
from store import people, workspaces
from store.db import StoreUnavailable

log = logging.getLogger(__name__)

CONSOLE_WORKSPACE_NAME = "Console"
MAX_MESSAGE_CHARS = 4000


class Dispatcher:
    def __init__(self, services: Services, router: Router | None = None) -> None:
        self.services = services
        self.router = router or build_router()

    async def handle(self, message: Message) -> Reply:
        try:
            return await self._handle(message)
        except StoreUnavailable:
            log.warning("store unavailable while handling a %s message", message.platform)
            return Reply(intent="error", body=[line(STORE_DOWN)], outcome="unknown", private=True)

    async def _handle(self, message: Message) -> Reply:
        db = self.services.db
        workspace = await workspaces.ensure_workspace(
            db, message.platform, message.workspace, message.workspace_name
        )
        project = await workspaces.resolve_project(
            db, workspace.id, message.channel, message.project
        )
        if project is None:
            return refusal(
                "error",
                f"There is no project called “{message.project}”. Say “projects” to see them.",
                project=message.project,
            )
        sender = await people.ensure_person(db, workspace.id, message.user_id, message.user_name)
        text = message.text.strip()
        if len(text) > MAX_MESSAGE_CHARS:
            text = text[:MAX_MESSAGE_CHARS]
        turn = Turn(message, workspace, project, sender, self.services)
        route, match = self.router.route(text)
        log.debug("routing %r to %s", text[:80], route.intent)
        return await route.handler(turn, match)
