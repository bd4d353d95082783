"""The tracker cache (bot/store/tracker_cache.py) on Rasa's real SQLTrackerStore and SQLite: a
kept tracker is reused only while the database holds exactly what this process saved."""

from __future__ import annotations

import json
import logging
import os
import time

import pytest
import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from bot.rasa_speed import install
from bot.store.tracker_cache import TrackerCache

DOMAIN = Domain.from_yaml(
    "version: '3.1'\nintents: [greet, ask]\nslots:\n  language:\n    type: text\n"
    "    mappings: [{type: custom}]\n"
)


def turn(i: int) -> list:
    return [
        UserUttered(f"fråga {i}", {"name": "ask", "confidence": 0.9}, input_channel="rest"),
        SlotSet("language", "sv" if i % 2 else "ar"),
        ActionExecuted("action_answer"),
        BotUttered(f"svar {i}"),
        ActionExecuted("action_listen"),
    ]


def session_events(turns: int) -> list:
    events = [SessionStarted(), ActionExecuted("action_listen")]
    for i in range(turns):
        events += turn(i)
    return events


@pytest.fixture()
def stores(tmp_path):  # type: ignore[no-untyped-def]
    """Two Rasa SQL stores on one database: this server and another one."""
    install()
    path = str(tmp_path / "t.db")
    return SQLTrackerStore(DOMAIN, dialect="sqlite", db=path), SQLTrackerStore(
        DOMAIN, dialect="sqlite", db=path
    )


def state(tracker: DialogueStateTracker) -> dict:
    return tracker.current_state(EventVerbosity.ALL)


async def test_saved_tracker_is_reused_once_and_equals_the_stored_one(stores, caplog) -> None:
    here, other = stores
    tracker = DialogueStateTracker.from_events("s", session_events(3), slots=DOMAIN.slots)
    await here.save(tracker)
    with caplog.at_level(logging.INFO, logger="bot.store.tracker_cache"):
        again = await here.retrieve("s")
    assert again is tracker  # no load, no replay
    assert "verified against the database" in caplog.text  # the tests' TRACKER_CACHE_VERIFY=1
    assert state(again) == state(await other.retrieve("s"))
    # handed out once: a second reader gets its own tracker, built from the database
    second = await here.retrieve("s")
    assert second is not tracker and state(second) == state(tracker)


async def test_a_turn_saved_then_the_next_turn_continues_from_the_kept_tracker(stores) -> None:
    here, other = stores
    tracker = DialogueStateTracker.from_events("s", session_events(1), slots=DOMAIN.slots)
    await here.save(tracker)
    for i in range(1, 6):
        current = await here.retrieve("s")
        assert current is tracker
        for event in turn(i):
            current.update(event)
        await here.save(current)
    stored = await other.retrieve("s")
    assert state(stored) == state(tracker) and len(stored.events) == 2 + 6 * 5


async def test_another_server_writing_means_a_fresh_load(stores) -> None:
    here, other = stores
    tracker = DialogueStateTracker.from_events("s", session_events(2), slots=DOMAIN.slots)
    await here.save(tracker)
    there = await other.retrieve("s")
    for event in turn(7):
        there.update(event)
    await other.save(there)
    current = await here.retrieve("s")
    assert current is not tracker
    assert state(current) == state(there) and current.latest_message.text == "fråga 7"


async def test_a_deleted_conversation_is_not_served_from_the_cache(stores) -> None:
    here, _ = stores
    tracker = DialogueStateTracker.from_events("s", session_events(2), slots=DOMAIN.slots)
    await here.save(tracker)
    with here.engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM events WHERE sender_id = 's'"))
    assert await here.retrieve("s") is None


async def test_a_tracker_changed_after_saving_is_not_reused(stores) -> None:
    here, _ = stores
    tracker = DialogueStateTracker.from_events("s", session_events(2), slots=DOMAIN.slots)
    await here.save(tracker)
    tracker.update(UserUttered("not saved", {"name": "greet"}))
    current = await here.retrieve("s")
    assert current is not tracker and current.latest_message.text == "fråga 1"


