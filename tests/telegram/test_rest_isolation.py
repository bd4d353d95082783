"""REST cannot reach a Telegram conversation, and "delete my data" works during a handoff, on
the real stack (issue 20, review C1, M6): `rasa run` with the Telegram channel, the trained
model, the action server, python-telegram-bot talking to a fake Bot API (tests/telegram/
fake_bot_api.py). Real processes, real HTTP, nothing mocked.

A Telegram user id is not secret. Before, a REST request with it as the sender went into that
person's conversation: it cancelled their waiting handoff and their deadline reminder, deleted
their data, read the counsellor's replies back through the ``message_id`` retry, and could
make a future Telegram update count as already taken by planting ``telegram-<update id>``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date, datetime

import httpx
import pytest
from sqlalchemy import func, select, text

from bot.channels.telegram import SECRET_HEADER
from bot.content import for_display, load_content
from bot.run import Stack
from bot.settings import Settings, get_settings
from bot.store.db import session
from bot.store.models import Handoff, HandoffStatus, Reminder
from tests.telegram import updates as u
from tests.telegram.fake_bot_api import FakeBotAPI, free_port
from tests.telegram.harness import SECRET

pytestmark = pytest.mark.slow


def content_text(key: str, lang: str) -> str:
    return for_display(load_content(get_settings().content_dir).text(key, lang), lang)


def telegram_conversation(chat: int) -> str:
    """The stored id of a Telegram chat's conversation (a keyed pseudonym once bot/pseudonyms.py
    exists, the chat id before)."""
    try:
        from bot.pseudonyms import telegram_conversation_id  # type: ignore[import-not-found]
    except ImportError:
        return str(chat)
    return telegram_conversation_id(chat)


@pytest.fixture(scope="module")
def api() -> Iterator[FakeBotAPI]:
    fake = FakeBotAPI().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def stack(api: FakeBotAPI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("telegram-rest")
    settings = Settings(
        rasa_port=free_port(), action_port=free_port(), console_port=free_port(),
        database_url=f"sqlite:///{tmp / 'telegram.db'}", var_dir=tmp,
        office_hours="mon-sun 00:00-23:59",
    )  # fmt: skip
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OFFICE_HOURS", settings.office_hours)
        env.setenv("TELEGRAM_BOT_TOKEN", api.token)
        env.setenv("TELEGRAM_WEBHOOK_SECRET", SECRET)
        env.setenv("TELEGRAM_WEBHOOK_URL", "")
        env.setenv("TELEGRAM_API_BASE_URL", api.base_url)
        env.delenv("REST_API_KEY", raising=False)
        running = Stack(settings, log_dir=tmp / "logs", console=False)
        running.start(timeout=300)
        try:
            yield running
        finally:
            running.stop()


def telegram(stack: Stack, update: dict) -> None:
    answer = httpx.post(f"{stack.settings.rasa_url}/webhooks/telegram/webhook", json=update,
                        headers={SECRET_HEADER: SECRET}, timeout=60)  # fmt: skip
    assert answer.status_code == 200


def rest(stack: Stack, sender: str, message: str, **extra: str) -> list[dict]:
    answer = httpx.post(f"{stack.settings.rasa_url}/webhooks/rest/webhook",
                        json={"sender": sender, "message": message, **extra}, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()


def user_texts(stack: Stack, conversation_id: str) -> list[str]:
    with session(stack.settings.database_url) as db:
        rows = db.execute(text("SELECT data FROM events WHERE sender_id = :s AND "
                               "type_name = 'user' ORDER BY id"), {"s": conversation_id})
        return [json.loads(row).get("text") for row in rows.scalars()]


def handoff_of(stack: Stack, conversation_id: str) -> Handoff | None:
    with session(stack.settings.database_url) as db:
        return db.execute(select(Handoff).where(Handoff.conversation_id == conversation_id)
                          ).scalars().first()  # fmt: skip


def wait(check, timeout: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_rest_with_a_telegram_user_id_touches_nothing_of_that_conversation(
    stack: Stack, api: FakeBotAPI
) -> None:
    chat = 720010
    conversation_id = telegram_conversation(chat)
    asked = u.text_update(chat, "/human", language_code="en")
    telegram(stack, asked)
    handoff = wait(lambda: handoff_of(stack, conversation_id))
    api.wait_for(lambda: api.texts(chat), 60, "the handoff's answer")
    before = wait(lambda: user_texts(stack, conversation_id))  # the turn is saved
    time.sleep(1.5)  # the turn's last message
    told = api.texts(chat)
    with session(stack.settings.database_url) as db:
        db.add(Reminder(name="deadline_" + "0" * 32, conversation_id=conversation_id,
                        channel="telegram", language="en", kind="appeal",
                        deadline=date(2027, 1, 1), remind_at=datetime(2026, 12, 30, 9)))
        db.commit()

    for message in ("/deny", "/cancel_reminder", "/delete_data", "/affirm"):
        rest(stack, str(chat), message)
    # the retry of the person's own message id returns nothing of their conversation
    replayed = rest(stack, str(chat), "x", message_id=f"telegram-{asked['update_id']}")
    assert told[0] not in {m.get("text") for m in replayed}  # the handoff's answer

    assert handoff_of(stack, conversation_id).status == HandoffStatus.WAITING
    with session(stack.settings.database_url) as db:
        assert db.execute(select(func.count()).select_from(Reminder).where(
            Reminder.conversation_id == conversation_id)).scalar_one() == 1  # fmt: skip
    assert user_texts(stack, conversation_id) == before
    assert handoff.status == HandoffStatus.WAITING
    time.sleep(1.0)
    assert api.texts(chat) == told  # nothing of the REST requests reached the person


def test_a_planted_telegram_message_id_does_not_swallow_the_real_update(
    stack: Stack, api: FakeBotAPI
) -> None:
    chat = 720020
    update = u.text_update(chat, "How long do I have to appeal against the decision?")
    rest(stack, str(chat), "hej", message_id=f"telegram-{update['update_id']}")
    telegram(stack, update)
    api.wait_for(lambda: any("three weeks" in t for t in api.texts(chat)), 60, "the answer")


def test_delete_my_data_during_a_handoff_over_telegram(stack: Stack, api: FakeBotAPI) -> None:
    chat = 720030
    conversation_id = telegram_conversation(chat)
    telegram(stack, u.text_update(chat, "/human", language_code="en"))
    handoff = wait(lambda: handoff_of(stack, conversation_id))
    telegram(stack, u.text_update(chat, "/delete", language_code="en"))
    api.wait_for(lambda: content_text("delete_confirm", "en") in api.texts(chat), 60,
                 "the question before deleting")  # fmt: skip
    telegram(stack, u.callback_update(chat, "/affirm"))
    api.wait_for(lambda: content_text("delete_done", "en") in api.texts(chat), 60, "deleted")
    # said once everything was gone
    assert [t for t in user_texts(stack, conversation_id) if t] == []
    with session(stack.settings.database_url) as db:
        ended = db.get(Handoff, handoff.id)
    assert ended.status == HandoffStatus.CLOSED and ended.outcome == "deleted_by_person"
    assert ended.conversation_id == f"deleted:{handoff.id}"
