"""Changing a workspace's catalogue: replacing it with a file's, and one edit at a time from chat.

Every change runs in one transaction with its audit entry and bumps the catalogue version, so each
replica's matcher rebuilds on its next question. A role is never deleted: dropping it retires it,
which ends its active assignments and keeps its history answerable ("who was the Tester in May").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from seed.catalogue import CatalogueSpec, ResponsibilitySpec
from store.audit import ChangeOrigin, write_audit
from store.catalog import (
    bump_catalog_version,
    merge_responsibilities,
    merge_role_aliases,
    roles_by_key,
)
from store.db import Database
from store.models import (
    Assignment,
    Person,
    Project,
    Responsibility,
    ResponsibilityAlias,
    Role,
    RoleAlias,
    Workspace,
)
from store.names import key


class CatalogueConflict(ValueError):
    """An edit that cannot be made as asked; the message says why, in words a user can act on."""


@dataclass(frozen=True)
class EndedHold:
    """An active assignment ended because its role was retired."""

    project: str
    role: str
    person: str
    kind: str


@dataclass(frozen=True)
class ReplacementPlan:
    """What `replace_catalogue` does (or, on a dry run, would do), role names in file order."""

    kept: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    revived: tuple[str, ...] = ()
    retired: tuple[str, ...] = ()
    ended: tuple[EndedHold, ...] = ()
    responsibilities_added: int = 0
    responsibilities_removed: int = 0

    def lines(self) -> list[str]:
        def names(values: tuple[str, ...]) -> str:
            return ", ".join(values) if values else "none"

        lines = [
            f"roles kept ({len(self.kept)}): {names(self.kept)}",
            f"roles added ({len(self.added)}): {names(self.added)}",
            f"roles retired ({len(self.retired)}): {names(self.retired)}",
        ]
        if self.revived:
            lines.append(f"retired roles brought back ({len(self.revived)}): {names(self.revived)}")
        lines.append(
            f"responsibilities: {self.responsibilities_added} added, "
            f"{self.responsibilities_removed} removed"
        )
        lines.append(f"assignments ended ({len(self.ended)}):")
        lines.extend(
            f"  {e.person} as {e.kind} {e.role} in project {e.project}" for e in self.ended
        )
        return lines


class DryRun(Exception):
    """Raised inside the transaction to roll a dry run back, carrying what it found."""

    def __init__(self, plan: ReplacementPlan) -> None:
        self.plan = plan


async def replace_catalogue(
    db: Database,
    workspace_id: int,
    spec: CatalogueSpec,
    *,
    origin: ChangeOrigin | None = None,
    dry_run: bool = False,
    show: Callable[[ReplacementPlan], None] | None = None,
) -> ReplacementPlan:
    """Make the workspace's catalogue exactly `spec`'s roles; all or nothing.

    Roles the file still names (by folded name) are kept with their assignments; each gets exactly
    the file's responsibilities, and keeps the keywords and learned phrases of those it keeps. The
    others are retired. `show` sees the plan before it is committed; a dry run works out the same
    plan in the same transaction, then rolls back.
    """
    try:
        async with db.transaction() as session:
            plan = await replace_catalogue_in(session, workspace_id, spec, origin=origin)
            if show is not None:
                show(plan)
            if dry_run:
                raise DryRun(plan)
            return plan
    except DryRun as rolled_back:
        return rolled_back.plan


async def replace_catalogue_in(
    session: AsyncSession,
    workspace_id: int,
    spec: CatalogueSpec,
    *,
    origin: ChangeOrigin | None = None,
) -> ReplacementPlan:
    origin = origin or ChangeOrigin(workspace_id, None, None, "cli")
    now = datetime.now(UTC)
    existing = await roles_by_key(session, workspace_id)
    kept: list[str] = []
    added: list[str] = []
    revived: list[str] = []
    responsibilities_added = responsibilities_removed = 0
    named: set[str] = set()
    for position, role_spec in enumerate(spec.roles):
        name_key = key(role_spec.name)
        named.add(name_key)
        role = existing.get(name_key)
        if role is None:
            role = _new_role(workspace_id, role_spec.name, position)
            session.add(role)
            added.append(role_spec.name)
        elif role.retired_at is not None:
            role.retired_at = None
            revived.append(role_spec.name)
        else:
            kept.append(role_spec.name)
        role.name, role.position = role_spec.name, position
        merge_role_aliases(role, role_spec)
        responsibilities_removed += _keep_only(role, role_spec.responsibilities)
        responsibilities_added += merge_responsibilities(role, role_spec.responsibilities)
    dropped = [r for k, r in existing.items() if k not in named and r.retired_at is None]
    ended: list[EndedHold] = []
    for role in dropped:
        role.retired_at = now
        ended.extend(await _end_holds(session, origin, role, now))
    await session.flush()
    plan = ReplacementPlan(
        kept=tuple(kept),
        added=tuple(added),
        revived=tuple(revived),
        retired=tuple(r.name for r in dropped),
        ended=tuple(ended),
        responsibilities_added=responsibilities_added,
        responsibilities_removed=responsibilities_removed,
    )
    workspace = await session.get_one(Workspace, workspace_id)
    workspace.escalation_chain = list(spec.escalation_chain)
    await write_audit(
        session,
        origin,
        action="replace_catalogue",
        summary=f"replaced the catalogue: {len(spec.roles)} roles "
        f"({len(added) + len(revived)} added, {len(dropped)} retired)",
        details=_plan_details(plan),
        when=now,
    )
    await bump_catalog_version(session, workspace_id)
    return plan


def _plan_details(plan: ReplacementPlan) -> dict[str, Any]:
    return {
        "kept": list(plan.kept),
        "added": list(plan.added),
        "revived": list(plan.revived),
        "retired": list(plan.retired),
        "ended": [asdict(e) for e in plan.ended],
    }


NAME_LIMIT = 200
TEXT_LIMIT = 500


def checked(text: str, what: str, limit: int = NAME_LIMIT) -> str:
    """A name or text as it will be stored: single-spaced, not empty, not longer than its column."""
    text = " ".join(text.split())
    if not key(text):
        raise CatalogueConflict(f"A {what} needs some letters or digits.")
    if len(text) > limit:
        raise CatalogueConflict(f"A {what} may be at most {limit} characters long.")
    return text


def _new_role(workspace_id: int, name: str, position: int) -> Role:
    name = checked(name, "role name")
    return Role(
        workspace_id=workspace_id,
        name=name,
        name_key=key(name),
        position=position,
        aliases=[],
        responsibilities=[],
    )


def _keep_only(role: Role, specs: tuple[ResponsibilitySpec, ...]) -> int:
    """Drop the role's responsibilities the file no longer lists; the count dropped."""
    wanted = {key(s.text) for s in specs}
    dropped = [r for r in role.responsibilities if r.text_key not in wanted]
    for responsibility in dropped:
        _drop(role, responsibility)
    return len(dropped)


