"""Only the person reaches their conversation (issue 20, review C1, M1, M6), on the running dev
stack (`make run`'s processes: action server, Rasa with REST and socket.io, console; SQLite).

The attacks of the review, replayed against a widget conversation: a REST request naming the
widget's conversation id (as the old token showed it) cannot cancel its waiting handoff, its
reminder or its data, cannot read the counsellor's replies through the ``message_id`` retry,
and writes nothing into it. "Delete my data" in the widget deletes every trace, then says so
and makes the widget wipe its copy, also while a counsellor has the conversation (the handoff
ends as ``deleted_by_person``); a deletion that fails is said kindly and nothing is lost.
The same for Telegram: tests/telegram/test_rest_isolation.py.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime

import pytest
from sqlalchemy import func, select, text

from bot.content import for_display, load_content
from bot.conversation_ids import rest_id
from bot.settings import get_settings
from bot.store.db import session
from bot.store.models import Handoff, HandoffStatus, Reminder, WidgetSession
from tests.helpers import widget_conversation
from tests.privacy.conftest import ORIGIN, Console, Running, post_raw
from tests.widget.sockets import Client

pytestmark = pytest.mark.slow

ASK_FOR_A_PERSON = "jag vill prata med en människa"
REPLY_WAIT = 60.0


def content_text(key: str, lang: str) -> str:
    return for_display(load_content(get_settings().content_dir).text(key, lang), lang)


def rest(running: Running, sender: str, message: str, **extra: str) -> tuple[int, list[dict]]:
    body = json.dumps({"sender": sender, "message": message, **extra}).encode()
    status, raw = post_raw(f"{running.rasa_url}/webhooks/rest/webhook", body)
    return status, (json.loads(raw) if status == 200 else [])


def user_texts(running: Running, conversation_id: str) -> list[str]:
    with session(running.settings.database_url) as db:
        rows = db.execute(
            text("SELECT data FROM events WHERE sender_id = :s AND type_name = 'user' "
                 "ORDER BY id"), {"s": conversation_id},
        ).scalars()  # fmt: skip
        return [json.loads(row).get("text") for row in rows]


def all_texts(running: Running, conversation_id: str) -> str:
    with session(running.settings.database_url) as db:
        return " ".join(db.execute(text("SELECT data FROM events WHERE sender_id = :s"),
                                   {"s": conversation_id}).scalars())  # fmt: skip


def counts(running: Running, conversation_id: str) -> dict[str, int]:
    with session(running.settings.database_url) as db:
        return {
            "events": db.execute(text("SELECT count(*) FROM events WHERE sender_id = :s"),
                                 {"s": conversation_id}).scalar_one(),
            "handoffs": db.execute(select(func.count()).select_from(Handoff).where(
                Handoff.conversation_id == conversation_id)).scalar_one(),
            "sessions": db.execute(select(func.count()).select_from(WidgetSession).where(
                WidgetSession.conversation_id == conversation_id)).scalar_one(),
        }  # fmt: skip


def handoff_of(running: Running, conversation_id: str) -> Handoff | None:
    with session(running.settings.database_url) as db:
        return db.execute(
            select(Handoff).where(Handoff.conversation_id == conversation_id)
        ).scalars().first()


def wait(check, timeout: float = REPLY_WAIT, every: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError("timed out")


@asynccontextmanager
async def widget(running: Running, token: str | None = None) -> AsyncIterator[Client]:
    client = await Client().connect(running.rasa_url, origin=ORIGIN)
    try:
        yield client
    finally:
        await client.close()


async def said(client: Client, message: str, lang: str = "sv", message_id: str | None = None,
               replies: int = 1) -> list[dict]:  # fmt: skip
    """Send as the widget does; the bot messages that follow (at least ``replies``)."""
    payload = {"message": message, "metadata": {"language": lang},
               "id": message_id or uuid.uuid4().hex}  # fmt: skip
    ack = await client.say(payload)
    assert ack.get("ok") is True, ack
    got = []
    for _ in range(replies):
        got.append(await client.next("bot_uttered", timeout=REPLY_WAIT))
    await asyncio.sleep(0.5)
    while not client.events["bot_uttered"].empty():
        got.append(client.events["bot_uttered"].get_nowait())
    return got


async def escalated_widget(running: Running, client: Client) -> tuple[str, str]:
    """A widget conversation waiting for a counsellor: (token, conversation id)."""
    token = (await client.session())["token"]
    conversation_id = widget_conversation(running.settings.database_url, token)
    await said(client, "Hur lång tid har jag på mig att överklaga?", message_id="w1")
    await said(client, ASK_FOR_A_PERSON, message_id="w2")
    handoff = wait(lambda: handoff_of(running, conversation_id))
    assert handoff.status == HandoffStatus.WAITING
    return token, conversation_id


async def test_rest_cannot_reach_a_widget_conversation(running: Running, console: Console) -> None:
    async with widget(running) as client:
        token, widget_id = await escalated_widget(running, client)
        with session(running.settings.database_url) as db:  # a reminder of the conversation
            db.add(Reminder(name=f"deadline_{uuid.uuid4().hex[:32]}", conversation_id=widget_id,
                            channel="socketio", language="sv", kind="appeal",
                            deadline=date(2027, 1, 1), remind_at=datetime(2026, 12, 30, 9)))
            db.commit()
        texts_before = user_texts(running, widget_id)
        handoff = handoff_of(running, widget_id)

        # C1.4: cancel the waiting handoff; C1.5: cancel the reminder; C1.6: delete the data
        for message in ("/deny", "nej tack, strunta i det", "/cancel_reminder", "/delete_data",
                        "/affirm", ASK_FOR_A_PERSON):  # fmt: skip
            status, _ = rest(running, widget_id, message)
            assert status == 200, message
        assert handoff_of(running, widget_id).status == HandoffStatus.WAITING
        with session(running.settings.database_url) as db:
            assert db.execute(select(func.count()).select_from(Reminder).where(
                Reminder.conversation_id == widget_id)).scalar_one() == 1  # fmt: skip
        assert user_texts(running, widget_id) == texts_before  # nothing written into it
        assert counts(running, widget_id)["sessions"] == 1
        # the REST requests have a conversation of their own (its "/delete_data", "/affirm"
        # deleted that one: what was written after it is all it holds), with its own handoff
        assert user_texts(running, rest_id(widget_id)) == [ASK_FOR_A_PERSON]
        assert handoff_of(running, rest_id(widget_id)) is not None

        # C1.2: the counsellor answers the person; the retry of the person's message id over
        # REST returns nothing of it (a new REST message is answered instead)
        assert console.post(f"/console/api/handoffs/{handoff.id}/claim").status_code == 200
        reply = f"Hej, jag heter Anna ({uuid.uuid4().hex[:6]})."
        assert console.post(f"/console/api/handoffs/{handoff.id}/reply",
                            json={"text": reply}).status_code == 200  # fmt: skip
        got = await client.next("bot_uttered", timeout=REPLY_WAIT)
        while got.get("text") != reply:
            got = await client.next("bot_uttered", timeout=REPLY_WAIT)
        for message_id in ("w1", "w2"):
            status, replies = rest(running, widget_id, "x", message_id=message_id)
            assert status == 200
            assert reply not in json.dumps(replies, ensure_ascii=False)
        # C1.3: the counsellor's next reply still reaches the widget (REST is not its channel)
        second = f"Är du kvar? ({uuid.uuid4().hex[:6]})"
        assert console.post(f"/console/api/handoffs/{handoff.id}/reply",
                            json={"text": second}).status_code == 200  # fmt: skip
        got = await client.next("bot_uttered", timeout=REPLY_WAIT)
        assert got["text"] == second and got["metadata"] == {"counsellor": True}
        assert console.post(f"/console/api/handoffs/{handoff.id}/close",
                            json={"outcome": "answered"}).status_code == 200  # fmt: skip
        assert user_texts(running, widget_id) == texts_before


async def test_delete_my_data_in_the_widget_deletes_first_then_says_so(running: Running) -> None:
    async with widget(running) as client:
        token = (await client.session())["token"]
        conversation_id = widget_conversation(running.settings.database_url, token)
        await said(client, "كيف أستأنف قرار الرفض؟", lang="ar")
        asked = await said(client, "/delete_data", lang="ar", replies=2)
        question = next(m for m in asked if m.get("buttons"))
        assert question["text"] == content_text("delete_confirm", "ar")
        assert [b["payload"] for b in question["buttons"]] == ["/affirm", "/deny"]
        ack = await client.say({"message": "/affirm", "metadata": {"language": "ar"}, "id": "d1"})
        assert ack["ok"] is True
        ended = await client.next("session_ended", timeout=REPLY_WAIT)
        # told only now, when everything is gone (the database is read the moment it arrives)
        assert counts(running, conversation_id) == {"events": 0, "handoffs": 0, "sessions": 0}
        assert ended == {"reason": "deleted", "text": content_text("delete_done", "ar")}
        # "deleted" is not a bot message the widget would keep
        assert await client.nothing("bot_uttered", wait=1.0)
        # the old token opens nothing; a new session is a new conversation
        fresh = await client.session(token)
        assert fresh["resumed"] is False
        assert widget_conversation(running.settings.database_url, fresh["token"]) != (
            conversation_id)  # fmt: skip
    time.sleep(1.0)
    assert counts(running, conversation_id)["events"] == 0  # nothing came back after the turn


async def test_delete_my_data_while_a_counsellor_has_the_conversation(
    running: Running, console: Console
) -> None:
    async with widget(running) as client:
        token, conversation_id = await escalated_widget(running, client)
        handoff = handoff_of(running, conversation_id)
        assert console.post(f"/console/api/handoffs/{handoff.id}/claim").status_code == 200
        # paused: the guard answers; "no" to deleting keeps the handoff
        asked = await said(client, "radera mina uppgifter", replies=2)
        assert any(m["text"] == content_text("delete_confirm", "sv") for m in asked)
        kept = await said(client, "/deny")
        assert kept[0]["text"] == content_text("delete_cancelled", "sv")
        assert handoff_of(running, conversation_id).status == HandoffStatus.CLAIMED
        # a "yes" later (to the counsellor, say) deletes nothing
        await client.say({"message": "/affirm", "metadata": {"language": "sv"}, "id": "y1"})
        await asyncio.sleep(2.0)
        assert counts(running, conversation_id)["events"] > 0
        # asked and confirmed: deleted
        await said(client, "radera mina uppgifter", replies=2)
        await client.say({"message": "/affirm", "metadata": {"language": "sv"}, "id": "y2"})
        ended = await client.next("session_ended", timeout=REPLY_WAIT)
        assert ended == {"reason": "deleted", "text": content_text("delete_done", "sv")}
    assert counts(running, conversation_id) == {"events": 0, "handoffs": 0, "sessions": 0}
    with session(running.settings.database_url) as db:
        ended_handoff = db.get(Handoff, handoff.id)
    # the counsellor sees why: closed, deleted by the person, nothing leading back to them
    assert ended_handoff.status == HandoffStatus.CLOSED
    assert ended_handoff.outcome == "deleted_by_person"
    assert ended_handoff.conversation_id == f"deleted:{handoff.id}"
    assert handoff.id not in {h["id"] for h in console.get("/console/api/handoffs").json()[
        "handoffs"]}  # fmt: skip


async def test_a_deletion_that_fails_is_said_kindly_and_nothing_is_lost(running: Running) -> None:
    database_url = running.settings.database_url
    async with widget(running) as client:
        token = (await client.session())["token"]
        conversation_id = widget_conversation(database_url, token)
        await said(client, "چطور می‌توانم اعتراض کنم؟", lang="fa")
        before = counts(running, conversation_id)
        # the database refuses to delete events (as a database that is away would)
        with session(database_url) as db:
            db.execute(text("CREATE TRIGGER refuse_delete BEFORE DELETE ON events "
                            "BEGIN SELECT RAISE(ABORT, 'refused'); END"))  # fmt: skip
            db.commit()
        try:
            await said(client, "/delete_data", lang="fa", replies=2)
            failed = await said(client, "/affirm", lang="fa")
            assert [m["text"] for m in failed] == [content_text("delete_failed", "fa")]
            assert await client.nothing("session_ended", wait=0.5)
            after = counts(running, conversation_id)
            assert after["sessions"] == 1 and after["events"] > before["events"]
        finally:
            with session(database_url) as db:
                db.execute(text("DROP TRIGGER refuse_delete"))
                db.commit()
        # the conversation goes on, and asked again, it is deleted
        async with widget(running) as again:
            assert (await again.session(token))["resumed"] is True
            await said(again, "/delete_data", lang="fa", replies=2)
            await again.say({"message": "/affirm", "metadata": {"language": "fa"}, "id": "z"})
            ended = await again.next("session_ended", timeout=REPLY_WAIT)
            assert ended["reason"] == "deleted"
    assert counts(running, conversation_id) == {"events": 0, "handoffs": 0, "sessions": 0}
    logs = "\n".join(running.logs().values())
    assert "A person's conversation could not be deleted" in logs
    assert conversation_id not in logs


def test_delete_my_data_over_rest_answers_after_it_is_done(running: Running) -> None:
    sender = f"del-{uuid.uuid4().hex[:8]}"
    assert rest(running, sender, "Hur överklagar jag?")[0] == 200
    with session(running.settings.database_url) as db:
        db.execute(text("CREATE TRIGGER refuse_delete_rest BEFORE DELETE ON events "
                        "BEGIN SELECT RAISE(ABORT, 'refused'); END"))  # fmt: skip
        db.commit()
    try:
        rest(running, sender, "/delete_data")
        status, failed = rest(running, sender, "/affirm")
        assert status == 200
        assert [m["text"] for m in failed] == [content_text("delete_failed", "sv")]
    finally:
        with session(running.settings.database_url) as db:
            db.execute(text("DROP TRIGGER refuse_delete_rest"))
            db.commit()
    assert counts(running, rest_id(sender))["events"] > 0
    status, asked = rest(running, sender, "/delete_data")
    assert status == 200 and asked[-1]["text"] == content_text("delete_confirm", "sv")
    status, done = rest(running, sender, "/affirm")
    assert status == 200
    assert [m["text"] for m in done] == [content_text("delete_done", "sv")]
    assert {m["recipient_id"] for m in done} == {sender}
    assert counts(running, rest_id(sender))["events"] == 0
