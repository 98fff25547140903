"""Load on the real server, printed (not asserted): `python benchmarks/load.py`.

Drives `whoowns serve`, started as a separate process on 127.0.0.1, with "who owns" questions over
Slack (signed `app_mention` events on POST /slack/events) and Teams (personal-chat activities on
POST /api/messages). Replies go to local fakes of Slack's Web API and of the Bot Connector, which run
in this process; nothing leaves 127.0.0.1.

- Latency of a turn runs from just before the POST to the moment the fake receives the reply
  (Slack: chat.postMessage with thread_ts = the event's ts; Teams: the reply to the activity's id).
  A turn stays "in flight" until its reply arrives, so `--concurrency` bounds unanswered questions.
- Throughput is answered questions per second, over the measured phase. A phase sends no new
  request after `--phase-seconds`, so a slow server is measured on fewer requests, not for longer.
- Before each loaded phase, `--one-at-a-time` requests go with one in flight: latency without
  queueing, i.e. the time one turn costs.
- Then `--paced-rate` requests a second arrive as a Poisson process (an open loop, as a team's
  questions arrive) for `--paced-seconds`, at the bare endpoint and at whoowns alike. The latency
  targets ("a turn adds ≤ 5 ms at p50, ≤ 20 ms at p99 over the bare endpoint") are judged here.
  They are not judged in the loaded phase: with `--concurrency` requests always waiting, latency
  is concurrency / throughput by Little's law (16 / 300 per s = 53 ms), so it measures the queue
  the benchmark builds, and the two targets could only both be met by a server ten times faster
  than the throughput target asks. The loaded phase's latencies are printed all the same.
- Memory is the server's peak resident set (VmHWM in /proc/<pid>/status) at the end of its run.
- The baseline, in the same run and with the same bodies and concurrency, is a bare aiohttp endpoint
  in its own process (benchmarks/bare_endpoint.py) that only verifies the Slack signature (or parses
  the Teams activity) and answers; its latency is request to response.

Each backend gets a fresh database: a SQLite file in a temporary directory, and a PostgreSQL schema
of its own (WHOOWNS_BENCH_POSTGRES_URL, else WHOOWNS_TEST_DATABASE_URL, else
postgresql://postgres@127.0.0.1:5432/test), dropped afterwards. PostgreSQL is skipped, and says so,
when it cannot be reached.

    python benchmarks/load.py [--requests 2000] [--concurrency 16] [--backends sqlite,postgresql]
                              [--phase-seconds 20] [--one-at-a-time 100] [--reply-timeout 10]
                              [--paced-rate 100] [--paced-seconds 8] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import random
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp
import asyncpg
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
# `tests` is not installed, and a script only has its own folder on sys.path.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.fakes.botframework import (  # noqa: E402
    FakeConnector,
    SentActivity,
    new_activity_id,
    personal_message,
    post_activity,
)
from tests.fakes.slack import (  # noqa: E402
    FORM,
    JSON,
    FakeSlack,
    SlackCall,
    app_mention,
    command_body,
    event_body,
    new_ts,
    post_signed,
)

SECRET = "bench-signing-secret"
SLACK_TEAM = "T1"
SLACK_CHANNEL = "C1"
SLACK_ADMIN = "UADMIN"
TEAMS_ADMIN = "29:admin"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"

# Targets, from the issue.
TARGET_ADDS_P50_MS = 5.0
TARGET_ADDS_P99_MS = 20.0
TARGET_RATE_POSTGRES = 300.0
TARGET_MEMORY_MB = 400.0  # with the embedding model loaded

# Each but the last four is answered with a role by the default catalogue (checked with
# `whoowns ask --json`).
QUESTIONS = (
    "who handles data drift?",
    "who is the scrum master?",
    "who owns the CI/CD pipelines?",
    "who manages the Azure subscriptions?",
    "who trains the models?",
    "who monitors models in production?",
    "who writes the test plans?",
    "who owns the product backlog?",
    "who builds the Power BI dashboards?",
    "who is the project manager?",
    "who handles terraform?",
    "who deploys models to production?",
    "who designs the solution architecture?",
    "who does feature engineering?",
    "who runs the sprint retrospectives?",
    "who manages the project budget?",
    "who develops the frontend application?",
    "who owns data quality checks?",
    "who handles the model registry?",
    "who writes the user stories?",
    # Questions the words do not answer, so the turn runs the embedding model (one in six turns);
    # they get choices back.
    "the site is down and customers are complaining, who do I call?",
    "who decides what goes into the next release?",
    "who makes sure predictions stay accurate after launch?",
    "who checks the model is fair to all customers?",
)

# (Slack user id, Teams user id, name, role): one holder for every role the questions reach.
HOLDERS = (
    ("UDANA", "29:dana", "Dana", "Data Scientist"),
    ("UMILO", "29:milo", "Milo", "MLOps Engineer"),
    ("USAM", "29:sam", "Sam", "Scrum Master"),
    ("UAZRA", "29:azra", "Azra", "Azure Infrastructure Engineer/ Administrator"),
    ("UTESS", "29:tess", "Tess", "Tester"),
    ("UPOLLY", "29:polly", "Polly", "Product Owner / Business Analyst"),
    ("UDAN", "29:dan", "Dan", "Data Analyst"),
    ("UPAM", "29:pam", "Pam", "Project Manager"),
    ("UDEV", "29:dev", "Devi", "DevOps Engineer"),
    ("USOL", "29:sol", "Sol", "Solution Architect"),
    ("UAPP", "29:appy", "Appy", "Application Developer"),
    ("UDENG", "29:deng", "Deng", "Data Engineer"),
)
BACKUP = ("UBECK", "29:beck", "Beck", "Data Scientist")  # added as backup: answers list two
ASKERS = 12  # people asking, cycled over


# --------------------------------------------------------------------------------------------
# Figures


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of `values` (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Sample:
    """One request: latency in seconds (None when it failed), whether a holder was named."""

    latency: float | None
    holder: bool = False
    error: str | None = None


@dataclass
class Phase:
    label: str
    sent: int = 0
    latencies: list[float] = field(default_factory=list)
    holders: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float | None = None

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def failed(self) -> int:
        return self.sent - self.ok

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed > 0 else math.nan

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies, 50) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies, 99) * 1000

    def describe(self) -> str:
        text = (
            f"  {self.label:<30} {self.ok:>5}/{self.sent:<5} {self.rate:8.1f}/s  "
            f"p50 {self.p50_ms:7.2f} ms  p99 {self.p99_ms:7.2f} ms  "
            f"in {self.elapsed:5.1f} s; load generator CPU {self.client_cpu / self.elapsed:4.0%}"
            if self.elapsed > 0
            else f"  {self.label}: nothing measured"
        )
        if self.server_cpu is not None and self.elapsed > 0:
            text += f", server CPU {self.server_cpu / self.elapsed:4.0%}"
        for error, count in sorted(self.errors.items(), key=lambda item: -item[1])[:3]:
            text += f"\n      {count}x {error}"
        return text


@dataclass
class PlatformResult:
    ours: Phase = field(default_factory=lambda: Phase("not run"))  # `--concurrency` in flight
    bare: Phase = field(default_factory=lambda: Phase("not run"))
    ours_idle: Phase | None = None  # one request at a time: the service time, without queueing
    bare_idle: Phase | None = None
    ours_paced: Phase | None = None  # arrivals at `--paced-rate`, whatever the answers do
    bare_paced: Phase | None = None


@dataclass
class BackendResult:
    backend: str
    platforms: dict[str, PlatformResult] = field(default_factory=dict)
    peak_rss_mb: float = math.nan
    skipped: str | None = None


@dataclass
class Rounds(Phase):
    """One phase run in several rounds: counts add up, each figure is the median of the rounds'
    (this shared machine drifts by tens of percent between minutes)."""

    rounds: list[Phase] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return sum(p.ok for p in self.rounds)

    @property
    def rate(self) -> float:
        return statistics.median(p.rate for p in self.rounds)

    @property
    def p50_ms(self) -> float:
        return statistics.median(p.p50_ms for p in self.rounds)

    @property
    def p99_ms(self) -> float:
        return statistics.median(p.p99_ms for p in self.rounds)


def _rounds(phases: list[Phase | None]) -> Phase | None:
    present = [p for p in phases if p is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    return Rounds(present[0].label, sent=sum(p.sent for p in present), rounds=present)


def combine(rounds: list[BackendResult]) -> BackendResult:
    """Several rounds of one backend as one result: medians, and the highest peak memory."""
    done = [r for r in rounds if not r.skipped]
    if len(done) < len(rounds) or len(done) == 1:
        return rounds[-1] if len(done) < len(rounds) else done[0]
    combined = BackendResult(done[0].backend, peak_rss_mb=max(r.peak_rss_mb for r in done))
    for name in done[0].platforms:
        each = [r.platforms[name] for r in done]
        ours = _rounds([p.ours for p in each])
        bare = _rounds([p.bare for p in each])
        assert ours is not None and bare is not None
        combined.platforms[name] = PlatformResult(
            ours,
            bare,
            _rounds([p.ours_idle for p in each]),
            _rounds([p.bare_idle for p in each]),
            _rounds([p.ours_paced for p in each]),
            _rounds([p.bare_paced for p in each]),
        )
    return combined


# --------------------------------------------------------------------------------------------
# Fakes that time-stamp the replies someone is waiting for


class TimedSlack(FakeSlack):
    """FakeSlack that hands each awaited reply over on arrival, with `time.perf_counter()`.

    Keys: "thread:<ts>" for chat.postMessage / chat.postEphemeral in a thread, "response:<name>"
    for a response_url. Every call is still recorded in `calls`, as by FakeSlack.
    """

    def __init__(self, users: dict[str, str]) -> None:
        super().__init__(team_id=SLACK_TEAM, users=users)
        self._waiting: dict[str, asyncio.Future[tuple[float, SlackCall]]] = {}

    def expect(self, key: str) -> asyncio.Future[tuple[float, SlackCall]]:
        future: asyncio.Future[tuple[float, SlackCall]] = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        return future

    def forget(self, key: str) -> None:
        self._waiting.pop(key, None)

    async def _record(self, call: SlackCall) -> None:
        arrived = time.perf_counter()
        await super()._record(call)
        key: str | None = None
        thread = call.args.get("thread_ts")
        if call.method in ("chat.postMessage", "chat.postEphemeral") and isinstance(thread, str):
            key = f"thread:{thread}"
        elif call.method == "response_url" and call.name is not None:
            key = f"response:{call.name}"
        future = self._waiting.pop(key, None) if key is not None else None
        if future is not None and not future.done():
            future.set_result((arrived, call))


class TimedConnector(FakeConnector):
    """FakeConnector that hands each awaited reply (keyed by the activity it replies to) over on
    arrival, with `time.perf_counter()`."""

    def __init__(self) -> None:
        super().__init__()
        self._waiting: dict[str, asyncio.Future[tuple[float, SentActivity]]] = {}

    def expect(self, activity_id: str) -> asyncio.Future[tuple[float, SentActivity]]:
        future: asyncio.Future[tuple[float, SentActivity]] = (
            asyncio.get_running_loop().create_future()
        )
        self._waiting[activity_id] = future
        return future

    def forget(self, activity_id: str) -> None:
        self._waiting.pop(activity_id, None)

    async def _record(self, sent: SentActivity) -> None:
        arrived = time.perf_counter()
        await super()._record(sent)
        if sent.operation == "reply" and sent.reply_to_id is not None:
            future = self._waiting.pop(sent.reply_to_id, None)
            if future is not None and not future.done():
                future.set_result((arrived, sent))


# --------------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _open_log(path: Path) -> IO[bytes]:
    return path.open("wb")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def proc_status_kb(pid: int, key: str) -> int | None:
    """A `kB` figure from /proc/<pid>/status (VmHWM, VmRSS); None where there is no /proc."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for row in text.splitlines():
        if row.startswith(f"{key}:"):
            return int(row.split()[1])
    return None


def proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; utime, stime are 14, 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """This environment without anything that could send the children elsewhere, plus `extra`."""
    dropped = ("SLACK_", "WHOOWNS_", "Microsoft", "DATABASE_URL", "LOG_LEVEL")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(dropped) and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    log: Path
    base_url: str

    @property
    def pid(self) -> int:
        return self.process.pid


@contextlib.asynccontextmanager
async def run_child(
    name: str, argv: list[str], env: dict[str, str], port: int, logs: Path
) -> AsyncIterator[Child]:
    """Start a server process, wait for GET /healthz == 200, and always terminate it after."""
    log_path = logs / f"{name}.log"
    log = _open_log(log_path)
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd=logs
        )
    finally:
        log.close()  # the child has its own descriptor
    child = Child(name, process, log_path, f"http://127.0.0.1:{port}")
    try:
        await wait_healthy(child)
        yield child
    finally:
        await stop(child)


async def wait_healthy(child: Child, timeout: float = 60.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while True:
            if child.process.returncode is not None:
                raise RuntimeError(
                    f"{child.name} exited with {child.process.returncode} at start:\n"
                    f"{_tail(child.log)}"
                )
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(f"{child.base_url}/healthz") as response:
                    if response.status == 200:
                        return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{child.name} not healthy after {timeout:.0f} s")
            await asyncio.sleep(0.1)


async def stop(child: Child, timeout: float = 20.0) -> None:  # noqa: ASYNC109
    """SIGTERM, wait (the server drains for up to 10 s), then SIGKILL if it is still there."""
    process = child.process
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            print(f"  {child.name} did not stop within {timeout:.0f} s; killing it")
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


# --------------------------------------------------------------------------------------------
# Driving load


class _Measured:
    """Times a phase and the CPU it costs the load generator and the server."""

    def __init__(self, phase: Phase, server_pid: int | None) -> None:
        self.phase = phase
        self.server_pid = server_pid
        self.start = time.perf_counter()
        self._cpu = time.process_time()
        self._server = proc_cpu_seconds(server_pid) if server_pid is not None else None

    def record(self, sample: Sample) -> None:
        if sample.latency is not None:
            self.phase.latencies.append(sample.latency)
            self.phase.holders += sample.holder
        else:
            error = sample.error or "failed"
            self.phase.errors[error] = self.phase.errors.get(error, 0) + 1

    def done(self) -> Phase:
        phase = self.phase
        phase.elapsed = time.perf_counter() - self.start
        phase.client_cpu = time.process_time() - self._cpu
        after = proc_cpu_seconds(self.server_pid) if self.server_pid is not None else None
        if self._server is not None and after is not None:
            phase.server_cpu = after - self._server
        return phase


async def drive(
    label: str,
    count: int,
    concurrency: int,
    budget: float,
    one: Callable[[int], Awaitable[Sample]],
    server_pid: int | None = None,
) -> Phase:
    """Requests 0..count-1 through `one`, `concurrency` at a time; no new request after `budget`
    seconds (each request is bounded by its own timeout, so the phase is bounded too)."""
    measured = _Measured(Phase(label), server_pid)
    indexes = iter(range(count))  # shared by the workers: each takes the next index
    deadline = measured.start + budget

    async def worker() -> None:
        for index in indexes:
            if time.perf_counter() > deadline:
                return
            measured.phase.sent += 1
            measured.record(await one(index))

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, count)))))
    return measured.done()


