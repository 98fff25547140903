"""Small helpers shared by tests: talk to the dispatcher the way the console adapter does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.console import console_message
from handlers.dispatch import Dispatcher
from handlers.message import Choice, Reply


async def say(
    dispatcher: Dispatcher,
    text: str,
    *,
    user: str | None = None,
    project: str | None = None,
    choice: Choice | None = None,
) -> Reply:
    """Send `text` as console user `user` (None: the operator, an admin)."""
    return await dispatcher.handle(console_message(text, user=user, project=project, choice=choice))


T = TypeVar("T")


async def eventually(found: Callable[[], T | None], timeout: float = 10.0, what: str = "it") -> T:  # noqa: ASYNC109
    """What `found` returns once it returns something, polling; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = found()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        await asyncio.sleep(0.05)


async def until(
    probe: Callable[[], Awaitable[T]],
    wanted: object = ...,
    *,
    what: str,
    timeout: float = 10.0,  # noqa: ASYNC109
) -> T:
    """What the coroutine `probe` answers once it is `wanted` (by default: anything truthy),
    polling; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = await probe()
        if (found == wanted) if wanted is not ... else bool(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s (last: {found!r})")
        await asyncio.sleep(0.05)
