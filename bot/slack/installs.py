"""slack_sdk's installation and OAuth state stores, kept in our database (`store.slack_installs`).

slack_sdk ships SQLAlchemy stores, but they are synchronous and create their own tables outside our
migrations; these are async, migrated with the rest, and shared by every replica.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from store import slack_installs
from store.db import Database
from store.slack_installs import StoredInstallation, Tokens

log = logging.getLogger(__name__)

# The columns of their own; the rest of an Installation is kept as it is.
_TOKEN_FIELDS = ("bot_token", "bot_refresh_token", "bot_token_expires_at")


class DatabaseInstallationStore(AsyncInstallationStore):
    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        details = {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in installation.to_dict_for_copying().items()
            if key not in _TOKEN_FIELDS
        }
        expires_at = installation.bot_token_expires_at
        await slack_installs.save_installation(
            self.db,
            enterprise_id=installation.enterprise_id,
            team_id=None if installation.is_enterprise_install else installation.team_id,
            tokens=Tokens(
                installation.bot_token,
                installation.bot_refresh_token,
                datetime.fromtimestamp(expires_at, UTC) if expires_at is not None else None,
            ),
            details=details,
            installed_at=datetime.fromtimestamp(installation.installed_at, UTC),
        )
        log.info(
            "slack: installed in %s (installer %s)", installation.team_id, installation.user_id
        )

    async def async_save_bot(self, bot: Bot) -> None:
        raise NotImplementedError("installations are saved whole, with async_save")

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        if user_id is not None:
            return None  # a person's own installation (a user token): we ask for none
        stored = await slack_installs.find_installation(
            self.db,
            enterprise_id=enterprise_id,
            team_id=None if is_enterprise_install else team_id,
        )
        if stored is None or stored.tokens.bot_token is None:
            return None
        return _installation(stored)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        installation = await self.async_find_installation(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )
        return installation.to_bot() if installation is not None else None

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.async_delete_installation(enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        if user_id is not None:
            return  # only the installer's user token would go, and we ask for none
        if await slack_installs.delete_installation(
            self.db, enterprise_id=enterprise_id, team_id=team_id
        ):
            log.warning("slack: tokens of %s removed (uninstalled or revoked)", team_id)

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.async_delete_installation(enterprise_id=enterprise_id, team_id=team_id)


class DatabaseStateStore(AsyncOAuthStateStore):
    def __init__(self, db: Database, *, expiration: timedelta = timedelta(minutes=10)) -> None:
        self.db = db
        self.expiration = expiration

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(32)
        await slack_installs.issue_state(self.db, state, datetime.now(UTC) + self.expiration)
        return state

    async def async_consume(self, state: str) -> bool:
        if await slack_installs.consume_state(self.db, state):
            return True
        log.warning("slack: an install came back with an unknown, used or expired state")
        return False


def _installation(stored: StoredInstallation) -> Installation:
    fields: dict[str, Any] = {**stored.details}
    tokens = stored.tokens
    fields.update(
        bot_token=tokens.bot_token,
        bot_refresh_token=tokens.bot_refresh_token,
        bot_token_expires_at=tokens.bot_token_expires_at,
        installed_at=stored.installed_at,
    )
    return Installation(**fields)
