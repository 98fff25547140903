"""Escalations (blockers): raising, status changes, listing, and claiming due reminders exactly once.

Numbers (#1, #2, …) count per workspace, and every lookup is by (workspace, number): an id seen in
one Slack team or Teams tenant means nothing in another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from store.audit import ChangeOrigin, write_audit
from store.db import Database
from store.models import Escalation, EscalationStatus, Person, Project, Role, Workspace
from store.outbox import Notify, NotifyAsync, enqueue
from store.people import person_record
from store.records import EscalationRecord

ACTIVE = (EscalationStatus.OPEN, EscalationStatus.ACKNOWLEDGED)


def _query() -> Any:  # a 7-column Select; its generic form differs between SQLAlchemy 2.0 and 2.1
    raised, acked, resolved = aliased(Person), aliased(Person), aliased(Person)
    target, current = aliased(Role), aliased(Role)
    return (
        select(Escalation, Project, raised, target, current, acked, resolved, Workspace.external_id)
        .join(Project, Project.id == Escalation.project_id)
        .join(Workspace, Workspace.id == Escalation.workspace_id)
        .join(raised, raised.id == Escalation.raised_by_id)
        .join(target, target.id == Escalation.target_role_id)
        .join(current, current.id == Escalation.current_role_id)
        .outerjoin(acked, acked.id == Escalation.acknowledged_by_id)
        .outerjoin(resolved, resolved.id == Escalation.resolved_by_id)
    )


def _record(row: Any) -> EscalationRecord:
    e, project, raised, target, current, acked, resolved, workspace = row
    return EscalationRecord(
        id=e.id,
        number=e.number,
        workspace=workspace,
        project_id=project.id,
        project=project.name,
        text=e.text,
        raised_by=person_record(raised),
        platform=e.platform,
        channel=e.channel,
        thread=e.thread,
        target_role_id=target.id,
        target_role=target.name,
        current_role_id=current.id,
        current_role=current.name,
        status=e.status,
        created_at=e.created_at,
        remind_at=e.remind_at,
        reminders_sent=e.reminders_sent,
        acknowledged_by=person_record(acked) if acked else None,
        resolved_by=person_record(resolved) if resolved else None,
        resolution=e.resolution,
    )


async def _load(session: AsyncSession, escalation_id: int) -> EscalationRecord:
    row = (await session.execute(_query().where(Escalation.id == escalation_id))).one()
    return _record(tuple(row))


@dataclass(frozen=True)
class NewEscalation:
    text: str
    raised_by_id: int
    target_role_id: int
    current_role_id: int
    thread: str | None
    remind_at: datetime


async def raise_escalation(
    db: Database,
    origin: ChangeOrigin,
    new: NewEscalation,
    when: datetime,
    notify: Notify[EscalationRecord] = None,
) -> EscalationRecord:
    async with db.transaction() as session:
        # The counter row is the lock: numbers are unique and gapless per workspace on both backends.
        number = (
            await session.execute(
                update(Workspace)
                .where(Workspace.id == origin.workspace_id)
                .values(last_escalation_number=Workspace.last_escalation_number + 1)
                .returning(Workspace.last_escalation_number)
            )
        ).scalar_one()
        escalation = Escalation(
            workspace_id=origin.workspace_id,
            number=number,
            project_id=origin.project_id,
            text=new.text,
            raised_by_id=new.raised_by_id,
            platform=origin.platform,
            channel=origin.channel,
            thread=new.thread,
            target_role_id=new.target_role_id,
            current_role_id=new.current_role_id,
            status=EscalationStatus.OPEN,
            created_at=when,
            remind_at=new.remind_at,
            reminders_sent=0,
        )
        session.add(escalation)
        await session.flush()
        await write_audit(
            session,
            origin,
            action="escalate",
            role_id=new.target_role_id,
            summary=f"raised blocker #{number}: {new.text}",
            details={"escalation": number},
            when=when,
        )
        return await _notified(session, origin, escalation.id, notify, when)


async def _notified(
    session: AsyncSession,
    origin: ChangeOrigin,
    escalation_id: int,
    notify: Notify[EscalationRecord],
    when: datetime,
) -> EscalationRecord:
    record = await _load(session, escalation_id)
    if notify is not None:
        await enqueue(session, origin, notify(record), when)
    return record


async def find_escalation(db: Database, workspace_id: int, number: int) -> EscalationRecord | None:
    async with db.reading() as session:
        row = (
            await session.execute(
                _query().where(Escalation.workspace_id == workspace_id, Escalation.number == number)
            )
        ).one_or_none()
        return _record(tuple(row)) if row else None


async def set_status(
    db: Database,
    origin: ChangeOrigin,
    escalation_id: int,
    status: EscalationStatus,
    *,
    actor_id: int,
    when: datetime,
    note: str | None = None,
    remind_at: datetime | None = None,
    notify: Notify[EscalationRecord] = None,
) -> EscalationRecord:
    async with db.transaction() as session:
        escalation = (
            await session.scalars(
                select(Escalation).where(Escalation.id == escalation_id).with_for_update()
            )
        ).one()
        escalation.status = status
        if status == EscalationStatus.ACKNOWLEDGED:
            escalation.acknowledged_at, escalation.acknowledged_by_id = when, actor_id
            escalation.remind_at = None
        elif status == EscalationStatus.RESOLVED:
            escalation.resolved_at, escalation.resolved_by_id = when, actor_id
            escalation.resolution = note
            escalation.remind_at = None
        else:  # reopened: back to waiting for an acknowledgement
            escalation.resolved_at = escalation.resolved_by_id = escalation.resolution = None
            escalation.acknowledged_at = escalation.acknowledged_by_id = None
            escalation.remind_at = remind_at
        await write_audit(
            session,
            origin,
            action=f"escalation_{status.value}" if status != EscalationStatus.OPEN else "reopen",
            role_id=escalation.target_role_id,
            summary=f"{'reopened' if status == EscalationStatus.OPEN else status.value} "
            f"#{escalation.number}" + (f": {note}" if note else ""),
            details={"escalation": escalation.number},
            when=when,
        )
        return await _notified(session, origin, escalation.id, notify, when)


async def active_escalations_in(session: AsyncSession, workspace_id: int) -> list[EscalationRecord]:
    """Open and acknowledged escalations, oldest first, read in the caller's transaction."""
    rows = await session.execute(
        _query()
        .where(Escalation.workspace_id == workspace_id, Escalation.status.in_(ACTIVE))
        .order_by(Escalation.number)
    )
    return [_record(tuple(row)) for row in rows]


