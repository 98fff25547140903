"""A fake Slack for end-to-end tests: real HTTP and WebSocket on 127.0.0.1, never the internet.

`FakeSlack` answers the Web API methods the bot uses (point `AsyncWebClient(base_url=...)` or
SLACK_API_URL at `FakeSlack.api_url`), records every call, serves response_url endpoints and a
Socket Mode WebSocket that slack_sdk's aiohttp `SocketModeClient` (and so Bolt's
`AsyncSocketModeHandler`) connects to.

The module-level builders produce request bodies exactly as Slack sends them over HTTP (Events API
envelopes, slash commands, interactivity payloads), and `sign` / `post_signed` sign them the way
Slack does, so the bot's signature verification runs for real.

Shapes follow the Slack API reference and the installed slack_sdk / slack_bolt sources.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import secrets
import string
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import WSCloseCode, WSMsgType, web

from tests.fakes.local_server import LocalServer

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
BOT_USER_NAME = "whoowns"
VERIFICATION_TOKEN = "fake-verification-token"  # the deprecated `token` field Slack still sends
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

# Form-encoded Web API arguments that carry JSON (slack_sdk sends them as JSON strings).
_JSON_ARGS = frozenset({"blocks", "attachments", "view", "metadata", "unfurls", "user_auth_blocks"})
_BOT_SCOPES = (
    "app_mentions:read,channels:history,chat:write,commands,im:history,im:read,im:write,users:read,"
    "usergroups:read,usergroups:write"
)

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class SlackCall:
    """One request the fake received.

    `method` is the Web API method ("chat.postMessage") or "response_url"; `args` holds the
    query, form or JSON arguments (JSON-carrying form fields such as `blocks` decoded, `token`
    removed); `token` comes from the Authorization header or the `token` argument; `name` is the
    name given to `FakeSlack.response_url` for response_url calls; `response` is what the fake
    answered a Web API call (filled in once it has answered).
    """

    method: str
    args: dict[str, Any]
    token: str | None
    name: str | None = None
    response: JsonDict = field(default_factory=dict, compare=False)


# --------------------------------------------------------------------------------------------
# Signing and payload builders


def sign(body: str, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The X-Slack-Request-Timestamp and X-Slack-Signature headers Slack sends with `body`."""
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(
        secret.encode("utf-8"), f"v0:{ts}:{body}".encode(), hashlib.sha256
    ).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}


_last_ts = [0]  # microseconds of the last timestamp handed out by new_ts()


