"""The one entry point adapters call: a platform-neutral message in, a reply out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import replace

from handlers.intents import build_router
from handlers.message import Message, Reply, line
from handlers.router import Router
from handlers.turn import Services, Turn
from handlers.wording import STORE_DOWN, refusal
from store import events, people, workspaces
from store.db import StoreUnavailable
from store.records import PersonRecord, ProjectRef, WorkspaceRef

log = logging.getLogger(__name__)

CONSOLE_WORKSPACE_NAME = "Console"
MAX_MESSAGE_CHARS = 4000
KNOWN_PEOPLE = 20_000
KNOWN_WORKSPACES = 20_000


Observer = Callable[[Message, Reply, float], None]
# Records a platform delivery as handled; False when it was already (a retry, on any replica).
Claim = Callable[[], Awaitable[bool]]

# NUL and the other C0 controls but tab and newline: PostgreSQL refuses NUL in text, and none of them
# means anything in a chat message.
_CONTROLS = dict.fromkeys(c for c in range(32) if c not in (9, 10))


def _clean(message: Message) -> Message:
    text = message.text.translate(_CONTROLS)
    name = message.user_name.translate(_CONTROLS)[:200] if message.user_name else message.user_name
    if text == message.text and name == message.user_name:
        return message
    return replace(message, text=text, user_name=name)


class Dispatcher:
    def __init__(self, services: Services, router: Router | None = None) -> None:
        self.services = services
        self.router = router or build_router()
        # Called with every message, its reply and the seconds it took (metrics, for one).
        self.observers: list[Observer] = []
        # Rows that never change once made (a workspace's id; a person's id and name), remembered so
        # that a question costs no writes: the store stays the truth, this only saves round trips.
        self._workspaces: OrderedDict[tuple[str, str], WorkspaceRef] = OrderedDict()
        self._people: OrderedDict[tuple[int, str], PersonRecord] = OrderedDict()

    async def handle(self, message: Message) -> Reply:
        """A message that is no platform delivery (the console's): nothing to de-duplicate."""
        reply = await self._observed(message, None)
        assert reply is not None  # only a claim makes it None
        return reply

    async def handle_delivery(self, message: Message) -> Reply | None:
        """A platform delivery that may be a retry: None when its `event_id` was handled already.

        A plain question is answered while the event is being claimed, so that the claim's round
        trip is not on the answer's path; anything that may write waits for the claim first."""
        event_id = message.event_id
        if not event_id:
            return await self._observed(message, None)

        async def claim() -> bool:
            return await events.claim_event(self.services.db, message.platform, event_id)

        return await self._observed(message, claim)

    async def _observed(self, message: Message, claim: Claim | None) -> Reply | None:
        started = time.perf_counter()
        message = _clean(message)
        try:
            reply = await self._handle(message, claim)
        except StoreUnavailable:
            log.warning("store unavailable while handling a %s message", message.platform)
            reply = Reply(intent="error", body=[line(STORE_DOWN)], outcome="unknown", private=True)
        if reply is None:
            log.info(
                "%s: %s handled already (a retry); ignored", message.platform, message.event_id
            )
            return None
        elapsed = time.perf_counter() - started
        if not message.drawn:
            for observe in self.observers:
                observe(message, reply, elapsed)
        return reply

    async def _handle(self, message: Message, claim: Claim | None) -> Reply | None:
        workspace = await self._workspace(message)
        project = await self._project(workspace.id, message)
        if project is None:
            if claim is not None and not await claim():
                return None
            return refusal(
                "error",
                f"There is no project called “{message.project}”. Say “projects” to see them.",
                project=message.project,
            )
        sender = await self._person(workspace.id, message)
        text = message.text.strip()
        if len(text) > MAX_MESSAGE_CHARS:
            text = text[:MAX_MESSAGE_CHARS]
        turn = Turn(message, workspace, project, sender, self.services)
        route, match = self.router.route(text)
        log.debug("routing %r to %s", text[:80], route.intent)
        if claim is None:
            return await route.handler(turn, match)
        if route is self.router.fallback and message.choice is None:
            # A question for the matcher only reads (a picked choice may write).
            first, reply = await asyncio.gather(claim(), route.handler(turn, match))
            return reply if first else None
        return await route.handler(turn, match) if await claim() else None

    async def _workspace(self, message: Message) -> WorkspaceRef:
        key = (message.platform, message.workspace)
        found = self._workspaces.get(key)
        if found is not None:
            self._workspaces.move_to_end(key)
        else:
            found = await workspaces.ensure_workspace(
                self.services.db,
                message.platform,
                message.workspace,
                message.workspace_name,
                catalogue=self.services.config.new_catalogue,
            )
            self._workspaces[key] = found
            if len(self._workspaces) > KNOWN_WORKSPACES:
                self._workspaces.popitem(last=False)
        return found

    async def _project(self, workspace_id: int, message: Message) -> ProjectRef | None:
        """Named, else the channel's link, else the default project."""
        db = self.services.db
        if message.project:
            return await workspaces.resolve_project(db, workspace_id, name=message.project)
        known = self.services.channel_projects
        project = known.get(workspace_id, message.channel)
        if project is None:
            project = await workspaces.resolve_project(db, workspace_id, message.channel)
            if project is not None:
                known.put(workspace_id, message.channel, project)
        return project

    async def _person(self, workspace_id: int, message: Message) -> PersonRecord:
        key = (workspace_id, message.user_id)
        known = self._people.get(key)
        if known is not None and message.user_name in (None, known.name):
            self._people.move_to_end(key)
            return known
        person = await people.ensure_person(
            self.services.db, workspace_id, message.user_id, message.user_name
        )
        self._people[key] = person
        if len(self._people) > KNOWN_PEOPLE:
            self._people.popitem(last=False)
        return person
