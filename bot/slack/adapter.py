"""Slack events, slash commands and button clicks in; Block Kit replies and DMs out.

Bolt (AsyncApp) owns the protocol: signatures, acks within 3 seconds, the Web API. The server hands
it our aiohttp requests (HTTP mode) or it reads Socket Mode. Listeners ack at once and do the work
after, inside `InFlight` so that a shutdown waits for it.
"""

from __future__ import annotations

import html
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.buttons import parse_click
from bot.delivery import Undeliverable
from bot.forms import FORMS, form_for
from bot.inflight import InFlight
from bot.names import DisplayNames
from bot.slack import home, modals, render
from bot.slack.installs import DatabaseInstallationStore, DatabaseStateStore
from bot.slack.payloads import team_of
from handlers.dispatch import Dispatcher
from handlers.message import Choice, GroupSync, Mention, Message, Notification, Reply
from store import groups as groups_store
from store.db import Database, StoreUnavailable
from store.outbox import OutboxRecord

log = logging.getLogger(__name__)

PLATFORM = "slack"
_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
_CHANNEL_MENTION = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
_LINK = re.compile(r"<(https?://[^|>]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")
_USER_GROUP = re.compile(r"<!subteam\^([A-Z0-9]+)(?:\|@?([^>]*))?>")
_GROUPS_PAID = "user groups need a paid Slack plan, and this workspace's plan has none."
_GROUPS_RESTRICTED = (
    "this workspace lets only some people manage user groups. A Slack admin can allow it under "
    "Settings & permissions, Permissions, User Groups."
)
# Why Slack will never take a user group's members, in words for whoever linked the group.
GROUP_REFUSALS = {
    "missing_scope": (
        "whoowns lacks the usergroups:write scope. Reinstall it with the scopes in "
        "slack/manifest.yml (a workspace admin approves the new scope)."
    ),
    "paid_only": _GROUPS_PAID,
    "plan_upgrade_required": _GROUPS_PAID,
    "permission_denied": _GROUPS_RESTRICTED,
    "restricted_action": _GROUPS_RESTRICTED,
    "no_such_subteam": "the group was deleted in Slack. Link the role again.",
    "subteam_not_found": "the group was deleted in Slack. Link the role again.",
}
# The bot scopes an install asks for: the same as slack/manifest.yml's (a test holds them equal).
BOT_SCOPES = (
    "app_mentions:read",
    "chat:write",
    "commands",
    "im:history",
    "im:write",
    "users:read",
    "usergroups:read",
    "usergroups:write",
)
# What a command from a workspace without the app's token is answered (by its response_url).
NOT_INSTALLED_REPLY = (
    "whoowns is not installed in this workspace (or was removed from it): ask a workspace admin "
    "to add it again."
)
# Web API clients kept, one per workspace token in use (each is small; the HTTP session is shared).
CLIENTS_KEPT = 1000
# Message metadata that marks a notification from the outbox (its row id in the payload).
OUTBOX_EVENT = "whoowns_notification"
# Slack errors after which sending again cannot help.
UNDELIVERABLE = frozenset(
    {
        "user_not_found",
        "users_not_found",
        "user_disabled",
        "account_inactive",
        "cannot_dm_bot",
        "channel_not_found",
        "is_archived",
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "missing_scope",
        "restricted_action",
        "not_in_channel",
    }
)


@dataclass(frozen=True)
class SlackOAuth:
    """ "Add to Slack" for any number of workspaces: Slack's OAuth v2 install flow."""

    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...]
    # Needed only when the app's settings list several redirect URLs.
    redirect_uri: str | None = None
    install_path: str = "/slack/install"
    redirect_path: str = "/slack/oauth_redirect"
    # A rotating token is refreshed this long before it expires (Slack's last 12 hours).
    refresh_before: timedelta = timedelta(hours=2)


@dataclass(frozen=True)
class SlackConfig:
    signing_secret: str = field(repr=False)
    # One workspace: its bot token. With `oauth`, each installed workspace has its own instead.
    bot_token: str | None = field(default=None, repr=False)
    app_token: str | None = field(default=None, repr=False)
    api_url: str = "https://slack.com/api/"
    # Seconds for one Web API call; a slow call is retried (and an outbox send checked first).
    timeout: int = 10
    oauth: SlackOAuth | None = None


class NotInstalled(Exception):
    """The app has no token for this workspace: never installed there, uninstalled or revoked."""


