"""The platform-neutral message every adapter produces, and the reply every handler returns.

People inside reply text are `PersonMention`s, not names, so each adapter can render them its own
way (a plain name, a Slack `<@U123>`, a Teams `<at>`), while the wording lives once, here in handlers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

MENTION = re.compile(r"@([\w.\-:]{1,150})")


@dataclass(frozen=True)
class Mention:
    """A user the sender mentioned; in `Message.text` they appear as `@<user_id>`."""

    user_id: str
    name: str | None = None


@dataclass(frozen=True)
class Choice:
    """A "did you mean" option the person picked (a button, a card action, or a number in the console)."""

    role_id: int
    responsibility_id: int | None
    question: str


@dataclass(frozen=True)
class Message:
    platform: str
    workspace: str
    user_id: str
    text: str
    user_name: str | None = None
    workspace_name: str | None = None
    channel: str | None = None
    thread: str | None = None
    project: str | None = None
    mentions: tuple[Mention, ...] = ()
    choice: Choice | None = None
    # Set only by the console adapter for the operator acting as themselves: an admin by definition.
    operator: bool = False
    event_id: str | None = None
    # Other ids of the sender that WHOOWNS_ADMINS may list (a Teams user's Azure AD object id).
    user_aliases: tuple[str, ...] = ()
    # User groups the text mentions, as (handle, the platform's id): "@scrum-master" in Slack.
    user_groups: tuple[tuple[str, str], ...] = ()
    # Asked by the bot itself to draw a surface (App Home's sections), not sent by a person: left
    # out of the request metrics.
    drawn: bool = False

    def mention(self, user_id: str) -> Mention:
        """The mention for `@user_id` in the text (a bare mention when the adapter gave no name)."""
        return next((m for m in self.mentions if m.user_id == user_id), Mention(user_id))


@dataclass(frozen=True)
class PersonMention:
    user_id: str
    name: str


Segment = str | PersonMention
Line = tuple[Segment, ...]


def line(*parts: Segment | Iterable[Segment]) -> Line:
    """Flatten strings, mentions and lists of them into one line of reply text."""
    out: list[Segment] = []
    for part in parts:
        if isinstance(part, str | PersonMention):
            out.append(part)
        else:
            out.extend(part)
    return tuple(out)


def join_people(people: Iterable[PersonMention], last: str | None = "and") -> list[Segment]:
    """People as a list: "A, B and C" (`last` None: "A, B, C")."""
    listed = list(people)
    out: list[Segment] = []
    for i, person in enumerate(listed):
        if i:
            out.append(f" {last} " if last is not None and i == len(listed) - 1 else ", ")
        out.append(person)
    return out


def render(
    parts: Iterable[Segment],
    mention: Callable[[PersonMention], str],
    escape: Callable[[str], str] = str,
) -> str:
    """One line of reply text in a platform's markup: its escaping, its way of mentioning people."""
    return "".join(escape(p) if isinstance(p, str) else mention(p) for p in parts)


def plain(parts: Iterable[Segment]) -> str:
    return render(parts, lambda person: person.name)


@dataclass(frozen=True)
class HolderFact:
    user_id: str
    name: str
    kind: str
    until: datetime | None = None
    covers_for: str | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"user": self.user_id, "name": self.name, "kind": self.kind}
        if self.until:
            data["until"] = self.until.isoformat()
        if self.covers_for:
            data["covers_for"] = self.covers_for
        return data


@dataclass(frozen=True)
class CandidateFact:
    role_id: int
    role: str
    responsibility_id: int | None
    responsibility: str | None
    score: float
    # For a command that named a role ambiguously: the command again, with this role named.
    command: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"role": self.role, "responsibility": self.responsibility, "score": self.score}

    @property
    def label(self) -> str:
        return f"{self.role}: {self.responsibility}" if self.responsibility else self.role


@dataclass(frozen=True)
class Action:
    """A button on a notification or answer: `kind` is the command it runs, e.g. "ack #12"."""

    label: str
    command: str
    style: str = "default"
    # A form to open instead (bot/forms.py: "handover", "cover" …) with these fields filled in,
    # where the platform has forms; elsewhere the command runs (it says what to type).
    form: str | None = None
    values: tuple[tuple[str, str], ...] = ()

    def as_list(self) -> list[Any]:
        kept: list[Any] = [self.label, self.command, self.style]
        return [*kept, self.form, dict(self.values)] if self.form else kept

    @classmethod
    def from_list(cls, data: list[Any]) -> Action:
        label, command, style = map(str, data[:3])
        if len(data) < 5 or not data[3]:
            return cls(label, command, style)
        values = tuple((str(k), str(v)) for k, v in dict(data[4]).items())
        return cls(label, command, style, str(data[3]), values)


