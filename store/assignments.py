"""Who holds which role: current holders, a person's roles, and every change with its audit entry.

An assignment is active while `ended_at IS NULL` and, for a cover, until its `until` has passed.
Changes lock the role first (row lock on PostgreSQL, the database write lock on SQLite), so two people
changing the same role at once are serialised and each change is audited in its own transaction.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ARRAY, Integer, any_, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from store import groups as groups_store
from store.audit import ChangeOrigin, write_audit
from store.db import Database
from store.models import (
    Assignment,
    AssignmentKind,
    Person,
    Project,
    Role,
    UTCDateTime,
    active_at,
)
from store.outbox import Notify, enqueue
from store.people import person_record, upsert_person
from store.records import AssignmentRecord, Holder, Holding, PersonRecord


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


@functools.cache
def _holders_statement(
    by_role: bool, dialect: str
) -> Any:  # a 10-column Select (its generic form varies by SQLAlchemy version)
    """Built once: a question's hot path should not pay for assembling SQL expressions."""
    covered = aliased(Person)
    when = bindparam("when", type_=UTCDateTime())
    query = (
        select(
            Assignment.role_id,
            Assignment.kind,
            Assignment.started_at,
            Assignment.until,
            Person.id,
            Person.platform_user_id,
            Person.display_name,
            covered.id,
            covered.platform_user_id,
            covered.display_name,
        )
        .join(Person, Person.id == Assignment.person_id)
        .outerjoin(covered, covered.id == Assignment.covers_for_id)
        .where(Assignment.project_id == bindparam("project_id"), active_at(when))
        .order_by(Assignment.role_id, Assignment.started_at, Assignment.id)
    )
    if not by_role:
        return query
    if dialect == "postgresql":
        # One array parameter: the SQL stays the same whatever the number of roles asked about.
        return query.where(Assignment.role_id == any_(bindparam("role_ids", type_=ARRAY(Integer))))
    return query.where(Assignment.role_id.in_(bindparam("role_ids", expanding=True)))


_HOLDER_ORDER = {AssignmentKind.COVER: 0, AssignmentKind.PRIMARY: 1, AssignmentKind.BACKUP: 2}


async def holders(
    db: Database,
    project_id: int,
    role_ids: Iterable[int] | None = None,
    *,
    at: datetime | None = None,
) -> dict[int, list[Holder]]:
    """Holders per role id: cover first, then primaries, then backups. `at` asks about the past."""
    params: dict[str, Any] = {"project_id": project_id, "when": _now(at)}
    if role_ids is not None:
        params["role_ids"] = list(role_ids)
    out: dict[int, list[Holder]] = defaultdict(list)
    rows = await db.fetch(_holders_statement(role_ids is not None, db.dialect), params)
    for role_id, kind, since, until, pid, uid, name, cid, cuid, cname in rows:
        out[role_id].append(
            Holder(
                person=PersonRecord(pid, uid, name),
                kind=AssignmentKind(kind),
                since=since,
                until=until,
                covers_for=PersonRecord(cid, cuid, cname) if cid is not None else None,
            )
        )
    return {role: sorted(hs, key=lambda h: _HOLDER_ORDER[h.kind]) for role, hs in out.items()}


async def holdings(
    db: Database, project_id: int, person_id: int, *, at: datetime | None = None
) -> list[Holding]:
    when = _now(at)
    async with db.reading() as session:
        rows = await session.execute(
            select(Assignment, Role)
            .join(Role, Role.id == Assignment.role_id)
            .where(
                Assignment.project_id == project_id,
                Assignment.person_id == person_id,
                active_at(when),
            )
            .order_by(Role.position)
        )
        return [Holding(role.id, role.name, a.kind, a.until) for a, role in rows]


def _assignment_record(assignment: Assignment, person: Person, role: Role) -> AssignmentRecord:
    return AssignmentRecord(
        id=assignment.id,
        role_id=role.id,
        role=role.name,
        person=person_record(person),
        kind=assignment.kind,
        started_at=assignment.started_at,
        until=assignment.until,
        ended_at=assignment.ended_at,
    )


async def role_history(db: Database, project_id: int, role_id: int) -> list[AssignmentRecord]:
    async with db.reading() as session:
        rows = await session.execute(
            select(Assignment, Person, Role)
            .join(Person, Person.id == Assignment.person_id)
            .join(Role, Role.id == Assignment.role_id)
            .where(Assignment.project_id == project_id, Assignment.role_id == role_id)
            .order_by(Assignment.started_at, Assignment.id)
        )
        return [_assignment_record(a, p, role) for a, p, role in rows]


@dataclass
class ChangeResult:
    started: list[tuple[PersonRecord, AssignmentKind]] = field(default_factory=list)
    ended: list[tuple[PersonRecord, AssignmentKind]] = field(default_factory=list)
    audit_id: int | None = None

    @property
    def changed(self) -> bool:
        return bool(self.started or self.ended)


async def _lock_role(session: AsyncSession, role_id: int) -> Role:
    # FOR UPDATE is a no-op on SQLite, where BEGIN IMMEDIATE already holds the database write lock.
    return (await session.scalars(select(Role).where(Role.id == role_id).with_for_update())).one()


async def _close_lapsed(
    session: AsyncSession, project_id: int, role_id: int, now: datetime
) -> None:
    # A lapsed cover is already inactive; closing it lets the same person be assigned again.
    await session.execute(
        update(Assignment)
        .where(
            Assignment.project_id == project_id,
            Assignment.role_id == role_id,
            Assignment.ended_at.is_(None),
            Assignment.until.is_not(None),
            Assignment.until <= now,
        )
        .values(ended_at=Assignment.until)
    )


