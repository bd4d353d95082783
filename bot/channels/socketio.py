"""socket.io channel for the web widget (`/socket.io`, events user_uttered / bot_uttered).

Written like Rasa's own channel (rasa/core/channels/socketio.py), with what that one lacks:

- Sessions are issued by the server. A widget conversation's id is random (128 bits) and never
  leaves the server: the browser holds an opaque session token ``v2.<handle>`` (256 random
  bits) that the server maps to the conversation (bot/store/widget_sessions.py, table
  ``widget_sessions``: the handle's hash, the conversation, created, expires, revoked). On
  ``session_request`` a live token resumes its conversation; anything else (no token, a forged,
  expired or revoked one) starts a new conversation, and the browser is told that the old one
  is not resumed (it then wipes what it kept). The server remembers which conversation each
  connection holds and ignores any session id sent with a message, so nobody can read or write
  another person's conversation by guessing or reusing an id.
- A session expires when unused for the retention period (RETENTION_DAYS, or
  ``WIDGET_SESSION_DAYS``). "Clear" ends it (``session_request`` with ``end``: the old
  session is revoked and a new conversation begins), "Leave quickly" too (a beacon to
  ``<socket.io path>/end``, which survives the page being left), and so does "delete my data"
  (bot/deletion.py: every session of the conversation is deleted with it, and every tab of the
  conversation is told, ``session_ended``, to wipe its copy). Every message checks that its
  session is still live: a tab of an ended session cannot go on writing.
- Old tokens (``v1.<conversation id>.<HMAC>``, signed with ``SOCKETIO_SESSION_SECRET``) are
  honoured once, to move an ongoing conversation to a handle (see widget_sessions.py why).
- Rasa's channel calls python-socketio 5.x's ``AsyncServer.enter_room`` without awaiting it
  (it became a coroutine), so with session persistence its replies go to an empty room and the
  user never gets an answer. Here it is awaited (tests/widget/test_socketio_channel.py keeps
  a test that fails with Rasa's channel).
- Only the configured origins may connect (``SOCKETIO_ALLOWED_ORIGINS``); Rasa's passes
  ``cors_allowed_origins=[]``, which switches python-engineio's Origin check off.
- Every text goes through ``clean_text`` (length limit, redaction); metadata through
  ``clean_metadata`` (only ``language``). The acknowledgement of a message carries the text
  as stored (redacted): the widget keeps that, never what was typed. Messages are
  rate-limited per connection: over the limit the user gets a kind message and the message is
  acknowledged as not taken (the widget sends it again a little later); the connection stays
  open.
- Each message may carry a client id: a message sent again after a dropped acknowledgement is
  recognised and not processed twice (the widget's offline queue relies on it), also when
  it reaches another Rasa server (the id is stored with the message: bot/message_ids.py).
- On a resumed session the conversation's history (user and bot texts from the tracker store)
  is sent to that connection, so a reload shows it.
- Replies go to a room per conversation: every tab of the same person gets them, and so do
  counsellor replies appended through Rasa's HTTP API with ``output_channel=latest``.
- With several Rasa servers (the production profile), ``SOCKETIO_MANAGER_URL`` (or the
  credentials' ``client_manager_url``) names a Redis server: python-socketio's own
  ``AsyncRedisManager`` then carries every emit to all servers, so a reply sent through one
  server reaches a browser connected to another. Channel name: ``SOCKETIO_MANAGER_CHANNEL``.
- No log line holds a text or an id; an error is logged by its type only (a database error's
  text quotes the SQL parameters).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import os
import re
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint
from rasa.shared.core.events import BotUttered, UserUttered
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from bot import abuse
from bot.channels.common import clean_metadata, clean_text
from bot.message_ids import client_message_id
from bot.settings import LANGUAGES, SettingsError, get_settings
from bot.store import widget_sessions

logger = logging.getLogger(__name__)

V1_PREFIX = "v1"
_TOKEN_CONTEXT = b"socketio-session:v1:"
_CONVERSATION_ID = re.compile(r"[0-9a-f]{32}")
_SIGNATURE = re.compile(r"[A-Za-z0-9_-]{43}")  # HMAC-SHA256, unpadded URL-safe base64
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:]+\](:[0-9]{1,5})?")
MIN_SECRET_CHARS = 32
# A socket.io packet larger than this is refused by python-engineio before it is parsed
# (a message is at most MAX_MESSAGE_CHARS characters; UTF-8 and JSON need some room).
MAX_PACKET_BYTES = 64 * 1024
# How late a ping may be answered before engine.io drops the session (see AsyncServer below).
PING_TIMEOUT_SECONDS = 60
HISTORY_MAX_MESSAGES = 200
RECENT_IDS_PER_CONVERSATION = 64
RECENT_CONVERSATIONS = 10_000
# What the console marks its messages with (bot/console/routers/handoffs.py): a counsellor took
# the conversation, or gave it back to the bot. The widget shows both as signs.
CONSOLE_EVENTS = ("counsellor_joined", "bot_back")

# Said when someone writes faster than the rate limit allows (the message is sent again by the
# widget after `retry_after` seconds). Awaiting a native speaker's review, like content/.
SLOW_DOWN: dict[str, dict[str, Any]] = {
    "sv": {"text": "Du skriver snabbt. Vänta en liten stund, så skickas ditt meddelande.",
           "reviewed": False},
    "en": {"text": "You are writing quickly. Please wait a moment; your message will be sent.",
           "reviewed": False},
    "ar": {"text": "أنت تكتب بسرعة. انتظر لحظة من فضلك، وستُرسل رسالتك.", "reviewed": False},
    "fa": {"text": "شما سریع می‌نویسید. لطفاً کمی صبر کنید؛ پیام شما فرستاده می‌شود.",
           "reviewed": False},
    "so": {"text": "Si dhakhso ah ayaad wax u qoraysaa. Fadlan wax yar sug; fariintaada waa la "
                   "diri doonaa.", "reviewed": False},
    "ti": {"text": "ቀልጢፍካ ትጽሕፍ ኣለኻ። በጃኻ ቁሩብ ተጸበ፤ መልእኽትኻ ክለኣኽ እዩ።", "reviewed": False},
    "ru": {"text": "Вы пишете очень быстро. Подождите немного — ваше сообщение будет отправлено.",
           "reviewed": False},
}  # fmt: skip


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class SessionTokens:
    """The old signed tokens, ``v1.<conversation id>.<HMAC>``: checked (to move an ongoing
    conversation to a handle, once: bot/store/widget_sessions.py), never issued any more."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode("utf-8")

    def _signature(self, conversation_id: str) -> str:
        mac = hmac.new(self._key, _TOKEN_CONTEXT + conversation_id.encode("ascii"), hashlib.sha256)
        return _b64(mac.digest())

    def token_for(self, conversation_id: str) -> str:
        """A v1 token as the widget held them (tests, and nothing else)."""
        return f"{V1_PREFIX}.{conversation_id}.{self._signature(conversation_id)}"

    def verify(self, token: Any) -> str | None:
        """The conversation id a genuine token names, else None."""
        if not isinstance(token, str) or len(token) > 200:
            return None
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != V1_PREFIX:
            return None
        conversation_id, signature = parts[1], parts[2]
        if not _CONVERSATION_ID.fullmatch(conversation_id):
            return None
        if not _SIGNATURE.fullmatch(signature):  # compare_digest raises on non-ASCII text
            return None
        if not hmac.compare_digest(signature, self._signature(conversation_id)):
            return None
        return conversation_id


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per key (a sliding window)."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}

    def retry_after(self, key: str) -> float:
        """0 and counts the event if it is allowed; else the seconds until it would be."""
        now = self._clock()
        seen = self._seen.setdefault(key, deque())
        while seen and now - seen[0] >= self.window:
            seen.popleft()
        if len(seen) >= self.limit:
            return max(0.1, self.window - (now - seen[0]))
        seen.append(now)
        return 0.0

    def forget(self, key: str) -> None:
        self._seen.pop(key, None)


