"""The audit log: every change, who made it, when, from which platform and channel, and why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import Database
from store.models import AuditEntry, Person, Project
from store.people import person_record
from store.records import AuditRecord


@dataclass(frozen=True)
class ChangeOrigin:
    """Who made a change, from where, and why: what every audit entry records."""

    workspace_id: int
    # None for a change to the workspace's catalogue, which no one project owns.
    project_id: int | None
    actor_id: int | None
    platform: str
    channel: str | None = None
    reason: str | None = None


async def write_audit(
    session: AsyncSession,
    origin: ChangeOrigin,
    *,
    action: str,
    summary: str,
    role_id: int | None = None,
    subject_id: int | None = None,
    details: dict[str, Any] | None = None,
    when: datetime | None = None,
) -> int:
    entry = AuditEntry(
        workspace_id=origin.workspace_id,
        project_id=origin.project_id,
        actor_id=origin.actor_id,
        action=action,
        role_id=role_id,
        subject_id=subject_id,
        summary=summary,
        reason=origin.reason,
        platform=origin.platform,
        channel=origin.channel,
        details=details or {},
        created_at=when or datetime.now(UTC),
    )
    session.add(entry)
    await session.flush()
    return entry.id


HOLDER_ACTIONS = ("assign", "add", "remove", "handover", "cover")


def _audit_query(
    workspace_id: int,
    *,
    since: datetime | None,
    until: datetime | None,
    project_id: int | None,
    role_id: int | None,
    actions: Sequence[str] | None,
    limit: int,
) -> Any:  # a 3-column Select
    query = (
        select(AuditEntry, Person, Project)
        .outerjoin(Person, Person.id == AuditEntry.actor_id)
        .outerjoin(Project, Project.id == AuditEntry.project_id)
        .where(AuditEntry.workspace_id == workspace_id)
    )
    if since is not None:
        query = query.where(AuditEntry.created_at >= since)
    if until is not None:
        query = query.where(AuditEntry.created_at < until)
    if project_id is not None:
        query = query.where(AuditEntry.project_id == project_id)
    if role_id is not None:
        query = query.where(AuditEntry.role_id == role_id)
    if actions is not None:
        query = query.where(AuditEntry.action.in_(list(actions)))
    return query.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc()).limit(limit)


async def audit_entries_in(
    session: AsyncSession,
    workspace_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    project_id: int | None = None,
    role_id: int | None = None,
    actions: Sequence[str] | None = None,
    limit: int = 50,
) -> list[AuditRecord]:
    """Newest first, read in the caller's transaction."""
    query = _audit_query(
        workspace_id,
        since=since,
        until=until,
        project_id=project_id,
        role_id=role_id,
        actions=actions,
        limit=limit,
    )
    return [
        AuditRecord(
            id=entry.id,
            action=entry.action,
            summary=entry.summary,
            actor=person_record(actor) if actor else None,
            reason=entry.reason,
            platform=entry.platform,
            channel=entry.channel,
            created_at=entry.created_at,
            project=project.name if project else None,
        )
        for entry, actor, project in await session.execute(query)
    ]


async def audit_entries(
    db: Database,
    workspace_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    project_id: int | None = None,
    role_id: int | None = None,
    limit: int = 50,
) -> list[AuditRecord]:
    """Newest first."""
    async with db.reading() as session:
        return await audit_entries_in(
            session,
            workspace_id,
            since=since,
            until=until,
            project_id=project_id,
            role_id=role_id,
            limit=limit,
        )
