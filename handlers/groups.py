"""User groups kept equal to a role's holders (a Slack @handle that pings whoever holds the role
now): the sync each change writes to the outbox, and the background pass that catches what the
clock alone changes (a cover that lapses).

The platform does the rest: bot/slack/adapter.py sets the group's members when it delivers the
sync, creating the group first if whoowns is to make it. If the platform refuses for good (the
app lacks usergroups:write, the plan has no user groups), whoever linked the group is told why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from handlers.message import GroupSync, Notification, PersonMention, join_people, line
from handlers.turn import Services, outgoing
from store import groups
from store.db import StoreUnavailable
from store.groups import GroupState
from store.outbox import Outgoing

log = logging.getLogger(__name__)

# Where user groups exist: a link elsewhere is refused with a word on why.
GROUP_PLATFORMS = frozenset({"slack"})


def sync_notification(state: GroupState) -> Notification:
    handle = f"@{state.handle}"
    # Mentions, not a platform's markup: each adapter renders them (only ids are known here).
    members = join_people((PersonMention(m, m) for m in state.members), last=None)
    return Notification(
        handle,
        handle,
        (
            line(
                f"{handle} ({state.role}, project {state.project}) set to ",
                members or "nobody (the group is disabled)",
                ".",
            ),
        ),
        group=GroupSync(state.link_id, state.handle, state.role, state.group_id, state.members),
        report_to=state.linked_by,
    )


def composer(services: Services, platform: str) -> Callable[[GroupState], Sequence[Outgoing]]:
    """What `store.groups` writes to the outbox for a group's new state, on this platform."""

    def compose(state: GroupState) -> Sequence[Outgoing]:
        return outgoing(services, platform, [sync_notification(state)])

    return compose


async def group_pass(services: Services) -> int:
    """Every linked group brought up to date; how many syncs were queued."""
    queued = 0
    now = services.now()
    for workspace_id, platform in await groups.linked_workspaces(services.db):
        try:
            queued += await groups.sync_pass(
                services.db, workspace_id, platform, now, composer(services, platform)
            )
        except StoreUnavailable:
            log.warning("groups: store unavailable; workspace %s is synced next time", workspace_id)
            break
    return queued
