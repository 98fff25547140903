"""Replies and notifications as Adaptive Cards with a text fallback; people as real Teams mentions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botbuilder.schema import Activity, Attachment, ChannelAccount
from botbuilder.schema import Mention as MentionEntity

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
        "actions": [_submit(b) for b in buttons],
        "msteams": {"entities": mention_entities(lines), "width": "Full"},
    }


def _submit(button: Button) -> dict[str, Any]:
    data: dict[str, Any] = {SUBMIT_KEY: button.value}
    if button.form:
        data["msteams"] = {"type": "task/fetch"}  # opens the form as a dialog (task module)
    return {"type": "Action.Submit", "title": button.label, "data": data}


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


def as_activity(payload: dict[str, Any]) -> Activity:
    """`render.activity`'s JSON as botbuilder's model, built directly: msrest's deserializer costs
    more than the rest of a turn's rendering. Mentions become `Mention`s, which keep their fields."""
    return Activity(
        type=payload["type"],
        text=payload["text"],
        text_format=payload["textFormat"],
        attachments=[
            Attachment(content_type=a["contentType"], content=a["content"])
            for a in payload["attachments"]
        ],
        entities=[
            MentionEntity(
                mentioned=ChannelAccount(id=e["mentioned"]["id"], name=e["mentioned"]["name"]),
                text=e["text"],
                type="mention",
            )
            for e in payload["entities"]
        ],
    )
