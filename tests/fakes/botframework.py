"""A fake Microsoft Bot Framework (Teams) for end-to-end tests: real HTTP on 127.0.0.1 only.

`FakeConnector` plays the Bot Connector REST API that a bot calls at an activity's `serviceUrl`
(botframework-connector's `ConnectorClient`): it records every request and answers like the real
service. Put `FakeConnector.service_url` into the activities you post, and the bot's replies,
updates and proactive messages arrive here.

The module-level builders produce activities as Teams sends them to the bot's /api/messages
(personal and channel messages with mentions, Adaptive Card submits, conversationUpdate), and
`post_activity` POSTs one the way the Bot Framework Service does.

Shapes follow botbuilder.schema (and .teams) and the installed botframework-connector sources:

- ConnectorClient builds `<serviceUrl without trailing "/">/v3/...`, so a serviceUrl with or
  without a trailing slash (and with a path, like Teams' "https://smba.trafficmanager.net/emea/")
  works; path parameters are percent-encoded with `quote(safe="")`.
- `send_activity` posts to .../activities/{replyToId} (reply_to_activity): TurnContext fills
  `replyToId` from the turn's activity. That holds for proactive sends too: CloudAdapter's
  continue_conversation gives its continuation activity a fresh uuid1 id, so they arrive as
  replies to that uuid. Only activities sent without replyToId (e.g. via the adapter directly)
  use .../activities (send_to_conversation).
- Requests go through `requests` in a thread. urllib3 retries PUT (update) on 408 and 5xx other
  than 501/505, up to 3 times with backoff 0, 1.6, 3.2 s, then raises ClientRequestError
  (RetryError); POST (send, reply, create) is never retried and raises ErrorResponseException.
- Without an app id no Authorization header is sent (`SentActivity.authorization` is None).
"""

from __future__ import annotations

import asyncio
import html
import itertools
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import unquote

import aiohttp
from aiohttp import web

from tests.fakes.local_server import LocalServer

CHANNEL_ID = "msteams"
BOT_ID = "28:bot"
BOT_NAME = "whoowns"
TENANT_ID = "tenant-1"
USER_ID = "29:user-1"
USER_NAME = "Alice"
TEAM_ID = "19:team-1@thread.tacv2"
TEAM_NAME = "ML Platform"
CHANNEL = "19:channel-1@thread.tacv2"
CHANNEL_NAME = "General"
LOCALE = "en-US"
TIMEZONE = "Etc/UTC"
JSON = "application/json"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
# What the Bot Framework Service sends with activities it POSTs to a bot.
USER_AGENT = "Microsoft-SkypeBotApi (Microsoft-BotFramework/3.0)"

JsonDict = dict[str, Any]
ConversationKind = Literal["personal", "channel"]
Operation = Literal[
    "send", "reply", "update", "create_conversation", "get_member", "get_paged_members", "unknown"
]
# Reads of a roster, not messages in a conversation: `FakeConnector.to` leaves them out.
_ROSTER_READS = ("get_member", "get_paged_members")

_AT = re.compile(r"<at>(.*?)</at>", re.DOTALL)


@dataclass(frozen=True)
class SentActivity:
    """One request the fake connector received.

    `method` is the HTTP method ("POST", "PUT", ...); `conversation_id` the decoded
    {conversationId} of the URL (for create_conversation: the id handed out); `reply_to_id` the
    {activityId} of a reply (POST .../activities/{activityId}), else None; `activity` the JSON
    body (for create_conversation: the ConversationParameters); `authorization` the
    Authorization header. `operation` says which API it was; `activity_id` is the {activityId} of
    the URL (reply and update); `status` what the fake answered and `response_id` the id it
    returned; `path` the decoded request path.
    """

    method: str
    conversation_id: str
    reply_to_id: str | None
    activity: JsonDict
    authorization: str | None
    operation: Operation = "send"
    activity_id: str | None = None
    status: int = 200
    response_id: str | None = None
    path: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str | None:
        text = self.activity.get("text")
        return text if isinstance(text, str) else None

    @property
    def attachments(self) -> list[JsonDict]:
        found = self.activity.get("attachments")
        return [a for a in found if isinstance(a, dict)] if isinstance(found, list) else []

    @property
    def cards(self) -> list[JsonDict]:
        """The Adaptive Cards (attachment `content`) this activity carries."""
        return [
            a["content"]
            for a in self.attachments
            if a.get("contentType") == ADAPTIVE_CARD and isinstance(a.get("content"), dict)
        ]


