"""Alembic migrations of the decision log, run by `ldncds.store.open_store` at open time."""