def _drop(role: Role, responsibility: Responsibility) -> None:
    """Remove one responsibility (its keywords go with it) and close the gap in the numbering."""
    role.responsibilities.remove(responsibility)
    for position, kept in enumerate(role.responsibilities):
        kept.position = position


async def _end_holds(
    session: AsyncSession, origin: ChangeOrigin, role: Role, now: datetime
) -> list[EndedHold]:
    """End the role's active assignments in every project, with one audit entry per project."""
    rows = await session.execute(
        select(Assignment, Person, Project)
        .join(Person, Person.id == Assignment.person_id)
        .join(Project, Project.id == Assignment.project_id)
        .where(Assignment.role_id == role.id, Assignment.ended_at.is_(None))
        .order_by(Project.name_key, Assignment.id)
    )
    by_project: dict[int, list[EndedHold]] = {}
    for assignment, person, project in rows:
        lapsed = assignment.until is not None and assignment.until <= now
        assignment.ended_at = assignment.until if lapsed else now
        if not lapsed:
            by_project.setdefault(project.id, []).append(
                EndedHold(project.name, role.name, person.display_name, assignment.kind.value)
            )
    for project_id, ended in by_project.items():
        people = ", ".join(e.person for e in ended)
        await write_audit(
            session,
            replace(origin, project_id=project_id),
            action="retire_role",
            role_id=role.id,
            summary=f"retired {role.name} from the catalogue, ending {people}'s hold",
            details={"role": role.name, "ended": [asdict(e) for e in ended]},
            when=now,
        )
    return [e for ended in by_project.values() for e in ended]


# ---- One edit at a time (chat and CLI) ----


@dataclass(frozen=True)
class EditResult:
    """What an edit did, in one sentence, and the assignments it ended (retiring a role)."""

    summary: str
    role: str
    ended: tuple[EndedHold, ...] = ()


Edit = Callable[
    [AsyncSession, dict[str, Role], datetime], Awaitable[tuple[Role | None, EditResult]]
]


