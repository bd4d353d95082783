"""Telegram through the real assistant: `rasa run` with our channel (credentials written by
bot.run), the trained model, the action server, and python-telegram-bot talking to a fake Bot
API. Real processes, real HTTP, nothing mocked."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from bot.channels.telegram import SECRET_HEADER, make_bot, poll
from bot.content import for_display, load_content
from bot.pseudonyms import telegram_conversation_id
from bot.rasa_api import RasaAPI
from bot.run import Stack, service_env
from bot.settings import Settings, get_settings
from tests.telegram import updates as u
from tests.telegram.fake_bot_api import FakeBotAPI, free_port
from tests.telegram.harness import PSEUDONYM_KEY, SECRET

pytestmark = pytest.mark.slow
PUBLIC_URL = "https://bot.example.org/webhooks/telegram/webhook"


def content_text(key: str, lang: str) -> str:
    return load_content(get_settings().content_dir).text(key, lang)


@pytest.fixture(scope="module")
def api() -> Iterator[FakeBotAPI]:
    fake = FakeBotAPI().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def stack(api: FakeBotAPI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("telegram")
    settings = Settings(
        rasa_port=free_port(), action_port=free_port(), console_port=free_port(),
        database_url=f"sqlite:///{tmp / 'telegram.db'}", var_dir=tmp,
        office_hours="mon-sun 00:00-23:59",
    )  # fmt: skip
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OFFICE_HOURS", settings.office_hours)
        env.setenv("TELEGRAM_BOT_TOKEN", api.token)
        env.setenv("TELEGRAM_WEBHOOK_SECRET", SECRET)
        env.setenv("TELEGRAM_WEBHOOK_URL", PUBLIC_URL)
        env.setenv("TELEGRAM_API_BASE_URL", api.base_url)
        env.setenv("PSEUDONYM_KEY", PSEUDONYM_KEY)
        running = Stack(settings, log_dir=tmp / "logs", console=False)
        running.start(timeout=300)
        try:
            yield running
        finally:
            running.stop()


def webhook(stack: Stack) -> str:
    return f"{stack.settings.rasa_url}/webhooks/telegram/webhook"


def post(stack: Stack, update: object, secret: str | None = SECRET) -> httpx.Response:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    return httpx.post(webhook(stack), json=update, headers=headers, timeout=30)


def wait_texts(api: FakeBotAPI, chat: int, count: int, timeout: float = 60) -> list[str]:
    api.wait_for(lambda: len(api.texts(chat)) >= count, timeout, f"{count} messages")
    time.sleep(1.5)  # let any message that should not come, come
    return api.texts(chat)


def test_webhook_registered_at_start_with_the_secret(stack: Stack, api: FakeBotAPI) -> None:
    # registered in an after_server_start listener: Rasa may already answer HTTP before
    api.wait_for(lambda: api.recorded("setWebhook"), 30, "setWebhook")
    [call] = api.recorded("setWebhook")
    assert call.params["url"] == PUBLIC_URL and call.params["secret_token"] == SECRET


def test_secret_is_required_and_bad_bodies_are_4xx(stack: Stack, api: FakeBotAPI) -> None:
    update = u.text_update(710001, "hej")
    assert post(stack, update, secret=None).status_code == 403
    assert post(stack, update, secret="not-the-secret-0123456789").status_code == 403
    headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    for body in (b"not json", b"[]", b'{"update_id": "x"}', b'{"update_id": 1, "message": 5}',
                 b"\xff\xfe\x00"):
        status = httpx.post(webhook(stack), content=body, headers=headers, timeout=30).status_code
        assert 400 <= status < 500, (body, status)
    time.sleep(1)
    assert api.texts(710001) == []


@pytest.mark.parametrize("lang", ["en", "sv"])
def test_start_greets_in_the_users_language_with_the_privacy_notice(
    stack: Stack, api: FakeBotAPI, lang: str
) -> None:
    chat = 710010 + len(lang) + (0 if lang == "en" else 5)
    assert post(stack, u.text_update(chat, "/start", language_code=lang)).status_code == 200
    texts = wait_texts(api, chat, 2)
    assert texts[0] == content_text("greet", lang)
    intro = api.recorded("sendMessage", chat)[-1]
    assert intro.params["text"].startswith(content_text("intro", lang).split("{")[0])
    [[button]] = intro.params["reply_markup"]["inline_keyboard"]
    assert button == {"text": content_text("button_read_more", lang), "callback_data": "/privacy"}
    assert len(texts) == 2
    # "typing…" while the assistant worked
    assert api.recorded("sendChatAction", chat)


def test_question_answered_buttons_and_callback(stack: Stack, api: FakeBotAPI) -> None:
    chat = 710020
    post(stack, u.text_update(chat, "How long do I have to appeal against the decision?"))
    texts = wait_texts(api, chat, 2)
    assert "three weeks" in texts[0]
    first = api.recorded("sendMessage", chat)[0]
    payloads = [row[0]["callback_data"] for row in first.params["reply_markup"]["inline_keyboard"]]
    assert payloads and all(p.startswith("/") for p in payloads)
    # the first-contact line follows the answer, with its "read more"
    assert api.recorded("sendMessage", chat)[1].params["reply_markup"]["inline_keyboard"][0][0][
        "callback_data"] == "/privacy"

    topic = payloads[0]
    update = u.callback_update(chat, topic)
    post(stack, update)
    texts = wait_texts(api, chat, 3)
    answered = [c.params["callback_query_id"] for c in api.recorded("answerCallbackQuery")]
    assert update["callback_query"]["id"] in answered
    expected = load_content(get_settings().content_dir).answer(topic.lstrip("/"), "en").text
    assert texts[2].startswith(expected.split("\n")[0][:60])


def test_redelivered_update_is_answered_once(stack: Stack, api: FakeBotAPI) -> None:
    chat = 710030
    update = u.text_update(chat, "How long do I have to appeal against the decision?")
    for _ in range(3):
        assert post(stack, update).status_code == 200
    texts = wait_texts(api, chat, 2)
    assert sum("three weeks" in t for t in texts) == 1


def test_language_buttons_then_media_answer_in_the_chosen_language(
    stack: Stack, api: FakeBotAPI
) -> None:
    chat = 710040
    post(stack, u.text_update(chat, "/language", language_code="en"))
    wait_texts(api, chat, 1)
    markup = api.recorded("sendMessage", chat)[0].params["reply_markup"]["inline_keyboard"]
    swedish = [row[0]["callback_data"] for row in markup if '"sv"' in row[0]["callback_data"]]
    assert len(markup) == 7 and swedish == ['/choose_language{"language": "sv"}']
    before = len(api.texts(chat))
    post(stack, u.callback_update(chat, swedish[0], language_code="en"))
    texts = wait_texts(api, chat, before + 1)
    assert texts[before] == content_text("language_switched", "sv")
    # Telegram still says "en", but the conversation is Swedish now
    count = len(texts)
    post(stack, u.voice_update(chat, language_code="en"))
    texts = wait_texts(api, chat, count + 1)
    assert texts[count:] == [content_text("not_text", "sv")]


def test_human_then_counsellor_reply_reaches_the_telegram_user(
    stack: Stack, api: FakeBotAPI
) -> None:
    chat = 710050
    post(stack, u.text_update(chat, "/human", language_code="en"))
    texts = wait_texts(api, chat, 1)
    assert texts[0].startswith(content_text("handoff_open", "en").split("{")[0])
    count = len(texts)
    secret = service_env(stack.settings)["RASA_JWT_SECRET"]
    rasa = RasaAPI(stack.settings.rasa_url, secret, timeout=60)
    reply = "Hi, I am Sara, a counsellor. I have read your question.\n\n" + "More. " * 900
    asyncio.run(rasa.say(telegram_conversation_id(chat), reply))
    texts = wait_texts(api, chat, count + 2)
    parts = texts[count:]
    assert len(parts) == 2 and parts[0].startswith("Hi, I am Sara")
    assert all(len(p) <= 4096 for p in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(reply.split())


def test_group_chat_gets_a_note_and_nothing_is_stored(stack: Stack, api: FakeBotAPI) -> None:
    group = -1001710060
    post(stack, u.group_update(group, "hur överklagar jag?", language_code="sv"))
    assert wait_texts(api, group, 1) == [content_text("private_only", "sv")]
    secret = service_env(stack.settings)["RASA_JWT_SECRET"]
    tracker = asyncio.run(RasaAPI(stack.settings.rasa_url, secret).tracker(
        telegram_conversation_id(group)))
    assert not [e for e in tracker.get("events", []) if e.get("event") == "user"]


def test_polling_mode_through_the_real_server(stack: Stack, api: FakeBotAPI) -> None:
    chat = 710070
    api.add_update(u.text_update(chat, "How long do I have to appeal against the decision?"))
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    bot = make_bot(api.token, api.base_url, long_poll_timeout=1)
    thread = threading.Thread(
        target=lambda: loop.run_until_complete(poll(bot, webhook(stack), SECRET, stop=stop,
                                                    timeout=1)), daemon=True)  # fmt: skip
    thread.start()
    try:
        texts = wait_texts(api, chat, 2)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)
    assert "three weeks" in texts[0]
    assert api.recorded("deleteWebhook")


def test_polling_command_make_telegram_polling(
    stack: Stack, api: FakeBotAPI, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`python -m bot.channels.telegram poll` (what `make telegram-polling` runs), as a
    process, against the running server: an update queued at the fake Bot API is answered."""
    chat = 710075
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.base_url,
           "TELEGRAM_WEBHOOK_SECRET": SECRET, "RASA_PORT": str(stack.settings.rasa_port),
           "VAR_DIR": str(tmp_path_factory.mktemp("poller"))}  # fmt: skip
    log = tmp_path_factory.mktemp("poller_log") / "poll.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot.channels.telegram", "poll"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        api.add_update(u.text_update(chat, "How long do I have to appeal against the decision?"))
        texts = wait_texts(api, chat, 2, timeout=90)
        assert "three weeks" in texts[0]
        assert proc.poll() is None  # still polling
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            code = None
    output = log.read_text(errors="replace")
    assert code == 0, output
    assert "Polling Telegram" in output and api.token not in output


