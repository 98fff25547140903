"""Who may do what: the one place permissions are decided.

- Workspace admins (WHOOWNS_ADMINS; on the command line, the operator acting as themselves) and the
  holders of the managing roles (Group Manager, Team Lead, Project Lead) in the project may assign
  and remove anyone, and link channels to projects.
- A holder may hand over, or set cover for, a role they hold.
- Only admins create projects.
- Admins and the holders of the managing roles may change the catalogue (roles, responsibilities,
  keywords, aliases).
- An escalation may be acknowledged, resolved or reopened by the holders of its target role and of
  the roles it has climbed to, the person who raised it, and admins.
- Anyone may ask.
"""

from __future__ import annotations

from dataclasses import dataclass

from handlers.escalation_common import chain_after
from handlers.message import Line, PersonMention, join_people, line
from handlers.turn import Turn
from handlers.wording import mention, who_can_assign
from store.records import EscalationRecord, Holder, RoleRecord


@dataclass(frozen=True)
class Refused:
    """Why not, and who can: a refusal always names who could do it instead."""

    text: Line


async def managers(turn: Turn) -> list[Holder]:
    index = await turn.index()
    names = {n.casefold() for n in turn.services.config.managing_roles}
    role_ids = [r.id for r in index.catalog.roles if r.name.casefold() in names]
    by_role = await turn.holders(role_ids)
    return [h for role_id in role_ids for h in by_role.get(role_id, [])]


async def _is_manager(turn: Turn) -> bool:
    return any(h.person.id == turn.sender.id for h in await managers(turn))


async def can_manage(turn: Turn) -> bool:
    return turn.sender_is_admin or await _is_manager(turn)


async def _holds(turn: Turn, role: RoleRecord) -> bool:
    held = await turn.role_holders(role.id)
    return any(h.person.id == turn.sender.id for h in held)


async def _managers_line(turn: Turn, what: str) -> Line:
    who = who_can_assign(await turn.managing_roles())
    current = list(dict.fromkeys(mention(h.person) for h in await managers(turn)))
    ask: list[str | PersonMention] = [" Ask ", *join_people(current, "or"), "."] if current else []
    return line(f"Only {who} in project {turn.project.name} can {what}.", ask)


async def may_manage(turn: Turn, what: str) -> Refused | None:
    """Assign, add or remove anyone."""
    if await can_manage(turn):
        return None
    return Refused(await _managers_line(turn, what))


async def may_change_own(turn: Turn, role: RoleRecord, what: str) -> Refused | None:
    """Hand over or set cover for a role: its holders, and whoever may manage."""
    if turn.sender_is_admin or await _holds(turn, role) or await _is_manager(turn):
        return None
    base = await _managers_line(turn, what)
    return Refused(line(f"You don't hold {role.name}. ", base))


async def may_edit_catalogue(turn: Turn) -> Refused | None:
    """Change the workspace's roles, responsibilities, keywords and aliases."""
    if await can_manage(turn):
        return None
    who = who_can_assign(await turn.managing_roles())
    return Refused(line(f"Only {who} can change the catalogue."))


def may_create_project(turn: Turn) -> Refused | None:
    if turn.sender_is_admin:
        return None
    return Refused(line("Only a workspace admin can create projects."))


async def _escalation_roles(turn: Turn, escalation: EscalationRecord) -> set[int]:
    """The target role, and every role up the chain the escalation has climbed to so far."""
    catalog = (await turn.index()).catalog
    roles = {escalation.target_role_id, escalation.current_role_id}
    target = catalog.role(escalation.target_role_id)
    if target is not None and escalation.current_role_id != escalation.target_role_id:
        for role in chain_after(catalog, target):
            roles.add(role.id)
            if role.id == escalation.current_role_id:
                break
    return roles


async def may_handle_escalation(turn: Turn, escalation: EscalationRecord) -> Refused | None:
    if turn.sender_is_admin or escalation.raised_by.id == turn.sender.id:
        return None
    roles = await _escalation_roles(turn, escalation)
    by_role = await turn.holders(roles, project_id=escalation.project_id)
    if any(h.person.id == turn.sender.id for hs in by_role.values() for h in hs):
        return None
    holders = list(dict.fromkeys(mention(h.person) for hs in by_role.values() for h in hs))
    who: list[str | PersonMention] = [" (", *join_people(holders), ")"] if holders else []
    return Refused(
        line(
            f"Only the {escalation.target_role}",
            who,
            f", the person who raised #{escalation.number}, or an admin can do that.",
        )
    )
