"""The audit log (issue 20, security review M4): a hash chain the command checks, triggers that
refuse UPDATE and DELETE, conversation pseudonyms instead of ids, rows that outlive the
conversation, its own retention behind checkpoints, and migration 0003 of existing rows.

On SQLite and on PostgreSQL (the production profile's database, on this machine).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import DatabaseError

from bot.settings import ROOT
from bot.store import audit, retention
from bot.store.db import get_engine, init_db, session, upgrade
from bot.store.handoffs import audit as write_audit
from bot.store.handoffs import claim, close_handoff, request_handoff
from bot.store.models import AuditEntry, utcnow
from tests.production.services import postgres_database

KEY = "test-audit-key-" + "k" * 32


@pytest.fixture(autouse=True)
def audit_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AUDIT_KEY", KEY)
    return KEY


@contextmanager
def database(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'audit.db'}"
    else:
        with postgres_database("test_audit") as url:
            try:
                yield url
            finally:
                get_engine(url).dispose()


BACKENDS = pytest.mark.parametrize("backend", ["sqlite", "postgresql"])


def rows_of(url: str) -> list[AuditEntry]:
    with session(url) as db:
        return list(db.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars())


def some_history(url: str, n: int = 3) -> list[str]:
    """Escalations, claims and closes as the project writes them; the conversation ids."""
    ids = []
    with session(url) as db:
        for _ in range(n):
            conversation = f"tg:{uuid.uuid4().hex[:26]}"
            handoff, _ = request_handoff(db, conversation_id=conversation, channel="telegram",
                                         language="sv", reason="request")  # fmt: skip
            assert claim(db, handoff_id=handoff.id, counsellor="anna")
            write_audit(db, actor="anna", action="open", handoff_id=handoff.id)
            db.commit()
            assert close_handoff(db, handoff_id=handoff.id, actor="anna", outcome="answered")
            ids.append(conversation)
    return ids


def verify(url: str) -> audit.ChainReport:
    with session(url) as db:
        return audit.verify(db)


def raw(url: str, *statements: str) -> None:
    """What someone with the database's credentials and a SQL prompt does."""
    engine = create_engine(url, future=True)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def drop_triggers(url: str) -> None:
    if url.startswith("sqlite"):
        raw(url, "DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete")
    else:
        raw(url, "ALTER TABLE audit_log DISABLE TRIGGER USER")


# -- the chain -------------------------------------------------------------------------------


@BACKENDS
def test_every_row_is_chained_and_names_the_conversation_only_by_its_pseudonym(
    backend: str, tmp_path: Path
) -> None:
    with database(backend, tmp_path) as url:
        init_db(url)
        conversations = some_history(url)
        rows = rows_of(url)
        assert [r.action for r in rows] == ["escalate", "claim", "open", "close"] * 3
        assert rows[0].prev_hash == audit.GENESIS
        for before, row in zip(rows, rows[1:], strict=False):
            assert row.prev_hash == before.hash and row.id == before.id + 1
        for row in rows:
            assert row.hash == hashlib.sha256(audit.canonical(
                id=row.id, at=row.at, actor=row.actor, action=row.action,
                handoff_id=row.handoff_id, conversation_ref=row.conversation_ref,
                detail=row.detail, checkpoint_through=None, prev_hash=row.prev_hash,
            )).hexdigest()  # fmt: skip
        # every row about a handoff carries the HMAC of its conversation, never the id
        expected = {hmac.new(KEY.encode(), b"audit-conversation:v1:" + c.encode(),
                             hashlib.sha256).hexdigest() for c in conversations}  # fmt: skip
        assert {r.conversation_ref for r in rows} == expected
        with get_engine(url).connect() as connection:
            dump = str(connection.exec_driver_sql("SELECT * FROM audit_log").all())
        for conversation in conversations:
            assert conversation not in dump and conversation.split(":")[1] not in dump
        report = verify(url)
        assert report.ok and report.append_only and report.rows == 12
        assert report.head == rows[-1].hash