async def _active(
    session: AsyncSession, project_id: int, role_id: int
) -> list[tuple[Assignment, Person]]:
    rows = await session.execute(
        select(Assignment, Person)
        .join(Person, Person.id == Assignment.person_id)
        .where(
            Assignment.project_id == project_id,
            Assignment.role_id == role_id,
            Assignment.ended_at.is_(None),
        )
        .order_by(Assignment.id)
    )
    return list(rows)


class RoleRetired(LookupError):
    """The role was retired from the catalogue (maybe by another replica a moment ago)."""

    def __init__(self, role: str) -> None:
        super().__init__(f"{role} was retired from the catalogue")
        self.role = role


@dataclass(frozen=True)
class PersonRef:
    """Someone named in a change: found by platform user id, created on first sight."""

    user_id: str
    name: str | None = None


@dataclass(frozen=True)
class RoleChange:
    """One change to a role's holders. `replace` ends the other holders of the same kind first."""

    action: str
    role_id: int
    start: tuple[tuple[PersonRef, AssignmentKind], ...] = ()
    end_people: tuple[PersonRef, ...] = ()
    replace_kind: AssignmentKind | None = None
    until: datetime | None = None
    covers_for: PersonRef | None = None
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)


async def apply_change(
    db: Database,
    origin: ChangeOrigin,
    change: RoleChange,
    *,
    now: datetime | None = None,
    notify: Notify[ChangeResult] = None,
    groups: groups_store.Compose | None = None,
) -> ChangeResult:
    """Apply one change, and write its audit entry and the notifications `notify` composes from
    its result, in the same transaction; all or nothing. With `groups`, a user group linked to
    the role is brought up to date too (`store.groups`)."""
    when = _now(now)
    async with db.transaction() as session:
        result = await apply_change_in(session, origin, change, when)
        if notify is not None and result.changed:
            await enqueue(session, origin, notify(result), when)
        if groups is not None and result.changed:
            await groups_store.queue_syncs(
                session,
                origin,
                when,
                groups,
                project_id=origin.project_id,
                role_ids=[change.role_id],
            )
        return result


async def apply_change_in(
    session: AsyncSession, origin: ChangeOrigin, change: RoleChange, when: datetime
) -> ChangeResult:
    if origin.project_id is None:
        raise ValueError("a change to who holds a role belongs to a project")
    role = await _lock_role(session, change.role_id)
    if role.retired_at is not None:
        raise RoleRetired(role.name)
    project = await session.get_one(Project, origin.project_id)
    if role.workspace_id != origin.workspace_id or project.workspace_id != origin.workspace_id:
        raise PermissionError("role or project belongs to another workspace")
    await _close_lapsed(session, origin.project_id, role.id, when)
    active = await _active(session, origin.project_id, role.id)
    result = ChangeResult()

    async def person_of(ref: PersonRef) -> Person:
        return await upsert_person(session, origin.workspace_id, ref.user_id, ref.name)

    starting = [(await person_of(ref), kind) for ref, kind in change.start]
    ending_ids = {(await person_of(ref)).id for ref in change.end_people}
    starting_ids = {p.id: kind for p, kind in starting}
    for assignment, person in active:
        replaced = change.replace_kind is not None and assignment.kind == change.replace_kind
        target_kind = starting_ids.get(person.id)
        if target_kind == assignment.kind and (target_kind != AssignmentKind.COVER):
            starting_ids.pop(person.id)  # already holds it this way: nothing to do
            continue
        if person.id in ending_ids or person.id in starting_ids or replaced:
            assignment.ended_at = when
            result.ended.append((person_record(person), assignment.kind))
    covers_for = await person_of(change.covers_for) if change.covers_for else None
    for person, kind in starting:
        if person.id not in starting_ids:
            continue
        session.add(
            Assignment(
                project_id=origin.project_id,
                role_id=role.id,
                person_id=person.id,
                kind=kind,
                started_at=when,
                until=change.until if kind == AssignmentKind.COVER else None,
                covers_for_id=covers_for.id
                if covers_for and kind == AssignmentKind.COVER
                else None,
            )
        )
        result.started.append((person_record(person), kind))
    await session.flush()
    if result.changed:
        result.audit_id = await write_audit(
            session,
            origin,
            action=change.action,
            role_id=role.id,
            subject_id=starting[0][0].id if starting else None,
            summary=change.summary,
            details={
                **change.details,
                "role": role.name,
                "started": [{"user": p.user_id, "kind": k.value} for p, k in result.started],
                "ended": [{"user": p.user_id, "kind": k.value} for p, k in result.ended],
                "until": change.until.isoformat() if change.until else None,
            },
            when=when,
        )
    return result


async def active_assignments(db: Database, workspace_id: int) -> list[tuple[str, AssignmentRecord]]:
    """Every current assignment of a workspace with its project name, for export."""
    now = datetime.now(UTC)
    async with db.reading() as session:
        rows = await session.execute(
            select(Assignment, Person, Role, Project)
            .join(Person, Person.id == Assignment.person_id)
            .join(Role, Role.id == Assignment.role_id)
            .join(Project, Project.id == Assignment.project_id)
            .where(Project.workspace_id == workspace_id, active_at(now))
            .order_by(Project.name_key, Role.position, Assignment.id)
        )
        return [
            (project.name, _assignment_record(a, person, role)) for a, person, role, project in rows
        ]
