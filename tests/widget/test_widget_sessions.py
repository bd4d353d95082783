"""Widget sessions (bot/store/widget_sessions.py, bot/channels/socketio.py; issue 20, review M1):
the browser holds an opaque handle, never the conversation's id; sessions expire unused after
the retention period, end with "Clear", "Leave quickly" and "delete my data", and a tab of an
ended session can write nothing more. Old v1 tokens are honoured once, to move an ongoing
conversation to a handle.

A real Sanic server with the channel and real socket.io clients (tests/widget/sockets.py), a
real SQLite database per test whose ``events`` table is made by Rasa's own SQLTrackerStore.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import select

from bot.channels.socketio import SessionTokens, SocketIOInput
from bot.store import retention, widget_sessions
from bot.store.db import init_db, session
from bot.store.models import WidgetSession, utcnow
from tests.widget.sockets import ORIGIN, SECRET, StandInAgent, clients, serve

DAYS = 30


@pytest.fixture()
def db(tmp_path: Path) -> Iterator[tuple[str, SQLTrackerStore]]:
    """A database with Rasa's events table and the project's tables at the newest migration."""
    path = tmp_path / "rasa.db"
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(path))
    url = f"sqlite:///{path}"
    init_db(url)
    yield url, store


def channel(url: str, **overrides) -> SocketIOInput:  # type: ignore[no-untyped-def]
    options = {"session_secret": SECRET, "allowed_origins": [ORIGIN], "database_url": url,
               "session_days": DAYS}  # fmt: skip
    options.update(overrides)
    return SocketIOInput(**options)


def row_of(url: str, token: str) -> WidgetSession | None:
    handle = widget_sessions.handle_of(token)
    assert handle is not None
    with session(url) as s:
        return s.get(WidgetSession, widget_sessions.handle_hash(handle))


def conversation_of(url: str, token: str) -> str:
    row = row_of(url, token)
    assert row is not None
    return row.conversation_id


async def save_message(store: SQLTrackerStore, conversation_id: str, text: str = "hej") -> None:
    """A user message stored by Rasa's own SQL store."""
    tracker = DialogueStateTracker(conversation_id, slots=[])
    tracker.update(UserUttered(text, timestamp=time.time()))
    await store.save(tracker)


def save_user_message(store: SQLTrackerStore, conversation_id: str, text: str = "hej") -> None:
    asyncio.run(save_message(store, conversation_id, text))


# -- the store ---------------------------------------------------------------------------------


def test_the_token_is_a_random_handle_and_the_database_holds_only_its_hash(
    db: tuple[str, SQLTrackerStore], tmp_path: Path
) -> None:
    url, _ = db
    with session(url) as s:
        lives = [widget_sessions.start(s, days=DAYS) for _ in range(200)]
    tokens = [live.token for live in lives]
    assert len(set(tokens)) == 200 and len({live.conversation_id for live in lives}) == 200
    for live in lives:
        assert live.token and live.token.startswith("v2.") and len(live.token) == 46
        assert live.conversation_id not in live.token
        handle = live.token[3:]
        assert live.handle_hash == hashlib.sha256(handle.encode()).hexdigest()
    stored = (tmp_path / "rasa.db").read_bytes()
    for live in lives[:20]:  # the database file holds no handle, only its hash
        assert live.token[3:].encode() not in stored


def test_a_session_unused_for_the_retention_period_expires_and_use_moves_it_on(
    db: tuple[str, SQLTrackerStore],
) -> None:
    url, _ = db
    with session(url) as s:
        live = widget_sessions.start(s, days=DAYS)
        now = utcnow()
        row = s.get(WidgetSession, live.handle_hash)
        assert abs(row.expires_at - (now + timedelta(days=DAYS))) < timedelta(seconds=5)
        # used after 10 days: it lasts DAYS from then
        later = now + timedelta(days=10)
        assert widget_sessions.find(s, hashed=live.handle_hash, days=DAYS, now=later)
        s.refresh(row)
        assert abs(row.expires_at - (later + timedelta(days=DAYS))) < timedelta(seconds=5)
        # unused for DAYS after that: gone
        gone = later + timedelta(days=DAYS, seconds=1)
        assert widget_sessions.find(s, hashed=live.handle_hash, days=DAYS, now=gone) is None
        # within an hour of the last move it is not written again
        before = row.expires_at
        assert widget_sessions.find(s, hashed=live.handle_hash, days=DAYS,
                                    now=later + timedelta(minutes=30))  # fmt: skip
        s.refresh(row)
        assert row.expires_at == before


