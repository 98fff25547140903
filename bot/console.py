"""The console adapter: command-line text in, plain text out. People are plain names, mentions `@alice`."""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass, field

from handlers.message import (
    MENTION,
    CandidateFact,
    Choice,
    Mention,
    Message,
    Notification,
    Reply,
)

PLATFORM = "console"
WORKSPACE = "console"
WORKSPACE_NAME = "Console"

_NUMBER = re.compile(r"^\s*(\d{1,2})\s*$")


def operator_name() -> str:
    try:
        return getpass.getuser() or "operator"
    except (KeyError, OSError):  # no passwd entry, as in some containers
        return "operator"


def console_message(
    text: str,
    *,
    user: str | None = None,
    project: str | None = None,
    channel: str | None = None,
    choice: Choice | None = None,
) -> Message:
    """`user=None` is the operator acting as themselves (an admin); `--user NAME` acts as NAME."""
    mentions = tuple(dict.fromkeys(Mention(name, name) for name in MENTION.findall(text)))
    sender = user.lstrip("@") if user else operator_name()
    return Message(
        platform=PLATFORM,
        workspace=WORKSPACE,
        workspace_name=WORKSPACE_NAME,
        user_id=sender,
        user_name=sender,
        text=text,
        project=project,
        channel=channel,
        mentions=mentions,
        choice=choice,
        operator=user is None,
    )


def render(reply: Reply) -> str:
    lines = [reply.text]
    if reply.choices:
        count = len(reply.choices)
        lines.append("(type 1 to choose)" if count == 1 else f"(type 1–{count} to choose)")
    for action in reply.actions:
        lines.append(f"  → say `{action.command}` to {action.label.lower()}")
    lines.extend(render_notification(note) for note in reply.notifications)
    return "\n".join(lines)


def render_notification(note: Notification) -> str:
    """The console delivers a notification by printing it, addressed to its person."""
    text = note.text.replace("\n", "\n    ")
    return f"  [to @{note.user_id}] {text}"


@dataclass
class ChatSession:
    """Remembers the last "did you mean" so that typing its number picks it."""

    user: str | None = None
    project: str | None = None
    channel: str | None = None
    pending: Reply | None = field(default=None)

    def message(self, text: str) -> Message:
        picked = self._picked(text)
        choice = None
        if picked is not None and picked.command:
            text = picked.command  # a command that named its role ambiguously, now named
        elif picked is not None and self.pending and self.pending.question:
            choice = Choice(picked.role_id, picked.responsibility_id, self.pending.question)
            text = self.pending.question
        return console_message(
            text, user=self.user, project=self.project, channel=self.channel, choice=choice
        )

    def _picked(self, text: str) -> CandidateFact | None:
        number = _NUMBER.match(text)
        if not number or self.pending is None:
            return None
        index = int(number.group(1)) - 1
        choices = self.pending.choices
        return choices[index] if 0 <= index < len(choices) else None

    def remember(self, reply: Reply) -> None:
        self.pending = reply if reply.choices else None
