"""role_info: "what does the Scrum Master do?" — a role's responsibilities and its holders."""

from __future__ import annotations

import re

from handlers.matching.roles import RoleResolution
from handlers.message import CandidateFact, Reply, line
from handlers.router import Router
from handlers.turn import Turn
from handlers.wording import holder_facts, holders_line, refusal
from store import assignments

INTENT = "role_info"


def unresolved_role(intent: str, asked: str, resolution: RoleResolution, roles: list[str]) -> Reply:
    """The reply when a named role is unknown or ambiguous: choices, never a guess."""
    if resolution.choices:
        names = [role.name for role in resolution.choices]
        reply = Reply(
            intent=intent,
            body=[line(f"Which role do you mean by “{asked}”: " + ", ".join(names) + "?")],
            outcome="clarify",
            private=True,
            candidates=[CandidateFact(r.id, r.name, None, None, 0.0) for r in resolution.choices],
        )
        reply.choices = list(reply.candidates)
        return reply
    return refusal(
        intent,
        f"I don't know a role called “{asked}”. The roles are: {', '.join(roles)}.",
        asked=asked,
    )


async def handle(turn: Turn, match: re.Match[str]) -> Reply:
    index = await turn.index()
    asked = match["role"].strip()
    resolution = index.roles.resolve(asked)
    role = resolution.role
    if role is None:
        return unresolved_role(INTENT, asked, resolution, [r.name for r in index.catalog.roles])
    holders = (await assignments.holders(turn.db, turn.project.id, [role.id])).get(role.id, [])
    body = [line(f"The {role.name} is responsible for:")]
    body.extend(line(f"• {r.text}") for r in role.responsibilities)
    body.append(
        holders_line(role.name, holders, turn.project.name, turn.services.config.managing_roles)
    )
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
