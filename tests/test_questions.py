"""The question intents through the dispatcher, as the console adapter sends them, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from handlers.dispatch import Dispatcher
from handlers.matching.registry import shipped_registry
from handlers.message import Choice, Message
from handlers.turn import Services
from handlers.wording import STORE_DOWN
from seed.catalogue import default_catalogue
from seed.transfer import AssignmentSpec, TeamFile
from store import workspaces
from store.db import Database
from store.transfer import import_team
from tests.helpers import say


@pytest.fixture
async def team(database: Database) -> None:
    """alice is the Data Scientist, bob her backup, erin covers the Scrum Master for a week."""
    ws = await workspaces.ensure_workspace(database, "console", "console", "Console")
    until = datetime.now(UTC) + timedelta(days=7)
    await import_team(
        database,
        ws.id,
        TeamFile(
            default_catalogue(),
            (
                AssignmentSpec("default", "Data Scientist", "alice", "Alice"),
                AssignmentSpec("default", "Data Scientist", "bob", "Bob", kind="backup"),
                AssignmentSpec("default", "Scrum Master", "carol", "Carol"),
                AssignmentSpec(
                    "default", "Scrum Master", "erin", "Erin", kind="cover", until=until
                ),
                AssignmentSpec("fraud-detection", "Data Scientist", "dave", "Dave"),
            ),
        ),
        actor_id=None,
        platform="console",
    )


@pytest.mark.usefixtures("team")
async def test_who_handles_data_drift_names_role_and_holders(dispatcher: Dispatcher) -> None:
    reply = await say(dispatcher, "who handles data drift?")
    data = reply.as_json()
    assert data["intent"] == "who_owns"
    assert data["outcome"] == "answer"
    assert data["role"] == "Data Scientist"
    assert data["responsibility"] == "Manage Data Drift"
    assert [(h["user"], h["kind"]) for h in data["holders"]] == [
        ("alice", "primary"),
        ("bob", "backup"),
    ]
    assert "Alice" in reply.text and "Bob (backup)" in reply.text
    assert set(data) >= {
        "text",
        "intent",
        "outcome",
        "role",
        "responsibility",
        "score",
        "candidates",
        "holders",
        "notifications",
        "reply",
    }


@pytest.mark.usefixtures("team")
async def test_projects_have_their_own_holders(dispatcher: Dispatcher) -> None:
    reply = await say(dispatcher, "who handles data drift?", project="fraud-detection")
    assert [h.user_id for h in reply.holders] == ["dave"]
    missing = await say(dispatcher, "who handles data drift?", project="no-such-project")
    assert missing.private and "no project called" in missing.text


@pytest.mark.usefixtures("team")
async def test_role_question_marks_cover_first(dispatcher: Dispatcher) -> None:
    reply = await say(dispatcher, "who is the scrum master?")
    assert reply.role == "Scrum Master" and reply.responsibility is None
    assert [(h.user_id, h.kind) for h in reply.holders] == [("erin", "cover"), ("carol", "primary")]
    assert "covering until" in reply.text


async def test_nobody_holds_says_who_can_assign(dispatcher: Dispatcher) -> None:
    reply = await say(dispatcher, "who owns terraform?")
    assert reply.role == "DevOps Engineer"
    assert reply.holders == []
    assert "Nobody holds DevOps Engineer" in reply.text
    assert "Team Lead" in reply.text and "assign @someone as DevOps Engineer" in reply.text


@pytest.mark.usefixtures("team")
async def test_what_does_a_role_do(dispatcher: Dispatcher) -> None:
    reply = await say(dispatcher, "what does the data scientist do?")
    assert reply.intent == "role_info" and reply.role == "Data Scientist"
    assert "Manage Data Drift" in reply.text and "Alice" in reply.text
    typo = await say(dispatcher, "what does the scrum mastr do")
    assert typo.role == "Scrum Master"
    vague = await say(dispatcher, "what does data do?")
    assert vague.outcome == "clarify" and {c.role for c in vague.choices} >= {
        "Data Engineer",
        "Data Scientist",
    }
    unknown = await say(dispatcher, "what does the astronaut do?")
    assert unknown.outcome == "unknown" and "don't know a role" in unknown.text


@pytest.mark.usefixtures("team")
async def test_what_does_a_person_do_and_my_roles(dispatcher: Dispatcher) -> None:
    reply = await say(dispatcher, "what does @bob do?")
    assert reply.intent == "person_roles"
    assert "Data Scientist (backup)" in reply.text
    mine = await say(dispatcher, "my roles", user="erin")
    assert mine.text.startswith("You hold") and "Scrum Master (covering" in mine.text
    nobody = await say(dispatcher, "what does @zed do?")
    assert "holds no role" in nobody.text


@pytest.mark.usefixtures("team")
async def test_overview_lists_every_role(dispatcher: Dispatcher) -> None:
    reply = await say(dispatcher, "roles")
    assert reply.intent == "overview"
    assert len(reply.facts["roles"]) == 15
    assert "• Data Scientist: Alice and Bob (backup)" in reply.text
    assert "13 of 15 roles have nobody yet." in reply.text


async def test_help(dispatcher: Dispatcher) -> None:
    reply = await say(dispatcher, "help")
    assert reply.intent == "help" and "who handles data drift?" in reply.text


async def test_unknown_question(dispatcher: Dispatcher) -> None:
    reply = await say(dispatcher, "tell me a joke")
    assert reply.outcome == "unknown" and reply.role is None
    assert "don't know who handles that" in reply.text


async def test_a_picked_choice_is_learned_for_the_workspace(dispatcher: Dispatcher) -> None:
    question = "who handles metrics"
    first = await say(dispatcher, question)
    assert first.outcome == "clarify" and first.question == question
    picked = next(c for c in first.choices if c.role == "MLOps Engineer")
    chosen = await say(
        dispatcher, question, choice=Choice(picked.role_id, picked.responsibility_id, question)
    )
    assert chosen.outcome == "answer" and chosen.role == "MLOps Engineer"
    again = await say(dispatcher, "who handles metrics?", user="someone-else")
    assert again.outcome == "answer" and again.role == "MLOps Engineer"
    # Other workspaces did not learn it.
    other = await dispatcher.handle(
        Message(platform="slack", workspace="T_OTHER", user_id="U1", text=question)
    )
    assert other.outcome == "clarify"


async def test_store_outage_gets_a_clear_reply() -> None:
    db = Database("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    dispatcher = Dispatcher(Services(db=db, matchers=shipped_registry(db)))
    reply = await say(dispatcher, "who handles data drift?")
    assert reply.text == STORE_DOWN and reply.private
    await db.dispose()
