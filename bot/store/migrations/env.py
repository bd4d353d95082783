"""Alembic environment: the project's tables only (bot/store/models.py).

The URL comes from the caller (bot.store.db.upgrade passes its connection) or from DATABASE_URL
(the `alembic` command line); Rasa's own tables in the same database are left alone.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from bot.settings import get_settings
from bot.store.models import Base

PROJECT_TABLES = set(Base.metadata.tables)
target_metadata = Base.metadata


def include_object(obj, name, type_, reflected, compare_to) -> bool:  # type: ignore[no-untyped-def]
    """Autogenerate compares only the project's tables, never Rasa's `events`."""
    if type_ == "table":
        return name in PROJECT_TABLES
    table = getattr(obj, "table", None)
    return table is None or table.name in PROJECT_TABLES


def run_migrations(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER TABLE on SQLite
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several processes start at once (console, action server, a second host): one
            # migrates, the others wait here and then find the schema at head.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(4242081)")
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    if context.is_offline_mode():
        context.configure(
            url=get_settings().database_url, target_metadata=target_metadata,
            literal_binds=True, include_object=include_object,
        )  # fmt: skip
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(
        get_settings().database_url, poolclass=pool.NullPool, future=True, hide_parameters=True
    )
    with engine.connect() as connection:
        run_migrations(connection)
    engine.dispose()


main()
