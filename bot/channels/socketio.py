"""socket.io channel for the web widget (`/socket.io`, events user_uttered / bot_uttered).

Written like Rasa's own channel (rasa/core/channels/socketio.py), with what that one lacks:

- Conversation ids are issued by the server (random, 128 bits) and handed to the browser only
  inside an HMAC-signed session token (``SOCKETIO_SESSION_SECRET``). On ``session_request`` a
  valid token resumes its conversation; anything else starts a new one. The server remembers
  which conversation each connection holds and ignores any session id sent with a message, so
  nobody can read or write another person's conversation by guessing or reusing an id.
- Rasa's channel calls python-socketio 5.x's ``AsyncServer.enter_room`` without awaiting it
  (it became a coroutine), so with session persistence its replies go to an empty room and the
  user never gets an answer. Here it is awaited (tests/widget/test_socketio_channel.py keeps
  a test that fails with Rasa's channel).
- Only the configured origins may connect (``SOCKETIO_ALLOWED_ORIGINS``); Rasa's passes
  ``cors_allowed_origins=[]``, which switches python-engineio's Origin check off.
- Every text goes through ``clean_text`` (length limit, redaction); metadata through
  ``clean_metadata`` (only ``language``). Messages are rate-limited per connection: over the
  limit the user gets a kind message and the message is acknowledged as not taken (the widget
  sends it again a little later); the connection stays open.
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
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
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

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "v1"
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
    """Issues conversation ids and the signed tokens that let a browser resume one."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode("utf-8")

    def _signature(self, conversation_id: str) -> str:
        mac = hmac.new(self._key, _TOKEN_CONTEXT + conversation_id.encode("ascii"), hashlib.sha256)
        return _b64(mac.digest())

    def token_for(self, conversation_id: str) -> str:
        return f"{TOKEN_PREFIX}.{conversation_id}.{self._signature(conversation_id)}"

    def new(self) -> tuple[str, str]:
        """A fresh conversation id and its token."""
        conversation_id = secrets.token_hex(16)
        return conversation_id, self.token_for(conversation_id)

    def verify(self, token: Any) -> str | None:
        """The conversation id a genuine token names, else None."""
        if not isinstance(token, str) or len(token) > 200:
            return None
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
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


async def stop_background_tasks(sio: AsyncServer) -> None:
    """Ends python-engineio's service task (ping timeouts), once: before the web server stops.

    python-engineio's ``shutdown`` awaits a task that exists only after the first request and
    fails when called twice; this does neither.
    """
    eio = sio.eio
    if getattr(eio, "service_task_handle", None) is not None:
        await sio.shutdown()


