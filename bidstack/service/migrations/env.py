"""Alembic's entry point for the service's migrations: run on the connection that
:func:`bidstack.service.db.upgrade` passes in ``config.attributes["connection"]``."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
