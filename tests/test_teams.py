"""Teams end to end: the real server, activities posted as Teams sends them, and a local fake of the
Bot Framework connector (at the activities' serviceUrl) that records every reply and proactive message."""

from __future__ import annotations

import asyncio
import json
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from botbuilder.schema import Activity, Attachment, ChannelAccount, Mention
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import MicrosoftAppCredentials
from jsonschema import Draft4Validator

from bot.delivery import DeliveryPolicy
from bot.server import create_app
from bot.settings import Settings
from bot.teams.adapter import TeamsConfig
from bot.teams.connector_http import use_aiohttp
from bot.teams.package import PackageError, build_package
from tests.conftest import proxied_postgres
from tests.fakes.botframework import (
    BOT_ID,
    TENANT_ID,
    FakeConnector,
    SentActivity,
    card_submit,
    channel_message,
    personal_conversation_id,
    personal_message,
    post_activity,
)
from tests.helpers import eventually

ADMIN = "29:admin"
CAROL = "29:carol"
BOB = "29:bob"
ALICE = "29:user-1"


@dataclass
class Server:
    url: str
    connector: FakeConnector
    runner: web.AppRunner

    @property
    def messages_url(self) -> str:
        return f"{self.url}/api/messages"

    async def post(self, activity: dict[str, Any]) -> int:
        status, _ = await post_activity(self.messages_url, activity)
        return status

    async def personal(
        self,
        text: str,
        *,
        user: str = ALICE,
        name: str = "Alice",
        activity_id: str | None = None,
        mentions: tuple[tuple[str, str], ...] = (),
    ) -> SentActivity:
        conversation = personal_conversation_id(user)
        before = len(self.connector.to(conversation))
        assert await self.post(
            personal_message(
                text,
                service_url=self.connector.service_url,
                user_id=user,
                user_name=name,
                activity_id=activity_id,
                mentions=mentions,
            )
        ) in (200, 201)
        return (await self.connector.wait_for(before + 1, conversation_id=conversation))[before]

    async def channel(
        self,
        text: str,
        *,
        user: str = ALICE,
        name: str = "Alice",
        mentions: tuple[tuple[str, str], ...] = (),
    ) -> SentActivity:
        activity = channel_message(
            text,
            service_url=self.connector.service_url,
            user_id=user,
            user_name=name,
            mentions=mentions,
        )
        conversation = activity["conversation"]["id"]
        before = len(self.connector.to(conversation))
        assert await self.post(activity) in (200, 201)
        return (await self.connector.wait_for(before + 1, conversation_id=conversation))[before]


def text_of(sent: SentActivity) -> str:
    return str(sent.activity.get("text") or "")


def card_actions(sent: SentActivity) -> list[dict[str, Any]]:
    return [a for card in sent.cards for a in card.get("actions", [])]


async def start_server(settings: Settings, connector: FakeConnector) -> Server:
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return Server(f"http://127.0.0.1:{runner.addresses[0][1]}", connector, runner)


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with FakeConnector() as fake:
        yield fake


def settings_for(tmp_path: Path, **changes: Any) -> Settings:
    return replace(
        Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'teams.db'}", admins=frozenset({ADMIN})
        ),
        **changes,
    )


@pytest.fixture
async def server(connector: FakeConnector, tmp_path: Path) -> AsyncIterator[Server]:
    running = await start_server(settings_for(tmp_path), connector)
    yield running
    await running.runner.cleanup()


async def test_personal_chat_answers_with_an_adaptive_card(server: Server) -> None:
    reply = await server.personal("who handles data drift?")
    assert reply.operation == "reply" and reply.reply_to_id
    assert "Data Scientist" in text_of(reply)
    (card,) = reply.cards
    assert card["type"] == "AdaptiveCard" and "Manage Data Drift" in json.dumps(card["body"])


async def test_channel_mentions_are_stripped_and_users_resolved(server: Server) -> None:
    answered = await server.channel("who is the scrum master?")
    assert "Scrum Master" in text_of(answered) and "whoowns" not in text_of(answered)
    assigned = await server.channel(
        "assign <at>Bob</at> as Tester", user=ADMIN, name="Admin", mentions=((BOB, "Bob"),)
    )
    assert "<at>Bob</at> is now Tester" in text_of(assigned)
    assert {"type": "mention", "text": "<at>Bob</at>", "mentioned": {"id": BOB, "name": "Bob"}} in (
        assigned.activity["entities"]
    )
    who = await server.personal("who is the tester?")
    assert "<at>Bob</at>" in text_of(who)


