"""Slack installs on many workspaces: Bolt's OAuth v2 flow over real HTTP against the local fake
of Slack (its oauth.v2.access checks the app's credentials as Slack does), the installations kept
in our database, each workspace answered with its own token, rotation and uninstalls."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web

from bot.delivery import DeliveryPolicy
from bot.server import create_app, describe
from bot.settings import Settings, SettingsError
from bot.slack.adapter import BOT_SCOPES, SlackConfig, SlackOAuth
from handlers.dispatch import Dispatcher
from handlers.message import Mention, Message
from store import outbox, slack_installs, workspaces
from store.db import Database
from store.models import OutboxStatus
from tests.fakes.slack import (
    FORM,
    JSON,
    FakeSlack,
    SlackCall,
    app_mention,
    app_uninstalled,
    command_body,
    event_body,
    post_signed,
    tokens_revoked,
)
from tests.helpers import eventually, until

SECRET = "oauth-signing-secret"
CLIENT_ID = "1111.2222"
CLIENT_SECRET = "oauth-client-secret"
ADMIN = "U_ADMIN"
FAST = DeliveryPolicy(
    lease=timedelta(seconds=3),
    first_backoff=timedelta(milliseconds=200),
    max_backoff=timedelta(seconds=1),
    poll=0.1,
)


@dataclass
class Installer:
    """A browser going through "Add to Slack": our install page, Slack's consent, our redirect."""

    url: str
    slack: FakeSlack
    http: aiohttp.ClientSession

    async def start(self) -> tuple[str, str]:
        """GET /slack/install: the state in Slack's authorize URL, and the cookie that binds it
        to this browser."""
        async with self.http.get(f"{self.url}/slack/install") as response:
            assert response.status == 200, await response.text()
            page = await response.text()
            cookie = SimpleCookie(response.headers["Set-Cookie"])
        found = re.search(r'href="(https://slack\.com/oauth/v2/authorize[^"]+)"', page)
        assert found is not None, page
        link = html.unescape(found[1])
        query = parse_qs(urlsplit(link).query)
        assert query["client_id"] == [CLIENT_ID]
        assert query["scope"] == [",".join(BOT_SCOPES)]
        return query["state"][0], cookie["slack-app-oauth-state"].value

    async def back_from_slack(self, query: dict[str, str], cookie: str | None) -> tuple[int, str]:
        headers = {"Cookie": f"slack-app-oauth-state={cookie}"} if cookie else {}
        async with self.http.get(
            f"{self.url}/slack/oauth_redirect", params=query, headers=headers
        ) as response:
            return response.status, await response.text()

    async def install(self, team: str, *, expires_in: int | None = None) -> str:
        """The whole flow for `team`; the bot token Slack granted."""
        state, cookie = await self.start()
        code = self.slack.grant(team, f"Team {team}", installer=ADMIN, expires_in=expires_in)
        status, page = await self.back_from_slack({"code": code, "state": state}, cookie)
        assert status == 200, page
        return next(t for t, owner in self.slack.tokens.items() if owner == team)


@dataclass
class Running:
    url: str
    slack: FakeSlack
    installer: Installer
    db: Database

    async def event(self, event: dict[str, Any], *, team: str) -> int:
        status, _ = await post_signed(
            f"{self.url}/slack/events",
            event_body(event, team_id=team),
            secret=SECRET,
            content_type=JSON,
        )
        return status

    async def mention(self, text: str, *, team: str, user: str = "U1") -> SlackCall:
        before = len(self.slack.calls)
        assert (
            await self.event(app_mention(f"<@UBOT> {text}", user=user, team=team), team=team) == 200
        )
        return await eventually(
            lambda: next(
                (
                    c
                    for c in self.slack.calls[before:]
                    if c.method == "chat.postMessage" and c.args.get("channel") == "C1"
                ),
                None,
            ),
            what=f"reply in {team}",
        )


def oauth_settings(slack: FakeSlack, db: Database, **oauth: Any) -> Settings:
    return Settings(
        database_url=db.url,
        database_schema=db.schema,
        admins=frozenset({ADMIN}),
        slack=SlackConfig(
            SECRET,
            None,
            None,
            slack.api_url,
            timeout=1,
            oauth=SlackOAuth(CLIENT_ID, oauth.pop("client_secret", CLIENT_SECRET), BOT_SCOPES),
        ),
        delivery=FAST,
    )


@pytest.fixture
async def running(database: Database) -> AsyncIterator[Running]:
    async with FakeSlack(users={"U1": "Alice", "U3": "Carol", ADMIN: "Admin"}) as slack:
        slack.oauth_app(CLIENT_ID, CLIENT_SECRET)
        runner = web.AppRunner(create_app(oauth_settings(slack, database)))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with aiohttp.ClientSession() as http:
            yield Running(url, slack, Installer(url, slack, http), database)
        await runner.cleanup()


