"""review: "still mine" (a holder confirms their roles), "stale roles" (the roles whose holders did
not answer the review), and "review roles every 8 weeks" / "stop reviewing roles" (managers)."""

from __future__ import annotations

import re

from handlers.changes import refusal_reply, resolve_role
from handlers.message import Line, Reply, line
from handlers.ownership import hold_line
from handlers.permissions import may_manage
from handlers.router import Router
from handlers.turn import Turn
from store import reviews

INTENT = "review"
MAX_WEEKS = 104


async def handle_confirm(turn: Turn, match: re.Match[str]) -> Reply:
    role_ids = None
    if match["role"]:
        role = await resolve_role(turn, INTENT, match["role"])
        if isinstance(role, Reply):
            return role
        role_ids = [role.id]
    confirmed = await reviews.confirm_holds(
        turn.db, turn.workspace.id, turn.sender.id, turn.services.now(), role_ids
    )
    if not confirmed:
        return Reply(
            intent=INTENT,
            body=[line("You hold no roles to confirm (covers end by themselves).")],
            outcome="answer",
            private=True,
            facts={"confirmed": []},
        )
    weeks, _ = await reviews.review_settings(turn.db, turn.workspace.id)
    roles = ", ".join(dict.fromkeys(f"{h.role} ({h.project})" for h in confirmed))
    later = f" I'll ask again in {weeks} weeks." if weeks else ""
    return Reply(
        intent=INTENT,
        body=[line(f"Thanks — confirmed as yours: {roles}.{later}")],
        outcome="answer",
        facts={"confirmed": [h.role for h in confirmed]},
    )


async def handle_stale(turn: Turn, match: re.Match[str]) -> Reply:
    grace = turn.services.config.review_grace
    stale = await reviews.stale_holds(turn.db, turn.workspace.id, turn.services.now(), grace)
    if not stale:
        return Reply(
            intent=INTENT,
            body=[line("No stale roles: every holder asked in the review has answered.")],
            outcome="answer",
            facts={"stale": []},
        )
    body: list[Line] = [line(f"Roles whose holders did not confirm them within {grace.days} days:")]
    body.extend(hold_line(h, holder=True) for h in stale)
    return Reply(
        intent=INTENT, body=body, outcome="answer", facts={"stale": [h.role for h in stale]}
    )


async def handle_every(turn: Turn, match: re.Match[str]) -> Reply:
    refused = await may_manage(turn, "change how often roles are reviewed")
    if refused:
        return refusal_reply(INTENT, refused)
    weeks = int(match["weeks"] or 0)
    if weeks > MAX_WEEKS:
        return Reply(
            intent=INTENT,
            body=[line(f"Review at least every {MAX_WEEKS} weeks, or say “stop reviewing roles”.")],
            outcome="unknown",
            private=True,
        )
    await reviews.set_review_every(turn.db, turn.workspace.id, weeks)
    said = (
        f"Each holder will be asked every {weeks} weeks whether their roles are still theirs."
        if weeks
        else "Roles are no longer reviewed."
    )
    return Reply(intent=INTENT, body=[line(said)], outcome="answer", facts={"weeks": weeks})


def register(router: Router) -> None:
    router.add(
        INTENT,
        handle_confirm,
        r"(?:yes,? )?(?:it'?s |they'?re |that'?s )?still mine(?: (?:as )?(?P<role>[^@]+?))?",
        r"confirm (?:my roles|(?:that )?i (?:still )?hold (?P<role>[^@]+?))",
    )
    router.add(
        INTENT,
        handle_stale,
        r"(?:show |list )?(?:the )?(?:stale|unconfirmed) (?:roles|holders|owners)",
    )
    router.add(
        INTENT,
        handle_every,
        r"review (?:the )?roles every (?P<weeks>\d{1,3}) weeks?",
        r"(?:stop|never) review(?:ing)? (?:the )?roles(?P<weeks>)",
    )
