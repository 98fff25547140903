"""App Home as the team's dashboard: the person's roles (hand over, set cover), the blockers they can
act on (Acknowledge, Resolve), the roles the review left unconfirmed, the team at a glance, and a
project picker; for an admin, what the outbox could not deliver.

Each section is the reply to a command the person could type ("my roles", "my escalations" …), so
what Home shows is what chat answers. Home is published again when the person opens it, clicks in
it, picks a project, and after something that concerns them changed: a change they made, or a
notification delivered to them (a role handed to them, a blocker for their role, a review).

`register(app, adapter)` adds the listeners, as Bolt's feature modules do.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.forms import form_choices
from bot.slack import render
from bot.slack.payloads import team_of
from handlers.message import Action, Reply
from store.db import StoreUnavailable

if TYPE_CHECKING:
    from bot.slack.adapter import SlackAdapter

log = logging.getLogger(__name__)

PROJECT_PICKER = "whoowns_home_project"
# Projects picked on Home, per person, kept by this replica (another shows the default until the
# person picks again or clicks in Home, whose view carries the pick).
PICKS_KEPT = 20_000
# Facts of a reply that mean who holds what, or a blocker, changed.
CHANGE_FACTS = ("started", "ended", "escalation", "confirmed")


@dataclass(frozen=True)
class Section:
    title: str
    command: str
    # Whether it shows: some are left out when there is nothing in them.
    shown: Callable[[Reply], bool]


def _always(reply: Reply) -> bool:
    return True


def _stale(reply: Reply) -> bool:
    return bool(reply.facts.get("stale"))


def _undelivered(reply: Reply) -> bool:
    return not reply.private and bool(reply.actions)  # only an admin's, only when there are some


# At the top of Home: the forms anyone may open (submitting checks who may do what).
QUICK = (
    Action("Escalate a blocker", "escalate", "primary", form="escalate"),
    Action("Assign a role", "assign", form="assign"),
    Action("Hand over a role", "hand over", form="handover"),
    Action("Set cover", "cover", form="cover"),
)

SECTIONS = (
    Section("Your roles", "my roles", _always),
    Section("Blockers you can act on", "my escalations", _always),
    Section("Roles not confirmed in the review", "stale roles", _stale),
    Section("Your team", "roles", _always),
    Section("Undelivered notifications", "undelivered notifications", _undelivered),
)


def concerned(reply: Reply, sender: str) -> list[str]:
    """Whose Home a reply changes: the sender's and the people who gained or lost a role, when it
    changed who holds what or a blocker; nobody's for an answer or a refusal."""
    facts = reply.facts
    if reply.private or not any(facts.get(fact) for fact in CHANGE_FACTS):
        return []
    moved = [
        p for key in ("started", "ended") if isinstance(facts.get(key), list) for p in facts[key]
    ]
    return [sender, *(str(p["user"]) for p in moved if isinstance(p, dict) and p.get("user"))]


def project_picker(projects: tuple[str, ...], current: str | None) -> list[dict[str, Any]]:
    """A menu of the workspace's projects, when there are several to choose from."""
    if len(projects) < 2:
        return []
    options = [{"text": {"type": "plain_text", "text": p[:75]}, "value": p[:150]} for p in projects]
    menu: dict[str, Any] = {
        "type": "static_select",
        "action_id": PROJECT_PICKER,
        "placeholder": {"type": "plain_text", "text": "Project"},
        "options": options[:100],
    }
    chosen = next((o for o in options if o["value"] == current), None)
    if chosen is not None:
        menu["initial_option"] = chosen
    return [{"type": "section", "text": {"type": "mrkdwn", "text": "*Project*"}, "accessory": menu}]


def view_project(view: dict[str, Any] | None) -> str | None:
    """The project a Home view was drawn for (kept in its private_metadata)."""
    try:
        data = json.loads((view or {}).get("private_metadata") or "{}")
    except ValueError:
        return None
    project = data.get("project") if isinstance(data, dict) else None
    return str(project) if project else None


class SlackHome:
    def __init__(self, adapter: SlackAdapter) -> None:
        self.adapter = adapter
        self._picks: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    def register(self, app: AsyncApp) -> None:
        app.event("app_home_opened")(self._on_opened)
        app.action(PROJECT_PICKER)(self._on_pick)

    def pick(self, team: str, user: str, project: str | None) -> str | None:
        """Remembers the project a person looks at on Home; returns the one to show."""
        key = (team, user)
        if project:
            self._picks[key] = project
            self._picks.move_to_end(key)
            while len(self._picks) > PICKS_KEPT:
                self._picks.popitem(last=False)
        return self._picks.get(key)

    async def publish(self, team: str, user: str, project: str | None = None) -> None:
        """Draws the person's Home (for `project`, else the one they picked, else the default)."""
        adapter = self.adapter
        choices = await form_choices(adapter.dispatcher.services, "slack", team)
        picked = self.pick(team, user, project)
        current = picked if picked in choices.projects else choices.default_project
        sections: list[tuple[str, Reply]] = []
        for section in SECTIONS:
            reply = await adapter.converse(
                team=team,
                user=user,
                text=section.command,
                channel=None,
                project=current,
                drawn=True,
            )
            if reply is not None and section.shown(reply):
                sections.append((section.title, reply))
        prefix = [
            *project_picker(choices.projects, current),
            *render.action_blocks(QUICK, "whoowns_quick"),
        ]
        view = render.home_view(sections, prefix=prefix)
        view["private_metadata"] = json.dumps({"project": current} if current else {})
        client = await adapter.client_for(team)
        await client.views_publish(user_id=user, view=view)

    def refresh(self, team: str, users: list[str]) -> None:
        """Publishes these people's Home again in the background (after a change that concerns
        them); the reply that caused it is not kept waiting."""
        for user in dict.fromkeys(u for u in users if u):
            task = asyncio.create_task(self._refresh_one(team, user))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _refresh_one(self, team: str, user: str) -> None:
        async with self.adapter.inflight.track():
            try:
                await self.publish(team, user)
            except (SlackApiError, StoreUnavailable) as exc:
                # Home is drawn again when it is next opened: nothing is lost.
                log.info("slack: App Home of %s not refreshed: %s", user, exc)

    async def _on_opened(
        self, event: dict[str, Any], body: dict[str, Any], context: dict[str, Any]
    ) -> None:
        if event.get("tab", "home") != "home":
            return
        async with self.adapter.inflight.track():
            team = team_of(body, context)
            await self.publish(team, event.get("user", ""), view_project(event.get("view")))

    async def _on_pick(
        self, ack: Callable[..., Awaitable[None]], body: dict[str, Any], action: dict[str, Any]
    ) -> None:
        await ack()
        project = (action.get("selected_option") or {}).get("value")
        team = team_of(body)
        async with self.adapter.inflight.track():
            await self.publish(team, (body.get("user") or {}).get("id", ""), project)


def register(app: AsyncApp, adapter: SlackAdapter) -> SlackHome:
    home = SlackHome(adapter)
    home.register(app)
    return home
