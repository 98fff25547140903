"""escalate: "escalate: blocked on GPU quota", "blocker: …", "I'm blocked on …",
"escalate to the project manager: vendor contract delayed".

Creates an escalation (#N in this workspace) for the Scrum Master, or the role named, and notifies
its acting holders; when nobody holds the role it climbs the escalation chain and the reply says so.
"""

from __future__ import annotations

import re

from handlers.changes import origin, resolve_role
from handlers.escalation_common import first_held, notice
from handlers.message import Line, Reply, join_people, line
from handlers.router import Router
from handlers.turn import Turn
from handlers.wording import mention, refusal
from store import escalations
from store.escalations import NewEscalation
from store.records import RoleRecord

INTENT = "escalate"
DEFAULT_TARGET = "Scrum Master"
MAX_TEXT = 1000


async def _target(turn: Turn, named: str | None) -> RoleRecord | Reply:
    index = await turn.index()
    if named:
        return await resolve_role(turn, INTENT, named)
    role = index.catalog.role_named(DEFAULT_TARGET)
    if role is None:  # a custom catalogue without a Scrum Master: the first role of the chain
        chain = [index.catalog.role_named(n) for n in index.catalog.escalation_chain]
        role = next((r for r in chain if r is not None), None)
    if role is None:
        return refusal(INTENT, "This workspace's catalogue has no role to escalate to.")
    return role


async def handle(turn: Turn, match: re.Match[str]) -> Reply:
    groups = match.groupdict()
    text = " ".join(groups["text"].split())[:MAX_TEXT]
    if not text:
        return refusal(INTENT, "What is blocking you? Say “escalate: <the blocker>”.")
    target = await _target(turn, groups.get("role"))
    if isinstance(target, Reply):
        return target
    index = await turn.index()
    now = turn.services.now()
    reached, holders, skipped = await first_held(
        turn.db, turn.project.id, index.catalog, target, now
    )
    escalation = await escalations.raise_escalation(
        turn.db,
        origin(turn, None),
        NewEscalation(
            text=text,
            raised_by_id=turn.sender.id,
            target_role_id=target.id,
            current_role_id=reached.id,
            thread=turn.message.thread,
            remind_at=now + turn.services.config.remind_after,
        ),
        now,
        notify=lambda raised: turn.outbox(notice(raised, holders)),
    )
    body: list[Line] = [line(f"Escalated as #{escalation.number}: “{text}”.")]
    if skipped and holders:
        names = ", ".join(r.name for r in skipped)
        body.append(
            line(
                f"Nobody holds {names} in project {turn.project.name}, so it went up to the {reached.name}."
            )
        )
    if holders:
        body.append(
            line(
                "Notified ", join_people(mention(h.person) for h in holders), f" ({reached.name})."
            )
        )
    else:
        body.append(
            line(
                f"Nobody holds {target.name} or any role up the escalation chain in project "
                f"{turn.project.name}, so nobody was notified. Ask an admin to assign one."
            )
        )
    return Reply(
        intent=INTENT,
        body=body,
        outcome="answer",
        role=reached.name,
        notifications=notice(escalation, holders),
        facts={
            "escalation": escalation.number,
            "target": target.name,
            "notified_role": reached.name,
        },
    )


def register(router: Router) -> None:
    router.add(
        INTENT,
        handle,
        r"(?:escalate|escalation)(?: to (?:the |our )?(?P<role>[^:]+?))?\s*[:\-–]\s*(?P<text>.+)",
        r"(?:blocker|blocked|impediment)\s*[:\-–]\s*(?P<text>.+)",
        r"(?P<text>(?:i'?m|i am|we'?re|we are|im) (?:blocked|stuck) (?:on|by|waiting (?:for|on)) .+)",
    )
