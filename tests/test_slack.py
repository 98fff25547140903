"""Slack end to end: the real server on 127.0.0.1, a local fake of Slack's Web API, and requests
signed exactly as Slack signs them. Assertions are on what the fake received."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.server import create_app
from bot.settings import Settings
from bot.slack.adapter import BOT_SCOPES, SlackConfig, normalise
from bot.slack.modals import ESCALATE_MESSAGE, WHO_OWNS_MESSAGE
from tests.conftest import proxied_postgres
from tests.fakes.slack import (
    FORM,
    JSON,
    FakeSlack,
    SlackCall,
    app_home_opened,
    app_mention,
    block_actions_body,
    command_body,
    direct_message,
    event_body,
    post_signed,
    url_verification_body,
)
from tests.helpers import eventually

SECRET = "test-signing-secret"
ADMIN = "UADMIN"


@dataclass
class Server:
    url: str
    slack: FakeSlack
    runner: web.AppRunner

    @property
    def events_url(self) -> str:
        return f"{self.url}/slack/events"

    async def event(
        self,
        event: dict[str, Any],
        *,
        team: str = "T1",
        event_id: str | None = None,
        retry_num: int | None = None,
    ) -> int:
        status, _ = await post_signed(
            self.events_url,
            event_body(event, team_id=team, event_id=event_id),
            secret=SECRET,
            content_type=JSON,
            retry_num=retry_num,
        )
        return status

    async def mention(
        self, text: str, *, user: str = "U1", team: str = "T1", channel: str = "C1"
    ) -> SlackCall:
        """@whoowns <text> in a channel; returns the reply posted in its thread (or ephemeral)."""
        before = len(self.slack.calls)
        event = app_mention(f"<@UBOT> {text}", user=user, channel=channel, team=team)
        assert await self.event(event, team=team) == 200
        return await self.next_reply(before)

    async def command(self, text: str, *, user: str = "U1", team: str = "T1") -> SlackCall:
        before = len(self.slack.calls)
        body = command_body(
            text, user_id=user, team_id=team, response_url=self.slack.response_url(uuid.uuid4().hex)
        )
        status, _ = await post_signed(self.events_url, body, secret=SECRET, content_type=FORM)
        assert status == 200
        return await self.next_reply(before, methods=("response_url",))

    async def click(self, on: SlackCall, value: str, *, user: str = "U1") -> SlackCall:
        """A click on a button of the bot's message `on`: a post, or a private (ephemeral) reply,
        which Slack says is ephemeral and which only its response_url can change."""
        ephemeral = on.method != "chat.postMessage"
        channel = str(on.args.get("channel", "C1")) if ephemeral else on.response["channel"]
        ts = on.response.get("message_ts", "1700000099.000100") if ephemeral else on.response["ts"]
        before = len(self.slack.calls)
        body = block_actions_body(
            "whoowns_button_0",
            value,
            user=user,
            channel=channel,
            message_ts=ts,
            response_url=self.slack.response_url("click"),
            is_ephemeral=ephemeral,
        )
        status, _ = await post_signed(self.events_url, body, secret=SECRET, content_type=FORM)
        assert status == 200
        return await self.next_reply(
            before, methods=("chat.update", "chat.postEphemeral", "response_url")
        )

    async def next_reply(
        self, before: int, methods: tuple[str, ...] = ("chat.postMessage", "chat.postEphemeral")
    ) -> SlackCall:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for call in self.slack.calls[before:]:
                if call.method in methods and (
                    call.method != "chat.postMessage" or not _is_dm(call)
                ):
                    return call
            await _tick()
        raise AssertionError(f"no reply among {self.slack.calls[before:]}")

    async def dms(self, user: str, before: int = 0) -> list[SlackCall]:
        return [
            c
            for c in self.slack.calls[before:]
            if c.method == "chat.postMessage" and c.args.get("channel") == f"D{user}"
        ]


def _is_dm(call: SlackCall) -> bool:
    """A notification DM (to a channel conversations.open gave: "D" + the user id)."""
    return str(call.args.get("channel", "")).startswith("DU")


async def _tick() -> None:
    import asyncio

    await asyncio.sleep(0.02)


def text_of(call: SlackCall) -> str:
    return str(call.args.get("text", ""))


def buttons_of(call: SlackCall) -> list[dict[str, Any]]:
    blocks = call.args.get("blocks") or []
    return [e for b in blocks if b.get("type") == "actions" for e in b["elements"]]


async def start_server(settings: Settings, slack: FakeSlack) -> Server:
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return Server(f"http://127.0.0.1:{port}", slack, runner)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(users={"U1": "Alice", "U2": "Bob", "U3": "Carol", ADMIN: "Admin"}) as fake:
        yield fake


def settings_for(database_url: str, fake: FakeSlack, **changes: Any) -> Settings:
    base = Settings(
        database_url=database_url,
        admins=frozenset({ADMIN}),
        slack=SlackConfig(SECRET, "xoxb-test", None, fake.api_url),
    )
    return replace(base, **changes)


@pytest.fixture
async def server(slack: FakeSlack, tmp_path: Path) -> AsyncIterator[Server]:
    running = await start_server(
        settings_for(f"sqlite+aiosqlite:///{tmp_path / 'slack.db'}", slack), slack
    )
    yield running
    await running.runner.cleanup()


# --- protocol ----------------------------------------------------------------------------------


async def test_url_verification_and_health(server: Server) -> None:
    status, text = await post_signed(
        server.events_url, url_verification_body("chal-123"), secret=SECRET, content_type=JSON
    )
    assert status == 200 and "chal-123" in text
    async with aiohttp.ClientSession() as session, session.get(f"{server.url}/healthz") as response:
        assert response.status == 200 and (await response.json())["database"] == "ok"


async def test_bad_and_stale_signatures_get_401_and_change_nothing(server: Server) -> None:
    body = event_body(app_mention("<@UBOT> escalate: forged", user="U9"))
    status, _ = await post_signed(server.events_url, body, secret="wrong-secret", content_type=JSON)
    assert status == 401
    stale = int(time.time()) - 600
    status, _ = await post_signed(
        server.events_url, body, secret=SECRET, content_type=JSON, timestamp=stale
    )
    assert status == 401
    async with (
        aiohttp.ClientSession() as session,
        session.post(server.events_url, data=body) as response,
    ):
        assert response.status == 401  # no signature at all
    await _tick()
    assert server.slack.calls_to("chat.postMessage") == []
    listed = await server.mention("blockers")
    assert "No open blockers" in text_of(listed)


async def test_malformed_bodies_get_400_not_500(server: Server) -> None:
    for body, content_type in (
        ("{not json", JSON),
        ("payload=%7Bnot-json", FORM),
        ("", JSON),
    ):
        status, _ = await post_signed(
            server.events_url, body, secret=SECRET, content_type=content_type
        )
        assert status == 400, body


async def test_unknown_event_types_are_acked_and_ignored(server: Server) -> None:
    assert await server.event({"type": "reaction_added", "user": "U1", "reaction": "tada"}) == 200
    assert (
        await server.event(direct_message("edited", user="U1") | {"subtype": "message_changed"})
        == 200
    )
    assert await server.event(app_mention("<@UBOT> hi") | {"bot_id": "B9"}) == 200
    for _ in range(10):
        await _tick()
    assert server.slack.calls_to("chat.postMessage") == []
    assert server.slack.calls_to("chat.postEphemeral") == []


async def test_a_retried_event_is_answered_once(server: Server) -> None:
    event = app_mention("<@UBOT> escalate: blocked on GPU quota", user="U1")
    event_id = "EvRETRY1"
    assert await server.event(event, event_id=event_id) == 200
    await server.slack.wait_for("chat.postMessage")
    assert await server.event(event, event_id=event_id, retry_num=1) == 200
    assert await server.event(event, event_id=event_id, retry_num=2) == 200
    await _tick()
    replies = [c for c in server.slack.calls_to("chat.postMessage") if c.args["channel"] == "C1"]
    assert len(replies) == 1 and "#1" in text_of(replies[0])
    listed = await server.mention("blockers")
    assert "#2" not in text_of(listed)


# --- surfaces ----------------------------------------------------------------------------------


async def test_mention_answers_in_the_thread_with_blocks(server: Server) -> None:
    reply = await server.mention("who handles data drift?")
    assert reply.method == "chat.postMessage" and reply.args["channel"] == "C1"
    assert reply.args.get("thread_ts")
    assert "Data Scientist" in text_of(reply)
    assert reply.args["blocks"][0]["type"] == "section"


async def test_direct_messages_are_answered(server: Server) -> None:
    before = len(server.slack.calls)
    assert (
        await server.event(direct_message("who is the scrum master?", user="U2", channel="D77"))
        == 200
    )
    reply = await server.next_reply(before)
    assert reply.args["channel"] == "D77" and "Scrum Master" in text_of(reply)


async def test_slash_command_takes_the_same_language(server: Server) -> None:
    answer = await server.command("data drift")
    assert "Data Scientist" in text_of(answer) and answer.args["response_type"] == "ephemeral"
    assigned = await server.command("assign <@U2|bob> as Tester", user=ADMIN)
    assert assigned.args["response_type"] == "in_channel" and "<@U2>" in text_of(assigned)
    helpful = await server.command("")
    assert "Ask me" in text_of(helpful)


async def test_mentions_in_both_forms_and_real_mentions_in_answers(server: Server) -> None:
    await server.command("assign <@U2> as Tester", user=ADMIN)
    await server.command("add <@U3|carol> as backup Tester", user=ADMIN)
    answer = await server.mention("who is the tester?")
    assert "<@U2>" in text_of(answer) and "<@U3> (backup)" in text_of(answer)
    assert normalise("<@UBOT> assign <@U2|bob> to <#C1|general> <https://x.y|docs>", "UBOT") == (
        "assign @U2 to #general docs",
        (normalise("<@U2|bob>", None)[1][0],),
    )


async def test_display_names_come_from_users_info_and_are_cached(server: Server) -> None:
    await server.mention("who handles data drift?", user="U1")
    await server.mention("who handles data drift?", user="U1")
    lookups = [c for c in server.slack.calls_to("users.info") if c.args.get("user") == "U1"]
    assert len(lookups) == 1
    mine = await server.mention("what are my roles", user="U1")
    assert "You hold no role" in text_of(mine)


async def test_refusals_are_ephemeral(server: Server) -> None:
    refused = await server.mention("assign <@U2> as Team Lead", user="U1")
    assert refused.method == "chat.postEphemeral" and refused.args["user"] == "U1"
    assert "Only a workspace admin" in text_of(refused)


async def test_did_you_mean_buttons_answer_and_teach(server: Server) -> None:
    asked = await server.mention("who handles metrics")
    buttons = buttons_of(asked)
    assert len(buttons) == 3 and all(b["action_id"].startswith("whoowns_button_") for b in buttons)
    picked = next(b for b in buttons if "MLOps" in b["text"]["text"])
    updated = await server.click(asked, picked["value"], user="U2")
    assert updated.method == "chat.update" and "MLOps Engineer" in text_of(updated)
    again = await server.mention("who handles metrics?", user="U3")
    assert buttons_of(again) == [] and "MLOps Engineer" in text_of(again)


async def test_a_click_on_a_private_reply_replaces_it_through_its_response_url(
    server: Server,
) -> None:
    asked = await server.command("who handles metrics")
    assert asked.method == "response_url" and asked.args["response_type"] == "ephemeral"
    picked = next(b for b in buttons_of(asked) if "MLOps" in b["text"]["text"])
    answered = await server.click(asked, picked["value"], user="U2")
    assert answered.method == "response_url" and answered.args["replace_original"] is True
    assert answered.args["response_type"] == "ephemeral" and "MLOps Engineer" in text_of(answered)
    assert server.slack.calls_to("chat.update") == []


async def test_escalation_dms_the_scrum_master_with_buttons_that_work(server: Server) -> None:
    await server.command("assign <@U3> as Scrum Master", user=ADMIN)
    before = len(server.slack.calls)
    raised = await server.mention("escalate: blocked on GPU quota", user="U1")
    assert "#1" in text_of(raised) and "<@U3>" in text_of(raised)
    await server.slack.wait_for("conversations.open")
    notice = (await _wait_dms(server, "U3", before, "blocked on GPU quota"))[0]
    assert "<@U1>" in text_of(notice)
    ack, resolve = buttons_of(notice)
    assert (
        json.loads(ack["value"]) == {"command": "ack #1"} and "Resolve" in resolve["text"]["text"]
    )

    refused = await server.click(notice, ack["value"], user="U2")
    assert refused.method == "chat.postEphemeral"
    before = len(server.slack.calls)
    acked = await server.click(notice, ack["value"], user="U3")
    assert acked.method == "chat.update" and "acknowledged" in text_of(acked)
    told = await _wait_dms(server, "U1", before)
    assert "acknowledged your blocker #1" in text_of(told[0])


async def _wait_dms(
    server: Server, user: str, before: int, containing: str = ""
) -> list[SlackCall]:
    """DMs to `user` since call `before` that contain `containing`, once there is one."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = [dm for dm in await server.dms(user, before) if containing in text_of(dm)]
        if found:
            return found
        await _tick()
    raise AssertionError(f"no DM to {user}: {server.slack.calls[before:]}")


