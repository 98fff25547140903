"""The one entry point adapters call: a platform-neutral message in, a reply out."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

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


Observer = Callable[[Message, Reply, float], None]


class Dispatcher:
    def __init__(self, services: Services, router: Router | None = None) -> None:
        self.services = services
        self.router = router or build_router()
        # Called with every message, its reply and the seconds it took (metrics, for one).
        self.observers: list[Observer] = []

    async def handle(self, message: Message) -> Reply:
        started = time.perf_counter()
        try:
            reply = await self._handle(message)
        except StoreUnavailable:
            log.warning("store unavailable while handling a %s message", message.platform)
            reply = Reply(intent="error", body=[line(STORE_DOWN)], outcome="unknown", private=True)
        elapsed = time.perf_counter() - started
        for observe in self.observers:
            observe(message, reply, elapsed)
        return reply

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