class _AppBlueprint(SocketBlueprint):
    """Rasa's socket.io blueprint that also remembers the app it is registered on."""

    def register(self, app: Sanic, options: dict[str, Any]) -> None:
        self.ctx.app = app
        super().register(app, options)


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
        get_settings().require_secret("SOCKETIO_SESSION_SECRET", secret)
        origins = credentials.get("cors_allowed_origins") or os.environ.get(
            "SOCKETIO_ALLOWED_ORIGINS"
        ) or default_origins()  # fmt: skip
        try:
            limit = int(credentials.get("rate_limit_messages", 10))
            window = float(credentials.get("rate_limit_seconds", 10))
        except (TypeError, ValueError) as exc:
            raise SettingsError("socketio: rate_limit_messages/seconds must be numbers") from exc
        if limit < 1 or window <= 0:
            raise SettingsError("socketio: the rate limit must allow at least one message")
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
        self.tokens = SessionTokens(session_secret)
        self.allowed_origins = allowed_origins
        self.user_message_evt = user_message_evt
        self.bot_message_evt = bot_message_evt
        self.socketio_path = socketio_path
        self.limiter = RateLimiter(rate_limit_messages, rate_limit_seconds)
        self.recent_ids = RecentMessageIds()
        # connection (sid) -> the conversation it holds; set only by session_request
        self.conversations: dict[str, str] = {}
        self.sio: AsyncServer | None = None
        self._blueprint: _AppBlueprint | None = None

    def get_output_channel(self) -> OutputChannel | None:
        """For messages appended through Rasa's HTTP API (a counsellor's reply)."""
        if self.sio is None:
            logger.warning("socket.io output channel requested before the channel was set up")
            return None
        return SocketIOOutput(self.sio, self.bot_message_evt)

    async def _history(self, conversation_id: str) -> list[dict[str, Any]]:
        app = getattr(self._blueprint.ctx, "app", None) if self._blueprint else None
        agent = getattr(getattr(app, "ctx", None), "agent", None)
        store = getattr(agent, "tracker_store", None)
        if store is None:
            return []
        try:
            tracker = await store.retrieve_full_tracker(conversation_id)
        except Exception as error:  # the type only: an error's text may quote the messages
            logger.error("Could not read a conversation's history (%s)", type(error).__name__)
            return []
        return history_messages(tracker.events) if tracker is not None else []

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

        @webhook.listener("before_server_stop")
        async def stop_socketio(*_: Any) -> None:
            await stop_background_tasks(sio)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect")
        async def connect(sid: str, environ: dict, auth: Any = None) -> bool:
            logger.debug("socket.io connection opened")
            return True

        @sio.on("disconnect")
        async def disconnect(sid: str, *args: Any) -> None:
            self.conversations.pop(sid, None)
            self.limiter.forget(sid)

        @sio.on("session_request")
        async def session_request(sid: str, data: Any = None) -> None:
            token = data.get("token") if isinstance(data, dict) else None
            conversation_id = self.tokens.verify(token)
            resumed = conversation_id is not None
            if conversation_id is None:
                conversation_id, token = self.tokens.new()
            verdict = await abuse.get_abuse().check_session(  # per address (bot/abuse.py)
                address=abuse.environ_address(sio.get_environ(sid)),
                conversation_id=conversation_id, new=not resumed)  # fmt: skip
            if not verdict:
                text = abuse.limited_answer(data.get("language") if isinstance(data, dict) else "")
                await sio.emit(self.bot_message_evt, {"text": text, "buttons": [], "metadata": {
                    "notice": "rate_limited"}}, to=sid)  # fmt: skip
                return
            previous = self.conversations.get(sid)
            if previous and previous != conversation_id:
                await sio.leave_room(sid, previous)
            # python-socketio >= 5.10: a coroutine. Rasa 3.6's channel does not await it.
            await sio.enter_room(sid, conversation_id)
            self.conversations[sid] = conversation_id
            if resumed:
                # "received": the client ids of messages already taken, so that a message whose
                # acknowledgement was lost is neither shown twice nor sent again
                history = {
                    "messages": await self._history(conversation_id),
                    "received": self.recent_ids.ids(conversation_id),
                }
                await sio.emit("history", history, to=sid)
            await sio.emit("session_confirm", {"token": token, "resumed": resumed}, to=sid)
            logger.debug("socket.io session %s", "resumed" if resumed else "started")

        @sio.on(self.user_message_evt)
        async def handle_message(sid: str, data: Any = None) -> dict[str, Any]:
            conversation_id = self.conversations.get(sid)
            if conversation_id is None:
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
            message_id = client_message_id(data.get("id"))
            # this server's memory first; a message first taken by another server is found in
            # the conversation itself (bot/message_ids.py)
            if message_id and self.recent_ids.seen(conversation_id, message_id):
                return {"ok": True, "duplicate": True}
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
            except Exception as error:  # the type only: an error's text may quote the message
                logger.error("Could not handle a socket.io message (%s)", type(error).__name__)
                if message_id:
                    self.recent_ids.forget(conversation_id, message_id)
                return {"ok": False, "error": "unavailable"}
            return {"ok": True}

        return webhook