class RecentMessageIds:
    """The last client message ids per conversation, to take a re-sent message only once."""

    def __init__(self) -> None:
        self._ids: OrderedDict[str, OrderedDict[str, None]] = OrderedDict()

    def seen(self, conversation_id: str, message_id: str) -> bool:
        """True if this id was taken before; otherwise remembers it and returns False."""
        ids = self._ids.get(conversation_id)
        if ids is None:
            ids = self._ids[conversation_id] = OrderedDict()
            while len(self._ids) > RECENT_CONVERSATIONS:
                self._ids.popitem(last=False)
        self._ids.move_to_end(conversation_id)
        if message_id in ids:
            return True
        ids[message_id] = None
        while len(ids) > RECENT_IDS_PER_CONVERSATION:
            ids.popitem(last=False)
        return False

    def ids(self, conversation_id: str) -> list[str]:
        return list(self._ids.get(conversation_id) or ())

    def forget(self, conversation_id: str, message_id: str) -> None:
        ids = self._ids.get(conversation_id)
        if ids is not None:
            ids.pop(message_id, None)


def parse_origins(raw: Any) -> list[str]:
    """Allowed origins from a comma-separated string or a list; refuses '*' and junk."""
    if isinstance(raw, str):
        items = [item.strip() for item in raw.split(",")]
    elif isinstance(raw, list | tuple):
        items = [str(item).strip() for item in raw]
    else:
        raise SettingsError("SOCKETIO_ALLOWED_ORIGINS must be a comma-separated list of origins")
    origins = [item.rstrip("/") for item in items if item]
    if not origins:
        raise SettingsError("SOCKETIO_ALLOWED_ORIGINS is empty: no page could use the widget")
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise SettingsError(
                f"SOCKETIO_ALLOWED_ORIGINS: {origin!r} is not an origin like https://example.org"
                " ('*' is not accepted)"
            )
    return origins


