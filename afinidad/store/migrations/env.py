"""Alembic environment: the connection comes from afinidad.store.migrate, never from an ini URL."""

from alembic import context

from afinidad.store.models import Base, include_in_schema_checks

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    include_object=include_in_schema_checks,
)
with context.begin_transaction():
    context.run_migrations()
