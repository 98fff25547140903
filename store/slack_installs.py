"""Slack installations and OAuth states, for "Add to Slack" on any number of workspaces.

Platform-neutral in form (plain dicts in and out); `bot/slack/installs.py` turns them into
slack_sdk's Installation and Bot. Every replica reads the same rows, so a token rotated or
revoked on one is seen by all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select

from store.db import Database
from store.models import SlackInstallation, SlackOAuthState


@dataclass(frozen=True)
class Tokens:
    bot_token: str | None
    bot_refresh_token: str | None
    bot_token_expires_at: datetime | None


@dataclass(frozen=True)
class StoredInstallation:
    enterprise_id: str | None
    team_id: str | None
    tokens: Tokens
    details: dict[str, Any]
    installed_at: datetime


async def save_installation(
    db: Database,
    *,
    enterprise_id: str | None,
    team_id: str | None,
    tokens: Tokens,
    details: dict[str, Any],
    installed_at: datetime,
) -> None:
    """The workspace's installation, replacing the one before (a reinstall, a rotated token)."""
    now = datetime.now(UTC)
    async with db.transaction() as session:
        row = await session.scalar(
            _matching(select(SlackInstallation), enterprise_id, team_id).with_for_update()
        )
        if row is None:
            row = SlackInstallation(enterprise_id=enterprise_id or "", team_id=team_id or "")
            session.add(row)
        row.bot_token = tokens.bot_token
        row.bot_refresh_token = tokens.bot_refresh_token
        row.bot_token_expires_at = tokens.bot_token_expires_at
        row.details = details
        row.installed_at = installed_at
        row.updated_at = now


async def find_installation(
    db: Database, *, enterprise_id: str | None, team_id: str | None
) -> StoredInstallation | None:
    """A workspace's installation; without `enterprise_id`, whichever org the team is in."""
    query = select(SlackInstallation)
    if enterprise_id is None and team_id:
        query = query.where(SlackInstallation.team_id == team_id)
    else:
        query = _matching(query, enterprise_id, team_id)
    async with db.reading() as session:
        row = await session.scalar(query.limit(1))
        if row is None:
            return None
        return StoredInstallation(
            enterprise_id=row.enterprise_id or None,
            team_id=row.team_id or None,
            tokens=Tokens(row.bot_token, row.bot_refresh_token, row.bot_token_expires_at),
            details=dict(row.details),
            installed_at=row.installed_at,
        )


async def delete_installation(
    db: Database, *, enterprise_id: str | None, team_id: str | None
) -> bool:
    """Forget the workspace's tokens; whether there were any."""
    async with db.transaction() as session:
        result = await session.execute(_matching(delete(SlackInstallation), enterprise_id, team_id))
        return bool(getattr(result, "rowcount", 0))


async def issue_state(db: Database, state: str, expires_at: datetime) -> None:
    now = datetime.now(UTC)
    async with db.transaction() as session:
        # Old states go as new ones come, so that abandoned installs do not pile up.
        await session.execute(delete(SlackOAuthState).where(SlackOAuthState.expires_at < now))
        session.add(SlackOAuthState(state=state, expires_at=expires_at))


async def consume_state(db: Database, state: str) -> bool:
    """Whether `state` was issued and has not expired; it cannot be used again either way."""
    async with db.transaction() as session:
        expires_at = await session.scalar(
            delete(SlackOAuthState)
            .where(SlackOAuthState.state == state)
            .returning(SlackOAuthState.expires_at)
        )
        return expires_at is not None and expires_at > datetime.now(UTC)


def _matching(statement: Any, enterprise_id: str | None, team_id: str | None) -> Any:
    return statement.where(
        SlackInstallation.enterprise_id == (enterprise_id or ""),
        SlackInstallation.team_id == (team_id or ""),
    )
