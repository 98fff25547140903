"""overview: every role of the catalogue and who holds it in the project (the team at a glance)."""

from __future__ import annotations

import re

from handlers.message import Reply, line
from handlers.router import Router
from handlers.turn import Turn
from handlers.wording import holder_facts, holder_segments

INTENT = "overview"


async def handle(turn: Turn, match: re.Match[str]) -> Reply:
    index = await turn.index()
    by_role = await turn.holders()
    body = [line(f"Who's who in project {turn.project.name}:")]
    vacant = 0
    facts: list[dict[str, object]] = []
    for role in index.catalog.roles:
        holders = by_role.get(role.id, [])
        vacant += not holders
        if holders:
            body.append(line(f"• {role.name}: ", holder_segments(holders)))
        else:
            body.append(line(f"• {role.name}: nobody yet"))
        facts.append({"role": role.name, "holders": [h.as_json() for h in holder_facts(holders)]})
    if vacant:
        body.append(line(f"{vacant} of {len(index.catalog.roles)} roles have nobody yet."))
    return Reply(intent=INTENT, body=body, outcome="answer", facts={"roles": facts})


def register(router: Router) -> None:
    router.add(
        INTENT,
        handle,
        r"(?:list |show |all |show all |list all )?(?:the )?roles",
        r"(?:show |list )?(?:the )?(?:team|team overview|overview|who'?s who|who is who)",
        r"who does what",
        r"who holds what",
    )
