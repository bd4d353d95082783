"""No personal data in any log: a conversation full of identifiers on the real stack.

Over REST and socket.io a person writes a personnummer, phone numbers, an e-mail address, a
Migration Agency case/dossier number and a passport number, asks for a person, and writes more
while the conversation waits; a counsellor logs in, claims, reads, replies and closes. Then
every file the stack's processes logged to is scanned for each identifier (as written and
compacted), for the raw message texts, the counsellor's reply and the conversation ids; the
database is checked to hold placeholders, never the identifiers. Code called in-process is
logged at DEBUG and scanned the same way.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid

import pytest
from sqlalchemy import inspect, select, text

from bot.channels.common import clean_text
from bot.conversation_ids import rest_id as stored_rest_id
from bot.store import retention
from bot.store.db import get_engine, session
from tests.helpers import widget_conversation as conversation_of_token
from tests.privacy.conftest import ORIGIN, Console, Running, say
from tests.widget.sockets import Client

pytestmark = pytest.mark.slow

PERSONNUMMER = "19811218-9876"
PHONE = "070-123 45 67"
PHONE_INTL = "+46 70 765 43 21"
EMAIL = "amira.hassan@example.se"
CASE = "12-345678"
DOSSIER = "1-2345678"
PASSPORT = "AB1234567"
PASSPORT_2 = "P12345678"
NAME = "Amira Hassan"  # not redacted by design: it must still stay out of the logs
IDENTIFIERS = (PERSONNUMMER, PHONE, PHONE_INTL, EMAIL, CASE, DOSSIER, PASSPORT, PASSPORT_2)

REST_MESSAGES = (
    f"Hej, jag heter {NAME}. Mitt personnummer är {PERSONNUMMER} och telefon {PHONE}.",
    f"Min e-post är {EMAIL} och mitt ärendenummer är {CASE}. Hur överklagar jag beslutet?",
    f"Mitt passnummer är {PASSPORT}, behöver jag ett nytt pass för att resa hem?",
    "jag vill prata med en människa",
    f"Ring mig på {PHONE_INTL} eller skriv till {EMAIL}, mitt pass {PASSPORT}",
)
SOCKET_MESSAGES = (
    f"My personal number is {PERSONNUMMER} and my phone {PHONE_INTL}, e-mail {EMAIL}",
    f"My dossier number is {DOSSIER} and passport number {PASSPORT_2}. How do I appeal?",
    "I want to talk to a person",
    f"Please call {PHONE} — {NAME}",
)
REPLY = "Hej! Jag har läst ditt meddelande och ringer dig i morgon förmiddag, lilla vän."


def forms(identifier: str) -> set[str]:
    """The identifier as written and compacted (no spaces or dashes), as a logger might."""
    return {identifier, re.sub(r"[\s-]", "", identifier), identifier.replace(" ", "")}


def leaks(haystack: str, needles: dict[str, set[str]]) -> list[str]:
    return sorted(f"{what}: {form!r}" for what, found in needles.items() for form in found
                  if form and form in haystack)  # fmt: skip


async def widget_conversation(running: Running) -> tuple[str, list[dict]]:
    """The socket.io part: a conversation id (from the signed token) and the bot's replies.

    Which message the model reads as asking for a person varies; after it the conversation
    waits for a counsellor and the bot is silent, so replies are collected, not counted.
    """
    client = await Client().connect(running.rasa_url, origin=ORIGIN)
    replies: list[dict] = []
    try:
        confirm = await client.session()
        conversation_id = conversation_of_token(running.settings.database_url, confirm["token"])
        for i, message in enumerate(SOCKET_MESSAGES):
            ack = await client.say({"message": message, "metadata": {"language": "en"},
                                    "id": f"m{i}"})  # fmt: skip
            assert ack.get("ok") is True, ack
        while not client.events["bot_uttered"].empty():
            replies.append(client.events["bot_uttered"].get_nowait())
        return conversation_id, replies
    finally:
        await client.close()


def stored_text(running: Running) -> str:
    """Every text column of every table of the database, as one string."""
    engine = get_engine(running.settings.database_url)
    parts: list[str] = []
    with engine.connect() as connection:
        for table in inspect(engine).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                parts.extend(str(value) for value in row if value is not None)
    return "\n".join(parts)


def wait_for_handoff(running: Running, console: Console, conversation_id: str) -> str:
    """The id of the conversation's handoff, once the console's queue shows it."""
    from bot.store.models import Handoff

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with session(running.settings.database_url) as db:
            handoff_id = db.execute(
                select(Handoff.id).where(Handoff.conversation_id == conversation_id)
            ).scalar()
        queue = console.get("/console/api/handoffs").json()["handoffs"]
        if handoff_id and handoff_id in {h["id"] for h in queue}:
            return handoff_id
        time.sleep(0.5)
    raise AssertionError("the handoff never reached the console's queue")


def test_identifiers_reach_neither_logs_nor_database(
    running: Running, console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    rest_sender = uuid.uuid4().hex
    rest_id = stored_rest_id(rest_sender)  # the conversation as stored
    rest_replies = [say(running, rest_sender, message) for message in REST_MESSAGES]
    assert all(rest_replies[:4]), "the bot stopped answering before the handoff"
    assert rest_replies[4] == []  # paused: waiting for a counsellor
    socket_id, socket_replies = asyncio.run(widget_conversation(running))
    assert socket_replies and all(r.get("text") for r in socket_replies)

    # the counsellor: queue, claim, read, reply, close
    handoff_id = wait_for_handoff(running, console, rest_id)
    assert console.post(f"/console/api/handoffs/{handoff_id}/claim").status_code == 200
    detail = console.get(f"/console/api/handoffs/{handoff_id}")
    assert detail.status_code == 200
    transcript = detail.text
    assert "[personnummer]" in transcript and "[telefon]" in transcript
    assert leaks(transcript, {i: forms(i) for i in IDENTIFIERS}) == []
    replied = console.post(f"/console/api/handoffs/{handoff_id}/reply", json={"text": REPLY})
    assert replied.status_code == 200, replied.text
    closed = console.post(f"/console/api/handoffs/{handoff_id}/close",
                          json={"outcome": "answered"})  # fmt: skip
    assert closed.status_code == 200, closed.text
    assert say(running, rest_sender, "Tack! Hur lång tid har jag på mig att överklaga?")

    # the database keeps placeholders, never the identifiers
    with session(running.settings.database_url) as db:
        events = " ".join(db.execute(
            text("SELECT data FROM events WHERE sender_id IN (:a, :b)"),
            {"a": rest_id, "b": socket_id},
        ).scalars())  # fmt: skip
    for placeholder in ("[personnummer]", "[telefon]", "[e-post]", "[ärendenummer]",
                        "[passnummer]"):  # fmt: skip
        assert json.dumps(placeholder)[1:-1] in events, placeholder  # "\u00e4" in JSON
    assert leaks(stored_text(running), {i: forms(i) for i in IDENTIFIERS}) == []

    # the logs: every identifier, raw message, the reply, the conversation ids, the name
    time.sleep(1.0)  # unbuffered output; let the last lines land
    needles = {i: forms(i) for i in IDENTIFIERS}
    needles.update({f"message {n}": {m} for n, m in enumerate(REST_MESSAGES + SOCKET_MESSAGES)})
    needles.update({
        "redacted message": {clean_text(m) for m in REST_MESSAGES + SOCKET_MESSAGES
                             if any(i in m for i in IDENTIFIERS)},
        "counsellor reply": {REPLY},
        "conversation id": {rest_sender, rest_id, socket_id},
        "name": {NAME},
    })  # fmt: skip
    logs = running.logs()
    assert {"actions.log", "rasa.log", "console.log"} <= set(logs), sorted(logs)
    assert sum(len(body) for body in logs.values()) > 1000, "the stack logged (almost) nothing"
    found = {name: leaks(body, needles) for name, body in logs.items()}
    assert all(not hits for hits in found.values()), found

    # in-process, at DEBUG: redaction and deleting the conversations log no identifier
    caplog.set_level(logging.DEBUG)
    for message in REST_MESSAGES + SOCKET_MESSAGES:
        clean_text(message)
    with session(running.settings.database_url) as db:
        for conversation_id in (rest_id, socket_id):
            assert retention.delete_conversation(db, conversation_id=conversation_id).events
        retention.purge(db, older_than_days=running.settings.retention_days)
    assert "Deleted a conversation" in caplog.text
    assert leaks(caplog.text, needles) == []
