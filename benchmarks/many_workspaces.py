"""One replica serving thousands of workspaces on PostgreSQL: memory, cold and warm questions, and
throughput with the questions spread across every workspace.

Each workspace has the default catalogue plus a few responsibilities of its own (drawn from a pool,
so that no two catalogues read the same and no matcher is shared between them: the hard case for
memory). Each measurement runs in a fresh process, as a replica starts:

- bounded: the server's budgets (WHOOWNS_WORKSPACES_KEPT, WHOOWNS_MATCHER_PHRASES). The first
  question of workspaces never asked (cold), the same again (warm), then questions to every
  workspace in a random order, several in flight; RSS at the end;
- baseline, in the same run: no budgets, for the first `--baseline` workspaces, to show what each
  kept matcher costs and what keeping them all would take.

Questions go through the dispatcher, as a chat message does (workspace, person, project, matcher,
holders). Goal: RSS at most 500 MB.

    python benchmarks/many_workspaces.py [--workspaces 5000] [--custom 3] [--concurrency 8]

PostgreSQL: WHOOWNS_BENCH_POSTGRES_URL, else WHOOWNS_TEST_DATABASE_URL, else the local server; a
schema of its own, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.load import postgres_database
from handlers.dispatch import Dispatcher
from handlers.matching.registry import PHRASE_BUDGET, WORKSPACES_KEPT, shipped_registry
from handlers.message import Message
from handlers.turn import Services
from seed.catalogue import CatalogueSpec, ResponsibilitySpec, default_catalogue
from store import migrate, workspaces
from store.db import Database

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
VERBS = ("Curate", "Audit", "Maintain", "Review", "Publish", "Reconcile", "Archive", "Schedule")
OBJECTS = (
    "herbarium scans",
    "vendor invoices",
    "lab notebooks",
    "satellite tiles",
    "consent forms",
    "call transcripts",
    "sensor calibrations",
    "patent filings",
    "shipping manifests",
    "survey panels",
)
PLACES = ("for the Oslo office", "for partners", "for the field teams", "")
QUESTIONS = (
    "who handles data drift?",
    "who owns the sprint backlog?",
    "someone to keep an eye on our models' input going stale",  # the meaning stage
)


def pool() -> list[str]:
    return [f"{v} the {o} {p}".strip() for v in VERBS for o in OBJECTS for p in PLACES]


def catalogue_for(number: int, custom: int) -> tuple[CatalogueSpec, str]:
    """The default catalogue with `custom` responsibilities of the workspace's own; one of them,
    to ask about."""
    chooser = random.Random(number)
    texts = chooser.sample(pool(), custom)
    default = default_catalogue()
    roles = list(default.roles)
    for text in texts:
        at = chooser.randrange(len(roles))
        role = roles[at]
        roles[at] = replace(
            role, responsibilities=(*role.responsibilities, ResponsibilitySpec(text, ()))
        )
    return replace(default, roles=tuple(roles)), texts[0]


def external_id(number: int) -> str:
    return f"TB{number:05d}"


async def create(db: Database, count: int, custom: int, concurrency: int) -> None:
    numbers = iter(range(count))

    async def worker() -> None:
        for number in numbers:
            spec, _ = catalogue_for(number, custom)
            await workspaces.ensure_workspace(
                db, "slack", external_id(number), external_id(number), catalogue=spec
            )

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def question(number: int, turn: int, custom: int) -> str:
    _, own = catalogue_for(number, custom)
    return (*QUESTIONS, f"who is responsible to {own.lower()}?")[turn % (len(QUESTIONS) + 1)]


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": statistics.median(ordered) * 1e3,
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3,
    }


async def replica(args: argparse.Namespace) -> dict[str, Any]:
    """One measurement, in this (fresh) process."""
    db = Database(args.url, schema=args.schema)
    started = time.perf_counter()
    registry = shipped_registry(
        db,
        workspaces_kept=args.kept or 10**9,
        phrase_budget=args.phrases or 10**12,
    )
    await registry.warm()
    dispatcher = Dispatcher(Services(db=db, matchers=registry))
    result: dict[str, Any] = {"start_s": time.perf_counter() - started, "rss_start_mb": rss_mb()}

    async def ask(number: int, turn: int) -> float:
        began = time.perf_counter()
        await dispatcher.handle(
            Message(
                platform="slack",
                workspace=external_id(number),
                user_id=f"U{turn % 7}",
                text=question(number, turn, args.custom),
            )
        )
        return time.perf_counter() - began

    try:
        if args.phase == "baseline":
            for number in range(args.baseline):
                await ask(number, number)
            result["rss_end_mb"] = rss_mb()
            result["workspaces"] = args.baseline
        else:
            sample = random.Random(1).sample(range(args.workspaces), args.sample)
            result["cold"] = percentiles([await ask(n, i) for i, n in enumerate(sample)])
            warm = [await ask(n, i + r) for r in range(1, 4) for i, n in enumerate(sample)]
            result["warm"] = percentiles(warm)
            order = list(range(args.workspaces))
            random.Random(2).shuffle(order)
            queue = iter(enumerate(order))
            latencies: list[float] = []

            async def worker() -> None:
                for turn, number in queue:
                    latencies.append(await ask(number, turn))

            began = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(args.concurrency)))
            elapsed = time.perf_counter() - began
            result["spread"] = {
                "questions": len(latencies),
                "per_s": len(latencies) / elapsed,
                **percentiles(latencies),
            }
            result["rss_end_mb"] = rss_mb()
        stats = registry.stats()
        result["kept"] = stats.workspaces
        result["matchers"] = stats.matchers
        result["phrases"] = stats.phrases
        result["evictions"] = stats.evictions
    finally:
        await db.dispose()
    return result


def run_child(args: argparse.Namespace, schema: str, phase: str, **budgets: int) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        phase,
        "--schema",
        schema,
        "--url",
        args.url,
        "--workspaces",
        str(args.workspaces),
        "--custom",
        str(args.custom),
        "--sample",
        str(args.sample),
        "--baseline",
        str(args.baseline),
        "--concurrency",
        str(args.concurrency),
        *(f"--{name}={value}" for name, value in budgets.items()),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{phase} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


async def setup(args: argparse.Namespace, schema: str) -> None:
    db = Database(args.url, schema=schema)
    try:
        await migrate.upgrade(db)
        began = time.perf_counter()
        await create(db, args.workspaces, args.custom, concurrency=8)
        print(
            f"{args.workspaces} workspaces, each the default catalogue and {args.custom} "
            f"responsibilities of its own, written in {time.perf_counter() - began:.0f} s",
            flush=True,
        )
    finally:
        await db.dispose()


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.ERROR)
    async with postgres_database(args.url) as (schema, why):
        if schema is None:
            print(f"PostgreSQL: skipped ({why})")
            return
        await setup(args, schema)
        # The phrase vectors of the workspaces' own texts are embedded once, by the first replica
        # that meets them, and kept in the store: a warm-up pass, as after a first deploy.
        run_child(args, schema, "baseline", baseline=min(args.workspaces, len(pool()) * 2))
        baseline = run_child(args, schema, "baseline", kept=0, phrases=0)
        bounded = run_child(args, schema, "bounded", kept=WORKSPACES_KEPT, phrases=PHRASE_BUDGET)
    per_workspace = (baseline["rss_end_mb"] - baseline["rss_start_mb"]) / baseline["workspaces"]
    print(
        f"\nbaseline, no budgets: {baseline['workspaces']} workspaces asked, RSS "
        f"{baseline['rss_start_mb']:.0f} -> {baseline['rss_end_mb']:.0f} MB "
        f"({per_workspace:.2f} MB a workspace; all {args.workspaces} would take about "
        f"{baseline['rss_start_mb'] + per_workspace * args.workspaces:.0f} MB)"
    )
    print(
        f"bounded (WHOOWNS_WORKSPACES_KEPT={WORKSPACES_KEPT}, "
        f"WHOOWNS_MATCHER_PHRASES={PHRASE_BUDGET}): start {bounded['start_s']:.1f} s, "
        f"RSS {bounded['rss_start_mb']:.0f} MB at start, {bounded['rss_end_mb']:.0f} MB after "
        f"every workspace was asked (goal <= 500 MB); {bounded['kept']} indexes kept, "
        f"{bounded['matchers']} matchers, {bounded['phrases']} phrases, "
        f"{bounded['evictions']} evictions"
    )
    cold, warm, spread = bounded["cold"], bounded["warm"], bounded["spread"]
    print(
        f"  cold workspace, its first question ({args.sample} workspaces): "
        f"p50 {cold['p50']:.1f} ms, p99 {cold['p99']:.1f} ms"
    )
    print(f"  warm workspace: p50 {warm['p50']:.1f} ms, p99 {warm['p99']:.1f} ms")
    print(
        f"  spread over all {args.workspaces} workspaces, {args.concurrency} in flight: "
        f"{spread['per_s']:.0f} questions/s, p50 {spread['p50']:.1f} ms, p99 {spread['p99']:.1f} ms"
    )


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=5000)
    parser.add_argument("--custom", type=int, default=3)
    parser.add_argument("--sample", type=int, default=200, help="workspaces asked cold, then warm")
    parser.add_argument("--baseline", type=int, default=300, help="workspaces without budgets")
    parser.add_argument("--child", dest="phase", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--url",
        default=os.environ.get("WHOOWNS_BENCH_POSTGRES_URL")
        or os.environ.get("WHOOWNS_TEST_DATABASE_URL")
        or DEFAULT_POSTGRES,
    )
    parser.add_argument("--schema", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--kept", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--phrases", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    options = arguments()
    if options.phase:
        logging.basicConfig(level=logging.ERROR)
        print(json.dumps(asyncio.run(replica(options))))
    else:
        asyncio.run(main(options))
