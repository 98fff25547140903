"""Catalogue queries: reading a workspace's roles for the matcher, merging imported catalogues, aliases."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from seed.catalogue import CatalogueSpec, ResponsibilitySpec, RoleSpec
from store.db import Database
from store.models import Responsibility, ResponsibilityAlias, Role, RoleAlias, Workspace
from store.names import key
from store.records import Catalog, ResponsibilityRecord, RoleRecord


def _workspace_roles(workspace_id: int) -> Select[Role]:
    """A workspace's roles in catalogue order, with their aliases and responsibilities."""
    return (
        select(Role)
        .where(Role.workspace_id == workspace_id)
        .order_by(Role.position, Role.id)
        .options(
            selectinload(Role.aliases),
            selectinload(Role.responsibilities).selectinload(Responsibility.aliases),
        )
    )


async def load_catalog(db: Database, workspace_id: int) -> Catalog:
    async with db.reading() as session:
        workspace = await session.get_one(Workspace, workspace_id)
        roles = (await session.scalars(_workspace_roles(workspace_id))).all()
        return Catalog(
            workspace_id=workspace_id,
            version=workspace.catalog_version,
            roles=tuple(_role_record(role) for role in roles if role.retired_at is None),
            escalation_chain=tuple(workspace.escalation_chain or ()),
            retired=tuple(_role_record(role) for role in roles if role.retired_at is not None),
        )


def _role_record(role: Role) -> RoleRecord:
    return RoleRecord(
        id=role.id,
        name=role.name,
        aliases=tuple(a.alias for a in role.aliases),
        responsibilities=tuple(
            ResponsibilityRecord(
                id=r.id,
                role_id=role.id,
                text=r.text,
                keywords=tuple(a.alias for a in r.aliases if not a.learned),
                learned=tuple(a.alias for a in r.aliases if a.learned),
            )
            for r in role.responsibilities
        ),
    )


async def catalog_version(db: Database, workspace_id: int) -> int:
    """Cheap check each replica makes before trusting its in-memory matcher index."""
    async with db.reading() as session:
        version = await session.scalar(
            select(Workspace.catalog_version).where(Workspace.id == workspace_id)
        )
        return int(version or 0)


async def bump_catalog_version(session: AsyncSession, workspace_id: int) -> None:
    await session.execute(
        update(Workspace)
        .where(Workspace.id == workspace_id)
        .values(catalog_version=Workspace.catalog_version + 1)
    )


async def merge_catalogue(
    session: AsyncSession, workspace_id: int, spec: CatalogueSpec
) -> tuple[int, int]:
    """Add the spec's roles, responsibilities, aliases and keywords to a workspace.

    Nothing is removed: roles may have holders and history. Returns (roles added, responsibilities added).
    """
    existing = await roles_by_key(session, workspace_id)
    next_position = max((r.position for r in existing.values()), default=-1) + 1
    roles_added = responsibilities_added = 0
    for role_spec in spec.roles:
        role = existing.get(key(role_spec.name))
        if role is None:
            role = Role(
                workspace_id=workspace_id,
                name=role_spec.name,
                name_key=key(role_spec.name),
                position=next_position,
                aliases=[],
                responsibilities=[],
            )
            next_position += 1
            roles_added += 1
            session.add(role)
            existing[role.name_key] = role
        role.retired_at = None  # a file that names a retired role brings it back
        merge_role_aliases(role, role_spec)
        responsibilities_added += merge_responsibilities(role, role_spec.responsibilities)
    workspace = await session.get_one(Workspace, workspace_id)
    workspace.escalation_chain = list(spec.escalation_chain)
    await session.flush()
    await bump_catalog_version(session, workspace_id)
    return roles_added, responsibilities_added


async def roles_by_key(session: AsyncSession, workspace_id: int) -> dict[str, Role]:
    """Every role of the workspace, retired ones too, by folded name, locked for the change."""
    roles = await session.scalars(_workspace_roles(workspace_id).with_for_update())
    return {role.name_key: role for role in roles.all()}


def merge_role_aliases(role: Role, spec: RoleSpec) -> None:
    have = {a.alias_key for a in role.aliases}
    for alias in spec.aliases:
        alias_key = key(alias)
        if alias_key and alias_key not in have:
            role.aliases.append(RoleAlias(alias=alias, alias_key=alias_key))
            have.add(alias_key)


def merge_responsibilities(role: Role, specs: tuple[ResponsibilitySpec, ...]) -> int:
    by_key = {r.text_key: r for r in role.responsibilities}
    added = 0
    for spec in specs:
        text_key = key(spec.text)
        responsibility = by_key.get(text_key)
        if responsibility is None:
            responsibility = Responsibility(
                text=spec.text, text_key=text_key, position=len(by_key), aliases=[]
            )
            role.responsibilities.append(responsibility)
            by_key[text_key] = responsibility
            added += 1
        have = {a.alias_key for a in responsibility.aliases}
        for keyword in spec.keywords:
            alias_key = key(keyword)
            if alias_key and alias_key not in have:
                responsibility.aliases.append(
                    ResponsibilityAlias(alias=keyword, alias_key=alias_key)
                )
                have.add(alias_key)
    return added


async def import_catalogue(db: Database, workspace_id: int, spec: CatalogueSpec) -> tuple[int, int]:
    async with db.transaction() as session:
        return await merge_catalogue(session, workspace_id, spec)


async def learn_alias(
    db: Database,
    workspace_id: int,
    phrase: str,
    *,
    role_id: int,
    responsibility_id: int | None,
) -> bool:
    """Remember how someone asked, after they picked a choice; False if it was known already."""
    phrase = " ".join(phrase.split())[:500]
    alias_key = key(phrase)
    if not alias_key:
        return False
    async with db.transaction() as session:
        role = await session.get(Role, role_id)
        if role is None or role.workspace_id != workspace_id:
            return False
        if responsibility_id is None:
            exists = await session.scalar(
                select(RoleAlias.id).where(
                    RoleAlias.role_id == role_id, RoleAlias.alias_key == alias_key
                )
            )
            if exists is None:
                session.add(RoleAlias(role_id=role_id, alias=phrase, alias_key=alias_key))
        else:
            responsibility = await session.get(Responsibility, responsibility_id)
            if responsibility is None or responsibility.role_id != role_id:
                return False
            exists = await session.scalar(
                select(ResponsibilityAlias.id).where(
                    ResponsibilityAlias.responsibility_id == responsibility_id,
                    ResponsibilityAlias.alias_key == alias_key,
                )
            )
            if exists is None:
                session.add(
                    ResponsibilityAlias(
                        responsibility_id=responsibility_id,
                        alias=phrase,
                        alias_key=alias_key,
                        learned=True,
                        created_at=datetime.now(UTC),
                    )
                )
        if exists is not None:
            return False
        await bump_catalog_version(session, workspace_id)
        return True


def catalogue_spec(catalog: Catalog) -> CatalogueSpec:
    """The workspace's catalogue as a spec, for export (learned aliases become keywords)."""
    return CatalogueSpec(
        roles=tuple(
            RoleSpec(
                name=role.name,
                aliases=role.aliases,
                responsibilities=tuple(
                    ResponsibilitySpec(r.text, r.keywords + r.learned)
                    for r in role.responsibilities
                ),
            )
            for role in catalog.roles
        ),
        escalation_chain=catalog.escalation_chain,
    )
