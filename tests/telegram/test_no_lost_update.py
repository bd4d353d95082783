"""A Telegram update that cannot be handled is not acknowledged and lost (issue 20, review
L7): the webhook answers 503 and the fake Bot API delivers it again, as Telegram does, until it
is handled, once; a crisis message gets the emergency numbers at once all the same; an update
that keeps failing, or fails after it was acknowledged, ends with a kind "send it again" in the
person's language. The store that fails is real: the channel's database cannot be opened until
the test makes it again."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from rasa.core.channels.channel import UserMessage

from bot.channels.telegram import MAX_ATTEMPTS
from bot.content import load_content
from bot.settings import get_settings
from bot.store.db import init_db
from tests.telegram import updates as u
from tests.telegram.fake_bot_api import FakeBotAPI
from tests.telegram.harness import SECRET
from tests.telegram.test_channel import echo


def text(key: str, lang: str) -> str:
    return load_content(get_settings().content_dir).text(key, lang)


@pytest.fixture()
def broken_store(tmp_path: Path) -> tuple[str, Path]:
    """A database URL whose file cannot be opened (its folder is missing): every read and
    write fails with SQLite's OperationalError until ``repair``."""
    folder = tmp_path / "not-yet"
    return f"sqlite:///{folder / 'channel.db'}", folder


def repair(url: str, folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    init_db(url)


def test_an_update_is_delivered_again_until_the_store_is_back(
    make_server, fake_api: FakeBotAPI, broken_store: tuple[str, Path]
) -> None:
    url, folder = broken_store
    server = make_server(responder=echo, database_url=url)
    update = u.text_update(7101, "hur överklagar jag?", language_code="sv")
    statuses = fake_api.deliver(update, server.url, SECRET, before_attempt=lambda n: (
        repair(url, folder) if n == 3 else None))  # fmt: skip
    assert statuses == [503, 503, 200]
    fake_api.wait_for(lambda: fake_api.texts(7101) == ["echo: hur överklagar jag?"])
    assert server.texts_for(7101) == ["hur överklagar jag?"]  # handled once
    assert fake_api.texts(7101) == ["echo: hur överklagar jag?"]  # nothing said on failures


def test_a_rasa_error_is_not_acknowledged(make_server, fake_api: FakeBotAPI) -> None:
    failures = [RuntimeError("the tracker store raised"), RuntimeError("again")]

    async def failing_twice(message: UserMessage) -> None:
        if failures:
            raise failures.pop(0)
        await echo(message)

    server = make_server(responder=failing_twice)
    statuses = fake_api.deliver(u.text_update(7102, "hej"), server.url, SECRET)
    assert statuses == [503, 503, 200]
    fake_api.wait_for(lambda: fake_api.texts(7102) == ["echo: hej"])
    response = server.post(u.text_update(7102, "hej igen"))
    assert response.status_code == 200


def test_a_503_says_when_to_come_back(make_server, broken_store: tuple[str, Path]) -> None:
    url, _ = broken_store
    server = make_server(responder=echo, database_url=url)
    response = server.post(u.text_update(7103, "hej"))
    assert response.status_code == 503 and response.headers["Retry-After"].isdigit()
    assert "hej" not in response.text  # nothing of the message in the answer


def test_a_crisis_message_gets_the_numbers_at_once_while_the_store_is_down(
    make_server, fake_api: FakeBotAPI, broken_store: tuple[str, Path]
) -> None:
    url, folder = broken_store
    server = make_server(responder=echo, database_url=url)
    update = u.text_update(7104, "jag vill ta mitt liv", language_code="en")
    statuses = fake_api.deliver(update, server.url, SECRET, before_attempt=lambda n: (
        repair(url, folder) if n == 3 else None))  # fmt: skip
    assert statuses == [503, 503, 200]
    fake_api.wait_for(lambda: len(fake_api.texts(7104)) == 2)
    crisis, answered = fake_api.texts(7104)
    # in the language of the crisis words, once, before anything else
    assert crisis == text("crisis", "sv") and "112" in crisis and "90101" in crisis
    assert answered == "echo: jag vill ta mitt liv"  # and handled when the store came back


def test_an_update_that_keeps_failing_ends_with_a_kind_word(
    make_server, fake_api: FakeBotAPI, broken_store: tuple[str, Path]
) -> None:
    url, _ = broken_store
    server = make_server(responder=echo, database_url=url)
    statuses = fake_api.deliver(u.text_update(7105, "كيف أستأنف؟", language_code="ar"),
                                server.url, SECRET)  # fmt: skip
    assert statuses == [503] * (MAX_ATTEMPTS - 1) + [200]
    fake_api.wait_for(lambda: fake_api.texts(7105))
    [told] = fake_api.texts(7105)
    assert told.lstrip("\u200f") == text("telegram_try_again", "ar")


def test_a_turn_that_fails_after_it_was_acknowledged_ends_with_a_kind_word(
    make_server, fake_api: FakeBotAPI
) -> None:
    async def slow_then_failing(message: UserMessage) -> None:
        await asyncio.sleep(1.5)
        raise RuntimeError("Rasa failed late")

    server = make_server(responder=slow_then_failing, ack_within=0.5)
    assert server.post(u.text_update(7106, "привет", language_code="ru")).status_code == 200
    fake_api.wait_for(lambda: fake_api.texts(7106), 10)
    assert fake_api.texts(7106) == [text("telegram_try_again", "ru")]


def test_polling_delivers_again_until_the_store_is_back(
    make_server, fake_api: FakeBotAPI, broken_store: tuple[str, Path]
) -> None:
    """`make telegram-polling`: the offset moves past an update only once the webhook took it."""
    import threading

    from bot.channels.telegram import make_bot, poll

    url, folder = broken_store
    server = make_server(responder=echo, database_url=url, chat_interval=0.05)
    fake_api.add_update(u.text_update(7107, "fråga"))
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    bot = make_bot(fake_api.token, fake_api.base_url, long_poll_timeout=1)
    thread = threading.Thread(target=lambda: loop.run_until_complete(
        poll(bot, server.url, SECRET, stop=stop, timeout=1)), daemon=True)  # fmt: skip
    thread.start()
    try:
        fake_api.wait_for(lambda: len([c for c in fake_api.calls if c.method == "getUpdates"])
                          >= 1, 10)  # fmt: skip
        import time

        time.sleep(3)  # a few failed deliveries
        assert fake_api.texts(7107) == []
        repair(url, folder)
        fake_api.wait_for(lambda: fake_api.texts(7107) == ["echo: fråga"], 30)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)
    shutil.rmtree(folder, ignore_errors=True)