async def drive_paced(
    label: str,
    count: int,
    rate: float,
    one: Callable[[int], Awaitable[Sample]],
    server_pid: int | None = None,
) -> Phase:
    """Requests 0..count-1 arriving as a Poisson process of `rate` per second (an open loop: a
    request is sent on time however many are unanswered), as a team's questions arrive. Its
    latencies are what a turn costs at that load, queueing included but not caused by the
    benchmark; the arrival times are seeded, so the bare endpoint gets the same ones."""
    measured = _Measured(Phase(label), server_pid)
    arrivals = random.Random(20261126)

    async def timed(index: int) -> None:
        measured.record(await one(index))

    tasks = []
    due = measured.start
    for index in range(count):
        due += arrivals.expovariate(rate)
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        measured.phase.sent += 1
        tasks.append(asyncio.create_task(timed(index)))
    await asyncio.gather(*tasks)
    return measured.done()


def _short(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:120]


@dataclass
class Load:
    """Request bodies and the plumbing every phase shares."""

    session: aiohttp.ClientSession
    slack: TimedSlack
    connector: TimedConnector
    reply_timeout: float
    # Per kind of phase ("loaded", "idle", "paced"): bodies with event and activity ids of their
    # own, since the server answers each id once.
    slack_bodies: dict[str, list[tuple[str, str]]]  # (event ts, signed-later JSON body)
    teams_activities: dict[str, list[dict[str, Any]]]

    # ---- our server: latency to the reply arriving at the fake

    async def slack_turn(self, base_url: str, ts: str, body: str) -> Sample:
        key = f"thread:{ts}"
        arrival = self.slack.expect(key)
        start = time.perf_counter()
        try:
            status, text = await post_signed(
                f"{base_url}/slack/events",
                body,
                secret=SECRET,
                content_type=JSON,
                session=self.session,
            )
            if status != 200:
                return Sample(None, error=f"HTTP {status}: {text[:80]}")
            arrived, call = await asyncio.wait_for(arrival, self.reply_timeout)
        except TimeoutError:
            return Sample(None, error=f"no reply within {self.reply_timeout:.0f} s")
        except aiohttp.ClientError as exc:
            return Sample(None, error=_short(exc))
        finally:
            self.slack.forget(key)
        text = str(call.args.get("text", ""))
        if call.method != "chat.postMessage":
            return Sample(None, error=f"{call.method}: {text[:80]}")
        return Sample(arrived - start, holder="<@" in text)

    async def teams_turn(self, base_url: str, activity: dict[str, Any]) -> Sample:
        activity_id = str(activity["id"])
        arrival = self.connector.expect(activity_id)
        start = time.perf_counter()
        try:
            status, text = await post_activity(
                f"{base_url}/api/messages", activity, session=self.session
            )
            if status >= 300:
                return Sample(None, error=f"HTTP {status}: {text[:80]}")
            arrived, sent = await asyncio.wait_for(arrival, self.reply_timeout)
        except TimeoutError:
            return Sample(None, error=f"no reply within {self.reply_timeout:.0f} s")
        except aiohttp.ClientError as exc:
            return Sample(None, error=_short(exc))
        finally:
            self.connector.forget(activity_id)
        if not sent.ok:
            return Sample(None, error=f"connector answered {sent.status}")
        return Sample(arrived - start, holder="<at>" in (sent.text or ""))

    # ---- the bare endpoint: latency to its response

    async def bare_post(self, url: str, expect: int, post: Callable[[], Awaitable[int]]) -> Sample:
        start = time.perf_counter()
        try:
            status = await post()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Sample(None, error=_short(exc))
        if status != expect:
            return Sample(None, error=f"HTTP {status} from {url}")
        return Sample(time.perf_counter() - start)

    async def bare_slack(self, base_url: str, body: str) -> Sample:
        url = f"{base_url}/slack/events"

        async def post() -> int:
            status, _ = await post_signed(
                url, body, secret=SECRET, content_type=JSON, session=self.session
            )
            return status

        return await self.bare_post(url, 200, post)

    async def bare_teams(self, base_url: str, activity: dict[str, Any]) -> Sample:
        url = f"{base_url}/api/messages"

        async def post() -> int:
            status, _ = await post_activity(url, activity, session=self.session)
            return status

        return await self.bare_post(url, 201, post)