def test_the_rest_channel_still_works_beside_telegram(stack: Stack) -> None:
    reply = httpx.post(f"{stack.settings.rasa_url}/webhooks/rest/webhook",
                       content=json.dumps({"sender": "rest-710080", "message": "hej"}),
                       headers={"Content-Type": "application/json"}, timeout=30)  # fmt: skip
    assert reply.status_code == 200 and reply.json()


def test_delete_asks_then_deletes_the_conversation(stack: Stack, api: FakeBotAPI) -> None:
    chat = 710090
    post(stack, u.text_update(chat, "/delete", language_code="en"))
    api.wait_for(lambda: any(t == content_text("delete_confirm", "en") for t in api.texts(chat)),
                 60, "the question before deleting")
    confirm = [c for c in api.recorded("sendMessage", chat)
               if c.params["text"] == content_text("delete_confirm", "en")][0]
    buttons = [row[0] for row in confirm.params["reply_markup"]["inline_keyboard"]]
    assert [b["callback_data"] for b in buttons] == ["/affirm", "/deny"]
    assert buttons[0]["text"] == content_text("button_yes", "en")
    post(stack, u.callback_update(chat, "/affirm"))
    api.wait_for(lambda: content_text("delete_done", "en") in api.texts(chat), 60, "deleted")
    secret = service_env(stack.settings)["RASA_JWT_SECRET"]
    rasa = RasaAPI(stack.settings.rasa_url, secret, timeout=60)

    def user_turns() -> list[dict]:
        tracker = asyncio.run(rasa.tracker(telegram_conversation_id(chat)))
        return [e for e in tracker.get("events") or [] if e.get("event") == "user"]

    deadline = time.monotonic() + 60
    while user_turns() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert user_turns() == []


