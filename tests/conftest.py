"""Shared fixtures: a private database and settings per test, trackers built inline."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

ROOT = Path(__file__).resolve().parent.parent

# Every Rasa server the tests start checks each tracker it reuses from its cache against the
# database (bot/store/tracker_cache.py) and logs an error when they differ.
os.environ.setdefault("TRACKER_CACHE_VERIFY", "1")
# One key for Telegram pseudonyms (bot/pseudonyms.py) in the tests and every stack they start,
# so that a test can name a Telegram conversation: telegram_conversation_id(chat).
os.environ.setdefault("PSEUDONYM_KEY", "test-pseudonym-key_0123456789abcdefABCDEF")
# The abuse limits (bot/abuse.py) are off in the servers tests start, which send from one
# address faster than a person; tests of the limits set their own ABUSE_LIMITS.
os.environ.setdefault("ABUSE_LIMITS", "off")


@pytest.fixture()
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh SQLite database for this test; the actions' cached settings are reset."""
    url = f"sqlite:///{tmp_path / 'test.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("OFFICE_HOURS", "mon-sun 00:00-23:59")
    import actions.common
    import actions.handoff

    actions.common.settings.cache_clear()
    actions.common.office_hours.cache_clear()
    actions.handoff.store_url.cache_clear()
    yield url
    actions.common.settings.cache_clear()
    actions.common.office_hours.cache_clear()
    actions.handoff.store_url.cache_clear()


def make_tracker(
    text: str = "",
    intent: str | None = None,
    *,
    confidence: float = 0.95,
    slots: dict[str, Any] | None = None,
    entities: list[dict[str, Any]] | None = None,
    language: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    ranking: list[dict[str, Any]] | None = None,
    sender_id: str = "test-user",
    channel: str = "rest",
) -> Tracker:
    """A tracker as the action server receives it after one user message."""
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "entities": entities or [],
        "intent_ranking": ranking or [{"name": intent, "confidence": confidence}],
        "metadata": metadata or {},
    }
    if language is not None:
        latest["language"] = language
    all_slots = {
        "language": None, "country": None, "pending_confirmation": None,
        "fallback_count": 0.0, "intro_shown": False, "handoff_id": None,
    }  # fmt: skip
    all_slots.update(slots or {})
    events = [
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": text, "parse_data": latest, "input_channel": channel},
    ]
    return Tracker(sender_id, all_slots, latest, events, False, None, {}, "action_listen")


def texts(dispatcher: CollectingDispatcher) -> list[str]:
    return [m.get("text") or "" for m in dispatcher.messages]


def event_names(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"] if e["event"] != "slot" else f"slot:{e['name']}" for e in events]


@pytest.fixture()
def api():  # type: ignore[no-untyped-def]
    """A local fake of Telegram's Bot API (tests/telegram/fake_bot_api.py), started and stopped."""
    from tests.telegram.fake_bot_api import FakeBotAPI

    fake = FakeBotAPI().start()
    yield fake
    fake.stop()
