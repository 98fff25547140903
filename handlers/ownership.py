"""Ownership that stays true: the review of who holds what, and the weekly digest.

`review_pass` and `digest_pass` each do one pass over every workspace; the server runs them in its
background loop (`ownership_loop`), and `whoowns review` / `whoowns digest` run one by hand. Each
workspace is claimed by one replica at a time (`store.reviews`), and what a pass composes is
written to the outbox in the claim's transaction.

- Review: every `review_every_weeks` (per workspace, default 12) each holder gets one message
  listing the roles they hold, with "Still mine" and "Hand over" buttons. An ask left unanswered
  for `review_grace` (7 days) is listed to the Team Lead of the project (or, if nobody holds it,
  the first managing role someone holds), once.
- Digest: once a week, to the channel an admin picked, the open blockers and their age, the week's
  changes of holders, the covers that lapsed, and the roles left unconfirmed. An empty week posts
  nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime

from handlers.actions import handover_action
from handlers.escalation_common import acting_holders
from handlers.groups import group_pass
from handlers.message import Action, Line, Notification, line
from handlers.turn import Services, outgoing
from handlers.wording import day, mention
from store import assignments, reviews
from store.db import StoreUnavailable
from store.models import AssignmentKind
from store.outbox import Outgoing
from store.records import Catalog
from store.reviews import Digest, Hold, ReviewRound

log = logging.getLogger(__name__)
MAX_HANDOVER_BUTTONS = 4


def hold_line(hold: Hold, *, holder: bool = False) -> Line:
    """A hold in a list: to its holder ("yours since"), or to others (with who holds it)."""
    kind = "" if hold.kind == AssignmentKind.PRIMARY else f" ({hold.kind.value})"
    where = f"{hold.role}{kind} in project {hold.project}"
    if holder:
        return line("• ", mention(hold.person), f": {where}")
    return line(f"• {where}, yours since {day(hold.since)}")


def ask_notifications(asked: Sequence[Hold]) -> list[Notification]:
    """One message per holder, listing every role they are asked about."""
    by_person: dict[int, list[Hold]] = defaultdict(list)
    for hold in asked:
        by_person[hold.person.id].append(hold)
    notes = []
    for holds in by_person.values():
        person = holds[0].person
        body = (
            line("Are these roles still yours? Keeping the ownership map true helps everyone."),
            *(hold_line(h) for h in holds),
            line("Say “still mine”, or hand one over (“hand over <role> to @someone”)."),
        )
        roles = list(dict.fromkeys((h.role, h.project) for h in holds))
        actions = (
            Action("Still mine", "still mine", "primary"),
            *(handover_action(r, p) for r, p in roles[:MAX_HANDOVER_BUTTONS]),
        )
        notes.append(Notification(person.user_id, person.name, body, actions))
    return notes


async def overdue_notifications(
    services: Services, catalog: Catalog, overdue: Sequence[Hold], now: datetime
) -> list[Notification]:
    """Per project, the unanswered asks, to the first reviewer role someone holds there."""
    by_project: dict[int, list[Hold]] = defaultdict(list)
    for hold in overdue:
        by_project[hold.project_id].append(hold)
    wanted = (*services.config.reviewer_roles, *services.config.managing_roles)
    roles = [r for name in dict.fromkeys(wanted) if (r := catalog.role_named(name)) is not None]
    notes: list[Notification] = []
    for project_id, holds in by_project.items():
        held = await assignments.holders(services.db, project_id, [r.id for r in roles], at=now)
        role = next((r for r in roles if acting_holders(held.get(r.id, []))), None)
        if role is None:
            log.warning("review: nobody manages project %s to tell of stale roles", project_id)
            continue
        body = (
            line(
                f"These roles in project {holds[0].project} were not confirmed within "
                f"{services.config.review_grace.days} days:"
            ),
            *(hold_line(h, holder=True) for h in holds),
            line("Ask them, or reassign (“assign @someone as <role>”). “stale roles” lists them."),
        )
        for holder in acting_holders(held[role.id]):
            notes.append(Notification(holder.person.user_id, holder.person.name, body))
    return notes


async def review_pass(services: Services) -> list[tuple[ReviewRound, list[Notification]]]:
    """One review of every workspace that is due; what each asked and reported, and to whom."""
    now = services.now()
    done: list[tuple[ReviewRound, list[Notification]]] = []
    for workspace_id in await reviews.workspace_ids(services.db):
        catalog = (await services.matchers.index(workspace_id)).catalog
        notes: list[Notification] = []

        async def compose(
            review: ReviewRound, catalog: Catalog = catalog, notes: list[Notification] = notes
        ) -> list[Outgoing]:
            notes += ask_notifications(review.asked)
            notes += await overdue_notifications(services, catalog, review.overdue, now)
            return outgoing(services, review.workspace.platform, notes)

        review = await reviews.run_review(
            services.db,
            workspace_id,
            now,
            check_every=services.config.review_check_every,
            grace=services.config.review_grace,
            notify=compose,
        )
        if review is not None and (review.asked or review.overdue):
            log.info(
                "review: workspace %s, %d holds asked about, %d reported stale",
                workspace_id,
                len(review.asked),
                len(review.overdue),
            )
            done.append((review, notes))
    return done


def _age(since: datetime, now: datetime) -> str:
    days = (now - since).days
    return "today" if days < 1 else f"{days} day{'s' if days != 1 else ''} old"


def digest_body(digest: Digest) -> tuple[Line, ...]:
    body: list[Line] = [line(f"Weekly digest, {day(digest.since)} to {day(digest.now)}")]
    if digest.open_escalations:
        body.append(line(f"Open blockers ({len(digest.open_escalations)}):"))
        body.extend(
            line(
                f"• #{e.number} “{e.text}” for the {e.current_role} ({e.project}), "
                f"{e.status.value}, {_age(e.created_at, digest.now)}"
            )
            for e in digest.open_escalations
        )
    if digest.changes:
        body.append(line(f"Changes of holders ({len(digest.changes)}):"))
        body.extend(
            line(f"• {day(c.created_at)}: {c.summary}", f" (by {c.actor.name})" if c.actor else "")
            for c in reversed(digest.changes)
        )
    if digest.lapsed_covers:
        body.append(line("Covers that lapsed:"))
        body.extend(
            line("• ", mention(h.person), f" covered {h.role} ({h.project})")
            + ((f" until {day(h.until)}",) if h.until else ())
            for h in digest.lapsed_covers
        )
    if digest.unconfirmed:
        body.append(line("Roles not confirmed in the review:"))
        body.extend(hold_line(h, holder=True) for h in digest.unconfirmed)
    return tuple(body)


def digest_notifications(digest: Digest) -> list[Notification]:
    if digest.empty:
        return []  # an empty week is no news: nothing is posted
    return [
        Notification(digest.channel, "the digest channel", digest_body(digest), to_channel=True)
    ]


async def digest_pass(services: Services) -> list[tuple[Digest, list[Notification]]]:
    """The digest of every workspace whose week is over; each posted one with its message."""
    now = services.now()
    posted: list[tuple[Digest, list[Notification]]] = []
    for workspace_id in await reviews.workspace_ids(services.db):
        notes: list[Notification] = []

        async def compose(digest: Digest, notes: list[Notification] = notes) -> list[Outgoing]:
            notes += digest_notifications(digest)
            return outgoing(services, digest.workspace.platform, notes)

        digest = await reviews.run_digest(
            services.db,
            workspace_id,
            now,
            every=services.config.digest_every,
            grace=services.config.review_grace,
            notify=compose,
        )
        if digest is not None and not digest.empty:
            log.info("digest: workspace %s posted to %s", workspace_id, digest.channel)
            posted.append((digest, notes))
    return posted


async def ownership_loop(
    services: Services, every: float = 300.0, sent: Callable[[], None] | None = None
) -> None:
    """The review, the digest and the user groups' sync, until cancelled; `sent` is told of a
    pass that queued any."""
    while True:
        try:
            queued = bool(await review_pass(services)) | bool(await digest_pass(services))
            queued |= bool(await group_pass(services))  # covers that lapsed: groups follow
            if queued and sent is not None:
                sent()
        except StoreUnavailable:
            log.warning("review/digest: store unavailable, retrying in %.0f s", every)
        except Exception:
            log.exception("review/digest: pass failed")
        await asyncio.sleep(every)
