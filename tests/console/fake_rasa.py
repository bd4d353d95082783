"""A local fake of the parts of Rasa's HTTP API the console uses, on a real port.

It behaves like Rasa 3.6 (rasa/server.py): ``GET /conversations/{id}/tracker`` returns the
events; ``POST /conversations/{id}/tracker/events`` appends one event or a list, and with
``output_channel=latest&execute_side_effects=true`` a bot event is also delivered to the user's
channel (recorded here in ``delivered`` with the time it arrived). Every call needs a valid
HS256 JWT in the Authorization header, as with ``rasa run --enable-api --jwt-secret``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
import uvicorn
from fastapi import FastAPI, HTTPException, Request


@dataclass
class Delivery:
    conversation_id: str
    event: dict[str, Any]
    at: float  # time.monotonic() when it arrived


@dataclass
class FakeRasa:
    secret: str
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    delivered: list[Delivery] = field(default_factory=list)
    appended: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    unauthorised: int = 0
    down: bool = False
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    # -- what a test does --------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        with self._lock:
            self.events.clear()
            self.delivered.clear()
            self.appended.clear()
            self.unauthorised = 0
            self.down = False

    def user_says(
        self,
        conversation_id: str,
        text: str,
        *,
        language: str = "sv",
        intent: str = "nlu_fallback",
        channel: str = "socketio",
        at: float | None = None,
    ) -> None:
        """A user's message as Rasa logs it (also while the conversation is paused); ``at``:
        its timestamp (default now)."""
        self._append(conversation_id, {
            "event": "user", "timestamp": time.time() if at is None else at, "text": text,
            "input_channel": channel,
            "parse_data": {
                "text": text, "intent": {"name": intent, "confidence": 0.93},
                "language": {"name": language, "confidence": 0.97}, "entities": [],
            },
            "metadata": {},
        })  # fmt: skip

    def bot_says(
        self,
        conversation_id: str,
        text: str,
        *,
        topic: str | None = None,
        buttons: list[str] | None = None,
    ) -> None:
        metadata = {"utter_action": "action_answer"}
        if topic:
            metadata["custom_topic"] = topic
        self._append(conversation_id, {
            "event": "bot", "timestamp": time.time(), "text": text, "metadata": metadata,
            "data": {"buttons": [{"title": b, "payload": "/x"} for b in buttons or []]},
        })  # fmt: skip

    def pause(self, conversation_id: str) -> None:
        self._append(conversation_id, {"event": "pause", "timestamp": time.time()})

    def events_of(self, conversation_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events.get(conversation_id, []))

    def delivered_to(self, conversation_id: str) -> list[Delivery]:
        with self._lock:
            return [d for d in self.delivered if d.conversation_id == conversation_id]

    def paused(self, conversation_id: str) -> bool:
        state = False
        for event in self.events_of(conversation_id):
            if event["event"] == "pause":
                state = True
            elif event["event"] == "resume":
                state = False
        return state

    def _append(self, conversation_id: str, event: dict[str, Any]) -> None:
        with self._lock:
            self.events.setdefault(conversation_id, []).append(event)

    # -- the HTTP side -----------------------------------------------------------------------
    def _check(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        if self.down:
            raise HTTPException(503, "down")
        if not header.startswith("Bearer "):
            self.unauthorised += 1
            raise HTTPException(401, "no token")
        try:
            payload = jwt.decode(header[7:], self.secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            self.unauthorised += 1
            raise HTTPException(401, "bad token") from None
        if (payload.get("user") or {}).get("role") != "admin":
            raise HTTPException(403, "not admin")
        if "token" in request.query_params:
            raise HTTPException(400, "token in the URL: refused by this fake")

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/conversations/{conversation_id}/tracker")
        def tracker(conversation_id: str, request: Request) -> dict[str, Any]:
            self._check(request)
            return {
                "sender_id": conversation_id,
                "events": self.events_of(conversation_id),
                "paused": self.paused(conversation_id),
                "slots": {},
            }

        @app.post("/conversations/{conversation_id}/tracker/events")
        async def append(conversation_id: str, request: Request) -> dict[str, Any]:
            self._check(request)
            body = await request.json()
            events = body if isinstance(body, list) else [body]
            params = dict(request.query_params)
            deliver = (params.get("output_channel") == "latest"
                       and params.get("execute_side_effects") == "true")  # fmt: skip
            for event in events:
                if event.get("event") not in {"bot", "user", "pause", "resume", "slot", "action"}:
                    raise HTTPException(400, "unknown event")
                stored = {"timestamp": time.time(), **event}
                self._append(conversation_id, stored)
                with self._lock:
                    self.appended.append((conversation_id, stored, params))
                    if deliver and event["event"] == "bot":
                        self.delivered.append(Delivery(conversation_id, stored, time.monotonic()))
            return {"sender_id": conversation_id, "events": self.events_of(conversation_id)}

        return app

    def start(self) -> FakeRasa:
        self._server, self._thread, self.port = serve_in_thread(self.app())
        return self

    def stop(self) -> None:
        stop_server(self._server, self._thread)


def serve_in_thread(app: Any) -> tuple[uvicorn.Server, threading.Thread, int]:
    """An ASGI app under a real uvicorn on a free 127.0.0.1 port, in a daemon thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=1)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    return server, thread, port


def stop_server(server: uvicorn.Server | None, thread: threading.Thread | None) -> None:
    if server is not None:
        server.should_exit = True
    if thread is not None:
        thread.join(timeout=10)
