"""The database handle: engine, sessions and the per-backend settings that keep writes safe."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
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
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable

log = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///whoowns.db"
# Connections kept open per replica. A turn can hold two at once (its event claim runs beside its
# answer), so 16 turns in flight need 32; a connection beyond the pool is closed as soon as it is
# returned, and opening one costs about 1 ms of CPU (a TLS negotiation attempt, a login and
# statements prepared again), which under load churned ~500 connections a minute. Two replicas at
# the full size stay under PostgreSQL's default of 100 connections.
POOL_SIZE = 40
POOL_OVERFLOW = 8


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


# What a lost or refused PostgreSQL connection raises when asyncpg is used directly.
_ASYNCPG_CONNECTION_ERRORS = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
)
_ROWCOUNT = re.compile(r"(\d+)$")


@dataclass(frozen=True)
class _Rendered:
    """A statement's SQL for asyncpg, and the order its named parameters go in."""

    sql: str
    names: tuple[str, ...]

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[name] for name in self.names]


class Database:
    """Owns the engine and hands out transactions. Only `store/` modules use it directly."""

    def __init__(self, url: str, *, echo: bool = False, schema: str | None = None) -> None:
        """`schema` (PostgreSQL only) keeps all tables in that schema, e.g. one per test."""
        self.url = normalise_url(url)
        self.schema = schema
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if not self.is_sqlite:
            # No pre-ping (a round trip per checkout): a dead connection fails its statement, SQLAlchemy
            # then drops the whole pool, and the next request connects afresh.
            kwargs.update(pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW, pool_recycle=1800)
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
        # Hot statements rendered once, by identity: they are module constants built once.
        self._rendered: dict[int, tuple[Executable, _Rendered]] = {}

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

    async def fetch(self, statement: Executable, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        """Rows of one read-only statement on a question's hot path (built once, by the caller).

        On PostgreSQL it runs on the pooled asyncpg connection itself: SQLAlchemy's per-execution
        work (cache lookup, parameter and result processing, a Connection object) cost about as
        much CPU as the statement (0.3–0.4 ms of 0.6 ms, `benchmarks/store_hot_path.py`). Values come
        back as the driver gives them: timezone-aware datetimes, enum members as strings.
        """
        if self.is_sqlite:
            async with self.read_connection() as connection:
                return list(await connection.execute(statement, dict(params)))
        rendered = self._render(statement)
        async with self._raw_connection() as connection:
            return list(await connection.fetch(rendered.sql, *rendered.arguments(params)))

    async def write_once(self, statement: Executable, params: Mapping[str, Any]) -> int:
        """Run one statement that writes (atomic by itself) on the hot path; rows it changed."""
        if self.is_sqlite:
            async with self.single_statement() as connection:
                result = await connection.execute(statement, dict(params))
                return int(result.rowcount)
        rendered = self._render(statement)
        async with self._raw_connection() as connection:
            status = await connection.execute(rendered.sql, *rendered.arguments(params))
        found = _ROWCOUNT.search(status)
        return int(found.group(1)) if found else 0

    def _render(self, statement: Executable) -> _Rendered:
        kept = self._rendered.get(id(statement))
        if kept is None:
            if not isinstance(statement, ClauseElement):
                raise TypeError(f"not a SQL statement: {statement!r}")
            compiled = statement.compile(dialect=self.engine.dialect)
            if not isinstance(compiled, SQLCompiler) or compiled.positiontup is None:
                raise TypeError(f"not rendered with positional parameters: {statement!r}")
            kept = (statement, _Rendered(compiled.string, tuple(compiled.positiontup)))
            self._rendered[id(statement)] = kept
        return kept[1]

    @asynccontextmanager
    async def _raw_connection(self) -> AsyncIterator[Any]:
        """The asyncpg connection of a pooled connection, outside any transaction (autocommit)."""
        with _store_errors():
            pooled = await self.engine.raw_connection()
        try:
            yield pooled.driver_connection
        except _ASYNCPG_CONNECTION_ERRORS as exc:
            # Not returned to the pool; and the pool's other connections went with the server, so
            # they are dropped too (as SQLAlchemy does when its own statements meet a disconnect):
            # once it is back, the next checkouts connect afresh instead of failing one by one.
            pooled.invalidate(exc)
            await self.engine.dispose(close=False)
            raise _unavailable(exc) from exc
        finally:
            pooled.close()

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        if self._write_lock is None:
            yield
            return
        async with self._write_lock:
            yield

    @asynccontextmanager
    async def _connect(self, engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
        with _store_errors():
            async with engine.connect() as connection:
                yield connection

    @asynccontextmanager
    async def _begin(
        self, sessions: async_sessionmaker[AsyncSession]
    ) -> AsyncIterator[AsyncSession]:
        with _store_errors():
            async with sessions() as session, session.begin():
                yield session

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


@contextmanager
def _store_errors() -> Iterator[None]:
    """A lost or refused database connection becomes StoreUnavailable; other errors stay as they are."""
    try:
        yield
    except (OSError, OperationalError, DBAPIError) as exc:
        if _is_connection_problem(exc):
            raise _unavailable(exc) from exc
        raise


def _unavailable(exc: BaseException) -> StoreUnavailable:
    log.warning("store unavailable: %s", exc.__class__.__name__)
    return StoreUnavailable(str(exc))


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