async def test_a_tracker_holding_more_than_its_latest_session_is_not_kept(stores) -> None:
    """Rasa's first turn keeps action_session_start before the session start; a load does not
    return it: such a tracker is never reused (it would differ from Rasa's load)."""
    here, other = stores
    events = [ActionExecuted("action_session_start"), *session_events(1)]
    tracker = DialogueStateTracker.from_events("s", events, slots=DOMAIN.slots)
    await here.save(tracker)
    current = await here.retrieve("s")
    assert current is not tracker
    assert state(current) == state(await other.retrieve("s"))
    assert current.events[0].type_name == "session_started"
    # a session that started in this turn, likewise
    old_and_new = [*session_events(1), *session_events(1)]
    tracker = DialogueStateTracker.from_events("t", old_and_new, slots=DOMAIN.slots)
    await here.save(tracker)
    current = await here.retrieve("t")
    assert current is not tracker and len(current.events) == len(session_events(1))


async def test_a_stored_event_changed_in_place_is_caught_by_verification(stores, caplog) -> None:
    """Nothing here changes stored events in place; if anything did, the tests' verification
    would say so and the stored tracker would be used."""
    here, _ = stores
    tracker = DialogueStateTracker.from_events("s", session_events(1), slots=DOMAIN.slots)
    await here.save(tracker)
    with here.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE events SET data = replace(data, 'svar 0', 'ändrat') "
                    "WHERE sender_id = 's'")
        )  # fmt: skip
    with caplog.at_level(logging.INFO, logger="bot.store.tracker_cache"):
        current = await here.retrieve("s")
    assert "differs from the stored one" in caplog.text
    assert current is not tracker and current.latest_bot_utterance.text == "ändrat"


class RecordingBroker(EventBroker):
    def __init__(self) -> None:
        self.published: list[dict] = []

    def publish(self, event: dict) -> None:
        self.published.append(event)

    def is_ready(self) -> bool:
        return True


async def test_events_streamed_to_the_broker_are_rasas_new_events(tmp_path) -> None:
    from rasa.shared.core.trackers import TrackerEventDiffEngine

    install()
    broker = RecordingBroker()
    path = str(tmp_path / "t.db")
    here = SQLTrackerStore(DOMAIN, dialect="sqlite", db=path, event_broker=broker)
    other = SQLTrackerStore(DOMAIN, dialect="sqlite", db=path)
    first = session_events(2)
    tracker = DialogueStateTracker.from_events("s", first, slots=DOMAIN.slots)
    await here.save(tracker)
    assert [e["event"] for e in broker.published] == [e.type_name for e in first]
    broker.published.clear()
    current = await here.retrieve("s")
    before = await other.retrieve("s")  # what Rasa's stream_events would have loaded
    for event in turn(5):
        current.update(event)
    expected = TrackerEventDiffEngine.event_difference(before, current)
    await here.save(current)
    assert broker.published == [{"sender_id": "s", **e.as_dict()} for e in expected]
    assert len(expected) == 5


def test_cache_size_and_time_limit() -> None:
    tracker = DialogueStateTracker.from_events("a", session_events(1), slots=DOMAIN.slots)
    cache = TrackerCache(size=2, seconds=60)
    for name in ("a", "b", "c"):
        cache.keep(name, tracker, (1, 1))
    assert len(cache) == 2 and cache.take("a") is None  # the oldest went
    assert cache.take("c") is not None and cache.take("c") is None  # taken once
    expired = TrackerCache(size=2, seconds=0.01)
    expired.keep("a", tracker, (1, 1))
    time.sleep(0.05)
    assert expired.take("a") is None
    off = TrackerCache(size=0)
    off.keep("a", tracker, (1, 1))
    assert len(off) == 0


def test_the_tests_run_with_verification_on() -> None:
    assert os.environ.get("TRACKER_CACHE_VERIFY") == "1"