async def test_app_home_shows_the_team_and_my_escalations(server: Server) -> None:
    await server.command("assign <@U1> as Data Scientist", user=ADMIN)
    assert await server.event(app_home_opened("U1")) == 200
    view = await server.slack.home_of("U1", "no open escalations")
    text = json.dumps(view)
    assert (
        view["type"] == "home" and "Data Scientist: <@U1>" in text and "no open escalations" in text
    )


async def test_two_slack_teams_never_see_each_other(server: Server) -> None:
    await server.command("assign <@U2> as Tester", user=ADMIN, team="T1")
    other = await server.mention("who is the tester?", team="T2")
    assert "Nobody holds Tester" in text_of(other)
    guess = await server.mention("resolve #1 mine now", team="T2", user="U9")
    assert "no escalation #1" in text_of(guess)


# --- Socket Mode ---------------------------------------------------------------------------------


async def test_socket_mode_receives_events_and_acks(slack: FakeSlack, tmp_path: Path) -> None:
    settings = settings_for(
        f"sqlite+aiosqlite:///{tmp_path / 'socket.db'}",
        slack,
        slack=SlackConfig(SECRET, "xoxb-test", "xapp-test", slack.api_url),
    )
    running = await start_server(settings, slack)
    try:
        await slack.socket_connected.wait()
        from tests.fakes.slack import event_callback

        envelope = await slack.send_socket_event(
            event_callback(app_mention("<@UBOT> who handles data drift?"))
        )
        await slack.wait_for_socket_ack(envelope)
        reply = (await slack.wait_for("chat.postMessage"))[0]
        assert "Data Scientist" in text_of(reply)
    finally:
        await running.runner.cleanup()
    assert slack.socket_disconnected.is_set()


