"""person_roles: "what does @alice do?", "my roles" — the roles a person holds in the project."""

from __future__ import annotations

import re

from handlers.actions import cover_action, handover_action
from handlers.message import Action, Reply, line
from handlers.router import Router
from handlers.turn import Turn
from handlers.wording import kind_note, mention
from store import people, reviews
from store.models import AssignmentKind
from store.records import Holding, PersonRecord

INTENT = "person_roles"


MAX_BUTTONS = 6  # Teams shows six actions on a card at most


def _holding_text(holding: Holding, stale: bool = False) -> str:
    unconfirmed = " — not confirmed in the review" if stale else ""
    return holding.role + kind_note(holding.kind, holding.until) + unconfirmed


async def _stale_roles(turn: Turn, person_id: int) -> set[int]:
    """The person's roles here that the review asked about and they did not confirm in time."""
    stale = await reviews.stale_holds(
        turn.db,
        turn.workspace.id,
        turn.services.now(),
        turn.services.config.review_grace,
        project_id=turn.project.id,
    )
    return {h.role_id for h in stale if h.person.id == person_id}


def _own_actions(turn: Turn, held: list[Holding], stale: bool) -> list[Action]:
    """For one's own roles: confirm them if the review waits, hand over or set cover for each
    (covers lapse by themselves, so a cover held gets no buttons)."""
    actions = [Action("Still mine", "still mine", "primary")] if stale else []
    project = turn.project.name
    for holding in held:
        if holding.kind != AssignmentKind.COVER:
            actions += [handover_action(holding.role, project), cover_action(holding.role, project)]
    return actions[:MAX_BUTTONS]


async def _person(turn: Turn, who: str | None) -> PersonRecord | None:
    if who is None:
        return turn.sender
    mentioned = turn.message.mention(who)
    return await people.find_person(turn.db, turn.workspace.id, mentioned.user_id)


async def handle(turn: Turn, match: re.Match[str]) -> Reply:
    groups = match.groupdict()
    who = groups.get("user")
    person = await _person(turn, who)
    if person is None:
        name = turn.message.mention(who).name if who else None
        return Reply(
            intent=INTENT,
            body=[line(f"@{name or who} holds no role in project {turn.project.name}.")],
            outcome="answer",
        )
    held = await turn.holdings(person.id)
    you = person.id == turn.sender.id
    subject = line("You") if you else line(mention(person))
    if not held:
        verb = " hold" if you else " holds"
        return Reply(
            intent=INTENT,
            body=[line(subject, f"{verb} no role in project {turn.project.name}.")],
            outcome="answer",
            facts={"user": person.user_id, "roles": []},
        )
    verb = " hold" if you else " holds"
    stale = await _stale_roles(turn, person.id)
    body = [line(subject, f"{verb} in project {turn.project.name}: ")]
    body[0] = line(body[0], ", ".join(_holding_text(h, h.role_id in stale) for h in held), ".")
    if stale:
        body.append(line("Unconfirmed roles are ones the review asked about: say “still mine”."))
    return Reply(
        intent=INTENT,
        body=body,
        outcome="answer",
        actions=_own_actions(turn, held, bool(stale)) if you else [],
        facts={
            "user": person.user_id,
            "roles": [{"role": h.role, "kind": h.kind.value} for h in held],
        },
    )


def register(router: Router) -> None:
    router.add(
        INTENT,
        handle,
        r"what (?:does|do) @(?P<user>[\w.\-:]{1,150}) (?:do|own|handle|hold)",
        r"what roles? (?:does|do) @(?P<user>[\w.\-:]{1,150}) (?:have|hold)",
        r"(?:who is|who's|whos) @(?P<user>[\w.\-:]{1,150})",
        r"roles? (?:of|for) @(?P<user>[\w.\-:]{1,150})",
        r"@(?P<user>[\w.\-:]{1,150})'?s? roles?",
        r"(?:what are )?my (?:roles?|responsibilities)",
        r"what (?:do|roles do) i (?:do|own|handle|hold|have)",
        r"what am i (?:responsible for|doing)",
        r"(?:who am i|whoami)",
    )
