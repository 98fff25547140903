"""Ownership that stays true: the periodic review of who holds what, and the weekly digest.

A hold is due for review once it has gone `review_every_weeks` without its holder saying "still
mine" (counted from its start). The holder is asked once; an ask unanswered for the grace period is
reported once to whoever manages the team. Each pass claims its workspace the way reminders claim
escalations: the workspace row is locked with FOR UPDATE SKIP LOCKED (PostgreSQL; SQLite's write
lock serialises) and its `*_checked_at` moved on, so of several replicas one does the pass, and its
notifications are written to the outbox in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.audit import HOLDER_ACTIONS, ChangeOrigin, audit_entries_in
from store.db import Database
from store.escalations import active_escalations_in
from store.models import Assignment, AssignmentKind, Person, Project, Role, Workspace, active_at
from store.outbox import NotifyAsync, enqueue
from store.people import person_record
from store.records import AuditRecord, EscalationRecord, PersonRecord

# Covers are temporary by nature and end by themselves: only standing holds are reviewed.
REVIEWED = (AssignmentKind.PRIMARY, AssignmentKind.BACKUP)


@dataclass(frozen=True)
class Hold:
    """One person's hold of one role in one project, as the review sees it."""

    assignment_id: int
    project_id: int
    project: str
    role_id: int
    role: str
    person: PersonRecord
    kind: AssignmentKind
    # When it was last confirmed, or started.
    since: datetime
    asked_at: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class WorkspaceOfPass:
    id: int
    platform: str
    external_id: str
    escalation_chain: tuple[str, ...]


@dataclass(frozen=True)
class ReviewRound:
    workspace: WorkspaceOfPass
    # Holds whose holders are asked now; holds asked long ago and still unanswered.
    asked: tuple[Hold, ...]
    overdue: tuple[Hold, ...]


@dataclass(frozen=True)
class Digest:
    workspace: WorkspaceOfPass
    channel: str
    since: datetime
    now: datetime
    open_escalations: tuple[EscalationRecord, ...]
    changes: tuple[AuditRecord, ...]
    lapsed_covers: tuple[Hold, ...]
    unconfirmed: tuple[Hold, ...]

    @property
    def empty(self) -> bool:
        return not (self.open_escalations or self.changes or self.lapsed_covers or self.unconfirmed)


def _baseline() -> ColumnElement[datetime]:
    return func.coalesce(Assignment.confirmed_at, Assignment.started_at)


def _holds_query(workspace_id: int) -> Any:  # a 4-column Select
    return (
        select(Assignment, Person, Role, Project)
        .join(Person, Person.id == Assignment.person_id)
        .join(Role, Role.id == Assignment.role_id)
        .join(Project, Project.id == Assignment.project_id)
        .where(Project.workspace_id == workspace_id, Role.retired_at.is_(None))
        .order_by(Project.name_key, Role.position, Assignment.id)
    )


def _hold(row: Any) -> Hold:
    assignment, person, role, project = row
    return Hold(
        assignment_id=assignment.id,
        project_id=project.id,
        project=project.name,
        role_id=role.id,
        role=role.name,
        person=person_record(person),
        kind=assignment.kind,
        since=assignment.confirmed_at or assignment.started_at,
        asked_at=assignment.review_asked_at,
        until=assignment.until,
    )


def _unconfirmed(now: datetime, grace: timedelta) -> ColumnElement[bool]:
    return (
        active_at(now)
        & Assignment.review_asked_at.is_not(None)
        & (Assignment.review_asked_at <= now - grace)
    )


async def _claim(
    session: AsyncSession, workspace_id: int, column: Any, now: datetime, every: timedelta
) -> Workspace | None:
    """The workspace, locked and its check moved to `now`, if its pass is due and no other
    replica holds it."""
    workspace = await session.scalar(
        select(Workspace)
        .where(Workspace.id == workspace_id, or_(column.is_(None), column <= now - every))
        .with_for_update(skip_locked=True)
    )
    if workspace is not None:
        setattr(workspace, column.key, now)
    return workspace


def _of_pass(workspace: Workspace) -> WorkspaceOfPass:
    return WorkspaceOfPass(
        workspace.id, workspace.platform, workspace.external_id, tuple(workspace.escalation_chain)
    )


async def run_review(
    db: Database,
    workspace_id: int,
    now: datetime,
    *,
    check_every: timedelta,
    grace: timedelta,
    notify: NotifyAsync[ReviewRound],
) -> ReviewRound | None:
    """One review pass of a workspace: ask about the holds due, report the asks left unanswered
    for `grace`. None when another replica has it, or it ran less than `check_every` ago."""
    async with db.transaction() as session:
        workspace = await _claim(
            session, workspace_id, Workspace.review_checked_at, now, check_every
        )
        if workspace is None:
            return None
        asked: list[Hold] = []
        if workspace.review_every_weeks > 0:
            due = _holds_query(workspace_id).where(
                active_at(now),
                Assignment.kind.in_(REVIEWED),
                Assignment.review_asked_at.is_(None),
                _baseline() <= now - timedelta(weeks=workspace.review_every_weeks),
            )
            asked = [_hold(tuple(row)) for row in await session.execute(due)]
        overdue_query = _holds_query(workspace_id).where(
            _unconfirmed(now, grace), Assignment.review_reported_at.is_(None)
        )
        overdue = [_hold(tuple(row)) for row in await session.execute(overdue_query)]
        await _stamp(session, [h.assignment_id for h in asked], review_asked_at=now)
        await _stamp(session, [h.assignment_id for h in overdue], review_reported_at=now)
        review = ReviewRound(_of_pass(workspace), tuple(asked), tuple(overdue))
        origin = ChangeOrigin(workspace_id, None, None, workspace.platform)
        await enqueue(session, origin, await notify(review), now)
        return review


