"""The outbox: notifications written with their change, then claimed and delivered by a worker.

`enqueue` runs inside the transaction of the change (the store's mutation functions call it with
what their caller's `notify` composed from the result), so a notification exists exactly when its
change was committed. `claim_due` hands each due row to one worker at a time: on PostgreSQL with
FOR UPDATE SKIP LOCKED, so replicas never wait for or take each other's rows; on SQLite the write
lock already serialises claims. A claim is a lease: the row's `due_at` moves past the lease, so a
row whose replica died between claim and send is claimed again once the lease runs out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.audit import ChangeOrigin
from store.db import Database
from store.models import OutboxMessage, OutboxStatus, Workspace

R = TypeVar("R")

ERROR_LIMIT = 1000


@dataclass(frozen=True)
class Outgoing:
    """A notification to write to the outbox: to whom, what (as the handlers serialise it), and
    the conversation where the matter came up, for a platform that may have to mention them there."""

    recipient: str
    recipient_name: str
    payload: dict[str, Any]
    fallback_channel: str | None = None


# What a mutation's caller gives it: the notifications its result causes, composed in the
# transaction (pure: no I/O of its own), or nothing.
Notify = Callable[[R], Sequence[Outgoing]] | None
NotifyAsync = Callable[[R], Awaitable[Sequence[Outgoing]]]


@dataclass(frozen=True)
class OutboxRecord:
    id: int
    workspace_id: int
    workspace: str  # the platform's id of the workspace
    platform: str
    recipient: str
    recipient_name: str
    fallback_channel: str | None
    payload: dict[str, Any]
    status: OutboxStatus
    attempts: int
    created_at: datetime
    due_at: datetime
    sent_at: datetime | None
    delivered_ref: str | None
    last_error: str | None


async def enqueue(
    session: AsyncSession, origin: ChangeOrigin, items: Sequence[Outgoing], when: datetime
) -> list[int]:
    """Write `items` in the caller's transaction; their ids (a Slack message carries its own)."""
    rows = [
        OutboxMessage(
            workspace_id=origin.workspace_id,
            platform=origin.platform,
            recipient=item.recipient[:200],
            recipient_name=item.recipient_name[:200],
            fallback_channel=item.fallback_channel,
            payload=item.payload,
            status=OutboxStatus.PENDING,
            attempts=0,
            created_at=when,
            due_at=when,
        )
        for item in items
    ]
    session.add_all(rows)
    await session.flush()
    return [row.id for row in rows]


def _query() -> Any:
    return select(OutboxMessage, Workspace.external_id).join(
        Workspace, Workspace.id == OutboxMessage.workspace_id
    )


def _record(row: OutboxMessage, workspace: str) -> OutboxRecord:
    return OutboxRecord(
        id=row.id,
        workspace_id=row.workspace_id,
        workspace=workspace,
        platform=row.platform,
        recipient=row.recipient,
        recipient_name=row.recipient_name,
        fallback_channel=row.fallback_channel,
        payload=dict(row.payload),
        status=row.status,
        attempts=row.attempts,
        created_at=row.created_at,
        due_at=row.due_at,
        sent_at=row.sent_at,
        delivered_ref=row.delivered_ref,
        last_error=row.last_error,
    )


async def claim_due(
    db: Database,
    now: datetime,
    *,
    platforms: Sequence[str],
    lease: timedelta,
    limit: int = 20,
) -> list[OutboxRecord]:
    """Claim up to `limit` pending rows due by `now` for these platforms, oldest first."""
    async with db.transaction() as session:
        rows = (
            await session.execute(
                _query()
                .where(
                    OutboxMessage.status == OutboxStatus.PENDING,
                    OutboxMessage.due_at <= now,
                    OutboxMessage.platform.in_(list(platforms)),
                )
                .order_by(OutboxMessage.due_at, OutboxMessage.id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=OutboxMessage)
            )
        ).all()
        for message, _ in rows:
            message.attempts += 1
            message.due_at = now + lease
        await session.flush()
        return [_record(message, workspace) for message, workspace in rows]


async def mark_sent(db: Database, message_id: int, ref: str | None, when: datetime) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(status=OutboxStatus.SENT, sent_at=when, delivered_ref=ref, last_error=None)
        )


async def retry_later(db: Database, message_id: int, error: str, due_at: datetime) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(due_at=due_at, last_error=error[:ERROR_LIMIT])
        )


async def give_up(
    db: Database,
    message_id: int,
    error: str,
    *,
    report: Outgoing | None = None,
    when: datetime | None = None,
) -> None:
    """Marks the row failed; with `report`, writes that notice of it (to whoever should know)
    in the same transaction, so the failure is never silent."""
    async with db.transaction() as session:
        row = await session.get_one(OutboxMessage, message_id)
        row.status, row.last_error = OutboxStatus.FAILED, error[:ERROR_LIMIT]
        if report is not None:
            origin = ChangeOrigin(row.workspace_id, None, None, row.platform)
            await enqueue(session, origin, [report], when or row.due_at)


async def send_again(
    db: Database, message_id: int, now: datetime, *, workspace_id: int | None = None
) -> bool:
    """An admin's retry of a failed row (of their workspace, when given): pending again, due now,
    its attempts counted afresh."""
    query = update(OutboxMessage).where(
        OutboxMessage.id == message_id, OutboxMessage.status == OutboxStatus.FAILED
    )
    if workspace_id is not None:
        query = query.where(OutboxMessage.workspace_id == workspace_id)
    async with db.transaction() as session:
        result = await session.execute(
            query.values(status=OutboxStatus.PENDING, due_at=now, attempts=0)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def list_messages(
    db: Database,
    statuses: Sequence[OutboxStatus] = (OutboxStatus.PENDING, OutboxStatus.FAILED),
    *,
    workspace_id: int | None = None,
    limit: int = 200,
) -> list[OutboxRecord]:
    query = _query().where(OutboxMessage.status.in_(list(statuses)))
    if workspace_id is not None:
        query = query.where(OutboxMessage.workspace_id == workspace_id)
    async with db.reading() as session:
        rows = await session.execute(query.order_by(OutboxMessage.id).limit(limit))
        return [_record(message, workspace) for message, workspace in rows]


async def count_by_status(db: Database) -> dict[OutboxStatus, int]:
    async with db.reading() as session:
        rows = await session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        )
        return {OutboxStatus(status): int(count) for status, count in rows}