# --------------------------------------------------------------------------------------------
# Ids and timestamps

_last_id = [0]


def new_activity_id() -> str:
    """A message id like Teams' (epoch milliseconds, "1700000000123"), unique and increasing."""
    millis = max(time.time_ns() // 1_000_000, _last_id[0] + 1)
    _last_id[0] = millis
    return str(millis)


def _stable_hex(*parts: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, "|".join(parts)).hex


def aad_object_id_for(user_id: str) -> str:
    """A stable Entra (AAD) object id for a fake user id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"aad|{user_id}"))


def personal_conversation_id(user_id: str = USER_ID, bot_id: str = BOT_ID) -> str:
    """The 1:1 conversation id Teams uses for this user and bot ("a:1…"), stable like Teams'."""
    return "a:1" + _stable_hex("personal", user_id, bot_id)


def channel_conversation_id(channel_id: str = CHANNEL, thread_id: str | None = None) -> str:
    """A channel thread's conversation id: "<channel id>;messageid=<root message id>"."""
    return channel_id if thread_id is None else f"{channel_id};messageid={thread_id}"


def _timestamps() -> JsonDict:
    now = datetime.now(UTC)
    return {
        "timestamp": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "localTimestamp": now.isoformat(timespec="milliseconds"),
        "localTimezone": TIMEZONE,
    }


# --------------------------------------------------------------------------------------------
# Activity builders


def mention_entity(user_id: str, name: str) -> JsonDict:
    return {
        "type": "mention",
        "mentioned": {"id": user_id, "name": name},
        "text": f"<at>{name}</at>",
    }


def _client_info() -> JsonDict:
    return {
        "type": "clientInfo",
        "locale": LOCALE,
        "country": "US",
        "platform": "Web",
        "timezone": TIMEZONE,
    }


def _html_attachment(text: str) -> JsonDict:
    """The text/html copy Teams attaches to typed messages, mentions as Skype mention spans."""
    parts: list[str] = []
    last = 0
    for index, match in enumerate(_AT.finditer(text)):
        parts.append(html.escape(text[last : match.start()], quote=False))
        parts.append(
            '<span itemscope="" itemtype="http://schema.skype.com/Mention" '
            f'itemid="{index}">{html.escape(match.group(1), quote=False)}</span>'
        )
        last = match.end()
    parts.append(html.escape(text[last:], quote=False))
    body = "".join(parts).replace("\n", "<br>")
    return {"contentType": "text/html", "content": f"<p>{body}</p>"}


def _user(user_id: str, user_name: str, aad_object_id: str | None) -> JsonDict:
    return {
        "id": user_id,
        "name": user_name,
        "aadObjectId": aad_object_id or aad_object_id_for(user_id),
    }


def _conversation(kind: ConversationKind, conversation_id: str, tenant_id: str) -> JsonDict:
    # Teams writes "tenantId"; botbuilder-python's ConversationAccount maps tenant_id to
    # "tenantID", so after Activity().deserialize() conversation.tenant_id is None and only
    # channelData.tenant.id carries the tenant.
    conversation: JsonDict = {
        "conversationType": kind,
        "tenantId": tenant_id,
        "id": conversation_id,
    }
    if kind != "personal":
        conversation["isGroup"] = True
    return conversation


def _channel_data(
    kind: ConversationKind,
    tenant_id: str,
    *,
    team_id: str,
    team_name: str | None,
    channel_id: str,
    channel_name: str | None,
) -> JsonDict:
    data: JsonDict = {"tenant": {"id": tenant_id}}
    if kind == "channel":
        team: JsonDict = {"id": team_id}
        channel: JsonDict = {"id": channel_id}
        if team_name is not None:
            team["name"] = team_name
        if channel_name is not None:
            channel["name"] = channel_name
        data.update(teamsTeamId=team_id, teamsChannelId=channel_id, team=team, channel=channel)
    return data


def _message(
    *,
    service_url: str,
    activity_id: str | None,
    sender: JsonDict,
    bot_id: str,
    bot_name: str,
    conversation: JsonDict,
    channel_data: JsonDict,
) -> JsonDict:
    return {
        "type": "message",
        "id": activity_id or new_activity_id(),
        **_timestamps(),
        "serviceUrl": service_url,
        "channelId": CHANNEL_ID,
        "from": sender,
        "conversation": conversation,
        "recipient": {"id": bot_id, "name": bot_name},
        "locale": LOCALE,
        "channelData": channel_data,
    }


def personal_message(
    text: str,
    *,
    service_url: str,
    user_id: str = USER_ID,
    user_name: str = USER_NAME,
    aad_object_id: str | None = None,
    tenant_id: str = TENANT_ID,
    conversation_id: str | None = None,
    activity_id: str | None = None,
    mentions: Sequence[tuple[str, str]] = (),
    bot_id: str = BOT_ID,
    bot_name: str = BOT_NAME,
    html_copy: bool = True,
) -> JsonDict:
    """A message typed in the 1:1 chat with the bot.

    `conversation_id` defaults to `personal_conversation_id(user_id, bot_id)`; `aad_object_id`
    to a stable id derived from `user_id`. Each (id, name) of `mentions` adds a mention entity
    (write "<at>name</at>" into `text` yourself). `html_copy` adds the text/html attachment
    Teams sends along with typed text.
    """
    activity = _message(
        service_url=service_url,
        activity_id=activity_id,
        sender=_user(user_id, user_name, aad_object_id),
        bot_id=bot_id,
        bot_name=bot_name,
        conversation=_conversation(
            "personal", conversation_id or personal_conversation_id(user_id, bot_id), tenant_id
        ),
        channel_data={"tenant": {"id": tenant_id}},
    )
    activity.update(
        text=text,
        textFormat="plain",
        entities=[*(mention_entity(i, n) for i, n in mentions), _client_info()],
    )
    if html_copy:
        activity["attachments"] = [_html_attachment(text)]
    return activity


def channel_message(
    text: str,
    *,
    service_url: str,
    mentions: Sequence[tuple[str, str]] = (),
    bot_id: str = BOT_ID,
    bot_name: str = BOT_NAME,
    mention_bot: bool = True,
    user_id: str = USER_ID,
    user_name: str = USER_NAME,
    aad_object_id: str | None = None,
    team_id: str = TEAM_ID,
    team_name: str | None = TEAM_NAME,
    channel_id: str = CHANNEL,
    channel_name: str | None = CHANNEL_NAME,
    tenant_id: str = TENANT_ID,
    activity_id: str | None = None,
    thread_id: str | None = None,
    html_copy: bool = True,
) -> JsonDict:
    """A message posted in a team channel (a bot only gets those that @mention it).

    With `mention_bot`, the text starts with "<at>{bot_name}</at> " and a mention entity for the
    bot comes first. Each (id, name) of `mentions` adds a mention entity (write "<at>name</at>"
    into `text` yourself). The conversation id is "<channel_id>;messageid=<thread_id>", where
    `thread_id` (the thread's root message) defaults to this message's id: a new post. Names of
    team and channel can be None to leave them out (Teams does not always send them).
    """
    activity_id = activity_id or new_activity_id()
    entities = [mention_entity(i, n) for i, n in mentions]
    if mention_bot:
        text = f"<at>{bot_name}</at> {text}"
        entities.insert(0, mention_entity(bot_id, bot_name))
    activity = _message(
        service_url=service_url,
        activity_id=activity_id,
        sender=_user(user_id, user_name, aad_object_id),
        bot_id=bot_id,
        bot_name=bot_name,
        conversation=_conversation(
            "channel", channel_conversation_id(channel_id, thread_id or activity_id), tenant_id
        ),
        channel_data=_channel_data(
            "channel",
            tenant_id,
            team_id=team_id,
            team_name=team_name,
            channel_id=channel_id,
            channel_name=channel_name,
        ),
    )
    activity.update(text=text, textFormat="plain", entities=[*entities, _client_info()])
    if html_copy:
        activity["attachments"] = [_html_attachment(text)]
    return activity


def card_submit(
    value: JsonDict,
    *,
    service_url: str,
    conversation: ConversationKind,
    reply_to_id: str | None,
    user_id: str = USER_ID,
    user_name: str = USER_NAME,
    aad_object_id: str | None = None,
    tenant_id: str = TENANT_ID,
    conversation_id: str | None = None,
    bot_id: str = BOT_ID,
    bot_name: str = BOT_NAME,
    team_id: str = TEAM_ID,
    team_name: str | None = TEAM_NAME,
    channel_id: str = CHANNEL,
    channel_name: str | None = CHANNEL_NAME,
    thread_id: str | None = None,
    activity_id: str | None = None,
) -> JsonDict:
    """What Teams sends when an Adaptive Card's Action.Submit is clicked: a message without text,
    `value` = the action's data merged with the card's inputs, `replyToId` = the card's message.

    `conversation_id` defaults to the personal chat of `user_id`, or for a channel to the thread
    "<channel_id>;messageid=<thread_id>" (`thread_id` defaults to `reply_to_id`).
    """
    if conversation == "personal":
        conv = _conversation(
            "personal", conversation_id or personal_conversation_id(user_id, bot_id), tenant_id
        )
    else:
        root = thread_id or reply_to_id or new_activity_id()
        conv = _conversation(
            "channel", conversation_id or channel_conversation_id(channel_id, root), tenant_id
        )
    data = _channel_data(
        conversation,
        tenant_id,
        team_id=team_id,
        team_name=team_name,
        channel_id=channel_id,
        channel_name=channel_name,
    )
    data["source"] = {"name": "message"}
    if reply_to_id is not None:
        data["legacy"] = {"replyToId": reply_to_id}
    activity = _message(
        service_url=service_url,
        activity_id=activity_id,
        sender=_user(user_id, user_name, aad_object_id),
        bot_id=bot_id,
        bot_name=bot_name,
        conversation=conv,
        channel_data=data,
    )
    activity.update(value=value, entities=[_client_info()])
    if reply_to_id is not None:
        activity["replyToId"] = reply_to_id
    return activity


def invoke(
    name: str,
    value: JsonDict,
    *,
    service_url: str,
    conversation: ConversationKind = "personal",
    user_id: str = USER_ID,
    user_name: str = USER_NAME,
    tenant_id: str = TENANT_ID,
    thread_id: str | None = None,
    bot_id: str = BOT_ID,
    bot_name: str = BOT_NAME,
    team_id: str = TEAM_ID,
    channel_id: str = CHANNEL,
) -> JsonDict:
    """An `invoke` activity as Teams sends one: `task/fetch` and `task/submit` from a card's
    dialog, `composeExtension/query`, `composeExtension/fetchTask` and
    `composeExtension/submitAction` from the message extension. Its answer is the HTTP
    response's body (an InvokeResponse), not an activity sent back."""
    if conversation == "personal":
        conv = _conversation("personal", personal_conversation_id(user_id, bot_id), tenant_id)
    else:
        root = thread_id or new_activity_id()
        conv = _conversation("channel", channel_conversation_id(channel_id, root), tenant_id)
    data = _channel_data(
        conversation,
        tenant_id,
        team_id=team_id,
        team_name=TEAM_NAME,
        channel_id=channel_id,
        channel_name=CHANNEL_NAME,
    )
    data["source"] = {"name": "compose" if name.startswith("composeExtension/") else "message"}
    activity = _message(
        service_url=service_url,
        activity_id=None,
        sender=_user(user_id, user_name, None),
        bot_id=bot_id,
        bot_name=bot_name,
        conversation=conv,
        channel_data=data,
    )
    activity.update(type="invoke", name=name, value=value, entities=[_client_info()])
    return activity


def task_fetch(data: JsonDict, **where: Any) -> JsonDict:
    """A click on an Action.Submit whose data has msteams.type "task/fetch": `data` is the
    action's data (Teams keeps the msteams key in it)."""
    value = {"type": "task/fetch", "data": data, "context": {"theme": "default"}}
    return invoke("task/fetch", value, **where)


def task_submit(data: JsonDict, **where: Any) -> JsonDict:
    """The dialog's Action.Submit: its data merged with the card's inputs (ids to values)."""
    value = {"type": "task/submit", "data": data, "context": {"theme": "default"}}
    return invoke("task/submit", value, **where)


def compose_query(command_id: str, query: str | None, **where: Any) -> JsonDict:
    """A search in the message extension; `None` is the first run, before anything is typed."""
    parameters = (
        [{"name": "initialRun", "value": "true"}]
        if query is None
        else [{"name": "query", "value": query}]
    )
    value = {
        "commandId": command_id,
        "parameters": parameters,
        "queryOptions": {"skip": 0, "count": 25},
    }
    return invoke("composeExtension/query", value, **where)


def message_payload(
    text: str, *, sender: str = "Bob", message_id: str = "1700000000123"
) -> JsonDict:
    """The message an action command was run on, as Teams describes it (HTML body, a link)."""
    return {
        "id": message_id,
        "createdDateTime": datetime.now(UTC).isoformat(),
        "messageType": "message",
        "importance": "normal",
        "locale": LOCALE,
        "linkToMessage": f"https://teams.microsoft.com/l/message/{CHANNEL}/{message_id}",
        "from": {"user": {"id": aad_object_id_for(sender), "displayName": sender}},
        "body": {"contentType": "html", "content": f"<p>{html.escape(text)}</p>"},
        "attachments": [],
        "mentions": [],
        "reactions": [],
    }


def compose_action(
    name: str, command_id: str, payload: JsonDict, data: JsonDict | None = None, **where: Any
) -> JsonDict:
    """`composeExtension/fetchTask` (the action chosen on a message) or
    `composeExtension/submitAction` (its dialog submitted, with `data`)."""
    value: JsonDict = {
        "commandId": command_id,
        "commandContext": "message",
        "context": {"theme": "default"},
        "messagePayload": payload,
    }
    if data is not None:
        value["data"] = data
    return invoke(f"composeExtension/{name}", value, **where)


def conversation_update_members_added(
    *,
    service_url: str,
    conversation: ConversationKind = "personal",
    members: Sequence[str] | None = None,
    user_id: str = USER_ID,
    user_name: str = USER_NAME,
    aad_object_id: str | None = None,
    tenant_id: str = TENANT_ID,
    bot_id: str = BOT_ID,
    bot_name: str = BOT_NAME,
    team_id: str = TEAM_ID,
    team_name: str | None = TEAM_NAME,
    activity_id: str | None = None,
) -> JsonDict:
    """The conversationUpdate Teams sends when members join: `members` (user ids; None: the bot
    itself, i.e. the app was installed in `user_id`'s personal scope, or in a team by them).

    In a team the conversation is the team's General channel, whose id is the team id.
    """
    added = (
        [{"id": bot_id}]
        if members is None
        else [
            {"id": i, "aadObjectId": aad_object_id_for(i)} if i.startswith("29:") else {"id": i}
            for i in members
        ]
    )
    if conversation == "personal":
        conv = _conversation("personal", personal_conversation_id(user_id, bot_id), tenant_id)
        data: JsonDict = {"tenant": {"id": tenant_id}}
    else:
        conv = _conversation("channel", team_id, tenant_id)
        data = _channel_data(
            "channel",
            tenant_id,
            team_id=team_id,
            team_name=team_name,
            channel_id=team_id,
            channel_name=None,
        )
        del data["channel"], data["teamsChannelId"]
        data["team"]["aadGroupId"] = aad_object_id_for(team_id)
    data["eventType"] = "teamMemberAdded"
    activity = _message(
        service_url=service_url,
        activity_id=activity_id or f"f:{time.time_ns()}",
        sender=_user(user_id, user_name, aad_object_id),
        bot_id=bot_id,
        bot_name=bot_name,
        conversation=conv,
        channel_data=data,
    )
    activity["type"] = "conversationUpdate"
    activity["membersAdded"] = added
    del activity["locale"]
    return activity


async def post_activity(
    url: str,
    activity: JsonDict,
    *,
    authorization: str | None = None,
    session: aiohttp.ClientSession | None = None,
) -> tuple[int, str]:
    """POST `activity` as JSON to the bot's endpoint (".../api/messages"); returns (status, text).

    `authorization` is sent as the Authorization header ("Bearer <jwt>"). A session is created
    (and closed) when none is given.
    """
    headers = {"Content-Type": JSON, "User-Agent": USER_AGENT}
    if authorization is not None:
        headers["Authorization"] = authorization
    if session is None:
        async with aiohttp.ClientSession() as own:
            return await _post(own, url, activity, headers)
    return await _post(session, url, activity, headers)


async def _post(
    session: aiohttp.ClientSession, url: str, activity: JsonDict, headers: dict[str, str]
) -> tuple[int, str]:
    async with session.post(url, json=activity, headers=headers) as resp:
        return resp.status, await resp.text()


# --------------------------------------------------------------------------------------------
# The fake connector


def _error(status: int, code: str | None = None, message: str | None = None) -> JsonDict:
    """The Bot Connector's ErrorResponse body."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return {
        "error": {
            "code": code or phrase.replace(" ", "").replace("-", ""),
            "message": message or phrase,
        }
    }


def _tenant_of(parameters: JsonDict) -> str | None:
    """ConversationParameters' tenant: botbuilder sends "tenantID", the REST docs say "tenantId",
    and Teams reads channelData.tenant.id as well."""
    tenant = parameters.get("tenantId") or parameters.get("tenantID")
    return tenant or ((parameters.get("channelData") or {}).get("tenant") or {}).get("id")


class FakeConnector(LocalServer):
    """The Bot Connector REST API (v3 conversations) on 127.0.0.1, random port.

    Use as `async with FakeConnector() as connector:` (or `await start()` / `await close()`),
    and put `connector.service_url` in the activities' serviceUrl. Answers:

    - POST /v3/conversations/{conversationId}/activities (send),
      POST /v3/conversations/{conversationId}/activities/{activityId} (reply):
      200 {"id": <new message id>};
    - PUT /v3/conversations/{conversationId}/activities/{activityId} (update):
      200 {"id": <activityId>} (the message keeps its id, as in Teams);
    - POST /v3/conversations (create conversation): 200 {"id": "a:new-conv-…", "activityId": …,
      "serviceUrl": …}; the same members (1:1) get the same conversation id again, as in Teams.
      Once a roster is set up (`add_member`), a 1:1 with someone in no team of the tenant is
      refused with 403, as Teams refuses a bot that shares no team with the user;
    - GET /v3/conversations/{teamId or a channel's conversation}/members/{memberId}: the team's
      member (TeamsChannelAccount, found by id or AAD object id), else 404
      MemberNotFoundInConversation; GET …/pagedmembers?pageSize=&continuationToken=: the roster
      a page at a time;
    - anything else: 404 with an ErrorResponse body.

    Every request is recorded in `sent` (failed and unknown ones too: see `SentActivity.ok`,
    `operation`). `base_path` puts the API under a path, like Teams' ".../emea/".
    """

    def __init__(self, *, base_path: str = "/") -> None:
        super().__init__()
        self.base_path = "/" + base_path.strip("/") + "/" if base_path.strip("/") else "/"
        self.sent: list[SentActivity] = []
        self._changed = asyncio.Condition()
        self._failure: tuple[int, int | None, str | None] | None = None
        self._retry_after: int | None = None
        self._conversations: dict[tuple[str, ...], str] = {}
        self._conv_ids = itertools.count(1)
        # Team id -> member id -> TeamsChannelAccount JSON; channel id -> the team it is in.
        self.rosters: dict[str, dict[str, JsonDict]] = {}
        self.channels: dict[str, str] = {CHANNEL: TEAM_ID}

    # ---- lifecycle

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._handle)

    @property
    def service_url(self) -> str:
        """The activities' serviceUrl: "http://127.0.0.1:PORT/" (with a trailing slash, like
        Teams'; ConnectorClient works with or without)."""
        return f"http://127.0.0.1:{self.port}{self.base_path}"

    # ---- rosters

    def add_member(
        self,
        user_id: str,
        name: str,
        *,
        team_id: str = TEAM_ID,
        tenant_id: str = TENANT_ID,
        aad_object_id: str | None = None,
    ) -> JsonDict:
        """Put someone in a team's roster (as Teams lists them: TeamsChannelAccount)."""
        given, _, surname = name.partition(" ")
        member: JsonDict = {
            "id": user_id,
            "name": name,
            "aadObjectId": aad_object_id or aad_object_id_for(user_id),
            "givenName": given,
            "surname": surname or None,
            "email": f"{given.lower()}@example.com",
            "userPrincipalName": f"{given.lower()}@example.com",
            "tenantId": tenant_id,
            "userRole": "user",
        }
        self.rosters.setdefault(team_id, {})[user_id] = member
        return member

    def _team_of(self, conversation_id: str) -> str | None:
        plain = conversation_id.split(";", 1)[0]
        if plain in self.rosters:
            return plain
        return self.channels.get(plain)

    def _member(self, team_id: str | None, member_id: str) -> JsonDict | None:
        for member in self.rosters.get(team_id or "", {}).values():
            if member_id in (member["id"], member["aadObjectId"]):
                return member
        return None

    def _in_any_team(self, member_id: str, tenant: str | None) -> bool:
        found = (self._member(team, member_id) for team in self.rosters)
        return any(m is not None and m["tenantId"] == (tenant or TENANT_ID) for m in found)

    # ---- recorded requests

    def to(self, conversation_id: str) -> list[SentActivity]:
        """Requests for `conversation_id` (decoded, e.g. "19:…@thread.tacv2;messageid=…"), but
        roster reads."""
        return [
            s
            for s in self.sent
            if s.conversation_id == conversation_id and s.operation not in _ROSTER_READS
        ]

    def roster_reads(self) -> list[SentActivity]:
        return [s for s in self.sent if s.operation in _ROSTER_READS]

    def activities(self, conversation_id: str | None = None) -> list[SentActivity]:
        """Successful sends and replies (not updates), optionally for one conversation."""
        return [
            s
            for s in self.sent
            if s.ok
            and s.operation in ("send", "reply")
            and (conversation_id is None or s.conversation_id == conversation_id)
        ]

    async def wait_for(
        self,
        count: int = 1,
        *,
        conversation_id: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[SentActivity]:
        """Wait until at least `count` requests (for `conversation_id`, if given) were recorded
        since the start or the last `clear`; returns them all."""

        def matching() -> list[SentActivity]:
            return self.sent if conversation_id is None else self.to(conversation_id)

        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: len(matching()) >= count)
        except TimeoutError:
            where = "" if conversation_id is None else f" to {conversation_id!r}"
            lines = "\n".join(f"  {s.method} {s.path} -> {s.status}: {s.text!r}" for s in self.sent)
            raise AssertionError(
                f"expected {count} request(s){where} within {timeout}s, got "
                f"{len(matching())}; everything that arrived ({len(self.sent)}):\n"
                f"{lines or '  (nothing)'}"
            ) from None
        return matching()

    def clear(self) -> None:
        """Forget recorded requests (a failure set with `fail` stays)."""
        self.sent.clear()

    def fail(
        self,
        status: int = 500,
        times: int | None = None,
        *,
        code: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `times` sends, replies, updates and conversation creations (None: all,
        until `recover`) with `status` and an ErrorResponse body ({"error": {"code", ...}}), and
        a Retry-After header of `retry_after` seconds if given (as the connector throttles).

        Mind the client's retries: botbuilder's stock ConnectorClient retries a 5xx PUT (update)
        up to 3 times, with backoff (0, 1.6, 3.2 s), and no POST; whoowns' pipeline retries both,
        so each failing call consumes up to 4 of `times`.
        """
        self._failure = (status, times, code)
        self._retry_after = retry_after

    def recover(self) -> None:
        """Undo `fail`."""
        self._failure = None

    # ---- handlers

    def _take_failure(self) -> tuple[int, str | None] | None:
        if self._failure is None:
            return None
        status, times, code = self._failure
        if times is not None:
            self._failure = (status, times - 1, code) if times > 1 else None
        return status, code

    async def _record(self, sent: SentActivity) -> None:
        async with self._changed:
            self.sent.append(sent)
            self._changed.notify_all()

    def _new_conversation_id(self, parameters: JsonDict) -> str:
        members = parameters.get("members")
        ids = (
            tuple(str(m.get("id")) for m in members if isinstance(m, dict))
            if isinstance(members, list)
            else ()
        )
        tenant = _tenant_of(parameters)
        if ids and not parameters.get("isGroup"):
            key = (str(tenant), *ids)
            if key not in self._conversations:
                self._conversations[key] = f"a:new-conv-{next(self._conv_ids)}"
            return self._conversations[key]
        return f"19:new-conv-{next(self._conv_ids)}@thread.v2"

    def _page(self, conversation_id: str, query: Any) -> JsonDict:
        members = list(self.rosters.get(self._team_of(conversation_id) or "", {}).values())
        size = int(query.get("pageSize") or 200)
        start = int(query.get("continuationToken") or 0)
        following = start + size
        return {
            "members": members[start:following],
            "continuationToken": str(following) if following < len(members) else None,
        }

    def _refused(self, parameters: JsonDict) -> bool:
        members = parameters.get("members")
        if not self.rosters or parameters.get("isGroup") or not isinstance(members, list):
            return False
        tenant = _tenant_of(parameters)
        return not all(
            isinstance(m, dict) and self._in_any_team(str(m.get("id")), tenant) for m in members
        )

    async def _handle(self, request: web.Request) -> web.Response:
        raw_path = request.rel_url.raw_path
        path = unquote(raw_path)
        authorization = request.headers.get("Authorization")
        body: JsonDict = {}
        if request.can_read_body:
            try:
                loaded = await request.json()
            except ValueError:
                loaded = None
            if isinstance(loaded, dict):
                body = loaded
        # Decode each segment on its own, so an encoded "/" in an id cannot split it.
        relative = raw_path[len(self.base_path) :] if raw_path.startswith(self.base_path) else None
        segments = [unquote(s) for s in relative.split("/")] if relative is not None else []
        method = request.method

        operation: Operation = "unknown"
        conversation_id = ""
        activity_id: str | None = None
        if segments[:2] == ["v3", "conversations"]:
            rest = segments[2:]
            if method == "POST" and rest == []:
                operation = "create_conversation"
            elif len(rest) == 2 and rest[1] == "activities" and method == "POST":
                operation, conversation_id = "send", rest[0]
            elif len(rest) == 3 and rest[1] == "activities" and method in ("POST", "PUT"):
                operation = "reply" if method == "POST" else "update"
                conversation_id, activity_id = rest[0], rest[2]
            elif len(rest) == 3 and rest[1] == "members" and method == "GET":
                operation, conversation_id = "get_member", rest[0]
            elif rest[1:] == ["pagedmembers"] and method == "GET":
                operation, conversation_id = "get_paged_members", rest[0]
            elif len(rest) >= 1:
                conversation_id = rest[0]

        failure = None if operation == "unknown" else self._take_failure()
        status = 200
        response_id: str | None = None
        payload: JsonDict
        if operation == "unknown":
            status = 404
            payload = _error(404, "NotFound", f"{method} {path} is not part of the fake connector")
        elif failure is not None:
            status, code = failure
            payload = _error(status, code)
            if operation == "create_conversation":
                conversation_id = ""
        elif operation == "get_member":
            member = self._member(self._team_of(conversation_id), segments[-1])
            if member is None:
                status = 404
                payload = _error(404, "MemberNotFoundInConversation", "The member was not found")
            else:
                payload = member
        elif operation == "get_paged_members":
            payload = self._page(conversation_id, request.query)
        elif operation == "create_conversation" and self._refused(body):
            status = 403
            payload = _error(403, "Forbidden", "The bot shares no team with the user")
        elif operation == "create_conversation":
            conversation_id = self._new_conversation_id(body)
            response_id = new_activity_id()
            payload = {
                "id": conversation_id,
                "activityId": response_id,
                "serviceUrl": self.service_url,
            }
        else:
            response_id = activity_id if operation == "update" else new_activity_id()
            payload = {"id": response_id}

        await self._record(
            SentActivity(
                method=method,
                conversation_id=conversation_id,
                reply_to_id=activity_id if operation == "reply" else None,
                activity=body,
                authorization=authorization,
                operation=operation,
                activity_id=activity_id,
                status=status,
                response_id=response_id,
                path=path,
            )
        )
        headers = (
            {"Retry-After": str(self._retry_after)}
            if failure is not None and self._retry_after is not None
            else None
        )
        return web.json_response(payload, status=status, headers=headers)
