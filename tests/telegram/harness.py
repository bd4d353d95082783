"""Our Telegram channel mounted in a real Sanic server (own thread and loop), as Rasa mounts it.

The handler that Rasa would give the channel (``on_new_message``) is replaced by one that
records each UserMessage and can answer through the message's output channel, like Rasa does;
everything else is the real channel: its blueprint, python-telegram-bot, HTTP both ways.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import httpx
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.channels.telegram import ACK_WITHIN, SECRET_HEADER, TelegramInput
from bot.pseudonyms import telegram_conversation_id
from tests.telegram.fake_bot_api import FakeBotAPI, free_port

SECRET = "test-secret_0123456789abcdefABCDEF"
PSEUDONYM_KEY = "test-pseudonym-key_0123456789abcdefABCDEF"  # tests/telegram/conftest.py sets it
Responder = Callable[[UserMessage], Awaitable[None]]


@dataclass
class Received:
    text: str
    sender_id: str
    metadata: dict[str, Any] | None
    input_channel: str | None


class ChannelServer:
    def __init__(self, api: FakeBotAPI, *, chat_interval: float = 1.0,
                 webhook_url: str | None = None, responder: Responder | None = None,
                 database_url: str | None = None, ack_within: float = ACK_WITHIN) -> None:
        self.api = api
        self.channel = TelegramInput(api.token, SECRET, webhook_url, api.base_url,
                                     chat_interval=chat_interval, database_url=database_url,
                                     ack_within=ack_within)  # fmt: skip
        self.port = free_port()
        self.responder = responder
        self.received: list[Received] = []
        self.finished: list[str] = []  # texts whose handling (the responder) returned
        self._lock = threading.Lock()
        Sanic.test_mode = True
        self.app = Sanic(f"telegram_test_{uuid.uuid4().hex[:12]}")
        self.app.config.ACCESS_LOG = False

        async def on_new_message(message: UserMessage) -> None:
            with self._lock:
                self.received.append(Received(message.text, message.sender_id,
                                              message.metadata, message.input_channel))
            if self.responder is not None:
                await self.responder(message)
            with self._lock:
                self.finished.append(message.text)

        self.app.blueprint(self.channel.blueprint(on_new_message),
                           url_prefix=f"/webhooks/{self.channel.url_prefix()}")
        self.loop: asyncio.AbstractEventLoop | None = None
        self.http = httpx.Client(timeout=10)
        self._thread: threading.Thread | None = None
        self._server: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/telegram/webhook"

    def start(self) -> ChannelServer:
        started: Future[None] = Future()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self.loop = loop
            try:
                server = loop.run_until_complete(self.app.create_server(
                    host="127.0.0.1", port=self.port, return_asyncio_server=True,
                    access_log=False))  # fmt: skip
                loop.run_until_complete(server.startup())
                loop.run_until_complete(server.before_start())
                loop.run_until_complete(server.after_start())
                self._server = server
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                started.set_exception(exc)
                return
            started.set_result(None)
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="telegram-channel", daemon=True)
        self._thread.start()
        started.result(timeout=20)
        return self

    def stop(self) -> None:
        self.http.close()
        if self.loop is None or self._server is None:
            return

        async def shutdown() -> None:
            await self._server.before_stop()
            self._server.close()
            await self._server.wait_closed()
            await self._server.after_stop()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            if self._thread is not None:
                self._thread.join(10)

    def run(self, coro: Awaitable[Any], timeout: float = 60) -> Any:
        """Run a coroutine in the server's loop (where the channel's bot lives)."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=timeout)

    def post(self, update: Any = None, *, secret: str | None = SECRET, content: bytes | None = None,
             timeout: float = 10) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        if content is None:
            return self.http.post(self.url, json=update, headers=headers, timeout=timeout)
        return self.http.post(self.url, content=content, headers=headers, timeout=timeout)

    def texts_for(self, chat_id: int) -> list[str]:
        with self._lock:
            conversation = telegram_conversation_id(chat_id)
            return [r.text for r in self.received if r.sender_id == conversation]

    def all_received(self) -> list[Received]:
        with self._lock:
            return list(self.received)
