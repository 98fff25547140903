"""The schema: typed SQLAlchemy 2 models. Alembic migrations in `store/migrations` create it.

Assignments and escalations are never deleted: ending an assignment sets `ended_at`, so history can be
asked. Uniqueness that users rely on lives in the database, not only in Python.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    and_,
    or_,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AssignmentKind(enum.StrEnum):
    PRIMARY = "primary"
    BACKUP = "backup"
    COVER = "cover"


class EscalationStatus(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    # Undeliverable, or still failing when its time ran out: shown to admins (`whoowns outbox`).
    FAILED = "failed"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    # Stored as plain strings (no native PG enum) so adding a value never needs a type migration.
    return Enum(
        cls, name=name, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]
    )


class Workspace(Base):
    """One Slack team, one Teams tenant, or the console. Nothing crosses workspaces."""

    __tablename__ = "workspace"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    # Bumped on every catalogue change so each replica's matcher knows when to rebuild its index.
    catalog_version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    # Per-workspace escalation numbers (#1, #2, …): never global, so ids cannot be enumerated across teams.
    last_escalation_number: Mapped[int] = mapped_column(
        Integer, default=0, server_default=text("0")
    )
    # Role names, lowest first, that a blocker climbs when nobody holds or acknowledges a role.
    escalation_chain: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Every so many weeks each holder is asked whether their roles are still theirs (0: never).
    review_every_weeks: Mapped[int] = mapped_column(Integer, default=12, server_default=text("12"))
    # When a replica last ran the review (or the digest) for this workspace: the claim that makes
    # one replica, not each, do it.
    review_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The channel the weekly digest goes to (none: no digest).
    digest_channel: Mapped[str | None] = mapped_column(String(200), nullable=True)
    digest_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Project(Base):
    __tablename__ = "project"
    __table_args__ = (UniqueConstraint("workspace_id", "name_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChannelLink(Base):
    """A chat channel (or Teams team/channel) whose questions are answered for one project."""

    __tablename__ = "channel_link"
    __table_args__ = (UniqueConstraint("workspace_id", "channel_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    channel_id: Mapped[str] = mapped_column(String(200))
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Role(Base):
    __tablename__ = "role"
    __table_args__ = (UniqueConstraint("workspace_id", "name_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)
    # A role a team drops is retired, not deleted: its assignments and audit entries stay answerable.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    # Loaded in a fixed order: equal catalogues load equal, and so share one matcher.
    responsibilities: Mapped[list[Responsibility]] = relationship(
        back_populates="role",
        order_by="(Responsibility.position, Responsibility.id)",
        cascade="all, delete-orphan",
    )
    aliases: Mapped[list[RoleAlias]] = relationship(
        order_by="RoleAlias.id", cascade="all, delete-orphan"
    )


class RoleAlias(Base):
    """Other names people use for a role: "SM", "PO", "infra admin"."""

    __tablename__ = "role_alias"
    __table_args__ = (UniqueConstraint("role_id", "alias_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("role.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(String(200))
    alias_key: Mapped[str] = mapped_column(String(200))


class Responsibility(Base):
    __tablename__ = "responsibility"
    __table_args__ = (UniqueConstraint("role_id", "text_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("role.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(String(500))
    text_key: Mapped[str] = mapped_column(String(500))
    position: Mapped[int] = mapped_column(Integer, default=0)

    role: Mapped[Role] = relationship(back_populates="responsibilities")
    aliases: Mapped[list[ResponsibilityAlias]] = relationship(
        order_by="ResponsibilityAlias.id", cascade="all, delete-orphan"
    )


class ResponsibilityAlias(Base):
    """How people really ask for a responsibility: keywords we wrote, or phrases learned from choices."""

    __tablename__ = "responsibility_alias"
    __table_args__ = (UniqueConstraint("responsibility_id", "alias_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    responsibility_id: Mapped[int] = mapped_column(
        ForeignKey("responsibility.id", ondelete="CASCADE")
    )
    alias: Mapped[str] = mapped_column(String(500))
    alias_key: Mapped[str] = mapped_column(String(500))
    learned: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Person(Base):
    __tablename__ = "person"
    __table_args__ = (UniqueConstraint("workspace_id", "platform_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    platform_user_id: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Assignment(Base):
    """One person holding one role in one project for a span of time.

    Active means `ended_at IS NULL`; a cover also has `until`, after which it lapses by itself.
    """

    __tablename__ = "assignment"
    __table_args__ = (
        # One active assignment per (project, role, person), enforced by the database.
        Index(
            "uq_assignment_active",
            "project_id",
            "role_id",
            "person_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
        Index("ix_assignment_project_role", "project_id", "role_id"),
        Index("ix_assignment_person", "person_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    role_id: Mapped[int] = mapped_column(ForeignKey("role.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    kind: Mapped[AssignmentKind] = mapped_column(_enum(AssignmentKind, "assignment_kind"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # For a cover: whom it covers for (the person who is away), if known.
    covers_for_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), nullable=True
    )
    # The ownership review: when the holder last said "still mine", when they were asked, and when
    # an unanswered ask was reported to whoever manages the team.
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    review_asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    review_reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AuditEntry(Base):
    """Every change to who holds what, written in the same transaction as the change."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_workspace_time", "workspace_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("project.id", ondelete="SET NULL"), nullable=True
    )
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), nullable=True
    )
    action: Mapped[str] = mapped_column(String(50))
    role_id: Mapped[int | None] = mapped_column(
        ForeignKey("role.id", ondelete="SET NULL"), nullable=True
    )
    subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), nullable=True
    )
    summary: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    platform: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str | None] = mapped_column(String(200), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Escalation(Base):
    __tablename__ = "escalation"
    __table_args__ = (
        UniqueConstraint("workspace_id", "number"),
        Index("ix_escalation_due", "status", "remind_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    raised_by_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str | None] = mapped_column(String(200), nullable=True)
    thread: Mapped[str | None] = mapped_column(String(200), nullable=True)
    target_role_id: Mapped[int] = mapped_column(ForeignKey("role.id", ondelete="CASCADE"))
    # Where the escalation stands now: the target role, or a role further up the chain.
    current_role_id: Mapped[int] = mapped_column(ForeignKey("role.id", ondelete="CASCADE"))
    status: Mapped[EscalationStatus] = mapped_column(_enum(EscalationStatus, "escalation_status"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), nullable=True
    )
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolved_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), nullable=True
    )
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)


