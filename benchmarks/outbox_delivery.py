"""How fast the outbox delivers, printed (not asserted): `python benchmarks/outbox_delivery.py`.

Runs the real server (in this process, on 127.0.0.1) against the local Slack fake, on SQLite and
PostgreSQL, with the production delivery policy (a worker woken by the turn that wrote the row, a
2-second poll for the rest):

- **Notice latency.** `--escalations` blockers are raised one at a time with `/whoowns escalate: …`.
  For each, from just before the POST: when its reply reached the response_url, and when the Scrum
  Master's DM reached the fake (chat.postMessage). The DM's lag behind the reply is what the outbox
  costs a user: written in the turn's transaction, then claimed, sent and marked by the worker.
- **Baseline, in the same run:** the bare DM, `conversations.open` + `chat.postMessage` from a
  slack_sdk client straight to the fake, one at a time, as an adapter sending in-turn would.
- **Burst.** `--burst` rows are written at once (as a busy team's reminders would be) and the time
  until every one is sent gives the delivery rate of one replica (batches of 20 sent together).

PostgreSQL gets a schema of its own (WHOOWNS_BENCH_POSTGRES_URL, else WHOOWNS_TEST_DATABASE_URL,
else postgresql://postgres@127.0.0.1:5432/test), dropped afterwards; it is skipped, and says so,
when it cannot be reached.

    python benchmarks/outbox_delivery.py [--escalations 100] [--burst 1000]
                                         [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `tests` is not installed, and a script only has its own folder
    sys.path.insert(0, str(REPO))

from benchmarks.load import postgres_database  # noqa: E402
from bot.server import create_app  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.slack.adapter import SlackConfig  # noqa: E402
from handlers.message import Notification, line  # noqa: E402
from handlers.turn import utc_now  # noqa: E402
from store import outbox, workspaces  # noqa: E402
from store.audit import ChangeOrigin  # noqa: E402
from store.db import Database  # noqa: E402
from store.models import OutboxStatus  # noqa: E402
from store.outbox import Outgoing  # noqa: E402
from tests.fakes.slack import FORM, FakeSlack, command_body, post_signed  # noqa: E402

SECRET = "bench-outbox-secret"
ADMIN = "UADMIN"
RAISER = "U1"
SCRUM_MASTER = "U2"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(label: str, values_ms: list[float]) -> str:
    return (
        f"  {label:<46} p50 {percentile(values_ms, 50):7.1f} ms   "
        f"p99 {percentile(values_ms, 99):7.1f} ms   (n={len(values_ms)})"
    )


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[str]:
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
    finally:
        await runner.cleanup()


async def command(
    session: aiohttp.ClientSession, url: str, slack: FakeSlack, text: str, user: str
) -> str:
    name = uuid.uuid4().hex
    body = command_body(text, user_id=user, response_url=slack.response_url(name))
    status, _ = await post_signed(url, body, secret=SECRET, content_type=FORM, session=session)
    assert status == 200, status
    return name


async def until(found: Callable[[], bool], timeout: float = 30.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not found():
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not deliver in time")
        await asyncio.sleep(0.0005)


async def notice_latency(
    session: aiohttp.ClientSession, url: str, slack: FakeSlack, count: int
) -> tuple[list[float], list[float]]:
    replies, notices = [], []
    for i in range(count):
        posts = len(slack.calls_to("chat.postMessage"))
        start = time.perf_counter()
        name = await command(session, url, slack, f"escalate: blocked on GPU quota {i}", RAISER)
        replied: list[float] = []

        def answered(name: str = name, replied: list[float] = replied, posts: int = posts) -> bool:
            if not replied and any(c.name == name for c in slack.calls_to("response_url")):
                replied.append(time.perf_counter())
            return bool(replied) and len(slack.calls_to("chat.postMessage")) > posts

        await until(answered)
        notices.append((time.perf_counter() - start) * 1e3)
        replies.append((replied[0] - start) * 1e3)
    return replies, notices


async def bare_dm(slack: FakeSlack, count: int) -> list[float]:
    async with aiohttp.ClientSession() as http:
        client = AsyncWebClient(token="xoxb-bench", base_url=slack.api_url, session=http)
        times = []
        for i in range(count):
            start = time.perf_counter()
            opened = await client.conversations_open(users=SCRUM_MASTER)
            await client.chat_postMessage(channel=opened["channel"]["id"], text=f"bare {i}")
            times.append((time.perf_counter() - start) * 1e3)
        return times


async def burst(database_url: str, schema: str | None, count: int) -> tuple[float, float]:
    """Writes `count` rows at once; (seconds until the worker took the first, rows sent per
    second from the first send to the last, from the rows' sent_at)."""
    db = Database(database_url, schema=schema)
    try:
        workspace = await workspaces.find_workspace(db, "slack", "T1")
        assert workspace is not None
        note = Notification(SCRUM_MASTER, "Sam", (line("Reminder: #1 is still open."),))
        items = [Outgoing(SCRUM_MASTER, "Sam", note.payload()) for _ in range(count)]
        origin = ChangeOrigin(workspace.id, None, None, "slack")
        written = utc_now()
        async with db.transaction() as session:
            ids = set(await outbox.enqueue(session, origin, items, written))
        # Polls the store, as an operator would: there is no event to wait on from outside.
        while (await outbox.count_by_status(db)).get(OutboxStatus.PENDING, 0):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        sent = [
            m.sent_at
            for m in await outbox.list_messages(db, [OutboxStatus.SENT], limit=count + 1000)
            if m.id in ids and m.sent_at is not None
        ]
        assert len(sent) == count, len(sent)
        first, last = min(sent), max(sent)
        span = max((last - first).total_seconds(), 1e-6)
        return (first - written).total_seconds(), (count - 1) / span
    finally:
        await db.dispose()


async def run_backend(
    backend: str, database_url: str, schema: str | None, args: argparse.Namespace
) -> None:
    users = {RAISER: "Alice", SCRUM_MASTER: "Sam", ADMIN: "Admin"}
    async with FakeSlack(users=users) as slack, aiohttp.ClientSession() as session:
        settings = Settings(
            database_url=database_url,
            database_schema=schema,
            admins=frozenset({ADMIN}),
            slack=SlackConfig(SECRET, "xoxb-bench", None, slack.api_url),
        )
        async with serving(settings) as url:
            await command(session, url, slack, f"assign <@{SCRUM_MASTER}> as Scrum Master", ADMIN)
            await until(lambda: len(slack.calls_to("chat.postMessage")) >= 1)
            await notice_latency(session, url, slack, 5)  # warm-up
            replies, notices = await notice_latency(session, url, slack, args.escalations)
            bare = await bare_dm(slack, args.escalations)
            lag = [n - r for n, r in zip(notices, replies, strict=True)]
            print(f"{backend}:")
            print(summary("reply to /whoowns escalate (response_url)", replies))
            print(summary("Scrum Master's DM through the outbox", notices))
            print(summary("  the DM after the reply", lag))
            print(summary("baseline: a bare DM, open + postMessage", bare))
            print(
                f"  outbox cost over a bare DM sent in-turn: p50 "
                f"{percentile(lag, 50) - percentile(bare, 50):+.1f} ms"
            )
            waited, rate = await burst(database_url, schema, args.burst)
            print(
                f"  burst: {args.burst} rows written at once by another process: the first sent "
                f"after {waited:.2f} s (the worker's 2 s poll), then {rate:.0f} notifications/s"
            )


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.ERROR)
    for backend in args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
                await run_backend("SQLite", url, None, args)
        elif backend == "postgresql":
            url = (
                os.environ.get("WHOOWNS_BENCH_POSTGRES_URL")
                or os.environ.get("WHOOWNS_TEST_DATABASE_URL")
                or DEFAULT_POSTGRES
            )
            async with postgres_database(url) as (schema, why):
                if schema is None:
                    print(f"PostgreSQL: skipped ({why})")
                    continue
                await run_backend("PostgreSQL", url, schema, args)
        else:
            raise SystemExit(f"unknown backend {backend!r}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--escalations", type=int, default=100)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    asyncio.run(main(parser.parse_args()))
