"""What Slack's payloads say about where they come from, read one way for every kind."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def team_of(body: Mapping[str, Any], context: Mapping[str, Any] | None = None) -> str:
    """The workspace (team id) of an event, a slash command, an action, a view or a shortcut:
    each kind puts it somewhere else (`team_id`, `team.id`, `user.team_id`), and Bolt's context
    has it when the payload does not."""
    team = (
        body.get("team_id")
        or (body.get("team") or {}).get("id")
        or (body.get("user") or {}).get("team_id")
        or (context or {}).get("team_id")
    )
    return str(team or "")