# --- the database going away -------------------------------------------------------------------


async def test_a_database_outage_gets_a_short_reply_and_recovers(slack: FakeSlack) -> None:
    async with proxied_postgres() as (url, schema, proxy):
        running = await start_server(settings_for(url, slack, database_schema=schema), slack)
        try:
            assert "Data Scientist" in text_of(await running.mention("who handles data drift?"))
            await proxy.stop()
            down = await running.mention("who handles data drift?")
            assert "can't reach my store" in text_of(down)
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"{running.url}/healthz") as r,
            ):
                assert r.status == 503
            await proxy.start()  # same port: the database is back
            back = await running.mention("who handles data drift?")
            assert "Data Scientist" in text_of(back)
        finally:
            await running.runner.cleanup()


def test_the_manifest_is_one_paste() -> None:
    import yaml

    manifest = yaml.safe_load((Path(__file__).parent.parent / "slack" / "manifest.yml").read_text())
    assert manifest["display_information"]["name"] == "whoowns"
    assert manifest["features"]["bot_user"]["display_name"] == "whoowns"
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/whoowns" and command["url"].endswith("/slack/events")
    assert command["should_escape"] is True  # mentions arrive as <@U123|name>
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == set(BOT_SCOPES)
    assert manifest["oauth_config"]["redirect_urls"] == [
        "https://whoowns.example.com/slack/oauth_redirect"
    ]
    shortcuts = {s["callback_id"]: s["type"] for s in manifest["features"]["shortcuts"]}
    assert shortcuts == {ESCALATE_MESSAGE: "message", WHO_OWNS_MESSAGE: "message"}
    settings = manifest["settings"]
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "app_home_opened",
        "app_mention",
        "message.im",
        "app_uninstalled",
        "tokens_revoked",
    }
    assert settings["event_subscriptions"]["request_url"].endswith("/slack/events")
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["interactivity"]["message_menu_options_url"].endswith("/slack/events")


