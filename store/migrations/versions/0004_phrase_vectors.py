"""phrase vectors: sentence embeddings of catalogue phrases, kept per model and text

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 16:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "phrase_vector",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phrase_vector")),
        sa.UniqueConstraint("model", "text_hash", name=op.f("uq_phrase_vector_model")),
    )


def downgrade() -> None:
    op.drop_table("phrase_vector")
