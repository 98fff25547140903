"""The aiohttp server: one application with the chat adapters' routes, health, and background work.

`create_app(settings)` is the wiring place for the server: it opens the core (database upgraded,
matchers, dispatcher), builds each enabled adapter, and runs the reminder loop and the outbox's
delivery worker (each adapter is its platform's deliverer). On SIGTERM aiohttp
stops accepting requests and finishes those in flight; then work acked but still running is awaited,
and the database closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy.engine import make_url

from bot.app import Core, open_core
from bot.delivery import Deliverer, DeliveryWorker
from bot.inflight import InFlight
from bot.logs import REQUEST_ID, new_request_id
from bot.metrics import CONTENT_TYPE, Metrics
from bot.settings import Settings
from bot.slack.adapter import SlackAdapter
from bot.teams.adapter import TeamsAdapter
from handlers.message import Message, Reply
from handlers.ownership import ownership_loop
from handlers.reminders import reminder_loop
from store import escalations, events
from store.db import StoreUnavailable

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
DRAIN_SECONDS = 10.0
MAINTENANCE_EVERY = 3600.0


@dataclass
class Running:
    core: Core
    inflight: InFlight
    teams: TeamsAdapter
    metrics: Metrics
    slack: SlackAdapter | None = None


RUNNING = web.AppKey("running", Running)
SETTINGS = web.AppKey("settings", Settings)


def describe(settings: Settings, host: str, port: int) -> list[str]:
    """What `whoowns serve` prints at start: what is enabled and how to connect; no secrets."""
    url = make_url(settings.database_url)
    database = f"{url.get_backend_name()} ({url.database or url.host})"
    lines = [
        f"whoowns serving on http://{host}:{port} — database {database}",
        f"  health: GET http://{host}:{port}/healthz",
    ]
    slack = settings.slack
    if slack is None:
        lines.append(
            "  Slack: disabled. Set SLACK_SIGNING_SECRET with SLACK_BOT_TOKEN (one workspace) or "
            "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (installs on many), and SLACK_APP_TOKEN for "
            "Socket Mode; see README, “Connecting Slack”."
        )
    elif slack.app_token:
        lines.append("  Slack: Socket Mode (no public URL needed)")
    else:
        lines.append(
            f"  Slack: HTTP mode; request URL http://{host}:{port}/slack/events (behind your HTTPS proxy)"
        )
    if slack is not None and slack.oauth is not None:
        lines.append(
            f"  Slack installs: Add to Slack at http://{host}:{port}{slack.oauth.install_path}, "
            f"redirect URL http://{host}:{port}{slack.oauth.redirect_path} (behind HTTPS)"
        )
    if settings.teams.authenticated:
        lines.append(
            f"  Teams: POST http://{host}:{port}/api/messages (app id {settings.teams.app_id})"
        )
    else:
        lines.append(
            f"  Teams: WARNING — POST http://{host}:{port}/api/messages runs UNAUTHENTICATED (no "
            "MicrosoftAppId): fine for the Bot Framework Emulator, never expose it like this"
        )
    return lines


async def _maintenance(running: Running) -> None:
    while True:
        await asyncio.sleep(MAINTENANCE_EVERY)
        with contextlib.suppress(StoreUnavailable):
            await events.forget_old_events(running.core.db)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with open_core(settings) as core:
        inflight = InFlight()
        teams = TeamsAdapter(core.dispatcher, core.db, settings.teams, inflight)
        metrics = Metrics()
        core.dispatcher.observers.append(metrics.observe)
        running = Running(core, inflight, teams, metrics)
        if settings.slack is not None:
            running.slack = SlackAdapter(core.dispatcher, core.db, settings.slack, running.inflight)
            if settings.slack.app_token:
                await running.slack.start_socket_mode()
        app[RUNNING] = running
        # The catalogue index, the libraries and their caches make a heap of long-lived objects
        # that every full collection would walk again (about 100 ms, a stall of every turn in
        # flight): set them aside, so collections only look at what turns create.
        gc.collect()
        gc.freeze()

        deliverers: dict[str, Deliverer] = {"teams": teams}
        if running.slack is not None:
            deliverers["slack"] = running.slack
        worker = DeliveryWorker(core.db, deliverers, settings.delivery, core.services.now)

        def wake_on_notifications(message: Message, reply: Reply, _elapsed: float) -> None:
            if reply.notifications:
                worker.wake()

        core.dispatcher.observers.append(wake_on_notifications)
        tasks = [
            asyncio.create_task(
                reminder_loop(core.services, settings.reminder_interval, sent=worker.wake)
            ),
            asyncio.create_task(
                ownership_loop(core.services, settings.review_interval, sent=worker.wake)
            ),
            asyncio.create_task(worker.run()),
            asyncio.create_task(_maintenance(running)),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if not await running.inflight.drained(DRAIN_SECONDS):
                log.warning(
                    "shutdown: work still running after %.0f s; closing anyway", DRAIN_SECONDS
                )
            await running.teams.close()
            if running.slack is not None:
                await running.slack.close()


async def healthz(request: web.Request) -> web.Response:
    running = request.app[RUNNING]
    if await running.core.db.ping():
        return web.json_response({"status": "ok", "database": "ok"})
    return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)


async def metrics(request: web.Request) -> web.Response:
    running = request.app[RUNNING]
    try:
        running.metrics.open_escalations.set(await escalations.count_open(running.core.db))
    except StoreUnavailable:
        running.metrics.errors.labels("store_unavailable").inc()
    return web.Response(body=running.metrics.render(), headers={"Content-Type": CONTENT_TYPE})


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request id on every log line of the request, and unexpected errors logged and counted."""
    request_id = new_request_id(request.headers.get("X-Request-Id"))
    token = REQUEST_ID.set(request_id)
    try:
        response = await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if RUNNING in request.app:
            request.app[RUNNING].metrics.errors.labels("exception").inc()
        response = web.json_response({"error": "internal error"}, status=500)
    finally:
        REQUEST_ID.reset(token)
    response.headers["X-Request-Id"] = request_id
    return response


async def slack_events(request: web.Request) -> web.Response:
    slack = request.app[RUNNING].slack
    if slack is None:
        return web.json_response({"error": "Slack is not enabled on this server"}, status=404)
    return await slack.handle_http(request)


async def slack_oauth(request: web.Request) -> web.Response:
    slack = request.app[RUNNING].slack
    if slack is None:
        return web.json_response({"error": "Slack is not enabled on this server"}, status=404)
    return await slack.handle_oauth(request)


async def teams_messages(request: web.Request) -> web.StreamResponse:
    return await request.app[RUNNING].teams.handle_http(request)


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[request_context])
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_lifecycle)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/slack/events", slack_events)
    oauth = settings.slack.oauth if settings.slack else None
    if oauth is not None:
        app.router.add_get(oauth.install_path, slack_oauth)
        app.router.add_get(oauth.redirect_path, slack_oauth)
    app.router.add_post("/api/messages", teams_messages)
    return app


def serve(settings: Settings, host: str, port: int, say: Callable[[str], None] = print) -> None:
    for line in describe(settings, host, port):
        say(line)
    if not settings.teams.authenticated:
        log.warning("Teams endpoint /api/messages is unauthenticated: set MicrosoftAppId")
    # uvloop's event loop does the server's socket work in C: more answers per second per core.
    web.run_app(
        create_app(settings),
        host=host,
        port=port,
        shutdown_timeout=DRAIN_SECONDS,
        print=None,
        loop=_event_loop(),
    )


def _event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # not on Windows: the standard loop serves as well, a little slower
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