async def test_refusals_name_who_can(server: Server) -> None:
    refused = await server.personal("assign <at>Bob</at> as Team Lead", mentions=((BOB, "Bob"),))
    assert "Only a workspace admin" in text_of(refused)


async def test_card_choices_answer_and_teach(server: Server) -> None:
    asked = await server.personal("who handles metrics")
    actions = card_actions(asked)
    assert len(actions) == 3 and all(a["type"] == "Action.Submit" for a in actions)
    picked = next(a for a in actions if "MLOps" in a["title"])
    conversation = personal_conversation_id(ALICE)
    before = len(server.connector.to(conversation))
    status = await server.post(
        card_submit(
            picked["data"],
            service_url=server.connector.service_url,
            conversation="personal",
            reply_to_id=asked.response_id,
        )
    )
    assert status in (200, 201)
    answer = (await server.connector.wait_for(before + 1, conversation_id=conversation))[before]
    assert "MLOps Engineer" in text_of(answer)
    again = await server.personal("who handles metrics?", user=BOB, name="Bob")
    assert "MLOps Engineer" in text_of(again) and card_actions(again) == []


async def test_escalation_reaches_a_holder_proactively_and_the_card_acks(server: Server) -> None:
    await server.personal("hi", user=CAROL, name="Carol")  # Carol has talked to the bot once
    await server.channel(
        "assign <at>Carol</at> as Scrum Master",
        user=ADMIN,
        name="Admin",
        mentions=((CAROL, "Carol"),),
    )
    await server.personal("hello", user=ALICE)
    carol_chat = personal_conversation_id(CAROL)
    before = len(server.connector.to(carol_chat))
    raised = await server.channel("escalate: blocked on GPU quota")
    assert "#1" in text_of(raised)
    notice = (await server.connector.wait_for(before + 1, conversation_id=carol_chat))[before]
    assert "blocked on GPU quota" in text_of(notice)
    ack = next(a for a in card_actions(notice) if a["title"] == "Acknowledge")
    alice_chat = personal_conversation_id(ALICE)
    told_before = len(server.connector.to(alice_chat))
    await server.post(
        card_submit(
            ack["data"],
            service_url=server.connector.service_url,
            conversation="personal",
            reply_to_id=notice.response_id,
            user_id=CAROL,
            user_name="Carol",
        )
    )
    acked = await server.connector.wait_for(before + 2, conversation_id=carol_chat)
    assert "acknowledged" in text_of(acked[-1])
    told = await server.connector.wait_for(told_before + 1, conversation_id=alice_chat)
    assert "acknowledged your blocker #1" in text_of(told[-1])


async def test_a_holder_who_never_talked_to_the_bot_is_mentioned_where_it_was_raised(
    server: Server,
) -> None:
    assign = channel_message(
        "assign <at>Bob</at> as Scrum Master",
        service_url=server.connector.service_url,
        user_id=ADMIN,
        user_name="Admin",
        mentions=((BOB, "Bob"),),
    )
    await server.post(assign)
    activity = channel_message(
        "escalate: blocked on GPU quota", service_url=server.connector.service_url
    )
    await server.post(activity)
    # Bob has no chat with the bot and is in no roster it can read: each notice mentions him in
    # the thread where its matter came up (the change's, then the blocker's).
    for thread, says in ((assign, "made you Scrum Master"), (activity, "blocked on GPU quota")):
        sent = await server.connector.wait_for(2, conversation_id=thread["conversation"]["id"])
        (fallback,) = [s for s in sent if says in text_of(s) and "directly" in text_of(s)]
        assert "can't message these people directly" in text_of(fallback)
        assert "<at>Bob</at>" in text_of(fallback)
        assert any(e["mentioned"]["id"] == BOB for e in fallback.activity["entities"])


async def test_a_redelivered_activity_is_answered_once(server: Server) -> None:
    await server.personal("escalate: blocked on GPU quota", activity_id="act-1")
    status = await server.post(
        personal_message(
            "escalate: blocked on GPU quota",
            service_url=server.connector.service_url,
            activity_id="act-1",
        )
    )
    assert status in (200, 201)
    listed = await server.personal("blockers")
    assert "#1" in text_of(listed) and "#2" not in text_of(listed)
    assert len(server.connector.to(personal_conversation_id(ALICE))) == 2


