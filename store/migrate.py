"""Schema upgrades with the Alembic migrations shipped inside the package."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from alembic.util import CommandError
from sqlalchemy.engine import Connection

from store.db import Database

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer whoowns; running older code on it could corrupt data."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "no migrations shipped"
    return head


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _known(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is not None
    except (ResolutionError, CommandError):
        return False


def _upgrade(connection: Connection) -> tuple[str | None, str]:
    scripts = ScriptDirectory.from_config(_config())
    current = _current(connection)
    if current is not None and not _known(scripts, current):
        raise SchemaTooNew(
            f"the database is at schema revision {current}, which this version of whoowns does not "
            "know: it was upgraded by a newer whoowns. Run that version, or restore a backup."
        )
    head = head_revision()
    if current != head:
        command.upgrade(_config(connection), "head")
    return current, head


async def upgrade(db: Database) -> tuple[str | None, str]:
    """Bring the schema to the newest revision; returns (revision before, revision now)."""
    async with db.engine.begin() as conn:
        before, after = await conn.run_sync(_upgrade)
    if before != after:
        log.info("database schema upgraded from %s to %s", before or "empty", after)
    return before, after


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(_current)
