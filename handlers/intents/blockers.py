"""blockers: "blockers" / "open escalations" for the project, and "my escalations"."""

from __future__ import annotations

import re

from handlers.escalation_common import status_actions, summary_line
from handlers.message import Line, Reply, line
from handlers.router import Router
from handlers.turn import Turn
from store import escalations

INTENT = "blockers"
MAX_BUTTONS = 6


async def handle_project(turn: Turn, match: re.Match[str]) -> Reply:
    found = await escalations.list_escalations(
        turn.db, turn.workspace.id, project_id=turn.project.id
    )
    if not found:
        return Reply(
            intent=INTENT,
            body=[line(f"No open blockers in project {turn.project.name}.")],
            outcome="answer",
            facts={"escalations": []},
        )
    body: list[Line] = [line(f"Open blockers in project {turn.project.name}:")]
    body.extend(summary_line(e) for e in found)
    return Reply(
        intent=INTENT, body=body, outcome="answer", facts={"escalations": [e.number for e in found]}
    )


async def handle_mine(turn: Turn, match: re.Match[str]) -> Reply:
    held = await turn.holdings(turn.sender.id)
    found = await escalations.list_escalations(
        turn.db, turn.workspace.id, raised_by_id=turn.sender.id, role_ids=[h.role_id for h in held]
    )
    raised = [e for e in found if e.raised_by.id == turn.sender.id]
    for_me = [e for e in found if e.raised_by.id != turn.sender.id]
    if not found:
        return Reply(
            intent=INTENT,
            body=[line("You have no open escalations.")],
            outcome="answer",
            facts={"escalations": []},
        )
    body: list[Line] = []
    if for_me:
        body.append(line("Waiting on a role you hold:"))
        body.extend(summary_line(e) for e in for_me)
    if raised:
        body.append(line("Raised by you:"))
        body.extend(summary_line(e) for e in raised)
    # Buttons for the first few: those waiting on the person first (Teams shows six at most).
    actions = [a for e in [*for_me, *raised] for a in status_actions(e)][:MAX_BUTTONS]
    return Reply(
        intent=INTENT,
        body=body,
        outcome="answer",
        actions=actions,
        facts={"escalations": [e.number for e in found]},
    )


def register(router: Router) -> None:
    router.add(
        INTENT,
        handle_mine,
        r"(?:show |list )?my (?:open )?(?:escalations|blockers)",
    )
    router.add(
        INTENT,
        handle_project,
        r"(?:show |list )?(?:the |all )?(?:open )?(?:blockers|escalations|impediments)",
    )
