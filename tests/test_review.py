"""The ownership review and the weekly digest, on SQLite and PostgreSQL, with a clock the tests move.

Messages come as a Slack workspace's would (so the notifications go to the outbox), straight to the
dispatcher; tests/test_slack.py drives the same over HTTP.
"""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.cli import run as cli_run
from bot.settings import Settings
from handlers.dispatch import Dispatcher
from handlers.matching.registry import shipped_registry
from handlers.message import Mention, Message, Notification, Reply
from handlers.ownership import digest_pass, review_pass
from handlers.turn import HandlerConfig, Services
from store import outbox, workspaces
from store.db import Database
from store.models import OutboxStatus

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADMIN = "UADMIN"
TEAM = "T1"


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


def make_services(database: Database, clock: Clock) -> Services:
    return Services(
        db=database,
        matchers=shipped_registry(database),
        config=HandlerConfig(admins=frozenset({ADMIN})),
        clock=clock,
    )


@pytest.fixture
def services(database: Database, clock: Clock) -> Services:
    return make_services(database, clock)


@pytest.fixture
def dispatcher(services: Services) -> Dispatcher:
    return Dispatcher(services)


async def say(
    dispatcher: Dispatcher, text: str, user: str = ADMIN, channel: str | None = "C1"
) -> Reply:
    mentions = tuple(
        Mention(word[1:], word[1:].title()) for word in text.split() if word.startswith("@")
    )
    message = Message(
        platform="slack",
        workspace=TEAM,
        user_id=user,
        user_name=user.title(),
        text=text,
        channel=channel,
        mentions=mentions,
    )
    return await dispatcher.handle(message)


async def setup_team(dispatcher: Dispatcher) -> None:
    for command in (
        "assign @ulead as Team Lead",
        "assign @ucarol as Scrum Master",
        "assign @ualice as Data Scientist",
        "add @ualice as backup Tester",
    ):
        reply = await say(dispatcher, command)
        assert reply.facts.get("started"), (command, reply.text)


async def queued(database: Database) -> list[Notification]:
    """The review's and digest's notifications in the outbox (assignments' own left out)."""
    rows = await outbox.list_messages(database, list(OutboxStatus), limit=1000)
    notes = [Notification.from_payload(r.recipient, r.recipient_name, r.payload) for r in rows]
    return [
        n for n in notes if "still yours" in n.text or "not confirmed" in n.text or n.to_channel
    ]


async def test_each_holder_is_asked_once_when_the_review_is_due_and_still_mine_confirms(
    dispatcher: Dispatcher, services: Services, database: Database, clock: Clock
) -> None:
    await setup_team(dispatcher)
    assert await review_pass(services) == []  # nothing is 12 weeks old yet

    clock.advance(weeks=12, days=1)
    [(review, notes)] = await review_pass(services)
    assert {h.role for h in review.asked} == {
        "Team Lead",
        "Scrum Master",
        "Data Scientist",
        "Tester",
    }
    by_person = {n.user_id: n for n in notes}
    assert set(by_person) == {"ulead", "ucarol", "ualice"}  # one message per holder
    alice = by_person["ualice"]
    assert "Data Scientist" in alice.text and "Tester (backup)" in alice.text
    assert [a.command for a in alice.actions] == [
        "still mine",
        "hand over Data Scientist",
        "hand over Tester",
    ]
    handover = alice.actions[1]  # opens the hand-over form, filled in, where there are forms
    assert handover.form == "handover"
    assert dict(handover.values) == {"role": "Data Scientist", "project": "default"}
    [kept] = [n for n in await queued(database) if n.user_id == "ualice"]
    assert kept.actions == alice.actions  # the form survives the outbox
    assert len(await queued(database)) == 3  # written to the outbox with the claim

    assert await review_pass(services) == []  # claimed: not again within the hour
    clock.advance(hours=2)
    assert await review_pass(services) == []  # asked already: not asked twice

    confirmed = await say(dispatcher, "still mine", user="ucarol", channel="DCAROL")
    assert confirmed.facts["confirmed"] == ["Scrum Master"] and "12 weeks" in confirmed.text
    whom = await say(dispatcher, "hand over Tester", user="ualice", channel="DALICE")
    assert "hand over Tester to @someone" in whom.text

    clock.advance(days=8)
    [(review, notes)] = await review_pass(services)
    assert review.asked == ()
    assert {(h.person.user_id, h.role) for h in review.overdue} == {
        ("ulead", "Team Lead"),
        ("ualice", "Data Scientist"),
        ("ualice", "Tester"),
    }
    [report] = notes
    assert report.user_id == "ulead" and "not confirmed within 7 days" in report.text
    assert "Scrum Master" not in report.text

    stale = await say(dispatcher, "stale roles", user="ucarol")
    assert sorted(stale.facts["stale"]) == ["Data Scientist", "Team Lead", "Tester"]
    mine = await say(dispatcher, "my roles", user="ualice")
    assert "Data Scientist — not confirmed in the review" in mine.text
    assert [a.label for a in mine.actions] == [
        "Still mine",
        "Hand over Data Scientist",
        "Set cover for Data Scientist",
        "Hand over Tester",
        "Set cover for Tester",
    ]
    carol = await say(dispatcher, "my roles", user="ucarol")
    assert "not confirmed" not in carol.text and carol.actions[0].label == "Hand over Scrum Master"
    typed = await say(dispatcher, carol.actions[1].command, user="ucarol")  # no forms: what to type
    assert "@someone covers Scrum Master until <day>" in typed.text
    clock.advance(hours=2)
    assert await review_pass(services) == []  # reported once

    await say(dispatcher, "still mine Data Scientist", user="ualice")
    assert sorted((await say(dispatcher, "stale roles")).facts["stale"]) == ["Team Lead", "Tester"]
    clock.advance(weeks=12, hours=1)
    [(review, _)] = await review_pass(services)
    assert {(h.person.user_id, h.role) for h in review.asked} == {
        ("ucarol", "Scrum Master"),
        ("ualice", "Data Scientist"),
    }  # the confirmed ones come round again; the unanswered stay asked


