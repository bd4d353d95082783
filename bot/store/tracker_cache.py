"""Rasa's SQL tracker store, without rebuilding the conversation from the database on every
message when the database has not changed since this process saved it.

Rasa 3.6 loads a conversation for every message: every stored event of the session is read,
decoded from JSON, turned back into its class and replayed onto a new tracker; after the turn,
the tracker is saved, and with an event broker (the production profile) the whole session is
loaded a second time only to find which events are new. The cost grows with the conversation:
in `make bench` it was the largest single part of the Rasa process's time after the models.

Here the tracker this process has just saved is kept (a small LRU with a time limit). The next
time the conversation is needed, one small query (how many events the conversation has and
the highest event id) tells whether the database still holds exactly what was saved: no other
server, no deletion, no append through another process has touched it. Only then is the kept
tracker handed out, and it is handed out once (taken out of the cache): two readers never share
one object, and a tracker that is changed but not saved is never reused. Anything else (a miss,
another count, an id, the time limit, a tracker changed after it was saved, the database down)
is Rasa's own load.

A kept tracker must equal what Rasa's load would build: the latest session's events, replayed.
A tracker that still holds events before its latest session start (the first message of a
conversation, a session that started in this turn) is not kept. `TRACKER_CACHE_VERIFY=1` (the
tests) loads from the database on every hit as well and logs an error when the two differ
(compared as JSON, the form in which a tracker is stored and sent to the action server).

Saving: the rows Rasa's save stores, in the same order, inserted with one executemany (Rasa
builds an ORM object per event and flushes them one by one: twice the time on SQLite).
Rasa counts the stored events of the session with a query to find the unsaved ones.
For a tracker handed out from the cache that count is already known: the kept tracker's events,
which the database was just shown to hold (the conversation is locked for the turn). The count
also gives the events to stream to the broker, instead of a second load of the whole session
(Rasa's `stream_events`). A tracker loaded by Rasa, or saved a second time in a turn, is counted
by Rasa's query.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

# On a tracker handed out from the cache: (how many of its events are stored, the last of them)
STORED_ATTRIBUTE = "_stored_session_events"
# Rasa's own SQLTrackerStore.save, once the cache is installed (the tests compare the rows)
RASA_SAVE: Any = None
DEFAULT_SIZE = 128
DEFAULT_SECONDS = 600.0


@dataclass
class _Kept:
    tracker: Any
    marker: tuple[int, int | None]
    length: int
    last: Any
    kept_at: float


class TrackerCache:
    """Conversation id -> the tracker last saved by this process, with its database marker."""

    def __init__(self, size: int = DEFAULT_SIZE, seconds: float = DEFAULT_SECONDS) -> None:
        self.size = size
        self.seconds = seconds
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def keep(self, sender_id: str, tracker: Any, marker: tuple[int, int | None]) -> None:
        if self.size <= 0:
            return
        events = tracker.events
        self._kept[sender_id] = _Kept(
            tracker, marker, len(events), events[-1] if events else None, time.monotonic()
        )
        self._kept.move_to_end(sender_id)
        while len(self._kept) > self.size:
            self._kept.popitem(last=False)
        # past the time limit an entry is never handed out: not kept in memory either (a
        # conversation deleted through another server is gone from here within that time)
        now = time.monotonic()
        while self._kept:
            oldest = next(iter(self._kept.values()))
            if now - oldest.kept_at <= self.seconds:
                break
            self._kept.popitem(last=False)

    def take(self, sender_id: str) -> _Kept | None:
        """The kept entry (removed from the cache), if it is recent and its tracker unchanged."""
        kept = self._kept.pop(sender_id, None)
        if kept is None:
            return None
        events = kept.tracker.events
        if (
            time.monotonic() - kept.kept_at > self.seconds
            or len(events) != kept.length
            or (events[-1] if events else None) is not kept.last
        ):
            return None
        return kept

    def forget(self, sender_id: str) -> None:
        self._kept.pop(sender_id, None)

    def __len__(self) -> int:
        return len(self._kept)


def forget(store: Any, sender_id: str) -> None:
    """Drop the kept tracker of a conversation that was deleted (bot/deletion.py), from the
    store and from any store it wraps (Rasa's FailSafeTrackerStore)."""
    while store is not None:
        cache = getattr(store, "__dict__", {}).get("_tracker_cache")
        if cache is not None:
            cache.forget(sender_id)
        store = getattr(store, "_tracker_store", None)


def _settings() -> tuple[int, float, bool]:
    size = int(os.environ.get("TRACKER_CACHE_SIZE", DEFAULT_SIZE))
    seconds = float(os.environ.get("TRACKER_CACHE_SECONDS", DEFAULT_SECONDS))
    verify = os.environ.get("TRACKER_CACHE_VERIFY", "") not in ("", "0", "false")
    return size, seconds, verify


def starts_with_its_session(tracker: Any) -> bool:
    """True when the tracker's events are exactly what Rasa's load of the latest session gives:
    no session start after the first event (a load starts at the latest one)."""
    from rasa.shared.core.events import SessionStarted

    return not any(
        isinstance(event, SessionStarted) for event in itertools.islice(tracker.events, 1, None)
    )


def as_json(state: dict) -> Any:
    """A tracker state as stored and as sent to the action server: tuples become lists (the
    token offsets in ``parse_data`` are tuples in memory, lists once loaded)."""
    return json.loads(json.dumps(state, default=repr))


def describe_difference(kept: dict, stored: dict) -> str:
    """Where two tracker states differ, by key names and event types only (no texts)."""
    parts = [key for key in sorted(set(kept) | set(stored)) if key != "events"
             and kept.get(key) != stored.get(key)]  # fmt: skip
    ours, theirs = kept.get("events") or [], stored.get("events") or []
    if ours != theirs:
        if len(ours) != len(theirs):
            parts.append(f"events: {len(ours)} kept, {len(theirs)} stored")
        for i, (a, b) in enumerate(zip(ours, theirs, strict=False)):
            if a != b:
                keys = [
                    f"{k}.{sorted(j for j in set(a[k]) | set(b[k]) if a[k].get(j) != b[k].get(j))}"
                    if isinstance(a.get(k), dict) and isinstance(b.get(k), dict) else k
                    for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)
                ]  # fmt: skip
                parts.append(f"event {i} ({a.get('event')}/{b.get('event')}): {keys}")
                break
    return "; ".join(parts)