def slack_bodies(count: int, tag: str) -> list[tuple[str, str]]:
    """`count` app_mention events, each with a unique ts (its reply's thread) and event_id."""
    bodies = []
    for i in range(count):
        ts = new_ts()
        event = app_mention(
            f"<@UBOT> {QUESTIONS[i % len(QUESTIONS)]}",
            user=f"UASK{i % ASKERS:02d}",
            channel=SLACK_CHANNEL,
            ts=ts,
            team=SLACK_TEAM,
        )
        bodies.append((ts, event_body(event, team_id=SLACK_TEAM, event_id=f"Ev{tag}{i:08d}")))
    return bodies


def teams_activities(count: int, service_url: str) -> list[dict[str, Any]]:
    """`count` personal-chat messages, each with a unique activity id (its reply's replyToId)."""
    return [
        personal_message(
            QUESTIONS[i % len(QUESTIONS)],
            service_url=service_url,
            user_id=f"29:asker-{i % ASKERS}",
            user_name=f"Asker {i % ASKERS}",
            activity_id=new_activity_id(),
        )
        for i in range(count)
    ]


def requests_for(
    platform_name: str, load: Load, bare_url: str, server_url: str, kind: str
) -> tuple[Callable[[int], Awaitable[Sample]], Callable[[int], Awaitable[Sample]]]:
    """(request i to the bare endpoint, request i to whoowns) for one platform and kind of phase,
    same bodies."""
    if platform_name == "slack":
        bodies = load.slack_bodies[kind]
        return (
            lambda i: load.bare_slack(bare_url, bodies[i][1]),
            lambda i: load.slack_turn(server_url, *bodies[i]),
        )
    activities = load.teams_activities[kind]
    return (
        lambda i: load.bare_teams(bare_url, activities[i]),
        lambda i: load.teams_turn(server_url, activities[i]),
    )


