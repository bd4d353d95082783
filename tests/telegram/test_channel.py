"""The Telegram channel in a real Sanic server, python-telegram-bot against a fake Bot API.

Rasa's message handler is replaced by a recorder that can answer through the output channel it
is given (as Rasa does); the channel, python-telegram-bot and HTTP both ways are real. The
conversations through the real Rasa server and model are in test_stack.py.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

import httpx
import pytest
from rasa.core.channels.channel import UserMessage
from rasa.shared.exceptions import RasaException

from bot.channels.telegram import (
    MAX_MESSAGE_LENGTH,
    TelegramInput,
    TelegramOutput,
    _utf16_len,
    poll,
)
from bot.content import load_content
from bot.pseudonyms import telegram_conversation_id
from bot.settings import get_settings
from tests.telegram import updates as u
from tests.telegram.fake_bot_api import FakeBotAPI
from tests.telegram.harness import SECRET


def content_text(key: str, lang: str) -> str:
    return load_content(get_settings().content_dir).text(key, lang)


async def echo(message: UserMessage) -> None:
    await message.output_channel.send_text_message(message.sender_id, f"echo: {message.text}")


def test_missing_or_wrong_secret_is_refused(make_server, fake_api: FakeBotAPI) -> None:
    server = make_server(responder=echo)
    update = u.text_update(4242, "hej")
    for secret in (None, "", "wrong-secret_0123456789", SECRET + "x", SECRET[:-1]):
        assert server.post(update, secret=secret).status_code == 403
    time.sleep(0.5)
    assert server.all_received() == [] and fake_api.recorded("sendMessage") == []
    # the right secret is accepted, and the update was not marked as seen by the refusals
    assert server.post(update).status_code == 200
    fake_api.wait_for(lambda: fake_api.texts(4242) == ["echo: hej"])


def test_health_route(make_server) -> None:
    server = make_server()
    reply = httpx.get(server.url.rsplit("/", 1)[0] + "/", timeout=5)
    assert reply.status_code == 200 and reply.json() == {"status": "ok"}


def test_text_reaches_rasa_cleaned_with_language_and_answer_is_sent(
    make_server, fake_api: FakeBotAPI
) -> None:
    server = make_server(responder=echo)
    text = "Mitt personnummer är 19811218-9876, hur överklagar jag? *bold* <b>x</b> _"
    assert server.post(u.text_update(5001, text, language_code="ar")).status_code == 200
    fake_api.wait_for(lambda: fake_api.texts(5001))
    [received] = server.all_received()
    # stored under the pseudonym, never the Telegram id (issue 20, review L8)
    assert received.sender_id == telegram_conversation_id(5001)
    assert received.sender_id.startswith("tg:") and "5001" not in received.sender_id
    assert received.input_channel == "telegram"
    assert received.metadata == {"language": "ar"}
    assert "9876" not in received.text and "[personnummer]" in received.text
    [sent] = fake_api.recorded("sendMessage", 5001)
    # plain text: no parse mode, so "*", "_" and "<b>" are shown as written
    assert "parse_mode" not in sent.params
    assert sent.params["text"] == f"echo: {received.text}"
    assert sent.params["link_preview_options"] == {"is_disabled": True}
    # "typing…" was shown before the answer
    typing = fake_api.recorded("sendChatAction", 5001)
    assert typing and typing[0].params["action"] == "typing" and typing[0].at <= sent.at


def test_buttons_become_an_inline_keyboard_and_callbacks_are_answered_and_forwarded(
    make_server, fake_api: FakeBotAPI
) -> None:
    long_payload = '/choose_language{"language": "ti", "note": "' + "x" * 80 + '"}'

    async def with_buttons(message: UserMessage) -> None:
        if message.text == "topics":
            await message.output_channel.send_text_with_buttons(message.sender_id, "Välj:", [
                {"title": "Överklaga", "payload": "/appeal_how"},
                {"title": "العربية", "payload": '/choose_language{"language": "ar"}'},
                {"title": "Long", "payload": long_payload},
            ])  # fmt: skip

    server = make_server(responder=with_buttons)
    server.post(u.text_update(5002, "topics"))
    fake_api.wait_for(lambda: fake_api.recorded("sendMessage", 5002))
    [sent] = fake_api.recorded("sendMessage", 5002)
    rows = sent.params["reply_markup"]["inline_keyboard"]
    assert [row[0]["text"] for row in rows] == ["Överklaga", "العربية", "Long"]
    datas = [row[0]["callback_data"] for row in rows]
    assert datas[:2] == ["/appeal_how", '/choose_language{"language": "ar"}']
    assert all(len(d.encode()) <= 64 for d in datas) and datas[2] != long_payload

    for data in datas:
        update = u.callback_update(5002, data)
        assert server.post(update).status_code == 200
        query_id = update["callback_query"]["id"]
        fake_api.wait_for(lambda q=query_id: [
            c for c in fake_api.recorded("answerCallbackQuery")
            if c.params["callback_query_id"] == q])  # fmt: skip
    fake_api.wait_for(lambda: len(server.texts_for(5002)) == 4)
    assert server.texts_for(5002)[1:] == [
        "/appeal_how", '/choose_language{"language": "ar"}', long_payload]


def test_long_answer_is_split_cleanly_under_4096(make_server, fake_api: FakeBotAPI) -> None:
    paragraphs = [f"Stycke {i}: " + " ".join(["överklagande"] * 60) for i in range(20)]
    long_text = "\n\n".join(paragraphs)  # about 15,000 characters
    assert len(long_text) > 3 * MAX_MESSAGE_LENGTH

    async def long_answer(message: UserMessage) -> None:
        await message.output_channel.send_text_with_buttons(
            message.sender_id, long_text, [{"title": "Mer", "payload": "/appeal_how"}])

    server = make_server(responder=long_answer, chat_interval=0.05)
    server.post(u.text_update(5003, "berätta allt"))
    fake_api.wait_for(lambda: len(fake_api.texts(5003)) >= 4)
    time.sleep(0.3)
    calls = fake_api.recorded("sendMessage", 5003)
    parts = [c.params["text"] for c in calls]
    assert len(parts) == 4
    assert all(0 < _utf16_len(p) <= MAX_MESSAGE_LENGTH for p in parts)
    # cut between paragraphs, nothing lost, in order
    assert all(p.startswith("Stycke ") and p.endswith("överklagande") for p in parts)
    assert "\n\n".join(parts) == long_text
    # the buttons come with the last part only
    assert [("reply_markup" in c.params) for c in calls] == [False, False, False, True]


def test_429_is_retried_after_the_wait_telegram_asks(make_server, fake_api: FakeBotAPI) -> None:
    server = make_server(responder=echo)
    fake_api.fail_next("sendMessage", "429")
    server.post(u.text_update(5004, "hej"))
    fake_api.wait_for(lambda: fake_api.texts(5004), timeout=15)
    attempts = fake_api.recorded("sendMessage", 5004, ok_only=False)
    assert [c.status for c in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 1.0  # retry_after: 1
    assert fake_api.texts(5004) == ["echo: hej"]


def test_network_errors_are_retried(make_server, fake_api: FakeBotAPI) -> None:
    server = make_server(responder=echo)
    fake_api.fail_next("sendMessage", "502", "reset")
    server.post(u.text_update(5005, "hej"))
    fake_api.wait_for(lambda: fake_api.texts(5005), timeout=15)
    assert [c.status for c in fake_api.recorded("sendMessage", 5005, ok_only=False)] == [
        502, 599, 200]
    assert fake_api.texts(5005) == ["echo: hej"]


def test_failed_send_is_logged_without_personal_data_and_crashes_nothing(
    make_server, fake_api: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = make_server(responder=echo)
    fake_api.fail_next("sendMessage", "403")  # the user blocked the bot
    server.post(u.text_update(987654321, "min adress är Storgatan 5"))
    fake_api.wait_for(lambda: fake_api.recorded("sendMessage", 987654321, ok_only=False))
    time.sleep(0.3)
    assert fake_api.texts(987654321) == []
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Forbidden" in logged
    for private in ("987654321", "Storgatan", fake_api.token):
        assert private not in logged
    # the server goes on
    server.post(u.text_update(5006, "hej igen"))
    fake_api.wait_for(lambda: fake_api.texts(5006) == ["echo: hej igen"])
    # an output channel asked to send to something that is not a chat id does not raise
    server.run(server.channel.get_output_channel().send_text_message("not-a-chat", "x"))


def test_redelivered_update_is_processed_once(make_server, fake_api: FakeBotAPI) -> None:
    server = make_server(responder=echo)
    update = u.text_update(5007, "hur överklagar jag")
    for _ in range(4):
        assert server.post(update).status_code == 200
    fake_api.wait_for(lambda: fake_api.texts(5007))
    time.sleep(0.8)
    assert server.texts_for(5007) == ["hur överklagar jag"]
    assert len(fake_api.texts(5007)) == 1


@pytest.mark.parametrize(
    "make_update",
    [u.voice_update, u.photo_update, u.sticker_update, u.document_update, u.location_update],
    ids=["voice", "photo", "sticker", "document", "location"],
)
@pytest.mark.parametrize("lang", ["sv", "en"])
def test_media_gets_a_kind_answer_in_the_users_language(
    make_server, fake_api: FakeBotAPI, make_update, lang: str
) -> None:
    server = make_server(responder=echo)
    chat = 6000 + (1 if lang == "en" else 2)
    assert server.post(make_update(chat, language_code=lang)).status_code == 200
    fake_api.wait_for(lambda: fake_api.texts(chat))
    time.sleep(0.3)
    assert fake_api.texts(chat) == [content_text("not_text", lang)]
    assert server.texts_for(chat) == []  # nothing for Rasa: no file is downloaded or read


def test_caption_of_a_photo_is_still_answered(make_server, fake_api: FakeBotAPI) -> None:
    server = make_server(responder=echo, chat_interval=0.05)
    server.post(u.photo_update(6003, language_code="en", caption="Is this my decision?"))
    fake_api.wait_for(lambda: len(fake_api.texts(6003)) == 2)
    assert fake_api.texts(6003) == [content_text("not_text", "en"), "echo: Is this my decision?"]


def test_edited_message_gets_a_kind_answer(make_server, fake_api: FakeBotAPI) -> None:
    server = make_server(responder=echo)
    server.post(u.edited_update(6004, "hur överklagar jag?", language_code="sv"))
    fake_api.wait_for(lambda: fake_api.texts(6004))
    time.sleep(0.3)
    assert fake_api.texts(6004) == [content_text("edited_message", "sv")]
    assert server.texts_for(6004) == []


def test_group_and_channel_chats_get_a_note_to_write_privately(
    make_server, fake_api: FakeBotAPI
) -> None:
    server = make_server(responder=echo)
    server.post(u.group_update(-1001234567890, "/start", language_code="en"))
    server.post(u.group_update(-1001234567890, "hur överklagar jag?", language_code="en"))
    server.post(u.group_update(-4001234, "hej", language_code="sv", chat_type="group"))
    server.post(u.channel_post_update(-1009999999999, "nyheter"))
    server.post(u.callback_update(-4001235, "/appeal_how", chat={
        "id": -4001235, "title": "G", "type": "group"}))  # fmt: skip
    fake_api.wait_for(lambda: fake_api.texts(-1009999999999) and fake_api.texts(-4001234)
                      and fake_api.texts(-4001235))
    time.sleep(1.5)
    # one note per group, not one per message; nothing from a group reaches Rasa
    assert fake_api.texts(-1001234567890) == [content_text("private_only", "en")]
    assert fake_api.texts(-4001234) == [content_text("private_only", "sv")]
    assert server.all_received() == []
    assert fake_api.recorded("answerCallbackQuery")


def test_a_slow_turn_is_acknowledged_after_ack_within(make_server, fake_api: FakeBotAPI) -> None:
    """The webhook answers when the turn is done (so a failed one can be delivered again,
    tests/telegram/test_no_lost_update.py), but a turn still running after ``ack_within`` is
    acknowledged, so that Telegram does not deliver it a second time meanwhile."""
    release = threading.Event()

    async def slow(message: UserMessage) -> None:
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 30)
        await echo(message)

    server = make_server(responder=slow, ack_within=1.0)
    started = time.monotonic()
    reply = server.post(u.text_update(5008, "hej"))
    took = time.monotonic() - started
    assert reply.status_code == 200 and 0.9 < took < 3.0, took
    fake_api.wait_for(lambda: server.texts_for(5008))  # handling has begun ...
    assert server.finished == []  # ... and not finished, yet Telegram has its 200
    assert fake_api.texts(5008) == []
    release.set()
    fake_api.wait_for(lambda: fake_api.texts(5008) == ["echo: hej"])


def test_typing_is_shown_while_the_bot_works(make_server, fake_api: FakeBotAPI) -> None:
    async def slow(message: UserMessage) -> None:
        await asyncio.sleep(5)
        await echo(message)

    server = make_server(responder=slow)
    server.post(u.text_update(5009, "hej"))
    fake_api.wait_for(lambda: fake_api.texts(5009), timeout=20)
    typing = fake_api.recorded("sendChatAction", 5009)
    assert len(typing) >= 2  # renewed: Telegram shows it for five seconds only
    count = len(typing)
    time.sleep(4.5)
    assert len(fake_api.recorded("sendChatAction", 5009)) == count  # stopped after the answer


def test_typing_stops_after_a_while_when_the_answer_takes_too_long(
    make_server, fake_api: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.channels import telegram

    monkeypatch.setattr(telegram, "TYPING_EVERY", 0.2)
    monkeypatch.setattr(telegram, "TYPING_AT_MOST", 1.0)

    async def stuck(message: UserMessage) -> None:
        await asyncio.sleep(3)
        await echo(message)

    server = make_server(responder=stuck)
    server.post(u.text_update(5019, "hej"))
    fake_api.wait_for(lambda: fake_api.texts(5019), timeout=20)
    typing = fake_api.recorded("sendChatAction", 5019)
    assert 3 <= len(typing) <= 6  # renewed, then no more after about a second
    assert typing[-1].at - typing[0].at <= 1.5


def test_about_one_message_a_second_per_chat_in_order(make_server, fake_api: FakeBotAPI) -> None:
    async def three(message: UserMessage) -> None:
        for i in range(3):
            await message.output_channel.send_text_message(message.sender_id, f"{message.text} {i}")

    server = make_server(responder=three)
    server.post(u.text_update(5010, "a"))
    time.sleep(0.2)
    server.post(u.text_update(5011, "b"))
    fake_api.wait_for(lambda: len(fake_api.texts(5010)) == 3 and len(fake_api.texts(5011)) == 3)
    first = fake_api.recorded("sendMessage", 5010)
    assert [c.params["text"] for c in first] == ["a 0", "a 1", "a 2"]
    gaps = [b.at - a.at for a, b in zip(first, first[1:], strict=False)]
    assert all(gap >= 0.95 for gap in gaps), gaps
    # another chat is not held up behind the first one
    second = fake_api.recorded("sendMessage", 5011)
    assert second[0].at < first[-1].at


def test_commands(make_server, fake_api: FakeBotAPI) -> None:
    server = make_server(responder=echo, chat_interval=0.05)
    for text in ("/language", "/human", "/delete", "/start@return_help_bot", "/appeal_how",
                 "/choose_language{\"language\": \"ar\"}"):
        server.post(u.text_update(5012, text, language_code="sv"))
    fake_api.wait_for(lambda: len(server.texts_for(5012)) == 6)
    assert server.texts_for(5012) == [
        "/choose_language", "/request_human", "/delete_data", "/greet",
        # typed text is never read as an intent: the slash is dropped
        "appeal_how", 'choose_language{"language": "ar"}',
    ]


def test_start_greets_and_shows_the_privacy_notice(make_server, fake_api: FakeBotAPI) -> None:
    async def greet_only(message: UserMessage) -> None:  # as Rasa answers a returning user
        lang = (message.metadata or {}).get("language", "sv")
        await message.output_channel.send_text_message(message.sender_id,
                                                       content_text("greet", lang))

    server = make_server(responder=greet_only, chat_interval=0.05)
    server.post(u.text_update(5013, "/start", language_code="en"))
    fake_api.wait_for(lambda: len(fake_api.texts(5013)) == 2)
    greet, intro = fake_api.recorded("sendMessage", 5013)
    assert greet.params["text"] == content_text("greet", "en")
    assert intro.params["text"].startswith(content_text("intro", "en").split("{")[0])
    assert "{retention_days}" not in intro.params["text"]
    [[button]] = intro.params["reply_markup"]["inline_keyboard"]
    assert button == {"text": content_text("button_read_more", "en"), "callback_data": "/privacy"}


def test_start_does_not_repeat_a_notice_rasa_already_showed(
    make_server, fake_api: FakeBotAPI
) -> None:
    async def greet_with_notice(message: UserMessage) -> None:  # a first contact
        await message.output_channel.send_text_with_buttons(
            message.sender_id, "intro", [{"title": "Read more", "payload": "/privacy"}])

    server = make_server(responder=greet_with_notice)
    server.post(u.text_update(5014, "/start"))
    fake_api.wait_for(lambda: fake_api.texts(5014))
    time.sleep(1.5)
    assert fake_api.texts(5014) == ["intro"]


def test_very_long_message_is_cut_and_the_user_told(make_server, fake_api: FakeBotAPI) -> None:
    server = make_server(responder=None, chat_interval=0.05)
    server.post(u.text_update(5015, "ord " * 1000, language_code="sv"))
    fake_api.wait_for(lambda: fake_api.texts(5015))
    [received] = server.all_received()
    assert len(received.text) <= 2000
    assert fake_api.texts(5015) == [content_text("too_long", "sv")]


def test_webhook_is_registered_at_start(make_server, fake_api: FakeBotAPI) -> None:
    make_server(webhook_url="https://bot.example.org/webhooks/telegram/webhook")
    fake_api.wait_for(lambda: fake_api.recorded("setWebhook"))
    [call] = fake_api.recorded("setWebhook")
    assert call.params["url"] == "https://bot.example.org/webhooks/telegram/webhook"
    assert call.params["secret_token"] == SECRET
    assert set(call.params["allowed_updates"]) >= {"message", "callback_query", "edited_message"}


def test_no_webhook_registered_without_a_url(make_server, fake_api: FakeBotAPI) -> None:
    make_server()
    time.sleep(0.5)
    assert fake_api.recorded("setWebhook") == []


def test_output_channel_for_rasas_http_api(make_server, fake_api: FakeBotAPI) -> None:
    """What a counsellor's reply goes through (output_channel=latest): addressed to the
    conversation id (the pseudonym), sent to the chat the person wrote from."""
    server = make_server(responder=echo)
    server.post(u.text_update(5016, "hej"))
    fake_api.wait_for(lambda: fake_api.texts(5016) == ["echo: hej"])
    out = server.channel.get_output_channel()
    assert isinstance(out, TelegramOutput) and out.name() == "telegram"
    server.run(out.send_response(telegram_conversation_id(5016),
                                 {"text": "Hej, jag heter Sara och är rådgivare."}))  # fmt: skip
    assert fake_api.texts(5016) == ["echo: hej", "Hej, jag heter Sara och är rådgivare."]


def test_polling_feeds_updates_to_the_webhook_in_order(make_server, fake_api: FakeBotAPI) -> None:
    server = make_server(responder=echo, chat_interval=0.05)
    sent = [u.text_update(5017, f"fråga {i}") for i in range(3)]
    for update in sent:
        fake_api.add_update(update)
    stop = asyncio.Event()

    async def run_poller() -> None:
        task = asyncio.create_task(poll(server.channel.bot, server.url, SECRET, stop=stop,
                                        timeout=1))
        try:
            while len(server.texts_for(5017)) < 3:
                await asyncio.sleep(0.05)
            # a redelivery of an update already handled changes nothing
            fake_api.add_update(sent[0])
            await asyncio.sleep(1.5)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    server.run(run_poller())
    assert fake_api.recorded("deleteWebhook")
    assert server.texts_for(5017) == ["fråga 0", "fråga 1", "fråga 2"]
    offsets = [c.params.get("offset") for c in fake_api.recorded("getUpdates")]
    assert sent[-1]["update_id"] + 1 in offsets  # confirmed to Telegram


def test_from_credentials_fails_loudly() -> None:
    good = {"token": "1:abc", "secret_token": SECRET, "webhook_url": "", "base_url": ""}
    channel = TelegramInput.from_credentials(good)
    assert channel.name() == "telegram" and channel.webhook_url is None
    assert channel.bot.base_url == "https://api.telegram.org/bot1:abc"
    for broken in (None, {}, {**good, "token": ""}, {**good, "secret_token": None},
                   {**good, "secret_token": "short"}, {**good, "secret_token": "has space " * 3},
                   {**good, "webhook_url": "ftp://x"}):
        with pytest.raises(RasaException):
            TelegramInput.from_credentials(broken)


def test_run_adds_the_telegram_channel_only_with_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rasa.shared.utils.io

    from bot.run import credentials_file, service_env
    from bot.settings import ROOT, Settings

    settings = Settings(var_dir=tmp_path)
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "TELEGRAM_WEBHOOK_URL",
                 "TELEGRAM_API_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    env = service_env(settings)
    assert credentials_file(settings, env) == ROOT / "credentials.yml"
    assert "TELEGRAM_WEBHOOK_SECRET" not in env

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "1:abc")
    env = service_env(settings)
    path = credentials_file(settings, env)
    assert path == tmp_path / "credentials.yml"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    loaded = rasa.shared.utils.io.read_config_file(str(path))  # as `rasa run` reads it
    assert "bot.channels.rest.RestInput" in loaded and "bot.channels.socketio.SocketIOInput" in loaded
    telegram = loaded["bot.channels.telegram.TelegramInput"]
    assert telegram["token"] == "1:abc" and telegram["secret_token"] == env[
        "TELEGRAM_WEBHOOK_SECRET"]
    assert telegram["base_url"] == "https://api.telegram.org/bot"
    assert TelegramInput.from_credentials(telegram).secret_token == telegram["secret_token"]


def test_at_most_30_requests_a_second_overall(make_server, fake_api: FakeBotAPI) -> None:
    """Many chats at once: each is answered, and no second holds more than 30 Bot API calls."""
    server = make_server(responder=echo)
    limiter = server.channel.bot.rate_limiter
    granted: list[float] = []  # when the limiter let a request go
    take_slot = limiter._overall_slot

    async def recorded_slot() -> None:
        await take_slot()
        granted.append(time.monotonic())

    limiter._overall_slot = recorded_slot
    chats = list(range(7000, 7045))
    for chat in chats:
        assert server.post(u.text_update(chat, f"hej {chat}")).status_code == 200
    fake_api.wait_for(lambda: all(fake_api.texts(c) for c in chats), timeout=30,
                      what="an answer in every chat")
    assert len(granted) >= 2 * len(chats)  # "typing…" and the answer in every chat
    # the limiter lets any 31 requests in a row go over at least a second ...
    spans = [b - a for a, b in zip(granted, granted[30:], strict=False)]
    assert min(spans) >= 0.999, min(spans)
    # ... and they reach the Bot API so (measured there: loose, for the jitter of a busy machine)
    times = sorted(c.at for c in fake_api.calls if c.method in ("sendMessage", "sendChatAction"))
    arrived = [b - a for a, b in zip(times, times[30:], strict=False)]
    assert min(arrived) >= 0.6, min(arrived)
    # ... and the limiter does not hold back more than it must (90 calls: about 3 s)
    assert granted[-1] - granted[0] < 6.0


def test_429_on_a_request_without_a_chat_pauses_everything(
    make_server, fake_api: FakeBotAPI
) -> None:
    server = make_server(responder=echo, chat_interval=0.05)
    fake_api.fail_next("answerCallbackQuery", "429")
    update = u.callback_update(7100, "/appeal_how")
    server.post(update)
    fake_api.wait_for(lambda: fake_api.recorded("answerCallbackQuery", ok_only=False))
    server.post(u.text_update(7101, "hej"))  # another chat, during the pause
    fake_api.wait_for(lambda: fake_api.texts(7100) and fake_api.texts(7101), timeout=15)
    attempts = fake_api.recorded("answerCallbackQuery", ok_only=False)
    assert [c.status for c in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 1.0  # retry_after: 1
    other = [c for c in fake_api.calls if c.params.get("chat_id") == 7101]
    assert other and min(c.at for c in other) >= attempts[0].at + 0.95
    assert fake_api.texts(7100) == ["echo: /appeal_how"]


def test_latency_of_the_channel_alone(
    make_server, fake_api: FakeBotAPI, capsys: pytest.CaptureFixture
) -> None:
    """The channel's own share (no model): time to Telegram's 200, and to the sendMessage."""
    server = make_server(responder=echo)
    server.post(u.text_update(7199, "warm-up"))
    fake_api.wait_for(lambda: fake_api.texts(7199))
    answered, first_send = [], []
    for i in range(20):
        chat = 7200 + i
        started = time.monotonic()
        assert server.post(u.text_update(chat, "hej")).status_code == 200
        answered.append(time.monotonic() - started)
        fake_api.wait_for(lambda chat=chat: fake_api.texts(chat), 10)
        first_send.append(fake_api.recorded("sendMessage", chat)[0].at - started)
    answered.sort()
    first_send.sort()
    with capsys.disabled():
        print(f"\ntelegram channel alone, 20 updates: webhook 200 median "
              f"{answered[10] * 1000:.1f} ms, max {answered[-1] * 1000:.1f} ms; update -> "
              f"sendMessage median {first_send[10] * 1000:.1f} ms, "
              f"max {first_send[-1] * 1000:.1f} ms")
    assert answered[10] < 0.2 and first_send[10] < 0.5