async def _apply(db: Database, origin: ChangeOrigin, action: str, edit: Edit) -> EditResult:
    now = datetime.now(UTC)
    async with db.transaction() as session:
        roles = await roles_by_key(session, origin.workspace_id)
        role, result = await edit(session, roles, now)
        await session.flush()
        await write_audit(
            session,
            origin,
            action=action,
            role_id=role.id if role is not None else None,
            summary=result.summary,
            details={"role": result.role},
            when=now,
        )
        await bump_catalog_version(session, origin.workspace_id)
        return result


def _active_role(roles: dict[str, Role], name: str) -> Role:
    role = roles.get(key(name))
    if role is None or role.retired_at is not None:
        raise CatalogueConflict(f"There is no role called “{name}”.")
    return role


def _responsibility(role: Role, text: str) -> Responsibility:
    """The role's responsibility named by its text (folded), a unique part of it, or its number."""
    wanted = key(text)
    items = list(role.responsibilities)
    if wanted.isdigit() and 1 <= int(wanted) <= len(items):
        return items[int(wanted) - 1]
    exact = [r for r in items if r.text_key == wanted]
    partial = [r for r in items if wanted and wanted in r.text_key]
    found = exact or partial
    if len(found) == 1:
        return found[0]
    listing = "; ".join(f"{n}. {r.text}" for n, r in enumerate(items, start=1))
    if not found:
        raise CatalogueConflict(f"{role.name} has no responsibility “{text}”. It has: {listing}")
    raise CatalogueConflict(
        f"“{text}” matches several responsibilities of {role.name}; name one by its number: {listing}"
    )


async def add_role(db: Database, origin: ChangeOrigin, name: str) -> EditResult:
    """A new role, or a retired one brought back (with its responsibilities, without its holders)."""

    async def edit(
        session: AsyncSession, roles: dict[str, Role], now: datetime
    ) -> tuple[Role, EditResult]:
        role = roles.get(key(name))
        if role is not None and role.retired_at is None:
            raise CatalogueConflict(f"There is already a role called {role.name}.")
        if role is not None:
            role.retired_at = None
            return role, EditResult(f"brought back the retired role {role.name}", role.name)
        role = _new_role(origin.workspace_id, name, len(roles))
        session.add(role)
        return role, EditResult(f"added the role {name}", name)

    return await _apply(db, origin, "add_role", edit)


async def rename_role(db: Database, origin: ChangeOrigin, old: str, new: str) -> EditResult:
    new = checked(new, "role name")

    async def edit(
        session: AsyncSession, roles: dict[str, Role], now: datetime
    ) -> tuple[Role, EditResult]:
        role = _active_role(roles, old)
        taken = roles.get(key(new))
        if taken is not None and taken is not role:
            state = "a retired role" if taken.retired_at else "a role"
            raise CatalogueConflict(f"There is already {state} called {taken.name}.")
        previous, role.name, role.name_key = role.name, new, key(new)
        return role, EditResult(f"renamed the role {previous} to {new}", new)

    return await _apply(db, origin, "rename_role", edit)


async def retire_role(db: Database, origin: ChangeOrigin, name: str) -> EditResult:
    async def edit(
        session: AsyncSession, roles: dict[str, Role], now: datetime
    ) -> tuple[Role, EditResult]:
        role = _active_role(roles, name)
        role.retired_at = now
        ended = await _end_holds(session, origin, role, now)
        return role, EditResult(f"retired the role {role.name}", role.name, tuple(ended))

    return await _apply(db, origin, "retire_role", edit)


async def add_responsibility(
    db: Database, origin: ChangeOrigin, role_name: str, text: str
) -> EditResult:
    text = checked(text, "responsibility", TEXT_LIMIT)

    async def edit(
        session: AsyncSession, roles: dict[str, Role], now: datetime
    ) -> tuple[Role, EditResult]:
        role = _active_role(roles, role_name)
        if not merge_responsibilities(role, (ResponsibilitySpec(text),)):
            raise CatalogueConflict(f"{role.name} already has the responsibility “{text}”.")
        return role, EditResult(f"added “{text}” to {role.name}", role.name)

    return await _apply(db, origin, "add_responsibility", edit)


