"""who_owns: any question the commands do not claim — "who handles data drift?", "who is the PO?".

The matcher answers, asks back with 2–3 choices, or says it does not know. A choice someone picks is
learned as an alias for the workspace, so the next person asking that way gets a direct answer.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence

from handlers.matching.matcher import Candidate, Match, Outcome, Target
from handlers.matching.registry import WorkspaceIndex
from handlers.matching.text import words
from handlers.message import CandidateFact, Line, Reply, line
from handlers.router import Router
from handlers.turn import Turn
from handlers.wording import holder_facts, holders_line
from store import catalog, workspaces

INTENT = "who_owns"

log = logging.getLogger(__name__)

UNKNOWN_TEXT = (
    "I don't know who handles that. Ask me about a responsibility, like “who handles data drift?” "
    "or “who is the scrum master?”, or say “roles” to see every role and who holds it."
)


def candidate_fact(candidate: Candidate) -> CandidateFact:
    target = candidate.target
    return CandidateFact(
        target.role_id,
        target.role,
        target.responsibility_id,
        target.responsibility,
        candidate.score,
    )


async def _answer(
    turn: Turn, targets: Sequence[Target], match: Match, score: float | None
) -> Reply:
    role_ids = list(dict.fromkeys(t.role_id for t in targets))
    by_role = await turn.holders(role_ids)
    managing = await turn.managing_roles()
    body: list[Line] = []
    first = targets[0]
    if len(targets) > 1:
        roles = " and ".join(t.role for t in targets)
        body.append(line(f"{first.responsibility or 'That'} is shared by {roles}."))
    elif first.responsibility:
        body.append(line(f"“{first.responsibility}” is the {first.role}'s."))
    for target in targets:
        body.append(
            holders_line(target.role, by_role.get(target.role_id, []), turn.project.name, managing)
        )
    return Reply(
        intent=INTENT,
        body=body,
        outcome=Outcome.ANSWER.value,
        role=first.role,
        responsibility=first.responsibility,
        score=score,
        candidates=[candidate_fact(c) for c in match.candidates],
        holders=[h for t in targets for h in holder_facts(by_role.get(t.role_id, []))],
        facts={"shared_with": [t.role for t in targets[1:]]} if len(targets) > 1 else {},
    )


def _clarify(question: str, match: Match) -> Reply:
    choices = [candidate_fact(c) for c in match.candidates]
    body = [line("I'm not sure which you mean. Did you mean:")]
    body.extend(line(f"{i}. {choice.label}") for i, choice in enumerate(choices, start=1))
    return Reply(
        intent=INTENT,
        body=body,
        outcome=Outcome.CLARIFY.value,
        candidates=choices,
        choices=choices,
        question=question,
    )


def _unknown(match: Match) -> Reply:
    return Reply(
        intent=INTENT,
        body=[line(UNKNOWN_TEXT)],
        outcome=Outcome.UNKNOWN.value,
        candidates=[candidate_fact(c) for c in match.candidates],
    )


async def _chosen(turn: Turn, index: WorkspaceIndex) -> Reply:
    choice = turn.message.choice
    assert choice is not None
    role = index.catalog.role(choice.role_id)
    responsibility = (
        next((r for r in role.responsibilities if r.id == choice.responsibility_id), None)
        if role
        else None
    )
    if role is None or (choice.responsibility_id is not None and responsibility is None):
        return _unknown(Match(Outcome.UNKNOWN))
    target = Target(
        role.id,
        role.name,
        responsibility.id if responsibility else None,
        responsibility.text if responsibility else None,
    )
    learned = await catalog.learn_alias(
        turn.db,
        turn.workspace.id,
        choice.question,
        role_id=role.id,
        responsibility_id=target.responsibility_id,
    )
    if learned:
        turn.services.matchers.forget(turn.workspace.id)
        log.info(
            "learned alias %r for %s in workspace %s",
            choice.question,
            target.role,
            turn.workspace.id,
        )
    match = Match(Outcome.ANSWER, (Candidate(target, 1.0),))
    return await _answer(turn, [target], match, 1.0)


async def _in_named_project(
    turn: Turn, question: str, index: WorkspaceIndex, result: Match
) -> tuple[Turn, Match]:
    """A role placed somewhere the matcher does not know may be placed in one of this workspace's
    projects ("the PM for atlas"): then it is answered, for that project. Rare, so the projects
    are only read then."""
    asked = set(words(question))
    named = [
        p
        for p in await workspaces.list_projects(turn.db, turn.workspace.id)
        if set(words(p.name)) <= asked
    ]
    if len(named) != 1:
        return turn, result
    project = named[0]
    again = await index.matcher.match_off_loop(question, local_names=frozenset(words(project.name)))
    return dataclasses.replace(turn, project=project), again


async def handle(turn: Turn, match: re.Match[str]) -> Reply:
    index = await turn.index()
    if turn.message.choice is not None:
        return await _chosen(turn, index)
    question = match["text"].strip()
    result = await index.matcher.match_off_loop(question)
    if result.elsewhere:
        turn, result = await _in_named_project(turn, question, index, result)
    if result.outcome == Outcome.ANSWER and result.best is not None:
        targets = [c.target for c in result.candidates] if result.shared else [result.best.target]
        return await _answer(turn, targets, result, result.best.score)
    if result.outcome == Outcome.CLARIFY:
        return _clarify(question, result)
    return _unknown(result)


def register(router: Router) -> None:
    """who_owns is the router's fallback; it claims no pattern of its own."""