def new_ts() -> str:
    """A message timestamp like Slack's ("1700000000.000100"), unique and increasing."""
    micros = max(time.time_ns() // 1000, _last_ts[0] + 1)
    _last_ts[0] = micros
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def new_event_id() -> str:
    """An Events API event id like Slack's ("Ev06ABCDEF12")."""
    alphabet = string.ascii_uppercase + string.digits
    return "Ev" + "".join(secrets.choice(alphabet) for _ in range(10))


def new_trigger_id() -> str:
    return f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"


def event_callback(
    event: JsonDict,
    *,
    team_id: str = "T1",
    event_id: str | None = None,
    api_app_id: str = "A1",
) -> JsonDict:
    """An Events API `event_callback` envelope as a dict (what Socket Mode carries as payload)."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id if event_id is not None else new_event_id(),
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-" + secrets.token_urlsafe(24),
    }


def event_body(
    event: JsonDict,
    *,
    team_id: str = "T1",
    event_id: str | None = None,
    api_app_id: str = "A1",
) -> str:
    """An Events API `event_callback` envelope as the JSON body Slack POSTs."""
    return json.dumps(
        event_callback(event, team_id=team_id, event_id=event_id, api_app_id=api_app_id)
    )


def app_mention(
    text: str,
    *,
    user: str = "U1",
    channel: str = "C1",
    ts: str | None = None,
    thread_ts: str | None = None,
    team: str = "T1",
) -> JsonDict:
    """An `app_mention` event. `text` is used verbatim: include "<@UBOT>" as Slack would."""
    ts = ts if ts is not None else new_ts()
    event: JsonDict = {
        "client_msg_id": str(uuid.uuid4()),
        "type": "app_mention",
        "text": text,
        "user": user,
        "ts": ts,
        "team": team,
        "channel": channel,
        "event_ts": ts,
    }
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
    return event


def direct_message(
    text: str,
    *,
    user: str = "U1",
    channel: str = "D1",
    ts: str | None = None,
    team: str = "T1",
) -> JsonDict:
    """A `message` event in the bot's direct-message channel (channel_type "im")."""
    ts = ts if ts is not None else new_ts()
    return {
        "client_msg_id": str(uuid.uuid4()),
        "type": "message",
        "text": text,
        "user": user,
        "ts": ts,
        "team": team,
        "channel": channel,
        "event_ts": ts,
        "channel_type": "im",
    }


def app_home_opened(user: str = "U1", *, channel: str = "D1") -> JsonDict:
    """An `app_home_opened` event for the Home tab."""
    return {
        "type": "app_home_opened",
        "user": user,
        "channel": channel,
        "tab": "home",
        "event_ts": new_ts(),
    }


def app_uninstalled() -> JsonDict:
    """The event Slack sends when a workspace removes the app (its tokens are revoked with it)."""
    return {"type": "app_uninstalled", "event_ts": new_ts()}


def tokens_revoked(*, bot: bool = True, users: tuple[str, ...] = ()) -> JsonDict:
    """The event Slack sends when the app's tokens in a workspace are revoked."""
    return {
        "type": "tokens_revoked",
        "tokens": {"oauth": list(users), "bot": [BOT_USER_ID] if bot else []},
        "event_ts": new_ts(),
    }


def url_verification_body(challenge: str) -> str:
    """The JSON body of Slack's Events API URL verification handshake."""
    return json.dumps(
        {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
    )


def _channel_name(channel_id: str) -> str:
    return "directmessage" if channel_id.startswith("D") else "general"


def command_form(
    text: str,
    *,
    response_url: str,
    command: str = "/whoowns",
    user_id: str = "U1",
    user_name: str = "alice",
    channel_id: str = "C1",
    team_id: str = "T1",
    trigger_id: str = "T.1",
    api_app_id: str = "A1",
) -> dict[str, str]:
    """The fields of a slash command invocation (the form Slack POSTs, or a Socket Mode payload)."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": "testteam",
        "channel_id": channel_id,
        "channel_name": _channel_name(channel_id),
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def command_body(
    text: str,
    *,
    response_url: str,
    command: str = "/whoowns",
    user_id: str = "U1",
    user_name: str = "alice",
    channel_id: str = "C1",
    team_id: str = "T1",
    trigger_id: str = "T.1",
    api_app_id: str = "A1",
) -> str:
    """A slash command POST body, application/x-www-form-urlencoded like Slack's."""
    return urlencode(
        command_form(
            text,
            response_url=response_url,
            command=command,
            user_id=user_id,
            user_name=user_name,
            channel_id=channel_id,
            team_id=team_id,
            trigger_id=trigger_id,
            api_app_id=api_app_id,
        )
    )


def block_actions_payload(
    action_id: str,
    value: str,
    *,
    response_url: str,
    user: str = "U1",
    user_name: str = "alice",
    team_id: str = "T1",
    channel: str = "C1",
    message_ts: str = "1700000000.000100",
    message_text: str = "",
    block_id: str = "b1",
    button_text: str = "Button",
    api_app_id: str = "A1",
    is_ephemeral: bool = False,
) -> JsonDict:
    """A `block_actions` interactivity payload for a button click on a bot message.

    A click on an ephemeral message (a private reply) says so in `container.is_ephemeral`, and
    Slack sends no `message` object for it: such a message exists only in that user's client."""
    payload: JsonDict = {
        "type": "block_actions",
        "user": {"id": user, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": is_ephemeral,
        },
        "trigger_id": new_trigger_id(),
        "team": {"id": team_id, "domain": "testteam"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": _channel_name(channel)},
        "message": {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": api_app_id,
            "text": message_text,
            "ts": message_ts,
            "team": team_id,
        },
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": button_text, "emoji": True},
                "value": value,
                "action_ts": new_ts(),
            }
        ],
    }
    if is_ephemeral:
        del payload["message"]
    return payload


def block_actions_body(
    action_id: str,
    value: str,
    *,
    response_url: str,
    user: str = "U1",
    user_name: str = "alice",
    team_id: str = "T1",
    channel: str = "C1",
    message_ts: str = "1700000000.000100",
    message_text: str = "",
    block_id: str = "b1",
    button_text: str = "Button",
    api_app_id: str = "A1",
    is_ephemeral: bool = False,
) -> str:
    """A `block_actions` POST body: form-encoded `payload=<json>` like Slack interactivity."""
    payload = block_actions_payload(
        action_id,
        value,
        response_url=response_url,
        user=user,
        user_name=user_name,
        team_id=team_id,
        channel=channel,
        message_ts=message_ts,
        message_text=message_text,
        block_id=block_id,
        button_text=button_text,
        api_app_id=api_app_id,
        is_ephemeral=is_ephemeral,
    )
    return urlencode({"payload": json.dumps(payload)})


def home_click_body(
    action_id: str,
    value: str,
    *,
    user: str = "U1",
    team_id: str = "T1",
    view_id: str = "VHOME",
    block_id: str = "b1",
    api_app_id: str = "A1",
    view: JsonDict | None = None,
    selected: str | None = None,
) -> str:
    """A `block_actions` POST body for a button on the App Home tab: the container is the view,
    and Slack sends the `view` (the one published, private_metadata and all) but no channel, no
    message and no response_url. With `selected`, the action is a pick in a static_select."""
    shown = view or {"id": view_id, "type": "home", "team_id": team_id, "blocks": []}
    action: JsonDict = {
        "type": "button",
        "action_id": action_id,
        "block_id": block_id,
        "text": {"type": "plain_text", "text": "Button", "emoji": True},
        "value": value,
        "action_ts": f"{time.time():.6f}",
    }
    if selected is not None:
        action = {
            "type": "static_select",
            "action_id": action_id,
            "block_id": block_id,
            "selected_option": {
                "text": {"type": "plain_text", "text": selected},
                "value": selected,
            },
            "action_ts": f"{time.time():.6f}",
        }
    payload: JsonDict = {
        "type": "block_actions",
        "user": {"id": user, "username": user, "name": user, "team_id": team_id},
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "container": {"type": "view", "view_id": view_id},
        "trigger_id": new_trigger_id(),
        "team": {"id": team_id, "domain": "testteam"},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": shown,
        "actions": [action],
    }
    return urlencode({"payload": json.dumps(payload)})


def message_action_body(
    callback_id: str,
    message_text: str,
    *,
    response_url: str,
    message_ts: str = "1700000000.000200",
    message_user: str = "U2",
    thread_ts: str | None = None,
    user: str = "U1",
    channel: str = "C1",
    team_id: str = "T1",
    trigger_id: str | None = None,
    api_app_id: str = "A1",
) -> str:
    """A message shortcut (`message_action`) POST body: a person chose one of the app's actions on
    someone's message; Slack sends the message, its channel, a trigger_id and a response_url."""
    message: JsonDict = {
        "type": "message",
        "user": message_user,
        "ts": message_ts,
        "text": message_text,
        "team": team_id,
    }
    if thread_ts is not None:
        message["thread_ts"] = thread_ts
    payload: JsonDict = {
        "type": "message_action",
        "token": VERIFICATION_TOKEN,
        "action_ts": f"{time.time():.6f}",
        "team": {"id": team_id, "domain": "testteam"},
        "user": {"id": user, "username": user, "name": user, "team_id": team_id},
        "channel": {"id": channel, "name": _channel_name(channel)},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id or new_trigger_id(),
        "response_url": response_url,
        "message_ts": message_ts,
        "message": message,
        "api_app_id": api_app_id,
    }
    return urlencode({"payload": json.dumps(payload)})


def view_submission_body(
    view: JsonDict,
    values: JsonDict,
    *,
    user: str = "U1",
    team_id: str = "T1",
    api_app_id: str = "A1",
) -> str:
    """A `view_submission` POST body for a modal the bot opened (`view` as views.open answered),
    with `values` as Slack puts them in view.state.values: {block_id: {action_id: state}}."""
    submitted = {**view, "state": {"values": values}}
    payload: JsonDict = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "testteam"},
        "user": {"id": user, "username": user, "name": user, "team_id": team_id},
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": new_trigger_id(),
        "view": submitted,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return urlencode({"payload": json.dumps(payload)})