# --------------------------------------------------------------------------------------------
# Seeding


async def seed_slack(load: Load, base_url: str) -> None:
    """Assign every holder by signed slash commands from an admin, as people would."""
    commands = [f"assign <@{sid}> as {role}" for sid, _, _, role in HOLDERS]
    commands.append(f"add <@{BACKUP[0]}> as backup {BACKUP[3]}")
    for k, text in enumerate(commands):
        name = f"seed-{uuid.uuid4().hex[:8]}-{k}"
        arrival = load.slack.expect(f"response:{name}")
        body = command_body(
            text,
            response_url=load.slack.response_url(name),
            user_id=SLACK_ADMIN,
            user_name="admin",
            channel_id=SLACK_CHANNEL,
            team_id=SLACK_TEAM,
        )
        status, answer = await post_signed(
            f"{base_url}/slack/events", body, secret=SECRET, content_type=FORM, session=load.session
        )
        if status != 200:
            raise RuntimeError(f"seeding {text!r}: HTTP {status} {answer[:200]}")
        try:
            _, call = await asyncio.wait_for(arrival, load.reply_timeout)
        finally:
            load.slack.forget(f"response:{name}")
        if k == 0:
            print(f"    slack seed reply: {str(call.args.get('text', ''))[:100]!r}")


async def seed_teams(load: Load, base_url: str) -> None:
    """The same assignments in the Teams tenant (a workspace of its own), from a Teams admin."""
    commands = [(f"assign <at>{name}</at> as {role}", tid, name) for _, tid, name, role in HOLDERS]
    commands.append((f"add <at>{BACKUP[2]}</at> as backup {BACKUP[3]}", BACKUP[1], BACKUP[2]))
    for k, (text, tid, name) in enumerate(commands):
        activity = personal_message(
            text,
            service_url=load.connector.service_url,
            user_id=TEAMS_ADMIN,
            user_name="Admin",
            mentions=[(tid, name)],
            activity_id=new_activity_id(),
        )
        arrival = load.connector.expect(str(activity["id"]))
        try:
            status, answer = await post_activity(
                f"{base_url}/api/messages", activity, session=load.session
            )
            if status >= 300:
                raise RuntimeError(f"seeding {text!r}: HTTP {status} {answer[:200]}")
            _, sent = await asyncio.wait_for(arrival, load.reply_timeout)
        finally:
            load.connector.forget(str(activity["id"]))
        if k == 0:
            print(f"    teams seed reply: {(sent.text or '')[:100]!r}")


# --------------------------------------------------------------------------------------------
# One backend


