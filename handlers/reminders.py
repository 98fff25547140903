"""Reminders for unacknowledged escalations: re-sent, one step further up the escalation chain.

`send_due_reminders` is one pass; the server runs it periodically (`reminder_loop`). It is safe with
several replicas on one database: `store.escalations.claim_due_reminders` hands each due reminder to
exactly one caller, and writes its notifications to the outbox in the same transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from handlers.escalation_common import chain_after, first_held, notice
from handlers.message import Notification
from handlers.turn import Services, outgoing
from store import escalations
from store.db import StoreUnavailable
from store.outbox import Outgoing
from store.records import Catalog, EscalationRecord

log = logging.getLogger(__name__)


def next_roles(catalog: Catalog) -> dict[int, int]:
    """Each role's next step up: along the chain, from outside it onto its first role."""
    steps: dict[int, int] = {}
    for role in catalog.roles:
        above = chain_after(catalog, role)
        if above:
            steps[role.id] = above[0].id
    return steps


async def send_due_reminders(
    services: Services,
) -> list[tuple[EscalationRecord, list[Notification]]]:
    """One pass: each due reminder is claimed, moved up the chain, and its notifications written
    to the outbox in that same transaction, for the delivery worker to send."""
    now = services.now()
    sent: list[tuple[EscalationRecord, list[Notification]]] = []
    for workspace_id in await escalations.workspaces_with_due_reminders(services.db, now):
        catalog = (await services.matchers.index(workspace_id)).catalog

        async def compose(
            escalation: EscalationRecord, catalog: Catalog = catalog
        ) -> list[Outgoing]:
            role = catalog.role(escalation.current_role_id)
            if role is None:
                return []
            _, holders, _ = await first_held(services.db, escalation.project_id, catalog, role, now)
            notifications = notice(escalation, holders, reminder=True)
            log.info("reminder for #%s to %d people", escalation.number, len(notifications))
            sent.append((escalation, notifications))
            return outgoing(services, escalation.platform, notifications)

        await escalations.claim_due_reminders(
            services.db,
            workspace_id,
            now,
            next_role=next_roles(catalog),
            interval=services.config.remind_after,
            notify=compose,
        )
    return sent


async def reminder_loop(
    services: Services, every: float = 30.0, sent: Callable[[], None] | None = None
) -> None:
    """Run until cancelled; a store outage is logged and retried on the next tick. `sent` is
    told of a pass that queued reminders (the delivery worker, so that it need not wait)."""
    while True:
        try:
            if await send_due_reminders(services) and sent is not None:
                sent()
        except StoreUnavailable:
            log.warning("reminders: store unavailable, retrying in %.0f s", every)
        except Exception:
            log.exception("reminders: pass failed")
        await asyncio.sleep(every)
