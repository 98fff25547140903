"""person_roles: "what does @alice do?", "my roles" — the roles a person holds in the project."""

from __future__ import annotations

import re

from handlers.message import Reply, line
from handlers.router import Router
from handlers.turn import Turn
from handlers.wording import kind_note, mention
from store import people
from store.records import Holding, PersonRecord

INTENT = "person_roles"


def _holding_text(holding: Holding) -> str:
    return holding.role + kind_note(holding.kind, holding.until)


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
    body = [line(subject, f"{verb} in project {turn.project.name}: ")]
    body[0] = line(body[0], ", ".join(_holding_text(h) for h in held), ".")
    return Reply(
        intent=INTENT,
        body=body,
        outcome="answer",
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
