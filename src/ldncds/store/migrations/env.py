"""Alembic environment: always given an open connection (see ldncds.store.migrate)."""

from __future__ import annotations

from alembic import context

from ldncds.store.migrate import VERSION_TABLE
from ldncds.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("ldncds migrations run through ldncds.store.open_store (or `ldncds audit migrate`)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
