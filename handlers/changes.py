"""What the role-changing intents share: naming the role, naming people, applying, confirming.

Each change is applied by `store.assignments.apply_change`, which writes the audit entry (who, what,
when, platform, channel, reason) in the same transaction. The people a change affects, other than the
person making it, are notified.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from handlers.groups import composer
from handlers.matching.roles import RoleResolution
from handlers.message import CandidateFact, Line, Notification, Reply, line
from handlers.permissions import Refused
from handlers.turn import Turn
from handlers.wording import last_day, mention, refusal
from store import assignments
from store.assignments import ChangeResult, PersonRef, RoleChange
from store.audit import ChangeOrigin
from store.models import AssignmentKind
from store.records import PersonRecord, RoleRecord

# Optional "because …" at the end of a command; kept in the audit log.
REASON = r"(?:\s*[,;]?\s+(?:because|reason:)\s+(?P<reason>.+))?"
USER = r"@(?P<user>[\w.\-:]{1,150})"  # platform user ids are short; a 300-character "id" is not one
ROLE = r"(?:the |a |an |our )?(?P<role>[^@]+?)(?: role)?"


def origin(turn: Turn, reason: str | None) -> ChangeOrigin:
    return ChangeOrigin(
        workspace_id=turn.workspace.id,
        project_id=turn.project.id,
        actor_id=turn.sender.id,
        platform=turn.message.platform,
        channel=turn.message.channel,
        reason=reason.strip() if reason else None,
    )


def unresolved_role(
    intent: str, asked: str, resolution: RoleResolution, roles: list[str], text: str
) -> Reply:
    """The reply when a named role is unknown or ambiguous: choices, never a guess.

    Each choice carries the message again with that role named, so picking one runs it.
    """
    if resolution.choices:
        names = [role.name for role in resolution.choices]
        choices = [
            CandidateFact(r.id, r.name, None, None, 0.0, command=text.replace(asked, r.name, 1))
            for r in resolution.choices
        ]
        return Reply(
            intent=intent,
            body=[line(f"Which role do you mean by “{asked}”: " + ", ".join(names) + "?")],
            outcome="clarify",
            private=True,
            candidates=choices,
            choices=choices,
        )
    return refusal(
        intent,
        f"I don't know a role called “{asked}”. The roles are: {', '.join(roles)}.",
        asked=asked,
    )


async def resolve_role(
    turn: Turn, intent: str, asked: str, *, retired: bool = False
) -> RoleRecord | Reply:
    """The role a command names, or the reply that asks which one (never a guess).

    With `retired`, a role the team has retired is found too, once no current role is."""
    index = await turn.index()
    resolution = index.roles.resolve(asked)
    if resolution.role is not None:
        return resolution.role
    if retired and not resolution.choices:
        former = index.retired_roles.resolve(asked)
        if former.role is not None:
            return former.role
    roles = [r.name for r in index.catalog.roles]
    return unresolved_role(intent, asked.strip(), resolution, roles, turn.message.text)


async def permitted_role(
    turn: Turn,
    intent: str,
    asked: str,
    check: Callable[[RoleRecord], Awaitable[Refused | None]],
) -> RoleRecord | Reply:
    """The role a command names, if the sender may change it; else the reply that says why not."""
    role = await resolve_role(turn, intent, asked)
    if isinstance(role, Reply):
        return role
    refused = await check(role)
    return refusal_reply(intent, refused) if refused else role


def person_ref(turn: Turn, user_id: str) -> PersonRef:
    mentioned = turn.message.mention(user_id)
    return PersonRef(mentioned.user_id, mentioned.name)


def refusal_reply(intent: str, refused: Refused) -> Reply:
    return Reply(intent=intent, body=[refused.text], outcome="unknown", private=True)


def kind_of(word: str | None) -> AssignmentKind:
    return (
        AssignmentKind.BACKUP
        if word and word.strip().lower() == "backup"
        else AssignmentKind.PRIMARY
    )


def _as(kind: AssignmentKind) -> str:
    """The word before a role name: "", "backup " or "cover "."""
    return "" if kind == AssignmentKind.PRIMARY else f"{kind.value} "


async def apply_and_confirm(
    turn: Turn,
    intent: str,
    role: RoleRecord,
    reason: str | None,
    change: RoleChange,
    *,
    unchanged: str,
    until: datetime | None = None,
) -> Reply:
    """Apply a change (audited, in one transaction) and confirm it to everyone it touches."""

    def confirmed(result: ChangeResult) -> Reply:
        return confirm(turn, intent, role, result, reason=reason, unchanged=unchanged, until=until)

    result = await assignments.apply_change(
        turn.db,
        origin(turn, reason),
        change,
        now=turn.services.now(),
        notify=lambda result: turn.outbox(confirmed(result).notifications),
        groups=composer(turn.services, turn.message.platform),
    )
    return confirmed(result)


def _notify(turn: Turn, person: PersonRecord, body: Line) -> list[Notification]:
    if person.id == turn.sender.id:
        return []
    message = turn.message
    return [
        Notification(
            person.user_id,
            person.name,
            (body,),
            fallback_channel=message.channel,
            fallback_thread=message.thread,
        )
    ]


def confirm(
    turn: Turn,
    intent: str,
    role: RoleRecord,
    result: ChangeResult,
    *,
    reason: str | None,
    unchanged: str,
    until: datetime | None = None,
) -> Reply:
    """The sender's confirmation, and a note to everyone the change started or ended."""
    if not result.changed:
        return Reply(intent=intent, body=[line(unchanged)], outcome="answer", role=role.name)
    actor = mention(turn.sender)
    where = f"in project {turn.project.name}"
    body: list[Line] = []
    notifications: list[Notification] = []
    for person, kind in result.started:
        how = _as(kind) + role.name
        lasting = f" until {last_day(until)}" if until and kind == AssignmentKind.COVER else ""
        body.append(line(mention(person), f" is now {how} {where}{lasting}."))
        notifications += _notify(turn, person, line(actor, f" made you {how} {where}{lasting}."))
    for person, kind in result.ended:
        if any(p.id == person.id for p, _ in result.started):
            continue  # a change of kind, already said above
        how = _as(kind) + role.name
        body.append(line(mention(person), f" is no longer {how} {where}."))
        notifications += _notify(turn, person, line(actor, f" removed you as {how} {where}."))
    if reason:
        body.append(line(f"Reason noted: {reason.strip()}"))
    return Reply(
        intent=intent,
        body=body,
        outcome="answer",
        role=role.name,
        notifications=notifications,
        facts={
            "started": [{"user": p.user_id, "kind": k.value} for p, k in result.started],
            "ended": [{"user": p.user_id, "kind": k.value} for p, k in result.ended],
            "audit": result.audit_id,
        },
    )
