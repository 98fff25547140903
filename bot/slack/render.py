"""Replies and notifications as Block Kit, with a plain-text fallback; people as real mentions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.buttons import Button, action_button, notification_buttons, reply_buttons
from handlers.message import Action, Line, Notification, PersonMention, Reply, plain, render

MAX_SECTION = 2900  # Slack allows 3,000 characters per section text
ACTION_PREFIX = "whoowns_button_"


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(person: PersonMention) -> str:
    return f"<@{person.user_id}>"


def mrkdwn(lines: Sequence[Line]) -> str:
    return "\n".join(render(line, mention, escape) for line in lines)


def fallback(lines: Sequence[Line]) -> str:
    """The notification text (phones, screen readers): mentions too, no buttons."""
    return mrkdwn(lines) or " "


def _sections(lines: Sequence[Line]) -> list[dict[str, Any]]:
    sections: list[dict[str, Any]] = []
    chunk = ""
    for line in lines:
        text = render(line, mention, escape)
        if chunk and len(chunk) + len(text) + 1 > MAX_SECTION:
            sections.append(_section(chunk))
            chunk = ""
        chunk = f"{chunk}\n{text}" if chunk else text[:MAX_SECTION]
    if chunk:
        sections.append(_section(chunk))
    return sections


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _actions(buttons: Sequence[Button], block_id: str = "whoowns_actions") -> list[dict[str, Any]]:
    if not buttons:
        return []
    elements = []
    for i, button in enumerate(buttons):
        element: dict[str, Any] = {
            "type": "button",
            "action_id": f"{ACTION_PREFIX}{i}",
            "text": {"type": "plain_text", "text": button.label, "emoji": True},
            "value": button.value,
        }
        if button.style in ("primary", "danger"):
            element["style"] = button.style
        elements.append(element)
    return [{"type": "actions", "block_id": block_id, "elements": elements}]


def action_blocks(actions: Sequence[Action], block_id: str) -> list[dict[str, Any]]:
    return _actions([action_button(a) for a in actions], block_id=block_id)


def reply_blocks(reply: Reply) -> list[dict[str, Any]]:
    return _sections(reply.body) + _actions(reply_buttons(reply))


def notification_blocks(note: Notification) -> list[dict[str, Any]]:
    return _sections(note.body) + _actions(notification_buttons(note))


def reply_text(reply: Reply) -> str:
    return fallback(reply.body)


def home_view(
    sections: Sequence[tuple[str, Reply]], prefix: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    """The App Home tab: `prefix` (the project picker), then a header, the body and the buttons of
    each reply (bot/slack/home.py's sections); a view's block ids must differ."""
    blocks: list[dict[str, Any]] = list(prefix)
    for number, (title, reply) in enumerate(sections):
        blocks.append({"type": "header", "text": {"type": "plain_text", "text": title}})
        blocks.extend(_sections(reply.body))
        blocks.extend(_actions(reply_buttons(reply), block_id=f"whoowns_actions_{number}"))
        blocks.append({"type": "divider"})
    return {"type": "home", "blocks": blocks[:100]}


__all__ = ["home_view", "notification_blocks", "plain", "reply_blocks", "reply_text"]
