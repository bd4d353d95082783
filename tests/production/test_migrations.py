"""Alembic: a fresh database upgraded to head has exactly the models' tables and columns
(SQLite and PostgreSQL); downgrade removes them; a database made by create_all is adopted."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from bot.store.db import downgrade, init_db, upgrade
from bot.store.models import Base
from tests.production.services import postgres_database

PROJECT_TABLES = set(Base.metadata.tables)


def schema(url: str) -> dict[str, dict[str, tuple[str, bool]]]:
    engine = create_engine(url, future=True)
    try:
        inspector = inspect(engine)
        return {
            table: {c["name"]: (str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)}
            for table in inspector.get_table_names()
        }
    finally:
        engine.dispose()


def differences(url: str) -> list:
    engine = create_engine(url, future=True)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_object": _only_project}
            )
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def _only_project(obj, name, type_, reflected, compare_to) -> bool:  # type: ignore[no-untyped-def]
    if type_ == "table":
        return name in PROJECT_TABLES
    return True


def expected_columns() -> dict[str, set[str]]:
    return {name: {c.name for c in table.columns} for name, table in Base.metadata.tables.items()}


def check_upgrade_and_downgrade(url: str) -> None:
    init_db(url)
    found = schema(url)
    assert set(found) == PROJECT_TABLES | {"alembic_version"}
    assert {t: set(cols) for t, cols in found.items() if t in PROJECT_TABLES} == expected_columns()
    # types, nullability, indexes, unique constraints, foreign keys: nothing differs
    assert differences(url) == []
    init_db(url)  # a second start finds the schema at head and changes nothing
    assert schema(url) == found
    downgrade(url, "base")
    assert set(schema(url)) == {"alembic_version"}
    upgrade(url)
    assert differences(url) == []


def test_sqlite_fresh_database_upgrades_to_the_models_and_back(tmp_path: Path) -> None:
    check_upgrade_and_downgrade(f"sqlite:///{tmp_path / 'fresh.db'}")


def test_postgresql_fresh_database_upgrades_to_the_models_and_back() -> None:
    with postgres_database("test_migr") as url:
        check_upgrade_and_downgrade(url)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_database_made_by_create_all_is_stamped_not_recreated(tmp_path: Path, backend: str) -> None:
    def run(url: str) -> None:
        engine = create_engine(url, future=True)
        Base.metadata.create_all(engine)
        engine.dispose()
        init_db(url)  # must not fail with "table already exists"
        assert differences(url) == []
        engine = create_engine(url, future=True)
        with engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() is not None
        engine.dispose()

    if backend == "sqlite":
        run(f"sqlite:///{tmp_path / 'old.db'}")
    else:
        with postgres_database("test_migr") as url:
            run(url)