async def _stamp(session: AsyncSession, assignment_ids: Sequence[int], **values: Any) -> None:
    if assignment_ids:
        await session.execute(
            update(Assignment).where(Assignment.id.in_(list(assignment_ids))).values(**values)
        )


async def confirm_holds(
    db: Database,
    workspace_id: int,
    person_id: int,
    now: datetime,
    role_ids: Sequence[int] | None = None,
) -> list[Hold]:
    """A holder's "still mine": their current holds (of these roles) confirmed as of `now`."""
    async with db.transaction() as session:
        query = _holds_query(workspace_id).where(
            active_at(now), Assignment.person_id == person_id, Assignment.kind.in_(REVIEWED)
        )
        if role_ids is not None:
            query = query.where(Assignment.role_id.in_(list(role_ids)))
        holds = [_hold(tuple(row)) for row in await session.execute(query)]
        await _stamp(
            session,
            [h.assignment_id for h in holds],
            confirmed_at=now,
            review_asked_at=None,
            review_reported_at=None,
        )
        return holds


async def stale_holds(
    db: Database, workspace_id: int, now: datetime, grace: timedelta, project_id: int | None = None
) -> list[Hold]:
    """Holds whose holder was asked more than `grace` ago and has not answered."""
    query = _holds_query(workspace_id).where(_unconfirmed(now, grace))
    if project_id is not None:
        query = query.where(Assignment.project_id == project_id)
    async with db.reading() as session:
        return [_hold(tuple(row)) for row in await session.execute(query)]


async def set_review_every(db: Database, workspace_id: int, weeks: int) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(Workspace).where(Workspace.id == workspace_id).values(review_every_weeks=weeks)
        )


async def set_digest_channel(db: Database, workspace_id: int, channel: str | None) -> None:
    """Where the weekly digest goes (None: no digest). The first one goes out at the next pass."""
    async with db.transaction() as session:
        await session.execute(
            update(Workspace)
            .where(Workspace.id == workspace_id)
            .values(digest_channel=channel, digest_checked_at=None)
        )


async def review_settings(db: Database, workspace_id: int) -> tuple[int, str | None]:
    """(weeks between reviews, the digest's channel)."""
    async with db.reading() as session:
        row = (
            await session.execute(
                select(Workspace.review_every_weeks, Workspace.digest_channel).where(
                    Workspace.id == workspace_id
                )
            )
        ).one()
        return int(row[0]), row[1]


async def run_digest(
    db: Database,
    workspace_id: int,
    now: datetime,
    *,
    every: timedelta,
    grace: timedelta,
    notify: NotifyAsync[Digest],
) -> Digest | None:
    """The digest of the `every` just past, for a workspace that has a digest channel; None when
    it has none, another replica has it, or the last one is more recent than `every`. What
    `notify` composes (nothing for an empty digest) is written in the same transaction."""
    async with db.transaction() as session:
        workspace = await session.scalar(
            select(Workspace).where(
                Workspace.id == workspace_id, Workspace.digest_channel.is_not(None)
            )
        )
        if workspace is None:
            return None
        since = workspace.digest_checked_at
        workspace = await _claim(session, workspace_id, Workspace.digest_checked_at, now, every)
        if workspace is None or workspace.digest_channel is None:
            return None
        since = since or now - every
        lapsed = _holds_query(workspace_id).where(
            Assignment.kind == AssignmentKind.COVER,
            Assignment.until.is_not(None),
            Assignment.until > since,
            Assignment.until <= now,
        )
        unconfirmed = _holds_query(workspace_id).where(_unconfirmed(now, grace))
        digest = Digest(
            workspace=_of_pass(workspace),
            channel=workspace.digest_channel,
            since=since,
            now=now,
            open_escalations=tuple(await active_escalations_in(session, workspace_id)),
            changes=tuple(
                await audit_entries_in(
                    session, workspace_id, since=since, until=now, actions=HOLDER_ACTIONS
                )
            ),
            lapsed_covers=tuple(_hold(tuple(row)) for row in await session.execute(lapsed)),
            unconfirmed=tuple(_hold(tuple(row)) for row in await session.execute(unconfirmed)),
        )
        origin = ChangeOrigin(workspace_id, None, None, workspace.platform)
        await enqueue(session, origin, await notify(digest), now)
        return digest


async def workspace_ids(db: Database) -> list[int]:
    async with db.reading() as session:
        return list(await session.scalars(select(Workspace.id).order_by(Workspace.id)))
