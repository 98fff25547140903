"""Escalations, reassignment, permissions, history and projects through the console adapter's
messages, on SQLite and PostgreSQL, with a clock the tests move."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.console import ChatSession, console_message
from handlers.dispatch import Dispatcher
from handlers.matching.registry import shipped_registry
from handlers.message import Reply
from handlers.reminders import send_due_reminders
from handlers.turn import HandlerConfig, Services
from store import audit, workspaces
from store.db import Database
from store.records import AuditRecord
from tests.helpers import say

START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # a Thursday


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def services(database: Database, clock: Clock) -> Services:
    config = HandlerConfig(admins=frozenset({"U_ADMIN"}), remind_after=timedelta(minutes=60))
    return Services(
        db=database,
        matchers=shipped_registry(database),
        config=config,
        clock=clock,
    )


@pytest.fixture
def dispatcher(services: Services) -> Dispatcher:
    return Dispatcher(services)


def notified(reply: Reply) -> list[str]:
    return [n.user_id for n in reply.notifications]


async def audit_log(database: Database) -> list[AuditRecord]:
    ws = await workspaces.find_workspace(database, "console", "console")
    assert ws is not None
    return await audit.audit_entries(database, ws.id, limit=500)


async def setup_team(dispatcher: Dispatcher) -> None:
    """lead holds Team Lead; carol the Scrum Master; alice the Data Scientist."""
    for command in (
        "assign @lead as Team Lead",
        "assign @carol as Scrum Master",
        "assign @alice as Data Scientist",
    ):
        reply = await say(dispatcher, command)
        assert reply.facts.get("started"), (command, reply.text)


# --- reassigning roles -------------------------------------------------------------------------


async def test_assign_replaces_primaries_and_audits_who_what_where_why(
    dispatcher: Dispatcher, database: Database
) -> None:
    await setup_team(dispatcher)
    reply = await say(dispatcher, "@bob is the new scrum master because carol moved team")
    assert reply.intent == "assign" and reply.role == "Scrum Master"
    assert reply.facts["started"] == [{"user": "bob", "kind": "primary"}]
    assert reply.facts["ended"] == [{"user": "carol", "kind": "primary"}]
    assert set(notified(reply)) == {"bob", "carol"}
    who = await say(dispatcher, "who is the scrum master?")
    assert [h.user_id for h in who.holders] == ["bob"]
    entry = (await audit_log(database))[0]
    assert entry.action == "assign" and entry.reason == "carol moved team"
    assert entry.platform == "console" and entry.actor is not None
    assert "bob" in entry.summary


async def test_add_backup_remove_and_fuzzy_role_names(dispatcher: Dispatcher) -> None:
    await setup_team(dispatcher)
    added = await say(dispatcher, "add @carol as backup Tester")
    assert added.facts["started"] == [{"user": "carol", "kind": "backup"}]
    again = await say(dispatcher, "add @carol as backup tester")
    assert "nothing changed" in again.text
    typo = await say(dispatcher, "assign @dave as scrum mastr")
    assert typo.role == "Scrum Master"
    removed = await say(dispatcher, "remove @alice from Data Scientist")
    assert removed.facts["ended"] == [{"user": "alice", "kind": "primary"}]
    who = await say(dispatcher, "who handles data drift?")
    assert who.holders == []
    absent = await say(dispatcher, "remove @alice from Data Scientist")
    assert "does not hold" in absent.text


async def test_an_ambiguous_role_is_asked_back_never_guessed(
    dispatcher: Dispatcher, database: Database
) -> None:
    await say(dispatcher, "help")
    before = len(await audit_log(database))
    reply = await say(dispatcher, "assign @bob as data")
    assert reply.outcome == "clarify" and reply.private
    assert {c.role for c in reply.choices} == {"Data Engineer", "Data Scientist", "Data Analyst"}
    assert len(await audit_log(database)) == before
    session = ChatSession()
    session.remember(reply)
    picked = session.message("2")
    assert picked.text == "assign @bob as Data Scientist"
    unknown = await say(dispatcher, "assign @bob as astronaut")
    assert unknown.private and "don't know a role" in unknown.text


async def test_refused_changes_say_who_can_and_change_nothing(
    dispatcher: Dispatcher, database: Database
) -> None:
    await setup_team(dispatcher)
    before = await audit_log(database)
    for command in (
        "assign @mallory as Scrum Master",
        "remove @alice from Data Scientist",
        "hand over Data Scientist to @mallory",
        "@mallory covers Data Scientist until 2026-12-05",
        "create project secret",
    ):
        reply = await say(dispatcher, command, user="mallory")
        assert reply.private and reply.outcome == "unknown", command
    refused = await say(dispatcher, "assign @mallory as Scrum Master", user="mallory")
    assert "Team Lead" in refused.text and "lead" in refused.text  # names who can, and who that is
    assert await audit_log(database) == before
    who = await say(dispatcher, "who is the scrum master")
    assert [h.user_id for h in who.holders] == ["carol"]


async def test_managing_roles_may_assign(dispatcher: Dispatcher) -> None:
    await setup_team(dispatcher)
    reply = await say(dispatcher, "assign @erin as Tester", user="lead")
    assert reply.facts["started"] == [{"user": "erin", "kind": "primary"}]
    admin = await say(dispatcher, "assign @frank as Data Analyst", user="U_ADMIN")
    assert admin.facts["started"] == [{"user": "frank", "kind": "primary"}]


async def test_handover_by_a_holder(dispatcher: Dispatcher) -> None:
    await setup_team(dispatcher)
    reply = await say(dispatcher, "hand over Data Scientist to @dave", user="alice")
    assert reply.facts["started"] == [{"user": "dave", "kind": "primary"}]
    assert reply.facts["ended"] == [{"user": "alice", "kind": "primary"}]
    assert notified(reply) == ["dave"]
    refused = await say(dispatcher, "hand over Data Scientist to @eve", user="alice")
    assert refused.private and "don't hold" in refused.text


async def test_cover_lapses_by_itself(dispatcher: Dispatcher, clock: Clock) -> None:
    await setup_team(dispatcher)
    reply = await say(dispatcher, "@erin covers Scrum Master until 2026-11-28", user="carol")
    assert reply.facts["started"] == [{"user": "erin", "kind": "cover"}]
    assert "until Sat 28 Nov 2026" in reply.text
    who = await say(dispatcher, "who is the scrum master?")
    assert [(h.user_id, h.kind) for h in who.holders] == [("erin", "cover"), ("carol", "primary")]
    assert who.holders[0].covers_for == "carol"
    clock.advance(days=2, hours=15)  # Saturday 28 Nov is over
    after = await say(dispatcher, "who is the scrum master?")
    assert [h.user_id for h in after.holders] == ["carol"]
    again = await say(dispatcher, "@erin covers Scrum Master until Tuesday", user="carol")
    assert again.facts["started"] == [{"user": "erin", "kind": "cover"}]


async def test_away_until_friday_covers_every_role_held(dispatcher: Dispatcher) -> None:
    await setup_team(dispatcher)
    await say(dispatcher, "add @carol as backup Data Scientist")
    reply = await say(dispatcher, "I'm away until Friday, @erin covers", user="carol")
    assert reply.facts["roles"] == ["Data Scientist", "Scrum Master"]
    assert "until Fri 27 Nov 2026" in reply.text
    nobody = await say(dispatcher, "I'm away until Friday, @erin covers", user="zoe")
    assert nobody.private and "hold no role" in nobody.text
    past = await say(dispatcher, "@erin covers Scrum Master until 2026-01-01", user="carol")
    assert past.private and "has passed" in past.text


async def test_two_admins_reassigning_at_once_leave_one_state_and_two_audit_entries(
    dispatcher: Dispatcher, database: Database
) -> None:
    await setup_team(dispatcher)
    before = len(await audit_log(database))
    first, second = await asyncio.gather(
        say(dispatcher, "assign @bob as Scrum Master"),
        say(dispatcher, "assign @dave as Scrum Master"),
    )
    assert first.facts.get("started") and second.facts.get("started")
    who = await say(dispatcher, "who is the scrum master?")
    assert len(who.holders) == 1 and who.holders[0].user_id in {"bob", "dave"}
    entries = await audit_log(database)
    assert len(entries) == before + 2
    assert {e.action for e in entries[:2]} == {"assign"}


# --- escalations -------------------------------------------------------------------------------


async def test_escalate_notifies_the_scrum_master_and_ack_resolve_tell_the_raiser(
    dispatcher: Dispatcher,
) -> None:
    await setup_team(dispatcher)
    raised = await say(dispatcher, "escalate: blocked on GPU quota", user="dave")
    assert raised.intent == "escalate" and raised.facts["escalation"] == 1
    assert notified(raised) == ["carol"]
    note = raised.notifications[0]
    assert "blocked on GPU quota" in note.text and "dave" in note.text and "ack #1" in note.text
    assert [a.command for a in note.actions] == ["ack #1", "resolve #1"]

    refused = await say(dispatcher, "ack #1", user="mallory")
    assert refused.private and "Scrum Master" in refused.text
    acked = await say(dispatcher, "ack #1", user="carol")
    assert acked.facts["status"] == "acknowledged" and notified(acked) == ["dave"]
    resolved = await say(dispatcher, "resolve #1 quota raised to 8 GPUs", user="carol")
    assert resolved.facts["status"] == "resolved"
    assert "quota raised to 8 GPUs" in resolved.notifications[0].text
    twice = await say(dispatcher, "resolve #1", user="carol")
    assert "resolved already" in twice.text
    reopened = await say(dispatcher, "reopen #1", user="dave")
    assert reopened.facts["status"] == "open"
    missing = await say(dispatcher, "ack #99", user="carol")
    assert "no escalation #99" in missing.text


async def test_other_forms_of_raising_and_the_named_role(dispatcher: Dispatcher) -> None:
    await setup_team(dispatcher)
    await say(dispatcher, "assign @pm as Project Manager")
    blocker = await say(dispatcher, "blocker: no access to the feature store", user="dave")
    assert blocker.facts["escalation"] == 1
    blocked = await say(dispatcher, "I'm blocked on the VPN to the on-prem database", user="dave")
    assert blocked.facts["escalation"] == 2 and notified(blocked) == ["carol"]
    named = await say(
        dispatcher, "escalate to the project manager: vendor contract delayed", user="dave"
    )
    assert named.facts["target"] == "Project Manager" and notified(named) == ["pm"]


async def test_nobody_holding_the_scrum_master_climbs_the_chain(dispatcher: Dispatcher) -> None:
    await say(dispatcher, "assign @pl as Project Lead")
    reply = await say(dispatcher, "escalate: blocked on GPU quota", user="dave")
    assert reply.facts["notified_role"] == "Project Lead" and notified(reply) == ["pl"]
    assert "Nobody holds Scrum Master, Project Manager" in reply.text
    assert "went up to the Project Lead" in reply.text
    nobody = await say(dispatcher, "escalate to the tester: flaky suite", user="dave")
    assert nobody.facts["notified_role"] == "Project Lead"


async def test_the_cover_is_notified_instead_of_the_person_away(dispatcher: Dispatcher) -> None:
    await setup_team(dispatcher)
    await say(dispatcher, "I'm away until Friday, @erin covers", user="carol")
    reply = await say(dispatcher, "escalate: blocked on GPU quota", user="dave")
    assert notified(reply) == ["erin"]
    acked = await say(dispatcher, "ack #1", user="erin")
    assert acked.facts["status"] == "acknowledged"


async def test_blockers_and_my_escalations(dispatcher: Dispatcher) -> None:
    await setup_team(dispatcher)
    await say(dispatcher, "escalate: blocked on GPU quota", user="dave")
    await say(dispatcher, "escalate: no labelled data", user="alice")
    await say(dispatcher, "resolve #2 found some", user="alice")
    listed = await say(dispatcher, "open escalations", user="zoe")
    assert listed.facts["escalations"] == [1] and "blocked on GPU quota" in listed.text
    mine = await say(dispatcher, "my escalations", user="dave")
    assert mine.facts["escalations"] == [1] and "Raised by you" in mine.text
    waiting = await say(dispatcher, "my escalations", user="carol")
    assert waiting.facts["escalations"] == [1] and "Waiting on a role you hold" in waiting.text
    none = await say(dispatcher, "my escalations", user="zoe")
    assert none.facts["escalations"] == []


async def test_escalation_numbers_belong_to_their_workspace(dispatcher: Dispatcher) -> None:
    from handlers.message import Message

    await setup_team(dispatcher)
    await say(dispatcher, "escalate: secret blocker", user="dave")
    outsider = await dispatcher.handle(
        Message(platform="slack", workspace="T_OTHER", user_id="U1", text="resolve #1 pwned")
    )
    assert outsider.private and "no escalation #1" in outsider.text
    listed = await dispatcher.handle(
        Message(platform="slack", workspace="T_OTHER", user_id="U1", text="blockers")
    )
    assert "secret" not in listed.text


async def test_reminders_resend_and_climb_the_chain(
    dispatcher: Dispatcher, services: Services, clock: Clock
) -> None:
    await setup_team(dispatcher)
    await say(dispatcher, "assign @pm as Project Manager")
    await say(dispatcher, "escalate: blocked on GPU quota", user="dave")
    await say(dispatcher, "escalate: acknowledged one", user="dave")
    await say(dispatcher, "ack #2", user="carol")
    assert await send_due_reminders(services) == []
    clock.advance(minutes=61)
    sent = await send_due_reminders(services)
    assert [(e.number, e.current_role) for e, _ in sent] == [(1, "Project Manager")]
    assert [n.user_id for n in sent[0][1]] == ["pm"]
    assert "Reminder" in sent[0][1][0].text
    assert await send_due_reminders(services) == []  # not due again yet
    clock.advance(minutes=61)
    sent = await send_due_reminders(services)
    assert [(e.number, e.current_role) for e, _ in sent] == [(1, "Project Lead")]
    assert sent[0][1] == []  # nobody holds the Project Lead: still recorded, nobody to tell
    acked = await say(dispatcher, "ack #1", user="pm")  # a role it climbed through may act
    assert acked.facts["status"] == "acknowledged"
    clock.advance(minutes=61)
    assert await send_due_reminders(services) == []


async def test_reminders_are_claimed_once_by_concurrent_workers(
    backend: str, dispatcher: Dispatcher, services: Services, clock: Clock
) -> None:
    await setup_team(dispatcher)
    for i in range(12):
        await say(dispatcher, f"escalate: blocker number {i}", user="dave")
    clock.advance(minutes=61)
    other = Services(
        db=Database(services.db.url) if backend == "sqlite" else services.db,
        matchers=shipped_registry(services.db),
        config=services.config,
        clock=clock,
    )
    results = await asyncio.gather(*(send_due_reminders(s) for s in (services, other, services)))
    numbers = [e.number for result in results for e, _ in result]
    assert sorted(numbers) == list(range(1, 13))
    if other.db is not services.db:
        await other.db.dispose()


# --- history -----------------------------------------------------------------------------------


async def test_history_questions(dispatcher: Dispatcher, clock: Clock) -> None:
    await setup_team(dispatcher)  # alice is the Data Scientist from Thu 26 Nov
    clock.advance(days=10)
    await say(dispatcher, "assign @dave as Data Scientist because alice went on leave")
    clock.advance(days=30)

    history = await say(dispatcher, "history of data scientist")
    assert history.intent == "history"
    assert "alice: Thu 26 Nov 2026 – Sun 6 Dec 2026" in history.text
    assert "dave: since Sun 6 Dec 2026" in history.text
    assert "because alice went on leave" in history.text

    was = await say(dispatcher, "who was the data scientist on 2026-11-30")
    assert "alice" in was.text and "dave" not in was.text
    before = await say(dispatcher, "who was the data scientist on 2026-11-01")
    assert "Nobody held" in before.text

    handled = await say(dispatcher, "who handled data drift last month")
    assert "“Manage Data Drift” (Data Scientist) last month" in handled.text
    assert "alice" in handled.text and "dave" in handled.text

    changed = await say(dispatcher, "what changed this week")
    assert "Nothing changed" in changed.text
    changed = await say(dispatcher, "what changed last month")
    assert changed.facts["changes"] == 1 and "assigned dave" in changed.text
    november = await say(dispatcher, "what changed in November 2026")
    assert november.facts["changes"] == 3


# --- projects and channels ---------------------------------------------------------------------


async def test_projects_and_linked_channels(dispatcher: Dispatcher) -> None:
    created = await say(dispatcher, "create project fraud-detection")
    assert created.facts["project"] == "fraud-detection"
    await say(dispatcher, "assign @dave as Data Scientist", project="fraud-detection")
    await say(dispatcher, "assign @alice as Data Scientist")

    no_channel = await say(dispatcher, "link this channel to project fraud-detection")
    assert no_channel.private and "--channel" in no_channel.text
    linked = await dispatcher.handle(
        console_message("link this channel to project fraud-detection", channel="ml-fraud")
    )
    assert linked.facts == {"project": "fraud-detection", "channel": "ml-fraud"}
    in_channel = await dispatcher.handle(
        console_message("who handles data drift?", user="zoe", channel="ml-fraud")
    )
    assert [h.user_id for h in in_channel.holders] == ["dave"]
    elsewhere = await dispatcher.handle(
        console_message("who handles data drift?", user="zoe", channel="random")
    )
    assert [h.user_id for h in elsewhere.holders] == ["alice"]

    listed = await say(dispatcher, "projects", user="zoe")
    assert listed.facts["projects"] == ["default", "fraud-detection"]
    assert "channels ml-fraud" in listed.text
    unknown = await dispatcher.handle(
        console_message("link this channel to project nope", channel="x")
    )
    assert unknown.private and "no project called" in unknown.text


async def test_a_role_asked_for_a_project_by_its_name_is_answered(dispatcher: Dispatcher) -> None:
    """The matcher does not answer "the PM for atlas" outright (it reads like "the PM of
    chatgpt"); the workspace's own project names place the question here."""
    await say(dispatcher, "assign @pam as Project Manager")
    before = await say(dispatcher, "who is the project manager for atlas")
    assert before.outcome == "clarify"
    await say(dispatcher, "create project atlas")
    unheld = await say(dispatcher, "who is the project manager for atlas")
    assert unheld.outcome == "answer" and unheld.role == "Project Manager"
    assert unheld.holders == [] and "atlas" in unheld.text  # answered for atlas, not the default
    await say(dispatcher, "assign @max as Project Manager", project="atlas")
    after = await say(dispatcher, "who is the project manager for atlas")
    assert [h.user_id for h in after.holders] == ["max"]
    elsewhere = await say(dispatcher, "who is the project manager of chatgpt")
    assert elsewhere.outcome != "answer"


async def test_a_delivery_is_handled_once_even_when_it_arrives_twice_at_once(
    dispatcher: Dispatcher, database: Database
) -> None:
    """A question is answered while its event is claimed; a command waits for the claim. Either
    way a retry, even one racing the first delivery, gets no second reply or change."""
    question = replace(console_message("who handles data drift?"), event_id="E1")
    first, again = await asyncio.gather(
        dispatcher.handle_delivery(question), dispatcher.handle_delivery(question)
    )
    assert [r is None for r in (first, again)].count(True) == 1
    assert await dispatcher.handle_delivery(question) is None

    before = await audit_log(database)
    command = replace(console_message("assign @erin as Tester"), event_id="E2")
    replies = await asyncio.gather(*(dispatcher.handle_delivery(command) for _ in range(3)))
    assert sum(r is not None for r in replies) == 1
    assert len(await audit_log(database)) == len(before) + 1
    plain = replace(console_message("who is the tester?"), event_id=None)
    assert await dispatcher.handle_delivery(plain) is not None
    assert await dispatcher.handle_delivery(plain) is not None  # nothing to de-duplicate by
