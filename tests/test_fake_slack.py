"""Self-test of the fake Slack: slack_sdk's own clients must work against it unchanged."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.context.say.async_say import AsyncSay
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.fakes.slack import (
    FORM,
    JSON,
    FakeSlack,
    app_home_opened,
    app_mention,
    block_actions_body,
    command_body,
    command_form,
    direct_message,
    event_body,
    event_callback,
    post_signed,
    sign,
    url_verification_body,
)

SECRET = "signing-secret"
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Alice* owns it"}}]


async def test_web_api_calls_are_answered_and_recorded() -> None:
    async with FakeSlack(users={"U2": "Bob Smith"}) as slack:
        assert slack.api_url.startswith("http://127.0.0.1:") and slack.api_url.endswith("/api/")
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)

        auth = await client.auth_test()
        assert auth["user_id"] == "UBOT" and auth["bot_id"] == "BBOT"
        assert auth["team_id"] == "T1" and auth["team"] == "Test Team"

        bob = await client.users_info(user="U2")
        assert bob["user"]["profile"]["real_name"] == "Bob Smith"
        assert bob["user"]["profile"]["display_name"] == "Bob Smith"
        stranger = await client.users_info(user="U9")
        assert stranger["user"]["real_name"] == "U9"

        dm = await client.conversations_open(users="U2")
        assert dm["channel"]["id"] == "DU2"

        first = await client.chat_postMessage(channel="C1", text="Alice owns it", blocks=BLOCKS)
        second = await client.chat_postMessage(channel="C1", text="again", thread_ts=first["ts"])
        assert first["channel"] == "C1"
        assert abs(float(first["ts"]) - time.time()) < 60  # an epoch second, as Slack's are
        assert float(second["ts"]) > float(first["ts"])

        eph = await client.chat_postEphemeral(channel="C1", user="U2", text="just you")
        assert eph["message_ts"]

        await client.chat_update(channel="C1", ts=first["ts"], text="Bob owns it", blocks=[])
        # As Slack: an ephemeral message, or one never posted, is not found by chat.update.
        for ts in (eph["message_ts"], "1700000099.000100"):
            with pytest.raises(SlackApiError, match="message_not_found"):
                await client.chat_update(channel="C1", ts=ts, text="no")
        home = {"type": "home", "blocks": BLOCKS}
        published = await client.views_publish(user_id="U2", view=home)
        assert published["view"]["type"] == "home"

        assert [c.method for c in slack.calls] == [
            "auth.test",
            "users.info",
            "users.info",
            "conversations.open",
            "chat.postMessage",
            "chat.postMessage",
            "chat.postEphemeral",
            "chat.update",
            "chat.update",
            "chat.update",
            "views.publish",
        ]
        assert all(c.token == "xoxb-test" for c in slack.calls)
        assert slack.calls_to("users.info")[0].args["user"] == "U2"
        assert slack.calls_to("conversations.open")[0].args["users"] == "U2"
        post = slack.calls_to("chat.postMessage")[0]
        assert post.args == {"channel": "C1", "text": "Alice owns it", "blocks": BLOCKS}
        assert slack.calls_to("chat.postMessage")[1].args["thread_ts"] == first["ts"]
        assert slack.calls_to("chat.postEphemeral")[0].args["user"] == "U2"
        assert slack.calls_to("chat.update")[0].args["ts"] == first["ts"]
        assert slack.calls_to("views.publish")[0].args == {"user_id": "U2", "view": home}

        calls = await slack.wait_for("chat.postMessage", count=2)
        assert len(calls) == 2
        with pytest.raises(AssertionError, match=r"chat\.delete"):
            await slack.wait_for("chat.delete", timeout=0.05)

        slack.clear()
        assert slack.calls == []


async def test_form_bodies_failures_and_unknown_methods() -> None:
    async with FakeSlack() as slack, aiohttp.ClientSession() as http:
        form = {"token": "xoxb-form", "channel": "C1", "text": "hi", "blocks": json.dumps(BLOCKS)}
        async with http.post(slack.api_url + "chat.postMessage", data=form) as resp:
            assert (await resp.json())["ok"] is True
        call = slack.calls_to("chat.postMessage")[0]
        assert call.token == "xoxb-form" and call.args["blocks"] == BLOCKS
        assert "token" not in call.args

        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        with pytest.raises(SlackApiError) as unknown:
            await client.api_call("pins.add", json={"channel": "C1"})
        assert unknown.value.response["error"] == "unknown_method"

        slack.fail("chat.postMessage", "channel_not_found")
        with pytest.raises(SlackApiError) as failed:
            await client.chat_postMessage(channel="C1", text="hi")
        assert failed.value.response["error"] == "channel_not_found"

        slack.fail("chat.postMessage")
        with pytest.raises(SlackApiError) as limited:
            await client.chat_postMessage(channel="C1", text="hi")
        assert limited.value.response.status_code == 429
        assert limited.value.response["error"] == "ratelimited"

        slack.recover("chat.postMessage")
        assert (await client.chat_postMessage(channel="C1", text="hi"))["ok"] is True


async def test_response_url_records_what_bolt_respond_sends() -> None:
    async with FakeSlack() as slack:
        url = slack.response_url("cmd1")
        webhook = AsyncWebhookClient(url)
        resp = await webhook.send(text="Alice owns it", response_type="ephemeral")
        assert resp.status_code == 200 and resp.body == "ok"
        [call] = await slack.wait_for("response_url")
        assert call.name == "cmd1"
        assert call.args == {"text": "Alice owns it", "response_type": "ephemeral"}


def test_sign_matches_slack_sdk_verifier() -> None:
    verifier = SignatureVerifier(SECRET)
    body = command_body("who owns training", response_url="http://127.0.0.1/responses/x")
    now = int(time.time())
    headers = sign(body, SECRET, now)
    assert headers["X-Slack-Request-Timestamp"] == str(now)
    assert headers["X-Slack-Signature"] == verifier.generate_signature(
        timestamp=str(now), body=body
    )
    assert verifier.is_valid(body, str(now), headers["X-Slack-Signature"])
    assert not verifier.is_valid(body + "x", str(now), headers["X-Slack-Signature"])
    assert not verifier.is_valid(body, str(now), sign(body, "other", now)["X-Slack-Signature"])


def test_payload_builders_look_like_slack() -> None:
    mention = app_mention("<@UBOT> who owns eval?", thread_ts="1700000000.000100")
    envelope = json.loads(event_body(mention, event_id="Ev1"))
    assert envelope["type"] == "event_callback" and envelope["event_id"] == "Ev1"
    assert envelope["authorizations"][0]["user_id"] == "UBOT"
    assert envelope["event"]["thread_ts"] == "1700000000.000100"
    assert json.loads(event_body(direct_message("hi")))["event"]["channel_type"] == "im"
    assert json.loads(event_body(app_home_opened()))["event"]["tab"] == "home"
    assert json.loads(event_body(mention))["event_id"].startswith("Ev")
    assert json.loads(url_verification_body("c")) == {
        "token": "fake-verification-token",
        "challenge": "c",
        "type": "url_verification",
    }

    fields = parse_qs(command_body("who owns x", response_url="http://r"))
    assert fields["command"] == ["/whoowns"] and fields["text"] == ["who owns x"]
    assert fields["response_url"] == ["http://r"] and fields["trigger_id"] == ["T.1"]

    payload = json.loads(
        parse_qs(block_actions_body("pick", "42", response_url="http://r"))["payload"][0]
    )
    assert payload["type"] == "block_actions"
    assert payload["actions"][0]["action_id"] == "pick" and payload["actions"][0]["value"] == "42"
    assert payload["container"]["message_ts"] == "1700000000.000100"


async def test_post_signed_sends_slack_headers() -> None:
    seen: dict[str, str] = {}

    async def handler(request: aiohttp.web.Request) -> aiohttp.web.Response:
        body = await request.text()
        verifier = SignatureVerifier(SECRET)
        ok = verifier.is_valid_request(body, dict(request.headers))
        seen.update(request.headers)
        return aiohttp.web.Response(text="valid" if ok else "invalid")

    app = aiohttp.web.Application()
    app.router.add_post("/slack/events", handler)
    runner = aiohttp.web.AppRunner(app, access_log=None)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
        body = event_body(app_mention("<@UBOT> hi"))
        assert await post_signed(url, body, secret=SECRET, content_type=JSON) == (200, "valid")
        status, text = await post_signed(url, body, secret="wrong", content_type=JSON, retry_num=1)
        assert (status, text) == (200, "invalid")
        assert seen["X-Slack-Retry-Num"] == "1" and seen["X-Slack-Retry-Reason"] == "http_timeout"
        async with aiohttp.ClientSession() as session:
            form = command_body("x", response_url="http://r")
            result = await post_signed(url, form, secret=SECRET, content_type=FORM, session=session)
            assert result == (200, "valid")
            assert not session.closed
    finally:
        await runner.cleanup()


async def test_socket_mode_client_connects_and_acks() -> None:
    async with FakeSlack() as slack:
        requests: list[SocketModeRequest] = []

        async def ack(client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
            requests.append(req)
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))

        client = SocketModeClient(
            app_token="xapp-test", web_client=AsyncWebClient(base_url=slack.api_url)
        )
        client.socket_mode_request_listeners.append(ack)
        try:
            await client.connect()  # type: ignore[no-untyped-call]
            await asyncio.wait_for(slack.socket_connected.wait(), 5)
            [opened] = slack.calls_to("apps.connections.open")
            assert opened.token == "xapp-test"

            event_id = await slack.send_socket_event(event_callback(app_mention("<@UBOT> hi")))
            assert await slack.wait_for_socket_ack(event_id) == {"envelope_id": event_id}
            assert requests[0].type == "events_api"
            assert requests[0].payload["event"]["type"] == "app_mention"

            form = command_form("who owns x", response_url=slack.response_url("c"))
            command_id = await slack.send_socket_command(form)
            await slack.wait_for_socket_ack(command_id)
            assert requests[1].type == "slash_commands"
            assert requests[1].payload["command"] == "/whoowns"
            assert requests[1].accepts_response_payload is True
        finally:
            await client.close()  # type: ignore[no-untyped-call]
        await asyncio.wait_for(slack.socket_disconnected.wait(), 5)


async def test_apps_connections_open_needs_an_app_token() -> None:
    async with FakeSlack() as slack:
        client = AsyncWebClient(base_url=slack.api_url)
        with pytest.raises(SlackApiError) as err:
            await client.apps_connections_open(app_token="xoxb-bot")
        assert err.value.response["error"] == "not_allowed_token_type"


async def test_bolt_socket_mode_handler_round_trip() -> None:
    async with FakeSlack() as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        app = AsyncApp(signing_secret=SECRET, client=client)

        @app.event("app_mention")
        async def mentioned(event: dict[str, Any], say: AsyncSay) -> None:
            await say(text=f"you said {event['text']}", thread_ts=event["ts"])

        @app.command("/whoowns")
        async def whoowns(ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any]) -> None:
            await ack()
            await respond(text=f"owner of {command['text']}")

        handler = AsyncSocketModeHandler(app, "xapp-test")
        try:
            await handler.connect_async()  # type: ignore[no-untyped-call]
            mention = event_callback(app_mention("<@UBOT> hi", ts="1700000001.000200"))
            await slack.wait_for_socket_ack(await slack.send_socket_event(mention))
            [posted] = await slack.wait_for("chat.postMessage")
            assert posted.args["text"] == "you said <@UBOT> hi"
            assert posted.args["thread_ts"] == "1700000001.000200"

            form = command_form("training", response_url=slack.response_url("cmd"))
            await slack.wait_for_socket_ack(await slack.send_socket_command(form))
            [responded] = await slack.wait_for("response_url")
            assert responded.name == "cmd" and responded.args["text"] == "owner of training"
        finally:
            await handler.close_async()  # type: ignore[no-untyped-call]
        await asyncio.wait_for(slack.socket_disconnected.wait(), 5)
