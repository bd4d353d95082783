"""Retention: the purge, the command and the periodic job, on a real SQLite database whose
``events`` table is made by Rasa's own SQLTrackerStore (trackers saved with old timestamps)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import func, select, text

from bot.settings import ROOT
from bot.store import retention
from bot.store.audit import conversation_ref, verify
from bot.store.db import init_db, session
from bot.store.handoffs import claim, close_handoff, request_handoff
from bot.store.models import AuditEntry, Handoff, HandoffStatus

DAY = 86400.0


def make_db(tmp_path: Path) -> tuple[str, SQLTrackerStore]:
    path = tmp_path / "rasa.db"
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(path))
    url = f"sqlite:///{path}"
    init_db(url)
    return url, store


def save_conversation(store: SQLTrackerStore, days_ago: float, text_: str = "hej") -> str:
    """A conversation whose last message was ``days_ago`` days ago, saved by Rasa's store."""
    sender = uuid.uuid4().hex
    at = time.time() - days_ago * DAY
    tracker = DialogueStateTracker(sender, slots=[])
    tracker.update(ActionExecuted("action_session_start", timestamp=at - 60))
    tracker.update(UserUttered(text_, timestamp=at - 30))
    tracker.update(BotUttered("svar", timestamp=at))
    asyncio.run(store.save(tracker))
    return sender


def escalate(url: str, conversation_id: str) -> str:
    with session(url) as db:
        handoff, _ = request_handoff(db, conversation_id=conversation_id, channel="rest",
                                     language="sv", reason="request")  # fmt: skip
        return handoff.id


def events_of(url: str, sender: str) -> int:
    with session(url) as db:
        return db.execute(
            text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": sender}
        ).scalar_one()


def handoffs_of(url: str, sender: str) -> int:
    with session(url) as db:
        return db.execute(
            select(func.count()).select_from(Handoff).where(Handoff.conversation_id == sender)
        ).scalar_one()


def audit_of(url: str, sender: str) -> int:
    """Audit rows about the conversation: they name it by its keyed pseudonym only."""
    with session(url) as db:
        return db.execute(
            select(func.count()).select_from(AuditEntry)
            .where(AuditEntry.conversation_ref == conversation_ref(sender))
        ).scalar_one()  # fmt: skip


def test_purge_keeps_recent_and_open_handoffs_deletes_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, store = make_db(tmp_path)
    old = save_conversation(store, days_ago=31, text_="mitt namn är Amira")
    recent = save_conversation(store, days_ago=29)
    today = save_conversation(store, days_ago=0)
    old_open = save_conversation(store, days_ago=40)
    escalate(url, old_open)
    old_claimed = save_conversation(store, days_ago=40)
    claimed_id = escalate(url, old_claimed)
    with session(url) as db:
        assert claim(db, handoff_id=claimed_id, counsellor="anna")
    old_closed = save_conversation(store, days_ago=35)
    closed_id = escalate(url, old_closed)
    with session(url) as db:
        assert claim(db, handoff_id=closed_id, counsellor="anna")  # only what one claimed is closed
        assert close_handoff(db, handoff_id=closed_id, actor="anna", outcome="answered")
    assert events_of(url, old) > 0 and audit_of(url, old_closed) > 0

    caplog.set_level(logging.DEBUG)
    with session(url) as db:
        deleted = retention.purge(db, older_than_days=30)

    assert deleted.conversations == 2  # old, old_closed
    assert deleted.handoffs == 1
    assert deleted.events == 2 * 3  # three events each
    for gone in (old, old_closed):
        assert events_of(url, gone) == 0 and handoffs_of(url, gone) == 0
    # the audit rows stay (escalate, claim and close of old_closed): pseudonymous, without text, and
    # the chain still verifies
    assert audit_of(url, old_closed) == 3
    with session(url) as db:
        assert db.get(Handoff, closed_id) is None
        assert verify(db).ok
        for row in db.execute(text("SELECT * FROM audit_log")).all():
            assert old_closed not in str(tuple(row))
    for kept in (recent, today, old_open, old_claimed):
        assert events_of(url, kept) == 3, kept
    assert handoffs_of(url, old_open) == 1 and handoffs_of(url, old_claimed) == 1
    # only counts in the log
    logged = caplog.text
    assert "2 conversations" in logged and "kept for an open handoff" in logged
    for sender in (old, recent, old_open, old_closed, claimed_id, closed_id):
        assert sender not in logged
    assert "Amira" not in logged


def test_the_open_handoff_is_purged_once_it_is_closed(tmp_path: Path) -> None:
    url, store = make_db(tmp_path)
    sender = save_conversation(store, days_ago=45)
    handoff_id = escalate(url, sender)
    with session(url) as db:
        assert retention.purge(db, older_than_days=30).conversations == 0
        assert claim(db, handoff_id=handoff_id, counsellor="anna")  # only what one claimed is closed
        assert close_handoff(db, handoff_id=handoff_id, actor="anna", outcome="answered")
        assert retention.purge(db, older_than_days=30).conversations == 1
    assert events_of(url, sender) == 0 and handoffs_of(url, sender) == 0


