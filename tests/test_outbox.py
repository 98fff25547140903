"""The outbox: a notification is written with its change and arrives once, whatever fails between.

Each fault runs the real server (and, for `kill -9`, a replica process) against the local Slack
fake over HTTP. "Arrived once" is judged on what a user would see: the messages the fake holds,
each carrying its outbox row's id as metadata.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.cli import build_parser
from bot.cli import run as cli_run
from bot.delivery import DeliveryPolicy
from bot.server import create_app
from bot.settings import Settings
from bot.slack.adapter import OUTBOX_EVENT, SlackConfig
from handlers.dispatch import Dispatcher
from handlers.message import Mention, Message
from store import escalations, outbox, workspaces
from store.audit import ChangeOrigin
from store.db import Database
from store.escalations import NewEscalation
from store.models import OutboxStatus
from tests.conftest import proxied_postgres
from tests.fakes.slack import (
    FORM,
    JSON,
    FakeSlack,
    app_home_opened,
    command_body,
    event_body,
    home_click_body,
    post_signed,
)
from tests.helpers import eventually

SECRET = "outbox-secret"
ADMIN = "UADMIN"
FAST = DeliveryPolicy(
    lease=timedelta(seconds=3),
    first_backoff=timedelta(milliseconds=200),
    max_backoff=timedelta(seconds=1),
    poll=0.1,
)

JsonDict = dict[str, Any]


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(users={"U1": "Alice", "U2": "Bob", "U3": "Carol", ADMIN: "Admin"}) as fake:
        yield fake


def settings_for(slack: FakeSlack, database_url: str, schema: str | None = None) -> Settings:
    return Settings(
        database_url=database_url,
        database_schema=schema,
        admins=frozenset({ADMIN}),
        slack=SlackConfig(SECRET, "xoxb-test", None, slack.api_url, timeout=1),
        delivery=FAST,
    )


async def start(settings: Settings) -> tuple[str, web.AppRunner]:
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}", runner


async def command(url: str, slack: FakeSlack, text: str, user: str = ADMIN) -> None:
    """`/whoowns <text>`: answered through its response_url, so no chat.postMessage of its own."""
    body = command_body(text, user_id=user, response_url=slack.response_url(uuid.uuid4().hex))
    status, _ = await post_signed(f"{url}/slack/events", body, secret=SECRET, content_type=FORM)
    assert status == 200


def seen(slack: FakeSlack, user: str, containing: str) -> list[JsonDict]:
    """The notifications `user` sees in their DM with the bot that contain `containing`."""
    return [
        m
        for (channel, _), m in slack.messages.items()
        if channel == f"D{user}" and containing in str(m.get("text", ""))
    ]


def copies(slack: FakeSlack) -> Counter[int]:
    """How many visible messages each outbox row produced."""
    return Counter(
        int(m["metadata"]["event_payload"]["outbox_id"])
        for m in slack.messages.values()
        if (m.get("metadata") or {}).get("event_type") == OUTBOX_EVENT
    )


async def rows(url: str, schema: str | None = None) -> list[outbox.OutboxRecord]:
    db = Database(url, schema=schema)
    try:
        return await outbox.list_messages(db, list(OutboxStatus))
    finally:
        await db.dispose()


async def assert_each_arrived_once(slack: FakeSlack, url: str, schema: str | None = None) -> None:
    written = await rows(url, schema)
    assert written and all(r.status == OutboxStatus.SENT for r in written), written
    assert copies(slack) == Counter({r.id: 1 for r in written})


# --- written with the change ---------------------------------------------------------------------


def _slack_message(text: str, user: str, mentions: tuple[Mention, ...] = ()) -> Message:
    return Message(platform="slack", workspace="T1", user_id=user, text=text, mentions=mentions)


async def test_a_notification_is_written_with_its_change_or_not_at_all(
    dispatcher: Dispatcher, database: Database
) -> None:
    await dispatcher.handle(
        _slack_message("assign @U3 as Scrum Master", "U_ADMIN", (Mention("U3", "Carol"),))
    )
    raised = await dispatcher.handle(_slack_message("escalate: blocked on GPU quota", "U1"))
    assert [n.user_id for n in raised.notifications] == ["U3"]
    written = await outbox.list_messages(database)
    assert [(r.recipient, r.status) for r in written] == [("U3", OutboxStatus.PENDING)] * 2
    assert "blocked on GPU quota" in str(written[1].payload)

    # A change whose notifications cannot be composed is not made, and leaves no notification.
    workspace = await workspaces.find_workspace(database, "slack", "T1")
    assert workspace is not None
    project = await workspaces.resolve_project(database, workspace.id, None)
    assert project is not None
    escalation = await escalations.find_escalation(database, workspace.id, 1)
    assert escalation is not None

    def broken(_: object) -> list[outbox.Outgoing]:
        raise RuntimeError("composing failed")

    with pytest.raises(RuntimeError, match="composing failed"):
        await escalations.raise_escalation(
            database,
            ChangeOrigin(workspace.id, project.id, escalation.raised_by.id, "slack"),
            NewEscalation(
                text="never raised",
                raised_by_id=escalation.raised_by.id,
                target_role_id=escalation.target_role_id,
                current_role_id=escalation.current_role_id,
                thread=None,
                remind_at=datetime.now(UTC),
            ),
            datetime.now(UTC),
            notify=broken,
        )
    assert await escalations.find_escalation(database, workspace.id, 2) is None
    assert len(await outbox.list_messages(database)) == 2


# --- the Web API failing -----------------------------------------------------------------------


async def test_rate_limits_server_errors_and_timeouts_delay_a_notice_but_never_double_it(
    slack: FakeSlack, tmp_path: Path
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}"
    url, runner = await start(settings_for(slack, database_url))
    slack.slow_answer = 2.0  # longer than the client's 1 s timeout
    try:
        await command(url, slack, "assign <@U3> as Scrum Master")
        await eventually(lambda: seen(slack, "U3", "made you Scrum Master"))
        # Each fails for longer than slack_sdk's own two retries, so the outbox retries too. A
        # timeout is the hard case: Slack posted the message, but the worker cannot know it.
        for fault, times in (("ratelimited", 4), ("server_error", 4), ("timeout", 1)):
            slack.fail("chat.postMessage", fault, times=times)
            await command(url, slack, f"escalate: blocked by a {fault}", user="U1")
            await eventually(lambda f=fault: seen(slack, "U3", f"blocked by a {f}"), 30, fault)  # type: ignore[misc]
            slack.recover()
        await asyncio.sleep(FAST.lease.total_seconds() + 0.5)  # past any lease: nothing comes back
    finally:
        await runner.cleanup()
    await assert_each_arrived_once(slack, database_url)
    assert len(slack.calls_to("conversations.history")) >= 1  # the timeout's retry looked first


async def test_an_undeliverable_notification_is_marked_and_shown_to_admins(
    slack: FakeSlack,
    tmp_path: Path,
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}"
    url, runner = await start(settings_for(slack, database_url))
    try:
        slack.fail("conversations.open", "user_not_found")
        await command(url, slack, "assign <@U3> as Scrum Master")
        written = await _settled(database_url)
        assert written[0].status == OutboxStatus.FAILED and "user_not_found" in str(
            written[0].last_error
        )
        assert slack.calls_to("chat.postMessage") == []
    finally:
        await runner.cleanup()
    slack.recover()
    settings = Settings(database_url=database_url)

    async def whoowns(*argv: str) -> str:
        out = io.StringIO()
        assert await cli_run(build_parser().parse_args(argv), settings, out) == 0
        return out.getvalue()

    listed = await whoowns("outbox")
    assert "failed" in listed and "Carol (U3)" in listed and "user_not_found" in listed
    assert "0 pending, 0 sent, 1 failed" in listed
    assert "sent again" in await whoowns("outbox", "--retry", str(written[0].id))
    assert (await rows(database_url))[0].status == OutboxStatus.PENDING


async def _home(url: str, slack: FakeSlack, user: str, showing: str) -> JsonDict:
    """What `user` sees on App Home once they open it. Home is also published in the background
    after changes, so it waits for the view that shows `showing`, not for the next publish."""
    body = event_body(app_home_opened(user))
    status, _ = await post_signed(f"{url}/slack/events", body, secret=SECRET, content_type=JSON)
    assert status == 200
    return await slack.home_of(user, showing)


def _buttons(view: JsonDict) -> dict[str, str]:
    return {
        e["text"]["text"]: e["value"]
        for block in view["blocks"]
        if block["type"] == "actions"
        for e in block["elements"]
    }


async def test_app_home_shows_an_admin_the_undelivered_and_sends_one_again(
    slack: FakeSlack, tmp_path: Path
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}"
    url, runner = await start(settings_for(slack, database_url))
    try:
        slack.fail("conversations.open", "user_not_found")
        await command(url, slack, "assign <@U3> as Scrum Master")
        [failed] = await _settled(database_url)
        assert failed.status == OutboxStatus.FAILED

        home = await _home(url, slack, ADMIN, "user_not_found")
        assert "Undelivered notifications" in str(home)
        block_ids = [b["block_id"] for b in home["blocks"] if "block_id" in b]
        assert len(block_ids) == len(set(block_ids))  # Slack refuses a view that repeats one
        resend = _buttons(home)[f"Send #{failed.id} again"]
        assert "Undelivered" not in str(await _home(url, slack, "U1", "Your team"))  # admins only

        slack.recover()
        body = home_click_body("whoowns_button_0", resend, user=ADMIN)
        status, _ = await post_signed(f"{url}/slack/events", body, secret=SECRET, content_type=FORM)
        assert status == 200
        await eventually(lambda: "Undelivered notifications" not in str(slack.homes[ADMIN]))
        await eventually(lambda: len(seen(slack, "U3", "Scrum Master")) == 1)
        await assert_each_arrived_once(slack, database_url)
    finally:
        await runner.cleanup()


async def _answer(url: str, slack: FakeSlack, text: str, user: str) -> str:
    """The text of the reply to `/whoowns <text>` from `user`."""
    name = uuid.uuid4().hex
    body = command_body(text, user_id=user, response_url=slack.response_url(name))
    status, _ = await post_signed(f"{url}/slack/events", body, secret=SECRET, content_type=FORM)
    assert status == 200
    answered = await eventually(
        lambda: [c for c in slack.calls_to("response_url") if c.name == name]
    )
    return str(answered[0].args.get("text"))


async def test_only_an_admin_may_list_or_resend_undelivered_notifications(
    slack: FakeSlack, tmp_path: Path
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}"
    url, runner = await start(settings_for(slack, database_url))
    try:
        slack.fail("conversations.open", "user_not_found")
        await command(url, slack, "assign <@U3> as Scrum Master")
        [failed] = await _settled(database_url)
        for text in ("undelivered notifications", f"send notification {failed.id} again"):
            assert "Only a workspace admin" in await _answer(url, slack, text, "U1")
        assert (await rows(database_url))[0].status == OutboxStatus.FAILED
        answer = await _answer(url, slack, "send notification 999 again", ADMIN)
        assert "no undelivered notification #999" in answer
    finally:
        await runner.cleanup()


# --- a replica killed -------------------------------------------------------------------------


def _replica_env(slack: FakeSlack, database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_API_URL": slack.api_url,
        "WHOOWNS_ADMINS": ADMIN,
        "WHOOWNS_OUTBOX_LEASE_MINUTES": str(FAST.lease.total_seconds() / 60),
        "HF_HUB_OFFLINE": "1",
    }


async def test_a_replica_killed_between_commit_and_send_loses_and_doubles_nothing(
    slack: FakeSlack, tmp_path: Path
) -> None:
    from tests.test_replicas import _free_port, _healthy

    database_url = f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}"
    port = _free_port()
    replica = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("whoowns")),
        "serve",
        "--port",
        str(port),
        env=_replica_env(slack, database_url),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        await _healthy(url)
        await command(url, slack, "assign <@U3> as Scrum Master")
        await command(url, slack, "add <@U2> as backup Scrum Master")
        await eventually(lambda: seen(slack, "U2", "backup Scrum Master"), 20)
        await eventually(lambda: seen(slack, "U3", "made you Scrum Master"), 20)
        # The blocker goes to both holders, claimed together: one send stops before it reaches
        # Slack (conversations.open hangs), the other after Slack has the message (its answer
        # hangs). Then the replica is killed, with neither recorded.
        slack.slow_answer = 60.0
        opened = len(slack.calls_to("conversations.open"))
        slack.fail("conversations.open", "timeout", times=1)
        slack.fail("chat.postMessage", "timeout", times=1)
        await command(url, slack, "escalate: blocked on GPU quota", user="U1")
        await eventually(
            lambda: (
                len(slack.calls_to("conversations.open")) >= opened + 2
                and (seen(slack, "U2", "GPU quota") or seen(slack, "U3", "GPU quota"))
            ),
            20,
            "both sends under way",
        )
        replica.send_signal(signal.SIGKILL)
        await replica.wait()
    finally:
        if replica.returncode is None:
            replica.kill()
            await replica.wait()
    slack.recover()
    slack.slow_answer = 2.0
    # Another replica takes the rows once the dead one's lease runs out.
    settings = replace(settings_for(slack, database_url), delivery=FAST)
    _, runner = await start(settings)
    try:
        for user in ("U2", "U3"):
            await eventually(lambda u=user: seen(slack, u, "GPU quota"), 20, f"blocker to {user}")  # type: ignore[misc]
        await asyncio.sleep(FAST.lease.total_seconds() + 0.5)
    finally:
        await runner.cleanup()
    assert [len(seen(slack, u, "GPU quota")) for u in ("U2", "U3")] == [1, 1]
    await assert_each_arrived_once(slack, database_url)


# --- the database away, two replicas on one PostgreSQL ------------------------------------------


async def test_the_database_away_for_30_seconds_loses_and_doubles_nothing(
    slack: FakeSlack,
) -> None:
    async with proxied_postgres() as (database_url, schema, proxy):
        url, runner = await start(settings_for(slack, database_url, schema))
        try:
            await command(url, slack, "assign <@U3> as Scrum Master")
            await eventually(lambda: seen(slack, "U3", "made you Scrum Master"))
            # The send is under way (slow, not failing) when the database goes: the message
            # arrives, and the store can only be told 30 s later.
            slack.slow_answer = 0.8
            opened = len(slack.calls_to("conversations.open"))
            slack.fail("conversations.open", "timeout", times=1)
            await command(url, slack, "escalate: blocked on GPU quota", user="U1")
            await eventually(lambda: len(slack.calls_to("conversations.open")) > opened)
            await proxy.stop()
            await eventually(lambda: seen(slack, "U3", "GPU quota"))
            await asyncio.sleep(30)
            await proxy.start()
            await _settled(database_url, schema)
            await asyncio.sleep(FAST.lease.total_seconds() + 0.5)
        finally:
            await runner.cleanup()
        await assert_each_arrived_once(slack, database_url, schema)


async def _settled(
    url: str,
    schema: str | None = None,
    timeout: float = 10.0,  # noqa: ASYNC109
) -> list[outbox.OutboxRecord]:
    """The outbox once no row is pending (each sent or failed)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        written = await rows(url, schema)
        if written and all(r.status != OutboxStatus.PENDING for r in written):
            return written
        assert asyncio.get_running_loop().time() < deadline, written
        await asyncio.sleep(0.1)


