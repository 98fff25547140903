"""People: platform users known in a workspace, with the display name last seen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import Database
from store.models import Person, Workspace
from store.records import PersonRecord

NAME_LENGTH = 200  # the column's size


def person_record(person: Person) -> PersonRecord:
    return PersonRecord(id=person.id, user_id=person.platform_user_id, name=person.display_name)


async def upsert_person(
    session: AsyncSession, workspace_id: int, user_id: str, display_name: str | None = None
) -> Person:
    person = await session.scalar(
        select(Person).where(
            Person.workspace_id == workspace_id, Person.platform_user_id == user_id
        )
    )
    now = datetime.now(UTC)
    if person is None:
        # A savepoint, so losing an insert race to another request leaves this transaction usable.
        try:
            async with session.begin_nested():
                person = Person(
                    workspace_id=workspace_id,
                    platform_user_id=user_id,
                    display_name=(display_name or user_id)[:NAME_LENGTH],
                    created_at=now,
                    updated_at=now,
                )
                session.add(person)
        except IntegrityError:
            person = (
                await session.scalars(
                    select(Person).where(
                        Person.workspace_id == workspace_id, Person.platform_user_id == user_id
                    )
                )
            ).one()
    elif display_name and display_name[:NAME_LENGTH] != person.display_name:
        person.display_name = display_name[:NAME_LENGTH]
        person.updated_at = now
    return person


async def ensure_person(
    db: Database, workspace_id: int, user_id: str, display_name: str | None = None
) -> PersonRecord:
    async with db.transaction() as session:
        return person_record(await upsert_person(session, workspace_id, user_id, display_name))


async def find_person(db: Database, workspace_id: int, name_or_id: str) -> PersonRecord | None:
    """A person by platform user id, or by display name (case-insensitive) when it is unambiguous."""
    wanted = name_or_id.strip().lstrip("@")
    async with db.reading() as session:
        matches = (
            await session.scalars(
                select(Person)
                .where(
                    Person.workspace_id == workspace_id,
                    or_(
                        Person.platform_user_id == wanted,
                        func.lower(Person.display_name) == wanted.lower(),
                    ),
                )
                .order_by(Person.id)
            )
        ).all()
        exact = [p for p in matches if p.platform_user_id == wanted]
        chosen = exact or matches
        return person_record(chosen[0]) if len(chosen) == 1 else None


async def fresh_display_name(
    db: Database, platform: str, workspace: str, user_id: str, max_age: timedelta
) -> str | None:
    """The stored display name if it was refreshed within `max_age`; None means ask the platform."""
    async with db.reading() as session:
        row = (
            await session.execute(
                select(Person.display_name, Person.updated_at)
                .join(Workspace, Workspace.id == Person.workspace_id)
                .where(
                    Workspace.platform == platform,
                    Workspace.external_id == workspace,
                    Person.platform_user_id == user_id,
                )
            )
        ).first()
    if row is None:
        return None
    name, updated = row
    if datetime.now(UTC) - updated > max_age or name == user_id:
        return None
    return str(name)
