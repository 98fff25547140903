"""The console adapter: command-line text in, plain text out. People are plain names, mentions `@alice`."""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass, field

from handlers.message import MENTION, Choice, Mention, Message, Reply

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
    for note in reply.notifications:
        lines.append(f"[notify @{note.user_id}] {note.text}")
    return "\n".join(lines)


@dataclass
class ChatSession:
    """Remembers the last "did you mean" so that typing its number picks it."""

    user: str | None = None
    project: str | None = None
    pending: Reply | None = field(default=None)

    def message(self, text: str) -> Message:
        choice = self._choice(text)
        if choice is not None:
            return console_message(
                choice.question, user=self.user, project=self.project, choice=choice
            )
        return console_message(text, user=self.user, project=self.project)

    def _choice(self, text: str) -> Choice | None:
        number = _NUMBER.match(text)
        pending = self.pending
        if not number or pending is None or not pending.choices or pending.question is None:
            return None
        index = int(number.group(1)) - 1
        if not 0 <= index < len(pending.choices):
            return None
        picked = pending.choices[index]
        return Choice(picked.role_id, picked.responsibility_id, pending.question)

    def remember(self, reply: Reply) -> None:
        self.pending = reply if reply.choices and reply.question else None
