"""Plain, immutable results of store queries: handlers never see ORM objects or sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from store.models import AssignmentKind, EscalationStatus


@dataclass(frozen=True)
class WorkspaceRef:
    id: int
    platform: str
    external_id: str
    name: str
    catalog_version: int
    escalation_chain: tuple[str, ...]


@dataclass(frozen=True)
class ProjectRef:
    id: int
    name: str
    is_default: bool


@dataclass(frozen=True)
class ResponsibilityRecord:
    id: int
    role_id: int
    text: str
    keywords: tuple[str, ...]
    learned: tuple[str, ...]


@dataclass(frozen=True)
class RoleRecord:
    id: int
    name: str
    aliases: tuple[str, ...]
    responsibilities: tuple[ResponsibilityRecord, ...]


@dataclass(frozen=True)
class Catalog:
    workspace_id: int
    version: int
    roles: tuple[RoleRecord, ...]
    escalation_chain: tuple[str, ...]
    # Roles the team dropped: no longer answered for, but their history still is.
    retired: tuple[RoleRecord, ...] = ()

    def role(self, role_id: int) -> RoleRecord | None:
        return next((r for r in self.roles if r.id == role_id), None)

    def role_named(self, name: str) -> RoleRecord | None:
        folded = name.casefold()
        return next((r for r in self.roles if r.name.casefold() == folded), None)


@dataclass(frozen=True)
class PersonRecord:
    id: int
    user_id: str
    name: str


@dataclass(frozen=True)
class Holder:
    person: PersonRecord
    kind: AssignmentKind
    since: datetime
    until: datetime | None = None
    covers_for: PersonRecord | None = None


@dataclass(frozen=True)
class Holding:
    """A role a person holds in a project."""

    role_id: int
    role: str
    kind: AssignmentKind
    until: datetime | None


@dataclass(frozen=True)
class AssignmentRecord:
    id: int
    role_id: int
    role: str
    person: PersonRecord
    kind: AssignmentKind
    started_at: datetime
    until: datetime | None
    ended_at: datetime | None


@dataclass(frozen=True)
class AuditRecord:
    id: int
    action: str
    summary: str
    actor: PersonRecord | None
    reason: str | None
    platform: str
    channel: str | None
    created_at: datetime
    project: str | None


@dataclass(frozen=True)
class EscalationRecord:
    id: int
    number: int
    workspace: str  # the platform's id of the workspace: Slack team, Teams tenant
    project_id: int
    project: str
    text: str
    raised_by: PersonRecord
    platform: str
    channel: str | None
    thread: str | None
    target_role_id: int
    target_role: str
    current_role_id: int
    current_role: str
    status: EscalationStatus
    created_at: datetime
    remind_at: datetime | None
    reminders_sent: int
    acknowledged_by: PersonRecord | None
    resolved_by: PersonRecord | None
    resolution: str | None
