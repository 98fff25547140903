"""Reminders for unacknowledged escalations: re-sent, one step further up the escalation chain.

`send_due_reminders` is one pass; the server runs it periodically (`reminder_loop`). It is safe with
several replicas on one database: `store.escalations.claim_due_reminders` hands each due reminder to
exactly one caller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from handlers.escalation_common import chain_after, first_held, notice
from handlers.message import Notification
from handlers.turn import Services
from store import escalations
from store.db import StoreUnavailable
from store.records import Catalog, EscalationRecord

log = logging.getLogger(__name__)

Deliver = Callable[[EscalationRecord, list[Notification]], Awaitable[None]]


def next_roles(catalog: Catalog) -> dict[int, int]:
    """Each role's next step up: along the chain, from outside it onto its first role."""
    steps: dict[int, int] = {}
    for role in catalog.roles:
        above = chain_after(catalog, role)
        if above:
            steps[role.id] = above[0].id
    return steps


async def send_due_reminders(
    services: Services, deliver: Deliver | None = None
) -> list[tuple[EscalationRecord, list[Notification]]]:
    now = services.now()
    sent: list[tuple[EscalationRecord, list[Notification]]] = []
    for workspace_id in await escalations.workspaces_with_due_reminders(services.db, now):
        catalog = (await services.matchers.index(workspace_id)).catalog
        claimed = await escalations.claim_due_reminders(
            services.db,
            workspace_id,
            now,
            next_role=next_roles(catalog),
            interval=services.config.remind_after,
        )
        for escalation in claimed:
            role = catalog.role(escalation.current_role_id)
            if role is None:
                continue
            _, holders, _ = await first_held(services.db, escalation.project_id, catalog, role, now)
            notifications = notice(escalation, holders, reminder=True)
            log.info("reminder for #%s to %d people", escalation.number, len(notifications))
            if deliver is not None:
                await deliver(escalation, notifications)
            sent.append((escalation, notifications))
    return sent


async def reminder_loop(services: Services, deliver: Deliver, every: float = 30.0) -> None:
    """Run until cancelled; a store outage is logged and retried on the next tick."""
    while True:
        try:
            await send_due_reminders(services, deliver)
        except StoreUnavailable:
            log.warning("reminders: store unavailable, retrying in %.0f s", every)
        except Exception:
            log.exception("reminders: pass failed")
        await asyncio.sleep(every)