@contextlib.asynccontextmanager
async def postgres_database(url: str) -> AsyncIterator[tuple[str | None, str]]:
    """A fresh schema on `url`: (schema, why not) — schema None with the reason when unreachable."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = await asyncpg.connect(dsn, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        yield None, _short(exc)
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        yield schema, ""
    finally:
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


async def run_backend(
    backend: str, args: argparse.Namespace, load: Load, bare: Child, logs: Path, round_: int = 0
) -> BackendResult:
    result = BackendResult(backend)
    async with contextlib.AsyncExitStack() as stack:
        env = {
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_API_URL": load.slack.api_url,
            "WHOOWNS_ADMINS": f"{SLACK_ADMIN},{TEAMS_ADMIN}",
            "LOG_LEVEL": "WARNING",
        }
        if backend == "sqlite":
            env["DATABASE_URL"] = f"sqlite:///{logs / f'whoowns-bench-{round_}.db'}"
            where = "a fresh SQLite file"
        else:
            url = (
                os.environ.get("WHOOWNS_BENCH_POSTGRES_URL")
                or os.environ.get("WHOOWNS_TEST_DATABASE_URL")
                or DEFAULT_POSTGRES
            )
            schema, why = await stack.enter_async_context(postgres_database(url))
            if schema is None:
                result.skipped = f"PostgreSQL unreachable at {make_url(url)!r}: {why}"
                print(f"\n[{backend}] skipped: {result.skipped}")
                return result
            env["DATABASE_URL"] = url
            env["WHOOWNS_DATABASE_SCHEMA"] = schema
            where = f"schema {schema} on {make_url(url)!r}"
        print(f"\n[{backend}] starting whoowns serve on {where}")
        port = free_port()
        whoowns = str(Path(sys.executable).with_name("whoowns"))
        server = await stack.enter_async_context(
            run_child(
                f"whoowns-{backend}",
                [whoowns, "serve", "--host", "127.0.0.1", "--port", str(port)],
                child_env(env),
                port,
                logs,
            )
        )
        print(f"  pid {server.pid}; seeding assignments, warming up")
        await seed_slack(load, server.base_url)
        await seed_teams(load, server.base_url)
        warm = max(2 * args.concurrency, 40)
        tag = uuid.uuid4().hex[:6].upper()
        warm_slack = slack_bodies(warm, f"W{tag}")
        warm_teams = teams_activities(warm, load.connector.service_url)
        for label, phase in (
            (
                "warm-up slack",
                await drive(
                    "warm-up slack",
                    warm,
                    args.concurrency,
                    args.phase_seconds,
                    lambda i: load.slack_turn(server.base_url, *warm_slack[i]),
                ),
            ),
            (
                "warm-up teams",
                await drive(
                    "warm-up teams",
                    warm,
                    args.concurrency,
                    args.phase_seconds,
                    lambda i: load.teams_turn(server.base_url, warm_teams[i]),
                ),
            ),
        ):
            if phase.failed:
                print(phase.describe())
                raise RuntimeError(
                    f"{label}: {phase.failed} of {phase.sent} failed; the server's log ends:\n"
                    f"{_tail(server.log)}"
                )
        load.slack.clear()
        load.connector.clear()

        n, c, budget = args.requests, args.concurrency, args.phase_seconds
        idle = args.one_at_a_time
        for name in ("slack", "teams"):
            pr = PlatformResult()
            if idle:
                bare_one, ours_one = requests_for(
                    name, load, bare.base_url, server.base_url, "idle"
                )
                pr.bare_idle = await drive(f"bare, {name}, 1 in flight", idle, 1, budget, bare_one)
                print(pr.bare_idle.describe())
                pr.ours_idle = await drive(
                    f"whoowns, {name}, 1 in flight", idle, 1, budget, ours_one, server.pid
                )
                print(pr.ours_idle.describe())
            if args.paced_rate:
                paced = phase_sizes(args)["paced"]
                bare_one, ours_one = requests_for(
                    name, load, bare.base_url, server.base_url, "paced"
                )
                label = f"{name}, {args.paced_rate:g}/s paced"
                pr.bare_paced = await drive_paced(
                    f"bare, {label}", paced, args.paced_rate, bare_one, bare.pid
                )
                print(pr.bare_paced.describe())
                pr.ours_paced = await drive_paced(
                    f"whoowns, {label}", paced, args.paced_rate, ours_one, server.pid
                )
                print(pr.ours_paced.describe())
            bare_one, ours_one = requests_for(name, load, bare.base_url, server.base_url, "loaded")
            pr.bare = await drive(f"bare endpoint, {name}", n, c, budget, bare_one, bare.pid)
            print(pr.bare.describe())
            pr.ours = await drive(f"whoowns, {name}", n, c, budget, ours_one, server.pid)
            print(pr.ours.describe())
            if pr.ours.ok:
                print(f"      replies naming a holder: {pr.ours.holders / pr.ours.ok:.0%}")
            result.platforms[name] = pr
            load.slack.clear()
            load.connector.clear()

        hwm = proc_status_kb(server.pid, "VmHWM")
        rss = proc_status_kb(server.pid, "VmRSS")
        if hwm is not None:
            result.peak_rss_mb = hwm / 1024
            now = f", {rss / 1024:.1f} MB now" if rss is not None else ""
            print(f"  server peak RSS (VmHWM) {result.peak_rss_mb:.1f} MB{now}")
        print(f"  stopping whoowns-{backend}")
    return result


# --------------------------------------------------------------------------------------------
# The report


def _mark(met: bool) -> str:
    return "MET" if met else "NOT MET"


def report(results: list[BackendResult], args: argparse.Namespace) -> None:
    print()
    print(
        f"Summary: {args.requests} requests per platform per backend, {args.concurrency} in "
        f"flight; whoowns latency = POST to reply received, bare = POST to response"
    )
    header = (
        f"{'backend':<11}{'platform':<9}{'answered':>11}{'ans/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f" |{'bare/s':>9}{'p50 ms':>8}{'p99 ms':>8} |{'ours/bare':>10}{'+p50 ms':>9}{'+p99 ms':>9}"
        f" |{'peak RSS':>10}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        if result.skipped:
            print(f"{result.backend:<11}skipped: {result.skipped}")
            continue
        for name, pr in result.platforms.items():
            ours, bare = pr.ours, pr.bare
            print(
                f"{result.backend:<11}{name:<9}{f'{ours.ok}/{ours.sent}':>11}{ours.rate:9.1f}"
                f"{ours.p50_ms:9.2f}{ours.p99_ms:9.2f} |{bare.rate:9.1f}{bare.p50_ms:8.2f}"
                f"{bare.p99_ms:8.2f} |{ours.rate / bare.rate:10.1%}"
                f"{ours.p50_ms - bare.p50_ms:9.2f}{ours.p99_ms - bare.p99_ms:9.2f}"
                f" |{result.peak_rss_mb:7.1f} MB"
            )
    capped = [
        f"{r.backend}/{name} ({phase.sent})"
        for r in results
        for name, pr in r.platforms.items()
        for phase in (pr.ours.rounds if isinstance(pr.ours, Rounds) else [pr.ours])
        if phase.sent < args.requests
    ]
    if capped:
        print(
            f"Sent fewer than {args.requests} where a phase reached its {args.phase_seconds:g} s "
            f"cap: {', '.join(capped)}"
        )
    _latency_table(results, "1 in flight (no queueing)", lambda pr: (pr.ours_idle, pr.bare_idle))
    _latency_table(
        results,
        f"{args.paced_rate:g}/s, Poisson arrivals",
        lambda pr: (pr.ours_paced, pr.bare_paced),
    )
    columns = [(r, name, pr) for r in results if not r.skipped for name, pr in r.platforms.items()]
    if not columns:
        return
    width = 20
    print()
    print(
        "Targets".ljust(42)
        + "".join(f"{f'{r.backend}/{n}':<{width}}" for r, n, _ in columns).rstrip()
    )
    at = f"at {args.paced_rate:g}/s" if args.paced_rate else "(no paced phase)"
    rows: list[tuple[str, Callable[[BackendResult, PlatformResult], str]]] = [
        (f"a turn adds ≤ {TARGET_ADDS_P50_MS:g} ms at p50 {at}", _adds_p50),
        (f"a turn adds ≤ {TARGET_ADDS_P99_MS:g} ms at p99 {at}", _adds_p99),
        (f"≥ {TARGET_RATE_POSTGRES:g} answered/s, {args.concurrency} in flight", _rate),
        (f"server memory ≤ {TARGET_MEMORY_MB:g} MB", _memory),
    ]
    for title, cell in rows:
        print(f"{title:<42}" + "".join(f"{cell(r, pr):<{width}}" for r, _, pr in columns).rstrip())


def _latency_table(
    results: list[BackendResult],
    title: str,
    phases: Callable[[PlatformResult], tuple[Phase | None, Phase | None]],
) -> None:
    """Our latency against the bare endpoint's, in phases both ran the same way."""
    rows = [
        (f"{r.backend}/{name}", *phases(pr))
        for r in results
        for name, pr in r.platforms.items()
        if None not in phases(pr)
    ]
    if not rows:
        return
    print()
    print(
        f"{title:<26}{'answered':>10}{'ans/s':>8}{'p50 ms':>9}"
        f"{'p99 ms':>9} |{'bare p50':>9}{'bare p99':>9} |{'+p50 ms':>9}{'+p99 ms':>9}"
    )
    for where, ours, bare in rows:
        assert ours is not None and bare is not None
        print(
            f"{where:<26}{f'{ours.ok}/{ours.sent}':>10}{ours.rate:8.1f}{ours.p50_ms:9.2f}"
            f"{ours.p99_ms:9.2f} |{bare.p50_ms:9.2f}{bare.p99_ms:9.2f} |"
            f"{ours.p50_ms - bare.p50_ms:9.2f}{ours.p99_ms - bare.p99_ms:9.2f}"
        )


