"""Telegram user ids are the key of nothing stored (issue 20, review L8): conversations are
``tg:<pseudonym>``, the chat id needed to send is kept encrypted and deleted with the
conversation, and Alembic 0005 moves existing conversations to their pseudonym, nothing lost
(SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import date, datetime

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import create_engine, inspect, text

from bot import pseudonyms
from bot.reminders import reminder_name
from bot.store import retention
from bot.store.db import downgrade, get_engine, session, upgrade
from tests.telegram import updates as u
from tests.telegram.fake_bot_api import FakeBotAPI
from tests.telegram.harness import PSEUDONYM_KEY
from tests.telegram.test_channel import echo

CHAT = 612345678  # a Telegram user id


def test_the_pseudonym_is_the_agreed_hmac() -> None:
    """SEC_COMMON decision 1, computed independently."""
    digest = hmac.new(PSEUDONYM_KEY.encode(), b"telegram:612345678", hashlib.sha256).digest()
    expected = "tg:" + base64.b32encode(digest).decode()[:26].lower()
    assert pseudonyms.telegram_conversation_id(CHAT) == expected
    assert pseudonyms.telegram_conversation_id(str(CHAT)) == expected
    assert pseudonyms.is_telegram_conversation(expected)
    assert str(CHAT) not in expected
    other = pseudonyms.telegram_conversation_id(CHAT, b"another key, another deployment!")
    assert other != expected and pseudonyms.is_telegram_conversation(other)
    for not_a_chat in ("", "12a", "tg:abc", "1" * 21):
        with pytest.raises(ValueError):
            pseudonyms.pseudonym(not_a_chat)


def test_the_chat_id_is_stored_encrypted_and_bound_to_its_row() -> None:
    conversation = pseudonyms.telegram_conversation_id(CHAT)
    sealed = pseudonyms.seal(conversation, CHAT)
    assert str(CHAT) not in sealed and pseudonyms.unseal(conversation, sealed) == CHAT
    assert pseudonyms.seal(conversation, CHAT) != sealed  # a fresh nonce each time
    with pytest.raises(InvalidTag):  # moved to another conversation's row: refused
        pseudonyms.unseal(pseudonyms.telegram_conversation_id(CHAT + 1), sealed)


def every_value(url: str) -> str:
    engine = get_engine(url)
    with engine.connect() as connection:
        return "\n".join(
            str(v) for table in inspect(engine).get_table_names()
            for row in connection.execute(text(f'SELECT * FROM "{table}"')) for v in row
        )  # fmt: skip


def test_the_channel_stores_nothing_under_the_telegram_id_and_deletion_forgets_the_chat(
    make_server, fake_api: FakeBotAPI, database_url: str
) -> None:
    server = make_server(responder=echo)
    assert server.post(u.text_update(CHAT, "hej")).status_code == 200
    fake_api.wait_for(lambda: fake_api.texts(CHAT) == ["echo: hej"])
    conversation = pseudonyms.telegram_conversation_id(CHAT)
    [received] = server.all_received()
    assert received.sender_id == conversation
    assert str(CHAT) not in every_value(database_url)  # the mapping row holds it encrypted
    with session(database_url) as db:
        assert pseudonyms.chat_id_for(db, conversation) == CHAT

    # a counsellor's reply (Rasa's HTTP API, output_channel=latest) reaches the chat
    out = server.channel.get_output_channel()
    server.run(out.send_response(conversation, {"text": "Hej från Sara"}))
    assert fake_api.texts(CHAT)[-1] == "Hej från Sara"
    # a conversation addressed by the Telegram id itself reaches nobody
    server.run(out.send_response(str(CHAT), {"text": "to the raw id"}))
    assert "to the raw id" not in fake_api.texts(CHAT)

    # "delete my data" / the retention purge: the chat id goes with the conversation
    with session(database_url) as db:
        retention.delete_conversation(db, conversation_id=conversation)
    with session(database_url) as db:
        assert pseudonyms.chat_id_for(db, conversation) is None
    server.run(out.send_response(conversation, {"text": "after deletion"}))
    assert "after deletion" not in fake_api.texts(CHAT)
    # writing again starts a new conversation under the same pseudonym, and replies work
    server.post(u.text_update(CHAT, "hej igen"))
    fake_api.wait_for(lambda: "echo: hej igen" in fake_api.texts(CHAT))
    with session(database_url) as db:
        assert pseudonyms.chat_id_for(db, conversation) == CHAT


def test_purge_forgets_chat_ids_with_nothing_left(database_url: str) -> None:
    conversation = pseudonyms.telegram_conversation_id(CHAT)
    with session(database_url) as db:
        pseudonyms.remember(db, conversation, CHAT)
        retention.purge(db, older_than_days=-1)  # everything is older than "tomorrow"
    with session(database_url) as db:
        assert pseudonyms.chat_id_for(db, conversation) is None


# -- Alembic 0005 ---------------------------------------------------------------------------
RASA_EVENTS = """CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL,
    type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255),
    action_name VARCHAR(255), data TEXT)"""
RASA_EVENTS_PG = RASA_EVENTS.replace("INTEGER PRIMARY KEY", "SERIAL PRIMARY KEY")
OLD_TG = "700100200"  # a Telegram conversation stored under the chat id
OLD_TG_2 = "700100201"  # known only from its handoff (its events already purged)
REST_DIGITS = "555000111"  # a REST conversation whose sender happens to be digits
WIDGET = "0f" * 16


def user_event(sender: str, channel: str, text_: str, ts: float) -> dict:
    return {"sender_id": sender, "type_name": "user", "timestamp": ts, "intent_name": "greet",
            "action_name": None,
            "data": json.dumps({"event": "user", "timestamp": ts, "text": text_,
                                "input_channel": channel, "message_id": f"{channel}-{ts}"})}


def old_rows() -> dict[str, list[dict]]:
    name = reminder_name(OLD_TG)
    return {
        "events": [
            user_event(OLD_TG, "telegram", "hej", 1.0),
            {"sender_id": OLD_TG, "type_name": "reminder", "timestamp": 2.0, "intent_name": None,
             "action_name": None,
             "data": json.dumps({"event": "reminder", "name": name, "timestamp": 2.0,
                                 "intent": "EXTERNAL_deadline_reminder"})},
            user_event(REST_DIGITS, "rest", "hej", 3.0),
            user_event(WIDGET, "socketio", "hej", 4.0),
        ],
        "handoffs": [
            {"id": "h1", "conversation_id": OLD_TG, "channel": "telegram"},
            {"id": "h2", "conversation_id": OLD_TG_2, "channel": "telegram"},
            {"id": "h3", "conversation_id": REST_DIGITS, "channel": "rest"},
        ],
        "reminders": [{"name": name, "conversation_id": OLD_TG, "channel": "telegram"}],
        "audit_log": [{"conversation_id": OLD_TG, "handoff_id": "h1"},
                      {"conversation_id": REST_DIGITS, "handoff_id": "h3"}],
    }  # fmt: skip


def insert_old_rows(url: str) -> None:
    engine = create_engine(url, future=True)
    now = datetime(2026, 12, 1, 12, 0)
    rows = old_rows()
    with engine.begin() as c:
        c.execute(text(RASA_EVENTS_PG if url.startswith("postgresql") else RASA_EVENTS))
        for e in rows["events"]:
            c.execute(text("INSERT INTO events (sender_id, type_name, timestamp, intent_name, "
                           "action_name, data) VALUES (:sender_id, :type_name, :timestamp, "
                           ":intent_name, :action_name, :data)"), e)  # fmt: skip
        for h in rows["handoffs"]:
            c.execute(text("INSERT INTO handoffs (id, conversation_id, channel, language, "
                           "reason, priority, status, created_at, updated_at) VALUES (:id, "
                           ":conversation_id, :channel, 'sv', 'request', 'normal', 'waiting', "
                           ":now, :now)"), {**h, "now": now})  # fmt: skip
        for r in rows["reminders"]:
            c.execute(text("INSERT INTO reminders (name, conversation_id, channel, language, "
                           "kind, deadline, remind_at, created_at) VALUES (:name, "
                           ":conversation_id, :channel, 'sv', 'appeal', :deadline, :now, :now)"),
                      {**r, "deadline": date(2026, 12, 20), "now": now})  # fmt: skip
        for a in rows["audit_log"]:
            c.execute(text("INSERT INTO audit_log (at, actor, action, handoff_id, "
                           "conversation_id) VALUES (:now, 'anna', 'open', :handoff_id, "
                           ":conversation_id)"), {**a, "now": now})  # fmt: skip
    engine.dispose()


def snapshot(url: str) -> dict[str, list[tuple]]:
    engine = create_engine(url, future=True)
    with engine.connect() as c:
        found = {
            "events": sorted(c.execute(text("SELECT sender_id, type_name, data FROM events"))),
            "handoffs": sorted(c.execute(text("SELECT id, conversation_id FROM handoffs"))),
            "reminders": sorted(c.execute(text("SELECT name, conversation_id FROM reminders"))),
            # since 0003 audit rows name a conversation only by a keyed reference (an HMAC that
            # 0005 cannot and need not move: it never held the Telegram id in clear)
            "audit_log": sorted(c.execute(text("SELECT handoff_id, conversation_ref, hash FROM "
                                               "audit_log"))),
        }  # fmt: skip
    engine.dispose()
    return {k: [tuple(r) for r in v] for k, v in found.items()}


@pytest.fixture(params=["sqlite", "postgresql"])
def old_database(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # fmt: skip
    """A database at revision 0002 (before pseudonyms) holding rows of every kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('migration') / 'old.db'}"
        upgrade(url, "0002")
        insert_old_rows(url)
        yield url
        get_engine(url).dispose()
        return
    from tests.production.services import postgres_database

    with postgres_database("test_tg_pseudonyms") as url:
        upgrade(url, "0002")
        insert_old_rows(url)
        yield url
        get_engine(url).dispose()


