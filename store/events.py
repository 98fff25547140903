"""Platform event ids already handled: a retried delivery (Slack's X-Slack-Retry-Num, a Bot Framework
redelivery) must never produce a second reply, escalation or change, on any replica, after restarts."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.expression import Executable

from store.db import Database
from store.models import ProcessedEvent

KEEP_FOR = timedelta(days=3)  # Slack retries for minutes and Bot Framework for less; days is plenty


@functools.cache
def _claim(dialect: str) -> Executable:
    """Built once per dialect: building it per delivery cost more than running it."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        insert(ProcessedEvent)
        .values(
            platform=bindparam("platform"),
            event_id=bindparam("event_id"),
            received_at=bindparam("received_at"),
        )
        .on_conflict_do_nothing(index_elements=["platform", "event_id"])
    )


async def claim_event(db: Database, platform: str, event_id: str) -> bool:
    """True for the first delivery of `event_id`; False for every later one, whoever got the first."""
    parameters = {
        "platform": platform,
        "event_id": event_id[:200],
        "received_at": datetime.now(UTC),
    }
    return await db.write_once(_claim(db.dialect), parameters) > 0


async def forget_old_events(db: Database, now: datetime | None = None) -> int:
    cutoff = (now or datetime.now(UTC)) - KEEP_FOR
    async with db.transaction() as session:
        result = await session.execute(
            delete(ProcessedEvent).where(ProcessedEvent.received_at < cutoff)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