async def stored_token(db: Database, team: str) -> str | None:
    found = await slack_installs.find_installation(db, enterprise_id=None, team_id=team)
    return found.tokens.bot_token if found is not None else None


# --- the install flow ----------------------------------------------------------------------------


async def test_add_to_slack_exchanges_the_code_and_keeps_the_workspaces_token(
    running: Running,
) -> None:
    token = await running.installer.install("T1")
    [exchange] = running.slack.calls_to("oauth.v2.access")
    assert exchange.args["code"].startswith("code-T1-")
    assert await stored_token(running.db, "T1") == token
    # The bot answers that workspace with that token, as soon as it is installed.
    reply = await running.mention("who handles data drift?", team="T1")
    assert reply.token == token and "Data Scientist" in str(reply.args["text"])


async def test_each_workspace_is_answered_and_notified_with_its_own_token(
    running: Running, database: Database, dispatcher: Dispatcher
) -> None:
    first = await running.installer.install("T1")
    second = await running.installer.install("T2")
    assert first != second
    assert (await running.mention("who owns the backlog?", team="T1")).token == first
    assert (await running.mention("who owns the backlog?", team="T2")).token == second
    # A notification written outside any request (here by another process's dispatcher) is sent
    # by the delivery worker with its workspace's token.
    carol = (Mention("U3", "Carol"),)
    await dispatcher.handle(
        Message(
            platform="slack",
            workspace="T2",
            user_id=ADMIN,
            text="assign @U3 as Scrum Master",
            mentions=carol,
        )
    )
    dm = await eventually(
        lambda: next(
            (c for c in running.slack.calls_to("chat.postMessage") if c.args["channel"] == "DU3"),
            None,
        ),
        what="the DM to Carol",
    )
    assert dm.token == second
    assert all(c.token == second for c in running.slack.calls_to("conversations.open"))


async def test_an_install_with_a_forged_missing_or_reused_state_is_refused(
    running: Running,
) -> None:
    installer = running.installer
    state, cookie = await installer.start()
    code = running.slack.grant("T1")
    # Another browser (no cookie) cannot finish someone else's install.
    status, page = await installer.back_from_slack({"code": code, "state": state}, None)
    assert status == 400 and "invalid_browser" in page
    status, page = await installer.back_from_slack({"code": code, "state": "forged"}, "forged")
    assert status == 401 and "invalid_state" in page
    status, _ = await installer.back_from_slack({"code": code, "state": state}, cookie)
    assert status == 200
    # Once used, the state is gone: a replayed redirect installs nothing.
    status, page = await installer.back_from_slack({"code": code, "state": state}, cookie)
    assert status == 401 and "invalid_state" in page
    assert len(running.slack.calls_to("oauth.v2.access")) == 1


async def test_a_person_who_cancels_on_slacks_page_is_told_so_and_nothing_is_saved(
    running: Running,
) -> None:
    state, cookie = await running.installer.start()
    status, page = await running.installer.back_from_slack(
        {"error": "access_denied", "state": state}, cookie
    )
    assert status == 200 and "access_denied" in page
    assert await stored_token(running.db, "T1") is None


async def test_a_code_slack_refuses_installs_nothing(database: Database) -> None:
    async with FakeSlack() as slack, aiohttp.ClientSession() as http:
        slack.oauth_app(CLIENT_ID, "the real secret")
        runner = web.AppRunner(create_app(oauth_settings(slack, database)))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            installer = Installer(f"http://127.0.0.1:{runner.addresses[0][1]}", slack, http)
            state, cookie = await installer.start()
            code = slack.grant("T1")
            status, page = await installer.back_from_slack({"code": code, "state": state}, cookie)
        finally:
            await runner.cleanup()
    [exchange] = slack.calls_to("oauth.v2.access")
    assert exchange.response == {"ok": False, "error": "bad_client_secret"}
    assert status == 401 and "invalid_code" in page
    assert await stored_token(database, "T1") is None


async def test_a_workspace_without_the_app_is_told_to_install_it(running: Running) -> None:
    await running.installer.install("T1")
    before = len(running.slack.calls)
    # An event is acknowledged (Slack would retry it otherwise) and answered by nothing.
    mention = app_mention("<@UBOT> who owns the backlog?", team="T9")
    assert await running.event(mention, team="T9") == 200
    # A command is answered through its response_url, which needs no token.
    body = command_body(
        "who owns the backlog?", team_id="T9", response_url=running.slack.response_url("t9")
    )
    status, _ = await post_signed(
        f"{running.url}/slack/events", body, secret=SECRET, content_type=FORM
    )
    assert status == 200
    [told] = await running.slack.wait_for("response_url")
    assert "not installed in this workspace" in told.args["text"]
    await running.mention("who owns the backlog?", team="T1")
    assert [c.token for c in running.slack.calls[before:] if c.method == "chat.postMessage"] == [
        next(iter(running.slack.tokens))
    ]


# --- token rotation ------------------------------------------------------------------------------


