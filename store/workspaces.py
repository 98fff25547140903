"""Workspaces and projects: a workspace seen for the first time starts with the default catalogue."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from seed.catalogue import CatalogueSpec, default_catalogue
from store.audit import ChangeOrigin, write_audit
from store.catalog import write_new_catalogue
from store.db import Database
from store.models import (
    Assignment,
    AuditEntry,
    ChannelLink,
    Escalation,
    OutboxMessage,
    Person,
    Project,
    Role,
    SlackInstallation,
    Workspace,
)
from store.names import key
from store.records import ProjectRef, WorkspaceRef

DEFAULT_PROJECT = "default"


def _workspace_ref(workspace: Workspace) -> WorkspaceRef:
    return WorkspaceRef(
        id=workspace.id,
        platform=workspace.platform,
        external_id=workspace.external_id,
        name=workspace.name,
        catalog_version=workspace.catalog_version,
        escalation_chain=tuple(workspace.escalation_chain or ()),
    )


def _project_ref(project: Project) -> ProjectRef:
    return ProjectRef(id=project.id, name=project.name, is_default=project.is_default)


async def ensure_workspace(
    db: Database,
    platform: str,
    external_id: str,
    name: str | None = None,
    catalogue: CatalogueSpec | None = None,
) -> WorkspaceRef:
    """The workspace for a Slack team / Teams tenant / console, created with its catalogue on first sight.

    Two replicas may see a new team at the same moment: the loser of the insert race reads the winner's.
    """
    found = await find_workspace(db, platform, external_id)
    if found is not None:
        return found
    try:
        async with db.transaction() as session:
            now = datetime.now(UTC)
            workspace = Workspace(
                platform=platform,
                external_id=external_id,
                name=name or external_id,
                created_at=now,
                catalog_version=1,
                last_escalation_number=0,
                escalation_chain=[],
            )
            session.add(workspace)
            await session.flush()
            session.add(
                Project(
                    workspace_id=workspace.id,
                    name=DEFAULT_PROJECT,
                    name_key=DEFAULT_PROJECT,
                    is_default=True,
                    created_at=now,
                )
            )
            spec = catalogue or default_catalogue()
            await write_new_catalogue(session, workspace.id, spec)
            workspace.escalation_chain = list(spec.escalation_chain)
            workspace.catalog_version = 2  # as a merge into the empty workspace leaves it
            await session.flush()
            return _workspace_ref(workspace)
    except IntegrityError:
        found = await find_workspace(db, platform, external_id)
        if found is None:
            raise
        return found


async def find_workspace(db: Database, platform: str, external_id: str) -> WorkspaceRef | None:
    async with db.reading() as session:
        workspace = await session.scalar(
            select(Workspace).where(
                Workspace.platform == platform, Workspace.external_id == external_id
            )
        )
        return _workspace_ref(workspace) if workspace else None


async def _default_project(session: AsyncSession, workspace_id: int) -> Project:
    return (
        await session.scalars(
            select(Project).where(
                Project.workspace_id == workspace_id, Project.is_default.is_(True)
            )
        )
    ).one()


async def resolve_project(
    db: Database, workspace_id: int, channel_id: str | None = None, name: str | None = None
) -> ProjectRef | None:
    """The project a message is about: named explicitly, else the channel's link, else the default.

    None only when a project was named that does not exist.
    """
    async with db.reading() as session:
        if name:
            project = await session.scalar(
                select(Project).where(
                    Project.workspace_id == workspace_id, Project.name_key == key(name)
                )
            )
            return _project_ref(project) if project else None
        if channel_id:
            project = await session.scalar(
                select(Project)
                .join(ChannelLink, ChannelLink.project_id == Project.id)
                .where(
                    ChannelLink.workspace_id == workspace_id, ChannelLink.channel_id == channel_id
                )
            )
            if project is not None:
                return _project_ref(project)
        return _project_ref(await _default_project(session, workspace_id))


async def list_projects(db: Database, workspace_id: int) -> list[ProjectRef]:
    async with db.reading() as session:
        projects = await session.scalars(
            select(Project).where(Project.workspace_id == workspace_id).order_by(Project.name_key)
        )
        return [_project_ref(p) for p in projects]


async def get_or_create_project(session: AsyncSession, workspace_id: int, name: str) -> Project:
    project = await session.scalar(
        select(Project).where(Project.workspace_id == workspace_id, Project.name_key == key(name))
    )
    if project is None:
        project = Project(
            workspace_id=workspace_id,
            name=name,
            name_key=key(name),
            is_default=False,
            created_at=datetime.now(UTC),
        )
        session.add(project)
        await session.flush()
    return project


async def create_project(
    db: Database,
    origin_workspace_id: int,
    name: str,
    *,
    actor_id: int | None,
    platform: str,
    channel: str | None,
) -> tuple[ProjectRef, bool]:
    """Create a project (audited); returns it and whether it is new."""
    async with db.transaction() as session:
        existing = await session.scalar(
            select(Project).where(
                Project.workspace_id == origin_workspace_id, Project.name_key == key(name)
            )
        )
        if existing is not None:
            return _project_ref(existing), False
        project = await get_or_create_project(session, origin_workspace_id, name)
        await write_audit(
            session,
            ChangeOrigin(origin_workspace_id, project.id, actor_id, platform, channel),
            action="create_project",
            summary=f"created project {name}",
        )
        return _project_ref(project), True


async def link_channel(
    db: Database,
    workspace_id: int,
    channel_id: str,
    project_id: int,
    *,
    actor_id: int | None,
    platform: str,
) -> None:
    """Answer questions in `channel_id` for `project_id` from now on (audited)."""
    async with db.transaction() as session:
        link = await session.scalar(
            select(ChannelLink).where(
                ChannelLink.workspace_id == workspace_id, ChannelLink.channel_id == channel_id
            )
        )
        if link is None:
            session.add(
                ChannelLink(
                    workspace_id=workspace_id,
                    channel_id=channel_id,
                    project_id=project_id,
                    created_at=datetime.now(UTC),
                )
            )
        else:
            link.project_id = project_id
        project = await session.get_one(Project, project_id)
        await write_audit(
            session,
            ChangeOrigin(workspace_id, project_id, actor_id, platform, channel_id),
            action="link_channel",
            summary=f"linked channel {channel_id} to project {project.name}",
        )


async def linked_channels(db: Database, workspace_id: int) -> dict[int, list[str]]:
    async with db.reading() as session:
        rows = await session.execute(
            select(ChannelLink.project_id, ChannelLink.channel_id).where(
                ChannelLink.workspace_id == workspace_id
            )
        )
        out: dict[int, list[str]] = {}
        for project_id, channel_id in rows:
            out.setdefault(project_id, []).append(channel_id)
        return out


async def workspace_contents(db: Database, workspace_id: int) -> dict[str, int]:
    """How many of each kind of row a workspace holds: what deleting it would remove."""
    counted = {
        "projects": select(func.count()).where(Project.workspace_id == workspace_id),
        "roles": select(func.count()).where(Role.workspace_id == workspace_id),
        "people": select(func.count()).where(Person.workspace_id == workspace_id),
        "assignments": select(func.count(Assignment.id))
        .join(Project, Project.id == Assignment.project_id)
        .where(Project.workspace_id == workspace_id),
        "audit entries": select(func.count()).where(AuditEntry.workspace_id == workspace_id),
        "escalations": select(func.count()).where(Escalation.workspace_id == workspace_id),
        "notifications": select(func.count()).where(OutboxMessage.workspace_id == workspace_id),
        "Slack installations": select(func.count(SlackInstallation.team_id))
        .join(Workspace, Workspace.external_id == SlackInstallation.team_id)
        .where(Workspace.id == workspace_id, Workspace.platform == "slack"),
    }
    async with db.reading() as session:
        return {name: int(await session.scalar(query) or 0) for name, query in counted.items()}


async def delete_workspace(db: Database, workspace_id: int) -> dict[str, int]:
    """Remove a workspace and everything of it (the foreign keys cascade), in one transaction;
    returns what it held."""
    removed = await workspace_contents(db, workspace_id)
    async with db.transaction() as session:
        workspace = await session.get(Workspace, workspace_id)
        if workspace is not None and workspace.platform == "slack":
            # Its tokens too, if the app is still installed there: nothing of it is kept.
            await session.execute(
                delete(SlackInstallation).where(SlackInstallation.team_id == workspace.external_id)
            )
        await session.execute(delete(Workspace).where(Workspace.id == workspace_id))
    return removed
