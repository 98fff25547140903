"""catalogue: an admin or a managing role reshapes the roles by chat (the CLI runs the same commands).

    add role Platform Engineer              rename role Tester to QA Engineer
    retire role Tester                      add responsibility "Own the feature store" to Data Engineer
    edit responsibility Data Engineer: Data pipelines to "Batch and streaming pipelines"
    remove responsibility Data Engineer: Data pipelines
    add keyword "k8s" to Platform Engineer: Kubernetes clusters
    remove keyword "k8s" from Platform Engineer: Kubernetes clusters
    add alias "SRE" to Platform Engineer    remove alias "SRE" from Platform Engineer

A responsibility is named after its role and a colon, by its text, a unique part of it, or its
number in the role's list. Quotes are needed only when a text holds " to " or " from ".
Each edit is audited and bumps the catalogue version, so every replica's matcher rebuilds.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from handlers.changes import origin, refusal_reply, resolve_role
from handlers.message import Line, Reply, line
from handlers.permissions import may_edit_catalogue
from handlers.router import Router
from handlers.turn import Turn
from handlers.wording import refusal
from store import catalogue_changes as changes
from store.catalogue_changes import CatalogueConflict, EditResult
from store.records import RoleRecord

INTENT = "catalogue"


def _value(name: str) -> str:
    """A value that may be quoted; quoted, it may hold the words that separate the others."""
    return rf'(?:"(?P<{name}_q>[^"]+)"|(?P<{name}>[^"]+?))'


def _group(match: re.Match[str], name: str) -> str:
    groups = match.groupdict()
    return (groups.get(f"{name}_q") or groups.get(name) or "").strip()


_ROLE = r"(?:the )?(?P<role>[^:\"]+?)(?: role)?"
_RESP = _value("text")


@dataclass(frozen=True)
class Command:
    """One edit: the store change it makes, and the words after the role it passes, in order."""

    store_call: Callable[..., Awaitable[EditResult]]
    words: tuple[str, ...] = ()
    names_existing_role: bool = True


COMMANDS = {
    "add_role": Command(changes.add_role, names_existing_role=False),
    "rename_role": Command(changes.rename_role, ("new",)),
    "retire_role": Command(changes.retire_role),
    "add_responsibility": Command(changes.add_responsibility, ("text",)),
    "edit_responsibility": Command(changes.edit_responsibility, ("text", "new")),
    "remove_responsibility": Command(changes.remove_responsibility, ("text",)),
    "add_keyword": Command(changes.add_keyword, ("text", "value")),
    "remove_keyword": Command(changes.remove_keyword, ("text", "value")),
    "add_alias": Command(changes.add_alias, ("value",)),
    "remove_alias": Command(changes.remove_alias, ("value",)),
}


def handler(action: str) -> Callable[[Turn, re.Match[str]], Awaitable[Reply]]:
    command = COMMANDS[action]

    async def handle(turn: Turn, match: re.Match[str]) -> Reply:
        refused = await may_edit_catalogue(turn)
        if refused is not None:
            return refusal_reply(INTENT, refused)
        role_name = _group(match, "role")
        if command.names_existing_role:
            role = await resolve_role(turn, INTENT, role_name)
            if isinstance(role, Reply):
                return role
            role_name = role.name
        try:
            result = await command.store_call(
                turn.db,
                origin(turn, None),
                role_name,
                *(_group(match, word) for word in command.words),
            )
        except CatalogueConflict as conflict:
            return refusal(INTENT, str(conflict))
        turn.services.matchers.forget(turn.workspace.id)
        return await _confirmation(turn, action, result)

    return handle


async def _confirmation(turn: Turn, action: str, result: EditResult) -> Reply:
    body: list[Line] = [line(f"Done: {result.summary}.")]
    if result.ended:
        held = "; ".join(f"{e.person} ({e.kind}, {e.project})" for e in result.ended)
        body.append(line(f"Ended the holds of: {held}. Their history stays answerable."))
    index = await turn.index()
    role: RoleRecord | None = index.catalog.role_named(result.role)
    if role is not None and action != "retire_role":
        listing = "; ".join(r.text for r in role.responsibilities) or "no responsibilities yet"
        body.append(line(f"{role.name} now covers: {listing}"))
    return Reply(
        intent=INTENT,
        body=body,
        outcome="answer",
        role=result.role,
        facts={"action": action, "ended": len(result.ended), "version": index.version},
    )


def register(router: Router) -> None:
    new = _value("new")
    value = _value("value")
    patterns = {
        "add_role": [r"(?:add|create|new)(?: a| the)? role (?P<role>.+)"],
        "rename_role": [rf"rename (?:the )?role {_ROLE} (?:to|as) {new}"],
        "retire_role": [rf"(?:retire|delete|drop|remove)(?: the)? role {_ROLE}"],
        "add_responsibility": [rf"add(?: a| the)? responsibility {_RESP} (?:to|for) {_ROLE}"],
        "edit_responsibility": [
            rf"(?:edit|change|reword|update)(?: the)? responsibility {_ROLE}: {_RESP} to {new}"
        ],
        "remove_responsibility": [
            rf"(?:remove|delete|drop)(?: the)? responsibility {_ROLE}: {_RESP}",
            rf"(?:remove|delete|drop)(?: the)? responsibility {_RESP} from {_ROLE}",
        ],
        "add_keyword": [rf"add(?: a| the)? keyword {value} (?:to|for) {_ROLE}: {_RESP}"],
        "remove_keyword": [
            rf"(?:remove|delete|drop)(?: the)? keyword {value} from {_ROLE}: {_RESP}"
        ],
        "add_alias": [rf"add(?: an| the)? alias {value} (?:to|for) {_ROLE}"],
        "remove_alias": [rf"(?:remove|delete|drop)(?: the)? alias {value} from {_ROLE}"],
    }
    for action, forms in patterns.items():
        router.add(INTENT, handler(action), *forms)
