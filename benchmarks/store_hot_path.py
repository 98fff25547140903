"""The two statements of every question on PostgreSQL, through SQLAlchemy and through asyncpg directly.

A question's turn runs two statements: its event id is claimed (an INSERT … ON CONFLICT DO NOTHING)
and the matched role's holders are read. `Database.fetch` and `Database.write_once` run them on the
pooled asyncpg connection itself; this prints the CPU and wall time per statement both ways, in the
same run, so the saving is measured rather than assumed.

    python benchmarks/store_hot_path.py [--url postgresql://postgres@127.0.0.1:5432/test] [-n 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from store import assignments, events, migrate, workspaces
from store.db import Database


async def _timed(label: str, runs: int, step: Callable[[int], Awaitable[Any]]) -> None:
    for i in range(min(runs, 200)):  # warm: pool filled, statements prepared
        await step(-i - 1)
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(runs):
        await step(i)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"  {label:<44} {cpu / runs * 1e3:6.3f} ms CPU  {wall / runs * 1e3:6.3f} ms wall")


async def main(url: str, runs: int) -> None:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = Database(url)
    async with admin.single_statement() as connection:
        await connection.execute(text(f"CREATE SCHEMA {schema}"))
    db = Database(url, schema=schema)
    try:
        await migrate.upgrade(db)
        workspace = await workspaces.ensure_workspace(db, "slack", "TBENCH", "bench")
        found = await workspaces.resolve_project(db, workspace.id)
        assert found is not None
        project = found.id
        statement = assignments._holders_statement(True, db.dialect)
        run = uuid.uuid4().hex

        async def holders_via_sqlalchemy(_: int) -> None:
            async with db.read_connection() as connection:
                await connection.execute(
                    statement, {"project_id": project, "when": datetime.now(UTC), "role_ids": [1]}
                )

        async def holders_direct(_: int) -> None:
            await assignments.holders(db, project, [1])

        async def claim_via_sqlalchemy(i: int) -> None:
            async with db.single_statement() as connection:
                await connection.execute(
                    events._claim(db.dialect),
                    {
                        "platform": "bench",
                        "event_id": f"s{run}{i}",
                        "received_at": datetime.now(UTC),
                    },
                )

        async def claim_direct(i: int) -> None:
            await events.claim_event(db, "bench", f"d{run}{i}")

        print(f"PostgreSQL statements, {runs} each, one at a time (schema {schema}):")
        await _timed("holders, SQLAlchemy Core connection", runs, holders_via_sqlalchemy)
        await _timed("holders, Database.fetch (asyncpg)", runs, holders_direct)
        await _timed("event claim, SQLAlchemy Core connection", runs, claim_via_sqlalchemy)
        await _timed("event claim, Database.write_once (asyncpg)", runs, claim_direct)
    finally:
        await db.dispose()
        async with admin.single_statement() as connection:
            await connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        await admin.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url",
        default=os.environ.get(
            "WHOOWNS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("-n", "--runs", type=int, default=3000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.url, arguments.runs))
