"""Teams activities in; Adaptive Card replies and proactive notifications out.

botbuilder's CloudAdapter validates the Bot Framework token (when an app id is configured) and
talks to the connector at the activity's serviceUrl. Each user's conversation reference is kept in
the store when they talk to the bot, so any replica can message them later. Someone who never did
is looked up in the roster of each team the bot is installed in, and a 1:1 chat is opened with
them (and kept); someone in none of those teams is mentioned in the conversation where the matter
came up instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import aiohttp
from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.core.serializer_helper import serializer_helper
from botbuilder.core.teams import TeamsInfo
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import (
    Activity,
    ChannelAccount,
    ConversationParameters,
    ConversationReference,
    ErrorResponseException,
)
from botframework.connector.auth import ConnectorFactory
from msrest.exceptions import DeserializationError  # type: ignore[attr-defined]

from bot.buttons import action_button, notification_buttons, parse_click
from bot.delivery import Undeliverable
from bot.forms import form_for
from bot.inflight import InFlight
from bot.names import DisplayNames
from bot.teams import render
from bot.teams.activity_json import read_activity
from bot.teams.connector_http import use_aiohttp
from bot.teams.dialogs import TeamsDialogs
from handlers.dispatch import Dispatcher
from handlers.message import (
    Action,
    Choice,
    Line,
    Mention,
    Message,
    Notification,
    PersonMention,
    Reply,
    line,
)
from handlers.wording import STORE_DOWN
from store import conversations, workspaces
from store.db import Database, StoreUnavailable
from store.outbox import OutboxRecord

log = logging.getLogger(__name__)

PLATFORM = "teams"
_AT = re.compile(r"<at>(.*?)</at>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")  # markup, not "3 < 4 > 2"


@dataclass(frozen=True)
class TeamsConfig:
    """The Bot Framework's usual settings; no app id means unauthenticated (the Emulator)."""

    app_id: str = ""
    app_password: str = field(default="", repr=False)
    app_type: str = "MultiTenant"
    tenant_id: str = ""

    @property
    def authenticated(self) -> bool:
        return bool(self.app_id)


class _ReusedConnectors(ConnectorFactory):  # type: ignore[misc]  # botbuilder is untyped
    """botbuilder builds a new ConnectorClient for every turn, and building one (its retry policy,
    its HTTP session) costs more than the whole turn. Clients are stateless but for their
    credentials, so one per (app, service URL, audience) is reused."""

    def __init__(
        self,
        inner: Any,
        cache: dict[tuple[str, str, str], Any],
        app: str,
        http: aiohttp.ClientSession,
    ) -> None:
        self._inner = inner
        self._cache = cache
        self._app = app
        self._http = http

    async def create(self, service_url: str, audience: str) -> Any:
        key = (self._app, service_url, audience or "")
        client = self._cache.get(key)
        if client is None:
            client = use_aiohttp(await self._inner.create(service_url, audience), self._http)
            self._cache[key] = client
        return client


class _ReusingAuthentication(ConfigurationBotFrameworkAuthentication):  # type: ignore[misc]
    def __init__(self, configuration: Any, http: aiohttp.ClientSession) -> None:
        super().__init__(configuration)
        self._http = http
        self._connectors: dict[tuple[str, str, str], Any] = {}
        self._token_clients: dict[str, Any] = {}

    def create_connector_factory(self, claims_identity: Any) -> Any:
        inner = super().create_connector_factory(claims_identity)
        return _ReusedConnectors(inner, self._connectors, _app_of(claims_identity), self._http)

    async def authenticate_request(self, activity: Any, auth_header: str) -> Any:
        # Incoming turns take their connector factory from here, not from the method above.
        result = await super().authenticate_request(activity, auth_header)
        if getattr(result, "connector_factory", None) is not None:
            app = _app_of(getattr(result, "claims_identity", None))
            result.connector_factory = _ReusedConnectors(
                result.connector_factory, self._connectors, app, self._http
            )
        return result

    async def create_user_token_client(self, claims_identity: Any) -> Any:
        app = _app_of(claims_identity)
        if app not in self._token_clients:
            self._token_clients[app] = await super().create_user_token_client(claims_identity)
        return self._token_clients[app]


