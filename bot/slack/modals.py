"""Slack's native surfaces for the shared forms: modals, their submissions, the role menu's options,
and the message shortcuts "Escalate this message" and "Who owns this?".

`register(app, adapter)` adds the listeners, as Bolt's feature modules do. Every listener uses the
`client` Bolt hands it, so each workspace's call goes with that workspace's token.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.forms import (
    FORMS,
    Field,
    FieldKind,
    Form,
    FormChoices,
    Values,
    form_choices,
    submit,
)
from bot.slack import render
from bot.slack.payloads import team_of
from handlers.message import Reply

if TYPE_CHECKING:
    from bot.slack.adapter import SlackAdapter

log = logging.getLogger(__name__)

CALLBACK_PREFIX = "whoowns_form_"
ROLE_OPTIONS = "role"  # the action id of a role menu that loads its options (external_select)
ESCALATE_MESSAGE = "whoowns_escalate_message"
WHO_OWNS_MESSAGE = "whoowns_who_owns_message"
# Slack's limits: 100 options in a static menu, 75 characters of option text, 150 of value,
# 24 of a modal's title, 3,000 characters of private_metadata.
MAX_STATIC_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_TITLE = 24

Ack = Callable[..., Awaitable[None]]


def _text(text: str, limit: int = MAX_OPTION_TEXT) -> dict[str, Any]:
    shown = text if len(text) <= limit else text[: limit - 1] + "…"
    return {"type": "plain_text", "text": shown, "emoji": True}


def _option(name: str, label: str | None = None) -> dict[str, Any]:
    return {"text": _text(label or name), "value": name[:MAX_OPTION_VALUE]}


def _select(options: list[str], initial: str | None, placeholder: str) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "static_select",
        "placeholder": _text(placeholder),
        "options": [_option(o) for o in options[:MAX_STATIC_OPTIONS]],
    }
    if initial in options:
        element["initial_option"] = _option(initial)
    return element


def _element(field: Field, choices: FormChoices, initial: str | None) -> dict[str, Any] | None:
    if field.kind == FieldKind.ROLE:
        if len(choices.roles) <= MAX_STATIC_OPTIONS:
            return _select(list(choices.roles), initial, "Pick a role")
        # A large catalogue: the menu asks for options as the person types (block_suggestion).
        element: dict[str, Any] = {
            "type": "external_select",
            "placeholder": _text("Type part of a role's name"),
            "min_query_length": 0,
        }
        if initial:
            element["initial_option"] = _option(initial)
        return element
    if field.kind == FieldKind.PROJECT:
        if len(choices.projects) < 2:
            return None  # one project: nothing to choose
        return _select(list(choices.projects), initial or choices.default_project, "Project")
    if field.kind == FieldKind.PERSON:
        element = {"type": "users_select", "placeholder": _text("Pick someone")}
        if initial:
            element["initial_user"] = initial
        return element
    if field.kind == FieldKind.DATE:
        element = {"type": "datepicker", "placeholder": _text("Pick a day")}
        if initial:
            element["initial_date"] = initial
        return element
    if field.kind == FieldKind.KIND:
        return _select(["primary", "backup"], initial or "primary", "As")
    element = {"type": "plain_text_input", "multiline": field.multiline, "max_length": 2000}
    if initial:
        element["initial_value"] = initial[:2000]
    return element


def modal_view(
    form: Form,
    choices: FormChoices,
    *,
    metadata: dict[str, str | None],
    initial: Values | None = None,
) -> dict[str, Any]:
    """The form as a modal: one input block per field, its block and action ids the field's name."""
    blocks: list[dict[str, Any]] = []
    for field in form.fields:
        element = _element(field, choices, (initial or {}).get(field.name))
        if element is None:
            continue
        element["action_id"] = ROLE_OPTIONS if field.kind == FieldKind.ROLE else field.name
        block: dict[str, Any] = {
            "type": "input",
            "block_id": field.name,
            "label": _text(field.label, 2000),
            "optional": field.optional,
            "element": element,
        }
        if field.hint:
            block["hint"] = _text(field.hint, 2000)
        blocks.append(block)
    return {
        "type": "modal",
        "callback_id": f"{CALLBACK_PREFIX}{form.id}",
        "title": _text(form.title, MAX_TITLE),
        "submit": _text(form.submit, MAX_TITLE),
        "close": _text("Cancel", MAX_TITLE),
        "private_metadata": json.dumps(metadata, separators=(",", ":"))[:3000],
        "blocks": blocks,
    }


def submitted_values(view: dict[str, Any]) -> dict[str, str]:
    """A submitted modal's answers by field name, whatever element each came from."""
    values: dict[str, str] = {}
    for block_id, actions in (view.get("state") or {}).get("values", {}).items():
        for state in actions.values():
            chosen = (
                (state.get("selected_option") or {}).get("value")
                or state.get("selected_user")
                or state.get("selected_date")
                or state.get("value")
            )
            if chosen:
                values[str(block_id)] = str(chosen)
    return values


