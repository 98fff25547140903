"""Catalogue queries: reading a workspace's roles for the matcher, merging imported catalogues, aliases."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import Select, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from seed.catalogue import CatalogueSpec, ResponsibilitySpec, RoleSpec
from store.db import Database
from store.models import Base, Responsibility, ResponsibilityAlias, Role, RoleAlias, Workspace
from store.names import key
from store.records import Catalog, ResponsibilityRecord, RoleRecord

T = TypeVar("T")


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
    """The workspace's catalogue, in catalogue order. Four plain SELECTs rather than ORM objects:
    a workspace's first question after its matcher was evicted waits for this."""
    async with db.reading() as session:
        workspace = (
            await session.execute(
                select(Workspace.catalog_version, Workspace.escalation_chain).where(
                    Workspace.id == workspace_id
                )
            )
        ).one()
        roles = (
            await session.execute(
                select(Role.id, Role.name, Role.retired_at)
                .where(Role.workspace_id == workspace_id)
                .order_by(Role.position, Role.id)
            )
        ).all()
        role_aliases = (
            await session.execute(
                select(RoleAlias.role_id, RoleAlias.alias)
                .join(Role, Role.id == RoleAlias.role_id)
                .where(Role.workspace_id == workspace_id)
                .order_by(RoleAlias.id)
            )
        ).all()
        responsibilities = (
            await session.execute(
                select(Responsibility.id, Responsibility.role_id, Responsibility.text)
                .join(Role, Role.id == Responsibility.role_id)
                .where(Role.workspace_id == workspace_id)
                .order_by(Responsibility.position, Responsibility.id)
            )
        ).all()
        keywords = (
            await session.execute(
                select(
                    ResponsibilityAlias.responsibility_id,
                    ResponsibilityAlias.alias,
                    ResponsibilityAlias.learned,
                )
                .join(Responsibility, Responsibility.id == ResponsibilityAlias.responsibility_id)
                .join(Role, Role.id == Responsibility.role_id)
                .where(Role.workspace_id == workspace_id)
                .order_by(ResponsibilityAlias.id)
            )
        ).all()
    aliases_of: dict[int, list[str]] = defaultdict(list)
    for role_id, alias in role_aliases:
        aliases_of[role_id].append(alias)
    words_of: dict[int, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for responsibility_id, alias, learned in keywords:
        words_of[responsibility_id][1 if learned else 0].append(alias)
    of_role: dict[int, list[ResponsibilityRecord]] = defaultdict(list)
    for responsibility_id, role_id, text in responsibilities:
        written, taught = words_of[responsibility_id]
        of_role[role_id].append(
            ResponsibilityRecord(responsibility_id, role_id, text, tuple(written), tuple(taught))
        )
    records = [
        (
            RoleRecord(role_id, name, tuple(aliases_of[role_id]), tuple(of_role[role_id])),
            retired_at is not None,
        )
        for role_id, name, retired_at in roles
    ]
    return Catalog(
        workspace_id=workspace_id,
        version=workspace.catalog_version,
        roles=tuple(record for record, retired in records if not retired),
        escalation_chain=tuple(workspace.escalation_chain or ()),
        retired=tuple(record for record, retired in records if retired),
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


async def write_new_catalogue(
    session: AsyncSession, workspace_id: int, spec: CatalogueSpec
) -> None:
    """A new workspace's whole catalogue in three multi-row INSERTs: what `merge_catalogue` writes
    into an empty workspace, without building an ORM object per row (a workspace's first message
    waits for this)."""
    roles = [
        {
            "workspace_id": workspace_id,
            "name": r.name,
            "name_key": key(r.name),
            "position": position,
        }
        for position, r in enumerate(_unique(spec.roles, lambda r: key(r.name)))
    ]
    if not roles:
        return
    role_ids = await _inserted(session, Role, roles)
    specs = dict(zip((r["name_key"] for r in roles), role_ids, strict=True))
    role_aliases: list[dict[str, object]] = []
    responsibilities: list[dict[str, object]] = []
    keywords: list[tuple[str, ...]] = []
    for role_spec in _unique(spec.roles, lambda r: key(r.name)):
        role_id = specs[key(role_spec.name)]
        for alias in _unique(role_spec.aliases, key):
            if key(alias):
                role_aliases.append({"role_id": role_id, "alias": alias, "alias_key": key(alias)})
        unique = _unique(role_spec.responsibilities, lambda r: key(r.text))
        for position, r in enumerate(unique):
            responsibilities.append(
                {"role_id": role_id, "text": r.text, "text_key": key(r.text), "position": position}
            )
            keywords.append(r.keywords)
    if role_aliases:
        await session.execute(insert(RoleAlias), role_aliases)
    if responsibilities:
        ids = await _inserted(session, Responsibility, responsibilities)
        aliases = [
            {"responsibility_id": rid, "alias": k, "alias_key": key(k)}
            for rid, words in zip(ids, keywords, strict=True)
            for k in _unique(words, key)
            if key(k)
        ]
        if aliases:
            await session.execute(insert(ResponsibilityAlias), aliases)


async def _inserted(
    session: AsyncSession, table: type[Base], rows: list[dict[str, object]]
) -> list[int]:
    """Insert `rows`; their new ids, in the rows' order."""
    result = await session.execute(
        insert(table).returning(table.id, sort_by_parameter_order=True),  # type: ignore[attr-defined]
        rows,
    )
    return [int(i) for i in result.scalars()]


def _unique(items: Iterable[T], by: Callable[[T], str]) -> list[T]:
    seen: set[str] = set()
    kept = []
    for item in items:
        if by(item) not in seen:
            seen.add(by(item))
            kept.append(item)
    return kept


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