def _app_of(claims_identity: Any) -> str:
    claims = getattr(claims_identity, "claims", None) or {}
    return str(claims.get("aud") or claims.get("appid") or claims.get("azp") or "")


class _BotFrameworkConfiguration:
    """The attribute names botbuilder's configuration classes read."""

    def __init__(self, config: TeamsConfig) -> None:
        self.APP_ID = config.app_id
        self.APP_PASSWORD = config.app_password
        self.APP_TYPE = config.app_type
        self.APP_TENANTID = config.tenant_id


def _mentions(activity: Activity) -> list[tuple[str, str, str]]:
    """(user id, name, the <at>…</at> text) of each mention entity."""
    found = []
    for entity in activity.entities or []:
        if getattr(entity, "type", None) != "mention":
            continue
        props = getattr(entity, "additional_properties", None) or {}
        mentioned = props.get("mentioned") if isinstance(props, dict) else None
        if isinstance(mentioned, dict) and mentioned.get("id"):
            found.append(
                (
                    str(mentioned["id"]),
                    str(mentioned.get("name") or ""),
                    str(props.get("text") or ""),
                )
            )
    return found


def normalise(activity: Activity) -> tuple[str, tuple[Mention, ...]]:
    """The bot's own mention dropped, other `<at>Name</at>` to `@<user id>`, markup removed."""
    text = activity.text or ""
    bot_id = activity.recipient.id if activity.recipient else None
    mentions: list[Mention] = []
    for user_id, name, at_text in _mentions(activity):
        replacement = " " if user_id == bot_id else f"@{user_id}"
        if user_id != bot_id and all(m.user_id != user_id for m in mentions):
            mentions.append(Mention(user_id, name or None))
        # One occurrence per entity, in order: two people may share a display name.
        if at_text and at_text in text:
            text = text.replace(at_text, replacement, 1)
        elif name:
            text = text.replace(f"<at>{name}</at>", replacement, 1)
    text = _AT.sub(lambda m: m.group(1), text)  # a mention without an entity: keep the name
    text = _TAGS.sub(" ", text).replace("&nbsp;", " ")
    return " ".join(text.split()), tuple(mentions)


def _reference_fingerprint(activity: Activity) -> tuple[str | None, ...]:
    """What a conversation reference is made of, but the message id: equal fingerprints, equal
    references."""
    conversation = activity.conversation
    sender = activity.from_property
    bot = activity.recipient
    return (
        activity.channel_id,
        activity.service_url,
        activity.locale,
        _channel(activity),
        conversation.id if conversation else None,
        conversation.conversation_type if conversation else None,
        conversation.tenant_id if conversation else None,
        conversation.name if conversation else None,
        str(conversation.is_group) if conversation else None,
        sender.id if sender else None,
        sender.name if sender else None,
        getattr(sender, "aad_object_id", None),
        sender.role if sender else None,
        bot.id if bot else None,
        bot.name if bot else None,
    )


def _tenant(activity: Activity) -> str:
    conversation = activity.conversation
    tenant = conversation.tenant_id if conversation else None
    data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    return str(tenant or (data.get("tenant") or {}).get("id") or "teams")


def _channel(activity: Activity) -> str | None:
    """The Teams channel (for channel links), or the conversation of a personal or group chat."""
    data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    channel = (data.get("channel") or {}).get("id")
    if channel:
        return str(channel)
    return activity.conversation.id if activity.conversation else None


def _team(activity: Activity) -> str | None:
    """The team a channel activity (or the bot's installation in a team) belongs to."""
    data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    team = (data.get("team") or {}).get("id")
    return str(team) if team else None


