"""groups: "link Scrum Master to @scrum-master", "create a group for Scrum Master", "unlink Scrum
Master", "groups" — a role's holders kept as the members of a platform user group, so that
pinging its handle reaches whoever holds the role now (handlers/groups.py does the syncing).

Linking is for those who may manage the team. A handle Slack does not know yet is created by
whoowns on the first sync, named after the role.
"""

from __future__ import annotations

import re

from handlers.changes import origin, refusal_reply, resolve_role
from handlers.groups import GROUP_PLATFORMS, composer
from handlers.message import Line, Reply, line
from handlers.permissions import may_manage
from handlers.router import Router
from handlers.turn import Turn
from handlers.wording import refusal
from store import groups

INTENT = "groups"
_HANDLE = r"@(?P<handle>[a-z0-9][a-z0-9._\-]{0,79})"
_ROLE = r"(?:the )?(?P<role>[^@]+?)(?: role)?"
MAX_HANDLE = 80


def handle_for(role: str) -> str:
    """The handle whoowns gives a group it creates for a role: "Scrum Master" → "scrum-master"."""
    return re.sub(r"[^a-z0-9]+", "-", role.lower()).strip("-")[:MAX_HANDLE] or "role"


async def _refused(turn: Turn, what: str) -> Reply | None:
    if turn.message.platform not in GROUP_PLATFORMS:
        return refusal(
            INTENT,
            "User groups are a Slack feature; in Teams, people are reached by the role's "
            "holders' mentions (and Teams tags, which the bot cannot manage).",
        )
    refused = await may_manage(turn, what)
    return refusal_reply(INTENT, refused) if refused else None


async def handle_link(turn: Turn, match: re.Match[str]) -> Reply:
    refused = await _refused(turn, "link roles to user groups")
    if refused:
        return refused
    role = await resolve_role(turn, INTENT, match["role"])
    if isinstance(role, Reply):
        return role
    handle = (match.groupdict().get("handle") or handle_for(role.name)).lower()
    known = dict(turn.message.user_groups).get(handle)
    await groups.link_group(
        turn.db,
        origin(turn, None),
        role.id,
        handle=handle,
        group_id=known,
        linked_by=turn.message.user_id,
        when=turn.services.now(),
        compose=composer(turn.services, turn.message.platform),
    )
    made = "" if known else " (I'll create it if Slack has no such group yet)"
    return Reply(
        intent=INTENT,
        body=[
            line(
                f"Linked {role.name} to @{handle}{made}: its members are now whoever holds "
                f"{role.name} in project {turn.project.name}, and follow every change."
            )
        ],
        outcome="answer",
        facts={"group": handle, "role": role.name},
    )


async def handle_unlink(turn: Turn, match: re.Match[str]) -> Reply:
    refused = await _refused(turn, "unlink roles from user groups")
    if refused:
        return refused
    role = await resolve_role(turn, INTENT, match["role"])
    if isinstance(role, Reply):
        return role
    handle = await groups.unlink_group(turn.db, origin(turn, None), role.id, turn.services.now())
    if handle is None:
        return refusal(INTENT, f"{role.name} is not linked to a user group.")
    return Reply(
        intent=INTENT,
        body=[
            line(f"Unlinked {role.name} from @{handle}; the group keeps its members as they are.")
        ],
        outcome="answer",
        facts={"unlinked": handle},
    )


async def handle_list(turn: Turn, match: re.Match[str]) -> Reply:
    links = await groups.list_links(turn.db, turn.workspace.id, turn.project.id)
    if not links:
        return Reply(
            intent=INTENT,
            body=[
                line(
                    f"No role of project {turn.project.name} is linked to a user group. "
                    "Say “link Scrum Master to @scrum-master”."
                )
            ],
            outcome="answer",
            facts={"groups": []},
        )
    body: list[Line] = [line(f"User groups of project {turn.project.name}:")]
    body.extend(line(f"• @{link.handle}: {link.role}") for link in links)
    return Reply(
        intent=INTENT, body=body, outcome="answer", facts={"groups": [g.handle for g in links]}
    )


def register(router: Router) -> None:
    router.add(INTENT, handle_link, rf"link {_ROLE} (?:to|with) {_HANDLE}")
    router.add(
        INTENT,
        handle_link,
        rf"(?:create|make|add) (?:a |an )?(?:slack )?(?:user ?)?group for {_ROLE}",
    )
    router.add(INTENT, handle_unlink, rf"unlink {_ROLE}(?: from {_HANDLE})?")
    router.add(INTENT, handle_list, r"(?:show |list )?(?:the )?(?:linked |user ?|slack )?groups")