async def test_a_token_about_to_expire_is_refreshed_once_and_the_new_one_kept(
    running: Running,
) -> None:
    first = await running.installer.install("T1", expires_in=600)  # well inside the 2 h margin
    reply = await running.mention("who owns the backlog?", team="T1")
    refreshes = [c for c in running.slack.calls_to("oauth.v2.access") if c.args.get("grant_type")]
    assert [c.args["grant_type"] for c in refreshes] == ["refresh_token"]
    renewed = await stored_token(running.db, "T1")
    assert renewed is not None and renewed != first and reply.token == renewed
    stored = await slack_installs.find_installation(running.db, enterprise_id=None, team_id="T1")
    assert stored is not None and stored.tokens.bot_refresh_token is not None
    assert stored.tokens.bot_token_expires_at is not None
    assert stored.tokens.bot_token_expires_at > datetime.now(UTC) + timedelta(minutes=5)


async def test_a_token_far_from_expiry_is_used_as_it_is(running: Running) -> None:
    token = await running.installer.install("T1", expires_in=12 * 3600)
    assert (await running.mention("who owns the backlog?", team="T1")).token == token
    assert len(running.slack.calls_to("oauth.v2.access")) == 1


# --- uninstall and revocation --------------------------------------------------------------------


@pytest.mark.parametrize("event", [app_uninstalled(), tokens_revoked()], ids=lambda e: e["type"])
async def test_uninstalling_removes_the_tokens_but_keeps_the_workspaces_data(
    running: Running, database: Database, dispatcher: Dispatcher, event: dict[str, Any]
) -> None:
    await running.installer.install("T1")
    other = await running.installer.install("T2")
    await running.mention("who owns the backlog?", team="T1")
    running.slack.revoke("T1")
    assert await running.event(event, team="T1") == 200
    await until(lambda: stored_token(database, "T1"), None, what="the tokens removed")
    assert await stored_token(database, "T2") == other
    found = await workspaces.find_workspace(database, "slack", "T1")
    assert found is not None  # its people, roles and history stay until an admin deletes them
    # A notification for the uninstalled workspace is marked undeliverable, not retried forever.
    await dispatcher.handle(
        Message(
            platform="slack",
            workspace="T1",
            user_id=ADMIN,
            text="assign @U3 as Scrum Master",
            mentions=(Mention("U3", "Carol"),),
        )
    )

    held = await until(
        lambda: outbox.list_messages(database, [OutboxStatus.FAILED]),
        what="the notification given up",
    )
    assert all("not installed" in (m.last_error or "") for m in held)
    assert not any(
        c.args.get("channel") == "DU3" for c in running.slack.calls_to("chat.postMessage")
    )


# --- configuration -------------------------------------------------------------------------------


def test_installs_are_configured_with_client_id_and_secret() -> None:
    env = {
        "SLACK_SIGNING_SECRET": "s",
        "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET,
    }
    settings = Settings.from_env(env)
    assert settings.slack is not None and settings.slack.bot_token is None
    assert settings.slack.oauth is not None and settings.slack.oauth.scopes == BOT_SCOPES
    assert settings.slack_mode == "http, installs by oauth"
    custom = Settings.from_env({**env, "SLACK_SCOPES": "chat:write, commands"})
    assert custom.slack is not None and custom.slack.oauth is not None
    assert custom.slack.oauth.scopes == ("chat:write", "commands")
    lines = "\n".join(describe(settings, "127.0.0.1", 8080))
    assert "http://127.0.0.1:8080/slack/install" in lines
    assert "http://127.0.0.1:8080/slack/oauth_redirect" in lines
    assert CLIENT_SECRET not in lines and CLIENT_SECRET not in repr(settings)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        (
            {"SLACK_CLIENT_ID": CLIENT_ID, "SLACK_SIGNING_SECRET": "s"},
            "SLACK_CLIENT_SECRET is not set",
        ),
        ({"SLACK_CLIENT_SECRET": "x", "SLACK_SIGNING_SECRET": "s"}, "SLACK_CLIENT_ID is not set"),
        ({"SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": "x"}, "SLACK_SIGNING_SECRET"),
        (
            {
                "SLACK_CLIENT_ID": CLIENT_ID,
                "SLACK_CLIENT_SECRET": "x",
                "SLACK_SIGNING_SECRET": "s",
                "SLACK_BOT_TOKEN": "xoxb-1",
            },
            "not both",
        ),
        (
            {
                "SLACK_CLIENT_ID": CLIENT_ID,
                "SLACK_CLIENT_SECRET": "x",
                "SLACK_SIGNING_SECRET": "s",
                "SLACK_REDIRECT_URI": "http://example.com/slack/oauth_redirect",
            },
            "https",
        ),
    ],
)
def test_a_half_configured_install_is_refused_with_what_is_missing(
    env: dict[str, str], says: str
) -> None:
    with pytest.raises(SettingsError, match=says):
        Settings.from_env(env)