class ProcessedEvent(Base):
    """Platform event ids already handled, so a retried delivery never acts twice."""

    __tablename__ = "processed_event"
    __table_args__ = (UniqueConstraint("platform", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ConversationRef(Base):
    """Where to reach someone later (Teams proactive messages): a user's chat with the bot, or the
    conversation of a channel. Kept in the database so that any replica can send."""

    __tablename__ = "conversation_ref"
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    # "user:<platform user id>" or "channel:<channel id>"
    key: Mapped[str] = mapped_column(String(400))
    reference: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PhraseVector(Base):
    """A catalogue phrase's sentence embedding, kept so that it is computed once per text and model.

    Keyed by the text's sha256, not by responsibility: every workspace that keeps the default
    catalogue shares its vectors, and an edit re-embeds only the phrases it changed."""

    __tablename__ = "phrase_vector"
    __table_args__ = (UniqueConstraint("model", "text_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(100))
    text_hash: Mapped[str] = mapped_column(String(64))
    # float16, little-endian: 768 bytes for a 384-dimension model.
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutboxMessage(Base):
    """A notification to deliver, written in the transaction of the change that causes it, so that
    a change is never made without its notice nor a notice sent for a change that did not happen.

    A delivery worker claims due rows: `due_at` is pushed out by a lease when claimed, so a row whose
    replica died mid-send comes back; `attempts` counts claims, and `delivered_ref` is what the
    platform answered (a Slack ts, a Teams activity id)."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str] = mapped_column(String(200))
    recipient_name: Mapped[str] = mapped_column(String(200))
    # The conversation where the matter came up: if the recipient cannot be messaged directly, they
    # are mentioned there (Teams), never where someone else happened to click.
    fallback_channel: Mapped[str | None] = mapped_column(String(200), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus, "outbox_status"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    delivered_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class SlackInstallation(Base):
    """A Slack workspace's (or org's) installation of the app through "Add to Slack": its bot
    token for every Web API call, and the refresh token when the app rotates tokens. The latest
    install replaces the one before. Deleted when Slack says the app was uninstalled or its tokens
    revoked; the workspace's own data (`Workspace` and below) stays until an admin deletes it."""

    __tablename__ = "slack_installation"
    __table_args__ = (UniqueConstraint("enterprise_id", "team_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # "" rather than NULL, so that the unique constraint holds for org-wide and plain installs.
    enterprise_id: Mapped[str] = mapped_column(String(32), default="")
    team_id: Mapped[str] = mapped_column(String(32), default="")
    bot_token: Mapped[str | None] = mapped_column(String(400))
    bot_refresh_token: Mapped[str | None] = mapped_column(String(400))
    bot_token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Everything else Slack said about the install (installer, scopes, bot ids), as slack_sdk's
    # Installation keeps it.
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SlackOAuthState(Base):
    """An "Add to Slack" link's state parameter, consumed once by the redirect that carries it
    back (any replica may receive it)."""

    __tablename__ = "slack_oauth_state"

    state: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class GroupLink(Base):
    """A role of a project linked to a platform user group (a Slack @handle): the group's members
    are kept equal to who holds the role now, so pinging the handle reaches them.

    `group_id` is None until the platform has the group (whoowns creates it on the first sync);
    `members` is what was last written to the outbox for it, so a sync is queued only when the
    holders changed."""

    __tablename__ = "group_link"
    __table_args__ = (UniqueConstraint("project_id", "role_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    role_id: Mapped[int] = mapped_column(ForeignKey("role.id", ondelete="CASCADE"))
    handle: Mapped[str] = mapped_column(String(100))
    group_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    members: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    # Who linked it (platform user id): told if the platform refuses to keep the group.
    linked_by: Mapped[str] = mapped_column(String(200))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())


def active_at(when: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """An assignment in force at `when`: started, not ended, and (a cover) not lapsed."""
    return and_(
        Assignment.started_at <= when,
        or_(Assignment.ended_at.is_(None), Assignment.ended_at > when),
        or_(Assignment.until.is_(None), Assignment.until > when),
    )
