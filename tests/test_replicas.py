"""Two real server processes on one PostgreSQL, behind one fake Slack: all state lives in the database."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.conftest import _asyncpg_dsn, postgres_url
from tests.fakes.slack import (
    FORM,
    JSON,
    FakeSlack,
    SlackCall,
    app_mention,
    block_actions_body,
    command_body,
    event_body,
    post_signed,
)

SECRET = "replica-secret"
ADMIN = "UADMIN"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def replica(env: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    script = Path(sys.executable).with_name("whoowns")
    process = subprocess.Popen(
        [str(script), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            _, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
        assert process.returncode == 0, err[-3000:]


async def _healthy(url: str) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert time.monotonic() < deadline, f"{url} did not start"
            await asyncio.sleep(0.2)


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    url = postgres_url()
    if url is None:
        pytest.skip("two replicas need PostgreSQL (WHOOWNS_TEST_DATABASE_URL)")
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(_asyncpg_dsn(url))
    await admin.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield name
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await admin.close()


async def _command(url: str, slack: FakeSlack, text: str, user: str = ADMIN) -> None:
    body = command_body(text, user_id=user, response_url=slack.response_url(uuid.uuid4().hex))
    status, _ = await post_signed(f"{url}/slack/events", body, secret=SECRET, content_type=FORM)
    assert status == 200


async def _wait(predicate: Callable[[], object], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return False


def _thread_replies(slack: FakeSlack, ts: str) -> list[SlackCall]:
    return [c for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts") == ts]


async def test_two_replicas_share_one_database(schema: str) -> None:
    pg = postgres_url()
    assert pg is not None
    async with FakeSlack(users={ADMIN: "Admin"}) as slack:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "Microsoft"))},
            "DATABASE_URL": pg,
            "WHOOWNS_DATABASE_SCHEMA": schema,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_BOT_TOKEN": "xoxb-replicas",
            "SLACK_API_URL": slack.api_url,
            "WHOOWNS_ADMINS": ADMIN,
            "WHOOWNS_REMIND_AFTER_MINUTES": "0.05",  # 3 s
            "WHOOWNS_REMINDER_CHECK_MINUTES": "0.003",  # ~0.2 s
            "LOG_LEVEL": "WARNING",
        }
        with replica(env) as first:
            await _healthy(first)  # the first replica migrates the schema
            with replica(env) as second:
                await _healthy(second)
                await _check_replicas(first, second, slack, pg, schema)


async def _check_replicas(first: str, second: str, slack: FakeSlack, pg: str, schema: str) -> None:
    await _command(first, slack, "assign <@U3> as Scrum Master")
    await _command(second, slack, "assign <@U4> as Project Manager")
    await slack.wait_for("response_url", 2)

    # An event delivered to both (a Slack retry landing on the other replica) is handled once.
    event = app_mention("<@UBOT> who handles data drift?", ts="1700000001.000100")
    body = event_body(event, event_id="EvBOTH")
    await asyncio.gather(
        *(
            post_signed(f"{url}/slack/events", body, secret=SECRET, content_type=JSON)
            for url in (first, second)
        )
    )
    assert await _wait(lambda: _thread_replies(slack, "1700000001.000100"), 5)
    await asyncio.sleep(0.5)
    assert len(_thread_replies(slack, "1700000001.000100")) == 1

    # A catalogue change made through one replica is answered by the other within a second.
    event = app_mention("<@UBOT> who handles metrics", ts="1700000002.000100")
    await post_signed(f"{first}/slack/events", event_body(event), secret=SECRET, content_type=JSON)
    assert await _wait(lambda: _thread_replies(slack, "1700000002.000100"), 5)
    asked = _thread_replies(slack, "1700000002.000100")[0]
    buttons = [e for b in asked.args["blocks"] if b["type"] == "actions" for e in b["elements"]]
    picked = next(b for b in buttons if "MLOps" in b["text"]["text"])
    click = block_actions_body(
        "whoowns_button_0",
        picked["value"],
        response_url=slack.response_url("c"),
        message_ts=asked.response["ts"],
    )
    await post_signed(f"{first}/slack/events", click, secret=SECRET, content_type=FORM)
    await slack.wait_for("chat.update")
    learned_at = time.monotonic()
    answered = False
    for n in range(20):
        ts = f"1700000003.{n:06d}"
        event = app_mention("<@UBOT> who handles metrics?", ts=ts)
        await post_signed(
            f"{second}/slack/events", event_body(event), secret=SECRET, content_type=JSON
        )
        assert await _wait(partial(_thread_replies, slack, ts), 5)
        reply = _thread_replies(slack, ts)[0]
        if not any(b["type"] == "actions" for b in reply.args["blocks"]):
            answered = "MLOps Engineer" in reply.args["text"]
            break
        await asyncio.sleep(0.05)
    assert answered and time.monotonic() - learned_at < 1.0 + 0.5  # within a second of the change

    # Reminders due at the same time are sent once, though both replicas look for them.
    before = len(slack.calls)
    for n in range(5):
        event = app_mention(f"<@UBOT> escalate: blocker {n}", ts=f"1700000004.{n:06d}")
        await post_signed(
            f"{first}/slack/events", event_body(event), secret=SECRET, content_type=JSON
        )
    await asyncio.sleep(4.5)  # the first reminders fall due after 3 s; the second after 6 s
    reminders = [
        int(m.group(1))
        for c in slack.calls[before:]
        if c.method == "chat.postMessage"
        and (m := re.search(r"Reminder: blocker #(\d+)", str(c.args.get("text"))))
    ]
    assert sorted(reminders) == sorted(set(reminders)) and len(reminders) == 5, reminders

    # Fifty concurrent reassignments of one role, through both replicas: one consistent state.
    before = len(slack.calls_to("response_url"))
    await asyncio.gather(
        *(
            _command(first if i % 2 else second, slack, f"assign <@U{100 + i}> as Data Engineer")
            for i in range(50)
        )
    )
    await slack.wait_for("response_url", before + 50, timeout=30)
    connection = await asyncpg.connect(_asyncpg_dsn(pg), server_settings={"search_path": schema})
    try:
        holders = await connection.fetchval(
            "SELECT count(*) FROM assignment a JOIN role r ON r.id = a.role_id "
            "WHERE r.name = 'Data Engineer' AND a.ended_at IS NULL"
        )
        audits = await connection.fetchval(
            "SELECT count(*) FROM audit_entry a JOIN role r ON r.id = a.role_id "
            "WHERE r.name = 'Data Engineer' AND a.action = 'assign'"
        )
    finally:
        await connection.close()
    assert holders == 1 and audits == 50
