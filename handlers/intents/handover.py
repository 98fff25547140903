"""handover: "hand over MLOps Engineer to @dave" — a holder passes their role on.

The holder's assignment ends and the new person takes it the same way (primary or backup). An admin
or manager who does not hold the role hands over all of its primary holding instead.
"""

from __future__ import annotations

import re

from handlers.changes import (
    REASON,
    ROLE,
    USER,
    apply_and_confirm,
    permitted_role,
    person_ref,
    refusal_reply,
    resolve_role,
)
from handlers.message import Reply, line
from handlers.permissions import Refused, can_manage, may_change_own
from handlers.router import Router
from handlers.turn import Turn
from store.assignments import PersonRef, RoleChange
from store.models import AssignmentKind

INTENT = "handover"


async def handle(turn: Turn, match: re.Match[str]) -> Reply:
    groups = match.groupdict()
    role = await permitted_role(
        turn, INTENT, groups["role"], lambda r: may_change_own(turn, r, f"hand over {r.name}")
    )
    if isinstance(role, Reply):
        return role
    held = await turn.role_holders(role.id)
    mine = next(
        (h for h in held if h.person.id == turn.sender.id and h.kind != AssignmentKind.COVER), None
    )
    if mine is None and not await can_manage(turn):
        # Only covering: the role is not theirs to give away.
        return refusal_reply(INTENT, Refused(line(f"You only cover {role.name}; ask its holder.")))
    successor = person_ref(turn, groups["user"])
    name = successor.name or successor.user_id
    kind = mine.kind if mine else AssignmentKind.PRIMARY
    return await apply_and_confirm(
        turn,
        INTENT,
        role,
        groups.get("reason"),
        RoleChange(
            action="handover",
            role_id=role.id,
            start=((successor, kind),),
            end_people=(PersonRef(turn.sender.user_id),) if mine else (),
            replace_kind=None if mine else AssignmentKind.PRIMARY,
            summary=f"handed over {role.name} to {name} in {turn.project.name}",
        ),
        unchanged=f"@{name} already holds {role.name}; nothing changed.",
    )


async def handle_whom(turn: Turn, match: re.Match[str]) -> Reply:
    """ "Hand over Scrum Master" with nobody named (the review's button): say how to name them."""
    role = await resolve_role(turn, INTENT, match["role"])
    if isinstance(role, Reply):
        return role
    name = role.name
    return Reply(
        intent=INTENT,
        body=[line(f"To whom? Say “hand over {name} to @someone”.")],
        outcome="clarify",
        private=True,
    )


def register(router: Router) -> None:
    router.add(
        INTENT,
        handle,
        rf"hand(?:\s*over|\s*off)? {ROLE} (?:over )?to {USER}{REASON}",
        rf"(?:handover|hand-over) (?:of )?{ROLE} to {USER}{REASON}",
        rf"(?:pass|transfer|give) {ROLE} (?:over )?to {USER}{REASON}",
    )
    router.add(INTENT, handle_whom, rf"hand(?:\s*over|\s*off)? {ROLE}")
