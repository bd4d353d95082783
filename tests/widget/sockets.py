"""A real Sanic server with a socket.io channel, and socket.io clients that record events.

The server is Rasa's own app (``rasa.core.run.configure_app``) with the channel registered the
way ``rasa run`` registers it; its agent is a small stand-in that answers every message and
keeps the events in Rasa's in-memory tracker store, so the channel's history and output
channel run against the real store API. python-engineio's client needs aiohttp >= 3.10 for
websockets (Rasa pins 3.9), so the clients use long-polling, which the browser also starts with.
"""

from __future__ import annotations

import asyncio
import socket
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import socketio
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.run import configure_app
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from sanic import Sanic

from bot.channels.socketio import stop_background_tasks

ORIGIN = "http://127.0.0.1:8000"
SECRET = "a-test-secret-that-is-long-enough-0123456789"


TIMEOUT = 10.0  # no wait in these tests is longer; none is unbounded


async def bounded(awaitable: Awaitable[Any], timeout: float = TIMEOUT) -> Any:
    """``awaitable``, or asyncio.TimeoutError after ``timeout`` seconds: a test never hangs."""
    return await asyncio.wait_for(awaitable, timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


@dataclass
class StandInAgent:
    """What the channel needs of Rasa's agent: handle_message and a tracker store."""

    received: list[UserMessage] = field(default_factory=list)
    tracker_store: InMemoryTrackerStore = field(
        default_factory=lambda: InMemoryTrackerStore(Domain.empty())
    )

    async def handle_message(self, message: UserMessage) -> None:
        self.received.append(message)
        tracker = await self.tracker_store.get_or_create_tracker(message.sender_id)
        tracker.update(UserUttered(message.text, input_channel=message.input_channel,
                                   metadata=message.metadata))  # fmt: skip
        reply = f"reply to {message.text}"
        buttons = [{"title": "Appeal", "payload": "/appeal_how"}]
        tracker.update(BotUttered(reply, data={"buttons": buttons}))
        await self.tracker_store.save(tracker)
        await message.output_channel.send_text_with_buttons(message.sender_id, reply, buttons)


@asynccontextmanager
async def serve(channel: InputChannel, agent: Any | None = None,
                host: str = "127.0.0.1") -> AsyncIterator[str]:  # fmt: skip
    """The Rasa app with ``channel`` on a free port; yields its base URL.

    Stopped the way Sanic stops a server, but without its 15 s grace: listeners, then the
    listening socket, then every connection still open (a long-poll GET the server holds for
    up to ping_interval + ping_timeout) is aborted, which cancels its handler.
    """
    Sanic.test_mode = True  # several apps of the same name in one process
    app = configure_app(input_channels=[channel], enable_api=False, use_uvloop=False)
    app.ctx.agent = agent if agent is not None else StandInAgent()
    port = free_port()
    before = asyncio.all_tasks()
    server = await bounded(
        app.create_server(host=host, port=port, return_asyncio_server=True,
                          access_log=False)  # fmt: skip
    )
    await bounded(server.startup())
    await bounded(server.before_start())
    await bounded(server.start_serving())
    await bounded(server.after_start())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await bounded(server.before_stop())  # our channel stops its socket.io tasks here
        sio = getattr(channel, "sio", None)
        if sio is not None:  # Rasa's own channel does not
            await bounded(stop_background_tasks(sio))
        server.server.close()
        for connection in list(server.connections):
            connection.close_if_idle()
        await asyncio.sleep(0)
        for connection in list(server.connections):
            connection.abort()
        await bounded(server.wait_closed())
        await bounded(server.after_stop())
        # what python-engineio leaves running: a ping timer per socket (asleep for
        # ping_interval), a handler of an orphaned long-poll
        left = asyncio.all_tasks() - before - {asyncio.current_task()}
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(left, timeout=5)


class Client:
    """A socket.io client that queues every event it receives, by name."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: dict[str, asyncio.Queue] = defaultdict(asyncio.Queue)
        for name in ("session_confirm", "history", "bot_uttered", "user_echo", "session_ended",
                     "session_unavailable"):  # fmt: skip
            self.sio.on(name, self._recorder(name))

    def _recorder(self, name: str):
        async def record(data: Any = None) -> None:
            self.events[name].put_nowait(data)

        return record

    async def connect(self, url: str, origin: str | None = ORIGIN) -> Client:
        headers = {"Origin": origin} if origin else {}
        await bounded(self.sio.connect(url, transports=["polling"], headers=headers,
                                       socketio_path="/socket.io", wait_timeout=5))  # fmt: skip
        return self

    async def next(self, name: str, timeout: float = 5.0) -> Any:
        return await asyncio.wait_for(self.events[name].get(), timeout)

    async def nothing(self, name: str, wait: float = 1.5) -> bool:
        """True if no ``name`` event arrives within ``wait`` seconds."""
        try:
            await asyncio.wait_for(self.events[name].get(), wait)
        except asyncio.TimeoutError:
            return True
        return False

    async def session(self, token: Any = None) -> dict[str, Any]:
        await bounded(self.sio.emit("session_request", {} if token is None else {"token": token}))
        return await self.next("session_confirm")

    async def session_end(self, token: str) -> dict[str, Any]:
        """ "Clear": the old session ends and a new one begins."""
        await bounded(self.sio.emit("session_request", {"end": token}))
        return await self.next("session_confirm")

    async def say(self, data: Any) -> Any:
        return await bounded(self.sio.call("user_uttered", data, timeout=8))

    async def close(self) -> None:
        """Disconnect at once, telling the server, and leave no task or HTTP session behind.

        python-engineio's client, on long-polling, posts the goodbye (socket.io DISCONNECT,
        engine.io CLOSE) and then waits for its pending long-poll GET to end. The server never
        answers that GET once the client has said goodbye (it only lets it time out after
        ping_interval + ping_timeout), so the client waited its own request timeout, 30 s, on
        every disconnect: the "hang". Here the goodbye is sent and delivered (the write loop
        ends after posting it), then the HTTP session is closed, which ends the GET.
        """
        eio = self.sio.eio
        if eio.state != "connected":
            await bounded(eio._reset())  # an open aiohttp session after a failed connect
            return
        writer = eio.write_loop_task
        disconnecting = asyncio.ensure_future(self.sio.disconnect())
        try:
            if writer is not None:
                await asyncio.wait({writer}, timeout=5)  # the goodbye was posted
            if eio.http is not None and not eio.http.closed:
                await bounded(eio.http.close())  # ends the long-poll GET
            await bounded(disconnecting, 5)
        finally:
            for task in (disconnecting, eio.read_loop_task, eio.write_loop_task):
                if task is not None and not task.done():
                    task.cancel()


@asynccontextmanager
async def clients(url: str, count: int = 1) -> AsyncIterator[list[Client]]:
    opened: list[Client] = []
    try:
        for _ in range(count):
            opened.append(await Client().connect(url))
        yield opened
    finally:
        for client in opened:
            await client.close()