def built_once(store: Any, name: str, build: Any) -> Any:
    """``build(events table)``, made once per store and kept on it (a statement built again per
    query costs more than running it: SQLAlchemy makes its cache key anew each time)."""
    statement = store.__dict__.get(name)
    if statement is None:
        statement = store.__dict__[name] = build(store.SQLEvent.__table__)
    return statement


def install() -> None:
    """Patch Rasa's SQLTrackerStore (both profiles use it) with the cache described above."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.trackers import EventVerbosity
    from rasa.shared.nlu.constants import INTENT_NAME_KEY

    if getattr(SQLTrackerStore, "_tracker_cache_installed", False):
        return
    size, seconds, verify = _settings()
    original_retrieve = SQLTrackerStore.retrieve

    def cache_of(store: SQLTrackerStore) -> TrackerCache:
        cache = store.__dict__.get("_tracker_cache")
        if cache is None:
            cache = store.__dict__["_tracker_cache"] = TrackerCache(size, seconds)
        return cache

    def marker(store: SQLTrackerStore, session: Any, sender_id: str) -> tuple[int, int | None]:
        # one statement per store, the conversation id a parameter: building the statement
        # and its cache key anew cost more than running it (340 of 480 us on SQLite)
        def build(events: Any) -> Any:
            import sqlalchemy as sa

            return sa.select(sa.func.count(events.c.id), sa.func.max(events.c.id)).where(
                events.c.sender_id == sa.bindparam("sender_id")
            )

        statement = built_once(store, "_marker_statement", build)
        count, highest = session.execute(statement, {"sender_id": sender_id}).one()
        return int(count), highest

    async def retrieve(self: SQLTrackerStore, sender_id: str) -> Any:
        cache = cache_of(self)
        kept = cache.take(sender_id)
        if kept is not None:
            with self.session_scope() as session:
                current = marker(self, session, sender_id)
            if current == kept.marker:
                cache.hits += 1
                if verify:
                    stored = await original_retrieve(self, sender_id)
                    difference = (
                        "no stored tracker" if stored is None else describe_difference(
                            as_json(kept.tracker.current_state(EventVerbosity.ALL)),
                            as_json(stored.current_state(EventVerbosity.ALL)),
                        )
                    )  # fmt: skip
                    if difference:
                        logger.error(
                            "tracker cache: the kept tracker differs from the stored one (%s)",
                            difference,
                        )
                        return stored
                    logger.info("tracker cache: a kept tracker was verified against the database")
                # what Rasa's save would count as this session's stored events (see save below)
                kept.tracker.__dict__[STORED_ATTRIBUTE] = (kept.length, kept.last)
                return kept.tracker
        cache.misses += 1
        return await original_retrieve(self, sender_id)

    def stored_count(store: SQLTrackerStore, session: Any, tracker: Any) -> int:
        """How many of the tracker's session events are stored: Rasa's count query, or, for a
        tracker handed out above and only appended to since, what it counted at that moment."""
        known = tracker.__dict__.get(STORED_ATTRIBUTE)
        if known is not None:
            length, last = known
            events = tracker.events
            if len(events) >= length and (length == 0 or events[length - 1] is last):
                if verify:
                    counted = store._event_query(session, tracker.sender_id, False).count()
                    if counted != length:
                        logger.error("tracker cache: %d stored events known, %d counted",
                                     length, counted)  # fmt: skip
                        return counted
                return length
        return store._event_query(session, tracker.sender_id, False).count()

    async def stream_events(self: SQLTrackerStore, tracker: Any) -> None:
        # Rasa's stream_events loads the whole session again to count it; the count is enough
        if self.event_broker is None:
            return None
        with self.session_scope() as session:
            stored = stored_count(self, session, tracker)
        new_events = list(itertools.islice(tracker.events, stored, len(tracker.events)))
        await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)

    def _additional_events(self: SQLTrackerStore, session: Any, tracker: Any) -> Any:
        # Rasa's: the events after the stored ones, counted as above; known once per retrieve
        stored = stored_count(self, session, tracker)
        tracker.__dict__.pop(STORED_ATTRIBUTE, None)
        return itertools.islice(tracker.events, stored, len(tracker.events))

    original_save = SQLTrackerStore.save

    async def store_new_events(self: SQLTrackerStore, tracker: Any) -> None:
        """Rasa's ``SQLTrackerStore.save``: the same rows, in event order, inserted with one
        executemany instead of an ORM object per event and the ORM's flush."""
        await self.stream_events(tracker)
        with self.session_scope() as session:
            rows = []
            for event in self._additional_events(session, tracker):
                data = event.as_dict()
                rows.append({
                    "sender_id": tracker.sender_id,
                    "type_name": event.type_name,
                    "timestamp": data.get("timestamp"),
                    "intent_name": data.get("parse_data", {}).get("intent", {}).get(
                        INTENT_NAME_KEY
                    ),
                    "action_name": data.get("name"),
                    "data": json.dumps(data),
                })  # fmt: skip
            if rows:
                import sqlalchemy as sa

                session.execute(built_once(self, "_insert_statement", sa.insert), rows)
            session.commit()

    async def save(self: SQLTrackerStore, tracker: Any) -> None:
        cache = cache_of(self)
        cache.forget(tracker.sender_id)
        await store_new_events(self, tracker)
        if self.domain and tracker.events and starts_with_its_session(tracker):
            with self.session_scope() as session:
                saved = marker(self, session, tracker.sender_id)
            # the database holds every session, the tracker the latest one: fewer stored events
            # than the tracker has means someone deleted the conversation meanwhile
            if saved[0] >= len(tracker.events) and saved[1] is not None:
                cache.keep(tracker.sender_id, tracker, saved)

    SQLTrackerStore.retrieve = retrieve  # type: ignore[method-assign]
    SQLTrackerStore.stream_events = stream_events  # type: ignore[method-assign]
    SQLTrackerStore._additional_events = _additional_events  # type: ignore[method-assign]
    global RASA_SAVE
    RASA_SAVE = original_save
    SQLTrackerStore.save = save  # type: ignore[method-assign]
    SQLTrackerStore._tracker_cache_installed = True  # type: ignore[attr-defined]
