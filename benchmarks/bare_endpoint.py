"""The baseline for `benchmarks/load.py`: the least an HTTP bot endpoint can do, in its own process.

`POST /slack/events` verifies the Slack signature with slack_sdk's `SignatureVerifier` (secret from
SLACK_SIGNING_SECRET) and answers 200, or 401 for a bad signature. `POST /api/messages` parses the
activity JSON and answers 201, like an unauthenticated Bot Framework endpoint that does nothing.
`GET /healthz` answers 200. Nothing else: no database, no Bolt, no botbuilder, no reply.

    python benchmarks/bare_endpoint.py --port 3979
"""

from __future__ import annotations

import argparse
import os

from aiohttp import web
from slack_sdk.signature import SignatureVerifier

VERIFIER = web.AppKey("verifier", SignatureVerifier)


async def slack_events(request: web.Request) -> web.Response:
    body = await request.text()
    headers = {k.lower(): v for k, v in request.headers.items()}
    if not request.app[VERIFIER].is_valid_request(body, headers):
        return web.json_response({"error": "invalid signature"}, status=401)
    return web.Response(status=200)


async def teams_messages(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError:
        return web.json_response({"error": "malformed JSON"}, status=400)
    if not isinstance(body, dict):
        return web.json_response({"error": "not an activity"}, status=400)
    return web.Response(status=201)


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(signing_secret: str) -> web.Application:
    app = web.Application()
    app[VERIFIER] = SignatureVerifier(signing_secret)
    app.router.add_post("/slack/events", slack_events)
    app.router.add_post("/api/messages", teams_messages)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    secret = os.environ.get("SLACK_SIGNING_SECRET", "")
    if not secret:
        parser.error("set SLACK_SIGNING_SECRET")
    web.run_app(create_app(secret), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
