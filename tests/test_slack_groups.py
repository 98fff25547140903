"""Slack user groups kept equal to a role's holders, end to end: linking an existing @handle or
letting whoowns create one, every change of holder reaching the group through the outbox, and a
clear word to the admin when Slack refuses (scope missing, a plan without user groups). The real
server, the Slack fake, signed requests; the clock-driven part (a cover lapsing) on the
dispatcher with a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from handlers.dispatch import Dispatcher
from handlers.groups import group_pass
from handlers.message import Message, Notification
from handlers.turn import Services
from store import outbox
from store.db import Database
from store.models import OutboxStatus
from tests.fakes.slack import FakeSlack
from tests.helpers import eventually
from tests.test_review import Clock, make_services, say
from tests.test_slack import ADMIN, Server, settings_for, start_server


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(users={"U1": "Alice", "U2": "Bob", "U3": "Carol", ADMIN: "Admin"}) as fake:
        yield fake


@pytest.fixture
async def server(slack: FakeSlack, tmp_path: Path) -> AsyncIterator[Server]:
    running = await start_server(
        settings_for(f"sqlite+aiosqlite:///{tmp_path / 'groups.db'}", slack), slack
    )
    yield running
    await running.runner.cleanup()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def services(database: Database, clock: Clock) -> Services:
    return make_services(database, clock)


@pytest.fixture
def dispatcher(services: Services) -> Dispatcher:
    return Dispatcher(services)


def members(slack: FakeSlack, handle: str) -> list[str] | None:
    found = [g for g in slack.usergroups.values() if g["handle"] == handle]
    return list(found[0]["users"]) if found and not found[0]["date_delete"] else None


async def test_a_linked_group_follows_every_change_of_holder(
    server: Server, slack: FakeSlack
) -> None:
    created = slack._usergroups_create({"name": "Scrum", "handle": "scrum-master"}, None)
    group_id = created["usergroup"]["id"]
    linked = await server.mention(
        f"link Scrum Master to <!subteam^{group_id}|@scrum-master>", user=ADMIN
    )
    assert "Linked Scrum Master to @scrum-master" in str(linked.args.get("text"))
    assert "create" not in str(linked.args.get("text"))  # Slack has it already

    await server.command("assign <@U1> as Scrum Master", user=ADMIN)
    await eventually(lambda: members(slack, "scrum-master") == ["U1"])
    await server.command("hand over Scrum Master to <@U2>", user="U1")
    await eventually(lambda: members(slack, "scrum-master") == ["U2"])
    until = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    await server.command(f"<@U3> covers for <@U2> as Scrum Master until {until}", user="U2")
    await eventually(lambda: members(slack, "scrum-master") == ["U3"])  # in place of U2
    await server.command("remove <@U2> from Scrum Master", user=ADMIN)
    await server.command("remove <@U3> from Scrum Master", user=ADMIN)
    await eventually(lambda: members(slack, "scrum-master") is None)  # nobody: disabled

    listed = await server.command("groups", user="U1")
    assert "@scrum-master: Scrum Master" in str(listed.args.get("text"))
    refused = await server.command("unlink Scrum Master", user="U1")
    assert "Only" in str(refused.args.get("text"))
    unlinked = await server.command("unlink Scrum Master", user=ADMIN)
    assert "Unlinked Scrum Master from @scrum-master" in str(unlinked.args.get("text"))


async def test_whoowns_creates_the_group_once(server: Server, slack: FakeSlack) -> None:
    await server.command("create a group for Data Scientist", user=ADMIN)
    await server.command("assign <@U1> as Data Scientist", user=ADMIN)
    await eventually(lambda: members(slack, "data-scientist") == ["U1"])
    await server.command("add <@U2> as Data Scientist", user=ADMIN)
    await eventually(lambda: members(slack, "data-scientist") == ["U1", "U2"])
    [group] = slack.usergroups.values()  # created once, though two syncs raced to
    assert group["name"] == "Data Scientist"


@pytest.mark.parametrize(
    ("refusal", "explained"),
    [("missing_scope", "usergroups:write"), ("paid_only", "paid Slack plan")],
)
async def test_the_admin_is_told_why_slack_refuses_the_group(
    server: Server, slack: FakeSlack, refusal: str, explained: str
) -> None:
    if refusal == "missing_scope":
        slack.scopes.discard("usergroups:write")
    else:
        slack.paid_plan = False
    await server.command("link Tester to @testers", user=ADMIN)
    await server.command("assign <@U1> as Tester", user=ADMIN)
    told = await eventually(
        lambda: [
            c
            for c in slack.calls_to("chat.postMessage")
            if c.args.get("channel") == f"D{ADMIN}" and "I could not do this" in str(c.args)
        ]
    )
    assert explained in str(told[0].args.get("text")) and "@testers" in str(told[0].args)
    assert not slack.usergroups


async def test_groups_are_for_slack_and_for_managers(dispatcher: Dispatcher) -> None:
    refused = await say(dispatcher, "link Scrum Master to @sm", user="ualice")
    assert refused.private and "Only" in refused.text
    teams = await dispatcher.handle(
        Message(platform="teams", workspace="T", user_id=ADMIN, text="link Scrum Master to @sm")
    )
    assert teams.private and "Slack feature" in teams.text


async def test_a_lapsed_cover_leaves_the_group_in_the_background_pass(
    dispatcher: Dispatcher, services: Services, database: Database, clock: Clock
) -> None:
    await say(dispatcher, "assign @ucarol as Scrum Master")
    await say(dispatcher, "link Scrum Master to @sm")
    await say(dispatcher, "@uerin covers for @ucarol as Scrum Master until 2026-03-04")
    assert await group_pass(services) == 0  # the change queued its own sync already
    assert await synced(database) == [("ucarol",), ("uerin",)]

    clock.advance(days=3)  # the cover's last day is over
    assert await group_pass(services) == 1
    assert await group_pass(services) == 0  # queued once
    assert (await synced(database))[-1] == ("ucarol",)


async def synced(database: Database) -> list[tuple[str, ...]]:
    """The members each queued group sync sets, oldest first."""
    rows = await outbox.list_messages(database, list(OutboxStatus), limit=1000)
    notes = [
        Notification.from_payload(r.recipient, r.recipient_name, r.payload)
        for r in sorted(rows, key=lambda r: r.id)
    ]
    return [n.group.members for n in notes if n.group]
