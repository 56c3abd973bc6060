"""Decision log: assessments and feedback, each a hash chain, and the chain heads.

Revision ID: 0001
Revises:
Create Date: 2026-03-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    heads = op.create_table(
        "chain_head",
        sa.Column("chain", sa.String(32), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(heads, [{"chain": c, "seq": 0, "hash": GENESIS} for c in ("assessments", "feedback")])
    op.create_table(
        "assessments",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("service_id", sa.Text),
        sa.Column("hook_instance", sa.Text),
        sa.Column("issuer", sa.Text),
        sa.Column("evaluation_date", sa.Date, nullable=False),
        sa.Column("ruleset_version", sa.String(128), nullable=False),
        sa.Column("ruleset_hash", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("input_digest", sa.String(64), nullable=False),
        sa.Column("facts", sa.Text, nullable=False),
        sa.Column("assessment", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("seq", name="uq_assessments_seq"),
        sa.UniqueConstraint("prev_hash", name="uq_assessments_prev_hash"),
        sa.UniqueConstraint("hash", name="uq_assessments_hash"),
    )
    op.create_index("ix_assessments_decision", "assessments", ["decision"])
    op.create_index("ix_assessments_evaluation_date", "assessments", ["evaluation_date"])
    op.create_index("ix_assessments_ruleset_version", "assessments", ["ruleset_version"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("card_uuid", sa.String(256), nullable=False),
        sa.Column("dedupe_key", sa.String(64), nullable=False),
        sa.Column("item", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("seq", name="uq_feedback_seq"),
        sa.UniqueConstraint("dedupe_key", name="uq_feedback_dedupe_key"),
        sa.UniqueConstraint("prev_hash", name="uq_feedback_prev_hash"),
        sa.UniqueConstraint("hash", name="uq_feedback_hash"),
    )
    op.create_index("ix_feedback_card_uuid", "feedback", ["card_uuid"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("assessments")
    op.drop_table("chain_head")