def _paced(pr: PlatformResult) -> tuple[Phase, Phase] | None:
    if pr.ours_paced is None or pr.bare_paced is None:
        return None
    return pr.ours_paced, pr.bare_paced


def _adds(pr: PlatformResult, q: str, target: float) -> str:
    paced = _paced(pr)
    if paced is None:
        return "n/a"
    ours, bare = paced
    adds = getattr(ours, q) - getattr(bare, q)
    answered = ours.failed == 0 and ours.ok > 0
    return f"{adds:+.1f} ms {_mark(adds <= target and answered)}"


def _adds_p50(_result: BackendResult, pr: PlatformResult) -> str:
    return _adds(pr, "p50_ms", TARGET_ADDS_P50_MS)


def _adds_p99(_result: BackendResult, pr: PlatformResult) -> str:
    return _adds(pr, "p99_ms", TARGET_ADDS_P99_MS)


def _rate(result: BackendResult, pr: PlatformResult) -> str:
    if result.backend != "postgresql":
        return f"{pr.ours.rate:.1f}/s (n/a)"
    return f"{pr.ours.rate:.1f}/s {_mark(pr.ours.rate >= TARGET_RATE_POSTGRES)}"


def _memory(result: BackendResult, _pr: PlatformResult) -> str:
    return f"{result.peak_rss_mb:.1f} MB {_mark(result.peak_rss_mb <= TARGET_MEMORY_MB)}"