def default_origins() -> str:
    """The demo page's own origins (the console's port on this machine)."""
    port = get_settings().console_port
    return f"http://127.0.0.1:{port},http://localhost:{port}"


def _language(metadata: dict[str, Any]) -> str:
    code = str(metadata.get("language") or "").lower().split("-")[0]
    return code if code in LANGUAGES else get_settings().default_language


def _bot_metadata(values: dict[str, Any]) -> dict[str, Any]:
    """What the widget needs to know about a bot message, and nothing else of the event.

    A counsellor's reply carries their login name; the browser only learns that a person wrote.
    """
    out: dict[str, Any] = {}
    if values.get("counsellor"):
        out["counsellor"] = True
    if values.get("console_event") in CONSOLE_EVENTS:
        out["event"] = values["console_event"]
    if isinstance(values.get("notice"), str):
        out["notice"] = values["notice"][:32]
    return out


def _buttons(raw: Any) -> list[dict[str, str]]:
    buttons = []
    for button in raw or []:
        if isinstance(button, dict) and button.get("title") and button.get("payload"):
            buttons.append({"title": str(button["title"]), "payload": str(button["payload"])})
    return buttons


def history_messages(events: Iterable[Any], limit: int = HISTORY_MAX_MESSAGES) -> list[dict]:
    """User and bot texts of a conversation, as the widget shows them.

    A button press is stored as its payload ("/appeal_how"): it is shown with the title of the
    button that sent it, or left out if no button had it (a language switch, say). The button
    need not be on the last bot message: an answer with topic buttons is often followed by
    another message of the same turn.
    """
    messages: list[dict[str, Any]] = []
    titles: dict[str, str] = {}  # payload -> title of the latest button with it
    for event in events:
        if isinstance(event, UserUttered):
            text = event.text or ""
            if text.startswith("/"):
                title = titles.get(text)
                if title is None:
                    continue
                text = title
            if text:
                messages.append({"sender": "user", "text": text})
        elif isinstance(event, BotUttered):
            buttons = _buttons((event.data or {}).get("buttons"))
            if not event.text and not buttons:
                continue
            titles.update((b["payload"], b["title"]) for b in buttons)
            messages.append(
                {
                    "sender": "bot",
                    "text": event.text or "",
                    "buttons": buttons,
                    "metadata": _bot_metadata(event.metadata or {}),
                }
            )
    return messages[-limit:]