def test_media_and_edits_get_the_kind_answer_in_the_users_language(
    stack: Stack, api: FakeBotAPI
) -> None:
    chat = 710100
    makers = [u.voice_update, u.photo_update, u.sticker_update, u.document_update,
              u.location_update]
    for make in makers:
        assert post(stack, make(chat, language_code="ar")).status_code == 200
    post(stack, u.edited_update(chat, "كيف أستأنف؟", language_code="ar"))
    texts = wait_texts(api, chat, len(makers) + 1)
    assert texts == [for_display(content_text("not_text", "ar"), "ar")] * len(makers) + [
        for_display(content_text("edited_message", "ar"), "ar")]
    assert all(t.startswith("\u200f") for t in texts)  # right-to-left
    # nothing reached Rasa: no conversation was started for these
    secret = service_env(stack.settings)["RASA_JWT_SECRET"]
    tracker = asyncio.run(RasaAPI(stack.settings.rasa_url, secret).tracker(
        telegram_conversation_id(chat)))
    assert not [e for e in tracker.get("events") or [] if e.get("event") == "user"]


def test_failed_send_is_logged_without_personal_data(stack: Stack, api: FakeBotAPI) -> None:
    chat = 987650001
    api.fail_next("sendMessage", "403")  # the user blocked the bot
    post(stack, u.text_update(chat, "My name is Zarghuna Ahmadzai, how do I appeal?"))
    api.wait_for(lambda: api.recorded("sendMessage", chat, ok_only=False), 60, "a send")
    assert post(stack, u.text_update(710110, "hej")).status_code == 200  # still serving
    wait_texts(api, 710110, 1)
    assert stack.log_dir is not None
    logged = (stack.log_dir / "rasa.log").read_text(encoding="utf-8", errors="replace")
    assert "Telegram refused sendMessage (Forbidden)" in logged
    for private in (str(chat), "Zarghuna", "Ahmadzai", api.token, SECRET):
        assert private not in logged, private


