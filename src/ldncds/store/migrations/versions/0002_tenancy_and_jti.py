"""Tenancy and JWT replay: who stored each record and feedback, and the jti values already used.

Assessments get the caller's `tenant` (the issuer column exists since 0001); feedback gets the
caller's issuer and tenant; `jwt_seen` holds every accepted (issuer, jti) until it expires, so a
token replayed to another server process, or after a restart, is refused.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assessments") as batch:
        batch.add_column(sa.Column("tenant", sa.Text))
    op.create_index("ix_assessments_issuer_tenant", "assessments", ["issuer", "tenant"])
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("issuer", sa.Text))
        batch.add_column(sa.Column("tenant", sa.Text))
    op.create_table(
        "jwt_seen",
        sa.Column("issuer", sa.String(512), primary_key=True),
        sa.Column("jti", sa.String(256), primary_key=True),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_jwt_seen_expires_at", "jwt_seen", ["expires_at"])


def downgrade() -> None:
    op.drop_table("jwt_seen")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("tenant")
        batch.drop_column("issuer")
    op.drop_index("ix_assessments_issuer_tenant", "assessments")
    with op.batch_alter_table("assessments") as batch:
        batch.drop_column("tenant")
