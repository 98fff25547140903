"""Self-test of the fake Bot Framework: botbuilder's own CloudAdapter must work against it unchanged.

A tiny botbuilder bot runs behind CloudAdapter in an aiohttp server on 127.0.0.1, without an app
id (unauthenticated, as with the Bot Framework Emulator); activities built like Teams' are POSTed
to it, and its replies, updates and proactive messages must arrive at `FakeConnector`.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from botbuilder.core import ActivityHandler, CardFactory, MessageFactory, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication

from tests.fakes.botframework import (
    ADAPTIVE_CARD,
    BOT_ID,
    BOT_NAME,
    CHANNEL,
    TEAM_ID,
    TENANT_ID,
    USER_ID,
    FakeConnector,
    card_submit,
    channel_conversation_id,
    channel_message,
    conversation_update_members_added,
    personal_conversation_id,
    personal_message,
    post_activity,
)

CARD: dict[str, Any] = {
    "type": "AdaptiveCard",
    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
    "version": "1.5",
    "body": [{"type": "TextBlock", "text": "Alice owns the feature store", "wrap": True}],
    "actions": [{"type": "Action.Submit", "title": "Thanks", "data": {"choice": "thanks"}}],
}
DONE_CARD: dict[str, Any] = {
    "type": "AdaptiveCard",
    "version": "1.5",
    "body": [{"type": "TextBlock", "text": "Done"}],
}


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if botbuilder (requests, msal, aiohttp) tries to resolve any other host."""
    real = socket.getaddrinfo

    def local_only(host: bytes | str | None, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in (None, "127.0.0.1", "localhost", "::1"):
            raise OSError(f"the test tried to reach {name!r}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local_only)


class _Config:
    """The attributes ConfigurationBotFrameworkAuthentication reads; no app id: no auth."""

    def __init__(self, app_id: str = "", app_password: str = "") -> None:
        self.APP_ID = app_id
        self.APP_PASSWORD = app_password
        self.APP_TYPE = "MultiTenant"
        self.APP_TENANTID = ""


class EchoBot(ActivityHandler):  # type: ignore[misc]  # botbuilder is untyped: the base is Any
    """Echoes text and sends a card; on a card submit, updates the card and confirms."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[Any] = []  # botbuilder.schema.Activity
        self.references: list[Any] = []  # botbuilder.schema.ConversationReference
        self.card_ids: list[str] = []
        self.update_ids: list[str | None] = []

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        self.received.append(activity)
        self.references.append(TurnContext.get_conversation_reference(activity))
        if activity.value is not None:
            updated = MessageFactory.attachment(CardFactory.adaptive_card(DONE_CARD))
            updated.id = activity.reply_to_id
            update = await turn_context.update_activity(updated)
            self.update_ids.append(update.id if update else None)
            await turn_context.send_activity(MessageFactory.text(f"got {activity.value}"))
            return
        text = TurnContext.remove_recipient_mention(activity).strip()
        await turn_context.send_activity(MessageFactory.text("echo: " + text))
        sent = await turn_context.send_activity(
            MessageFactory.attachment(CardFactory.adaptive_card(CARD))
        )
        self.card_ids.append(sent.id)


@dataclass
class BotServer:
    url: str
    adapter: Any  # CloudAdapter
    bot: EchoBot
    errors: list[Exception]


@asynccontextmanager
async def serve_bot(app_id: str = "", app_password: str = "") -> AsyncIterator[BotServer]:
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(_Config(app_id, app_password)))
    bot = EchoBot()
    errors: list[Exception] = []

    async def on_error(turn_context: TurnContext, error: Exception) -> None:
        errors.append(error)

    adapter.on_turn_error = on_error

    async def messages(request: web.Request) -> web.StreamResponse:
        response: web.StreamResponse | None = await adapter.process(request, bot)
        return response or web.Response(status=201)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = int(runner.addresses[0][1])
        yield BotServer(f"http://127.0.0.1:{port}/api/messages", adapter, bot, errors)
    finally:
        await runner.cleanup()


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with FakeConnector() as fake:
        yield fake


@pytest.fixture
async def server() -> AsyncIterator[BotServer]:
    async with serve_bot() as running:
        yield running


# --------------------------------------------------------------------------------------------
# Builders


def test_personal_message_looks_like_teams() -> None:
    activity = personal_message("hello", service_url="http://127.0.0.1:1/", activity_id="17")
    assert activity["type"] == "message" and activity["channelId"] == "msteams"
    assert activity["id"] == "17" and activity["text"] == "hello"
    assert activity["textFormat"] == "plain" and activity["locale"] == "en-US"
    assert activity["timestamp"].endswith("Z")
    assert activity["from"]["id"] == USER_ID and activity["from"]["name"] == "Alice"
    assert activity["from"]["aadObjectId"]
    assert activity["recipient"] == {"id": BOT_ID, "name": BOT_NAME}
    assert activity["conversation"] == {
        "conversationType": "personal",
        "tenantId": TENANT_ID,
        "id": personal_conversation_id(),
    }
    assert activity["conversation"]["id"].startswith("a:")
    assert activity["channelData"] == {"tenant": {"id": TENANT_ID}}
    assert activity["attachments"] == [{"contentType": "text/html", "content": "<p>hello</p>"}]
    assert [e["type"] for e in activity["entities"]] == ["clientInfo"]
    # Stable per user, like Teams: the same user's next message is in the same conversation.
    again = personal_message("again", service_url="http://127.0.0.1:1/")
    assert again["conversation"]["id"] == activity["conversation"]["id"]
    assert again["id"] != activity["id"] and int(again["id"]) > 0


def test_channel_message_has_mentions_team_and_thread() -> None:
    activity = channel_message(
        "who owns <at>Bob</at>'s model?",
        service_url="http://127.0.0.1:1/",
        mentions=[("29:bob", "Bob")],
    )
    assert activity["text"] == "<at>whoowns</at> who owns <at>Bob</at>'s model?"
    mentions = [e for e in activity["entities"] if e["type"] == "mention"]
    assert mentions == [
        {
            "type": "mention",
            "mentioned": {"id": BOT_ID, "name": BOT_NAME},
            "text": "<at>whoowns</at>",
        },
        {"type": "mention", "mentioned": {"id": "29:bob", "name": "Bob"}, "text": "<at>Bob</at>"},
    ]
    conversation = activity["conversation"]
    assert conversation["id"] == f"{CHANNEL};messageid={activity['id']}"
    assert conversation["conversationType"] == "channel" and conversation["isGroup"] is True
    data = activity["channelData"]
    assert data["tenant"] == {"id": TENANT_ID}
    assert data["team"]["id"] == TEAM_ID and data["team"]["name"]
    assert data["channel"]["id"] == CHANNEL and data["channel"]["name"]
    html = activity["attachments"][0]["content"]
    assert 'itemid="0">whoowns</span>' in html and 'itemid="1">Bob</span>' in html
    assert "&#x27;" not in html and "'s model?" in html

    reply = channel_message("thanks", service_url="x", thread_id="100", mention_bot=False)
    assert reply["text"] == "thanks"
    assert reply["conversation"]["id"] == channel_conversation_id(CHANNEL, "100")
    assert [e["type"] for e in reply["entities"]] == ["clientInfo"]


def test_card_submit_and_conversation_update() -> None:
    submit = card_submit(
        {"choice": "yes"}, service_url="s", conversation="channel", reply_to_id="555"
    )
    assert submit["type"] == "message" and "text" not in submit
    assert submit["value"] == {"choice": "yes"} and submit["replyToId"] == "555"
    assert submit["conversation"]["id"] == f"{CHANNEL};messageid=555"
    assert submit["channelData"]["team"]["id"] == TEAM_ID
    personal = card_submit({"a": 1}, service_url="s", conversation="personal", reply_to_id=None)
    assert "replyToId" not in personal
    assert personal["conversation"]["id"] == personal_conversation_id()

    installed = conversation_update_members_added(service_url="s", conversation="channel")
    assert installed["type"] == "conversationUpdate"
    assert installed["membersAdded"] == [{"id": BOT_ID}]
    assert installed["conversation"]["id"] == TEAM_ID
    assert installed["channelData"]["eventType"] == "teamMemberAdded"
    assert installed["channelData"]["team"]["id"] == TEAM_ID
    joined = conversation_update_members_added(service_url="s", members=["29:bob"])
    assert joined["membersAdded"][0]["id"] == "29:bob"
    assert joined["membersAdded"][0]["aadObjectId"]
    assert joined["conversation"]["id"] == personal_conversation_id()


# --------------------------------------------------------------------------------------------
# botbuilder's CloudAdapter against the fake


async def test_personal_message_is_answered_with_replies(
    connector: FakeConnector, server: BotServer
) -> None:
    activity = personal_message("who owns the feature store?", service_url=connector.service_url)
    conversation_id = activity["conversation"]["id"]

    status, _text = await post_activity(server.url, activity)

    assert status == 201, server.errors
    assert server.errors == []
    echo, card = await connector.wait_for(2, conversation_id=conversation_id)
    for sent in (echo, card):
        # TurnContext fills replyToId, so send_activity is reply_to_activity.
        assert sent.method == "POST" and sent.operation == "reply" and sent.ok
        assert sent.reply_to_id == activity["id"] == sent.activity["replyToId"]
        assert sent.path == f"/v3/conversations/{conversation_id}/activities/{activity['id']}"
        assert sent.authorization is None  # no app id: no token
        assert sent.activity["conversation"]["id"] == conversation_id
        assert sent.activity["from"] == {"id": BOT_ID, "name": BOT_NAME}
        assert sent.activity["recipient"]["id"] == USER_ID
        assert sent.activity["serviceUrl"] == connector.service_url
        assert sent.activity["channelId"] == "msteams"
    assert echo.text == "echo: who owns the feature store?"
    assert echo.activity["type"] == "message"
    assert card.cards == [CARD]
    assert card.attachments[0]["contentType"] == ADAPTIVE_CARD
    # The ids the fake handed out are what send_activity returned.
    assert server.bot.card_ids == [card.response_id]
    assert echo.response_id != card.response_id
    assert connector.to(conversation_id) == [echo, card] == connector.activities()

    received = server.bot.received[0]
    assert received.from_property.aad_object_id == activity["from"]["aadObjectId"]
    assert received.conversation.conversation_type == "personal"
    assert received.channel_data["tenant"]["id"] == TENANT_ID
    # botbuilder-python maps ConversationAccount.tenant_id to "tenantID", not Teams' "tenantId".
    assert received.conversation.tenant_id is None


async def test_channel_message_with_mentions(connector: FakeConnector, server: BotServer) -> None:
    activity = channel_message(
        "who owns <at>Bob</at>'s model?",
        service_url=connector.service_url,
        mentions=[("29:bob", "Bob")],
    )
    conversation_id = activity["conversation"]["id"]
    assert ";messageid=" in conversation_id

    status, _text = await post_activity(server.url, activity)

    assert status == 201 and server.errors == []
    echo, card = await connector.wait_for(2, conversation_id=conversation_id)
    assert echo.text == "echo: who owns <at>Bob</at>'s model?"
    assert echo.reply_to_id == card.reply_to_id == activity["id"]
    assert card.cards == [CARD]
    assert echo.activity["conversation"]["isGroup"] is True
    # The id went over the wire percent-encoded and was recorded decoded.
    assert quote(conversation_id, safe="") != conversation_id
    assert echo.conversation_id == conversation_id

    received = server.bot.received[0]
    assert [m.additional_properties["mentioned"]["id"] for m in received.entities[:2]] == [
        BOT_ID,
        "29:bob",
    ]
    assert received.channel_data["channel"]["id"] == CHANNEL
    assert received.conversation.is_group is True


async def test_card_submit_updates_the_card(connector: FakeConnector, server: BotServer) -> None:
    await post_activity(server.url, personal_message("hi", service_url=connector.service_url))
    card_id = server.bot.card_ids[0]
    connector.clear()

    submit = card_submit(
        {"choice": "thanks"},
        service_url=connector.service_url,
        conversation="personal",
        reply_to_id=card_id,
    )
    status, _text = await post_activity(server.url, submit)

    assert status == 201 and server.errors == []
    update, confirm = await connector.wait_for(2)
    assert update.method == "PUT" and update.operation == "update"
    assert update.activity_id == card_id == update.activity["id"]
    assert update.reply_to_id is None
    assert update.cards == [DONE_CARD]
    assert server.bot.update_ids == [card_id]  # the message keeps its id
    assert confirm.operation == "reply" and confirm.reply_to_id == submit["id"]
    assert confirm.text == "got {'choice': 'thanks'}"
    assert server.bot.received[-1].value == {"choice": "thanks"}
    assert connector.activities() == [confirm]


async def test_proactive_message_via_continue_conversation(
    connector: FakeConnector, server: BotServer
) -> None:
    activity = personal_message("remember me", service_url=connector.service_url)
    await post_activity(server.url, activity)
    reference = server.bot.references[0]
    connector.clear()

    async def send(turn_context: TurnContext) -> None:
        await turn_context.send_activity(MessageFactory.text("a reminder"))

    await server.adapter.continue_conversation(reference, send, bot_app_id="")

    (sent,) = await connector.wait_for(conversation_id=activity["conversation"]["id"])
    assert sent.text == "a reminder" and sent.ok
    assert sent.activity["recipient"]["id"] == USER_ID
    # CloudAdapter's continuation activity gets a fresh uuid1 id, and TurnContext makes every
    # send a reply to it: proactive messages arrive as replies to an id Teams never issued.
    assert sent.operation == "reply"
    assert sent.reply_to_id is not None and sent.reply_to_id != activity["id"]


async def test_proactive_create_conversation(connector: FakeConnector, server: BotServer) -> None:
    from botbuilder.schema import ChannelAccount, ConversationParameters

    created: list[Any] = []

    async def callback(turn_context: TurnContext) -> None:
        created.append(turn_context.activity.conversation.id)
        await turn_context.send_activity(MessageFactory.text("hello from the bot"))

    parameters = ConversationParameters(
        is_group=False,
        bot=ChannelAccount(id=BOT_ID, name=BOT_NAME),
        members=[ChannelAccount(id="29:bob")],
        tenant_id=TENANT_ID,
        channel_data={"tenant": {"id": TENANT_ID}},
    )
    for _ in range(2):
        await server.adapter.create_conversation(
            "", callback, parameters, "msteams", connector.service_url
        )

    first, second = created
    assert first == second and first.startswith("a:new-conv-")
    creations = [s for s in connector.sent if s.operation == "create_conversation"]
    assert [s.conversation_id for s in creations] == [first, first]
    assert creations[0].activity["members"] == [{"id": "29:bob"}]
    assert [s.text for s in connector.activities(first)] == ["hello from the bot"] * 2


async def test_conversation_update_is_accepted(connector: FakeConnector, server: BotServer) -> None:
    activity = conversation_update_members_added(service_url=connector.service_url)
    status, _text = await post_activity(server.url, activity)
    assert status == 201 and server.errors == []
    assert connector.sent == []  # EchoBot does not greet


async def test_failures_reach_the_bot(connector: FakeConnector, server: BotServer) -> None:
    connector.fail(403, times=1, code="BotNotInConversationRoster")
    activity = personal_message("hi", service_url=connector.service_url)

    status, _text = await post_activity(server.url, activity)

    assert status == 201  # on_turn_error handled it
    assert len(server.errors) == 1
    failed = connector.sent[0]
    assert failed.status == 403 and not failed.ok and failed.response_id is None
    assert connector.activities() == []  # the turn stopped at the first send

    await post_activity(server.url, personal_message("again", service_url=connector.service_url))
    assert len(connector.activities()) == 2  # recovered after `times`

    connector.clear()
    connector.fail(500)
    await post_activity(server.url, personal_message("more", service_url=connector.service_url))
    assert len(server.errors) == 2
    (failed,) = connector.sent  # POSTs are not retried
    assert failed.status == 500 and failed.text == "echo: more"
    connector.recover()


async def test_unknown_routes_are_404_and_recorded(connector: FakeConnector) -> None:
    conversation_id = "19:abc@thread.tacv2;messageid=1"
    url = (
        f"{connector.service_url}v3/conversations/{quote(conversation_id, safe='')}"
        "/activities/1/members"
    )
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 404
        body = await resp.json()
    assert body["error"]["code"] == "NotFound"
    (sent,) = connector.sent
    assert sent.operation == "unknown" and sent.status == 404
    assert sent.conversation_id == conversation_id
    assert connector.to(conversation_id) == [sent] and connector.activities() == []


async def test_wait_for_times_out_with_what_arrived(connector: FakeConnector) -> None:
    url = f"{connector.service_url}v3/conversations/a%3A1/activities"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json={"type": "message", "text": "hi"}) as resp,
    ):
        assert resp.status == 200
        assert (await resp.json())["id"]
    with pytest.raises(AssertionError, match=r"expected 2 request\(s\)[\s\S]*'hi'"):
        await connector.wait_for(2, timeout=0.1)
    assert (await connector.wait_for(conversation_id="a:1"))[0].text == "hi"


async def test_service_url_with_a_path(server: BotServer) -> None:
    async with FakeConnector(base_path="/emea/") as connector:
        assert connector.service_url.endswith("/emea/")
        activity = personal_message("hi", service_url=connector.service_url)
        await post_activity(server.url, activity)
        assert [s.text for s in connector.activities()] == ["echo: hi", None]
        assert connector.sent[0].path.startswith("/emea/v3/conversations/")


async def test_an_app_id_requires_a_token(connector: FakeConnector) -> None:
    """With an app id, an activity without Authorization is refused before any network call."""
    async with serve_bot(
        app_id="00000000-0000-0000-0000-000000000001", app_password="secret"
    ) as bot:
        activity = personal_message("hi", service_url=connector.service_url)
        status, _text = await post_activity(bot.url, activity)
        assert status == 401
        assert bot.bot.received == [] and connector.sent == []
    with pytest.raises(OSError, match="tried to reach"):  # and the guard would have caught it
        socket.getaddrinfo("login.botframework.com", 443)


async def test_the_roster_answers_teamsinfo_and_bounds_who_a_bot_can_chat_with(
    connector: FakeConnector,
) -> None:
    from botbuilder.schema import ChannelAccount, ConversationParameters, ErrorResponseException
    from botframework.connector.aio import ConnectorClient
    from botframework.connector.auth import MicrosoftAppCredentials

    from bot.teams.connector_http import use_aiohttp

    carol = connector.add_member("29:carol", "Carol Danvers")
    for n in range(5):
        connector.add_member(f"29:m{n}", f"Member {n}")
    async with aiohttp.ClientSession() as http:
        credentials = MicrosoftAppCredentials("", "")
        client = use_aiohttp(ConnectorClient(credentials, base_url=connector.service_url), http)
        # By id or by AAD object id, in the team or through one of its channels' threads.
        for conversation in (TEAM_ID, f"{CHANNEL};messageid=1"):
            for member_id in ("29:carol", carol["aadObjectId"]):
                found = await client.conversations.get_conversation_member(conversation, member_id)
                assert found.name == "Carol Danvers"
        with pytest.raises(ErrorResponseException):
            await client.conversations.get_conversation_member(TEAM_ID, "29:stranger")
        first = await client.conversations.get_teams_conversation_paged_members(TEAM_ID, 4)
        rest = await client.conversations.get_teams_conversation_paged_members(
            TEAM_ID, 4, first.continuation_token
        )
        assert len(first.members) == 4 and len(rest.members) == 2
        assert rest.continuation_token is None

        def one_to_one(member: str) -> ConversationParameters:
            return ConversationParameters(
                is_group=False,
                bot=ChannelAccount(id=BOT_ID),
                members=[ChannelAccount(id=member)],
                tenant_id=TENANT_ID,
            )

        opened = await client.conversations.create_conversation(one_to_one("29:carol"))
        assert opened.id.startswith("a:new-conv-")
        with pytest.raises(ErrorResponseException):
            await client.conversations.create_conversation(one_to_one("29:stranger"))
    assert [s.operation for s in connector.roster_reads()][:4] == ["get_member"] * 4
    assert connector.to(TEAM_ID) == []  # roster reads are not messages in the team