# --------------------------------------------------------------------------------------------
# Main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Load on the real whoowns server over loopback; prints figures."
    )
    parser.add_argument(
        "--requests", type=int, default=2000, help="per platform per backend (default 2000)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, help="unanswered questions at a time (default 16)"
    )
    parser.add_argument(
        "--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql"
    )
    parser.add_argument(
        "--phase-seconds",
        type=float,
        default=20.0,
        help="no new request after this many seconds of a phase (default 20)",
    )
    parser.add_argument(
        "--reply-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for one reply (default 10)",
    )
    parser.add_argument(
        "--one-at-a-time",
        type=int,
        default=100,
        metavar="N",
        help="also N requests with 1 in flight, for the latency without queueing (default 100; 0: no)",
    )
    parser.add_argument(
        "--paced-rate",
        type=float,
        default=100.0,
        metavar="R",
        help="also a phase of Poisson arrivals at R per second, on which the latency targets are "
        "judged (default 100; 0: no)",
    )
    parser.add_argument(
        "--paced-seconds",
        type=float,
        default=8.0,
        help="length of the paced phase (default 8)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run each backend this many times and report the medians (default 1)",
    )
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - {"sqlite", "postgresql"}
    if unknown or not backends:
        parser.error(f"--backends takes sqlite and/or postgresql, not {args.backends!r}")
    if args.requests < 1 or args.concurrency < 1 or args.one_at_a_time < 0:
        parser.error("--requests and --concurrency must be at least 1, --one-at-a-time at least 0")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.paced_rate < 0 or args.paced_seconds <= 0:
        parser.error("--paced-rate must be at least 0 and --paced-seconds more than 0")
    args.backends = backends
    return args


def phase_sizes(args: argparse.Namespace) -> dict[str, int]:
    """Requests per platform in each kind of phase."""
    return {
        "loaded": args.requests,
        "idle": args.one_at_a_time,
        "paced": math.ceil(args.paced_rate * args.paced_seconds),
    }


async def main(args: argparse.Namespace) -> list[BackendResult]:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:  # SIGTERM like Ctrl-C: cancel, so every `finally` stops its process
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"whoowns load benchmark: {args.requests} requests per platform per backend, "
        f"{args.concurrency} in flight; Python {platform.python_version()}, {cpus} CPU(s) shared "
        f"by this load generator (with the fakes), the server and the bare endpoint"
    )
    users = {sid: name for sid, _, name, _ in (*HOLDERS, BACKUP)}
    users.update({f"UASK{k:02d}": f"Asker {k}" for k in range(ASKERS)})
    users[SLACK_ADMIN] = "Admin"
    results: list[BackendResult] = []
    with tempfile.TemporaryDirectory(prefix="whoowns-load-") as tmp:
        logs = Path(tmp)
        async with contextlib.AsyncExitStack() as stack:
            slack = await stack.enter_async_context(TimedSlack(users))
            connector = await stack.enter_async_context(TimedConnector())
            session = await stack.enter_async_context(
                aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=4 * args.concurrency),
                    timeout=aiohttp.ClientTimeout(total=args.reply_timeout),
                )
            )
            load = Load(
                session=session,
                slack=slack,
                connector=connector,
                reply_timeout=args.reply_timeout,
                slack_bodies={
                    kind: slack_bodies(count, uuid.uuid4().hex[:6].upper())
                    for kind, count in phase_sizes(args).items()
                },
                teams_activities={
                    kind: teams_activities(count, connector.service_url)
                    for kind, count in phase_sizes(args).items()
                },
            )
            port = free_port()
            bare = await stack.enter_async_context(
                run_child(
                    "bare-endpoint",
                    [
                        sys.executable,
                        str(Path(__file__).with_name("bare_endpoint.py")),
                        "--port",
                        str(port),
                    ],
                    child_env({"SLACK_SIGNING_SECRET": SECRET}),
                    port,
                    logs,
                )
            )
            warm = [
                load.bare_slack(bare.base_url, body) for _, body in load.slack_bodies["loaded"][:50]
            ]
            await asyncio.gather(*warm)
            for backend in args.backends:
                rounds: list[BackendResult] = []
                for round_ in range(args.rounds):
                    if args.rounds > 1:
                        print(f"\n[{backend}] round {round_ + 1} of {args.rounds}")
                    try:
                        rounds.append(await run_backend(backend, args, load, bare, logs, round_))
                    except RuntimeError as exc:  # the server would not start or answer: go on
                        print(f"\n[{backend}] failed: {exc}")
                        reason = f"failed: {str(exc).splitlines()[0]}"
                        rounds.append(BackendResult(backend, skipped=reason))
                    if rounds[-1].skipped:
                        break
                results.append(combine(rounds))
    report(results, args)
    return results


def run(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    try:
        asyncio.run(main(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\ninterrupted; servers stopped")
        return 130
    print(f"\n(whole run {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(run())
