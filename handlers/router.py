"""Declarative intent routing: each intent module registers its patterns; the first match wins.

Anything no pattern claims is a question for the matcher (the fallback intent, "who owns").
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from handlers.message import Reply
from handlers.turn import Turn

Handler = Callable[[Turn, re.Match[str]], Awaitable[Reply]]

_SPACES = re.compile(r"\s+")
_TRAILING = re.compile(r"[\s?!.]+$")


def routing_text(text: str) -> str:
    """The text patterns see: single-spaced, without trailing punctuation, with typographic quotes plain."""
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return _TRAILING.sub("", _SPACES.sub(" ", text).strip())


@dataclass(frozen=True)
class Route:
    intent: str
    pattern: re.Pattern[str]
    handler: Handler


class Router:
    def __init__(self, fallback_intent: str, fallback: Handler) -> None:
        self.routes: list[Route] = []
        self.fallback = Route(fallback_intent, re.compile(r"(?s)(?P<text>.*)"), fallback)

    def add(self, intent: str, handler: Handler, *patterns: str) -> None:
        for pattern in patterns:
            compiled = re.compile(rf"^(?:{pattern})$", re.IGNORECASE | re.DOTALL)
            self.routes.append(Route(intent, compiled, handler))

    def route(self, text: str) -> tuple[Route, re.Match[str]]:
        cleaned = routing_text(text)
        for route in self.routes:
            match = route.pattern.match(cleaned)
            if match:
                return route, match
        match = self.fallback.pattern.match(text)
        assert match is not None  # the fallback pattern matches anything
        return self.fallback, match

    @property
    def intents(self) -> list[str]:
        return list(dict.fromkeys([r.intent for r in self.routes] + [self.fallback.intent]))