class SlackForms:
    """The listeners; they answer through the adapter's handlers, as the person who acted."""

    def __init__(self, adapter: SlackAdapter) -> None:
        self.adapter = adapter

    def register(self, app: AsyncApp) -> None:
        app.view(re.compile(f"^{CALLBACK_PREFIX}"))(self._on_submit)
        app.options(ROLE_OPTIONS)(self._on_role_options)
        app.shortcut(ESCALATE_MESSAGE)(self._on_escalate_message)
        app.shortcut(WHO_OWNS_MESSAGE)(self._on_who_owns_message)

    async def open(
        self,
        client: AsyncWebClient,
        trigger_id: str,
        form: Form,
        *,
        team: str,
        channel: str | None,
        thread: str | None = None,
        initial: Values | None = None,
    ) -> bool:
        """Open `form` for the person whose click or command carried `trigger_id`."""
        services = self.adapter.dispatcher.services
        choices = await form_choices(services, "slack", team)
        view = modal_view(
            form, choices, metadata={"channel": channel, "thread": thread}, initial=initial
        )
        try:
            await client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as exc:
            log.warning("slack: views.open failed: %s", exc.response.get("error"))
            return False
        return True

    async def _on_submit(
        self, ack: Ack, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        form = FORMS.get(str(view.get("callback_id", "")).removeprefix(CALLBACK_PREFIX))
        if form is None:
            await ack()
            return
        values = submitted_values(view)
        metadata = _metadata(view)
        user, team = body["user"]["id"], team_of(body)

        async def run(command: str) -> Reply | None:
            return await self.adapter.converse(
                team=team,
                user=user,
                text=command,
                channel=metadata.get("channel"),
                thread=metadata.get("thread"),
                project=values.get("project"),
            )

        async with self.adapter.inflight.track():
            today = self.adapter.dispatcher.services.now().date()
            outcome = await submit(form, values, today, run, lambda r: render.fallback(r.body))
            if outcome.errors:
                await ack(response_action="errors", errors=outcome.errors)
                return
            await ack()
            reply = outcome.reply
            if reply is not None:
                await self.adapter.deliver_reply(
                    client,
                    reply,
                    user=user,
                    channel=metadata.get("channel"),
                    thread=metadata.get("thread"),
                )

    async def _on_role_options(self, ack: Ack, body: dict[str, Any]) -> None:
        typed = str(body.get("value", "")).casefold()
        choices = await form_choices(self.adapter.dispatcher.services, "slack", team_of(body))
        names = [r for r in choices.roles if typed in r.casefold()]
        await ack(options=[_option(name) for name in names[:MAX_STATIC_OPTIONS]])

    async def _on_escalate_message(
        self, ack: Ack, shortcut: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        message = shortcut.get("message") or {}
        channel = (shortcut.get("channel") or {}).get("id")
        text = self.adapter.plain_text(str(message.get("text", "")))
        link = await _permalink(client, channel, message.get("ts"))
        await self.open(
            client,
            str(shortcut.get("trigger_id", "")),
            FORMS["escalate"],
            team=team_of(shortcut),
            channel=channel,
            thread=message.get("thread_ts") or message.get("ts"),
            initial={"text": f"{text} ({link})" if link else text},
        )

    async def _on_who_owns_message(
        self, ack: Ack, shortcut: dict[str, Any], respond: Callable[..., Awaitable[Any]]
    ) -> None:
        await ack()
        message = shortcut.get("message") or {}
        async with self.adapter.inflight.track():
            reply = await self.adapter.converse(
                team=team_of(shortcut),
                user=(shortcut.get("user") or {}).get("id", ""),
                text=str(message.get("text", "")) or "help",
                channel=(shortcut.get("channel") or {}).get("id"),
            )
            if reply is not None:  # privately: only the one who asked sees it
                await respond(
                    text=render.reply_text(reply),
                    blocks=render.reply_blocks(reply),
                    response_type="ephemeral",
                )


def _metadata(view: dict[str, Any]) -> dict[str, str | None]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return {k: (str(v) if v else None) for k, v in data.items()} if isinstance(data, dict) else {}


async def _permalink(client: AsyncWebClient, channel: str | None, ts: Any) -> str | None:
    if not channel or not ts:
        return None
    try:
        found = await client.chat_getPermalink(channel=channel, message_ts=str(ts))
    except SlackApiError as exc:
        log.info("slack: chat.getPermalink failed: %s", exc.response.get("error"))
        return None
    return str(found.get("permalink") or "") or None


def register(app: AsyncApp, adapter: SlackAdapter) -> SlackForms:
    forms = SlackForms(adapter)
    forms.register(app)
    return forms