def test_every_message_sent_is_plain_text_within_the_limit(stack: Stack, api: FakeBotAPI) -> None:
    """Whatever the conversations above sent: never a parse mode (so no text can break the
    formatting), never more than Telegram takes, no link previews."""
    chat = 710120
    post(stack, u.text_update(chat, "/start", language_code="sv"))
    post(stack, u.text_update(chat, "*Hur* _överklagar_ jag <b>beslutet</b>? [x](y) `z`"))
    texts = wait_texts(api, chat, 3)
    assert "[x](y)" not in "".join(texts)  # typed text is never echoed as formatting
    sent = api.recorded("sendMessage")
    for call in sent:
        assert "parse_mode" not in call.params and "entities" not in call.params
        assert 0 < len(call.params["text"].encode("utf-16-le")) // 2 <= 4096
        assert call.params["link_preview_options"] == {"is_disabled": True}


def test_latency_webhook_answer_and_first_message(
    stack: Stack, api: FakeBotAPI, capsys: pytest.CaptureFixture
) -> None:
    """Measured, not only asserted: how fast Telegram gets its 200, and how long from the
    update to the first sendMessage through the real model and action server."""
    answered, first_send = [], []
    headers = {SECRET_HEADER: SECRET}
    with httpx.Client(timeout=30) as client:  # one connection, as Telegram keeps one open
        for i in range(10):
            chat = 710200 + i
            time.sleep(1.0)  # the previous turn is over: the server is idle
            update = u.text_update(chat, "How long do I have to appeal against the decision?")
            started = time.monotonic()
            reply = client.post(webhook(stack), json=update, headers=headers)
            answered.append(time.monotonic() - started)
            assert reply.status_code == 200
            api.wait_for(lambda chat=chat: api.texts(chat), 60, "an answer")
            first_send.append(api.recorded("sendMessage", chat)[0].at - started)
    answered.sort()
    first_send.sort()
    with capsys.disabled():
        print(f"\ntelegram latency over 10 updates: webhook 200 median "
              f"{answered[5] * 1000:.0f} ms, max {answered[-1] * 1000:.0f} ms; "
              f"update -> sendMessage median {first_send[5] * 1000:.0f} ms, "
              f"max {first_send[-1] * 1000:.0f} ms")
    assert answered[5] < 0.5 and answered[-1] < 2.0
    assert first_send[-1] < 20


def test_no_table_and_no_log_holds_a_telegram_id(stack: Stack, api: FakeBotAPI) -> None:
    """After the conversations above (handoff included): the Telegram user ids are the key of
    nothing stored and appear in no column of any table, nor in any log (issue 20, L8)."""
    from sqlalchemy import inspect, text

    from bot.store.db import get_engine, session
    from bot.store.models import Handoff

    chat = 710130
    post(stack, u.text_update(chat, "/human", language_code="en"))
    wait_texts(api, chat, 1)
    engine = get_engine(stack.settings.database_url)
    with engine.connect() as connection:
        stored = "\n".join(
            str(v) for table in inspect(engine).get_table_names()
            for row in connection.execute(text(f'SELECT * FROM "{table}"')) for v in row
        )  # fmt: skip
    with session(stack.settings.database_url) as db:
        handoffs = [h.conversation_id for h in db.query(Handoff).all()]
    assert telegram_conversation_id(chat) in handoffs
    assert handoffs and all(h.startswith("tg:") for h in handoffs)
    chats = {c.params.get("chat_id") for c in api.recorded("sendMessage")} - {None}
    assert len(chats) >= 3
    logs = "\n".join(p.read_text(errors="replace") for p in stack.log_dir.rglob("*.log"))
    for chat_id in chats:
        assert str(chat_id) not in stored, chat_id
        assert str(chat_id) not in logs, chat_id


def test_an_update_delivered_again_after_a_restart_is_answered_once(
    stack: Stack, api: FakeBotAPI
) -> None:
    """The server's memory of recent update ids is gone after a restart (and another server
    never had it): the update id travels with the message into the conversation
    (bot/message_ids.py), so Telegram delivering the update again does not answer it twice.
    Last in this file: it restarts the stack."""
    chat = 710090
    update = u.text_update(chat, "How long do I have to appeal against the decision?")
    assert post(stack, update).status_code == 200
    before = wait_texts(api, chat, 2)
    assert sum("three weeks" in t for t in before) == 1
    stack.stop()
    stack.start(timeout=300)
    assert post(stack, update).status_code == 200
    # a new message in the same chat is handled after the redelivered one (one chat, in turn)
    assert post(stack, u.text_update(chat, "What is a re-entry ban?")).status_code == 200
    texts = wait_texts(api, chat, len(before) + 1)
    assert sum("three weeks" in t for t in texts) == 1
    assert len(texts) == len(before) + 1
    log = (stack.log_dir / "rasa.log").read_text(encoding="utf-8", errors="replace")
    assert "A message sent again was already taken" in log
