"""help: what the bot can do, with examples a person can copy."""

from __future__ import annotations

import re

from handlers.message import Reply, line
from handlers.router import Router
from handlers.turn import Turn

INTENT = "help"

EXAMPLES = (
    ("who handles data drift?", "who owns a responsibility, with its role and current holders"),
    ("who is the scrum master?", "who holds a role"),
    ("what does the MLOps Engineer do?", "a role's responsibilities"),
    ("what does @alice do? / my roles", "the roles a person holds"),
    ("roles", "every role and who holds it in this project"),
)


async def handle(turn: Turn, match: re.Match[str]) -> Reply:
    body = [line(f"I know who owns what in project {turn.project.name}. Ask me:")]
    body.extend(line(f"• `{example}` — {meaning}") for example, meaning in EXAMPLES)
    return Reply(intent=INTENT, body=body, outcome="answer")


def register(router: Router) -> None:
    router.add(
        INTENT,
        handle,
        r"help|\?|/?help me|commands|usage",
        r"what can (?:you|i) (?:do|ask)(?: you)?",
        r"how (?:do|does) (?:this|it|you) work",
        r"(?:hi|hello|hey|hiya)(?: there)?(?: bot| whoowns)?",
    )
