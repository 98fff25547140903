"""escalation_status: "ack #12", "resolve #12 quota raised to 8 GPUs", "reopen #12".

Allowed for the holders of the target role (and of the role it climbed to), the person who raised
it, and admins. The raiser is told when it is acknowledged or resolved.
"""

from __future__ import annotations

import re

from handlers.changes import origin, refusal_reply
from handlers.escalation_common import tell_raiser
from handlers.message import Reply, line
from handlers.permissions import may_handle_escalation
from handlers.router import Router
from handlers.turn import Turn
from handlers.wording import refusal
from store import escalations
from store.models import EscalationStatus

INTENT = "escalation_status"

_VERBS = {
    "ack": EscalationStatus.ACKNOWLEDGED,
    "acknowledge": EscalationStatus.ACKNOWLEDGED,
    "acknowledged": EscalationStatus.ACKNOWLEDGED,
    "resolve": EscalationStatus.RESOLVED,
    "resolved": EscalationStatus.RESOLVED,
    "close": EscalationStatus.RESOLVED,
    "done": EscalationStatus.RESOLVED,
    "reopen": EscalationStatus.OPEN,
}
_ALLOWED_FROM = {
    EscalationStatus.ACKNOWLEDGED: {EscalationStatus.OPEN},
    EscalationStatus.RESOLVED: {EscalationStatus.OPEN, EscalationStatus.ACKNOWLEDGED},
    EscalationStatus.OPEN: {EscalationStatus.RESOLVED, EscalationStatus.ACKNOWLEDGED},
}


_SAID = {
    EscalationStatus.ACKNOWLEDGED: "acknowledged",
    EscalationStatus.RESOLVED: "resolved",
    EscalationStatus.OPEN: "reopened",
}


async def handle(turn: Turn, match: re.Match[str]) -> Reply:
    groups = match.groupdict()
    wanted = _VERBS[groups["verb"].lower()]
    number = int(groups["number"])
    escalation = await escalations.find_escalation(turn.db, turn.workspace.id, number)
    if escalation is None:
        return refusal(
            INTENT, f"There is no escalation #{number} here. Say “blockers” to see the open ones."
        )
    refused = await may_handle_escalation(turn, escalation)
    if refused:
        return refusal_reply(INTENT, refused)
    if escalation.status not in _ALLOWED_FROM[wanted]:
        return refusal(INTENT, f"#{number} is {escalation.status.value} already.")
    note = (groups.get("note") or "").strip() or None
    now = turn.services.now()
    said = _SAID[wanted]
    updated = await escalations.set_status(
        turn.db,
        origin(turn, None),
        escalation.id,
        wanted,
        actor_id=turn.sender.id,
        when=now,
        note=note,
        remind_at=now + turn.services.config.remind_after,
        notify=lambda changed: turn.outbox(tell_raiser(turn, changed, said, note)),
    )
    text = f"#{number} {said}: “{updated.text}”." + (f" Note: {note}" if note else "")
    return Reply(
        intent=INTENT,
        body=[line(text)],
        outcome="answer",
        notifications=tell_raiser(turn, updated, said, note),
        facts={"escalation": number, "status": updated.status.value},
    )


def register(router: Router) -> None:
    router.add(
        INTENT,
        handle,
        r"(?P<verb>ack|acknowledge|acknowledged|resolve|resolved|close|done|reopen)\s+#?(?P<number>\d{1,9})(?:[\s:,\-–]+(?P<note>.+))?",
    )