async def list_escalations(
    db: Database,
    workspace_id: int,
    *,
    project_id: int | None = None,
    raised_by_id: int | None = None,
    role_ids: Sequence[int] = (),
    statuses: Sequence[EscalationStatus] = ACTIVE,
) -> list[EscalationRecord]:
    query = _query().where(Escalation.workspace_id == workspace_id, Escalation.status.in_(statuses))
    if project_id is not None:
        query = query.where(Escalation.project_id == project_id)
    mine = []
    if raised_by_id is not None:
        mine.append(Escalation.raised_by_id == raised_by_id)
    if role_ids:
        mine.append(Escalation.current_role_id.in_(list(role_ids)))
        mine.append(Escalation.target_role_id.in_(list(role_ids)))
    if mine:
        query = query.where(or_(*mine))
    async with db.reading() as session:
        rows = await session.execute(query.order_by(Escalation.number))
        return [_record(tuple(row)) for row in rows]


async def claim_due_reminders(
    db: Database,
    workspace_id: int,
    now: datetime,
    *,
    next_role: dict[int, int],
    interval: timedelta,
    limit: int = 50,
    notify: NotifyAsync[EscalationRecord] | None = None,
) -> list[EscalationRecord]:
    """Claim open escalations whose reminder is due, move each one step up its chain, and push the
    next reminder out — atomically, so that of several replicas exactly one claims each reminder.

    PostgreSQL: the due rows are locked with FOR UPDATE SKIP LOCKED, so a second worker skips rows the
    first holds instead of waiting for them and then sending them again. SQLite: BEGIN IMMEDIATE
    already serialises writers. `next_role` maps a role id to the role one step up. What `notify`
    composes for each claimed reminder is written to the outbox in the same transaction.
    """
    async with db.transaction() as session:
        due = (
            await session.scalars(
                select(Escalation)
                .where(
                    Escalation.workspace_id == workspace_id,
                    Escalation.status == EscalationStatus.OPEN,
                    Escalation.remind_at.is_not(None),
                    Escalation.remind_at <= now,
                )
                .order_by(Escalation.remind_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for escalation in due:
            escalation.current_role_id = next_role.get(
                escalation.current_role_id, escalation.current_role_id
            )
            escalation.reminders_sent += 1
            escalation.remind_at = now + interval
        await session.flush()
        claimed = [await _load(session, e.id) for e in due]
        if notify is None:
            return claimed
        for record in claimed:
            origin = ChangeOrigin(
                workspace_id=workspace_id,
                project_id=record.project_id,
                actor_id=None,
                platform=record.platform,
                channel=record.channel,
            )
            await enqueue(session, origin, await notify(record), now)
        return claimed


async def workspaces_with_due_reminders(db: Database, now: datetime) -> list[int]:
    async with db.reading() as session:
        rows = await session.scalars(
            select(Escalation.workspace_id)
            .where(
                Escalation.status == EscalationStatus.OPEN,
                Escalation.remind_at.is_not(None),
                Escalation.remind_at <= now,
            )
            .distinct()
        )
        return list(rows)


async def count_open(db: Database) -> int:
    """Escalations not yet resolved, across workspaces (the metrics gauge)."""
    async with db.reading() as session:
        count = await session.scalar(
            select(func.count()).select_from(Escalation).where(Escalation.status.in_(ACTIVE))
        )
        return int(count or 0)
