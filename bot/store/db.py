"""Engine and sessions for the project's own tables (one database URL with Rasa's tracker).

The tables are created and changed by Alembic migrations (bot/store/migrations/, alembic.ini):
``init_db`` upgrades the database to the newest revision.
"""

from __future__ import annotations

import fcntl
from functools import lru_cache
from pathlib import Path

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.store.models import Base


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """The engine for ``url``. ``hide_parameters``: an error's text (logged by whoever catches
    it) never carries the statement's parameters, which can be message text or ids."""
    kwargs: dict = {"future": True, "pool_pre_ping": True, "hide_parameters": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 15}
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=15000")
            cursor.close()

    return engine


ROOT = Path(__file__).resolve().parent.parent.parent
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The revision whose tables equal what `create_all` made before migrations began.
BASELINE_REVISION = "0001"
BASELINE_TABLES = {"handoffs", "counsellors", "audit_log", "console_sessions"}


def alembic_config(url: str | None = None):  # type: ignore[no-untyped-def]
    """The project's Alembic configuration (alembic.ini), independent of the working directory."""
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini")) if (ROOT / "alembic.ini").exists() else Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _sqlite_lock_path(url: str) -> Path | None:
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if not path or path.startswith(":memory:"):
        return None
    return Path(path).with_name(Path(path).name + ".migrate.lock")


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision`` (several processes may do it at once:
    PostgreSQL takes an advisory lock in migrations/env.py, SQLite a lock file beside it)."""
    from alembic import command

    lock_path = _sqlite_lock_path(url) if url.startswith("sqlite") else None
    lock_file = None
    if lock_path is not None:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock_file = open(lock_path, "a")  # noqa: SIM115 - closed below
        fcntl.flock(lock_file, fcntl.LOCK_EX)
    try:
        engine = get_engine(url)
        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            tables = set(inspect(connection).get_table_names())
            if "alembic_version" not in tables:
                # made by create_all before migrations began: of today's models (head), or
                # at least of the baseline revision's
                if set(Base.metadata.tables) <= tables:
                    command.stamp(config, "head")
                elif BASELINE_TABLES <= tables:
                    command.stamp(config, BASELINE_REVISION)
            command.upgrade(config, revision)
    finally:
        if lock_file is not None:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
            lock_file.close()


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    with get_engine(url).begin() as connection:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def init_db(url: str) -> Engine:
    """The database at ``url`` with the project's tables at the newest migration."""
    upgrade(url)
    return get_engine(url)


@lru_cache(maxsize=8)
def session_factory(url: str) -> sessionmaker:
    return sessionmaker(bind=get_engine(url), future=True, expire_on_commit=False)


def session(url: str) -> Session:
    return session_factory(url)()
