"""The console follows a conversation through the event broker (bot/console/live.py).

A real RabbitMQ and Rasa's own Pika broker publishing; the Rasa HTTP API is the console tests'
fake (tests/console/fake_rasa.py). The transcript stream's polling is set to 30 s, so a turn
that arrives within a second came through the broker. With RabbitMQ stopped the stream says it
is not live, and live again when RabbitMQ is back.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from queue import Empty
from urllib.parse import urlsplit

import httpx
import pytest

from bot.console.app import create_app
from bot.console.config import ConsoleConfig
from bot.console.live import BrokerFeed
from bot.console.rasa import PooledRasaAPI
from bot.settings import Settings
from tests.console.conftest import (  # noqa: F401 - fixtures
    JWT_SECRET,
    add_account,
    content_dir,
    escalate,
    fake_rasa,
    fake_rasa_server,
    settings,
)
from tests.console.fake_rasa import FakeRasa, serve_in_thread, stop_server
from tests.console.test_streams import SSEReader, login
from tests.production.services import RABBITMQ_URL, rabbitmqctl

pytestmark = pytest.mark.slow

SLOW_POLL = ConsoleConfig(
    queue_poll_seconds=0.1, transcript_poll_seconds=30.0, stream_auth_seconds=0.2,
    live_check_seconds=30.0,
)  # fmt: skip


async def publish(exchange: str, queue: str, events: list[dict]) -> None:
    """Publish as a Rasa server does: Rasa's PikaEventBroker, the profile's exchange."""
    import rasa.shared.core.events  # noqa: F401 - the broker uses it without importing it
    from rasa.core.brokers.pika import PikaEventBroker

    url = urlsplit(RABBITMQ_URL)
    broker = PikaEventBroker(
        url.hostname or "127.0.0.1", url.username or "guest", url.password or "guest",
        port=url.port or 5672, queues=[queue], exchange_name=exchange,
        event_loop=asyncio.get_running_loop(), connection_attempts=2, retry_delay_in_seconds=1,
    )  # fmt: skip
    await broker.connect()
    for event in events:
        broker.publish(event)
    await asyncio.gather(*list(broker._background_tasks))
    await broker.close()


async def delete(exchange: str, queue: str) -> None:
    import aio_pika

    connection = await aio_pika.connect_robust(RABBITMQ_URL, timeout=10)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(queue)
        await channel.exchange_delete(exchange)


@pytest.fixture()
def served(settings: Settings, fake_rasa: FakeRasa) -> Iterator[tuple[str, str, str]]:  # noqa: F811
    run = uuid.uuid4().hex[:10]
    exchange, queue = f"test-live-{run}", f"test_live_{run}"
    asyncio.run(publish(exchange, queue, []))  # the exchange exists, as Rasa declares it
    live = BrokerFeed(RABBITMQ_URL, exchange)
    app = create_app(settings, rasa=PooledRasaAPI(fake_rasa.url, JWT_SECRET), config=SLOW_POLL,
                     live=live)  # fmt: skip
    server, thread, port = serve_in_thread(app)
    try:
        yield f"http://127.0.0.1:{port}", exchange, queue
    finally:
        app.state.stopping.set()
        stop_server(server, thread)
        asyncio.run(delete(exchange, queue))


def open_stream(url: str, settings: Settings, fake: FakeRasa) -> tuple[SSEReader, str, int]:  # noqa: F811
    add_account(settings, "anna")
    cookie, csrf = login(url, "anna")
    escalated = escalate(settings, fake)
    headers = {"Cookie": f"console_session={cookie}", "X-CSRF-Token": csrf}
    assert httpx.post(f"{url}/console/api/handoffs/{escalated.handoff_id}/claim",
                      headers=headers).status_code == 200  # fmt: skip
    after = httpx.get(f"{url}/console/api/handoffs/{escalated.handoff_id}",
                      headers=headers).json()["next_seq"]  # fmt: skip
    reader = SSEReader(
        f"{url}/console/api/handoffs/{escalated.handoff_id}/stream?after={after}", cookie
    )
    return reader, escalated.conversation_id, after


def until_live(reader: SSEReader, ok: bool, timeout: float) -> None:
    """The stream's "live" events until one says ``ok`` (the first may still say the
    opposite: the feed connects while the stream opens)."""
    deadline = time.monotonic() + timeout
    while True:
        data, _, _ = reader.next("live", timeout=max(0.1, deadline - time.monotonic()))
        if json.loads(data) == {"ok": ok}:
            return


def test_a_new_message_comes_through_the_broker_at_once(
    served: tuple[str, str, str], settings: Settings, fake_rasa: FakeRasa  # noqa: F811
) -> None:
    url, exchange, queue = served
    reader, conversation_id, after = open_stream(url, settings, fake_rasa)
    try:
        until_live(reader, True, 10)
        reader.next("handoff")
        time.sleep(0.5)  # the stream has read the transcript and waits
        started = time.monotonic()
        fake_rasa.user_says(conversation_id, "Är du kvar?", intent="affirm")
        event = fake_rasa.events_of(conversation_id)[-1]
        asyncio.run(publish(exchange, queue, [{**event, "sender_id": conversation_id}]))
        data, _, arrived = reader.next("turns", timeout=5.0)
        assert arrived - started < 2.0  # polling alone would take 30 s
        assert [t["text"] for t in json.loads(data)] == ["Är du kvar?"]
        # an event of another conversation wakes nobody here
        time.sleep(0.5)
        fake_rasa.user_says(conversation_id, "Hallå?")
        asyncio.run(publish(exchange, queue, [{"event": "user", "sender_id": "someone-else"}]))
        try:
            data, _, _ = reader.next("turns", timeout=2.0)
        except (AssertionError, Empty):
            pass  # nothing within 2 s: right
        else:
            raise AssertionError(f"woken by another conversation's event: {data}")
    finally:
        reader.close()


def test_rabbitmq_down_the_console_says_it_is_not_live(
    served: tuple[str, str, str], settings: Settings, fake_rasa: FakeRasa  # noqa: F811
) -> None:
    url, _, _ = served
    reader, _, _ = open_stream(url, settings, fake_rasa)
    try:
        until_live(reader, True, 10)
        try:
            rabbitmqctl("stop_app")
            data, _, _ = reader.next("live", timeout=35)
            assert json.loads(data) == {"ok": False}
        finally:
            rabbitmqctl("start_app")
            rabbitmqctl("await_startup")
        data, _, _ = reader.next("live", timeout=40)
        assert json.loads(data) == {"ok": True}  # live again, without waiting for a poll
    finally:
        reader.close()