def test_migration_moves_telegram_conversations_to_their_pseudonym(old_database: str) -> None:
    url = old_database
    # the audit log's hash chain (0003) and REST's namespace (0004) come first
    upgrade(url, "0004")
    before = snapshot(url)
    upgrade(url, "0005")
    after = snapshot(url)
    new, new_2 = (pseudonyms.telegram_conversation_id(c) for c in (OLD_TG, OLD_TG_2))
    # nothing lost: the same rows, Telegram ones under their pseudonym
    for table in before:
        assert len(after[table]) == len(before[table]), table
    assert [r for r in after["events"] if r[0] == new] and not [
        r for r in after["events"] if r[0] in (OLD_TG, OLD_TG_2)]
    assert {r[1] for r in after["handoffs"]} == {new, new_2, f"rest:{REST_DIGITS}"}
    assert after["audit_log"] == before["audit_log"]  # the chain is not touched
    # the reminder's name (a hash of the old id, so of the Telegram id) renamed everywhere
    assert after["reminders"] == [(reminder_name(new), new)]
    reminder_events = [json.loads(r[2]) for r in after["events"] if r[1] == "reminder"]
    assert [e["name"] for e in reminder_events] == [reminder_name(new)]
    # other channels untouched, the old ids nowhere (not even hashed)
    assert [r for r in before["events"] if r[0] in (REST_DIGITS, WIDGET)] == [
        r for r in after["events"] if r[0] in (REST_DIGITS, WIDGET)]
    stored = every_value(url)
    for old in (OLD_TG, OLD_TG_2, reminder_name(OLD_TG)):
        assert old not in stored, old
    # the chat ids needed to send, encrypted
    with session(url) as db:
        assert pseudonyms.chat_id_for(db, new) == int(OLD_TG)
        assert pseudonyms.chat_id_for(db, new_2) == int(OLD_TG_2)
    # and back: downgrade restores every row as it was
    downgrade(url, "0004")
    assert snapshot(url) == before
    assert "telegram_chats" not in inspect(get_engine(url)).get_table_names()
    upgrade(url, "0005")
    assert snapshot(url) == after
