"""Replies and notifications as Adaptive Cards with a text fallback; people as real Teams mentions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.buttons import Button, notification_buttons, reply_buttons
from handlers.message import Line, Notification, PersonMention, Reply, render

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
SUBMIT_KEY = "whoowns"  # Action.Submit data: {"whoowns": <button value>}


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(person: PersonMention) -> str:
    return f"<at>{escape(person.name)}</at>"


def mention_entities(lines: Sequence[Line]) -> list[dict[str, Any]]:
    seen: dict[str, PersonMention] = {}
    for line in lines:
        for part in line:
            if isinstance(part, PersonMention):
                seen.setdefault(part.user_id, part)
    return [
        {"type": "mention", "text": mention(p), "mentioned": {"id": p.user_id, "name": p.name}}
        for p in seen.values()
    ]


def text(lines: Sequence[Line]) -> str:
    return "\n\n".join(render(line, mention, escape) for line in lines)


def card(lines: Sequence[Line], buttons: Sequence[Button]) -> dict[str, Any]:
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": render(line, mention, escape), "wrap": True}
            for line in lines
        ],
        "actions": [
            {"type": "Action.Submit", "title": b.label, "data": {SUBMIT_KEY: b.value}}
            for b in buttons
        ],
        "msteams": {"entities": mention_entities(lines), "width": "Full"},
    }


def activity(lines: Sequence[Line], buttons: Sequence[Button]) -> dict[str, Any]:
    """A message activity: the card, and the same text with mentions for notifications and search."""
    return {
        "type": "message",
        "text": text(lines),
        "textFormat": "xml",
        "entities": mention_entities(lines),
        "attachments": [{"contentType": CARD_TYPE, "content": card(lines, buttons)}],
    }


def reply_activity(reply: Reply) -> dict[str, Any]:
    return activity(reply.body, reply_buttons(reply))


def notification_activity(note: Notification, preface: Line | None = None) -> dict[str, Any]:
    lines = [preface, *note.body] if preface else list(note.body)
    return activity(lines, notification_buttons(note))