async def test_bodies_that_are_not_activities_get_400(server: Server) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            server.messages_url, data="{not json", headers={"Content-Type": "application/json"}
        ) as response:
            assert response.status == 400
        bodies: tuple[Any, ...] = (
            [],
            {"text": "no type"},
            {"type": "message", "text": "x"},
            {
                "type": "message",
                "conversation": {},
                "from": {"id": "29:x"},
                "serviceUrl": "http://x",
            },
            {  # the right shape, but a timestamp that is not one
                "type": "message",
                "conversation": {"id": "a:1"},
                "from": {"id": "29:x"},
                "serviceUrl": "http://x",
                "timestamp": "yesterday at noon",
            },
        )
        for body in bodies:
            async with session.post(server.messages_url, json=body) as response:
                assert response.status == 400, body
        async with session.post(
            server.messages_url, data="x", headers={"Content-Type": "text/plain"}
        ) as response:
            assert response.status == 415
    assert server.connector.sent == []


async def test_with_an_app_id_unauthenticated_requests_get_401(
    connector: FakeConnector, tmp_path: Path
) -> None:
    config = TeamsConfig(app_id="00000000-0000-0000-0000-000000000001", app_password="secret")
    running = await start_server(settings_for(tmp_path, teams=config), connector)
    try:
        status = await running.post(
            personal_message("escalate: forged", service_url=connector.service_url)
        )
        assert status == 401
        assert connector.sent == []
    finally:
        await running.runner.cleanup()


async def test_reminders_reach_teams_users_from_the_server_loop(
    connector: FakeConnector, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, remind_after=timedelta(seconds=1), reminder_interval=0.2)
    running = await start_server(settings, connector)
    try:
        await running.personal("hi", user=CAROL, name="Carol")
        await running.personal("hi", user=BOB, name="Bob")
        await running.channel(
            "assign <at>Carol</at> as Scrum Master",
            user=ADMIN,
            name="Admin",
            mentions=((CAROL, "Carol"),),
        )
        await running.channel(
            "assign <at>Bob</at> as Project Manager",
            user=ADMIN,
            name="Admin",
            mentions=((BOB, "Bob"),),
        )
        bob_chat = personal_conversation_id(BOB)
        await running.channel("escalate: blocked on GPU quota")
        reminders = await eventually(
            lambda: [s for s in connector.to(bob_chat) if "Reminder" in text_of(s)],
            what="reminder in Bob's chat",
        )
        assert "blocked on GPU quota" in text_of(reminders[0])
    finally:
        await running.runner.cleanup()


def test_the_package_holds_a_valid_manifest_with_the_bot_id(tmp_path: Path) -> None:
    app_id = "12345678-1234-1234-1234-123456789abc"
    out = tmp_path / "whoowns-teams.zip"
    build_package(app_id, out)
    with zipfile.ZipFile(out) as package:
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(package.read("manifest.json"))
        assert package.read("color.png").startswith(b"\x89PNG")
    assert manifest["id"] == app_id and manifest["bots"][0]["botId"] == app_id
    assert "{{" not in json.dumps(manifest)
    schema_file = Path(__file__).parent / "data" / "teams" / "MicrosoftTeams.v1.16.schema.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    assert manifest["manifestVersion"] == schema["properties"]["manifestVersion"]["const"]
    # Every violation, not only the first, so that one run shows all there is to mend.
    errors = [error.message for error in Draft4Validator(schema).iter_errors(manifest)]
    assert errors == []
    with pytest.raises(PackageError, match="GUID"):
        build_package("not-an-id", out)


async def test_a_reply_is_retried_through_throttling_and_server_errors(server: Server) -> None:
    connector = server.connector
    connector.fail(429, times=1, retry_after=1)
    assert "Data Scientist" in text_of(await server.personal("who handles data drift?"))
    connector.fail(503, times=2)
    assert "Data Scientist" in text_of(await server.personal("who handles data drift?"))
    assert [s.status for s in connector.sent if s.operation == "reply"] == [429, 200, 503, 503, 200]


