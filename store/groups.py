"""Roles linked to platform user groups: a Slack @handle whose members are the role's holders.

A group is brought up to date through the outbox, like a notification: whenever the people acting
in a linked role may have changed, `queue_syncs` compares them with what was last written for the
group and, if they differ, writes a sync (composed by the caller) in the same transaction. Changes
made in chat call it with the change; `sync_pass` runs it over a workspace in the background, which
catches what happens by the clock alone (a cover that lapses at the end of its day).

Who acts in a role: its primary holders and its covers, each cover in place of the person away;
backups are not pinged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.audit import ChangeOrigin, write_audit
from store.db import Database
from store.models import (
    Assignment,
    AssignmentKind,
    GroupLink,
    Person,
    Project,
    Role,
    Workspace,
    active_at,
)
from store.outbox import Outgoing, enqueue


@dataclass(frozen=True)
class GroupState:
    """A linked group as it should be now: the members it gets on its next sync."""

    link_id: int
    project: str
    role: str
    handle: str
    group_id: str | None
    members: tuple[str, ...]  # platform user ids
    linked_by: str


# The outbox rows that bring a group to its state (none where no worker delivers them).
Compose = Callable[[GroupState], Sequence[Outgoing]]


def _links_query(workspace_id: int) -> Any:  # a 3-column Select; its generic differs in 2.0/2.1
    return (
        select(GroupLink, Project.name, Role.name)
        .join(Project, Project.id == GroupLink.project_id)
        .join(Role, Role.id == GroupLink.role_id)
        .where(GroupLink.workspace_id == workspace_id, Role.retired_at.is_(None))
        .order_by(GroupLink.id)
    )


async def _acting(session: AsyncSession, link: GroupLink, now: datetime) -> tuple[str, ...]:
    rows = await session.execute(
        select(Assignment.kind, Assignment.person_id, Assignment.covers_for_id, Person)
        .join(Person, Person.id == Assignment.person_id)
        .where(
            Assignment.project_id == link.project_id,
            Assignment.role_id == link.role_id,
            active_at(now),
            Assignment.kind.in_((AssignmentKind.PRIMARY, AssignmentKind.COVER)),
        )
    )
    found = list(rows)
    away = {covered for kind, _, covered, _ in found if kind == AssignmentKind.COVER and covered}
    return tuple(
        sorted({p.platform_user_id for _, person_id, _, p in found if person_id not in away})
    )


def _state(link: GroupLink, project: str, role: str, members: tuple[str, ...]) -> GroupState:
    return GroupState(link.id, project, role, link.handle, link.group_id, members, link.linked_by)


async def queue_syncs(
    session: AsyncSession,
    origin: ChangeOrigin,
    when: datetime,
    compose: Compose,
    *,
    project_id: int | None = None,
    role_ids: Sequence[int] | None = None,
) -> int:
    """A sync for each linked group (of this project's roles, when given) whose acting holders
    differ from what it was last sent; how many were queued. The links are locked, so two
    replicas reconciling at once queue each change once."""
    query = _links_query(origin.workspace_id).with_for_update(of=GroupLink)
    if project_id is not None:
        query = query.where(GroupLink.project_id == project_id)
    if role_ids is not None:
        query = query.where(GroupLink.role_id.in_(list(role_ids)))
    queued: list[Outgoing] = []
    for link, project, role in await session.execute(query):
        members = await _acting(session, link, when)
        if link.members is not None and tuple(link.members) == members:
            continue
        link.members = list(members)
        queued.extend(compose(_state(link, project, role, members)))
    if queued:
        await enqueue(session, origin, queued, when)
    return len(queued)


async def link_group(
    db: Database,
    origin: ChangeOrigin,
    role_id: int,
    *,
    handle: str,
    group_id: str | None,
    linked_by: str,
    when: datetime,
    compose: Compose,
) -> None:
    """Links the project's role to the group (replacing an earlier link) and queues its first
    sync, audited, in one transaction."""
    if origin.project_id is None:
        raise ValueError("a group is linked to a project's role")
    async with db.transaction() as session:
        link = await session.scalar(
            select(GroupLink).where(
                GroupLink.project_id == origin.project_id, GroupLink.role_id == role_id
            )
        )
        if link is None:
            link = GroupLink(
                workspace_id=origin.workspace_id, project_id=origin.project_id, role_id=role_id
            )
            session.add(link)
        link.handle, link.group_id, link.members = handle, group_id, None
        link.linked_by, link.linked_at = linked_by, when
        await session.flush()
        await write_audit(
            session,
            origin,
            action="link_group",
            role_id=role_id,
            summary=f"linked to @{handle}",
            details={"handle": handle, "group_id": group_id},
            when=when,
        )
        await queue_syncs(
            session, origin, when, compose, project_id=origin.project_id, role_ids=[role_id]
        )


async def unlink_group(
    db: Database, origin: ChangeOrigin, role_id: int, when: datetime
) -> str | None:
    """Ends the link (the group itself stays as it is); the handle it had, None if none."""
    async with db.transaction() as session:
        link = await session.scalar(
            select(GroupLink).where(
                GroupLink.project_id == origin.project_id, GroupLink.role_id == role_id
            )
        )
        if link is None:
            return None
        handle = link.handle
        await session.execute(delete(GroupLink).where(GroupLink.id == link.id))
        await write_audit(
            session,
            origin,
            action="unlink_group",
            role_id=role_id,
            summary=f"unlinked from @{handle}",
            details={"handle": handle},
            when=when,
        )
        return handle


async def list_links(db: Database, workspace_id: int, project_id: int) -> list[GroupState]:
    """The project's linked groups, with the members last sent to each."""
    query = _links_query(workspace_id).where(GroupLink.project_id == project_id)
    async with db.reading() as session:
        return [
            _state(link, project, role, tuple(link.members or ()))
            for link, project, role in await session.execute(query)
        ]


async def sync_pass(
    db: Database, workspace_id: int, platform: str, now: datetime, compose: Compose
) -> int:
    """Every linked group of the workspace brought up to date; how many syncs were queued."""
    async with db.transaction() as session:
        origin = ChangeOrigin(workspace_id, None, None, platform)
        return await queue_syncs(session, origin, now, compose)


async def linked_workspaces(db: Database) -> list[tuple[int, str]]:
    """(id, platform) of the workspaces with a linked group."""
    async with db.reading() as session:
        rows = await session.execute(
            select(GroupLink.workspace_id, Workspace.platform)
            .join(Workspace, Workspace.id == GroupLink.workspace_id)
            .distinct()
        )
        return [(int(w), str(p)) for w, p in rows]


async def set_group_id(db: Database, link_id: int, group_id: str) -> None:
    """The platform's id of a group whoowns created for a link."""
    async with db.transaction() as session:
        await session.execute(
            update(GroupLink).where(GroupLink.id == link_id).values(group_id=group_id)
        )
