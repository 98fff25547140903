"""Small helpers shared by tests: talk to the dispatcher the way the console adapter does."""

from __future__ import annotations

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
