"""The database handle: engine, sessions and the per-backend settings that keep writes safe."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

log = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///whoowns.db"
# Connections kept open per replica: enough for the requests in flight, so that a busy minute does
# not open and close connections (a TLS handshake each) beyond the pool.
POOL_SIZE = 20


class StoreUnavailable(RuntimeError):
    """The database cannot be reached; callers answer "I can't reach my store" instead of crashing."""


def normalise_url(url: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://, sqlite:///) and pick the async driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    parsed = make_url(url)
    driver = {"postgresql": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}.get(
        parsed.drivername
    )
    if driver:
        parsed = parsed.set(drivername=driver)
    return parsed.render_as_string(hide_password=False)


def _configure_sqlite(engine: AsyncEngine, begin: str) -> None:
    # pysqlite's implicit transactions start lazily and upgrade to a write lock mid-way, which
    # deadlocks two concurrent writers; writers take the lock up front with BEGIN IMMEDIATE, while
    # readers (a second engine) use a plain BEGIN and, in WAL mode, never wait for a writer.
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)


class Database:
    """Owns the engine and hands out transactions. Only `store/` modules use it directly."""

    def __init__(self, url: str, *, echo: bool = False, schema: str | None = None) -> None:
        """`schema` (PostgreSQL only) keeps all tables in that schema, e.g. one per test."""
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if not self.is_sqlite:
            # No pre-ping (a round trip per checkout): a dead connection fails its statement, SQLAlchemy
            # then drops the whole pool, and the next request connects afresh.
            kwargs.update(pool_size=POOL_SIZE, max_overflow=POOL_SIZE, pool_recycle=1800)
            if schema:
                kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        # Readers and single-statement writes need no BEGIN/COMMIT round trips of their own.
        self.read_engine = self.engine
        self.autocommit_engine = self.engine
        if self.is_sqlite:
            _configure_sqlite(self.engine, "BEGIN IMMEDIATE")
            self.read_engine = create_async_engine(self.url, **kwargs)
            _configure_sqlite(self.read_engine, "BEGIN")
        else:
            self.read_engine = self.autocommit_engine = self.engine.execution_options(
                isolation_level="AUTOCOMMIT"
            )
        # SQLite has one writer at a time; writers queue here in order rather than in SQLite's busy
        # handler, whose backoff sleeps give multi-second tails under load.
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self.is_sqlite else None
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work that may write: commits on success, rolls back on any error."""
        async with self._writing(), self._begin(self._sessions) as session:
            yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A transaction that only reads (on SQLite it does not take the write lock)."""
        async with self._begin(self._read_sessions) as session:
            yield session

    @asynccontextmanager
    async def read_connection(self) -> AsyncIterator[AsyncConnection]:
        """A bare connection for hot read paths: Core statements, no ORM session to set up."""
        async with self._connect(self.read_engine) as connection:
            yield connection

    @asynccontextmanager
    async def single_statement(self) -> AsyncIterator[AsyncConnection]:
        """For one statement that writes (atomic by itself): committed when the block ends."""
        async with self._writing(), self._connect(self.autocommit_engine) as connection:
            yield connection
            await connection.commit()

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        if self._write_lock is None:
            yield
            return
        async with self._write_lock:
            yield

    @asynccontextmanager
    async def _connect(self, engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
        try:
            async with engine.connect() as connection:
                yield connection
        except (OSError, OperationalError, DBAPIError) as exc:
            if _is_connection_problem(exc):
                log.warning("store unavailable: %s", exc.__class__.__name__)
                raise StoreUnavailable(str(exc)) from exc
            raise

    @asynccontextmanager
    async def _begin(
        self, sessions: async_sessionmaker[AsyncSession]
    ) -> AsyncIterator[AsyncSession]:
        try:
            async with sessions() as session, session.begin():
                yield session
        except (OSError, OperationalError, DBAPIError) as exc:
            if _is_connection_problem(exc):
                log.warning("store unavailable: %s", exc.__class__.__name__)
                raise StoreUnavailable(str(exc)) from exc
            raise

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
        except (OSError, DBAPIError):
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


def _is_connection_problem(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError):
        message = str(exc).lower()
        return any(
            word in message
            for word in ("connect", "connection", "unable to open", "terminat", "shutdown")
        )
    return False
