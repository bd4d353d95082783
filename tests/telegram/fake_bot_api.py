"""A local stand-in for the Telegram Bot API: answers like Telegram, records every call.

Runs an aiohttp app on 127.0.0.1 in its own thread and event loop, so that the code under test
(python-telegram-bot inside our channel, in this process or in a Rasa subprocess) talks to it
over real HTTP through the bot's base URL. Answers have the shapes Telegram sends
({"ok": true, "result": ...}); failures can be queued per method: a 429 with retry_after, a 502
(python-telegram-bot's NetworkError) or a 403 (the user blocked the bot).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_USER = {
    "id": 7000000001, "is_bot": True, "first_name": "Return help", "username": "return_help_bot",
    "can_join_groups": False, "can_read_all_group_messages": False,
    "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False,
}  # fmt: skip
# Parameters that python-telegram-bot sends JSON-encoded; everything else stays a string.
JSON_PARAMETERS = {
    "chat_id", "reply_markup", "link_preview_options", "allowed_updates", "offset", "timeout",
    "limit", "drop_pending_updates", "show_alert", "cache_time", "max_connections",
    "message_id", "reply_parameters", "entities",
}  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float  # time.monotonic()
    token: str
    status: int = 200


@dataclass
class FakeBotAPI:
    token: str = "123456:TEST-token_for-the-fake-api"
    port: int = field(default_factory=free_port)
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, list[str]] = {}
        self._updates: list[dict[str, Any]] = []
        self._message_id = 100
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._new_update: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    # -- control from the tests ------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def fail_next(self, method: str, *kinds: str) -> None:
        """The next calls of ``method`` fail, one per kind: "429", "502", "reset"
        (connection dropped) or "403"."""
        with self._lock:
            self._failures.setdefault(method, []).extend(kinds)

    def add_update(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates."""
        with self._lock:
            self._updates.append(update)
        if self._loop is not None and self._new_update is not None:
            self._loop.call_soon_threadsafe(self._new_update.set)

    def deliver(self, update: dict[str, Any], url: str, secret: str, *, every: float = 0.2,
                attempts: int = 20, before_attempt: Any = None) -> list[int]:
        """Telegram's side of a webhook: POST the update (with the secret) until it is
        answered with a 2xx, waiting ``every`` seconds after a failure, as Telegram delivers an
        update again. ``before_attempt(n)`` runs before attempt n (1, 2, ...). The statuses
        (599 for no answer)."""
        import httpx

        statuses: list[int] = []
        with httpx.Client(timeout=60) as client:
            for attempt in range(1, attempts + 1):
                if before_attempt is not None:
                    before_attempt(attempt)
                try:
                    status = client.post(url, json=update, headers={
                        "X-Telegram-Bot-Api-Secret-Token": secret}).status_code
                except httpx.HTTPError:
                    status = 599
                statuses.append(status)
                if 200 <= status < 300:
                    break
                time.sleep(every)
        return statuses

    def recorded(self, method: str, chat_id: int | None = None, *, ok_only: bool = True) -> list[Call]:
        with self._lock:
            calls = list(self.calls)
        return [
            c for c in calls
            if c.method == method and (not ok_only or c.status == 200)
            and (chat_id is None or c.params.get("chat_id") == chat_id)
        ]  # fmt: skip

    def texts(self, chat_id: int) -> list[str]:
        return [c.params.get("text", "") for c in self.recorded("sendMessage", chat_id)]

    def wait_for(self, predicate: Any, timeout: float = 30.0, what: str = "calls") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; got {self.summary()}")

    def summary(self) -> list[tuple[str, Any, int]]:
        with self._lock:
            return [(c.method, c.params.get("chat_id"), c.status) for c in self.calls]

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()
            self._failures.clear()

    # -- the server ------------------------------------------------------------------------
    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method in ("setWebhook", "deleteWebhook", "sendChatAction", "answerCallbackQuery"):
            return True
        if method == "getUpdates":
            offset = params.get("offset")
            with self._lock:
                if isinstance(offset, int):
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                return list(self._updates)[: int(params.get("limit") or 100)]
        if method in ("sendMessage", "sendPhoto"):
            with self._lock:
                self._message_id += 1
                message_id = self._message_id
            chat_id = params.get("chat_id")
            message: dict[str, Any] = {
                "message_id": message_id, "from": BOT_USER, "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private" if int(chat_id) > 0 else "supergroup",
                         "first_name": "Test"},
            }  # fmt: skip
            if method == "sendMessage":
                message["text"] = params.get("text", "")
            else:
                message["photo"] = [{"file_id": "AgAD", "file_unique_id": "AQAD", "width": 1,
                                     "height": 1}]
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            return message
        return True

    async def _handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        if request.content_type == "application/json":
            raw = await request.json()
        else:
            raw = dict(await request.post())
        params: dict[str, Any] = {}
        for key, value in raw.items():
            if key in JSON_PARAMETERS and isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    pass
            params[key] = value
        with self._lock:
            failures = self._failures.get(method) or []
            failure = failures.pop(0) if failures else None
        if token != self.token:
            failure = "401"
        status = (599 if failure == "reset" else int(failure)) if failure else 200
        with self._lock:
            self.calls.append(Call(method, params, time.monotonic(), token, status))
        if failure == "429":
            return web.json_response(
                {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                 "parameters": {"retry_after": 1}}, status=429)  # fmt: skip
        if failure == "502":
            return web.json_response(
                {"ok": False, "error_code": 502, "description": "Bad Gateway"}, status=502)
        if failure == "reset":  # the connection drops before an answer
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        if failure == "403":
            return web.json_response(
                {"ok": False, "error_code": 403,
                 "description": "Forbidden: bot was blocked by the user"}, status=403)  # fmt: skip
        if failure == "401":
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        if method == "getUpdates" and not self._result(method, params):
            # long polling: wait (at most a second here) for an update
            assert self._new_update is not None
            self._new_update.clear()
            wait = min(float(params.get("timeout") or 0), 1.0)
            try:
                await asyncio.wait_for(self._new_update.wait(), wait)
            except asyncio.TimeoutError:
                pass
        return web.json_response({"ok": True, "result": self._result(method, params)})

    def start(self) -> FakeBotAPI:
        started = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            self._new_update = asyncio.Event()
            app = web.Application()
            app.router.add_route("*", "/bot{token}/{method}", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-bot-api", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the fake Bot API did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
