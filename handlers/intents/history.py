"""history: "history of Scrum Master", "who was the data scientist on 2026-03-01", "who handled data
drift last month", "what changed this week" — answered from the assignments and the audit log."""

from __future__ import annotations

import re
from datetime import datetime

from handlers.changes import resolve_role
from handlers.dates import parse_day, period, start_of
from handlers.matching.matcher import Outcome
from handlers.message import Line, Reply, line
from handlers.router import Router
from handlers.turn import Turn
from handlers.wording import day, holder_segments, last_day, mention, refusal
from store import assignments, audit
from store.models import AssignmentKind
from store.records import AssignmentRecord, AuditRecord, RoleRecord

INTENT = "history"
MAX_LINES = 30


def _span(record: AssignmentRecord) -> str:
    kind = "" if record.kind == AssignmentKind.PRIMARY else f" ({record.kind.value})"
    if record.ended_at is not None and record.ended_at != record.until:
        end = day(record.ended_at)
    elif record.until is not None:
        end = last_day(record.until)
    else:
        return f"{record.person.name}{kind}: since {day(record.started_at)}"
    return f"{record.person.name}{kind}: {day(record.started_at)} – {end}"


async def handle_role_history(turn: Turn, match: re.Match[str]) -> Reply:
    role = await resolve_role(turn, INTENT, match["role"], retired=True)
    if isinstance(role, Reply):
        return role
    records = await assignments.role_history(turn.db, turn.project.id, role.id)
    changes = await audit.audit_entries(
        turn.db, turn.workspace.id, project_id=turn.project.id, role_id=role.id, limit=MAX_LINES
    )
    if not records and not changes:
        return Reply(
            intent=INTENT,
            body=[line(f"Nobody has held {role.name} in project {turn.project.name} yet.")],
            outcome="answer",
            role=role.name,
        )
    body: list[Line] = [line(f"Holders of {role.name} in project {turn.project.name}:")]
    body.extend(line("• " + _span(r)) for r in records[-MAX_LINES:])
    if changes:
        body.append(line("Changes, newest first:"))
        body.extend(_audit_line(c) for c in changes)
    return Reply(
        intent=INTENT,
        body=body,
        outcome="answer",
        role=role.name,
        facts={"assignments": len(records), "changes": len(changes)},
    )


def _audit_line(entry: AuditRecord) -> Line:
    who = [mention(entry.actor)] if entry.actor else ["someone"]
    reason = f" (because {entry.reason})" if entry.reason and entry.reason != "bulk import" else ""
    place = f" via {entry.platform}" + (f" in {entry.channel}" if entry.channel else "")
    return line(f"• {entry.created_at:%d %b %H:%M} ", *who, f": {entry.summary}{reason}{place}")


async def _holders_between(
    turn: Turn, role: RoleRecord, start: datetime, end: datetime
) -> list[AssignmentRecord]:
    records = await assignments.role_history(turn.db, turn.project.id, role.id)
    return [
        r
        for r in records
        if r.started_at < end
        and (r.ended_at is None or r.ended_at > start)
        and (r.until is None or r.until > start)
    ]


async def handle_who_was(turn: Turn, match: re.Match[str]) -> Reply:
    role = await resolve_role(turn, INTENT, match["role"], retired=True)
    if isinstance(role, Reply):
        return role
    when = parse_day(match["when"], turn.services.now(), prefer="past")
    if when is None:
        return refusal(INTENT, f"I can't read “{match['when']}” as a date. Try “on 2026-03-01”.")
    moment = start_of(when).replace(hour=12)
    held = (await assignments.holders(turn.db, turn.project.id, [role.id], at=moment)).get(
        role.id, []
    )
    if not held:
        return Reply(
            intent=INTENT,
            body=[
                line(f"Nobody held {role.name} in project {turn.project.name} on {day(moment)}.")
            ],
            outcome="answer",
            role=role.name,
        )
    return Reply(
        intent=INTENT,
        body=[
            line(
                f"On {day(moment)}, {role.name} in project {turn.project.name}: ",
                holder_segments(held),
                ".",
            )
        ],
        outcome="answer",
        role=role.name,
    )


async def handle_who_handled(turn: Turn, match: re.Match[str]) -> Reply:
    span = period(match["period"], turn.services.now())
    if span is None:
        return refusal(
            INTENT,
            f"I can't read “{match['period']}” as a time. Try “last month” or “on 2026-03-01”.",
        )
    start, end, said = span
    index = await turn.index()
    result = await index.matcher.match_off_loop(match["topic"])
    if result.outcome != Outcome.ANSWER or result.best is None:
        return refusal(
            INTENT, f"I don't know which role handles “{match['topic']}”. Try “history of <role>”."
        )
    target = result.best.target
    role = index.catalog.role(target.role_id)
    assert role is not None
    spans = await _holders_between(turn, role, start, end)
    subject = f"“{target.responsibility}” ({role.name})" if target.responsibility else role.name
    if not spans:
        return Reply(
            intent=INTENT,
            body=[line(f"Nobody held {role.name} in project {turn.project.name} {said}.")],
            outcome="answer",
            role=role.name,
            responsibility=target.responsibility,
        )
    body = [line(f"{subject} {said} in project {turn.project.name}:")]
    body.extend(line("• " + _span(r)) for r in spans)
    return Reply(
        intent=INTENT,
        body=body,
        outcome="answer",
        role=role.name,
        responsibility=target.responsibility,
    )


async def handle_changes(turn: Turn, match: re.Match[str]) -> Reply:
    asked = (match.groupdict().get("period") or "this week").strip()
    span = period(asked, turn.services.now())
    if span is None:
        return refusal(
            INTENT, f"I can't read “{asked}” as a time. Try “this week” or “last month”."
        )
    start, end, said = span
    entries = await audit.audit_entries(
        turn.db,
        turn.workspace.id,
        since=start,
        until=end,
        project_id=turn.project.id,
        limit=MAX_LINES,
    )
    if not entries:
        return Reply(
            intent=INTENT,
            body=[line(f"Nothing changed in project {turn.project.name} {said}.")],
            outcome="answer",
            facts={"changes": 0},
        )
    body = [line(f"Changes in project {turn.project.name} {said}, newest first:")]
    body.extend(_audit_line(e) for e in entries)
    return Reply(intent=INTENT, body=body, outcome="answer", facts={"changes": len(entries)})


_ROLE = r"(?:the |our |a )?(?P<role>[^@]+?)"
_PERIOD = (
    r"(?P<period>today|yesterday|this week|last week|this month|last month|this year|last year"
    r"|(?:on|in|since) .+)"
)
_HANDLED = r"(?:handled|owned|held|covered|did|was (?:responsible for|in charge of))"


def register(router: Router) -> None:
    router.add(
        INTENT,
        handle_role_history,
        rf"(?:show )?(?:the )?(?:history|changes|audit)(?: log)? (?:of|for) {_ROLE}(?: role)?",
    )
    router.add(INTENT, handle_who_was, rf"who (?:was|were) {_ROLE} (?:on|at) (?P<when>.+)")
    router.add(
        INTENT,
        handle_who_handled,
        rf"who {_HANDLED} (?P<topic>.+?) {_PERIOD}",
    )
    router.add(
        INTENT,
        handle_changes,
        rf"what(?:'s| has| have)? changed(?: {_PERIOD})?",
        rf"(?:recent changes|changes|audit log|audit)(?: {_PERIOD})?",
    )
