"""What the escalation intents share: who gets notified, and how an escalation reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from handlers.message import Action, Line, Notification, line
from handlers.turn import Turn
from handlers.wording import mention
from store import assignments
from store.db import Database
from store.models import AssignmentKind, EscalationStatus
from store.records import Catalog, EscalationRecord, Holder, PersonRecord, RoleRecord


def acting_holders(holders: Sequence[Holder]) -> list[Holder]:
    """The holders to notify: cover first; a holder someone covers for is away and left out."""
    away = {h.covers_for.id for h in holders if h.kind == AssignmentKind.COVER and h.covers_for}
    return [h for h in holders if h.person.id not in away]


def chain_after(catalog: Catalog, role: RoleRecord) -> list[RoleRecord]:
    """The roles above `role` on the workspace's escalation chain (the whole chain if it is not on it)."""
    chain = [r for name in catalog.escalation_chain if (r := catalog.role_named(name)) is not None]
    ids = [r.id for r in chain]
    return chain[ids.index(role.id) + 1 :] if role.id in ids else chain


async def first_held(
    db: Database, project_id: int, catalog: Catalog, role: RoleRecord, at: datetime
) -> tuple[RoleRecord, list[Holder], list[RoleRecord]]:
    """The target role if anyone holds it, else the first role up the chain that someone holds.

    Returns the role reached, its acting holders, and the roles skipped because nobody held them.
    """
    candidates = [role, *chain_after(catalog, role)]
    by_role = await assignments.holders(db, project_id, [r.id for r in candidates], at=at)
    skipped: list[RoleRecord] = []
    for candidate in candidates:
        acting = acting_holders(by_role.get(candidate.id, []))
        if acting:
            return candidate, acting, skipped
        skipped.append(candidate)
    return role, [], skipped


def where(escalation: EscalationRecord) -> str:
    channel = f", {escalation.platform} channel {escalation.channel}" if escalation.channel else ""
    return f"project {escalation.project}{channel}"


def actions(number: int) -> tuple[Action, ...]:
    return (
        Action("Acknowledge", f"ack #{number}", "primary"),
        Action("Resolve", f"resolve #{number}", "default"),
    )


def status_actions(escalation: EscalationRecord) -> list[Action]:
    """Acknowledge (while open) and Resolve, each naming its blocker, for a list of several."""
    number = escalation.number
    resolve = Action(f"Resolve #{number}", f"resolve #{number}")
    if escalation.status != EscalationStatus.OPEN:
        return [resolve]
    return [Action(f"Acknowledge #{number}", f"ack #{number}", "primary"), resolve]


def notice(
    escalation: EscalationRecord, holders: Sequence[Holder], *, reminder: bool = False
) -> list[Notification]:
    """One notification per holder: the blocker, who raised it, where, and how to act on it."""
    heading = (
        f"Reminder: blocker #{escalation.number} is still not acknowledged"
        if reminder
        else (f"Blocker #{escalation.number} for the {escalation.current_role}")
    )
    body: tuple[Line, ...] = (
        line(f"{heading}: “{escalation.text}”"),
        line("Raised by ", mention(escalation.raised_by), f" in {where(escalation)}."),
        line(
            f"Reply `ack #{escalation.number}` to acknowledge, "
            f"`resolve #{escalation.number} <what was done>` when it is cleared."
        ),
    )
    return [
        Notification(
            h.person.user_id,
            h.person.name,
            body,
            actions(escalation.number),
            escalation.number,
            fallback_channel=escalation.channel,
            fallback_thread=escalation.thread,
        )
        for h in holders
    ]


def tell_raiser(
    turn: Turn, escalation: EscalationRecord, what: str, note: str | None
) -> list[Notification]:
    raiser: PersonRecord = escalation.raised_by
    if raiser.id == turn.sender.id:
        return []
    said = f" {what} your blocker #{escalation.number}: “{escalation.text}”."
    body = (line(mention(turn.sender), said + (f" Note: {note}" if note else "")),)
    # Mentioned, if need be, where the blocker was raised: not where the one who acted on it is.
    return [
        Notification(
            raiser.user_id,
            raiser.name,
            body,
            (),
            escalation.number,
            fallback_channel=escalation.channel,
            fallback_thread=escalation.thread,
        )
    ]


def summary_line(escalation: EscalationRecord) -> Line:
    status = escalation.status.value
    if escalation.acknowledged_by and status == "acknowledged":
        status += f" by {escalation.acknowledged_by.name}"
    return line(
        f"#{escalation.number} [{status}] “{escalation.text}” — raised by ",
        mention(escalation.raised_by),
        f", for the {escalation.current_role} ({escalation.project})",
    )
