"""Tables of the decision log (the schema itself is created by the Alembic migrations)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# The chain heads: one row per chain ("assessments", "feedback"); locked while appending.
chain_head = sa.Table(
    "chain_head",
    metadata,
    sa.Column("chain", sa.String(32), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

assessments = sa.Table(
    "assessments",
    metadata,
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
    sa.Column("tenant", sa.Text),  # 0002: the caller's `tenant` claim (issuer is above)
    sa.UniqueConstraint("seq", name="uq_assessments_seq"),
    sa.UniqueConstraint("prev_hash", name="uq_assessments_prev_hash"),
    sa.UniqueConstraint("hash", name="uq_assessments_hash"),
)

# CDS Hooks feedback: its own hash chain, so feedback arriving later never rewrites an assessment.
feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("card_uuid", sa.String(256), nullable=False, index=True),
    sa.Column("dedupe_key", sa.String(64), nullable=False),
    sa.Column("item", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("issuer", sa.Text),  # 0002: who sent it
    sa.Column("tenant", sa.Text),
    sa.UniqueConstraint("seq", name="uq_feedback_seq"),
    sa.UniqueConstraint("dedupe_key", name="uq_feedback_dedupe_key"),
    sa.UniqueConstraint("prev_hash", name="uq_feedback_prev_hash"),
    sa.UniqueConstraint("hash", name="uq_feedback_hash"),
)

# JWT ids already accepted, until they expire: shared by every server process, kept across restarts.
jwt_seen = sa.Table(
    "jwt_seen",
    metadata,
    sa.Column("issuer", sa.String(512), primary_key=True),
    sa.Column("jti", sa.String(256), primary_key=True),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
)

sa.Index("ix_assessments_issuer_tenant", assessments.c.issuer, assessments.c.tenant)
sa.Index("ix_assessments_decision", assessments.c.decision)
sa.Index("ix_assessments_evaluation_date", assessments.c.evaluation_date)
sa.Index("ix_assessments_ruleset_version", assessments.c.ruleset_version)
