"""ownership review and weekly digest: when each hold was last confirmed, asked about and reported
stale; how often a workspace reviews, and where its digest goes

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-06 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assignment") as batch:
        batch.add_column(sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("review_asked_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("review_reported_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("workspace") as batch:
        batch.add_column(
            sa.Column(
                "review_every_weeks", sa.Integer(), nullable=False, server_default=sa.text("12")
            )
        )
        batch.add_column(sa.Column("review_checked_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("digest_channel", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("digest_checked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workspace") as batch:
        for column in (
            "digest_checked_at",
            "digest_channel",
            "review_checked_at",
            "review_every_weeks",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("assignment") as batch:
        for column in ("review_reported_at", "review_asked_at", "confirmed_at"):
            batch.drop_column(column)
