"""undelivered: "undelivered notifications" lists what the outbox gave up on in this workspace, and
"send notification 12 again" queues one again (admins only: a notification may quote anyone's
blocker, from any project)."""

from __future__ import annotations

import logging
import re

from handlers.changes import refusal_reply
from handlers.message import Action, Line, Notification, Reply, line
from handlers.permissions import Refused
from handlers.router import Router
from handlers.turn import Turn
from store import outbox
from store.models import OutboxStatus
from store.outbox import OutboxRecord

INTENT = "undelivered"
SHOWN = 20
log = logging.getLogger(__name__)


def _may_see(turn: Turn) -> Refused | None:
    if turn.sender_is_admin:
        return None
    return Refused(line("Only a workspace admin can see and resend undelivered notifications."))


def _summary(message: OutboxRecord) -> Line:
    text = Notification.from_payload(message.recipient, message.recipient_name, message.payload)
    first = text.text.splitlines()[0][:80] if text.text else ""
    why = f" — {message.last_error[:120]}" if message.last_error else ""
    return line(
        f"• #{message.id} to {message.recipient_name}, written "
        f"{message.created_at:%Y-%m-%d %H:%M} UTC: “{first}”{why}"
    )


async def handle_list(turn: Turn, match: re.Match[str]) -> Reply:
    refused = _may_see(turn)
    if refused:
        return refusal_reply(INTENT, refused)
    failed = await outbox.list_messages(
        turn.db, [OutboxStatus.FAILED], workspace_id=turn.workspace.id
    )
    if not failed:
        return Reply(
            intent=INTENT,
            body=[line("Every notification was delivered.")],
            outcome="answer",
            facts={"undelivered": []},
        )
    shown = failed[-SHOWN:]
    body = [line(f"{len(failed)} notifications could not be delivered:")]
    body.extend(_summary(m) for m in shown)
    return Reply(
        intent=INTENT,
        body=body,
        outcome="answer",
        actions=[Action(f"Send #{m.id} again", f"send notification {m.id} again") for m in shown],
        facts={"undelivered": [m.id for m in failed]},
    )


async def handle_resend(turn: Turn, match: re.Match[str]) -> Reply:
    refused = _may_see(turn)
    if refused:
        return refusal_reply(INTENT, refused)
    number = int(match["id"])
    queued = await outbox.send_again(
        turn.db, number, turn.services.now(), workspace_id=turn.workspace.id
    )
    if not queued:
        return Reply(
            intent=INTENT,
            body=[line(f"There is no undelivered notification #{number} here.")],
            outcome="not_found",
            private=True,
        )
    log.info("outbox #%d queued again by %s", number, turn.message.user_id)
    return Reply(
        intent=INTENT,
        body=[line(f"Notification #{number} will be sent again.")],
        outcome="answer",
        facts={"resent": number},
    )


def register(router: Router) -> None:
    router.add(
        INTENT,
        handle_resend,
        r"(?:send|deliver) (?:the )?notification #?(?P<id>\d{1,12}) again",
        r"(?:resend|retry) (?:the )?notification #?(?P<id>\d{1,12})",
    )
    router.add(
        INTENT,
        handle_list,
        r"(?:show |list )?(?:the )?(?:undelivered|failed|lost) (?:notifications|messages|dms)",
    )