def block_suggestion_body(
    action_id: str,
    block_id: str,
    value: str,
    view: JsonDict,
    *,
    user: str = "U1",
    team_id: str = "T1",
    api_app_id: str = "A1",
) -> str:
    """A `block_suggestion` POST body: a person typed `value` into an external_select of a modal;
    Slack asks the app for the options to show (answered within 3 seconds)."""
    payload: JsonDict = {
        "type": "block_suggestion",
        "user": {"id": user, "username": user, "name": user, "team_id": team_id},
        "container": {"type": "view", "view_id": view.get("id", "V1")},
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "action_id": action_id,
        "block_id": block_id,
        "value": value,
        "team": {"id": team_id, "domain": "testteam"},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": view,
    }
    return urlencode({"payload": json.dumps(payload)})


async def post_signed(
    url: str,
    body: str,
    *,
    secret: str,
    content_type: str,
    retry_num: int | None = None,
    timestamp: int | None = None,
    session: aiohttp.ClientSession | None = None,
) -> tuple[int, str]:
    """POST `body` to `url` signed as Slack signs it; returns (status, response text).

    With `retry_num`, adds X-Slack-Retry-Num and X-Slack-Retry-Reason "http_timeout" like
    Slack's Events API retries. A session is created (and closed) when none is given.
    """
    headers = {
        "Content-Type": content_type,
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        **sign(body, secret, timestamp),
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    if session is None:
        async with aiohttp.ClientSession() as own:
            return await _post(own, url, body, headers)
    return await _post(session, url, body, headers)


async def _post(
    session: aiohttp.ClientSession, url: str, body: str, headers: dict[str, str]
) -> tuple[int, str]:
    async with session.post(url, data=body.encode("utf-8"), headers=headers) as resp:
        return resp.status, await resp.text()


# --------------------------------------------------------------------------------------------
# The fake server

TRIGGER_LIFETIME = 3  # seconds a trigger_id can open a view, as on Slack


def _view_problem(view: JsonDict) -> str | None:
    """What Slack would refuse in a modal: its limits on titles, blocks, ids and metadata."""
    for part in ("title", "submit", "close"):
        text = (view.get(part) or {}).get("text", "")
        if part == "title" and not text:
            return "[ERROR] missing required field: title"
        if len(text) > 24:
            return f"[ERROR] must be less than 25 characters [json-pointer:/view/{part}/text]"
    blocks = view.get("blocks") or []
    if len(blocks) > 100:
        return "[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]"
    ids = [b.get("block_id") for b in blocks if b.get("block_id")]
    if len(ids) != len(set(ids)):
        return "[ERROR] duplicate block_id"
    if len(view.get("private_metadata", "")) > 3000:
        return "[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]"
    for block in blocks:
        options = (block.get("element") or {}).get("options") or []
        if len(options) > 100:
            return (
                "[ERROR] no more than 100 items allowed [json-pointer:/view/blocks/element/options]"
            )
    return None


def _decode_arg(key: str, value: str) -> Any:
    if key in _JSON_ARGS and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class FakeSlack(LocalServer):
    """Slack's Web API, response_url endpoints and Socket Mode on 127.0.0.1 (random port).

    Use as `async with FakeSlack() as slack:` (or `await slack.start()` / `await slack.close()`).
    """

    def __init__(
        self,
        *,
        team_id: str = "T1",
        team: str = "Test Team",
        team_domain: str = "testteam",
        app_id: str = "A1",
        users: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.team_id = team_id
        self.team = team
        self.team_domain = team_domain
        self.app_id = app_id
        self.users: dict[str, str] = dict(users or {})
        self.calls: list[SlackCall] = []
        self.socket_connected = asyncio.Event()  # set while a Socket Mode client is connected
        self.socket_disconnected = asyncio.Event()  # set while none is
        self.socket_disconnected.set()
        self.socket_messages: list[JsonDict] = []  # every JSON message clients sent
        self.socket_acks: dict[str, JsonDict] = {}  # envelope_id -> the client's ack
        self._failures: dict[str, tuple[str, int | None]] = {}
        self.slow_answer = 5.0
        self._changed = asyncio.Condition()
        self._ts = itertools.count(1)
        self._view_ids = itertools.count(1)
        self.homes: dict[str, JsonDict] = {}
        # User groups by id, as usergroups.* keep them; the bot token's scopes, and whether the
        # workspace's plan has user groups at all (free plans do not: "paid_only").
        self.usergroups: dict[str, JsonDict] = {}
        self.scopes: set[str] = set(_BOT_SCOPES.split(","))
        self.paid_plan = True
        self._tickets: set[str] = set()
        # Messages the bot posted, by (channel, ts): only these can be changed with chat.update.
        # Ephemeral ones are not among them; Slack changes those only through a response_url.
        self.messages: dict[tuple[str, str], JsonDict] = {}
        # Modals the bot opened, by view id; trigger ids it has used (each opens one view).
        self.views: dict[str, JsonDict] = {}
        self._used_triggers: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []
        # OAuth: the app's credentials (`oauth_app`), codes not yet exchanged, and the bot tokens
        # and refresh tokens granted, each to its workspace. Once any token has been granted, a
        # token Slack never issued (or has revoked) is refused, as Slack does.
        self.client_id: str | None = None
        self.client_secret: str | None = None
        self.tokens: dict[str, str] = {}
        self._codes: dict[str, JsonDict] = {}
        self._refresh_tokens: dict[str, JsonDict] = {}
        self._handlers: dict[str, Callable[[dict[str, Any], str | None], JsonDict]] = {
            "auth.test": self._auth_test,
            "users.info": self._users_info,
            "conversations.open": self._conversations_open,
            "chat.postMessage": self._chat_post_message,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.update": self._chat_update,
            "views.publish": self._views_publish,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.history": self._conversations_history,
            "apps.connections.open": self._apps_connections_open,
            "usergroups.list": self._usergroups_list,
            "usergroups.create": self._usergroups_create,
            "usergroups.enable": self._usergroups_enable,
            "usergroups.disable": self._usergroups_disable,
            "usergroups.users.update": self._usergroups_users_update,
        }

    # ---- lifecycle

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/responses/{name}", self._response_url)
        app.router.add_get("/socket", self._socket)
        app.on_shutdown.append(self._close_sockets)

    @property
    def api_url(self) -> str:
        """Base URL for AsyncWebClient(base_url=...) / SLACK_API_URL; ends with "/api/"."""
        return f"{self.base_url}/api/"

    def response_url(self, name: str) -> str:
        """A response_url on the fake; JSON POSTed to it is recorded as method "response_url"."""
        return f"{self.base_url}/responses/{name}"

    # ---- OAuth

    def oauth_app(self, client_id: str, client_secret: str) -> None:
        """The app's credentials, which oauth.v2.access checks (HTTP Basic auth, as slack_sdk sends)."""
        self.client_id, self.client_secret = client_id, client_secret

    def grant(
        self,
        team_id: str,
        team: str = "",
        *,
        installer: str = "U0INSTALL",
        expires_in: int | None = None,
    ) -> str:
        """What a person's "Allow" on Slack's consent page produces: a code for oauth.v2.access.
        `expires_in` (seconds) turns token rotation on: the first token expires then and comes
        with a refresh token; each refreshed one lasts 12 hours."""
        code = f"code-{team_id}-{secrets.token_hex(6)}"
        self._codes[code] = {
            "team_id": team_id,
            "team": team or f"Team {team_id}",
            "installer": installer,
            "expires_in": expires_in,
        }
        return code

    def revoke(self, team_id: str) -> None:
        """The workspace removed the app: its tokens stop working."""
        for token, team in list(self.tokens.items()):
            if team == team_id:
                del self.tokens[token]
        for refresh, grant in list(self._refresh_tokens.items()):
            if grant["team_id"] == team_id:
                del self._refresh_tokens[refresh]

    def _oauth_v2_access(self, args: dict[str, Any], request: web.Request) -> JsonDict:
        client_id, client_secret = _basic_auth(request.headers.get("Authorization", ""))
        if client_id is None:  # Slack also takes them as arguments
            client_id, client_secret = args.get("client_id"), args.get("client_secret")
        if client_id != self.client_id:
            return {"ok": False, "error": "invalid_client_id"}
        if client_secret != self.client_secret:
            return {"ok": False, "error": "bad_client_secret"}
        if args.get("grant_type") == "refresh_token":
            grant = self._refresh_tokens.pop(str(args.get("refresh_token", "")), None)
            if grant is None:
                return {"ok": False, "error": "invalid_refresh_token"}
        else:
            grant = self._codes.pop(str(args.get("code", "")), None)
            if grant is None:
                return {"ok": False, "error": "invalid_code"}
        return self._issue_token(grant)

    def _issue_token(self, grant: JsonDict) -> JsonDict:
        team_id = grant["team_id"]
        token = f"xoxb-{team_id}-{secrets.token_hex(8)}"
        self.tokens[token] = team_id
        answer: JsonDict = {
            "ok": True,
            "access_token": token,
            "token_type": "bot",
            "scope": _BOT_SCOPES,
            "bot_user_id": BOT_USER_ID,
            "app_id": self.app_id,
            "team": {"id": team_id, "name": grant["team"]},
            "enterprise": None,
            "is_enterprise_install": False,
            "authed_user": {"id": grant["installer"]},
        }
        if grant["expires_in"] is not None:
            refresh = f"xoxe-1-{secrets.token_hex(12)}"
            # A refreshed token lasts Slack's 12 hours, whatever the first one was given.
            self._refresh_tokens[refresh] = {**grant, "expires_in": 12 * 3600}
            answer.update(refresh_token=refresh, expires_in=grant["expires_in"])
        return answer

    # ---- recorded calls

    async def home_of(
        self,
        user: str,
        showing: str = "",
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> JsonDict:
        """The Home view last published for `user`, once it contains `showing`."""

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            home = self.homes.get(user)
            if home is not None and showing in json.dumps(home, ensure_ascii=False):
                return home
            await asyncio.sleep(0.02)  # published after the call is recorded: polled
        raise AssertionError(f"no Home for {user} showing {showing!r}: {self.homes.get(user)!r}")

    def calls_to(self, method: str) -> list[SlackCall]:
        return [call for call in self.calls if call.method == method]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[SlackCall]:  # noqa: ASYNC109
        """Wait until at least `count` calls to `method` were recorded; return them all."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: len(self.calls_to(method)) >= count)
        except TimeoutError:
            raise AssertionError(
                f"expected {count} call(s) to {method} within {timeout}s, "
                f"got {len(self.calls_to(method))}; calls so far: {self.calls!r}"
            ) from None
        return self.calls_to(method)

    def clear(self) -> None:
        """Forget recorded calls and socket messages (failures set with `fail` stay)."""
        self.calls.clear()
        self.socket_messages.clear()
        self.socket_acks.clear()

    def fail(self, method: str, error: str = "ratelimited", *, times: int | None = None) -> None:
        """Make calls to `method` (or "response_url") fail with `error`; `times`=None: until
        `recover`. "ratelimited" answers HTTP 429 with Retry-After: 1, like Slack; "server_error"
        HTTP 500; "timeout" does what was asked but answers only after `slow_answer` seconds."""
        self._failures[method] = (error, times)

    def recover(self, method: str | None = None) -> None:
        """Undo `fail` for `method` (None: for every method)."""
        if method is None:
            self._failures.clear()
        else:
            self._failures.pop(method, None)

    async def _record(self, call: SlackCall) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def _take_failure(self, method: str) -> str | None:
        failure = self._failures.get(method)
        if failure is None:
            return None
        error, times = failure
        if times is not None:
            if times <= 1:
                del self._failures[method]
            else:
                self._failures[method] = (error, times - 1)
        return error

    # ---- HTTP handlers

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = {k: _decode_arg(k, v) for k, v in request.query.items()}
        if request.body_exists:
            if request.content_type == JSON:
                body = await request.json()
                if isinstance(body, dict):
                    args.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, str):
                        args[key] = _decode_arg(key, value)
        token: str | None = None
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth.removeprefix("Bearer ").strip() or None
        arg_token = args.pop("token", None)
        if token is None and isinstance(arg_token, str):
            token = arg_token
        call = SlackCall(method, args, token)
        await self._record(call)
        if method == "oauth.v2.access":
            call.response.update(self._oauth_v2_access(args, request))
            return _slack_json(call.response)

        handler = self._handlers.get(method)
        if handler is None:
            return _slack_json({"ok": False, "error": "unknown_method"})
        if token is None:
            return _slack_json({"ok": False, "error": "not_authed"})
        app_level = token.startswith("xapp-")
        if app_level != (method == "apps.connections.open"):
            return _slack_json({"ok": False, "error": "not_allowed_token_type"})
        if self.tokens and not app_level and token not in self.tokens:
            return _slack_json({"ok": False, "error": "invalid_auth"})
        error = self._take_failure(method)
        if error is not None and error != "timeout":
            return _error_response(error)
        headers = {"x-oauth-scopes": _BOT_SCOPES} if method == "auth.test" else None
        call.response.update(handler(args, token))
        if error == "timeout":
            # Done, but answered too late: the caller cannot know that its call took effect.
            await asyncio.sleep(self.slow_answer)
        return _slack_json(call.response, headers=headers)

    async def _response_url(self, request: web.Request) -> web.Response:
        text = await request.text()
        try:
            body = json.loads(text) if text else {}
        except ValueError:
            body = {"_raw": text}
        args: dict[str, Any] = body if isinstance(body, dict) else {"_raw": body}
        await self._record(SlackCall("response_url", args, None, request.match_info["name"]))
        error = self._take_failure("response_url")
        if error is not None:
            return web.Response(status=404, text=error, content_type="text/html")
        return web.Response(text="ok", content_type="text/html")

    # ---- Web API methods

    def _next_ts(self) -> str:
        # As Slack's: the epoch second it was posted, and a sequence that keeps each one unique.
        return f"{int(time.time())}.{next(self._ts) * 100:06d}"

    def _auth_test(self, args: dict[str, Any], token: str | None) -> JsonDict:
        return {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team,
            "user": BOT_USER_NAME,
            "team_id": self.tokens.get(token or "", self.team_id),
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _users_info(self, args: dict[str, Any], token: str | None) -> JsonDict:
        user_id = str(args.get("user", ""))
        if not user_id:
            return {"ok": False, "error": "user_not_found"}
        name = self.users.get(user_id, user_id)
        is_bot = user_id == BOT_USER_ID
        profile = {
            "real_name": name,
            "real_name_normalized": name,
            "display_name": name,
            "display_name_normalized": name,
            "first_name": name.split(" ")[0],
            "team": self.team_id,
        }
        return {
            "ok": True,
            "user": {
                "id": user_id,
                "team_id": self.team_id,
                "name": name.lower().replace(" ", "."),
                "deleted": False,
                "real_name": name,
                "tz": "Europe/London",
                "tz_label": "Greenwich Mean Time",
                "tz_offset": 0,
                "profile": profile,
                "is_admin": False,
                "is_owner": False,
                "is_bot": is_bot,
                "is_app_user": False,
                "updated": 1700000000,
            },
        }

    def _conversations_open(self, args: dict[str, Any], token: str | None) -> JsonDict:
        channel = args.get("channel")
        if isinstance(channel, str) and channel:
            return {"ok": True, "channel": {"id": channel}}
        users = str(args.get("users", ""))
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        if "," in users:
            return {"ok": True, "channel": {"id": "G" + users.replace(",", "")}}
        return {"ok": True, "no_op": True, "already_open": True, "channel": {"id": "D" + users}}

    def _message(self, args: dict[str, Any], ts: str) -> JsonDict:
        message: JsonDict = {
            "type": "message",
            "subtype": "bot_message",
            "text": args.get("text", ""),
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": self.app_id,
            "team": self.team_id,
            "ts": ts,
        }
        for key in ("blocks", "attachments", "thread_ts", "metadata"):
            if key in args:
                message[key] = args[key]
        return message

    @staticmethod
    def _message_error(args: dict[str, Any]) -> str | None:
        if not args.get("channel"):
            return "channel_not_found"
        if not (args.get("text") or args.get("blocks") or args.get("attachments")):
            return "no_text"
        return None

    @staticmethod
    def _resolve_channel(channel: str) -> str:
        # Posting to a user id lands in the bot's DM with them, as on Slack.
        return "D" + channel if channel[:1] in ("U", "W") else channel

    def _chat_post_message(self, args: dict[str, Any], token: str | None) -> JsonDict:
        error = self._message_error(args)
        if error is not None:
            return {"ok": False, "error": error}
        ts = self._next_ts()
        channel = self._resolve_channel(str(args["channel"]))
        message = self._message(args, ts)
        self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _chat_post_ephemeral(self, args: dict[str, Any], token: str | None) -> JsonDict:
        error = self._message_error(args)
        if error is not None:
            return {"ok": False, "error": error}
        if not args.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _chat_update(self, args: dict[str, Any], token: str | None) -> JsonDict:
        error = self._message_error(args)
        if error is not None:
            return {"ok": False, "error": error}
        ts = args.get("ts")
        channel = self._resolve_channel(str(args["channel"]))
        if not isinstance(ts, str) or (channel, ts) not in self.messages:
            # As Slack: an ephemeral message, or one the bot did not post, cannot be updated.
            return {"ok": False, "error": "message_not_found"}
        self.messages[(channel, ts)] = self._message(args, ts)
        return {
            "ok": True,
            "channel": str(args["channel"]),
            "ts": ts,
            "text": args.get("text", ""),
            "message": self._message(args, ts),
        }

    def _conversations_history(self, args: dict[str, Any], token: str | None) -> JsonDict:
        channel = self._resolve_channel(str(args.get("channel", "")))
        oldest = float(args.get("oldest") or 0)
        limit = int(args.get("limit") or 100)
        found = [
            message
            for (where, ts), message in self.messages.items()
            if where == channel and float(ts) >= oldest
        ]
        newest_first = sorted(found, key=lambda m: float(m["ts"]), reverse=True)[:limit]
        if str(args.get("include_all_metadata", "")).lower() not in ("1", "true"):
            newest_first = [{k: v for k, v in m.items() if k != "metadata"} for m in newest_first]
        return {"ok": True, "messages": newest_first, "has_more": len(found) > limit}

    def _views_publish(self, args: dict[str, Any], token: str | None) -> JsonDict:
        view = args.get("view")
        if not args.get("user_id") or not isinstance(view, dict):
            return {"ok": False, "error": "invalid_arguments"}
        n = next(self._view_ids)
        published: JsonDict = {
            "id": f"V{n:08d}",
            "team_id": self.team_id,
            "type": view.get("type", "home"),
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "app_id": self.app_id,
            "bot_id": BOT_ID,
        }
        self.homes[str(args["user_id"])] = published  # what the person sees in their Home tab
        return {"ok": True, "view": published}

    def _views_open(self, args: dict[str, Any], token: str | None) -> JsonDict:
        """A modal, opened with a trigger_id: one that is fresh (Slack allows 3 seconds) and not
        used before; the view checked against Slack's limits."""
        trigger = str(args.get("trigger_id", ""))
        view = args.get("view")
        if not trigger or not isinstance(view, dict):
            return {"ok": False, "error": "invalid_arguments"}
        issued = trigger.split(".", 1)[0]
        if not issued.isdigit():
            return {"ok": False, "error": "invalid_trigger_id"}
        if time.time() - int(issued) > TRIGGER_LIFETIME:
            return {"ok": False, "error": "expired_trigger_id"}
        if trigger in self._used_triggers:
            return {"ok": False, "error": "exchanged_trigger_id"}
        problem = _view_problem(view)
        if problem is not None:
            return {
                "ok": False,
                "error": "invalid_arguments",
                "response_metadata": {"messages": [problem]},
            }
        self._used_triggers.add(trigger)
        opened = {
            **view,
            "id": f"V{next(self._view_ids):08d}",
            "team_id": self.team_id,
            "state": {"values": {}},
            "app_id": self.app_id,
            "bot_id": BOT_ID,
        }
        self.views[opened["id"]] = opened
        return {"ok": True, "view": opened}

    def _views_update(self, args: dict[str, Any], token: str | None) -> JsonDict:
        view_id, view = str(args.get("view_id", "")), args.get("view")
        if view_id not in self.views:
            return {"ok": False, "error": "not_found"}
        if not isinstance(view, dict) or _view_problem(view) is not None:
            return {"ok": False, "error": "invalid_arguments"}
        self.views[view_id] = {**self.views[view_id], **view}
        return {"ok": True, "view": self.views[view_id]}

    # ---- user groups

    def _groups_refusal(self, scope: str) -> JsonDict | None:
        if scope not in self.scopes:
            provided = ",".join(sorted(self.scopes))
            return {"ok": False, "error": "missing_scope", "needed": scope, "provided": provided}
        if not self.paid_plan:
            return {"ok": False, "error": "paid_only"}
        return None

    def _usergroup(self, args: dict[str, Any], scope: str) -> JsonDict:
        refused = self._groups_refusal(scope)
        if refused is not None:
            return refused
        group = self.usergroups.get(str(args.get("usergroup", "")))
        if group is None:
            return {"ok": False, "error": "no_such_subteam"}
        return group

    def _usergroups_list(self, args: dict[str, Any], token: str | None) -> JsonDict:
        refused = self._groups_refusal("usergroups:read")
        if refused is not None:
            return refused
        disabled = str(args.get("include_disabled", "")).lower() in ("1", "true")
        shown = [g for g in self.usergroups.values() if disabled or not g["date_delete"]]
        return {"ok": True, "usergroups": [dict(g) for g in shown]}

    def _usergroups_create(self, args: dict[str, Any], token: str | None) -> JsonDict:
        refused = self._groups_refusal("usergroups:write")
        if refused is not None:
            return refused
        name, handle = str(args.get("name", "")), str(args.get("handle", ""))
        if not name:
            return {"ok": False, "error": "invalid_name"}
        if any(g["handle"] == handle for g in self.usergroups.values()):
            return {"ok": False, "error": "handle_already_exists"}
        group_id = f"S{len(self.usergroups) + 1:08d}"
        group: JsonDict = {
            "id": group_id,
            "team_id": self.team_id,
            "is_usergroup": True,
            "name": name,
            "handle": handle,
            "date_create": int(time.time()),
            "date_delete": 0,
            "users": [],
            "user_count": 0,
        }
        self.usergroups[group_id] = group
        return {"ok": True, "usergroup": dict(group)}

    def _usergroups_enable(self, args: dict[str, Any], token: str | None) -> JsonDict:
        group = self._usergroup(args, "usergroups:write")
        if "ok" in group:
            return group
        if not group["date_delete"]:
            return {"ok": False, "error": "already_enabled"}
        group["date_delete"] = 0
        return {"ok": True, "usergroup": dict(group)}

    def _usergroups_disable(self, args: dict[str, Any], token: str | None) -> JsonDict:
        group = self._usergroup(args, "usergroups:write")
        if "ok" in group:
            return group
        if group["date_delete"]:
            return {"ok": False, "error": "already_disabled"}
        group["date_delete"] = int(time.time())
        return {"ok": True, "usergroup": dict(group)}

    def _usergroups_users_update(self, args: dict[str, Any], token: str | None) -> JsonDict:
        group = self._usergroup(args, "usergroups:write")
        if "ok" in group:
            return group
        users = args.get("users") or ""
        listed = users if isinstance(users, list) else str(users).split(",")
        members = [u.strip() for u in listed if str(u).strip()]
        if not members:
            return {"ok": False, "error": "no_users_provided"}
        group.update(users=members, user_count=len(members))
        return {"ok": True, "usergroup": dict(group)}

    def _chat_get_permalink(self, args: dict[str, Any], token: str | None) -> JsonDict:
        channel, ts = str(args.get("channel", "")), str(args.get("message_ts", ""))
        if not channel or not ts:
            return {"ok": False, "error": "invalid_arguments"}
        link = f"https://{self.team_domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _apps_connections_open(self, args: dict[str, Any], token: str | None) -> JsonDict:
        ticket = str(uuid.uuid4())
        self._tickets.add(ticket)
        query = urlencode({"ticket": ticket, "app_id": self.app_id})
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket?{query}"}

    # ---- Socket Mode

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("ticket") not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        try:
            await ws.send_json(
                {
                    "type": "hello",
                    "num_connections": len(self._sockets),
                    "debug_info": {
                        "host": "applink-fake-1",
                        "build_number": 1,
                        "approximate_connection_time": 18060,
                    },
                    "connection_info": {"app_id": self.app_id},
                }
            )
            self.socket_disconnected.clear()
            self.socket_connected.set()
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    continue
                if not isinstance(data, dict):
                    continue
                async with self._changed:
                    self.socket_messages.append(data)
                    envelope_id = data.get("envelope_id")
                    if isinstance(envelope_id, str):
                        self.socket_acks[envelope_id] = data
                    self._changed.notify_all()
        finally:
            self._sockets.remove(ws)
            if not self._sockets:
                self.socket_connected.clear()
                self.socket_disconnected.set()
        return ws

    async def _close_sockets(self, app: web.Application) -> None:
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")

    async def _socket_send(self, message: JsonDict, wait: float = 5.0) -> None:
        try:
            async with asyncio.timeout(wait):
                await self.socket_connected.wait()
        except TimeoutError:
            raise AssertionError(f"no Socket Mode client connected within {wait}s") from None
        await self._sockets[-1].send_json(message)

    async def _send_envelope(
        self, kind: str, payload: JsonDict, *, accepts_response_payload: bool, **extra: Any
    ) -> str:
        envelope_id = str(uuid.uuid4())
        message: JsonDict = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": kind,
            "accepts_response_payload": accepts_response_payload,
            **extra,
        }
        await self._socket_send(message)
        return envelope_id

    async def send_socket_event(
        self, event_envelope: JsonDict | str, *, retry_attempt: int = 0, retry_reason: str = ""
    ) -> str:
        """Send an `events_api` envelope carrying `event_envelope` (an event_callback dict, or
        the JSON from `event_body`); returns its envelope_id."""
        payload = json.loads(event_envelope) if isinstance(event_envelope, str) else event_envelope
        return await self._send_envelope(
            "events_api",
            payload,
            accepts_response_payload=False,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
        )

    async def send_socket_command(self, command_form: dict[str, str]) -> str:
        """Send a `slash_commands` envelope (payload: the fields from `command_form`)."""
        return await self._send_envelope(
            "slash_commands", dict(command_form), accepts_response_payload=True
        )

    async def send_socket_interactive(self, payload: JsonDict) -> str:
        """Send an `interactive` envelope (e.g. a `block_actions_payload`)."""
        accepts = payload.get("type") in ("view_submission", "block_suggestion")
        return await self._send_envelope("interactive", payload, accepts_response_payload=accepts)

    async def send_socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the client to reconnect, as Slack does periodically."""
        await self._socket_send(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake-1"}}
        )

    async def wait_for_socket_ack(self, envelope_id: str, timeout: float = 5.0) -> JsonDict:  # noqa: ASYNC109
        """Wait for the client's acknowledgement ({"envelope_id": ..., maybe "payload"})."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: envelope_id in self.socket_acks)
        except TimeoutError:
            raise AssertionError(
                f"no ack for envelope {envelope_id} within {timeout}s; "
                f"socket messages so far: {self.socket_messages!r}"
            ) from None
        return self.socket_acks[envelope_id]


def _basic_auth(header: str) -> tuple[str | None, str | None]:
    if not header.startswith("Basic "):
        return None, None
    try:
        login, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
    except ValueError:
        return None, None
    return login, password


def _slack_json(body: JsonDict, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, headers=headers)


def _error_response(error: str) -> web.Response:
    if error == "ratelimited":
        return web.json_response(
            {"ok": False, "error": error}, status=429, headers={"Retry-After": "1"}
        )
    if error == "server_error":
        return web.json_response({"ok": False, "error": "fatal_error"}, status=500)
    return web.json_response({"ok": False, "error": error})
