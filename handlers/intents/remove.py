"""remove: "remove @alice from Data Engineer" — ends the person's hold on the role (history is kept)."""

from __future__ import annotations

import re

from handlers.changes import (
    REASON,
    ROLE,
    USER,
    apply_and_confirm,
    permitted_role,
    person_ref,
)
from handlers.message import Reply
from handlers.permissions import may_manage
from handlers.router import Router
from handlers.turn import Turn
from store.assignments import RoleChange

INTENT = "remove"


async def handle(turn: Turn, match: re.Match[str]) -> Reply:
    groups = match.groupdict()
    role = await permitted_role(
        turn, INTENT, groups["role"], lambda _: may_manage(turn, "remove people from roles")
    )
    if isinstance(role, Reply):
        return role
    person = person_ref(turn, groups["user"])
    name = person.name or person.user_id
    return await apply_and_confirm(
        turn,
        INTENT,
        role,
        groups.get("reason"),
        RoleChange(
            action="remove",
            role_id=role.id,
            end_people=(person,),
            summary=f"removed {name} from {role.name} in {turn.project.name}",
        ),
        unchanged=f"@{name} does not hold {role.name} in project {turn.project.name}; nothing changed.",
    )


def register(router: Router) -> None:
    router.add(
        INTENT,
        handle,
        rf"(?:remove|unassign|drop|take) {USER} (?:off |from |as )(?:the )?{ROLE}{REASON}",
    )
