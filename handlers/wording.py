"""Phrasing shared by the intents: people, holders, dates, and the standard refusals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from handlers.message import HolderFact, Line, PersonMention, Reply, Segment, line
from store.models import AssignmentKind
from store.records import Holder, PersonRecord

STORE_DOWN = "I can't reach my store right now, so I can't answer. Please try again in a minute."


def mention(person: PersonRecord) -> PersonMention:
    return PersonMention(person.user_id, person.name)


def day(moment: datetime) -> str:
    return f"{moment:%a} {moment.day} {moment:%b %Y}"


def last_day(until: datetime) -> str:
    """A cover's `until` is the moment it lapses (midnight after its last day): name the last day."""
    return day(until - timedelta(microseconds=1))


def kind_note(kind: AssignmentKind, until: datetime | None, covers_for: str | None = None) -> str:
    """What follows a holder or a role held: "", " (backup)", " (covering for Ann until …)"."""
    if kind == AssignmentKind.BACKUP:
        return " (backup)"
    if kind == AssignmentKind.COVER:
        lasting = f" until {last_day(until)}" if until else ""
        who = f" for {covers_for}" if covers_for else ""
        return f" (covering{who}{lasting})"
    return ""


def holder_note(holder: Holder) -> str:
    covers_for = holder.covers_for.name if holder.covers_for else None
    return kind_note(holder.kind, holder.until, covers_for)


def holder_segments(holders: Sequence[Holder]) -> list[Segment]:
    out: list[Segment] = []
    for i, holder in enumerate(holders):
        if i:
            out.append(" and " if i == len(holders) - 1 else ", ")
        out.append(mention(holder.person))
        note = holder_note(holder)
        if note:
            out.append(note)
    return out


def holder_facts(holders: Sequence[Holder]) -> list[HolderFact]:
    return [
        HolderFact(
            user_id=h.person.user_id,
            name=h.person.name,
            kind=h.kind.value,
            until=h.until,
            covers_for=h.covers_for.user_id if h.covers_for else None,
        )
        for h in holders
    ]


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def who_can_assign(managing_roles: Sequence[str]) -> str:
    """Who may change who holds what: admins, and the managing roles the catalogue has."""
    if not managing_roles:
        return "a workspace admin"
    if len(managing_roles) == 1:
        return f"a workspace admin or the {managing_roles[0]}"
    roles = ", ".join(managing_roles[:-1]) + f" or {managing_roles[-1]}"
    return f"a workspace admin or the {roles}"


def holders_line(
    role: str, holders: Sequence[Holder], project: str, managing: Sequence[str]
) -> Line:
    if holders:
        return line(f"{role}: ", holder_segments(holders), ".")
    return line(
        f"Nobody holds {role} in project {project} yet. "
        f"{_capitalised(who_can_assign(managing))} can set one: `assign @someone as {role}`."
    )


def refusal(intent: str, text: str, **facts: object) -> Reply:
    """A reply only the sender sees: permission refusals, bad input, unknown names."""
    return Reply(
        intent=intent, body=[line(text)], outcome="unknown", private=True, facts=dict(facts)
    )
