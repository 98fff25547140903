"""Forms shared by the chat adapters: assign, hand over, cover and escalate as fields to fill.

Slack draws a form as a modal, Teams as a dialog (task module); what a form asks, how its answers
are checked and which command they become live here once. A submitted form runs as the command a
person would have typed, as that person, so its permissions are checked when it is submitted.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date

from handlers.message import Reply
from handlers.turn import Services
from seed.catalogue import default_catalogue
from store import workspaces

MAX_TEXT = 2000


class FieldKind(enum.StrEnum):
    ROLE = "role"
    PERSON = "person"
    PROJECT = "project"
    DATE = "date"
    TEXT = "text"
    KIND = "kind"


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: FieldKind
    optional: bool = False
    multiline: bool = False
    hint: str | None = None


Values = Mapping[str, str]


@dataclass(frozen=True)
class Form:
    id: str
    title: str
    submit: str
    fields: tuple[Field, ...]
    # The command the answers stand for, typed as the person who submits them.
    command: Callable[[Values], str]


def _because(values: Values) -> str:
    reason = values.get("reason", "").strip()
    return f" because {reason}" if reason else ""


def _assign(values: Values) -> str:
    if values.get("kind") == "backup":
        return f"add @{values['person']} as backup {values['role']}{_because(values)}"
    return f"assign @{values['person']} as {values['role']}{_because(values)}"


def _escalate(values: Values) -> str:
    text = " ".join(values["text"].split())
    note = " ".join(values.get("note", "").split())
    if note:
        text = f"{text} — {note}"
    role = values.get("role", "").strip()
    return f"escalate to the {role}: {text}" if role else f"escalate: {text}"


# Left empty, the conversation's project (its channel's link, else the default) is meant.
PROJECT = Field("project", "Project", FieldKind.PROJECT, optional=True)
ROLE = Field("role", "Role", FieldKind.ROLE)
REASON = Field("reason", "Why (for the audit log)", FieldKind.TEXT, optional=True)

FORMS: dict[str, Form] = {
    form.id: form
    for form in (
        Form(
            "assign",
            "Assign a role",
            "Assign",
            (
                PROJECT,
                ROLE,
                Field("person", "Person", FieldKind.PERSON),
                Field("kind", "As", FieldKind.KIND, optional=True),
                REASON,
            ),
            _assign,
        ),
        Form(
            "handover",
            "Hand over a role",
            "Hand over",
            (PROJECT, ROLE, Field("person", "To", FieldKind.PERSON), REASON),
            lambda v: f"hand over {v['role']} to @{v['person']}{_because(v)}",
        ),
        Form(
            "cover",
            "Set cover",
            "Set cover",
            (
                PROJECT,
                ROLE,
                Field("person", "Who covers", FieldKind.PERSON),
                Field("until", "Until (the last day, included)", FieldKind.DATE),
            ),
            lambda v: f"@{v['person']} covers {v['role']} until {v['until']}",
        ),
        Form(
            "escalate",
            "Escalate a blocker",
            "Escalate",
            (
                PROJECT,
                Field("text", "What blocks you", FieldKind.TEXT, multiline=True),
                Field("note", "A note", FieldKind.TEXT, optional=True, multiline=True),
                Field(
                    "role",
                    "To (if not the Scrum Master)",
                    FieldKind.ROLE,
                    optional=True,
                    hint="Leave empty for the usual chain: Scrum Master first.",
                ),
            ),
            _escalate,
        ),
    )
}

# What a person types to get a form instead of a command: `/whoowns assign` with nothing after it.
OPENED_BY = {
    "assign": "assign",
    "add": "assign",
    "hand over": "handover",
    "handover": "handover",
    "cover": "cover",
    "escalate": "escalate",
    "blocker": "escalate",
}


def form_for(text: str) -> Form | None:
    """The form a bare command opens ("assign", "hand over"), if it is one."""
    name = OPENED_BY.get(" ".join(text.lower().split()))
    return FORMS[name] if name else None


def problems(form: Form, values: Values, today: date) -> dict[str, str]:
    """What is wrong with the answers, by field: missing, too long, a day in the past."""
    found: dict[str, str] = {}
    for field in form.fields:
        value = values.get(field.name, "").strip()
        if not value:
            if not field.optional:
                found[field.name] = f"{field.label} is needed."
            continue
        if len(value) > MAX_TEXT:
            found[field.name] = f"At most {MAX_TEXT} characters, please."
        elif field.kind == FieldKind.DATE:
            try:
                day = date.fromisoformat(value)
            except ValueError:
                found[field.name] = "Pick a day."
                continue
            if day < today:
                found[field.name] = "Pick today or a day after."
    return found


def refusal_field(form: Form) -> str:
    """Where a refusal of the submitted command is shown: the role the permission is about."""
    names = [f.name for f in form.fields]
    return "role" if "role" in names else names[-1]


def refused(reply: Reply) -> bool:
    """Whether a submitted form's command was turned down (no permission, unknown role …)."""
    return reply.private and reply.outcome in ("unknown", "not_found", "clarify", None)


@dataclass(frozen=True)
class FormChoices:
    roles: tuple[str, ...]
    projects: tuple[str, ...]
    default_project: str | None


async def form_choices(services: Services, platform: str, workspace: str) -> FormChoices:
    """The workspace's roles and projects for a form's menus (the default catalogue's roles for a
    workspace the bot has not seen yet)."""
    found = await workspaces.find_workspace(services.db, platform, workspace)
    if found is None:
        spec = services.config.new_catalogue or default_catalogue()
        return FormChoices(tuple(r.name for r in spec.roles), (), None)
    index = await services.matchers.index(found.id)
    projects = await workspaces.list_projects(services.db, found.id)
    default = next((p.name for p in projects if p.is_default), None)
    return FormChoices(
        tuple(r.name for r in index.catalog.roles), tuple(p.name for p in projects), default
    )


@dataclass(frozen=True)
class Submitted:
    """A submitted form's outcome: what to show on which field, or the reply to its command."""

    errors: dict[str, str]
    reply: Reply | None = None


async def submit(
    form: Form,
    values: Values,
    today: date,
    run: Callable[[str], Awaitable[Reply | None]],
    describe: Callable[[Reply], str],
) -> Submitted:
    """Checks the answers, then runs the form's command as the person who submitted it (`run`);
    a refusal (no permission, an unknown role) is shown on the form, in `describe`'s words."""
    wrong = problems(form, values, today)
    if wrong:
        return Submitted(wrong)
    reply = await run(form.command(values))
    if reply is not None and refused(reply):
        return Submitted({refusal_field(form): describe(reply)[:300]})
    return Submitted({}, reply)