async def test_workflows_in_slack_form(slack: FakeSlack, tmp_path: Path) -> None:
    """Reassigning, cover, history, projects and channels, and a reminder DM from the server's loop."""
    settings = settings_for(
        f"sqlite+aiosqlite:///{tmp_path / 'flows.db'}",
        slack,
        remind_after=timedelta(seconds=1),
        reminder_interval=0.2,
    )
    server = await start_server(settings, slack)
    try:
        await server.command("assign <@U3> as Scrum Master", user=ADMIN)
        await server.command("assign <@U4|pm> as Project Manager", user=ADMIN)
        await server.command("assign <@U1> as MLOps Engineer", user=ADMIN)
        handed = await server.mention("hand over MLOps Engineer to <@U2>", user="U1")
        assert "<@U2> is now MLOps Engineer" in text_of(handed)
        covered = await server.mention("I'm away until Friday, <@U1> covers", user="U3")
        assert "<@U1> is now cover Scrum Master" in text_of(covered)
        removed = await server.command("remove <@U2> from mlops engineer", user=ADMIN)
        assert "no longer MLOps Engineer" in text_of(removed)
        history = await server.mention("history of mlops engineer")
        assert "handed over MLOps Engineer" in text_of(history)
        changed = await server.mention("what changed today")
        assert "removed" in text_of(changed)

        await server.command("create project fraud-detection", user=ADMIN)
        linked = await server.mention(
            "link this channel to project fraud-detection", user=ADMIN, channel="C9"
        )
        assert "fraud-detection" in text_of(linked)
        in_channel = await server.mention("who is the scrum master?", channel="C9")
        assert "Nobody holds Scrum Master in project fraud-detection" in text_of(in_channel)

        before = len(slack.calls)
        await server.mention("escalate: blocked on GPU quota", user="U2")
        # The cover, not the Scrum Master away; a second later, one step up the chain.
        first = await _wait_dms(server, "U1", before, "Blocker #1")
        assert "blocked on GPU quota" in text_of(first[0])
        reminded = await _wait_dms(server, "U4", before, "Reminder")
        assert buttons_of(reminded[0])
    finally:
        await server.runner.cleanup()


