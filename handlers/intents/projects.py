"""projects: "projects", "create project fraud-detection" (admins), "link this channel to project
fraud-detection" — answers in a linked channel use that project's holders."""

from __future__ import annotations

import re

from handlers.changes import refusal_reply
from handlers.message import Line, Reply, line
from handlers.permissions import may_create_project, may_manage
from handlers.router import Router
from handlers.turn import Turn
from handlers.wording import refusal
from store import workspaces

INTENT = "projects"
_NAME = r"(?P<name>[\w][\w.\-]{0,99})"


async def handle_list(turn: Turn, match: re.Match[str]) -> Reply:
    projects = await workspaces.list_projects(turn.db, turn.workspace.id)
    links = await workspaces.linked_channels(turn.db, turn.workspace.id)
    body: list[Line] = [line("Projects:")]
    for project in projects:
        notes = []
        if project.is_default:
            notes.append("default")
        if project.id == turn.project.id:
            notes.append("this conversation")
        if links.get(project.id):
            notes.append("channels " + ", ".join(links[project.id]))
        body.append(line(f"• {project.name}" + (f" ({'; '.join(notes)})" if notes else "")))
    return Reply(
        intent=INTENT, body=body, outcome="answer", facts={"projects": [p.name for p in projects]}
    )


async def handle_create(turn: Turn, match: re.Match[str]) -> Reply:
    refused = may_create_project(turn)
    if refused:
        return refusal_reply(INTENT, refused)
    project, created = await workspaces.create_project(
        turn.db,
        turn.workspace.id,
        match["name"],
        actor_id=turn.sender.id,
        platform=turn.message.platform,
        channel=turn.message.channel,
    )
    if not created:
        return Reply(
            intent=INTENT, body=[line(f"Project {project.name} exists already.")], outcome="answer"
        )
    return Reply(
        intent=INTENT,
        body=[
            line(
                f"Created project {project.name}. Link a channel to it with "
                f"“link this channel to project {project.name}”."
            )
        ],
        outcome="answer",
        facts={"project": project.name},
    )


async def handle_link(turn: Turn, match: re.Match[str]) -> Reply:
    channel = turn.message.channel
    if not channel:
        return refusal(
            INTENT,
            "This conversation has no channel to link. On the command line, use --channel NAME.",
        )
    project = await workspaces.resolve_project(turn.db, turn.workspace.id, name=match["name"])
    if project is None:
        return refusal(
            INTENT,
            f"There is no project called “{match['name']}”. "
            f"An admin can create it: “create project {match['name']}”.",
        )
    refused = await may_manage(turn, "link channels to projects")
    if refused:
        return refusal_reply(INTENT, refused)
    await workspaces.link_channel(
        turn.db,
        turn.workspace.id,
        channel,
        project.id,
        actor_id=turn.sender.id,
        platform=turn.message.platform,
    )
    turn.services.channel_projects.forget()  # this replica sees the new link at once
    return Reply(
        intent=INTENT,
        body=[line(f"This channel now answers for project {project.name}.")],
        outcome="answer",
        facts={"project": project.name, "channel": channel},
    )


def register(router: Router) -> None:
    router.add(INTENT, handle_list, r"(?:list |show )?(?:all |the )?projects")
    router.add(
        INTENT, handle_create, rf"(?:create|new|add) (?:a )?project (?:called |named )?{_NAME}"
    )
    router.add(
        INTENT,
        handle_link,
        rf"link (?:this )?(?:channel|chat|conversation|team)? ?to (?:the )?(?:project )?{_NAME}",
    )
