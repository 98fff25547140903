"""The Bot Connector's HTTP calls on the server's event loop, with aiohttp.

botframework-connector's async client sends through msrest's default pipeline, which runs
`requests` in a thread pool: every reply costs a thread hop, a synchronous HTTP stack and the GIL
contention that comes with them, and under load that pool is what a Teams turn waits on. msrest
lets a client's pipeline be replaced; this one keeps botbuilder's policies (user agent, the
credentials' bearer token, body decoding, logging) and swaps the sender for an aiohttp session
shared by all connector clients. msrest's sender also retried; `_Retry` keeps that, bounded, so a
reply within a turn survives a connector hiccup (proactive messages go through the outbox).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
from msrest.pipeline import Request, Response
from msrest.pipeline.async_abc import AsyncHTTPPolicy, AsyncHTTPSender, AsyncPipeline
from msrest.pipeline.universal import RawDeserializer
from msrest.serialization import Model, Serializer
from msrest.universal_http import ClientRequest
from msrest.universal_http.async_abc import AsyncClientResponse
from multidict import CIMultiDict
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    wait_exponential,
)

from bot.teams.activity_json import Unsupported, json_native, write_model

log = logging.getLogger(__name__)

_Request = Request[ClientRequest]
_Response = Response[ClientRequest, AsyncClientResponse]

# What msrest retried (408 and the 5xx but 501 and 505), and the connector's throttling (429),
# whose Retry-After is honoured. Three retries with 0.8, 1.6, 3.2 s between, as msrest did; no wait
# longer than MAX_WAIT, so a turn is never held for long.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
ATTEMPTS = 4
BACKOFF = 0.8
MAX_WAIT = 8.0


class _ActivitySerializer(Serializer):
    """msrest's serializer, with models written by `write_model` (what msrest writes, at a fraction
    of the cost) and plain JSON copied as it is rather than key by key."""

    def body(self, data: Any, data_type: str, **kwargs: Any) -> Any:
        if isinstance(data, Model):
            try:
                return write_model(data)
            except Unsupported:
                # msrest's `body` would first re-read the model through its deserializer, to
                # accept plain dicts in its place; botbuilder hands it models.
                return self._serialize(data, data_type, **kwargs)  # type: ignore[no-untyped-call]
        return super().body(data, data_type, **kwargs)  # type: ignore[no-untyped-call]

    def serialize_object(self, attr: Any, **kwargs: Any) -> Any:
        if json_native(attr):
            return attr
        return super().serialize_object(attr, **kwargs)  # type: ignore[no-untyped-call]


class _SignedHeaders:
    """What botframework's credentials sign in place of a `requests.Session`: they only set (or
    drop) its Authorization header."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}


class _BearerToken(AsyncHTTPPolicy[ClientRequest, AsyncClientResponse]):
    def __init__(self, credentials: Any) -> None:
        super().__init__()
        self._credentials = credentials

    async def send(self, request: _Request, **kwargs: Any) -> _Response:
        signed = _SignedHeaders()
        if getattr(self._credentials, "microsoft_app_id", None):
            # msal answers from its cache, but fetches a new token over the network (blocking)
            # when the cached one expires: keep that off the event loop.
            await asyncio.to_thread(self._credentials.signed_session, signed)
        request.http_request.headers.pop("Authorization", None)
        request.http_request.headers.update(signed.headers)
        assert self.next is not None  # the pipeline links every policy to the next
        return await self.next.send(request, **kwargs)


def _retryable(response: _Response) -> bool:
    return response.http_response.status_code in RETRY_STATUSES


_backoff = wait_exponential(multiplier=BACKOFF, max=MAX_WAIT)


def _wait(state: RetryCallState) -> float:
    outcome = state.outcome
    if outcome is not None and not outcome.failed:
        after = str(outcome.result().http_response.headers.get("Retry-After", ""))
        if after.isdigit():
            return min(float(after), MAX_WAIT)
    return float(_backoff(state))


def _log_retry(state: RetryCallState) -> None:
    outcome = state.outcome
    if outcome is None:
        return
    why = (
        repr(outcome.exception())
        if outcome.failed
        else f"HTTP {outcome.result().http_response.status_code}"
    )
    log.warning("teams: connector call failed (%s); retry %d", why, state.attempt_number)


class _Retry(AsyncHTTPPolicy[ClientRequest, AsyncClientResponse]):
    """Bounded retries of connection errors, timeouts and the statuses above; after the last
    attempt the connector's own answer (or error) goes on to msrest, which raises as it would."""

    def __init__(self, attempts: int = ATTEMPTS) -> None:
        super().__init__()
        self._retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=_wait,
            retry=retry_if_exception_type((aiohttp.ClientConnectionError, TimeoutError))
            | retry_if_result(_retryable),
            before_sleep=_log_retry,
            reraise=True,
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        )

    async def send(self, request: _Request, **kwargs: Any) -> _Response:
        assert self.next is not None  # the pipeline links every policy to the next
        response: _Response = await self._retrying(self.next.send, request, **kwargs)
        return response


class _LoadedResponse(AsyncClientResponse):
    """A response read whole; unlike msrest's own aiohttp response, an empty body is a body."""

    def __init__(
        self, request: ClientRequest, response: aiohttp.ClientResponse, body: bytes
    ) -> None:
        super().__init__(request, response)
        self.status_code = response.status
        self.headers = CIMultiDict(response.headers)
        self.reason = response.reason
        self._body = body

    def body(self) -> bytes:
        return self._body

    def raise_for_status(self) -> None:
        if self.status_code is not None and self.status_code >= 400:
            raise aiohttp.ClientResponseError(
                self.internal_response.request_info,
                (),
                status=self.status_code,
                message=str(self.reason),
            )


class _AioHttpSender(AsyncHTTPSender[ClientRequest, AsyncClientResponse]):
    """Sends on a session it does not own: the adapter closes it."""

    def __init__(self, session: aiohttp.ClientSession, config: Any) -> None:
        self._session = session
        self._config = config

    async def __aexit__(self, *_: object) -> None:
        return None

    async def send(self, request: _Request, **_: Any) -> _Response:
        http: ClientRequest = request.http_request
        headers = {**self._config.headers, **http.headers}
        headers.pop("Content-Length", None)  # aiohttp counts the bytes it sends
        timeout = aiohttp.ClientTimeout(total=self._config.connection.timeout)
        async with self._session.request(
            http.method, http.url, headers=headers, data=http.data, timeout=timeout
        ) as raw:
            body = await raw.read()
        return Response(request, _LoadedResponse(http, raw, body))


def use_aiohttp(client: Any, session: aiohttp.ClientSession) -> Any:
    """Point a botframework ConnectorClient's pipeline at `session`; returns the client."""
    config = client.config
    policies = [
        config.user_agent_policy,
        _Retry(),
        _BearerToken(config.credentials),
        RawDeserializer(),
        config.http_logger_policy,
    ]
    config.pipeline = AsyncPipeline(policies, _AioHttpSender(session, config))
    serializer = _ActivitySerializer(client._serialize.dependencies)  # type: ignore[no-untyped-call]
    # msrest re-validates every outgoing model against its schema, which costs as much as
    # serialising it; our activities are built by us from botbuilder's own constructors.
    serializer.client_side_validation = False
    client.conversations._serialize = serializer
    return client
