"""assign: "assign @bob as Data Scientist", "@bob is the new scrum master", "add @carol as backup Tester".

Assigning makes the person the role's primary holder in place of the current primaries; adding puts
them beside the holders (as primary or backup). Only admins and the managing roles may do either.
"""

from __future__ import annotations

import re

from handlers.changes import (
    REASON,
    ROLE,
    USER,
    apply_and_confirm,
    kind_of,
    permitted_role,
    person_ref,
)
from handlers.message import Reply
from handlers.permissions import may_manage
from handlers.router import Router
from handlers.turn import Turn
from store.assignments import RoleChange
from store.models import AssignmentKind

INTENT = "assign"
_KIND = r"(?:(?P<kind>backup|primary|main)\s+)?"


async def handle(turn: Turn, match: re.Match[str]) -> Reply:
    groups = match.groupdict()
    role = await permitted_role(
        turn, INTENT, groups["role"], lambda _: may_manage(turn, "assign roles")
    )
    if isinstance(role, Reply):
        return role
    person = person_ref(turn, groups["user"])
    kind = kind_of(groups.get("kind"))
    replacing = groups.get("verb") != "add"
    name = person.name or person.user_id
    summary = (
        f"{'assigned' if replacing else 'added'} {name} as {kind.value} {role.name} "
        f"in {turn.project.name}"
    )
    return await apply_and_confirm(
        turn,
        INTENT,
        role,
        groups.get("reason"),
        RoleChange(
            action="assign" if replacing else "add",
            role_id=role.id,
            start=((person, kind),),
            replace_kind=kind if replacing and kind == AssignmentKind.PRIMARY else None,
            summary=summary,
        ),
        unchanged=f"@{name} already holds {role.name} that way; nothing changed.",
    )


def register(router: Router) -> None:
    router.add(
        INTENT,
        handle,
        rf"(?P<verb>assign|appoint|make|set) {USER} (?:as |to |the )?{_KIND}{ROLE}{REASON}",
        rf"{USER} is (?:now |our |the )*new {_KIND}{ROLE}{REASON}",
        rf"{USER} is now (?:the |our )?{_KIND}{ROLE}{REASON}",
        rf"(?P<verb>add) {USER} (?:as |to )(?:a |an |the )?{_KIND}{ROLE}{REASON}",
        rf"(?P<verb>add) {USER} to {ROLE} as (?:a )?(?P<kind>backup|primary){REASON}",
    )