async def test_reply_retries_are_bounded(server: Server) -> None:
    connector = server.connector
    connector.fail(500)
    status = await server.post(
        personal_message("who handles data drift?", service_url=connector.service_url)
    )
    connector.recover()
    # The answer: the first attempt and three retries; then the turn's apology, bounded alike.
    replies = [s for s in connector.sent if s.operation == "reply"]
    assert [s.status for s in replies] == [500] * 8
    assert "Data Scientist" in text_of(replies[3]) and "went wrong" in text_of(replies[4])
    assert status in (200, 201)


async def test_a_store_outage_gets_a_short_message(connector: FakeConnector) -> None:
    async with proxied_postgres() as (url, schema, proxy):
        running = await start_server(Settings(database_url=url, database_schema=schema), connector)
        try:
            assert "Data Scientist" in text_of(await running.personal("who handles data drift?"))
            await proxy.stop()
            down = await running.personal("who handles data drift?")
            assert "can't reach my store" in text_of(down)
            await proxy.start()
            assert "Data Scientist" in text_of(await running.personal("who handles data drift?"))
        finally:
            await running.runner.cleanup()


class _IssuedToken(MicrosoftAppCredentials):  # type: ignore[misc]  # botframework is untyped
    """Stands in for Azure AD, which issues the bot's token and which tests cannot reach."""

    def get_access_token(self, force_refresh: bool = False) -> str:
        return "token-from-azure-ad"


@pytest.mark.parametrize(
    ("credentials", "authorization"),
    [
        (
            _IssuedToken("00000000-0000-0000-0000-000000000001", "secret"),
            "Bearer token-from-azure-ad",
        ),
        (MicrosoftAppCredentials("", ""), None),
    ],
)
async def test_connector_calls_go_over_aiohttp_with_the_bots_token(
    connector: FakeConnector, credentials: MicrosoftAppCredentials, authorization: str | None
) -> None:
    """Replies leave through our aiohttp pipeline: the credentials' bearer token (none without an
    app id), botbuilder's model serialised as the connector expects, its answer read back."""
    async with aiohttp.ClientSession() as http:
        client = use_aiohttp(ConnectorClient(credentials, base_url=connector.service_url), http)
        reply = Activity(
            type="message",
            text="<at>Dana</at> is the Data Scientist.",
            attachments=[Attachment(content_type="application/json", content={"a": [1, "ü"]})],
            entities=[
                Mention(mentioned=ChannelAccount(id="29:dana", name="Dana"), text="<at>Dana</at>")
            ],
        )
        answer = await client.conversations.reply_to_activity("a:conv/1", "act-1", reply)
    [sent] = connector.sent
    assert sent.authorization == authorization
    assert (sent.conversation_id, sent.reply_to_id) == ("a:conv/1", "act-1")
    assert sent.activity["text"] == reply.text
    assert sent.activity["attachments"][0]["content"] == {"a": [1, "ü"]}
    assert sent.activity["entities"][0]["mentioned"] == {"id": "29:dana", "name": "Dana"}
    assert answer.id == sent.response_id


# --- people who never talked to the bot ----------------------------------------------------------


def _created_chats(connector: FakeConnector) -> list[SentActivity]:
    return [s for s in connector.sent if s.operation == "create_conversation" and s.ok]


async def test_someone_in_a_teams_roster_gets_a_personal_chat_opened_and_kept(
    server: Server,
) -> None:
    connector = server.connector
    connector.add_member(BOB, "Bob Baker")
    # The mention was shortened to "Bob" in the message; the roster has his full name.
    made = await server.channel(
        "assign <at>Bob</at> as Scrum Master", user=ADMIN, name="Admin", mentions=((BOB, "Bob"),)
    )
    assert "Bob Baker" in text_of(made)
    [created] = await eventually(lambda: _created_chats(connector), what="a chat opened")
    assert created.activity["members"] == [{"id": BOB, "name": "Bob Baker"}]
    assert created.activity["tenantID"] == TENANT_ID  # botbuilder's spelling of it
    assert created.activity["channelData"] == {"tenant": {"id": TENANT_ID}}
    assert created.activity["bot"]["id"] == BOT_ID
    chat = created.conversation_id
    [notice] = await eventually(lambda: connector.activities(chat), what="the notice")
    assert "Scrum Master" in text_of(notice)
    # The next notice goes straight into the chat kept: no second lookup, no second creation.
    reads = len(connector.roster_reads())
    raised = channel_message("escalate: blocked on GPU quota", service_url=connector.service_url)
    await server.post(raised)
    sent = await eventually(lambda: connector.activities(chat)[1:], what="the second notice")
    assert "blocked on GPU quota" in text_of(sent[0])
    assert len(_created_chats(connector)) == 1
    assert connector.roster_reads()[reads:] == []
    assert not any(
        "can't message these people directly" in text_of(s)
        for s in connector.to(raised["conversation"]["id"])
    )


