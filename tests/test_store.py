"""The store on real SQLite and PostgreSQL: migrations, constraints, workspaces, isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from store import assignments, catalog, events, migrate, people, workspaces
from store.assignments import PersonRef, RoleChange
from store.audit import ChangeOrigin
from store.db import Database, StoreUnavailable
from store.models import Assignment, AssignmentKind


def project_of(origin: ChangeOrigin) -> int:
    assert origin.project_id is not None  # a change to holders always has a project
    return origin.project_id


async def test_upgrade_is_idempotent_and_at_head(database: Database) -> None:
    before, after = await migrate.upgrade(database)
    assert before == after == migrate.head_revision()
    assert await migrate.current_revision(database) == migrate.head_revision()


async def test_a_database_newer_than_the_code_is_refused(database: Database) -> None:
    async with database.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = 'from_the_future'"))
    with pytest.raises(migrate.SchemaTooNew, match="newer whoowns"):
        await migrate.upgrade(database)


async def test_new_workspace_starts_with_the_default_catalogue(database: Database) -> None:
    ws = await workspaces.ensure_workspace(database, "slack", "T1", "Team One")
    loaded = await catalog.load_catalog(database, ws.id)
    assert len(loaded.roles) == 15
    assert loaded.roles[0].name == "Group Manager"
    assert loaded.roles[-1].name == "Scrum Master"
    assert sum(len(r.responsibilities) for r in loaded.roles) == 50
    scientist = loaded.role_named("Data Scientist")
    assert scientist is not None
    drift = next(r for r in scientist.responsibilities if "Drift" in r.text)
    assert "data drift" in drift.keywords
    assert loaded.escalation_chain == ("Scrum Master", "Project Manager", "Project Lead")
    again = await workspaces.ensure_workspace(database, "slack", "T1")
    assert again.id == ws.id
    project = await workspaces.resolve_project(database, ws.id)
    assert project is not None and project.is_default and project.name == "default"


async def test_workspaces_do_not_share_data(database: Database) -> None:
    one = await workspaces.ensure_workspace(database, "slack", "T1")
    two = await workspaces.ensure_workspace(database, "slack", "T2")
    cat_one = await catalog.load_catalog(database, one.id)
    role = cat_one.role_named("Tester")
    assert role is not None
    await catalog.learn_alias(
        database, one.id, "who pokes the api", role_id=role.id, responsibility_id=None
    )
    cat_two = await catalog.load_catalog(database, two.id)
    assert "who pokes the api" not in cat_two.role_named("Tester").aliases  # type: ignore[union-attr]
    # A role id of one workspace cannot be taught through another.
    assert not await catalog.learn_alias(
        database, two.id, "sneaky", role_id=role.id, responsibility_id=None
    )


async def _origin(database: Database) -> tuple[ChangeOrigin, int]:
    ws = await workspaces.ensure_workspace(database, "console", "console")
    project = await workspaces.resolve_project(database, ws.id)
    assert project is not None
    tester = (await catalog.load_catalog(database, ws.id)).role_named("Tester")
    assert tester is not None
    return ChangeOrigin(ws.id, project.id, None, "console", "#general", "test"), tester.id


async def test_one_active_assignment_per_person_role_project(database: Database) -> None:
    origin, tester = await _origin(database)
    await assignments.apply_change(
        database,
        origin,
        RoleChange("assign", tester, start=((PersonRef("alice"), AssignmentKind.PRIMARY),)),
    )
    alice = await people.find_person(database, origin.workspace_id, "alice")
    assert alice is not None
    now = datetime.now(UTC)
    with pytest.raises(IntegrityError):
        async with database.transaction() as session:
            session.add(
                Assignment(
                    project_id=origin.project_id,
                    role_id=tester,
                    person_id=alice.id,
                    kind=AssignmentKind.BACKUP,
                    started_at=now,
                )
            )
    held = await assignments.holders(database, project_of(origin), [tester])
    assert [h.person.user_id for h in held[tester]] == ["alice"]


async def test_changes_keep_history_and_audit(database: Database) -> None:
    origin, tester = await _origin(database)
    first = datetime.now(UTC) - timedelta(days=2)
    await assignments.apply_change(
        database,
        origin,
        RoleChange("assign", tester, start=((PersonRef("alice"), AssignmentKind.PRIMARY),)),
        now=first,
    )
    result = await assignments.apply_change(
        database,
        origin,
        RoleChange(
            "assign",
            tester,
            start=((PersonRef("bob", "Bob"), AssignmentKind.PRIMARY),),
            replace_kind=AssignmentKind.PRIMARY,
        ),
    )
    assert [p.user_id for p, _ in result.ended] == ["alice"]
    assert result.audit_id is not None
    history = await assignments.role_history(database, project_of(origin), tester)
    assert [(h.person.user_id, h.ended_at is None) for h in history] == [
        ("alice", False),
        ("bob", True),
    ]
    past = await assignments.holders(
        database, project_of(origin), [tester], at=first + timedelta(hours=1)
    )
    assert [h.person.user_id for h in past[tester]] == ["alice"]


async def test_cover_lapses_by_itself(database: Database) -> None:
    origin, tester = await _origin(database)
    start = datetime.now(UTC) - timedelta(days=3)
    await assignments.apply_change(
        database,
        origin,
        RoleChange(
            "cover",
            tester,
            start=((PersonRef("erin"), AssignmentKind.COVER),),
            until=start + timedelta(days=1),
        ),
        now=start,
    )
    assert await assignments.holders(database, project_of(origin), [tester]) == {}
    # The lapsed cover does not block covering again.
    again = await assignments.apply_change(
        database,
        origin,
        RoleChange(
            "cover",
            tester,
            start=((PersonRef("erin"), AssignmentKind.COVER),),
            until=datetime.now(UTC) + timedelta(days=1),
        ),
    )
    assert again.changed


async def test_unreachable_database_raises_store_unavailable(tmp_path: object) -> None:
    db = Database("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    with pytest.raises(StoreUnavailable):
        await workspaces.find_workspace(db, "slack", "T1")
    # The hot path, which uses the asyncpg connection directly, says the same.
    with pytest.raises(StoreUnavailable):
        await assignments.holders(db, 1, [1])
    with pytest.raises(StoreUnavailable):
        await events.claim_event(db, "slack", "Ev1")
    assert not await db.ping()
    await db.dispose()
