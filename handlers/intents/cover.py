"""cover: "@erin covers Scrum Master until 2026-12-05", "I'm away until Friday, @erin covers".

A cover is a temporary holder with an end date; it lapses by itself when that day is over (UTC).
While it runs, answers list the cover first and notifications go to the cover instead of the person
away. Holders may set cover for their own roles; admins and managers for anyone.
"""

from __future__ import annotations

import re

from handlers.changes import (
    REASON,
    ROLE,
    USER,
    apply_and_confirm,
    person_ref,
    refusal_reply,
    resolve_role,
)
from handlers.dates import end_of, parse_day
from handlers.message import Reply, line
from handlers.permissions import may_change_own
from handlers.router import Router
from handlers.turn import Turn
from handlers.wording import refusal
from store.assignments import PersonRef, RoleChange
from store.models import AssignmentKind
from store.records import RoleRecord

INTENT = "cover"
_UNTIL = r"(?:until|till|til|through|to) (?P<until>[^,;@]+?)"
_COVERS = (
    r"(?:covers|will cover|is covering|is cover|can cover|to cover)"
    r"(?: for me| for (?P<away>@[\w.\-:]{1,150}))?"
)


async def _cover_one(
    turn: Turn,
    role: RoleRecord,
    cover: PersonRef,
    until_text: str,
    reason: str | None,
    away: PersonRef | None,
) -> Reply:
    day = parse_day(until_text, turn.services.now())
    if day is None:
        return refusal(
            INTENT,
            f"I can't read “{until_text}” as a date. Try “until 2026-12-05” or “until Friday”.",
        )
    until = end_of(day)
    if until <= turn.services.now():
        return refusal(
            INTENT, f"{day:%d %b %Y} has passed; a cover needs an end date in the future."
        )
    refused = await may_change_own(turn, role, f"set cover for {role.name}")
    if refused:
        return refusal_reply(INTENT, refused)
    name = cover.name or cover.user_id
    return await apply_and_confirm(
        turn,
        INTENT,
        role,
        reason,
        RoleChange(
            action="cover",
            role_id=role.id,
            start=((cover, AssignmentKind.COVER),),
            until=until,
            covers_for=away,
            summary=f"{name} covers {role.name} in {turn.project.name} until {day:%Y-%m-%d}",
        ),
        unchanged="Nothing changed.",
        until=until,
    )


async def handle_role_cover(turn: Turn, match: re.Match[str]) -> Reply:
    groups = match.groupdict()
    role = await resolve_role(turn, INTENT, groups["role"])
    if isinstance(role, Reply):
        return role
    if not groups.get("until"):
        return refusal(
            INTENT,
            f"A cover needs an end date, e.g. “@someone covers {role.name} until 2026-12-05”.",
        )
    away = person_ref(turn, groups["away"].lstrip("@")) if groups.get("away") else None
    if away is None:
        held = await turn.role_holders(role.id)
        if any(h.person.id == turn.sender.id for h in held):
            away = PersonRef(turn.sender.user_id)
    return await _cover_one(
        turn, role, person_ref(turn, groups["user"]), groups["until"], groups.get("reason"), away
    )


async def handle_away(turn: Turn, match: re.Match[str]) -> Reply:
    """The sender is away: the cover takes every role they hold in the project."""
    groups = match.groupdict()
    held = [h for h in await turn.holdings(turn.sender.id) if h.kind != AssignmentKind.COVER]
    if not held:
        return refusal(
            INTENT,
            f"You hold no role in project {turn.project.name}, so there is nothing to cover.",
        )
    index = await turn.index()
    cover = person_ref(turn, groups["user"])
    me = PersonRef(turn.sender.user_id)
    replies = []
    for holding in held:
        role = index.catalog.role(holding.role_id)
        if role is not None:
            replies.append(
                await _cover_one(turn, role, cover, groups["until"], groups.get("reason"), me)
            )
    first = replies[0]
    if first.private or len(replies) == 1:
        return first
    combined = Reply(
        intent=INTENT, body=[part for r in replies for part in r.body], outcome="answer"
    )
    combined.notifications = [n for r in replies for n in r.notifications]
    combined.facts = {"roles": [r.role for r in replies]}
    return combined


async def handle_who_covers(turn: Turn, match: re.Match[str]) -> Reply:
    """ "Set cover for Scrum Master" with nobody named (a button where there are no forms)."""
    role = await resolve_role(turn, INTENT, match["role"])
    if isinstance(role, Reply):
        return role
    return Reply(
        intent=INTENT,
        body=[line(f"Who covers, and until when? Say “@someone covers {role.name} until <day>”.")],
        outcome="clarify",
        private=True,
    )


def register(router: Router) -> None:
    router.add(
        INTENT,
        handle_role_cover,
        rf"{USER} {_COVERS} (?:as |for )?(?:the |our )?(?P<role>[^@]+?) {_UNTIL}{REASON}",
        rf"{USER} {_COVERS} (?:as |for )?(?:the |our )?(?P<role>[^@]+?){REASON}",
    )
    router.add(INTENT, handle_who_covers, rf"(?:set )?cover for {ROLE}")
    router.add(
        INTENT,
        handle_away,
        rf"(?:i'?m|i am|ill be|i'll be|i will be) (?:away|out|off|on leave|on holiday|on vacation|ooo)"
        rf"(?: from [^,;@]+?)? {_UNTIL}[,;.]?\s*(?:and )?{USER} {_COVERS}{REASON}",
    )