async def edit_responsibility(
    db: Database, origin: ChangeOrigin, role_name: str, old: str, new: str
) -> EditResult:
    """Reword a responsibility; its keywords and learned phrases stay with it."""
    new = checked(new, "responsibility", TEXT_LIMIT)

    async def edit(
        session: AsyncSession, roles: dict[str, Role], now: datetime
    ) -> tuple[Role, EditResult]:
        role = _active_role(roles, role_name)
        responsibility = _responsibility(role, old)
        if any(r.text_key == key(new) and r is not responsibility for r in role.responsibilities):
            raise CatalogueConflict(f"{role.name} already has the responsibility “{new}”.")
        previous = responsibility.text
        responsibility.text, responsibility.text_key = new, key(new)
        return role, EditResult(f"changed “{previous}” of {role.name} to “{new}”", role.name)

    return await _apply(db, origin, "edit_responsibility", edit)


async def remove_responsibility(
    db: Database, origin: ChangeOrigin, role_name: str, text: str
) -> EditResult:
    async def edit(
        session: AsyncSession, roles: dict[str, Role], now: datetime
    ) -> tuple[Role, EditResult]:
        role = _active_role(roles, role_name)
        responsibility = _responsibility(role, text)
        _drop(role, responsibility)
        return role, EditResult(f"removed “{responsibility.text}” from {role.name}", role.name)

    return await _apply(db, origin, "remove_responsibility", edit)


async def add_keyword(
    db: Database, origin: ChangeOrigin, role_name: str, text: str, keyword: str
) -> EditResult:
    keyword = checked(keyword, "keyword", TEXT_LIMIT)

    async def edit(
        session: AsyncSession, roles: dict[str, Role], now: datetime
    ) -> tuple[Role, EditResult]:
        role = _active_role(roles, role_name)
        responsibility = _responsibility(role, text)
        if any(a.alias_key == key(keyword) for a in responsibility.aliases):
            raise CatalogueConflict(f"“{responsibility.text}” already has the keyword “{keyword}”.")
        responsibility.aliases.append(ResponsibilityAlias(alias=keyword, alias_key=key(keyword)))
        summary = f"added the keyword “{keyword}” to {role.name}: {responsibility.text}"
        return role, EditResult(summary, role.name)

    return await _apply(db, origin, "add_keyword", edit)


async def remove_keyword(
    db: Database, origin: ChangeOrigin, role_name: str, text: str, keyword: str
) -> EditResult:
    """Remove a keyword, or a phrase learned from a pick that turned out wrong."""

    async def edit(
        session: AsyncSession, roles: dict[str, Role], now: datetime
    ) -> tuple[Role, EditResult]:
        role = _active_role(roles, role_name)
        responsibility = _responsibility(role, text)
        found = [a for a in responsibility.aliases if a.alias_key == key(keyword)]
        if not found:
            raise CatalogueConflict(f"“{responsibility.text}” has no keyword “{keyword}”.")
        responsibility.aliases.remove(found[0])
        summary = f"removed the keyword “{keyword}” from {role.name}: {responsibility.text}"
        return role, EditResult(summary, role.name)

    return await _apply(db, origin, "remove_keyword", edit)


async def add_alias(db: Database, origin: ChangeOrigin, role_name: str, alias: str) -> EditResult:
    alias = checked(alias, "role alias")

    async def edit(
        session: AsyncSession, roles: dict[str, Role], now: datetime
    ) -> tuple[Role, EditResult]:
        role = _active_role(roles, role_name)
        other = next(
            (
                r
                for r in roles.values()
                if r.retired_at is None
                and (r.name_key == key(alias) or any(a.alias_key == key(alias) for a in r.aliases))
            ),
            None,
        )
        if other is not None:
            raise CatalogueConflict(f"“{alias}” already names {other.name}.")
        role.aliases.append(RoleAlias(alias=alias, alias_key=key(alias)))
        return role, EditResult(f"added the alias “{alias}” to {role.name}", role.name)

    return await _apply(db, origin, "add_alias", edit)


async def remove_alias(
    db: Database, origin: ChangeOrigin, role_name: str, alias: str
) -> EditResult:
    async def edit(
        session: AsyncSession, roles: dict[str, Role], now: datetime
    ) -> tuple[Role, EditResult]:
        role = _active_role(roles, role_name)
        found = [a for a in role.aliases if a.alias_key == key(alias)]
        if not found:
            raise CatalogueConflict(f"{role.name} has no alias “{alias}”.")
        role.aliases.remove(found[0])
        return role, EditResult(f"removed the alias “{alias}” from {role.name}", role.name)

    return await _apply(db, origin, "remove_alias", edit)
