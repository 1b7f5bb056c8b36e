"""Alembic environment: runs on the connection that :func:`kopek.store.database.migrate` passes in."""

from alembic import context

from kopek.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through kopek.store.database.migrate (kopek init)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