async def test_two_replicas_review_a_workspace_once(
    dispatcher: Dispatcher, database: Database, clock: Clock
) -> None:
    await setup_team(dispatcher)
    clock.advance(weeks=13)
    replicas = [make_services(database, clock) for _ in range(3)]
    passes = await asyncio.gather(*(review_pass(s) for s in replicas))
    rounds = [r for done in passes for r, _ in done]
    assert len(rounds) == 1 and len(rounds[0].asked) == 4
    assert len(await queued(database)) == 3


async def test_review_period_set_by_managers_and_off(
    dispatcher: Dispatcher, services: Services, clock: Clock
) -> None:
    await setup_team(dispatcher)
    refused = await say(dispatcher, "review roles every 4 weeks", user="ualice")
    assert refused.private and "Only" in refused.text
    assert (await say(dispatcher, "review roles every 4 weeks", user="ulead")).facts["weeks"] == 4
    clock.advance(weeks=4, days=1)
    [(review, _)] = await review_pass(services)
    assert len(review.asked) == 4

    await say(dispatcher, "stop reviewing roles")
    await say(dispatcher, "assign @udan as Data Analyst")
    clock.advance(weeks=30)
    assert all(not r.asked for r, _ in await review_pass(services))


async def test_the_weekly_digest_goes_to_the_chosen_channel_and_never_empty(
    dispatcher: Dispatcher, services: Services, database: Database, clock: Clock
) -> None:
    await setup_team(dispatcher)
    refused = await say(dispatcher, "post the weekly digest here", user="ualice", channel="C9")
    assert refused.private and "Only" in refused.text
    assert await digest_pass(services) == []  # no channel chosen: no digest

    chosen = await say(dispatcher, "post the weekly digest here", channel="CTEAM")
    assert chosen.facts["digest_channel"] == "CTEAM"
    await say(dispatcher, "escalate: blocked on GPU quota", user="ualice")
    await say(dispatcher, "@uerin covers Scrum Master until 2026-03-04", user="ucarol")
    clock.advance(days=3)
    [(_, [post])] = await digest_pass(services)
    assert post.to_channel and post.user_id == "CTEAM"
    text = post.text
    assert "“blocked on GPU quota” for the Scrum Master" in text and "3 days old" in text
    assert "Changes of holders (5)" in text  # four assignments and the cover
    assert "Covers that lapsed" in text and "Scrum Master" in text

    clock.advance(days=2)
    assert await digest_pass(services) == []  # one a week
    await say(dispatcher, "resolve #1 quota raised")
    clock.advance(days=6)
    assert await digest_pass(services) == []  # a quiet week (a resolve changes no holder)
    assert len([n for n in await queued(database) if n.to_channel]) == 1

    await say(dispatcher, "stop the weekly digest")
    await say(dispatcher, "assign @udan as Data Analyst")
    clock.advance(days=8)
    assert await digest_pass(services) == []


async def test_whoowns_review_and_digest_run_one_pass(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")

    async def whoowns(*argv: str) -> str:
        out = io.StringIO()
        assert await cli_run(build_parser().parse_args(argv), settings, out) == 0
        return out.getvalue()

    await whoowns("db", "upgrade")
    assert "0 workspaces reviewed" in await whoowns("review")
    assert "0 digests posted" in await whoowns("digest")
    database = Database(settings.database_url)
    try:
        found = await workspaces.find_workspace(database, "console", "console")
        assert found is None or found.id > 0
    finally:
        await database.dispose()
