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
ORIGIN = f"http://127.0.0.1:{CONSOLE_PORT}"


@dataclass
class Production:
    stack: Stack
    jwt_secret: str
    queue: str
    exchange: str
    database_url: str
    # REST is off in the production profile unless a key is set (bot/channels/rest.py)
    rest_key: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{NGINX_PORT}"

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
                     "Authorization": f"Bearer {self.rest_key}"},
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
            f"{base or self.url}/conversations/{rest_id(sender)}/tracker?include_events=ALL",
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
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Production]:
    tmp = tmp_path_factory.mktemp("production")
    run = uuid.uuid4().hex[:10]
    prefix, queue, exchange = f"t{run}", f"test_events_{run}", f"test-events-{run}"
    jwt_secret = secrets.token_urlsafe(32)
    rest_key = secrets.token_urlsafe(32)
    with postgres_database("test_prod") as database_url:
        settings = Settings(
            profile="production", rasa_port=NGINX_PORT, action_port=ACTION_PORT,
            console_port=CONSOLE_PORT, database_url=database_url, var_dir=tmp,
            office_hours="mon-sun 00:00-23:59",
        )  # fmt: skip
        env = {
            "PROFILE": "production",
            "RASA_JWT_SECRET": jwt_secret,
            "REST_API_KEY": rest_key,
            "SOCKETIO_SESSION_SECRET": secrets.token_urlsafe(32),
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
        }
        stack = Stack(settings, log_dir=tmp / "logs", console=False, env=env)
        try:
            stack.start(timeout=420)
            yield Production(stack, jwt_secret, queue, exchange, database_url, rest_key)
        finally:
            stack.stop()
            client = redis.Redis.from_url(env["REDIS_URL"])
            for key in client.scan_iter(f"{prefix}:*"):
                client.delete(key)
            asyncio.run(_delete_rabbitmq(queue, exchange))