def retry_handlers() -> list[AsyncRetryHandler]:
    """slack_sdk's own retries, for every Web API call: rate limits (429, waiting Retry-After),
    server errors (500, 503) and dropped connections, twice each; the outbox retries beyond."""
    return [
        AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        AsyncServerErrorRetryHandler(max_retry_count=2),
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
    ]


def normalise(text: str, bot_user_id: str | None) -> tuple[str, tuple[Mention, ...]]:
    """Slack markup to our text: the bot's own mention dropped, `<@U1|bob>` to `@U1`, links unwrapped."""
    mentions: list[Mention] = []

    def user(match: re.Match[str]) -> str:
        user_id, name = match.group(1), match.group(2)
        if user_id == bot_user_id:
            return " "
        if all(m.user_id != user_id for m in mentions):
            mentions.append(Mention(user_id, html.unescape(name) if name else None))
        return f"@{user_id} "  # apart from what follows: "<@U1>: hi" is not user "U1:"

    text = _USER_MENTION.sub(user, text)
    text = _CHANNEL_MENTION.sub(lambda m: f"#{m.group(2) or m.group(1)}", text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = _SPECIAL.sub(lambda m: f"@{m.group(1)}", text)
    text = _USER_GROUP.sub(lambda m: f"@{m.group(2) or m.group(1)}", text)
    return " ".join(html.unescape(text).split()), tuple(mentions)


def user_groups(text: str) -> tuple[tuple[str, str], ...]:
    """The user groups a Slack text mentions, as (handle, id): `<!subteam^S1|@sre>` is ("sre", "S1")."""
    return tuple((m.group(2) or m.group(1), m.group(1)) for m in _USER_GROUP.finditer(text))


class SlackAdapter:
    def __init__(
        self, dispatcher: Dispatcher, db: Database, config: SlackConfig, inflight: InFlight
    ) -> None:
        self.dispatcher = dispatcher
        self.db = db
        self.config = config
        self.inflight = inflight
        # One HTTP session for every Web API call: connections are kept alive, not set up each time.
        self.http = aiohttp.ClientSession()
        # With OAuth it has no token: each call gets its workspace's (`client_for`).
        self.client = self._web_client(None if config.oauth else config.bot_token)
        self.installs = DatabaseInstallationStore(db) if config.oauth else None
        self._clients: OrderedDict[str, AsyncWebClient] = OrderedDict()
        self.app = AsyncApp(
            signing_secret=config.signing_secret,
            client=self.client,
            logger=logging.getLogger("whoowns.slack.bolt"),
            raise_error_for_unhandled_request=False,
            # handle_http has verified the signature already (Socket Mode needs none).
            request_verification_enabled=False,
            **self._oauth_arguments(db),
        )
        self.rotator = (
            AsyncTokenRotator(
                client_id=config.oauth.client_id,
                client_secret=config.oauth.client_secret,
                client=self.client,
            )
            if config.oauth
            else None
        )
        self.verifier = SignatureVerifier(config.signing_secret)
        self.socket: AsyncSocketModeHandler | None = None
        self.names = DisplayNames(db, PLATFORM)
        self._register()

    def _web_client(self, token: str | None) -> AsyncWebClient:
        return AsyncWebClient(
            token=token,
            base_url=self.config.api_url,
            session=self.http,
            timeout=self.config.timeout,
            retry_handlers=retry_handlers(),
        )

    def _oauth_arguments(self, db: Database) -> dict[str, Any]:
        """AsyncApp's arguments for the install flow; none for one workspace with its token."""
        oauth = self.config.oauth
        if oauth is None or self.installs is None:
            return {}
        settings = AsyncOAuthSettings(
            client_id=oauth.client_id,
            client_secret=oauth.client_secret,
            scopes=list(oauth.scopes),
            redirect_uri=oauth.redirect_uri,
            install_path=oauth.install_path,
            redirect_uri_path=oauth.redirect_path,
            installation_store=self.installs,
            state_store=DatabaseStateStore(db),
            token_rotation_expiration_minutes=int(oauth.refresh_before.total_seconds() // 60),
        )
        # Bolt's authorize is built with our client, so token refreshes go to our API URL too.
        return {
            "installation_store": self.installs,
            "oauth_settings": settings,
            "user_facing_authorize_error_message": NOT_INSTALLED_REPLY,
        }

    async def client_for(self, team: str) -> AsyncWebClient:
        """A Web API client with the workspace's bot token, for calls made outside a request
        (notifications, App Home, names). With OAuth, the token is looked up in the store on each
        call, so that an uninstall on any replica stops it at once, and refreshed when it is about
        to expire."""
        if self.installs is None or self.rotator is None or self.config.oauth is None:
            return self.client
        installation = await self.installs.async_find_installation(enterprise_id=None, team_id=team)
        if installation is None or not installation.bot_token:
            raise NotInstalled(f"whoowns is not installed in Slack workspace {team}")
        rotated = await self.rotator.perform_token_rotation(
            installation=installation,
            minutes_before_expiration=int(self.config.oauth.refresh_before.total_seconds() // 60),
        )
        if rotated is not None:
            await self.installs.async_save(rotated)
            installation = rotated
        token = str(installation.bot_token)
        client = self._clients.pop(token, None) or self._web_client(token)
        self._clients[token] = client
        while len(self._clients) > CLIENTS_KEPT:
            self._clients.popitem(last=False)
        return client

    async def handle_oauth(self, request: web.Request) -> web.Response:
        """GET /slack/install (the "Add to Slack" page) and /slack/oauth_redirect (Slack sends the
        installer back with a code; Bolt exchanges it and saves the installation)."""
        flow = self.app.oauth_flow
        if flow is None:
            return web.json_response({"error": "Slack installs are not enabled"}, status=404)
        headers: dict[str, str | Sequence[str]] = {k.lower(): v for k, v in request.headers.items()}
        bolt_request = AsyncBoltRequest(body="", query=request.query_string, headers=headers)
        try:
            if request.path == flow.install_path:
                response = await flow.handle_installation(bolt_request)
            else:
                response = await flow.handle_callback(bolt_request)
        except StoreUnavailable:
            log.error("slack: an install could not reach the database")
            return web.Response(
                status=503,
                text="whoowns cannot reach its database just now; please try the install again.",
            )
        return await to_aiohttp_response(response)

    # --- transport -----------------------------------------------------------------------------

    async def handle_http(self, request: web.Request) -> web.Response:
        """POST /slack/events: verify, parse, dispatch to Bolt; bad signatures 401, bad bodies 400."""
        body = await request.text()
        headers: dict[str, str | Sequence[str]] = {k.lower(): v for k, v in request.headers.items()}
        if not self.verifier.is_valid_request(body, {k: str(v) for k, v in headers.items()}):
            log.warning("slack: rejected a request with a bad or stale signature")
            return web.json_response({"error": "invalid signature"}, status=401)
        try:
            bolt_request = AsyncBoltRequest(body=body, query=request.query_string, headers=headers)
        except ValueError as exc:  # a body that is neither JSON nor form data (JSONDecodeError too)
            log.warning("slack: malformed body: %s", exc)
            return web.json_response({"error": "malformed body"}, status=400)
        if not bolt_request.body:
            return web.json_response({"error": "empty or malformed body"}, status=400)
        return await to_aiohttp_response(await self.app.async_dispatch(bolt_request))

    async def start_socket_mode(self) -> None:
        assert self.config.app_token
        self.socket = AsyncSocketModeHandler(self.app, self.config.app_token)
        await self.socket.connect_async()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close_async()  # type: ignore[no-untyped-call]
        await self.http.close()

    # --- delivery (the outbox worker's Deliverer) ------------------------------------------

    async def send(self, message: OutboxRecord, notification: Notification) -> str | None:
        """A notification as a DM: conversations.open, then chat.postMessage carrying the outbox
        row's id as metadata, so that a later attempt can see that an earlier one arrived."""
        try:
            client = await self.client_for(message.workspace)
        except NotInstalled as exc:
            raise Undeliverable(str(exc)) from exc
        if notification.group is not None:
            return await self._sync_group(client, message, notification.group)
        try:
            if notification.to_channel:  # the weekly digest: in the channel itself
                channel = message.recipient
            else:
                opened = await client.conversations_open(users=message.recipient)
                channel = str(opened["channel"]["id"])
            if message.attempts > 1:
                earlier = await self._sent_before(client, channel, message)
                if earlier is not None:
                    log.info("slack: outbox #%d had arrived already (%s)", message.id, earlier)
                    return earlier
            posted = await client.chat_postMessage(
                channel=channel,
                text=render.fallback(notification.body),
                blocks=render.notification_blocks(notification),
                metadata={"event_type": OUTBOX_EVENT, "event_payload": {"outbox_id": message.id}},
            )
        except SlackApiError as exc:
            error = str(exc.response.get("error"))
            if error in UNDELIVERABLE:
                invite = " (invite the app to the channel)" if error == "not_in_channel" else ""
                raise Undeliverable(
                    f"Slack refused to message {message.recipient}: {error}{invite}"
                ) from exc
            raise
        if not notification.to_channel:
            self.home.refresh(message.workspace, [message.recipient])  # what they were told of
        return str(posted["ts"])

    async def _sync_group(
        self, client: AsyncWebClient, message: OutboxRecord, group: GroupSync
    ) -> str:
        """A role's user group set to its acting holders: found by handle (created, named after
        the role, if Slack has none), enabled, its members replaced; with nobody, disabled, as
        Slack keeps no empty group. Setting members is idempotent, so a retry is harmless."""
        try:
            group_id = group.group_id or await self._group_by_handle(client, message, group)
            if not group.members:
                await _tolerating(client.usergroups_disable(usergroup=group_id), "already_disabled")
                return group_id
            await _tolerating(client.usergroups_enable(usergroup=group_id), "already_enabled")
            await client.usergroups_users_update(usergroup=group_id, users=list(group.members))
        except SlackApiError as exc:
            error = str(exc.response.get("error"))
            if error in GROUP_REFUSALS:
                raise Undeliverable(
                    f"Slack refused @{group.handle}: {GROUP_REFUSALS[error]}"
                ) from exc
            raise
        return group_id

    async def _group_by_handle(
        self, client: AsyncWebClient, message: OutboxRecord, group: GroupSync
    ) -> str:
        found = await _listed(client, group.handle)
        if found is None:
            try:
                created = await client.usergroups_create(name=group.name, handle=group.handle)
                found = created["usergroup"]
                log.info("slack: created @%s for %s", group.handle, message.workspace)
            except SlackApiError as exc:
                # Another sync of the same group created it a moment ago.
                if exc.response.get("error") not in (
                    "handle_already_exists",
                    "name_already_exists",
                ):
                    raise
                found = await _listed(client, group.handle)
                if found is None:
                    raise
        group_id = str(found["id"])
        await groups_store.set_group_id(self.db, group.link_id, group_id)
        return group_id

    @staticmethod
    async def _sent_before(
        client: AsyncWebClient, channel: str, message: OutboxRecord
    ) -> str | None:
        """The ts of a message an earlier attempt posted for this row, if it is there."""
        try:
            history = await client.conversations_history(
                channel=channel,
                oldest=f"{message.created_at.timestamp() - 60:.6f}",
                limit=100,
                include_all_metadata=True,
            )
        except SlackApiError as exc:
            if exc.response.get("error") not in ("missing_scope", "not_in_channel"):
                raise
            # A channel (the digest's): reading it needs channels:history, which the app does not
            # ask for, so a retry after a lost answer may post twice there; DMs are checked.
            log.info("slack: cannot look for outbox #%d in %s: %s", message.id, channel, exc)
            return None
        for posted in history.get("messages") or []:
            metadata = posted.get("metadata") or {}
            if (
                metadata.get("event_type") == OUTBOX_EVENT
                and (metadata.get("event_payload") or {}).get("outbox_id") == message.id
            ):
                return str(posted["ts"])
        return None

    async def _say(
        self,
        reply: Reply,
        *,
        team: str,
        channel: str,
        user: str,
        thread: str | None,
        direct: bool,
    ) -> None:
        text, blocks = render.reply_text(reply), render.reply_blocks(reply)
        client = await self.client_for(team)
        if reply.private and not direct:
            await client.chat_postEphemeral(
                channel=channel, user=user, text=text, blocks=blocks, thread_ts=thread
            )
        else:
            await client.chat_postMessage(
                channel=channel, text=text, blocks=blocks, thread_ts=thread
            )

    # --- conversation --------------------------------------------------------------------------

    async def _name(self, team: str, user: str) -> str | None:
        return await self.names.get(team, user, lambda: self._users_info(team, user))

    async def _users_info(self, team: str, user: str) -> str | None:
        try:
            info = await (await self.client_for(team)).users_info(user=user)
        except NotInstalled:
            return None
        except SlackApiError as exc:
            log.info("slack: users.info %s failed: %s", user, exc.response.get("error"))
            return None
        profile = info["user"].get("profile", {})
        name = profile.get("display_name") or profile.get("real_name") or info["user"].get("name")
        return str(name) if name else None

    async def _named(self, team: str, mentions: tuple[Mention, ...]) -> tuple[Mention, ...]:
        named = []
        for mention in mentions:
            name = mention.name or await self._name(team, mention.user_id)
            named.append(Mention(mention.user_id, name))
        return tuple(named)

    async def converse(
        self,
        *,
        team: str,
        user: str,
        text: str,
        channel: str | None,
        thread: str | None = None,
        event_id: str | None = None,
        bot_user_id: str | None = None,
        choice: Choice | None = None,
        project: str | None = None,
        drawn: bool = False,
    ) -> Reply | None:
        """One message through the handlers; None when it is a retry already handled."""
        clean, mentions = normalise(text, bot_user_id)
        message = Message(
            platform=PLATFORM,
            workspace=team,
            user_id=user,
            user_name=await self._name(team, user),
            text=clean,
            channel=channel,
            thread=thread,
            mentions=await self._named(team, mentions),
            choice=choice,
            event_id=event_id,
            project=project,
            drawn=drawn,
            user_groups=user_groups(text),
        )
        reply = await self.dispatcher.handle_delivery(message)
        if reply is not None:
            self.home.refresh(team, home.concerned(reply, user))  # what Home shows changed
        return reply

    @staticmethod
    def plain_text(text: str) -> str:
        """A Slack message's text as our text (markup unwrapped), e.g. to fill in a form."""
        return normalise(text, None)[0]

    async def deliver_reply(
        self,
        client: AsyncWebClient,
        reply: Reply,
        *,
        user: str,
        channel: str | None,
        thread: str | None = None,
    ) -> None:
        """The answer to something done outside a conversation's flow (a form): in its channel,
        for all to see when it changed something, else privately; with no channel, in a DM."""
        text, blocks = render.reply_text(reply), render.reply_blocks(reply)
        if channel is None:
            opened = await client.conversations_open(users=user)
            channel = str(opened["channel"]["id"])
        elif not reply.for_everyone:
            await client.chat_postEphemeral(
                channel=channel, user=user, text=text, blocks=blocks, thread_ts=thread
            )
            return
        await client.chat_postMessage(channel=channel, text=text, blocks=blocks, thread_ts=thread)

    # --- Bolt listeners ------------------------------------------------------------------------

    def _register(self) -> None:
        app = self.app
        app.event("app_mention")(self._on_mention)
        app.event("message")(self._on_message)
        app.command(re.compile(r"^/"))(self._on_command)
        app.action(re.compile(f"^{render.ACTION_PREFIX}"))(self._on_button)
        self.forms = modals.register(app, self)
        self.home = home.register(app, self)
        if self.installs is not None:
            # app_uninstalled and tokens_revoked: Bolt's listeners delete the tokens from our store.
            app.enable_token_revocation_listeners()
        app.event(re.compile(".*"))(self._ignore)  # acked, so Slack does not retry unknown events

    async def _ignore(self, body: dict[str, Any]) -> None:
        log.debug("slack: ignored event %s", body.get("event", {}).get("type"))

    async def _on_mention(
        self, event: dict[str, Any], body: dict[str, Any], context: dict[str, Any]
    ) -> None:
        if event.get("bot_id"):
            return  # another bot: answering bots is how loops start
        thread = event.get("thread_ts") or event.get("ts")  # answer in the mention's thread
        await self._answer_event(event, body, context, thread=thread, direct=False)

    async def _on_message(
        self, event: dict[str, Any], body: dict[str, Any], context: dict[str, Any]
    ) -> None:
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return  # channel chatter, edits, joins and bots: only direct messages and mentions count
        await self._answer_event(event, body, context, thread=event.get("thread_ts"), direct=True)

    async def _answer_event(
        self,
        event: dict[str, Any],
        body: dict[str, Any],
        context: dict[str, Any],
        *,
        thread: str | None,
        direct: bool,
    ) -> None:
        async with self.inflight.track():
            user, team = event.get("user", ""), team_of(body, context)
            reply = await self.converse(
                team=team,
                user=user,
                text=event.get("text", ""),
                channel=event.get("channel"),
                thread=thread,
                event_id=body.get("event_id"),
                bot_user_id=context.get("bot_user_id"),
            )
            if reply is not None:
                await self._say(
                    reply,
                    team=team,
                    channel=event["channel"],
                    user=user,
                    thread=thread,
                    direct=direct,
                )

    async def _on_command(
        self,
        ack: Callable[..., Awaitable[None]],
        command: dict[str, Any],
        respond: Callable[..., Awaitable[Any]],
        context: dict[str, Any],
        client: AsyncWebClient,
    ) -> None:
        await ack()
        team = team_of(command, context)
        form = form_for(command.get("text", ""))
        if form is not None and command.get("trigger_id"):
            # A bare "/whoowns assign": the form, rather than the syntax to type.
            await self.forms.open(
                client, command["trigger_id"], form, team=team, channel=command.get("channel_id")
            )
            return
        async with self.inflight.track():
            reply = await self.converse(
                team=team,
                user=command.get("user_id", ""),
                text=command.get("text", "") or "help",
                channel=command.get("channel_id"),
                bot_user_id=context.get("bot_user_id"),
            )
            if reply is None:
                return
            await respond(
                text=render.reply_text(reply),
                blocks=render.reply_blocks(reply),
                response_type="in_channel" if reply.for_everyone else "ephemeral",
            )

    async def _on_button(
        self,
        ack: Callable[..., Awaitable[None]],
        body: dict[str, Any],
        action: dict[str, Any],
        respond: Callable[..., Awaitable[Any]],
        context: dict[str, Any],
    ) -> None:
        await ack()
        click = parse_click(str(action.get("value", "")))
        if click is None:
            log.warning("slack: a button value we did not make: %r", action.get("value"))
            return
        user = body.get("user", {}).get("id", "")
        channel = (body.get("channel") or {}).get("id") or body.get("container", {}).get(
            "channel_id"
        )
        team = team_of(body, context)
        form = FORMS.get(click.form or "")
        if form is not None and body.get("trigger_id"):
            # "Hand over", "Set cover": the form, with the role and project filled in.
            await self.forms.open(
                await self.client_for(team),
                str(body["trigger_id"]),
                form,
                team=team,
                channel=channel,
                initial=click.values,
            )
            return
        on_home = (body.get("container") or {}).get("type") == "view"
        # A click on Home acts in the project its view shows (kept, so Home is drawn for it again).
        project = (
            self.home.pick(team, user, home.view_project(body.get("view"))) if on_home else None
        )
        async with self.inflight.track():
            reply = await self.converse(
                team=team,
                user=user,
                text=click.text,
                channel=channel,
                bot_user_id=context.get("bot_user_id"),
                choice=click.choice,
                project=project,
            )
            if on_home:
                if reply is None or not home.concerned(reply, user):
                    # Nothing changed, so no refresh is on its way: Home shows the click's outcome.
                    await self.home.publish(team, user)
                return
            if reply is None or channel is None:
                return
            if (body.get("container") or {}).get("is_ephemeral"):
                # A private reply's buttons: Slack changes an ephemeral message only through the
                # interaction's response_url, never with chat.update.
                await respond(
                    text=render.reply_text(reply),
                    blocks=render.reply_blocks(reply),
                    response_type="ephemeral",
                    replace_original=True,
                )
                return
            message_ts = body.get("container", {}).get("message_ts") or body.get("message", {}).get(
                "ts"
            )
            client = await self.client_for(team)
            if reply.private or message_ts is None:
                await client.chat_postEphemeral(
                    channel=channel,
                    user=user,
                    text=render.reply_text(reply),
                    blocks=render.reply_blocks(reply),
                )
                return
            await client.chat_update(
                channel=channel,
                ts=message_ts,
                text=render.reply_text(reply),
                blocks=render.reply_blocks(reply),
            )


async def _listed(client: AsyncWebClient, handle: str) -> dict[str, Any] | None:
    """The workspace's user group with this handle, enabled or not."""
    listed = await client.usergroups_list(include_disabled=True)
    return next((g for g in listed.get("usergroups") or [] if g.get("handle") == handle), None)


async def _tolerating(call: Awaitable[Any], harmless: str) -> None:
    """A Web API call whose one error `harmless` means it was done already."""
    try:
        await call
    except SlackApiError as exc:
        if exc.response.get("error") != harmless:
            raise