@dataclass(frozen=True)
class GroupSync:
    """A platform user group (a Slack @handle) to set to a role's acting holders, in place of a
    message: the outbox carries it so that it is retried until the platform has it, like one."""

    link_id: int
    handle: str
    name: str  # the group's name if it has to be created: the role's
    group_id: str | None
    members: tuple[str, ...]

    def payload(self) -> dict[str, Any]:
        return {
            "link": self.link_id,
            "handle": self.handle,
            "name": self.name,
            "id": self.group_id,
            "members": list(self.members),
        }

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> GroupSync:
        return cls(
            int(data["link"]),
            str(data["handle"]),
            str(data["name"]),
            str(data["id"]) if data.get("id") else None,
            tuple(str(m) for m in data.get("members") or ()),
        )


@dataclass(frozen=True)
class Notification:
    """A message for someone other than the sender, delivered by the adapter (DM, proactive message)."""

    user_id: str
    name: str
    body: tuple[Line, ...]
    actions: tuple[Action, ...] = ()
    escalation: int | None = None
    # Where the matter came up (the blocker's channel, the change's conversation): a platform that
    # cannot message the person directly mentions them there.
    fallback_channel: str | None = None
    # Posted in the channel `user_id` names rather than to a person (the weekly digest).
    to_channel: bool = False
    # The thread in `fallback_channel` where it came up (a Teams channel conversation), if any.
    fallback_thread: str | None = None
    # A user group to bring up to date rather than a message to post (`user_id` is its handle).
    group: GroupSync | None = None
    # Who is told, with the platform's reason, if it can never be delivered (who linked a group).
    report_to: str | None = None

    @property
    def text(self) -> str:
        return "\n".join(plain(line) for line in self.body)

    def payload(self) -> dict[str, Any]:
        """What the outbox keeps (JSON); `from_payload` rebuilds the notification from it."""
        return {
            "body": [
                [p if isinstance(p, str) else {"user": p.user_id, "name": p.name} for p in parts]
                for parts in self.body
            ],
            "actions": [a.as_list() for a in self.actions],
            "escalation": self.escalation,
            **({"to_channel": True} if self.to_channel else {}),
            **({"thread": self.fallback_thread} if self.fallback_thread else {}),
            **({"group": self.group.payload()} if self.group else {}),
            **({"report_to": self.report_to} if self.report_to else {}),
        }

    @classmethod
    def from_payload(
        cls, user_id: str, name: str, payload: dict[str, Any], fallback_channel: str | None = None
    ) -> Notification:
        body = tuple(
            tuple(
                p if isinstance(p, str) else PersonMention(str(p["user"]), str(p["name"]))
                for p in parts
            )
            for parts in payload.get("body", [])
        )
        actions = tuple(Action.from_list(a) for a in payload.get("actions", []))
        return cls(
            user_id,
            name,
            body,
            actions,
            payload.get("escalation"),
            fallback_channel,
            bool(payload.get("to_channel")),
            payload.get("thread"),
            GroupSync.from_payload(payload["group"]) if payload.get("group") else None,
            payload.get("report_to"),
        )

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"user": self.user_id, "name": self.name, "text": self.text}
        if self.escalation is not None:
            data["escalation"] = self.escalation
        if self.actions:
            data["actions"] = [a.command for a in self.actions]
        return data


@dataclass
class Reply:
    intent: str
    body: list[Line]
    outcome: str | None = None
    role: str | None = None
    responsibility: str | None = None
    score: float | None = None
    candidates: list[CandidateFact] = field(default_factory=list)
    holders: list[HolderFact] = field(default_factory=list)
    # "Did you mean" options (answers to `question`), and buttons such as Acknowledge / Resolve.
    choices: list[CandidateFact] = field(default_factory=list)
    question: str | None = None
    actions: list[Action] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    # Refusals and errors: shown only to the sender where the platform can (Slack ephemeral).
    private: bool = False
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(plain(line) for line in self.body)

    @property
    def for_everyone(self) -> bool:
        """Whether it is for the whole channel: a change of holders or a raised blocker, never a
        refusal or a plain answer (those go only to the one who asked)."""
        return not self.private and bool(self.facts.get("started") or self.facts.get("escalation"))

    def as_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "intent": self.intent,
            "outcome": self.outcome,
            "role": self.role,
            "responsibility": self.responsibility,
            "score": self.score,
            "candidates": [c.as_json() for c in self.candidates],
            "holders": [h.as_json() for h in self.holders],
            "notifications": [n.as_json() for n in self.notifications],
            "reply": self.text,
            **({"facts": self.facts} if self.facts else {}),
        }