async def test_metrics_count_requests_outcomes_and_open_escalations(server: Server) -> None:
    await server.mention("who handles data drift?")
    await server.mention("tell me a joke")
    await server.mention("escalate: blocked on GPU quota")
    headers = {"X-Request-Id": "abc123"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{server.url}/metrics", headers=headers) as r,
    ):
        assert r.status == 200 and r.headers["X-Request-Id"] == "abc123"
        body = await r.text()
    assert 'whoowns_requests_total{intent="who_owns",platform="slack"} 2.0' in body
    assert 'whoowns_requests_total{intent="escalate",platform="slack"} 1.0' in body
    assert 'whoowns_answer_outcomes_total{outcome="answer"} 1.0' in body
    assert 'whoowns_answer_outcomes_total{outcome="unknown"} 1.0' in body
    assert "whoowns_open_escalations 1.0" in body
    assert 'whoowns_handle_seconds_count{platform="slack"} 3.0' in body


async def test_the_weekly_digest_is_posted_in_its_channel(slack: FakeSlack, tmp_path: Path) -> None:
    settings = settings_for(
        f"sqlite+aiosqlite:///{tmp_path / 'digest.db'}", slack, review_interval=0.2
    )
    running = await start_server(settings, slack)
    try:
        await running.mention("post the weekly digest here", user=ADMIN, channel="CTEAM")
        await running.mention("escalate: blocked on GPU quota", user="U2")
        posted = await eventually(
            lambda: [
                c
                for c in slack.calls_to("chat.postMessage")
                if c.args.get("channel") == "CTEAM" and "GPU quota" in str(c.args.get("text"))
            ]
        )
        assert "Open blockers" in str(posted[0].args["text"])
        assert not [
            c for c in slack.calls_to("conversations.open") if c.args.get("users") == "CTEAM"
        ]
    finally:
        await running.runner.cleanup()
