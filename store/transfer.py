"""Bulk export and import of a workspace: its catalogue and who holds what, in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from seed.transfer import AssignmentSpec, TeamFile
from store.assignments import PersonRef, RoleChange, active_assignments, apply_change_in
from store.audit import ChangeOrigin
from store.catalog import catalogue_spec, load_catalog, merge_catalogue
from store.catalogue_changes import DryRun, ReplacementPlan, replace_catalogue_in
from store.db import Database
from store.models import AssignmentKind, Role
from store.names import key
from store.workspaces import get_or_create_project


async def export_team(db: Database, workspace_id: int) -> TeamFile:
    catalog = await load_catalog(db, workspace_id)
    assignments = [
        AssignmentSpec(
            project=project,
            role=record.role,
            user=record.person.user_id,
            name=record.person.name,
            kind=record.kind.value,
            until=record.until,
        )
        for project, record in await active_assignments(db, workspace_id)
    ]
    return TeamFile(catalogue_spec(catalog), tuple(assignments))


async def import_team(
    db: Database,
    workspace_id: int,
    team: TeamFile,
    *,
    actor_id: int | None,
    platform: str,
    replace: bool = False,
    dry_run: bool = False,
    show: Callable[[ReplacementPlan], None] | None = None,
) -> tuple[int, int, int]:
    """Merge the catalogue (or, with `replace`, make it exactly the file's) and add the
    assignments; all or nothing. Returns counts added. `show` sees a replacement's plan before
    it is committed; a dry run rolls everything back."""
    try:
        async with db.transaction() as session:
            counts = await _import_in(
                session, workspace_id, team, actor_id, platform, replace, show
            )
            if dry_run:
                raise DryRun(ReplacementPlan())
            return counts
    except DryRun:
        return 0, 0, 0


async def _import_in(
    session: AsyncSession,
    workspace_id: int,
    team: TeamFile,
    actor_id: int | None,
    platform: str,
    replace: bool,
    show: Callable[[ReplacementPlan], None] | None,
) -> tuple[int, int, int]:
    now = datetime.now(UTC)
    if replace:
        plan = await replace_catalogue_in(
            session,
            workspace_id,
            team.catalogue,
            origin=ChangeOrigin(workspace_id, None, actor_id, platform),
        )
        if show is not None:
            show(plan)
        roles_added = len(plan.added) + len(plan.revived)
        responsibilities_added = plan.responsibilities_added
    else:
        roles_added, responsibilities_added = await merge_catalogue(
            session, workspace_id, team.catalogue
        )
    role_ids = {
        role.name_key: role.id
        for role in await session.scalars(
            select(Role).where(Role.workspace_id == workspace_id, Role.retired_at.is_(None))
        )
    }
    changed = 0
    for spec in team.assignments:
        project = await get_or_create_project(session, workspace_id, spec.project)
        kind = AssignmentKind(spec.kind)
        origin = ChangeOrigin(workspace_id, project.id, actor_id, platform, reason="bulk import")
        change = RoleChange(
            action="import",
            role_id=role_ids[key(spec.role)],
            start=((PersonRef(spec.user, spec.name), kind),),
            until=spec.until,
            summary=f"imported {spec.user} as {spec.kind} {spec.role} in {spec.project}",
        )
        result = await apply_change_in(session, origin, change, now)
        changed += result.changed
    return roles_added, responsibilities_added, changed
