"""Teams' native surfaces for the shared forms and answers: dialogs (task modules) opened from card
buttons, and the message extension ("who owns …" searched from the compose box, and the message
action "Escalate this message").

Teams asks with `invoke` activities and takes the answer as the HTTP response's body:

- `task/fetch` (a card button whose data says so): the form as an Adaptive Card in a dialog;
- `task/submit`, `composeExtension/submitAction`: the answers; wrong ones show the dialog again
  with the problem under the field, a refusal on the role; else the command runs as the person
  who submitted, and its reply is posted in the conversation when it changed something;
- `composeExtension/query`: a result card per matching role, each insertable in a message;
- `composeExtension/fetchTask` for "Escalate this message": the escalate form, filled in with the
  message's text and link.

What a form asks and how it becomes a command lives in bot/forms.py, shared with Slack's modals.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ActivityTypes, InvokeResponse

from bot.buttons import parse_click
from bot.forms import FORMS, Field, FieldKind, Form, FormChoices, Values, form_choices, submit
from bot.teams import render
from handlers.message import Choice, Mention, Reply, plain
from handlers.wording import STORE_DOWN
from store.db import StoreUnavailable

if TYPE_CHECKING:
    from bot.teams.adapter import TeamsAdapter

log = logging.getLogger(__name__)

FORM_KEY = "whoowns_form"  # a dialog's submit data: which form it is
WHO_OWNS_COMMAND = "whoOwns"  # the message extension's search command (teams/manifest.json)
ESCALATE_COMMAND = "escalateMessage"  # its action on a message
MAX_RESULTS = 5
MAX_STATIC_CHOICES = 100  # beyond that, the role menu filters as people type
_TAGS = re.compile(r"<[^>]+>")

JsonDict = dict[str, Any]


def _input(field: Field, choices: FormChoices, initial: str | None) -> JsonDict | None:
    base: JsonDict = {"id": field.name, "label": field.label, "isRequired": not field.optional}
    if field.kind == FieldKind.ROLE:
        roles = list(choices.roles)
        style = "compact" if len(roles) <= MAX_STATIC_CHOICES else "filtered"
        return base | _choice_set(roles, initial, style)
    if field.kind == FieldKind.PROJECT:
        if len(choices.projects) < 2:
            return None  # one project: nothing to choose
        return base | _choice_set(list(choices.projects), initial or choices.default_project)
    if field.kind == FieldKind.KIND:
        return base | _choice_set(["primary", "backup"], initial or "primary")
    if field.kind == FieldKind.PERSON:
        # Teams' people picker: it answers with the person's Azure AD object id.
        return base | {
            "type": "Input.ChoiceSet",
            "style": "filtered",
            "choices": [],
            "choices.data": {"type": "Data.Query", "dataset": "graph.microsoft.com/users"},
        }
    if field.kind == FieldKind.DATE:
        return base | {"type": "Input.Date", **({"value": initial} if initial else {})}
    return base | {
        "type": "Input.Text",
        "isMultiline": field.multiline,
        "maxLength": 2000,
        **({"value": initial[:2000]} if initial else {}),
    }


def _choice_set(options: list[str], initial: str | None, style: str = "compact") -> JsonDict:
    found: JsonDict = {
        "type": "Input.ChoiceSet",
        "style": style,
        "choices": [{"title": o, "value": o} for o in options],
    }
    if initial in options:
        found["value"] = initial
    return found


def form_card(
    form: Form,
    choices: FormChoices,
    *,
    initial: Values | None = None,
    errors: dict[str, str] | None = None,
) -> JsonDict:
    """The form as an Adaptive Card: an input per field (its id the field's name), a problem
    found on submission under its field. Its submission comes from the conversation it was opened
    in, so the card carries only which form it is."""
    body: list[JsonDict] = []
    for field in form.fields:
        element = _input(field, choices, (initial or {}).get(field.name))
        if element is None:
            continue
        body.append(element)
        problem = (errors or {}).get(field.name)
        if problem:
            body.append({"type": "TextBlock", "text": problem, "color": "attention", "wrap": True})
        if field.hint:
            body.append({"type": "TextBlock", "text": field.hint, "isSubtle": True, "wrap": True})
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": body,
        "actions": [{"type": "Action.Submit", "title": form.submit, "data": {FORM_KEY: form.id}}],
    }


def dialog(form: Form, card: JsonDict) -> JsonDict:
    """A task module response that shows `card` in a dialog."""
    return {
        "task": {
            "type": "continue",
            "value": {
                "title": form.title,
                "height": "medium",
                "width": "medium",
                "card": {"contentType": render.CARD_TYPE, "content": card},
            },
        }
    }


def said(text: str) -> JsonDict:
    """A task module response that closes the form and shows a short message."""
    return {"task": {"type": "message", "value": text[:500]}}


def message_text(payload: JsonDict) -> str:
    """A message extension's message as plain text (Teams sends its HTML body)."""
    content = str(((payload.get("body") or {}).get("content")) or "")
    return " ".join(html.unescape(_TAGS.sub(" ", content)).split())


def result(reply: Reply) -> JsonDict:
    """One search result: the answer as a card to insert, a preview line in the list."""
    title = reply.role or (plain(reply.body[0]) if reply.body else "whoowns")
    holders = ", ".join(h.name for h in reply.holders) or "nobody yet"
    return {
        "contentType": render.CARD_TYPE,
        "content": render.card(reply.body, []),
        "preview": {
            "contentType": "application/vnd.microsoft.card.thumbnail",
            "content": {"title": title, "text": holders},
        },
    }


class TeamsDialogs:
    """The invoke activities; they answer through the adapter's handlers, as the person who acted."""

    def __init__(self, adapter: TeamsAdapter) -> None:
        self.adapter = adapter
        self._routes: dict[str, Callable[[TurnContext, JsonDict], Awaitable[JsonDict]]] = {
            "task/fetch": self._fetch,
            "task/submit": self._submit,
            "composeExtension/query": self._query,
            "composeExtension/fetchTask": self._fetch_action,
            "composeExtension/submitAction": self._submit,
        }

    async def on_invoke(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        route = self._routes.get(str(activity.name or ""))
        if route is None:
            log.info("teams: an invoke we do not handle: %s", activity.name)
            await _respond(turn_context, {}, status=501)
            return
        value = activity.value if isinstance(activity.value, dict) else {}
        try:
            body = await route(turn_context, value)
        except StoreUnavailable:
            log.warning("teams: %s while the store is unavailable", activity.name)
            body = said(STORE_DOWN)
        await _respond(turn_context, body)

    def _choices(self, turn_context: TurnContext) -> Awaitable[FormChoices]:
        tenant = self.adapter.tenant_of(turn_context.activity)
        return form_choices(self.adapter.dispatcher.services, "teams", tenant)

    async def _fetch(self, turn_context: TurnContext, value: JsonDict) -> JsonDict:
        """A card button that opens a form ("Hand over", "Set cover"), filled in."""
        data = _dict(value, "data")
        click = parse_click(str(data.get(render.SUBMIT_KEY, "")))
        form = FORMS.get(click.form or "") if click else None
        if form is None or click is None:
            log.warning("teams: task/fetch for a button we did not make: %r", data)
            return said("That button is out of date; say “help” to see what I can do.")
        choices = await self._choices(turn_context)
        return dialog(form, form_card(form, choices, initial=click.values))

    async def _fetch_action(self, turn_context: TurnContext, value: JsonDict) -> JsonDict:
        """ "Escalate this message": the escalate form with the message's text and its link."""
        if value.get("commandId") != ESCALATE_COMMAND:
            return said("whoowns does not know that command.")
        payload = _dict(value, "messagePayload")
        text = message_text(payload)
        link = payload.get("linkToMessage")
        form = FORMS["escalate"]
        choices = await self._choices(turn_context)
        initial = {"text": f"{text} ({link})" if link else text}
        return dialog(form, form_card(form, choices, initial=initial))

    async def _submit(self, turn_context: TurnContext, value: JsonDict) -> JsonDict:
        data = _dict(value, "data")
        form = FORMS.get(str(data.get(FORM_KEY, "")))
        if form is None:
            log.warning("teams: a submitted dialog we did not make: %r", data)
            return said("That form is out of date; open it again.")
        values = {f.name: str(data[f.name]).strip() for f in form.fields if data.get(f.name)}
        mentions: tuple[Mention, ...] = ()
        if values.get("person"):
            member = await self.adapter.find_member(turn_context, values["person"])
            if member is None:
                return await self._again(
                    turn_context,
                    form,
                    values,
                    {"person": "I can't find them in a team whoowns is in: add whoowns there."},
                )
            values["person"] = member.user_id
            mentions = (member,)

        async def run(command: str) -> Reply | None:
            return await self.adapter.converse(
                turn_context, command, mentions, project=values.get("project")
            )

        today: date = self.adapter.dispatcher.services.now().date()
        outcome = await submit(form, values, today, run, lambda r: render.text(r.body))
        if outcome.errors:
            return await self._again(turn_context, form, values, outcome.errors)
        reply = outcome.reply
        if reply is None:
            return said("Done already.")
        if reply.for_everyone:
            # Posted where the dialog was opened, for everyone there, as a typed command would be.
            await turn_context.send_activity(render.as_activity(render.reply_activity(reply)))
        return said(render.text(reply.body) if reply.private else "Done.")

    async def _again(
        self, turn_context: TurnContext, form: Form, values: Values, errors: dict[str, str]
    ) -> JsonDict:
        choices = await self._choices(turn_context)
        initial = {k: v for k, v in values.items() if k != "person"}
        card = form_card(form, choices, initial=initial, errors=errors)
        return dialog(form, card)

    async def _query(self, turn_context: TurnContext, value: JsonDict) -> JsonDict:
        """ "who owns …" from the compose box: a result per role that matches."""
        parameters = _list(value, "parameters")
        asked = {
            str(p.get("name")): str(p.get("value") or "") for p in parameters if isinstance(p, dict)
        }
        query = " ".join(asked.get("query", "").split())
        if not query or asked.get("initialRun") == "true":
            return _compose_message("Type what you need an owner for, e.g. “data drift”.")
        question = f"who owns {query}"
        reply = await self.adapter.converse(turn_context, question)
        if reply is None:
            return _compose_message("Try again.")
        answers = [reply] if reply.role else []
        for choice in reply.choices[:MAX_RESULTS]:
            picked = Choice(choice.role_id, choice.responsibility_id, question)
            found = await self.adapter.converse(turn_context, question, choice=picked)
            if found is not None and found.role:
                answers.append(found)
        if not answers:
            return _compose_message(f"No role in the catalogue matches “{query[:100]}”.")
        return {
            "composeExtension": {
                "type": "result",
                "attachmentLayout": "list",
                "attachments": [result(a) for a in answers[:MAX_RESULTS]],
            }
        }


def _dict(value: JsonDict, key: str) -> JsonDict:
    found = value.get(key)
    return found if isinstance(found, dict) else {}


def _list(value: JsonDict, key: str) -> list[Any]:
    found = value.get(key)
    return found if isinstance(found, list) else []


def _compose_message(text: str) -> JsonDict:
    return {"composeExtension": {"type": "message", "text": text}}


async def _respond(turn_context: TurnContext, body: JsonDict, status: int = 200) -> None:
    await turn_context.send_activity(
        Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=status, body=body))
    )
