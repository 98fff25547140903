"""role_info: "what does the Scrum Master do?" — a role's responsibilities and its holders."""

from __future__ import annotations

import re

from handlers.changes import resolve_role
from handlers.message import Reply, line
from handlers.router import Router
from handlers.turn import Turn
from handlers.wording import holder_facts, holders_line

INTENT = "role_info"


async def handle(turn: Turn, match: re.Match[str]) -> Reply:
    role = await resolve_role(turn, INTENT, match["role"])
    if isinstance(role, Reply):
        return role
    holders = await turn.role_holders(role.id)
    body = [line(f"The {role.name} is responsible for:")]
    body.extend(line(f"• {r.text}") for r in role.responsibilities)
    body.append(holders_line(role.name, holders, turn.project.name, await turn.managing_roles()))
    return Reply(
        intent=INTENT,
        body=body,
        outcome="answer",
        role=role.name,
        holders=holder_facts(holders),
        facts={"responsibilities": [r.text for r in role.responsibilities]},
    )


_ROLE = r"(?:the |a |an |our |your )?(?P<role>[^@?]+?)(?: role)?"


def register(router: Router) -> None:
    router.add(
        INTENT,
        handle,
        rf"what (?:does|do) {_ROLE} (?:do|own|handle|cover|look after)",
        rf"what (?:is|are) {_ROLE} (?:responsible for|in charge of)",
        rf"what (?:is|are) (?:the )?(?:responsibilities|duties|job) of {_ROLE}",
        rf"(?:describe|explain) {_ROLE}",
        rf"{_ROLE} (?:responsibilities|duties)",
        rf"(?:tell me about|info on) (?:the )?{_ROLE} role",
    )
