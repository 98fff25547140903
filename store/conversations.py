"""Conversation references for proactive messages, shared by every replica through the database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from store.db import Database
from store.models import ConversationRef, Workspace


def user_key(user_id: str) -> str:
    return f"user:{user_id}"


def channel_key(channel_id: str) -> str:
    return f"channel:{channel_id}"


def thread_key(conversation_id: str) -> str:
    """One thread of a channel (a Teams channel conversation, "19:…;messageid=…")."""
    return f"thread:{conversation_id}"


TEAM_PREFIX = "team:"


def team_key(team_id: str) -> str:
    """A team the bot is installed in: its roster holds people the bot may open a chat with."""
    return f"{TEAM_PREFIX}{team_id}"


async def save_reference(
    db: Database, workspace_id: int, key: str, reference: dict[str, Any]
) -> None:
    insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
    now = datetime.now(UTC)
    statement = insert(ConversationRef).values(
        workspace_id=workspace_id, key=key[:400], reference=reference, updated_at=now
    )
    statement = statement.on_conflict_do_update(
        index_elements=["workspace_id", "key"],
        set_={"reference": statement.excluded.reference, "updated_at": now},
    )
    async with db.transaction() as session:
        await session.execute(statement)


async def find_reference(
    db: Database, platform: str, workspace: str, key: str
) -> dict[str, Any] | None:
    async with db.reading() as session:
        reference = await session.scalar(
            select(ConversationRef.reference)
            .join(Workspace, Workspace.id == ConversationRef.workspace_id)
            .where(
                Workspace.platform == platform,
                Workspace.external_id == workspace,
                ConversationRef.key == key,
            )
        )
        return dict(reference) if reference else None


async def find_references(
    db: Database, platform: str, workspace: str, prefix: str
) -> list[dict[str, Any]]:
    """Every reference whose key starts with `prefix` (e.g. each team the bot is in), the most
    recently seen first."""
    async with db.reading() as session:
        rows = await session.scalars(
            select(ConversationRef.reference)
            .join(Workspace, Workspace.id == ConversationRef.workspace_id)
            .where(
                Workspace.platform == platform,
                Workspace.external_id == workspace,
                ConversationRef.key.startswith(prefix, autoescape=True),
            )
            .order_by(ConversationRef.updated_at.desc())
        )
        return [dict(reference) for reference in rows]