def test_revoked_and_deleted_sessions_open_nothing(db: tuple[str, SQLTrackerStore]) -> None:
    url, _ = db
    with session(url) as s:
        cleared = widget_sessions.start(s, days=DAYS)
        deleted = widget_sessions.start(s, days=DAYS)
        assert widget_sessions.revoke(s, hashed=cleared.handle_hash) == cleared.conversation_id
        assert widget_sessions.revoke(s, hashed=cleared.handle_hash) is None  # once
        assert widget_sessions.resume(s, token=cleared.token, days=DAYS) is None
        retention.delete_conversation(s, conversation_id=deleted.conversation_id, by_person=True)
        assert widget_sessions.resume(s, token=deleted.token, days=DAYS) is None
        assert s.get(WidgetSession, deleted.handle_hash) is None


def test_the_purge_removes_ended_sessions_of_conversations_without_events(
    db: tuple[str, SQLTrackerStore],
) -> None:
    url, store = db
    with session(url) as s:
        unused = widget_sessions.start(s, days=DAYS)  # opened, never written to
        written = widget_sessions.start(s, days=DAYS)
        kept = widget_sessions.start(s, days=DAYS)  # live
        for live in (unused, written):
            s.get(WidgetSession, live.handle_hash).expires_at = utcnow() - timedelta(seconds=1)
        s.commit()
    save_user_message(store, written.conversation_id)
    with session(url) as s:
        retention.purge(s, older_than_days=DAYS)
        left = set(s.execute(select(WidgetSession.handle_hash)).scalars())
    # the written conversation's row stays while its events do (it is what makes an old
    # token's migration "once"); it goes with them
    assert left == {written.handle_hash, kept.handle_hash}


# -- the channel -------------------------------------------------------------------------------


async def test_an_expired_token_starts_a_new_conversation_without_history(
    db: tuple[str, SQLTrackerStore],
) -> None:
    url, _ = db
    agent = StandInAgent()
    async with serve(channel(url), agent) as server, clients(server) as [tab]:
        token = (await tab.session())["token"]
        await tab.say({"message": "hej"})
        await tab.next("bot_uttered")
        with session(url) as s:
            s.get(WidgetSession, row_of(url, token).handle_hash).expires_at = (
                utcnow() - timedelta(seconds=1))  # fmt: skip
            s.commit()
        confirm = await tab.session(token)
        assert confirm["resumed"] is False and confirm["token"] != token
        assert conversation_of(url, confirm["token"]) != agent.received[0].sender_id
        assert await tab.nothing("history", wait=0.3)


async def test_clear_ends_the_session_for_every_tab_and_starts_a_new_conversation(
    db: tuple[str, SQLTrackerStore],
) -> None:
    url, _ = db
    agent = StandInAgent()
    async with serve(channel(url), agent) as server, clients(server, 2) as [tab1, tab2]:
        token = (await tab1.session())["token"]
        old = conversation_of(url, token)
        assert (await tab2.session(token))["resumed"] is True
        await tab1.say({"message": "hej"})
        # "Clear" in tab 1: its old session ends, a new conversation begins
        fresh = await tab1.session_end(token)
        assert fresh["resumed"] is False
        assert conversation_of(url, fresh["token"]) != old
        assert row_of(url, token).revoked_at is not None
        # tab 2 is told, and can write nothing more into the old conversation
        assert (await tab2.next("session_ended")) == {"reason": "cleared"}
        before = len(agent.received)
        ack = await tab2.say({"message": "still there?"})
        assert ack == {"ok": False, "error": "no_session"} or ack == {
            "ok": False, "error": "session_ended"}  # fmt: skip
        assert len(agent.received) == before
        # the old token resumes nothing
        assert (await tab2.session(token))["resumed"] is False
        assert await tab1.nothing("session_ended", wait=0.3)  # the tab that cleared is not told
    assert all(m.sender_id == old for m in agent.received)