class SocketIOOutput(OutputChannel):
    """Sends each bot message whole (text, buttons, metadata) to the conversation's room."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    def __init__(self, sio: AsyncServer, bot_message_evt: str) -> None:
        self.sio = sio
        self.bot_message_evt = bot_message_evt

    async def _send(self, conversation_id: str, message: dict[str, Any]) -> None:
        await self.sio.emit(self.bot_message_evt, message, room=conversation_id)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._send(
            recipient_id, {"text": text, "buttons": [], "metadata": _bot_metadata(kwargs)}
        )

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self._send(
            recipient_id,
            {"text": text, "buttons": _buttons(buttons), "metadata": _bot_metadata(kwargs)},
        )

    async def send_quick_replies(
        self, recipient_id: str, text: str, quick_replies: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self.send_text_with_buttons(recipient_id, text, quick_replies, **kwargs)

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        await self._send(recipient_id, {"custom": json_message, "metadata": _bot_metadata(kwargs)})

    async def conversation_deleted(self, conversation_id: str, text: str) -> None:
        """Every tab of the conversation (on any server) wipes what it kept and shows ``text``;
        the room is closed, so nothing more of it reaches them (bot/deletion.py)."""
        await end_room(self.sio, conversation_id, "deleted", text)


async def end_room(sio: AsyncServer, conversation_id: str, reason: str, text: str = "",
                   skip_sid: str | None = None) -> None:  # fmt: skip
    """Tells every connection of a conversation that its session ended (``reason``: "deleted",
    "cleared", "ended"), then empties the room (through Redis on every server)."""
    payload: dict[str, Any] = {"reason": reason}
    if text:
        payload["text"] = text
    await sio.emit("session_ended", payload, room=conversation_id, skip_sid=skip_sid)
    await sio.close_room(conversation_id)


async def stop_background_tasks(sio: AsyncServer) -> None:
    """Ends python-engineio's service task (ping timeouts), once: before the web server stops.

    python-engineio's ``shutdown`` awaits a task that exists only after the first request and
    fails when called twice; this does neither.
    """
    eio = sio.eio
    if getattr(eio, "service_task_handle", None) is not None:
        await sio.shutdown()


class _AppBlueprint(SocketBlueprint):
    """Rasa's socket.io blueprint that also remembers the app it is registered on, and serves
    ``<socket.io path>/end`` beside socket.io itself (public wherever socket.io is)."""

    def register(self, app: Sanic, options: dict[str, Any]) -> None:
        self.ctx.app = app
        super().register(app, options)
        end_handler = getattr(self.ctx, "end_handler", None)
        if end_handler is not None:
            path = "/" + self.ctx.socketio_path.strip("/") + "/end"
            app.add_route(end_handler, path, methods=["POST"],
                          name=f"{self.name}_end")  # fmt: skip


class _Unavailable(Exception):
    """The sessions table could not be read or written (the database is away)."""


class SocketIOInput(InputChannel):
    """The widget's socket.io channel (see the module docstring)."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        credentials = credentials or {}
        secret = credentials.get("session_secret")
        if not isinstance(secret, str) or len(secret.strip()) < MIN_SECRET_CHARS:
            raise SettingsError(
                "socketio: session_secret (SOCKETIO_SESSION_SECRET) is missing or shorter than "
                f"{MIN_SECRET_CHARS} characters; `make run` generates one in the dev profile"
            )
        settings = get_settings()
        settings.require_secret("SOCKETIO_SESSION_SECRET", secret)
        origins = credentials.get("cors_allowed_origins") or os.environ.get(
            "SOCKETIO_ALLOWED_ORIGINS"
        ) or default_origins()  # fmt: skip
        try:
            limit = int(credentials.get("rate_limit_messages", 10))
            window = float(credentials.get("rate_limit_seconds", 10))
            days = int(
                credentials.get("session_days")
                or os.environ.get("WIDGET_SESSION_DAYS")
                or settings.retention_days
            )  # fmt: skip
        except (TypeError, ValueError) as exc:
            raise SettingsError(
                "socketio: rate_limit_messages/seconds and WIDGET_SESSION_DAYS must be numbers"
            ) from exc
        if limit < 1 or window <= 0:
            raise SettingsError("socketio: the rate limit must allow at least one message")
        if days < 1:
            raise SettingsError("WIDGET_SESSION_DAYS must be at least 1 (day)")
        manager_url = credentials.get("client_manager_url") or os.environ.get(
            "SOCKETIO_MANAGER_URL"
        )  # fmt: skip
        manager_channel = credentials.get("client_manager_channel") or os.environ.get(
            "SOCKETIO_MANAGER_CHANNEL", "socketio"
        )  # fmt: skip
        return cls(
            client_manager_url=str(manager_url) if manager_url else None,
            client_manager_channel=str(manager_channel),
            session_secret=secret.strip(),
            allowed_origins=parse_origins(origins),
            database_url=settings.database_url,
            session_days=days,
            user_message_evt=str(credentials.get("user_message_evt", "user_uttered")),
            bot_message_evt=str(credentials.get("bot_message_evt", "bot_uttered")),
            socketio_path=str(credentials.get("socketio_path", "/socket.io")),
            rate_limit_messages=limit,
            rate_limit_seconds=window,
        )

    def __init__(
        self,
        *,
        session_secret: str,
        allowed_origins: list[str],
        database_url: str,
        session_days: int = 30,
        user_message_evt: str = "user_uttered",
        bot_message_evt: str = "bot_uttered",
        socketio_path: str = "/socket.io",
        rate_limit_messages: int = 10,
        rate_limit_seconds: float = 10.0,
        client_manager_url: str | None = None,
        client_manager_channel: str = "socketio",
    ) -> None:
        self.client_manager_url = client_manager_url
        self.client_manager_channel = client_manager_channel
        self.tokens = SessionTokens(session_secret)  # old tokens, to migrate them once
        self.database_url = database_url
        self.session_days = session_days
        self.allowed_origins = allowed_origins
        self.user_message_evt = user_message_evt
        self.bot_message_evt = bot_message_evt
        self.socketio_path = socketio_path
        self.limiter = RateLimiter(rate_limit_messages, rate_limit_seconds)
        self.recent_ids = RecentMessageIds()
        # connection (sid) -> the conversation it holds and its session's handle hash; set
        # only by session_request
        self.conversations: dict[str, str] = {}
        self.handles: dict[str, str] = {}
        self.sio: AsyncServer | None = None
        self._blueprint: _AppBlueprint | None = None
        self._migrated = False

    def get_output_channel(self) -> OutputChannel | None:
        """For messages appended through Rasa's HTTP API (a counsellor's reply)."""
        if self.sio is None:
            logger.warning("socket.io output channel requested before the channel was set up")
            return None
        return SocketIOOutput(self.sio, self.bot_message_evt)

    # ---- the sessions table (in a worker thread: the event loop keeps serving) -------------

    async def _sessions(self, work: Callable[[Any], Any]) -> Any:
        """``work(db session)`` in a worker thread; _Unavailable if the database fails."""
        from bot.store.db import init_db, session

        def run() -> Any:
            if not self._migrated:
                init_db(self.database_url)  # the table may be newer than this database
                self._migrated = True
            with session(self.database_url) as db:
                return work(db)

        try:
            return await asyncio.to_thread(run)
        except Exception as error:  # the type only: its text may quote SQL parameters
            logger.error("Widget sessions unavailable (%s)", type(error).__name__)
            raise _Unavailable from error

    async def _open(self, token: Any) -> tuple[widget_sessions.Live, bool]:
        """The session a token opens, or a new one; and whether it was resumed."""
        days = self.session_days
        if isinstance(token, str) and token.startswith(V1_PREFIX + "."):
            conversation_id = self.tokens.verify(token)
            if conversation_id is not None:
                live = await self._sessions(lambda db: widget_sessions.migrate_v1(
                    db, conversation_id=conversation_id, days=days))  # fmt: skip
                if live is not None:
                    logger.info("socket.io: an old-format session moved to a handle")
                    return live, True
        elif widget_sessions.handle_of(token) is not None:
            live = await self._sessions(
                lambda db: widget_sessions.resume(db, token=token, days=days)
            )
            if live is not None:
                return live, True
        return await self._sessions(lambda db: widget_sessions.start(db, days=days)), False

    async def _end(self, token: Any) -> str | None:
        """Revokes the session of a v2 token; the conversation it opened, if it was live."""
        handle = widget_sessions.handle_of(token)
        if handle is None:
            return None
        hashed = widget_sessions.handle_hash(handle)
        return await self._sessions(lambda db: widget_sessions.revoke(db, hashed=hashed))

    async def _still_live(self, hashed: str) -> bool:
        days = self.session_days
        found = await self._sessions(
            lambda db: widget_sessions.find(db, hashed=hashed, days=days)
        )
        return found is not None

    async def _history(self, conversation_id: str) -> list[dict[str, Any]]:
        app = getattr(self._blueprint.ctx, "app", None) if self._blueprint else None
        agent = getattr(getattr(app, "ctx", None), "agent", None)
        store = getattr(agent, "tracker_store", None)
        if store is None:
            return []
        try:
            tracker = await store.retrieve_full_tracker(conversation_id)
        except Exception as error:
            logger.error("Could not read a conversation's history (%s)", type(error).__name__)
            return []
        return history_messages(tracker.events) if tracker is not None else []

    def _forget(self, sid: str) -> str | None:
        self.handles.pop(sid, None)
        return self.conversations.pop(sid, None)

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        client_manager = None
        if self.client_manager_url:
            if not self.client_manager_url.startswith(("redis://", "rediss://")):
                raise SettingsError("SOCKETIO_MANAGER_URL must be a redis:// URL")
            from socketio import AsyncRedisManager

            client_manager = AsyncRedisManager(
                self.client_manager_url, channel=self.client_manager_channel
            )
        sio = AsyncServer(
            async_mode="sanic",
            cors_allowed_origins=self.allowed_origins,
            max_http_buffer_size=MAX_PACKET_BYTES,
            client_manager=client_manager,
            # engine.io drops a session whose answer to a ping is later than this (the default
            # is 20 s). A phone on a poor network, or a server busy with a queue of messages
            # (the production load bench: a session dropped on one server at 50 conversations),
            # answers late without being gone; the widget would reconnect and resend, but the
            # person sees "offline". 60 s keeps such a session.
            ping_interval=25,
            ping_timeout=PING_TIMEOUT_SECONDS,
        )  # fmt: skip
        if client_manager is not None:
            # python-socketio starts listening on Redis at the first connection of this server;
            # a server without a client of its own has nobody to deliver to anyway.
            logger.info("socket.io: emits go through Redis to every Rasa server")
        self.sio = sio
        webhook = _AppBlueprint(
            sio, self.socketio_path, f"socketio_webhook_{type(self).__name__}", __name__
        )
        self._blueprint = webhook

        @webhook.listener("before_server_start")
        async def sessions_table(*_: Any) -> None:
            # the table at the newest migration before the first session (if the database is
            # away now, the first session request tries again)
            try:
                await self._sessions(lambda db: None)
            except _Unavailable:
                pass

        @webhook.listener("before_server_stop")
        async def stop_socketio(*_: Any) -> None:
            await stop_background_tasks(sio)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        async def end_beacon(request: Request) -> HTTPResponse:
            """"Leave quickly": the widget's beacon (sent as the page is left) ends its session.
            The body is the token, as text; the answer is the same whatever it was."""
            token = (request.body or b"")[:200].decode("ascii", "replace").strip()
            try:
                conversation_id = await self._end(token)
            except _Unavailable:
                return response.empty(status=503)
            if conversation_id is not None:
                await end_room(sio, conversation_id, "ended")  # the person's other tabs
            return response.empty(status=204)

        webhook.ctx.end_handler = end_beacon

        @sio.on("connect")
        async def connect(sid: str, environ: dict, auth: Any = None) -> bool:
            logger.debug("socket.io connection opened")
            return True

        @sio.on("disconnect")
        async def disconnect(sid: str, *args: Any) -> None:
            self._forget(sid)
            self.limiter.forget(sid)

        @sio.on("session_request")
        async def session_request(sid: str, data: Any = None) -> None:
            data = data if isinstance(data, dict) else {}
            token = data.get("token")
            try:
                if data.get("end") is not None:
                    # "Clear": the old session ends (its other tabs are told), a new one begins
                    ended = await self._end(data.get("end"))
                    if ended is not None:
                        if self.conversations.get(sid) == ended:
                            self._forget(sid)
                            await sio.leave_room(sid, ended)
                        await end_room(sio, ended, "cleared", skip_sid=sid)
                    token = None
                live, resumed = await self._open(token)
            except _Unavailable:
                await sio.emit("session_unavailable", {}, to=sid)
                return
            conversation_id = live.conversation_id
            verdict = await abuse.get_abuse().check_session(  # per address (bot/abuse.py)
                address=abuse.environ_address(sio.get_environ(sid)),
                conversation_id=conversation_id, new=not resumed)  # fmt: skip
            if not verdict:
                text = abuse.limited_answer(data.get("language"))
                await sio.emit(self.bot_message_evt, {"text": text, "buttons": [], "metadata": {
                    "notice": "rate_limited"}}, to=sid)  # fmt: skip
                return
            previous = self.conversations.get(sid)
            if previous and previous != conversation_id:
                await sio.leave_room(sid, previous)
            # python-socketio >= 5.10: a coroutine. Rasa 3.6's channel does not await it.
            await sio.enter_room(sid, conversation_id)
            self.conversations[sid] = conversation_id
            self.handles[sid] = live.handle_hash
            if resumed:
                # "received": the client ids of messages already taken, so that a message whose
                # acknowledgement was lost is neither shown twice nor sent again
                history = {
                    "messages": await self._history(conversation_id),
                    "received": self.recent_ids.ids(conversation_id),
                }
                await sio.emit("history", history, to=sid)
            confirm = {"token": live.token or token, "resumed": resumed}
            await sio.emit("session_confirm", confirm, to=sid)
            logger.debug("socket.io session %s", "resumed" if resumed else "started")

        @sio.on(self.user_message_evt)
        async def handle_message(sid: str, data: Any = None) -> dict[str, Any]:
            conversation_id = self.conversations.get(sid)
            hashed = self.handles.get(sid)
            if conversation_id is None or hashed is None:
                return {"ok": False, "error": "no_session"}
            if not isinstance(data, dict):
                return {"ok": False, "error": "invalid"}
            metadata = clean_metadata(data.get("metadata"))
            text = clean_text(data.get("message"))
            # a crisis is never limited; the others per connection, then per conversation
            # (across reconnects), address and channel (bot/abuse.py)
            wait = 0.0 if abuse.is_crisis(text) else self.limiter.retry_after(sid) or (
                await abuse.get_abuse().check_message(
                    channel=self.name(), conversation_id=conversation_id, text=text,
                    address=abuse.environ_address(sio.get_environ(sid)))).retry_after
            if wait:
                notice = abuse.limited_answer(_language(metadata), sent_again=True)
                await sio.emit(
                    self.bot_message_evt,
                    {"text": notice, "buttons": [], "metadata": {"notice": "rate_limited"}},
                    to=sid,
                )
                return {"ok": False, "error": "rate_limited", "retry_after": round(wait, 1)}
            if text is None:
                return {"ok": False, "error": "invalid"}
            try:
                live = await self._still_live(hashed)
            except _Unavailable:
                return {"ok": False, "error": "unavailable"}
            if not live or self.conversations.get(sid) != conversation_id:
                # ended meanwhile ("Clear" or "Leave quickly" in another tab, "delete my data",
                # expired): not written into a conversation this browser no longer holds
                if self._forget(sid) == conversation_id:
                    await sio.leave_room(sid, conversation_id)
                await sio.emit("session_ended", {"reason": "ended"}, to=sid)
                return {"ok": False, "error": "session_ended"}
            message_id = client_message_id(data.get("id"))
            # this server's memory first; a message first taken by another server is found in
            # the conversation itself (bot/message_ids.py)
            if message_id and self.recent_ids.seen(conversation_id, message_id):
                return {"ok": True, "duplicate": True, "text": text}
            await sio.emit(
                "user_echo", {"text": text}, room=conversation_id, skip_sid=sid
            )  # the person's other tabs
            message = UserMessage(
                text,
                SocketIOOutput(sio, self.bot_message_evt),
                conversation_id,
                input_channel=self.name(),
                message_id=message_id,
                metadata=metadata,
            )
            try:
                await on_new_message(message)
            except Exception as error:
                # the type only: a database error's text quotes the SQL parameters (the text)
                logger.error("Could not handle a socket.io message (%s)", type(error).__name__)
                if message_id:
                    self.recent_ids.forget(conversation_id, message_id)
                return {"ok": False, "error": "unavailable"}
            # what was stored (redacted): the widget keeps this, never what was typed
            return {"ok": True, "text": text}

        return webhook
