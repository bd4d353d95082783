"""The production profile running for real: PostgreSQL, Redis, RabbitMQ, two Rasa servers
behind nginx, one action server (bot.run.Stack with PROFILE=production). One stack per module:
starting two Rasa servers takes a while.

Ports (this suite's own): nginx 6005, Rasa servers 6015 and 6016, action server 6055,
console 6800. Every run has its own PostgreSQL database, Redis key prefix and socket.io channel,
RabbitMQ queue and exchange, removed afterwards.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import jwt
import pytest
import redis

from bot.conversation_ids import rest_id
from bot.run import Stack
from bot.settings import Settings
from tests.production.services import (
    RABBITMQ_URL,
    REDIS_URL,
    postgres_database,
)

NGINX_PORT, RASA_PORTS, ACTION_PORT, CONSOLE_PORT = 6005, (6015, 6016), 6055, 6800
API_PORT = NGINX_PORT + 1  # nginx's internal server for Rasa's HTTP API (bot/run.py)
ORIGIN = f"http://127.0.0.1:{CONSOLE_PORT}"


@dataclass
class Production:
    stack: Stack
    jwt_secret: str
    rest_api_key: str
    queue: str
    exchange: str
    database_url: str
    # REST is off in the production profile unless a key is set (bot/channels/rest.py)
    rest_key: str = ""

    @property
    def url(self) -> str:
        """The public address (nginx)."""
        return f"http://127.0.0.1:{NGINX_PORT}"

    @property
    def api_url(self) -> str:
        """Rasa's HTTP API, on the loopback address only (the console's and actions' RASA_URL)."""
        return f"http://127.0.0.1:{API_PORT}"

    def server_url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}"

    def token(self) -> str:
        now = int(time.time())
        return jwt.encode(
            {"user": {"username": "test", "role": "admin"}, "iat": now, "exp": now + 300},
            self.jwt_secret, algorithm="HS256",
        )  # fmt: skip

    def say(self, sender: str, text: str, *, base: str | None = None, timeout: float = 60,
            message_id: str | None = None, **metadata: str) -> tuple[int, list[dict]]:  # fmt: skip
        """POST one REST message; (status, replies). A connection error is status 0."""
        payload = {"sender": sender, "message": text, "metadata": metadata}
        if message_id is not None:
            payload["message_id"] = message_id
        body = json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{base or self.url}/webhooks/rest/webhook", data=body,
            headers={"Content-Type": "application/json",
                     "Authorization": f"Bearer {self.rest_api_key}"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, []
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return 0, []

    def tracker(self, sender: str, *, base: str | None = None) -> dict:
        """The tracker of a REST sender's conversation (stored as rest:<sender>)."""
        request = urllib.request.Request(
            f"{base or self.api_url}/conversations/{rest_id(sender)}/tracker?include_events=ALL",
            headers={"Authorization": f"Bearer {self.token()}"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def user_texts(self, sender: str) -> list[str]:
        return [e.get("text") for e in self.tracker(sender)["events"] if e["event"] == "user"]


def wait_until(predicate, timeout: float, every: float = 0.5) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


async def _delete_rabbitmq(queue: str, exchange: str) -> None:
    import aio_pika

    connection = await aio_pika.connect_robust(RABBITMQ_URL, timeout=10)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(queue)
        await channel.exchange_delete(exchange)


@pytest.fixture(scope="module")
def production(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Production]:
    """The profile; a test module's ``STACK_ENV`` adds to (or overrides) its environment."""
    tmp = tmp_path_factory.mktemp("production")
    run = uuid.uuid4().hex[:10]
    prefix, queue, exchange = f"t{run}", f"test_events_{run}", f"test-events-{run}"
    jwt_secret = secrets.token_urlsafe(32)
    rest_api_key = secrets.token_urlsafe(32)
    with postgres_database("test_prod") as database_url:
        settings = Settings(
            profile="production", rasa_port=NGINX_PORT, action_port=ACTION_PORT,
            console_port=CONSOLE_PORT, database_url=database_url, var_dir=tmp,
            office_hours="mon-sun 00:00-23:59",
        )  # fmt: skip
        env = {
            "PROFILE": "production",
            "RASA_JWT_SECRET": jwt_secret,
            "ACTION_SERVER_TOKEN": secrets.token_urlsafe(32),
            # REST is published (and needs this key) only with a key
            "REST_API_KEY": rest_api_key,
            "SOCKETIO_SESSION_SECRET": secrets.token_urlsafe(32),
            "AUDIT_KEY": secrets.token_urlsafe(32),
            "RASA_SERVER_PORTS": ",".join(map(str, RASA_PORTS)),
            "REDIS_URL": REDIS_URL.rsplit("/", 1)[0] + "/1",
            "REDIS_KEY_PREFIX": prefix,
            "RABBITMQ_URL": RABBITMQ_URL,
            "RABBITMQ_QUEUE": queue,
            "RABBITMQ_EXCHANGE": exchange,
            "SOCKETIO_MANAGER_CHANNEL": f"test-socketio-{run}",
            "OFFICE_HOURS": settings.office_hours,
            # a killed server's ticket lock lasts this long (Rasa's default: 60 s). It must be
            # longer than any message takes: with 10 s, on a loaded machine, a lock expired
            # while its message was processed and the other server's message was lost
            "TICKET_LOCK_LIFETIME": "30",
            **getattr(request.module, "STACK_ENV", {}),
        }
        stack = Stack(settings, log_dir=tmp / "logs", console=False, env=env)
        try:
            stack.start(timeout=420)
            yield Production(stack, jwt_secret, rest_api_key, queue, exchange, database_url)
        finally:
            stack.stop()
            client = redis.Redis.from_url(env["REDIS_URL"])
            for key in client.scan_iter(f"{prefix}:*"):
                client.delete(key)
            asyncio.run(_delete_rabbitmq(queue, exchange))


class BrokerTap:
    """Every event published to the profile's exchange from now on, read as the console reads
    them: an exclusive, auto-deleted queue of its own bound to the fanout exchange (Rasa's
    broker has no queue: bot/rasa_production.py). Runs its own event loop in a thread."""

    def __init__(self, exchange: str) -> None:
        import threading

        self.exchange = exchange
        self.events: list[dict] = []
        self.messages: list = []  # the aio_pika messages (properties: expiration, delivery)
        self.queue_name = ""
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._connection = None

    async def _open(self) -> None:
        import aio_pika

        self._connection = await aio_pika.connect(RABBITMQ_URL, timeout=10)
        channel = await self._connection.channel()
        exchange = await channel.declare_exchange(self.exchange, type=aio_pika.ExchangeType.FANOUT)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        self.queue_name = queue.name
        await queue.bind(exchange, "")

        async def on_message(message) -> None:  # type: ignore[no-untyped-def]
            async with message.process():
                self.messages.append(message)
                self.events.append(json.loads(message.body))

        await queue.consume(on_message)

    def __enter__(self) -> BrokerTap:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self._loop).result(30)
        return self

    def __exit__(self, *_: object) -> None:
        if self._connection is not None:
            asyncio.run_coroutine_threadsafe(self._connection.close(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def of(self, sender: str) -> list[dict]:
        """The events of a conversation: a REST sender's are stored as rest:<sender>."""
        ids = {sender, rest_id(sender)} if ":" not in sender else {sender}
        return [e for e in list(self.events) if e.get("sender_id") in ids]

    def wait_for(self, sender: str, predicate, timeout: float = 30) -> list[dict]:  # type: ignore[no-untyped-def]
        wait_until(lambda: predicate(self.of(sender)), timeout, every=0.2)
        return self.of(sender)
