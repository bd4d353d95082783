"""Live updates from Rasa's event broker (the production profile's RabbitMQ).

Rasa publishes every tracker event to a fanout exchange (endpoints.production.yml). The console
binds a queue of its own to it (exclusive, deleted when the console stops, so it takes nothing
from the profile's durable queue) and wakes the transcript stream of a conversation as soon as
one of its events arrives, instead of asking Rasa every fraction of a second. Without a broker
(the dev profile, or RabbitMQ down) ``live`` is False: the stream says "not live" and polls.

Only the conversation id of an event is read; nothing of it is logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import defaultdict

logger = logging.getLogger(__name__)

RETRY_SECONDS = 2.0


class BrokerFeed:
    """Which conversations changed, as Rasa's events arrive on RabbitMQ."""

    def __init__(self, url: str, exchange: str) -> None:
        self.url = url
        self.exchange = exchange
        self.live = False
        self._versions: dict[str, int] = defaultdict(int)
        self._changed = asyncio.Condition()
        self._task: asyncio.Task | None = None

    @classmethod
    def from_env(cls) -> BrokerFeed | None:
        """The profile's broker (bot/run.py sets these), or None when there is none."""
        host = os.environ.get("RABBITMQ_HOST")
        exchange = os.environ.get("RABBITMQ_EXCHANGE")
        if os.environ.get("PROFILE") != "production" or not host or not exchange:
            return None
        from urllib.parse import quote

        user = quote(os.environ.get("RABBITMQ_USERNAME") or "guest", safe="")
        password = quote(os.environ.get("RABBITMQ_PASSWORD") or "guest", safe="")
        port = os.environ.get("RABBITMQ_PORT") or "5672"
        return cls(f"amqp://{user}:{password}@{host}:{port}/", exchange)

    def version(self, conversation_id: str) -> int:
        return self._versions.get(conversation_id, 0)

    async def wait(self, conversation_id: str, since: int, timeout: float) -> bool:
        """True as soon as the conversation has an event after ``since`` (a ``version``);
        False after ``timeout`` seconds or when the feed goes live or stops being live."""
        was_live = self.live

        def changed() -> bool:
            return self.version(conversation_id) > since or self.live != was_live

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(changed), timeout)
            except asyncio.TimeoutError:
                return False
        return self.version(conversation_id) > since

    async def _notify(self, conversation_id: str | None = None) -> None:
        async with self._changed:
            if conversation_id is not None:
                self._versions[conversation_id] += 1
            self._changed.notify_all()

    async def _set_live(self, live: bool) -> None:
        if live != self.live:
            self.live = live
            logger.info("Live updates from the event broker: %s", "on" if live else "off")
            await self._notify()

    async def _follow(self) -> None:
        import aio_pika

        connection = await aio_pika.connect(self.url, timeout=5)
        closed = asyncio.Event()
        connection.close_callbacks.add(lambda *_: closed.set())
        try:
            channel = await connection.channel()
            # declared exactly as Rasa's Pika broker declares it (not durable)
            exchange = await channel.declare_exchange(
                self.exchange, type=aio_pika.ExchangeType.FANOUT
            )
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            await queue.bind(exchange, "")

            async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                async with message.process():
                    try:
                        sender = json.loads(message.body).get("sender_id")
                    except (ValueError, AttributeError):
                        return
                    if isinstance(sender, str):
                        await self._notify(sender)

            await queue.consume(on_message)
            await self._set_live(True)
            await closed.wait()
        finally:
            await self._set_live(False)
            if not connection.is_closed:
                await connection.close()

    async def run(self) -> None:
        """Follow the broker until cancelled, connecting again after every loss."""
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - any broker trouble: not live, retry
                logger.warning("Event broker not reachable (%s)", type(error).__name__)
            await self._set_live(False)
            await asyncio.sleep(RETRY_SECONDS)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