async def test_the_raiser_is_told_in_the_thread_she_raised_it_in_not_in_the_ackers_chat(
    server: Server,
) -> None:
    """A blocker raised in a channel thread by Alice, who has no chat with the bot and is in no
    roster, acknowledged by the Scrum Master from his own chat: Alice is mentioned in her
    thread, even after other threads of that channel have talked to the bot since."""
    connector = server.connector
    connector.add_member(CAROL, "Carol")
    await server.personal("hi", user=CAROL, name="Carol")
    await server.channel(
        "assign <at>Carol</at> as Scrum Master",
        user=ADMIN,
        name="Admin",
        mentions=((CAROL, "Carol"),),
    )
    raised = channel_message(
        "escalate: blocked on GPU quota",
        service_url=connector.service_url,
        user_id=ALICE,
        user_name="Alice",
    )
    await server.post(raised)
    alices_thread = raised["conversation"]["id"]
    await server.channel("who handles data drift?", user=ADMIN, name="Admin")  # another thread
    carol_chat = personal_conversation_id(CAROL)
    notice = await eventually(
        lambda: next(
            (s for s in connector.to(carol_chat) if "blocked on GPU quota" in text_of(s)), None
        ),
        what="the blocker in Carol's chat",
    )
    ack = next(a for a in card_actions(notice) if a["title"] == "Acknowledge")
    await server.post(
        card_submit(
            ack["data"],
            service_url=connector.service_url,
            conversation="personal",
            reply_to_id=notice.response_id,
            user_id=CAROL,
            user_name="Carol",
        )
    )
    told = await eventually(
        lambda: next(
            (
                s
                for s in connector.to(alices_thread)
                if "acknowledged your blocker #1" in text_of(s)
            ),
            None,
        ),
        what="Alice told in her thread",
    )
    assert "<at>Alice</at>" in text_of(told)
    assert any(e["mentioned"]["id"] == ALICE for e in told.activity["entities"])
    assert not any("your blocker" in text_of(s) for s in connector.to(carol_chat))
    everywhere = [s for s in connector.activities() if "acknowledged your blocker" in text_of(s)]
    assert everywhere == [told]
    lookups = [s.path for s in connector.roster_reads()]
    assert any(path.endswith(f"/members/{ALICE}") for path in lookups)


async def test_a_proactive_send_the_connector_fails_is_retried_and_arrives_once(
    connector: FakeConnector, tmp_path: Path
) -> None:
    fast = DeliveryPolicy(
        first_backoff=timedelta(milliseconds=200), max_backoff=timedelta(seconds=1), poll=0.1
    )
    server = await start_server(settings_for(tmp_path, delivery=fast), connector)
    try:
        await server.personal("hi", user=CAROL, name="Carol")
        connector.clear()
        # Four answers of 500: one whole send with the pipeline's own retries, so the outbox
        # has to send it again.
        connector.fail(500, times=4)
        status = await server.post(
            channel_message(
                "assign <at>Carol</at> as Scrum Master",
                service_url=connector.service_url,
                user_id=ADMIN,
                user_name="Admin",
                mentions=((CAROL, "Carol"),),
            )
        )
        assert status in (200, 201)
        carol_chat = personal_conversation_id(CAROL)
        await eventually(
            lambda: [s for s in connector.activities(carol_chat) if "Scrum Master" in text_of(s)],
            what="the notice",
        )
        await asyncio.sleep(1.5)  # time for a doubled send to show
        notices = [s for s in connector.activities(carol_chat) if "Scrum Master" in text_of(s)]
        assert len(notices) == 1
        assert not any("went wrong" in text_of(s) for s in connector.activities())
    finally:
        await server.runner.cleanup()