async def test_two_replicas_on_one_postgresql_deliver_each_notification_once(
    slack: FakeSlack,
) -> None:
    async with proxied_postgres() as (database_url, schema, _proxy):
        first, first_runner = await start(settings_for(slack, database_url, schema))
        second, second_runner = await start(settings_for(slack, database_url, schema))
        try:
            await command(first, slack, "assign <@U3> as Scrum Master")
            await command(second, slack, "add <@U2> as backup Scrum Master")
            await eventually(lambda: seen(slack, "U2", "backup Scrum Master"))
            await eventually(lambda: seen(slack, "U3", "made you Scrum Master"))
            blockers = 12
            await asyncio.gather(
                *(
                    command((first, second)[n % 2], slack, f"escalate: blocker number {n}", "U1")
                    for n in range(blockers)
                )
            )
            for user in ("U2", "U3"):
                await eventually(
                    lambda u=user: len(seen(slack, u, "blocker number")) >= blockers or None,  # type: ignore[misc]
                    30,
                    f"{blockers} blockers to {user}",
                )
            await asyncio.sleep(FAST.lease.total_seconds() + 0.5)
        finally:
            await first_runner.cleanup()
            await second_runner.cleanup()
        await assert_each_arrived_once(slack, database_url, schema)
        assert len(copies(slack)) == 2 + 2 * blockers