async def test_the_stored_count_of_a_kept_tracker_is_known_and_verified(stores, caplog) -> None:
    """Saving a tracker handed out from the cache needs no count query: the count is the kept
    tracker's length. With verification on (the tests) Rasa's count runs too: an event written
    behind the conversation lock's back (which a locked turn never sees) shows up as an error."""
    from bot.store.tracker_cache import STORED_ATTRIBUTE

    here, other = stores
    tracker = DialogueStateTracker.from_events("s", session_events(2), slots=DOMAIN.slots)
    await here.save(tracker)
    current = await here.retrieve("s")
    assert current is tracker and current.__dict__[STORED_ATTRIBUTE][0] == len(tracker.events)
    for event in turn(5):
        current.update(event)
    with caplog.at_level(logging.ERROR, logger="bot.store.tracker_cache"):
        await here.save(current)
    assert not caplog.records
    assert state(await other.retrieve("s")) == state(tracker)
    # the next turn: a row appears that this server did not write, after the check
    current = await here.retrieve("s")
    assert current is tracker
    with here.engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data) "
            "SELECT sender_id, type_name, timestamp, intent_name, action_name, data FROM events "
            "WHERE sender_id = 's' ORDER BY id DESC LIMIT 1"))  # fmt: skip
    for event in turn(6):
        current.update(event)
    with caplog.at_level(logging.ERROR, logger="bot.store.tracker_cache"):
        await here.save(current)
    assert "stored events known" in caplog.text


def stored_rows(store: SQLTrackerStore, sender_id: str) -> list[tuple]:
    events = store.SQLEvent.__table__
    with store.session_scope() as session:
        return [tuple(row) for row in session.execute(
            sa.select(events.c.type_name, events.c.timestamp, events.c.intent_name,
                      events.c.action_name, events.c.data)
            .where(events.c.sender_id == sender_id).order_by(events.c.id)
        )]  # fmt: skip


def database_urls(tmp_path) -> list[dict]:  # type: ignore[no-untyped-def]
    """SQLite (make run) and, where it runs, PostgreSQL (the production profile)."""
    urls = [{"dialect": "sqlite", "db": str(tmp_path / "rows.db")}]
    postgres = {"dialect": "postgresql", "host": "127.0.0.1", "db": "test",
                "username": os.environ.get("PGUSER", "postgres")}  # fmt: skip
    try:
        sa.create_engine(f"postgresql://{postgres['username']}@127.0.0.1/test").connect().close()
        urls.append(postgres)
    except Exception:  # noqa: BLE001 - no PostgreSQL here: SQLite alone
        pass
    return urls


async def test_saved_rows_equal_the_rows_rasas_save_stores(tmp_path) -> None:
    """The executemany save stores exactly Rasa's rows, in event order, turn after turn (also
    a turn of 40 events in one save), on SQLite and PostgreSQL."""
    from rasa.core.tracker_store import SQLTrackerStore as Store

    install()
    from bot.store import tracker_cache

    rasa_save = tracker_cache.RASA_SAVE
    for kwargs in database_urls(tmp_path):
        store = Store(DOMAIN, **kwargs)
        ours, theirs = f"ours-{time.time_ns()}", f"theirs-{time.time_ns()}"
        events = session_events(1)
        tracker_ours = DialogueStateTracker.from_events(ours, events, slots=DOMAIN.slots)
        tracker_theirs = DialogueStateTracker.from_events(theirs, events, slots=DOMAIN.slots)
        for more in ([], turn(1), turn(2) * 8):
            for event in more:
                tracker_ours.update(event)
                tracker_theirs.update(event)
            await store.save(tracker_ours)
            await rasa_save(store, tracker_theirs)
            rows = stored_rows(store, ours)
            assert rows == stored_rows(store, theirs)
            assert [json.loads(data) for *_, data in rows] == [
                event.as_dict() for event in tracker_theirs.events
            ]
        assert len(rows) == 2 + 5 + 5 + 40
        with store.session_scope() as session:
            events_table = store.SQLEvent.__table__
            session.execute(sa.delete(events_table).where(
                events_table.c.sender_id.in_([ours, theirs])))  # fmt: skip
            session.commit()