def _status(exc: ErrorResponseException) -> int | None:
    """The connector's HTTP status: msrest's response says `status_code`; the aiohttp response
    our sender hands it (`connector_http`) says `status`."""
    response = exc.response
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    return int(status) if status is not None else None


class TeamsAdapter:
    def __init__(
        self, dispatcher: Dispatcher, db: Database, config: TeamsConfig, inflight: InFlight
    ) -> None:
        self.dispatcher = dispatcher
        self.db = db
        self.config = config
        self.inflight = inflight
        self.http = aiohttp.ClientSession()
        auth = _ReusingAuthentication(_BotFrameworkConfiguration(config), self.http)
        self.adapter = CloudAdapter(auth)
        self.adapter.on_turn_error = self._on_turn_error
        self._seen_references: set[tuple[str | None, ...]] = set()
        self._workspace_ids: dict[str, int] = {}
        self.names = DisplayNames(db, PLATFORM)
        self.dialogs = TeamsDialogs(self)

    @staticmethod
    def tenant_of(activity: Activity) -> str:
        return _tenant(activity)

    async def find_member(self, turn_context: TurnContext, member_id: str) -> Mention | None:
        """Someone picked in a form (Teams' people picker gives their Azure AD object id): in
        this conversation's roster, else in a team the bot is in; as their Teams user id."""
        try:
            member = await TeamsInfo.get_member(turn_context, member_id)
        except ErrorResponseException as exc:
            log.info("teams: %s is not in this conversation (%s)", member_id, _status(exc))
            member = None
        if member is None:
            found = await self._in_a_roster(_tenant(turn_context.activity), member_id)
            member = found[1] if found else None
        if member is None:
            return None
        return Mention(str(member.id), str(member.name) if member.name else None)

    async def close(self) -> None:
        await self.http.close()

    # --- transport -----------------------------------------------------------------------------

    async def handle_http(self, request: web.Request) -> web.StreamResponse:
        """POST /api/messages: a body that is not an activity gets 400; a bad token 401."""
        if "application/json" not in request.headers.get("Content-Type", ""):
            return web.json_response({"error": "expected application/json"}, status=415)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "malformed JSON"}, status=400)
        problem = _activity_problem(body)
        if problem:
            log.warning("teams: rejected a malformed activity: %s", problem)
            return web.json_response({"error": problem}, status=400)
        # What CloudAdapter.process does for a POST, with the activity read by `read_activity`.
        try:
            activity = read_activity(body)
        except DeserializationError as exc:
            log.warning("teams: rejected an activity that does not read: %s", exc)
            return web.json_response({"error": "not a Bot Framework activity"}, status=400)
        try:
            invoke = await self.adapter.process_activity(
                request.headers.get("Authorization", ""), activity, self.on_turn
            )
        except PermissionError:
            log.warning("teams: rejected an activity without a valid token")
            return web.json_response({"error": "unauthorized"}, status=401)
        if invoke:
            body = invoke.body if isinstance(invoke.body, dict) else serializer_helper(invoke.body)
            return web.json_response(body, status=invoke.status)
        return web.Response(status=201)

    async def on_turn(self, turn_context: TurnContext) -> None:
        """botbuilder's Bot protocol: called for every activity."""
        activity = turn_context.activity
        if activity.type == "message":
            async with self.inflight.track():
                await self._on_message(turn_context)
        elif activity.type == "invoke":
            async with self.inflight.track():
                await self.dialogs.on_invoke(turn_context)
        elif activity.type == "conversationUpdate" and _team(activity):
            # Installed in a team (or its members changed): its roster is reachable from now on.
            try:
                await self._remember(_tenant(activity), activity)
            except StoreUnavailable:
                log.warning("teams: could not keep the team %s: store unavailable", _team(activity))

    async def _on_turn_error(self, turn_context: TurnContext, error: Exception) -> None:
        log.exception("teams: turn failed", exc_info=error)
        try:
            await turn_context.send_activity(
                "Sorry, something went wrong on my side. Please try again."
            )
        except Exception:
            # The connector itself is failing (its retries spent): the turn is over either way.
            log.exception("teams: could not tell the user that the turn failed")

    # --- conversation --------------------------------------------------------------------------

    async def _remember(self, workspace: str, activity: Activity) -> None:
        """Keep where to reach this user (personal chat) or this channel, for later notifications.

        Written once per replica for each way a conversation looks (its fingerprint), so an
        ordinary message costs no write. The id of the message it came with is left out: it
        changes every time, and a later message does not reply to it."""
        seen = (workspace, *_reference_fingerprint(activity))
        if seen in self._seen_references:
            return  # the usual case, decided without serialising anything
        reference = TurnContext.get_conversation_reference(activity).serialize()
        reference.pop("activityId", None)
        keys = []
        kind = activity.conversation.conversation_type if activity.conversation else None
        if kind == "personal" and activity.from_property:
            keys.append(conversations.user_key(activity.from_property.id))
        channel = _channel(activity)
        if channel and activity.type == "message":
            keys.append(conversations.channel_key(channel))
            if kind == "channel" and activity.conversation.id != channel:
                keys.append(conversations.thread_key(activity.conversation.id))
        for key in keys:
            await self._save_reference(workspace, key, reference)
        team = _team(activity)
        if team:
            # The team's own conversation id (its General channel's) reaches its roster.
            roster = {**reference, "conversation": {**reference["conversation"], "id": team}}
            await self._save_reference(workspace, conversations.team_key(team), roster)
        self._seen_references.add(seen)

    async def _save_reference(self, workspace: str, key: str, reference: dict[str, Any]) -> None:
        workspace_id = self._workspace_ids.get(workspace)
        if workspace_id is None:
            found = await workspaces.ensure_workspace(
                self.db,
                PLATFORM,
                workspace,
                catalogue=self.dispatcher.services.config.new_catalogue,
            )
            workspace_id = found.id
            self._workspace_ids[workspace] = workspace_id
        await conversations.save_reference(self.db, workspace_id, key, reference)

    async def _on_message(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        workspace = _tenant(activity)
        choice: Choice | None = None
        text, mentions = normalise(activity)
        if isinstance(activity.value, dict) and render.SUBMIT_KEY in activity.value:
            click = parse_click(str(activity.value[render.SUBMIT_KEY]))
            if click is None:
                log.warning("teams: a card submit we did not make: %r", activity.value)
                return
            text, choice = click.text, click.choice
        event_id = f"{activity.conversation.id}|{activity.id}" if activity.id else None
        try:
            await self._remember(workspace, activity)
        except StoreUnavailable:
            await turn_context.send_activity(
                render.as_activity(render.activity([line(STORE_DOWN)], []))
            )
            return
        form = form_for(text) if choice is None else None
        if form is not None:
            # A bare "assign" or "escalate": a button that opens the form as a dialog.
            opens = Action(form.title, text, "primary", form=form.id)
            card = render.activity(
                [line(f"{form.title}: fill in the form.")], [action_button(opens)]
            )
            await turn_context.send_activity(render.as_activity(card))
            return
        reply = await self.converse(turn_context, text, mentions, choice=choice, event_id=event_id)
        if reply is None:
            return  # a redelivery, answered already
        await turn_context.send_activity(render.as_activity(render.reply_activity(reply)))

    async def converse(
        self,
        turn_context: TurnContext,
        text: str,
        mentions: tuple[Mention, ...] = (),
        *,
        choice: Choice | None = None,
        event_id: str | None = None,
        project: str | None = None,
    ) -> Reply | None:
        """`text` through the handlers as the sender of the turn's activity, in its conversation."""
        activity = turn_context.activity
        workspace = _tenant(activity)
        sender = activity.from_property
        aad = getattr(sender, "aad_object_id", None)
        message = Message(
            platform=PLATFORM,
            workspace=workspace,
            user_id=sender.id,
            user_name=sender.name,
            text=text,
            channel=_channel(activity),
            thread=activity.conversation.id,
            mentions=await self._named(turn_context, workspace, mentions),
            choice=choice,
            event_id=event_id,
            project=project,
            user_aliases=(aad,) if aad else (),
        )
        return await self.dispatcher.handle_delivery(message)

    async def _named(
        self, turn_context: TurnContext, workspace: str, mentions: tuple[Mention, ...]
    ) -> tuple[Mention, ...]:
        """Mentions with the names the roster gives: a Teams mention may have been shortened to
        a first name in the message."""
        named = []
        for mention in mentions:
            user = mention.user_id
            name = await self.names.get(
                workspace, user, partial(self._roster_name, turn_context, user)
            )
            named.append(Mention(user, name or mention.name))
        return tuple(named)

    async def _roster_name(self, turn_context: TurnContext, user: str) -> str | None:
        try:
            member = await TeamsInfo.get_member(turn_context, user)
        except ErrorResponseException as exc:
            log.info("teams: %s is not in this conversation's roster (%s)", user, _status(exc))
            return None
        return str(member.name) if member.name else None

    # --- delivery ------------------------------------------------------------------------------

    async def send(self, message: OutboxRecord, notification: Notification) -> str | None:
        """The outbox worker's Deliverer: proactively in the person's chat with the bot; failing
        that, a mention in the conversation where the matter came up, never anywhere else."""
        if notification.group is not None:
            raise Undeliverable("Teams has no user groups a bot can manage")
        workspace = message.workspace
        if notification.to_channel:  # the weekly digest: in the channel it was asked for
            channel = await conversations.find_reference(
                self.db, PLATFORM, workspace, conversations.channel_key(message.recipient)
            )
            if channel is None:
                raise Undeliverable(f"the bot has never seen channel {message.recipient}")
            return await self._send(channel, render.notification_activity(notification))
        reference = await conversations.find_reference(
            self.db, PLATFORM, workspace, conversations.user_key(message.recipient)
        ) or await self._open_personal_chat(workspace, message.recipient)
        if reference is not None:
            return await self._send(reference, render.notification_activity(notification))
        fallback = await self._where_it_came_up(workspace, message, notification)
        if fallback is None:
            raise Undeliverable(
                f"{message.recipient_name} is in no team the bot is installed in, has no chat "
                "with it, and the conversation where this came up is unknown"
            )
        return await self._send(fallback, _mention_instead([notification]))

    async def _where_it_came_up(
        self, workspace: str, message: OutboxRecord, notification: Notification
    ) -> dict[str, Any] | None:
        """The thread where the matter was raised, else its channel: never the conversation of
        whoever acted on it since."""
        keys = []
        if notification.fallback_thread:
            keys.append(conversations.thread_key(notification.fallback_thread))
        if message.fallback_channel:
            keys.append(conversations.channel_key(message.fallback_channel))
        for key in keys:
            found = await conversations.find_reference(self.db, PLATFORM, workspace, key)
            if found is not None:
                return found
        return None

    async def _open_personal_chat(self, workspace: str, user: str) -> dict[str, Any] | None:
        """A 1:1 chat with someone who never wrote to the bot: found in the roster of a team the
        bot is installed in, then created with the tenant. Its reference is kept, so every later
        notification goes straight there. None when no such team has them."""
        found = await self._in_a_roster(workspace, user)
        if found is None:
            return None
        team, member = found
        reference = await self._create_personal_chat(team, workspace, member)
        await self._save_reference(workspace, conversations.user_key(user), reference)
        log.info("teams: opened a chat with %s through team %s", user, team["conversation"])
        return reference

    async def _in_a_roster(self, workspace: str, user: str) -> tuple[dict[str, Any], Any] | None:
        """The first team the bot is installed in whose roster has `user` (a Teams user id or an
        Azure AD object id), and the member as that roster gives them."""
        teams = await conversations.find_references(
            self.db, PLATFORM, workspace, conversations.TEAM_PREFIX
        )
        for team in teams:
            member = await self._roster_member(team, user)
            if member is not None:
                return team, member
        return None

    async def _roster_member(self, team: dict[str, Any], user: str) -> Any | None:
        found: list[Any] = []

        async def look_up(turn_context: TurnContext) -> None:
            team_id = turn_context.activity.conversation.id
            found.append(await TeamsInfo.get_team_member(turn_context, team_id, user))

        try:
            await self._proactive(team, look_up)
        except ErrorResponseException as exc:
            if _status(exc) in (403, 404):  # not a member, or the bot was removed from the team
                return None
            raise
        return found[0] if found else None

    async def _create_personal_chat(
        self, team: dict[str, Any], tenant: str, member: Any
    ) -> dict[str, Any]:
        bot = team.get("bot") or {}
        parameters = ConversationParameters(
            is_group=False,
            bot=ChannelAccount(id=bot.get("id"), name=bot.get("name")),
            members=[ChannelAccount(id=member.id, name=member.name)],
            tenant_id=tenant,
            channel_data={"tenant": {"id": tenant}},
        )
        created: list[dict[str, Any]] = []

        async def keep(turn_context: TurnContext) -> None:
            reference = TurnContext.get_conversation_reference(turn_context.activity)
            reference.user = ChannelAccount(id=member.id, name=member.name)
            serialised = reference.serialize()
            serialised.pop("activityId", None)
            created.append(serialised)

        await self.adapter.create_conversation(
            self.config.app_id, keep, parameters, "msteams", team["serviceUrl"]
        )
        return created[0]

    async def _proactive(
        self, reference: dict[str, Any], work: Callable[[TurnContext], Awaitable[None]]
    ) -> None:
        """`work` in a known conversation, its failure raised here. botbuilder hands an error in
        a proactive turn to `on_turn_error`, which would tell the conversation "something went
        wrong" and report the notification sent."""
        failed: list[Exception] = []

        async def run(turn_context: TurnContext) -> None:
            try:
                await work(turn_context)
            except Exception as exc:
                failed.append(exc)

        await self.adapter.continue_conversation(
            ConversationReference().deserialize(reference), run, self.config.app_id
        )
        if failed:
            raise failed[0]

    async def _send(self, reference: dict[str, Any], payload: dict[str, Any]) -> str | None:
        """Send into a known conversation; the connector's refusal or absence is raised."""
        sent: list[str | None] = []

        async def send(turn_context: TurnContext) -> None:
            response = await turn_context.send_activity(render.as_activity(payload))
            sent.append(getattr(response, "id", None))

        try:
            await self._proactive(reference, send)
        except ErrorResponseException as exc:
            status = _status(exc)
            if status in (403, 404):  # the bot was removed, or the conversation is gone
                raise Undeliverable(f"the Bot Connector answered {status}: {exc}") from exc
            raise
        return sent[0] if sent else None


def _mention_instead(missed: list[Notification]) -> dict[str, Any]:
    """One message that mentions everyone the bot cannot DM yet, and says why."""
    lines: list[Line] = [
        line(
            "I can't message these people directly until they have talked to me once, "
            "so I'm mentioning them here:"
        )
    ]
    for note in missed:
        lines.append(line(PersonMention(note.user_id, note.name), ":"))
        lines.extend(note.body)
    buttons = list(dict.fromkeys(b for note in missed for b in notification_buttons(note)))
    return render.activity(lines, buttons)


def _activity_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    if not isinstance(body.get("type"), str) or not body["type"]:
        return "an activity needs a `type`"
    if body["type"] == "message":
        for key in ("conversation", "from", "serviceUrl"):
            if not body.get(key):
                return f"a message activity needs `{key}`"
        if not isinstance(body["conversation"], dict) or not body["conversation"].get("id"):
            return "`conversation.id` is missing"
        if not isinstance(body["from"], dict) or not body["from"].get("id"):
            return "`from.id` is missing"
    return None