@BACKENDS
def test_the_database_refuses_update_and_delete(backend: str, tmp_path: Path) -> None:
    with database(backend, tmp_path) as url:
        init_db(url)
        some_history(url, 1)
        for statement in ("UPDATE audit_log SET actor = 'nobody' WHERE id = 2",
                          "UPDATE audit_log SET detail = NULL",
                          "DELETE FROM audit_log WHERE id = 2", "DELETE FROM audit_log"):  # fmt: skip
            with pytest.raises(DatabaseError, match="append-only"):
                raw(url, statement)
        if backend == "postgresql":
            with pytest.raises(DatabaseError, match="append-only"):
                raw(url, "TRUNCATE audit_log")
        assert len(rows_of(url)) == 4 and verify(url).ok


@BACKENDS
@pytest.mark.parametrize(
    "tamper, broken_at",
    [
        ("UPDATE audit_log SET actor = 'bert' WHERE id = 3", 3),  # who opened it: rewritten
        ("UPDATE audit_log SET detail = 'referred' WHERE id = 4", 4),
        ("DELETE FROM audit_log WHERE id = 6", 7),  # a row removed from the middle
        ("DELETE FROM audit_log WHERE id = 12", None),  # the newest: see the head hash
        ("DELETE FROM audit_log WHERE id <= 2", 3),  # removed from the start, no checkpoint
        ("UPDATE audit_log SET at = '2020-01-01 00:00:00' WHERE id = 5", 5),
    ],
)
def test_audit_verify_finds_the_first_changed_or_missing_row(
    backend: str, tmp_path: Path, tamper: str, broken_at: int | None
) -> None:
    with database(backend, tmp_path) as url:
        init_db(url)
        some_history(url)
        head = verify(url).head
        drop_triggers(url)  # as someone with the power to would
        raw(url, tamper)
        report = verify(url)
        if broken_at is None:  # the chain that is left is whole, but its head moved
            assert report.ok and report.head != head and not report.append_only
        else:
            assert not report.ok and report.broken_id == broken_at, report


