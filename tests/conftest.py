"""Fixtures: every store test runs on a real SQLite file and, when configured, a real PostgreSQL.

PostgreSQL comes from WHOOWNS_TEST_DATABASE_URL (CI sets it to the local server); each test gets a
schema of its own, dropped afterwards. Without the variable those tests skip and say why.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from hypothesis import settings
from sqlalchemy.engine import make_url

from handlers.dispatch import Dispatcher
from handlers.matching.registry import shipped_registry
from handlers.turn import HandlerConfig, Services
from store import migrate
from store.db import Database
from tests.fakes.tcp_proxy import TcpProxy

# Tests check behaviour, not speed: hypothesis' per-example deadline (200 ms) is a timing assertion,
# and on a slow or busy machine a 40 KB input to the YAML parser can take longer than that.
settings.register_profile("whoowns", deadline=None)
settings.load_profile("whoowns")

PG_ENV = "WHOOWNS_TEST_DATABASE_URL"
REPO = Path(__file__).resolve().parent.parent
SEED_DOCUMENT = REPO.parent / "shared" / "seed" / "key-project-roles.md"


def postgres_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def _asyncpg_dsn(url: str) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and postgres_url() is None:
        pytest.skip(
            f"PostgreSQL tests need {PG_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test)"
        )
    return str(request.param)


@pytest.fixture
async def database(backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database on the backend under test."""
    if backend == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'whoowns.db'}")
        await migrate.upgrade(db)
        yield db
        await db.dispose()
        return
    url = postgres_url()
    assert url is not None
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        db = Database(url, schema=schema)
        await migrate.upgrade(db)
        yield db
        await db.dispose()
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


@pytest.fixture
def config() -> HandlerConfig:
    return HandlerConfig(admins=frozenset({"U_ADMIN"}))


@pytest.fixture
def services(database: Database, config: HandlerConfig) -> Services:
    return Services(
        db=database,
        matchers=shipped_registry(database),
        config=config,
    )


@pytest.fixture
def dispatcher(services: Services) -> Dispatcher:
    return Dispatcher(services)


@asynccontextmanager
async def proxied_postgres() -> AsyncIterator[tuple[str, str, TcpProxy]]:
    """PostgreSQL behind a TCP proxy the test can stop and start: (url through it, schema, proxy).

    Skips the test when no PostgreSQL is configured.
    """
    url = postgres_url()
    if url is None:
        pytest.skip(f"needs PostgreSQL ({PG_ENV}) to put a proxy in front of it")
    target = make_url(url)
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(_asyncpg_dsn(url))
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        async with TcpProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
            proxied = target.set(host="127.0.0.1", port=proxy.port)
            yield proxied.render_as_string(hide_password=False), schema, proxy
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()