async def test_a_tab_left_in_an_ended_conversation_cannot_write(
    db: tuple[str, SQLTrackerStore],
) -> None:
    """Ended elsewhere (another server, the action server's deletion): the message checks."""
    url, _ = db
    agent = StandInAgent()
    async with serve(channel(url), agent) as server, clients(server) as [tab]:
        token = (await tab.session())["token"]
        with session(url) as s:
            widget_sessions.revoke(s, hashed=row_of(url, token).handle_hash)
        ack = await tab.say({"message": "hej"})
        assert ack == {"ok": False, "error": "session_ended"}
        assert (await tab.next("session_ended")) == {"reason": "ended"}
        assert agent.received == []
        assert (await tab.say({"message": "hej"})) == {"ok": False, "error": "no_session"}


async def test_leave_quickly_beacon_ends_the_session(db: tuple[str, SQLTrackerStore]) -> None:
    url, _ = db
    async with serve(channel(url)) as server, clients(server) as [other_tab]:
        token = (await other_tab.session())["token"]
        async with httpx.AsyncClient() as http:
            # what navigator.sendBeacon sends: the token as text/plain, cross-origin
            answer = await http.post(f"{server}/socket.io/end", content=token,
                                     headers={"Content-Type": "text/plain;charset=UTF-8",
                                              "Origin": ORIGIN})  # fmt: skip
            assert answer.status_code == 204
            assert row_of(url, token).revoked_at is not None
            assert (await other_tab.next("session_ended")) == {"reason": "ended"}
            # the same answer for anything else: nothing to learn by trying
            for junk in ("", token, "v2." + "A" * 43, "x" * 5000):
                assert (await http.post(f"{server}/socket.io/end", content=junk)).status_code == 204
        assert (await other_tab.session(token))["resumed"] is False


async def test_deleted_every_tab_is_told_with_the_text_and_hears_nothing_more(
    db: tuple[str, SQLTrackerStore],
) -> None:
    url, _ = db
    async with serve(chan := channel(url)) as server, clients(server, 3) as [tab1, tab2, other]:
        token = (await tab1.session())["token"]
        await tab2.session(token)
        await other.session()
        conversation = conversation_of(url, token)
        output = chan.get_output_channel()
        await output.conversation_deleted(conversation, "Ditt samtal är raderat.")
        for tab in (tab1, tab2):
            assert (await tab.next("session_ended")) == {
                "reason": "deleted", "text": "Ditt samtal är raderat."}  # fmt: skip
        assert await other.nothing("session_ended", wait=0.3)
        await output.send_text_message(conversation, "after the deletion")
        assert await tab1.nothing("bot_uttered", wait=0.5)
        assert await tab2.nothing("bot_uttered", wait=0.1)


async def test_an_old_token_is_honoured_once_to_move_to_a_handle(
    db: tuple[str, SQLTrackerStore],
) -> None:
    url, store = db
    ongoing = "ab" * 16
    await save_message(store, ongoing, "mitt ärende")
    never_written = "cd" * 16
    v1 = SessionTokens(SECRET)
    async with serve(channel(url), StandInAgent(tracker_store=store)) as server:
        async with clients(server) as [tab]:
            moved = await tab.session(v1.token_for(ongoing))
            assert moved["resumed"] is True and moved["token"].startswith("v2.")
            assert conversation_of(url, moved["token"]) == ongoing
            history = await tab.next("history")
            assert [m["text"] for m in history["messages"]] == ["mitt ärende"]
        async with clients(server, 2) as [again, unknown]:
            # the same old token a second time (a copy of it, say): a new conversation
            second = await again.session(v1.token_for(ongoing))
            assert second["resumed"] is False
            assert conversation_of(url, second["token"]) != ongoing
            # an old token of a conversation with nothing stored (deleted, purged)
            third = await unknown.session(v1.token_for(never_written))
            assert third["resumed"] is False
            assert conversation_of(url, third["token"]) != never_written
        async with clients(server) as [same_person]:
            assert (await same_person.session(moved["token"]))["resumed"] is True


async def test_the_database_away_means_try_again_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    url = f"sqlite:///{tmp_path / 'db'}"  # a directory: no database can be opened there
    async with serve(channel(url)) as server, clients(server) as [tab]:
        await tab.sio.emit("session_request", {})
        assert (await tab.next("session_unavailable")) == {}
        assert await tab.nothing("session_confirm", wait=0.3)
        assert (await tab.say({"message": "hej"})) == {"ok": False, "error": "no_session"}