def test_a_forged_row_appended_without_its_hash_breaks_the_chain(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    init_db(url)
    some_history(url, 1)
    last = rows_of(url)[-1]
    raw(url, "INSERT INTO audit_log (id, at, actor, action, prev_hash, hash) VALUES "
             f"(5, '2026-01-01 00:00:00', 'anna', 'login', '{last.hash}', '{'0' * 64}')")  # fmt: skip
    report = verify(url)
    assert not report.ok and report.broken_id == 5


@BACKENDS
def test_appends_from_many_threads_never_fork_the_chain(backend: str, tmp_path: Path) -> None:
    with database(backend, tmp_path) as url:
        init_db(url)
        barrier = threading.Barrier(8)
        errors: list[BaseException] = []

        def write(n: int) -> None:
            try:
                barrier.wait()
                for i in range(10):
                    with session(url) as db:
                        write_audit(db, actor=f"user{n}", action="open", detail=str(i))
                        db.commit()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        report = verify(url)
        assert report.ok and report.rows == 80


# -- deletion of the conversation, and the log's own retention --------------------------------


def test_deleting_the_conversation_keeps_its_audit_rows_without_the_id(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    init_db(url)
    [conversation] = some_history(url, 1)
    with session(url) as db:
        retention.delete_conversation(db, conversation_id=conversation)
    rows = rows_of(url)
    assert [r.action for r in rows] == ["escalate", "claim", "open", "close"]
    assert {r.conversation_ref for r in rows} == {audit.conversation_ref(conversation)}
    assert verify(url).ok


@BACKENDS
def test_pruning_the_oldest_rows_leaves_a_checkpoint_and_a_verifiable_chain(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with database(backend, tmp_path) as url:
        init_db(url)
        now = utcnow()
        with monkeypatch.context() as past:  # rows 1..8 written 400 days ago
            past.setattr(audit, "utcnow", lambda: now - timedelta(days=400))
            some_history(url, 2)
        with session(url) as db:  # row 9 today
            write_audit(db, actor="anna", action="login")
            db.commit()
        assert verify(url).ok

        with session(url) as db:  # keep 365 days
            assert retention.prune_audit(db, older_than_days=365) == 8
        rows = rows_of(url)
        assert [(r.id, r.action) for r in rows] == [(9, "login"), (10, "checkpoint")]
        assert rows[1].checkpoint_through == 8 and rows[1].actor == "system"
        report = verify(url)
        assert report.ok and report.checkpoints == 1 and report.append_only, report
        with session(url) as db:  # nothing more to prune: no second checkpoint
            assert audit.prune(db, older_than_days=365) == 0
        assert len(rows_of(url)) == 2
        # the checkpoint does not let anyone delete younger rows
        with pytest.raises(DatabaseError, match="append-only"):
            raw(url, "DELETE FROM audit_log WHERE id = 9")
        # a row removed behind the checkpoint's back breaks the chain
        drop_triggers(url)
        raw(url, "DELETE FROM audit_log WHERE id = 9")
        report = verify(url)
        assert not report.ok and report.broken_id == 10


def test_the_retention_job_prunes_the_audit_log_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    init_db(url)
    with monkeypatch.context() as past:
        past.setattr(audit, "utcnow", lambda: utcnow() - timedelta(days=30))
        some_history(url, 1)
    retention.purge_database(url, 30, audit_days=365)
    assert len(rows_of(url)) == 4  # younger than a year: kept
    retention.purge_database(url, 30, audit_days=7)
    assert [r.action for r in rows_of(url)] == ["checkpoint"] and verify(url).ok


# -- the command -----------------------------------------------------------------------------


def test_the_audit_verify_command_and_make_target(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    init_db(url)
    some_history(url, 1)
    env = {**os.environ, "DATABASE_URL": url, "AUDIT_KEY": KEY, "PYTHONPATH": str(ROOT)}

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True,
                              timeout=120)  # fmt: skip

    ok = run(sys.executable, "-m", "bot.console", "audit-verify")
    assert ok.returncode == 0, ok.stderr
    assert "4 rows" in ok.stdout and "chain intact" in ok.stdout and verify(url).head in ok.stdout
    made = run("make", "--no-print-directory", "-o", ".venv/.installed", "audit-verify",
               f"PY={sys.executable}")  # fmt: skip
    assert made.returncode == 0 and "chain intact" in made.stdout, made.stdout + made.stderr

    drop_triggers(url)
    raw(url, "UPDATE audit_log SET actor = 'bert' WHERE id = 2")
    broken = run(sys.executable, "-m", "bot.console", "audit-verify")
    assert broken.returncode == 1
    assert "BROKEN at row 2" in broken.stderr
    assert run("make", "--no-print-directory", "-o", ".venv/.installed", "audit-verify",
               f"PY={sys.executable}").returncode != 0  # fmt: skip


# -- migration 0003 --------------------------------------------------------------------------


@BACKENDS
def test_migration_0003_pseudonymises_and_chains_the_rows_there_were(
    backend: str, tmp_path: Path
) -> None:
    with database(backend, tmp_path) as url:
        upgrade(url, "0002")
        with get_engine(url).begin() as connection:
            for i, (conversation, action) in enumerate(
                [("4711", "escalate"), (None, "login"), ("4711", "open"), ("c0ffee", "close")]
            ):
                connection.execute(
                    text("INSERT INTO audit_log (at, actor, action, handoff_id, conversation_id, "
                         "detail) VALUES (:at, :actor, :action, :h, :c, :d)"),
                    {"at": utcnow() - timedelta(minutes=10 - i), "actor": "anna",
                     "action": action, "h": "h1" if conversation else None, "c": conversation,
                     "d": None},
                )  # fmt: skip
            connection.execute(text(
                "INSERT INTO counsellors (username, password_hash, role, created_at, "
                "failed_logins, locked_until) VALUES ('anna', 'x', 'counsellor', :at, 3, :at)"
            ), {"at": utcnow()})  # fmt: skip
        upgrade(url)
        rows = rows_of(url)
        assert [r.action for r in rows] == ["escalate", "login", "open", "close"]
        assert [r.conversation_ref for r in rows] == [
            audit.conversation_ref("4711"), None, audit.conversation_ref("4711"),
            audit.conversation_ref("c0ffee"),
        ]  # fmt: skip
        report = verify(url)
        assert report.ok and report.rows == 4 and report.append_only, report
        with get_engine(url).connect() as connection:
            columns = {c for c in connection.exec_driver_sql("SELECT * FROM audit_log").keys()}
        assert "conversation_id" not in columns
        # new rows continue the migrated chain
        with session(url) as db:
            write_audit(db, actor="anna", action="login")
            db.commit()
        assert verify(url).ok and len(rows_of(url)) == 5
