"""Buttons shared by the chat adapters: a reply's choices and actions as buttons, and a click back
into a message. Slack (Block Kit) and Teams (Adaptive Cards) draw them; the meaning lives here once."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from handlers.message import Action, CandidateFact, Choice, Notification, Reply

MAX_LABEL = 75  # Slack's button text limit; Teams is roomier
MAX_QUESTION = 1500  # keeps a button's value under Slack's 2,000 characters


@dataclass(frozen=True)
class Button:
    label: str
    value: str  # JSON, see `button_value`
    style: str = "default"
    # The form the click opens (a Slack modal, a Teams dialog) rather than a command it runs.
    form: str | None = None


def _label(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def choice_button(choice: CandidateFact, question: str | None) -> Button:
    if choice.command:
        value: dict[str, Any] = {"command": choice.command}
    else:
        value = {
            "role": choice.role_id,
            "responsibility": choice.responsibility_id,
            "question": (question or "")[:MAX_QUESTION],
        }
    return Button(_label(choice.label), json.dumps(value, separators=(",", ":")))


def action_button(action: Action) -> Button:
    value: dict[str, Any] = {"command": action.command}
    if action.form:
        value |= {"form": action.form, "values": dict(action.values)}
    encoded = json.dumps(value, separators=(",", ":"))
    return Button(_label(action.label), encoded, action.style, action.form)


def reply_buttons(reply: Reply) -> list[Button]:
    buttons = [choice_button(c, reply.question) for c in reply.choices]
    return buttons + [action_button(a) for a in reply.actions]


def notification_buttons(note: Notification) -> list[Button]:
    return [action_button(a) for a in note.actions]


@dataclass(frozen=True)
class Click:
    """What a clicked button asks for: a text command to run, or a picked choice."""

    text: str
    choice: Choice | None = None
    # A form to open with these fields filled in, where the platform can (else `text` runs).
    form: str | None = None
    values: dict[str, str] = field(default_factory=dict)


def parse_click(value: str) -> Click | None:
    """The click a button value stands for; None for a value we did not make (ignored, logged)."""
    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    command = data.get("command")
    if isinstance(command, str) and command.strip():
        form, values = data.get("form"), data.get("values")
        if isinstance(form, str) and isinstance(values, dict):
            return Click(command, form=form, values={str(k): str(v) for k, v in values.items()})
        return Click(command)
    role, responsibility, question = (
        data.get("role"),
        data.get("responsibility"),
        data.get("question"),
    )
    if (
        isinstance(role, int)
        and isinstance(question, str)
        and (responsibility is None or isinstance(responsibility, int))
    ):
        return Click(question, Choice(role, responsibility, question))
    return None
