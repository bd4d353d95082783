"""Migration 0004 (bot/store/migrations/versions/0004_widget_sessions.py) on SQLite and
PostgreSQL, with Rasa's own SQLTrackerStore making the events: a conversation whose every
message came over REST moves to ``rest:<sender>`` with its handoffs and reminders, so the same
REST client goes on in the same conversation; a widget's, a Telegram one and one that a REST
request wrote into (the attack of review C1) keep their ids. Nothing is lost; downgrade moves
the REST ones back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import text

from bot.reminders import reminder_name
from bot.store.db import downgrade, get_engine, session, upgrade
from bot.store.handoffs import request_handoff
from bot.store.models import Handoff, Reminder


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, SQLTrackerStore]]:
    if request.param == "sqlite":
        path = tmp_path / "rasa.db"
        yield f"sqlite:///{path}", SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(path))
        return
    from tests.production.services import postgres_database

    with postgres_database("test_mig4") as url:
        store = SQLTrackerStore(Domain.empty(), host=url)
        yield url, store
        store.engine.dispose()
        get_engine(url).dispose()


def save(store: SQLTrackerStore, conversation_id: str, *channels: str) -> None:
    tracker = DialogueStateTracker(conversation_id, slots=[])
    for n, channel in enumerate(channels):
        tracker.update(UserUttered(f"fråga {n}", input_channel=channel, timestamp=time.time()))
        tracker.update(BotUttered(f"svar {n}", timestamp=time.time()))
    asyncio.run(store.save(tracker))


def ids(url: str) -> dict[str, int]:
    with session(url) as db:
        rows = db.execute(text("SELECT sender_id, count(*) FROM events GROUP BY sender_id"))
        return {sender: count for sender, count in rows}


def test_rest_conversations_move_into_their_namespace_and_back(
    database: tuple[str, SQLTrackerStore],
) -> None:
    url, store = database
    upgrade(url, "0003")  # handoffs write audit rows into 0003's hash chain
    save(store, "curl-user", "rest", "rest")  # a REST client's
    save(store, "ab" * 16, "socketio")  # a widget's
    save(store, "123456789", "telegram", "rest")  # a Telegram one a REST request wrote into
    save(store, "987654321", "telegram")
    save(store, "with space", "rest")  # not a valid sender any more: left as it was
    with session(url) as db:
        request_handoff(db, conversation_id="curl-user", channel="rest", language="sv",
                        reason="request")  # fmt: skip
        db.add(Reminder(name=reminder_name("curl-user"), conversation_id="curl-user",
                        channel="rest", language="sv", kind="appeal", deadline=date(2027, 1, 1),
                        remind_at=datetime(2026, 12, 30, 9)))  # fmt: skip
        db.commit()
    before = ids(url)

    upgrade(url, "0004")  # (0005 then moves the Telegram ones to their pseudonyms)

    after = ids(url)
    assert after == {("rest:curl-user" if k == "curl-user" else k): v for k, v in before.items()}
    with session(url) as db:
        assert db.query(Handoff.conversation_id).scalar() == "rest:curl-user"
        reminder = db.query(Reminder).one()
        assert reminder.conversation_id == "rest:curl-user"
        assert reminder.name == reminder_name("rest:curl-user")
        assert db.execute(text("SELECT count(*) FROM widget_sessions")).scalar_one() == 0

    downgrade(url, "0003")
    assert ids(url) == before
    with session(url) as db:
        assert db.query(Handoff.conversation_id).scalar() == "curl-user"
        assert db.query(Reminder.name).scalar() == reminder_name("curl-user")