def test_a_handoff_without_events_counts_from_its_last_change(tmp_path: Path) -> None:
    url, store = make_db(tmp_path)
    sender = uuid.uuid4().hex
    handoff_id = escalate(url, sender)
    with session(url) as db:
        assert claim(db, handoff_id=handoff_id, counsellor="anna")  # only what one claimed is closed
        assert close_handoff(db, handoff_id=handoff_id, actor="anna", outcome="answered")
        assert retention.purge(db, older_than_days=30).conversations == 0  # closed just now
        in_40_days = time.time() + 40 * DAY
        assert retention.purge(db, older_than_days=30, now=in_40_days).conversations == 1
    assert handoffs_of(url, sender) == 0


def test_the_retention_period_is_respected_to_the_day(tmp_path: Path) -> None:
    url, store = make_db(tmp_path)
    sender = save_conversation(store, days_ago=10)
    with session(url) as db:
        assert retention.purge(db, older_than_days=11).conversations == 0
        assert events_of(url, sender) == 3
        assert retention.purge(db, older_than_days=9).conversations == 1
    assert events_of(url, sender) == 0


def run_command(url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "RETENTION_DAYS"}
    environment.update({"DATABASE_URL": url, "RASA_TELEMETRY_ENABLED": "false", **env})
    return subprocess.run(
        [sys.executable, "-m", "bot.store.retention", *args], cwd=ROOT, env=environment,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_command_purges_and_prints_the_counts(tmp_path: Path) -> None:
    url, store = make_db(tmp_path)
    old = save_conversation(store, days_ago=31)
    recent = save_conversation(store, days_ago=5)
    done = run_command(url, "purge")
    assert done.returncode == 0, done.stderr
    assert "Retention purge (30 days): 1 conversations, 3 events, 0 handoffs" in done.stdout
    assert events_of(url, old) == 0 and events_of(url, recent) == 3
    assert old not in done.stdout + done.stderr
    # RETENTION_DAYS from the environment, and --days over it
    done = run_command(url, "purge", RETENTION_DAYS="4")
    assert done.returncode == 0 and "(4 days): 1 conversations" in done.stdout
    assert events_of(url, recent) == 0


def test_the_command_refuses_bad_settings(tmp_path: Path) -> None:
    url, store = make_db(tmp_path)
    sender = save_conversation(store, days_ago=31)
    for args, env in ((("purge", "--days", "0"), {}), (("purge",), {"RETENTION_DAYS": "lots"})):
        done = run_command(url, *args, **env)
        assert done.returncode == 2, (args, env, done.stdout, done.stderr)
        assert "Not purged" in done.stderr and "Traceback" not in done.stderr
    assert run_command(url).returncode == 2  # no subcommand: argparse's usage
    assert events_of(url, sender) == 3


def test_the_job_purges_at_start_and_again_every_interval(tmp_path: Path) -> None:
    url, store = make_db(tmp_path)
    first = save_conversation(store, days_ago=31)

    async def scenario() -> None:
        stop = asyncio.Event()
        job = asyncio.create_task(retention.retention_job(url, 30, 0.3, stop))
        for _ in range(50):
            if events_of(url, first) == 0:
                break
            await asyncio.sleep(0.1)
        assert events_of(url, first) == 0, "the first run did not purge"
        second = await asyncio.to_thread(save_conversation, store, 31)
        assert events_of(url, second) == 3
        for _ in range(50):
            if events_of(url, second) == 0:
                break
            await asyncio.sleep(0.1)
        assert events_of(url, second) == 0, "no later run purged"
        stop.set()
        await asyncio.wait_for(job, 5)

    asyncio.run(scenario())


def test_the_job_survives_a_failed_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}"  # cannot be opened

    async def scenario() -> None:
        stop = asyncio.Event()
        job = asyncio.create_task(retention.retention_job(url, 30, 0.1, stop))
        await asyncio.sleep(0.5)
        assert not job.done()
        stop.set()
        await asyncio.wait_for(job, 5)

    asyncio.run(scenario())
    assert caplog.text.count("Retention purge failed") >= 2


def test_the_console_runs_the_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.console.app import create_app
    from bot.rasa_api import RasaAPI
    from bot.settings import Settings, SettingsError
    from tests.console.conftest import ConsoleClient

    url, store = make_db(tmp_path)
    old = save_conversation(store, days_ago=31)
    recent = save_conversation(store, days_ago=1)
    settings = Settings(database_url=url, var_dir=tmp_path, retention_days=30)
    unused = RasaAPI("http://127.0.0.1:9", "x" * 32)  # the job never calls Rasa
    monkeypatch.setenv("RETENTION_INTERVAL_MINUTES", "0.005")  # 0.3 s
    app = create_app(settings, rasa=unused)
    with ConsoleClient(app) as client:
        assert client.get("/console/health").status_code == 200
        deadline = time.monotonic() + 10
        while events_of(url, old) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert events_of(url, old) == 0
        later = save_conversation(store, days_ago=40)
        while events_of(url, later) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert events_of(url, later) == 0, "the job ran only once"
    assert events_of(url, recent) == 3
    monkeypatch.setenv("RETENTION_INTERVAL_MINUTES", "-1")
    with pytest.raises(SettingsError):
        create_app(settings, rasa=unused)


def test_interval_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RETENTION_INTERVAL_MINUTES", raising=False)
    assert retention.interval_minutes() == 60
    monkeypatch.setenv("RETENTION_INTERVAL_MINUTES", "15")
    assert retention.interval_minutes() == 15
    assert HandoffStatus.CLOSED not in HandoffStatus.OPEN
