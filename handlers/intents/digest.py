"""digest: "post the weekly digest here" / "… in #ml-team" and "stop the weekly digest" (admins and
the managing roles): where the week's blockers, changes, lapsed covers and stale roles go."""

from __future__ import annotations

import re

from handlers.changes import refusal_reply
from handlers.message import Reply, line
from handlers.permissions import may_manage
from handlers.router import Router
from handlers.turn import Turn
from store import reviews

INTENT = "digest"


async def handle_set(turn: Turn, match: re.Match[str]) -> Reply:
    refused = await may_manage(turn, "choose where the weekly digest goes")
    if refused:
        return refusal_reply(INTENT, refused)
    channel = match["channel"] or turn.message.channel
    if not channel:
        return Reply(
            intent=INTENT,
            body=[
                line(
                    "Say it in the channel the digest should go to: “post the weekly digest here”."
                )
            ],
            outcome="unknown",
            private=True,
        )
    await reviews.set_digest_channel(turn.db, turn.workspace.id, channel)
    return Reply(
        intent=INTENT,
        body=[
            line(
                "The weekly digest will be posted in this channel: open blockers, changes of "
                "holders, lapsed covers and unconfirmed roles. A week with none of them posts "
                "nothing."
                if channel == turn.message.channel
                else f"The weekly digest will be posted in #{channel}."
            )
        ],
        outcome="answer",
        facts={"digest_channel": channel},
    )


async def handle_stop(turn: Turn, match: re.Match[str]) -> Reply:
    refused = await may_manage(turn, "stop the weekly digest")
    if refused:
        return refusal_reply(INTENT, refused)
    await reviews.set_digest_channel(turn.db, turn.workspace.id, None)
    return Reply(
        intent=INTENT,
        body=[line("No more weekly digests.")],
        outcome="answer",
        facts={"digest_channel": None},
    )


def register(router: Router) -> None:
    router.add(
        INTENT,
        handle_set,
        r"(?:post|send|put) the (?:weekly )?digest (?:here|in this channel)(?P<channel>)",
        r"(?:post|send|put) the (?:weekly )?digest (?:in|to) #(?P<channel>[\w\-:.@]{1,150})",
    )
    router.add(
        INTENT,
        handle_stop,
        r"(?:stop|no more|cancel) (?:the )?(?:weekly )?digests?",
    )
