""""Delete my data" (bot/deletion.py, bot/store/retention.py; issue 20, review M6), on each
store: SQLite (dev) and PostgreSQL (production), with Rasa's own SQLTrackerStore making the
``events`` table. Every trace of the conversation goes in one transaction; an open handoff is
closed as ``deleted_by_person`` with no link left to the person; a failure is tried again,
reported as False (the person is then told) and logged by its type only.

The whole path on the running stacks (widget, REST, Telegram, during a handoff, Redis):
tests/privacy/test_channel_namespaces.py and tests/production/test_delete_stack.py.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import func, select, text

from bot import deletion
from bot.store import tracker_cache, widget_sessions
from bot.store.db import get_engine, init_db, session
from bot.store.handoffs import claim, request_handoff
from bot.store.models import Handoff, HandoffStatus, Reminder, WidgetSession
from bot.store.retention import DELETED_BY_PERSON, delete_conversation


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, SQLTrackerStore]]:
    """A database of each kind with Rasa's events table and the project's tables."""
    if request.param == "sqlite":
        path = tmp_path / "rasa.db"
        rasa_store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(path))
        url = f"sqlite:///{path}"
        init_db(url)
        yield url, rasa_store
        return
    from tests.production.services import postgres_database

    with postgres_database("test_delete") as url:
        rasa_store = SQLTrackerStore(Domain.empty(), host=url)
        init_db(url)
        yield url, rasa_store
        rasa_store.engine.dispose()
        get_engine(url).dispose()


async def conversation(rasa_store: SQLTrackerStore, conversation_id: str) -> None:
    tracker = DialogueStateTracker(conversation_id, slots=[])
    now = time.time()
    tracker.update(ActionExecuted("action_session_start", timestamp=now - 3))
    tracker.update(UserUttered("mitt nummer är 0701234567", timestamp=now - 2))
    tracker.update(BotUttered("svar", timestamp=now - 1))
    await rasa_store.save(tracker)


def counts(url: str, conversation_id: str) -> dict[str, int]:
    with session(url) as db:
        return {
            "events": db.execute(text("SELECT count(*) FROM events WHERE sender_id = :s"),
                                 {"s": conversation_id}).scalar_one(),
            "handoffs": db.execute(select(func.count()).select_from(Handoff).where(
                Handoff.conversation_id == conversation_id)).scalar_one(),
            "reminders": db.execute(select(func.count()).select_from(Reminder).where(
                Reminder.conversation_id == conversation_id)).scalar_one(),
            "sessions": db.execute(select(func.count()).select_from(WidgetSession).where(
                WidgetSession.conversation_id == conversation_id)).scalar_one(),
        }  # fmt: skip


async def test_everything_of_the_conversation_goes_and_nothing_of_another(
    store: tuple[str, SQLTrackerStore],
) -> None:
    url, rasa_store = store
    with session(url) as db:
        mine = widget_sessions.start(db, days=30)
        other = widget_sessions.start(db, days=30)
        for live in (mine, other):
            handoff, _ = request_handoff(db, conversation_id=live.conversation_id,
                                         channel="socketio", language="ar", reason="request")
            claim(db, handoff_id=handoff.id, counsellor="anna")
            db.add(Reminder(name=uuid.uuid4().hex, conversation_id=live.conversation_id,
                            channel="telegram", language="ar", kind="appeal",
                            deadline=date(2027, 1, 1), remind_at=datetime(2026, 12, 30, 9)))
        db.commit()
        claimed_id = handoff.id  # the other conversation's
    for live in (mine, other):
        await conversation(rasa_store, live.conversation_id)
    assert counts(url, mine.conversation_id) == {
        "events": 3, "handoffs": 1, "reminders": 1, "sessions": 1}  # fmt: skip

    assert await deletion.delete_with_retries(url, mine.conversation_id)

    assert counts(url, mine.conversation_id) == {
        "events": 0, "handoffs": 0, "reminders": 0, "sessions": 0}  # fmt: skip
    assert counts(url, other.conversation_id) == {
        "events": 3, "handoffs": 1, "reminders": 1, "sessions": 1}  # fmt: skip
    with session(url) as db:
        # the handoff the counsellor had: closed, says why, leads nowhere
        [tombstone] = db.execute(
            select(Handoff).where(Handoff.outcome == DELETED_BY_PERSON)
        ).scalars().all()
        assert tombstone.status == HandoffStatus.CLOSED and tombstone.closed_at is not None
        assert tombstone.claimed_by == "anna" and tombstone.language == "ar"
        assert tombstone.conversation_id == f"deleted:{tombstone.id}"
        assert tombstone.id != claimed_id
        assert widget_sessions.resume(db, token=mine.token, days=30) is None
        assert widget_sessions.resume(db, token=other.token, days=30) is not None
    # and Rasa, reading the conversation again, finds nothing
    tracker = await rasa_store.retrieve_full_tracker(mine.conversation_id)
    assert tracker is None or not [e for e in tracker.events if isinstance(e, UserUttered)]


async def test_a_closed_handoff_goes_and_the_retention_purge_takes_the_tombstone(
    store: tuple[str, SQLTrackerStore],
) -> None:
    from bot.store.retention import purge

    url, rasa_store = store
    conversation_id = "rest:someone"
    await conversation(rasa_store, conversation_id)
    with session(url) as db:
        handoff, _ = request_handoff(db, conversation_id=conversation_id, channel="rest",
                                     language="sv", reason="request")  # fmt: skip
        handoff_id = handoff.id
        delete_conversation(db, conversation_id=conversation_id, by_person=True)
        tombstone = db.get(Handoff, handoff_id)
        assert tombstone.outcome == DELETED_BY_PERSON
        purge(db, older_than_days=1, now=time.time() + 2 * 86400)
        assert db.get(Handoff, handoff_id) is None


async def test_a_failed_deletion_is_tried_again_then_reported_without_personal_data(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    (tmp_path / "db").mkdir()
    broken = f"sqlite:///{tmp_path / 'db'}"  # a directory: nothing can be opened there
    with caplog.at_level(logging.INFO, logger="bot.deletion"):
        done = await deletion.delete_with_retries(broken, "rest:sender-4711", pauses=(0.01, 0.01))
    assert done is False
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.deletion"]
    assert len([line for line in lines if " of 3" in line]) == 3  # tried three times
    assert "could not be deleted" in lines[-1]
    assert all("4711" not in line and "sender" not in line for line in lines)
    assert not any(r.exc_info for r in caplog.records if r.name == "bot.deletion")


def test_only_a_request_of_this_turn_deletes() -> None:
    asked = [UserUttered("ja"), ActionExecuted("action_delete_data"),
             SlotSet("pending_confirmation", "delete_now")]  # fmt: skip
    assert deletion.requested(asked)
    # a request left from an earlier turn (its deletion failed) is not acted on again
    assert not deletion.requested([*asked, UserUttered("hej"), ActionExecuted("action_answer")])
    assert not deletion.requested([UserUttered("ja"), SlotSet("pending_confirmation", "delete")])


def test_the_cached_tracker_is_forgotten_through_the_wrapping_store() -> None:
    cache = tracker_cache.TrackerCache(size=4, seconds=600)
    tracker = DialogueStateTracker("abc", slots=[])
    tracker.update(UserUttered("hej"))

    class Inner:
        pass

    class Wrapper:
        pass

    inner, wrapper = Inner(), Wrapper()
    inner.__dict__["_tracker_cache"] = cache
    wrapper._tracker_store = inner  # type: ignore[attr-defined]
    cache.keep("abc", tracker, (1, 1))
    tracker_cache.forget(wrapper, "abc")
    assert len(cache) == 0


def test_a_kept_tracker_past_its_time_leaves_memory() -> None:
    cache = tracker_cache.TrackerCache(size=8, seconds=0.05)
    first = DialogueStateTracker("a", slots=[])
    cache.keep("a", first, (1, 1))
    time.sleep(0.1)
    cache.keep("b", DialogueStateTracker("b", slots=[]), (1, 1))
    assert len(cache) == 1  # "a" was not handed out, and is not held either
