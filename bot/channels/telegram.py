"""Telegram channel (`/webhooks/telegram/webhook`), built on python-telegram-bot.

Written like Rasa's own connectors (an InputChannel/OutputChannel pair), with what Rasa's
Telegram connector (aiogram) lacks:

- the webhook only accepts requests carrying the secret token Telegram was given
  (`X-Telegram-Bot-Api-Secret-Token`); a redelivered update (same `update_id`) is handled once;
- an update is never acknowledged and then lost: the webhook answers once the assistant's turn
  is done (the replies are sent after it, in order). A turn that fails (database down, Rasa
  error, no model loaded) gets a 503, so Telegram (or the poller) delivers the update again; a
  crisis message gets the emergency numbers at once all the same. A turn still running after
  ``ACK_WITHIN`` seconds is acknowledged (so Telegram does not deliver it twice); if it then
  fails, or an update failed ``MAX_ATTEMPTS`` times, the person is told in their language to
  send it again;
- conversations are stored under a keyed pseudonym, ``tg:<pseudonym>`` (bot/pseudonyms.py),
  never under the Telegram user id; the chat id needed to send is kept, encrypted, in the table
  ``telegram_chats`` and deleted with the conversation;
- updates of one chat are handled in order, with "typing…" shown while the bot works;
- every call to the Bot API goes through python-telegram-bot's `ExtBot` (base URL configurable,
  so it can point at another Bot API server), through a rate limiter that keeps about one
  message a second per chat and 30 requests a second overall and waits as long as a 429 asks;
  network errors are retried; a failed send is logged without personal data and never
  crashes anything;
- messages are sent as plain text (no parse mode: nothing in a user's or a content text can
  break the formatting), split at paragraph, line or word boundaries under 4096 characters;
  buttons become inline keyboards (payloads longer than Telegram's 64 bytes of callback data
  are mapped to a short key kept in memory);
- voice, photo, sticker, document, location and edited messages get a kind answer in the
  user's language; group and channel chats get a note to write privately (nothing from a
  group reaches Rasa).

Every text is cleaned (`bot.channels.common.clean_text`: control characters, length, personal
identifiers redacted) before Rasa sees it.

Configuration (`credentials.telegram.yml`, merged by `bot.run` only when TELEGRAM_BOT_TOKEN is
set): TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET, TELEGRAM_WEBHOOK_URL (the public https
address of this webhook; when set, the webhook is registered at start),
TELEGRAM_API_BASE_URL (default https://api.telegram.org/bot).

Without a public address: `python -m bot.channels.telegram poll` (`make telegram-polling`)
deletes the webhook, long-polls getUpdates and posts each update, with the secret, to the
local Rasa server's webhook, so it is handled exactly as a webhook delivery would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import re
import sys
import time
import traceback
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.shared.exceptions import RasaException
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ChatAction, ChatType
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import BaseRateLimiter, ExtBot
from telegram.request import HTTPXRequest

from bot import abuse, pseudonyms
from bot.channels.common import MAX_MESSAGE_CHARS, clean_metadata, clean_text
from bot.content import fill, for_display, load_content
from bot.settings import LANGUAGES, get_settings

logger = logging.getLogger(__name__)
# httpx logs every request URL (which carries the bot token) at INFO; python-telegram-bot
# logs request parameters (chat ids, texts) at DEBUG. Neither belongs in our logs.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("telegram").setLevel(logging.WARNING)

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's rule for secret_token: 1-256 characters A-Z a-z 0-9 _ -. We want it long.
_SECRET_FORMAT = re.compile(r"^[A-Za-z0-9_-]{16,256}$")
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "channel_post")
MAX_MESSAGE_LENGTH = 4096  # Telegram's limit for one message's text (UTF-16 code units)
MAX_CALLBACK_DATA = 64  # bytes
MAX_BODY_BYTES = 1_000_000
RECENT_UPDATES = 10_000  # update_ids remembered for deduplication
TYPING_EVERY = 4.0  # Telegram shows "typing…" for 5 seconds
# ... and for no longer than this in all: an answer that takes longer (the assistant stuck or
# down) must not leave "typing…" on the person's screen for ever
TYPING_AT_MOST = 60.0
GROUP_NOTE_EVERY = 3600.0  # seconds between two notes in the same group
# The webhook answers when the turn is done, or after this long (Telegram waits longer).
ACK_WITHIN = 10.0
MAX_ATTEMPTS = 5  # failed deliveries of one update, then the person is told to send it again
RETRY_AFTER_SECONDS = 5
NETWORK_RETRIES = 3
# Commands -> what Rasa is sent (an intent payload).
COMMANDS = {
    "/start": "/greet",
    "/language": "/choose_language",
    "/human": "/request_human",
    "/delete": "/delete_data",
    "/privacy": "/privacy",
    "/help": "/capabilities",
}
PRIVACY_PAYLOAD = "/privacy"
# Kinds of message that carry something other than text, and get the "not text" answer.
NOT_TEXT_KINDS = (
    "voice", "audio", "video", "video_note", "photo", "sticker", "document", "animation",
    "location", "venue", "contact", "poll", "dice", "game", "story",
)  # fmt: skip
_FALLBACK_TEXTS = {
    "not_text": "I can only read text messages. Please write your question.",
    "edited_message": "I cannot see changes to a message. Please send your question again.",
    "private_only": "Please write to me in a private chat: I only answer there.",
    "telegram_try_again": "Sorry, something went wrong on our side and your message did not "
                          "get through. Please send it again in a little while.",
}


def _describe_error(exc: BaseException) -> str:
    """Exception class and where it happened: never the message, which may quote a user."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}{where}"


def normalise_language(code: Any) -> str | None:
    """A Telegram language_code ("en-US", "prs") as one of the assistant's languages."""
    if not isinstance(code, str):
        return None
    code = code.strip().lower().replace("_", "-").split("-")[0]
    if code == "prs":  # Dari
        code = "fa"
    return code if code in LANGUAGES else None


# -- text ------------------------------------------------------------------------------------
def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_message(text: str, limit: int = MAX_MESSAGE_LENGTH) -> list[str]:
    """Parts of at most ``limit`` UTF-16 units, cut at a paragraph, line or word boundary.

    Only a single word longer than the limit is cut inside. Empty parts are dropped. A
    right-to-left text (starting with RLM) keeps the mark on every part.
    """
    rlm = "\u200f"
    prefix = rlm if text.startswith(rlm) else ""
    body = text[len(prefix):] if prefix else text
    room = limit - _utf16_len(prefix)
    parts: list[str] = []
    rest = body.strip()
    while rest:
        if _utf16_len(rest) <= room:
            parts.append(rest)
            break
        # the longest prefix that fits
        fit = 0
        units = 0
        for ch in rest:
            units += 2 if ord(ch) > 0xFFFF else 1
            if units > room:
                break
            fit += 1
        window = rest[:fit]
        # a paragraph end, else a line end, else a space, in the second half of the window
        # (not a tiny first part); failing that any boundary; failing that inside a word
        separators = ("\n\n", "\n", " ")
        cut = next((pos for pos in (window.rfind(sep) for sep in separators)
                    if pos >= len(window) // 2), -1)
        if cut <= 0:
            cut = max(window.rfind(sep) for sep in separators)
        if cut <= 0:
            cut = fit  # one word longer than a message
        part, rest = rest[:cut].strip(), rest[cut:].strip()
        if part:
            parts.append(part)
    return [prefix + part for part in parts if part.strip()]


# -- small bounded memories ------------------------------------------------------------------
class RecentIds:
    """The last ``size`` update ids seen: answers "seen before?" and remembers, at once."""

    def __init__(self, size: int = RECENT_UPDATES) -> None:
        self.size = size
        self._ids: OrderedDict[int, None] = OrderedDict()

    def seen(self, update_id: int) -> bool:
        if update_id in self._ids:
            return True
        self._ids[update_id] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return False

    def forget(self, update_id: int) -> None:
        """Not seen after all (its handling failed): a redelivery is handled."""
        self._ids.pop(update_id, None)

    def __len__(self) -> int:
        return len(self._ids)


class CallbackPayloads:
    """Button payloads as callback_data (max 64 bytes): long ones by a short key in memory."""

    PREFIX = "#"  # a payload starts with "/"; a key with "#"

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._payloads: OrderedDict[str, str] = OrderedDict()

    def data_for(self, payload: str) -> str:
        if len(payload.encode()) <= MAX_CALLBACK_DATA and not payload.startswith(self.PREFIX):
            return payload
        key = self.PREFIX + hashlib.sha256(payload.encode()).hexdigest()[:40]
        self._payloads[key] = payload
        self._payloads.move_to_end(key)
        if len(self._payloads) > self.size:
            self._payloads.popitem(last=False)
        return key

    def payload_for(self, data: str) -> str | None:
        if not data.startswith(self.PREFIX):
            return data
        return self._payloads.get(data)


class _ChatLocks:
    """One lock per chat, so one chat's updates are handled in the order they came."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, chat: str) -> AsyncIterator[None]:
        lock, users = self._locks.setdefault(chat, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                self._locks.pop(chat, None)

    def __len__(self) -> int:
        return len(self._locks)


# -- rate limiting ---------------------------------------------------------------------------
class TelegramRateLimiter(BaseRateLimiter[int]):
    """About one message a second per chat, ``per_second`` requests a second overall.

    On a 429 (RetryAfter) the chat (or, for a request without a chat, everything) waits as
    long as Telegram asks, then the request is made again, up to ``max_retries`` times.
    Messages to one chat keep their order: each reserves its slot before waiting.
    """

    MESSAGE_ENDPOINTS = frozenset({
        "sendMessage", "sendPhoto", "sendDocument", "sendAudio", "sendVoice", "sendVideo",
        "sendAnimation", "sendSticker", "sendLocation", "sendMediaGroup", "copyMessage",
        "forwardMessage", "editMessageText", "editMessageReplyMarkup",
    })  # fmt: skip

    def __init__(
        self, *, per_second: int = 30, chat_interval: float = 1.0, max_retries: int = 3
    ) -> None:
        self.per_second = per_second
        self.chat_interval = chat_interval
        self.max_retries = max_retries
        self._recent: list[float] = []  # start times of the last second's requests
        self._next_in_chat: dict[str, float] = {}
        self._paused_until = 0.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    @staticmethod
    def _now() -> float:
        return time.monotonic()

    async def _chat_slot(self, chat: str) -> None:
        now = self._now()
        start = max(now, self._next_in_chat.get(chat, 0.0))
        self._next_in_chat[chat] = start + self.chat_interval
        if len(self._next_in_chat) > 1000:  # forget chats that are free again
            for key in [k for k, t in self._next_in_chat.items() if t < now]:
                del self._next_in_chat[key]
        if start > now:
            await asyncio.sleep(start - now)

    async def _overall_slot(self) -> None:
        while True:
            now = self._now()
            self._recent = [t for t in self._recent if t > now - 1.0]
            if now >= self._paused_until and len(self._recent) < self.per_second:
                self._recent.append(now)
                return
            wait = max(self._paused_until - now, (self._recent[0] + 1.0 - now) if self._recent
                       and len(self._recent) >= self.per_second else 0.0, 0.001)
            await asyncio.sleep(wait)

    async def process_request(
        self,
        callback: Callable[..., Awaitable[Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        max_retries = self.max_retries if rate_limit_args is None else rate_limit_args
        chat = data.get("chat_id")
        chat_key = str(chat) if chat is not None and endpoint in self.MESSAGE_ENDPOINTS else None
        for attempt in range(max_retries + 1):
            if chat_key is not None:
                await self._chat_slot(chat_key)
            await self._overall_slot()
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if attempt == max_retries:
                    raise
                wait = exc.retry_after
                seconds = float(wait.total_seconds() if hasattr(wait, "total_seconds") else wait)
                logger.info("Telegram asked to wait %.1f s (%s); retrying", seconds, endpoint)
                until = self._now() + seconds
                if chat_key is not None:
                    self._next_in_chat[chat_key] = max(self._next_in_chat.get(chat_key, 0), until)
                else:
                    self._paused_until = max(self._paused_until, until)
                await asyncio.sleep(seconds)
        raise AssertionError("unreachable")


def make_bot(
    token: str,
    base_url: str = DEFAULT_BASE_URL,
    *,
    chat_interval: float = 1.0,
    per_second: int = 30,
    long_poll_timeout: float = 0.0,
) -> ExtBot:
    """The bot every Bot API call goes through: base URL, connection pool, rate limiter."""
    return ExtBot(
        token,
        base_url=base_url or DEFAULT_BASE_URL,
        request=HTTPXRequest(
            connection_pool_size=32, connect_timeout=10.0, read_timeout=15.0,
            write_timeout=15.0, pool_timeout=10.0,
        ),
        get_updates_request=HTTPXRequest(
            connection_pool_size=1, read_timeout=long_poll_timeout + 15.0, connect_timeout=10.0,
        ),
        rate_limiter=TelegramRateLimiter(per_second=per_second, chat_interval=chat_interval),
    )  # fmt: skip


async def call_api(what: str, call: Callable[[], Awaitable[Any]]) -> Any:
    """Make one Bot API call: retried on network errors, failures logged (no personal data).

    Returns the call's result, or None when it failed for good.
    """
    for attempt in range(NETWORK_RETRIES + 1):
        try:
            return await call()
        except (BadRequest, Forbidden, InvalidToken, Conflict) as exc:
            # not retried: the request itself is refused (user blocked the bot, bad token, ...)
            logger.warning("Telegram refused %s (%s)", what, type(exc).__name__)
            return None
        except RetryAfter:
            logger.warning("Telegram rate limit: gave up on %s after retries", what)
            return None
        except TelegramError as exc:
            # NetworkError (and TimedOut), or a bare TelegramError: an answer that was not
            # JSON (a proxy's error page). Both are worth another try.
            if not isinstance(exc, NetworkError) and type(exc) is not TelegramError:
                logger.warning("Telegram error on %s (%s)", what, type(exc).__name__)
                return None
            if attempt == NETWORK_RETRIES:
                logger.warning("Network error on %s, gave up (%s)", what, type(exc).__name__)
                return None
            await asyncio.sleep(0.5 * 2**attempt)
        except Exception as exc:  # never let a send crash the server
            logger.error("Unexpected error on %s (%s)", what, _describe_error(exc))
            return None
    return None


# -- output ----------------------------------------------------------------------------------
class TelegramOutput(OutputChannel):
    """Sends the assistant's messages to a Telegram chat.

    The recipient is a conversation id ``tg:<pseudonym>`` (Rasa's sender id), whose chat id
    comes from the turn (``known``) or, for a counsellor's reply or a reminder, from the table
    of chat ids; or, inside this channel, the chat id itself (an int). With ``collect``, texts
    wait in ``outbox`` until ``flush`` (sent once the turn is done: a failed turn says nothing
    and is answered when it is delivered again)."""

    @classmethod
    def name(cls) -> str:
        return "telegram"

    def __init__(self, bot: ExtBot, payloads: CallbackPayloads, *, collect: bool = False,
                 database_url: str | None = None) -> None:  # fmt: skip
        self.bot = bot
        self.payloads = payloads
        self.sent_payloads: list[str] = []  # button payloads sent through this instance
        self.known: dict[str, int] = {}  # conversation id -> chat id, for this turn
        self.collect = collect
        self.outbox: list[tuple[str | int, str, InlineKeyboardMarkup | None]] = []
        self.database_url = database_url
        self.first_typing: asyncio.Task | None = None

    async def _chat_id(self, recipient_id: str | int) -> int | None:
        if isinstance(recipient_id, int):
            return recipient_id
        if recipient_id in self.known:
            return self.known[recipient_id]
        if pseudonyms.is_telegram_conversation(recipient_id):
            url = self.database_url or get_settings().database_url

            def look_up() -> int | None:
                from bot.store.db import session

                with session(url) as db:
                    return pseudonyms.chat_id_for(db, recipient_id)

            try:
                chat_id = await asyncio.to_thread(look_up)
            except Exception as exc:
                logger.error("Could not read a Telegram chat id (%s); message not sent",
                             _describe_error(exc))  # fmt: skip
                return None
            if chat_id is None:
                logger.warning("No Telegram chat for this conversation (deleted); not sent")
            return chat_id
        logger.warning("Not a Telegram conversation; message not sent")
        return None

    async def flush(self) -> None:
        """Send what was collected, in order."""
        outbox, self.outbox, self.collect = self.outbox, [], False
        if self.first_typing is not None:
            await asyncio.wait({self.first_typing}, timeout=5)
        for recipient_id, text, markup in outbox:
            await self.send_text(recipient_id, text, markup)

    def keyboard(self, buttons: list[dict[str, Any]]) -> InlineKeyboardMarkup | None:
        rows = []
        for button in buttons:
            payload = str(button.get("payload") or "").strip()
            if not payload:
                continue
            title = str(button.get("title") or "").strip() or payload.lstrip("/")
            self.sent_payloads.append(payload)
            rows.append(
                [InlineKeyboardButton(title[:200], callback_data=self.payloads.data_for(payload))]
            )
        return InlineKeyboardMarkup(rows) if rows else None

    async def send_text(
        self, recipient_id: str | int, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> bool:
        if self.collect:
            self.outbox.append((recipient_id, text, markup))
            return True
        chat_id = await self._chat_id(recipient_id)
        if chat_id is None:
            return False
        parts = split_message(str(text or "")) or (["…"] if markup else [])
        ok = True
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            sent = await call_api(
                "sendMessage",
                lambda part=part, last=last: self.bot.send_message(
                    chat_id=chat_id, text=part, reply_markup=markup if last else None,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                ),
            )  # fmt: skip
            ok = ok and sent is not None
        return ok

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_text(recipient_id, text)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self.send_text(recipient_id, text, self.keyboard(buttons))

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        if self.collect:
            await self.send_text(recipient_id, image)
            return
        chat_id = await self._chat_id(recipient_id)
        if chat_id is None:
            return
        sent = await call_api("sendPhoto", lambda: self.bot.send_photo(chat_id=chat_id, photo=image))
        if sent is None:
            await self.send_text(recipient_id, image)

    async def send_attachment(self, recipient_id: str, attachment: str, **kwargs: Any) -> None:
        await self.send_text(recipient_id, str(attachment))

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        # Custom payloads are for web clients; only a text in one reaches a Telegram user.
        text = json_message.get("text") if isinstance(json_message, dict) else None
        if isinstance(text, str) and text.strip():
            await self.send_text(recipient_id, text)

    async def typing(self, recipient_id: str | int) -> None:
        chat_id = await self._chat_id(recipient_id)
        if chat_id is not None:
            await call_api(
                "sendChatAction",
                lambda: self.bot.send_chat_action(chat_id=chat_id, action=ChatAction.TYPING),
            )


# -- input -----------------------------------------------------------------------------------
@dataclass
class _Incoming:
    """What one update asks of the assistant."""

    chat: str
    chat_type: str
    language_code: str | None
    kind: str  # text | callback | command | not_text | edited | group | ignore
    text: str | None = None  # raw text, command payload or callback payload
    callback_id: str | None = None
    caption: str | None = None
    # Telegram's update_id: passed to Rasa as the message id, stored with the message, so that
    # an update delivered again is taken once by any server, also after a restart
    # (bot/message_ids.py); the in-memory ``recent`` list only answers a quick duplicate
    update_id: int | None = None

    @property
    def chat_id(self) -> int:
        return int(self.chat)

    @property
    def conversation_id(self) -> str:
        """What the conversation is stored under: never the chat id (bot/pseudonyms.py)."""
        return pseudonyms.telegram_conversation_id(self.chat)


def _message_kind(message: Message) -> str:
    if message.text is not None:
        return "text"
    if any(getattr(message, kind, None) for kind in NOT_TEXT_KINDS):
        return "not_text"
    return "ignore"  # service messages (pinned, members joined, ...)


def read_update(update: Update) -> _Incoming | None:
    """The chat, the user's language and what to do, or None for updates we do not handle."""
    if update.callback_query is not None:
        query = update.callback_query
        message = query.message
        chat = message.chat if message is not None else None
        chat_id = chat.id if chat is not None else query.from_user.id
        chat_type = chat.type if chat is not None else ChatType.PRIVATE
        kind = "callback" if chat_type == ChatType.PRIVATE else "group"
        return _Incoming(
            str(chat_id), chat_type, query.from_user.language_code,
            kind, query.data, callback_id=query.id,
        )  # fmt: skip
    for attribute, edited in (("message", False), ("edited_message", True),
                              ("channel_post", False), ("edited_channel_post", True)):
        message = getattr(update, attribute)
        if message is None:
            continue
        code = message.from_user.language_code if message.from_user else None
        incoming = _Incoming(str(message.chat.id), message.chat.type, code, "ignore")
        kind = _message_kind(message)
        if message.chat.type != ChatType.PRIVATE:
            incoming.kind = "group" if kind != "ignore" else "ignore"
        elif edited:
            incoming.kind = "edited"
        elif kind == "text":
            text = message.text or ""
            command = text.split(maxsplit=1)[0].split("@", 1)[0].lower() if text.startswith("/") else ""
            if command in COMMANDS:
                incoming.kind, incoming.text = "command", command
            else:
                # no intent injection from typed text: "/appeal_how" is read as words
                incoming.kind, incoming.text = "text", text.lstrip("/") if command else text
        else:
            incoming.kind = kind
            incoming.caption = message.caption
        return incoming
    return None


class TelegramInput(InputChannel):
    """Telegram webhook channel on python-telegram-bot."""

    @classmethod
    def name(cls) -> str:
        return "telegram"

    def __init__(
        self,
        token: str,
        secret_token: str,
        webhook_url: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        *,
        chat_interval: float = 1.0,
        per_second: int = 30,
        database_url: str | None = None,
        ack_within: float = ACK_WITHIN,
    ) -> None:
        self.token = token
        self.database_url = database_url
        self.ack_within = ack_within
        self.failures: OrderedDict[int, int] = OrderedDict()  # update id -> failed attempts
        self.crisis_told: RecentIds = RecentIds(1000)  # updates whose crisis text was sent
        self.secret_token = secret_token
        self.webhook_url = webhook_url or None
        self.base_url = base_url or DEFAULT_BASE_URL
        self.bot = make_bot(token, self.base_url, chat_interval=chat_interval,
                            per_second=per_second)
        self.payloads = CallbackPayloads()
        self.recent = RecentIds()
        self.chat_locks = _ChatLocks()
        self.tasks: set[asyncio.Task] = set()
        self.group_noted: OrderedDict[int, float] = OrderedDict()
        self.handled = 0  # updates accepted for processing (tests and health)

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> TelegramInput:
        if not credentials:
            cls.raise_missing_credentials_exception()

        def value(key: str) -> str | None:
            raw = credentials.get(key)
            return str(raw).strip() if raw is not None and str(raw).strip() else None

        token = value("token")
        secret = value("secret_token")
        webhook_url = value("webhook_url")
        base_url = value("base_url") or DEFAULT_BASE_URL
        if token is None:
            raise RasaException("telegram: 'token' is missing (set TELEGRAM_BOT_TOKEN)")
        if secret is None or not _SECRET_FORMAT.match(secret):
            raise RasaException(
                "telegram: 'secret_token' is missing or unusable (set TELEGRAM_WEBHOOK_SECRET "
                "to 16-256 characters of A-Z, a-z, 0-9, _ and -)"
            )
        if webhook_url is not None and not webhook_url.startswith(("https://", "http://")):
            raise RasaException("telegram: 'webhook_url' must be an https:// address")
        if not base_url.startswith(("https://", "http://")):
            raise RasaException("telegram: 'base_url' must be an http(s) address")
        return cls(token, secret, webhook_url, base_url)

    def get_output_channel(self) -> TelegramOutput:
        """Used by Rasa's HTTP API (output_channel=latest): counsellor replies reach the chat."""
        return TelegramOutput(self.bot, self.payloads, database_url=self.database_url)

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    async def _conversation_language(app: Sanic | None, sender: str) -> str | None:
        """The conversation's language slot, when Rasa already knows this chat."""
        agent = getattr(getattr(app, "ctx", None), "agent", None) if app is not None else None
        store = getattr(agent, "tracker_store", None)
        if store is None:
            return None
        try:
            tracker = await store.retrieve(sender)
        except Exception as exc:
            logger.debug("Could not read the conversation's language (%s)", type(exc).__name__)
            return None
        return normalise_language(tracker.get_slot("language")) if tracker else None

    async def _language(self, app: Sanic | None, incoming: _Incoming) -> str:
        return (
            await self._conversation_language(app, incoming.conversation_id)
            or normalise_language(incoming.language_code)
            or get_settings().default_language
        )

    @staticmethod
    def _text(key: str, lang: str) -> str:
        settings = get_settings()
        try:
            text = load_content(settings.content_dir).text(key, lang)
        except KeyError:
            logger.warning("No text %r in content/texts.yml", key)
            text = _FALLBACK_TEXTS.get(key, _FALLBACK_TEXTS["not_text"])
        values: dict[str, Any] = {"retention_days": settings.retention_days,
                                  "wait_minutes": settings.handoff_wait_minutes}
        try:
            from bot.office_hours import OfficeHours, describe

            values["office_hours"] = describe(
                OfficeHours.parse(settings.office_hours, settings.timezone), lang)
        except Exception:  # a text without the placeholder needs none of this
            pass
        return for_display(fill(text, **values), lang)

    @contextlib.asynccontextmanager
    async def _typing(self, out: TelegramOutput, chat: int) -> AsyncIterator[None]:
        async def keep_typing() -> None:
            loop = asyncio.get_running_loop()
            until = loop.time() + TYPING_AT_MOST
            while loop.time() + TYPING_EVERY < until:
                await asyncio.sleep(TYPING_EVERY)
                await out.typing(chat)

        # the first one at once, not waited for here (the webhook answers when the turn is
        # done); the answers wait for it (flush), so that it never lands after them
        out.first_typing = asyncio.create_task(out.typing(chat))
        task = asyncio.create_task(keep_typing())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- handling one update ---------------------------------------------------------------
    async def handle_update(
        self,
        update: Update,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        app: Sanic | None = None,
    ) -> bool:
        """Everything one update leads to; never raises. False when it failed and should be
        delivered again."""
        try:
            incoming = read_update(update)
        except Exception as exc:
            logger.warning("An update without the parts it needs was ignored (%s)",
                           _describe_error(exc))
            return True
        if incoming is not None:
            incoming.update_id = update.update_id
        outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        await self._handle_incoming(incoming, on_new_message, app, outcome)
        return outcome.result()

    async def _handle_incoming(
        self,
        incoming: _Incoming | None,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        app: Sanic | None,
        outcome: asyncio.Future[bool],
    ) -> None:
        """Handle one update; ``outcome`` is True once the turn is done (or the person was
        told), False when it failed and should be delivered again."""
        try:
            if incoming is None or incoming.kind == "ignore":
                outcome.set_result(True)
                return
            async with self.chat_locks.hold(incoming.chat):
                out = TelegramOutput(self.bot, self.payloads, collect=True,
                                     database_url=self.database_url)  # fmt: skip
                try:
                    await self._handle(incoming, on_new_message, app, out)
                except Exception as exc:
                    logger.error("Could not handle a Telegram update (%s)", _describe_error(exc))
                    await self._failed(incoming, app, outcome)
                    return
                if not outcome.done():
                    outcome.set_result(True)
                    self.failures.pop(incoming.update_id or 0, None)
                await out.flush()
        except Exception as exc:
            logger.error("Could not handle a Telegram update (%s)", _describe_error(exc))
            if not outcome.done():
                outcome.set_result(False)

    def _crisis_language(self, incoming: _Incoming) -> str | None:
        """The language of the crisis words in the update's text, if any (the lexicon the NLU
        pipeline uses: bot/nlu/crisis_lexicon.py)."""
        text = incoming.text if incoming.kind == "text" else incoming.caption
        if not text:
            return None
        try:
            from bot.nlu.crisis_lexicon import Lexicon

            if not hasattr(self, "_lexicon"):
                self._lexicon = Lexicon.load()
            return self._lexicon.match(text)
        except Exception as exc:  # noqa: BLE001 - the turn's failure is handled all the same
            logger.error("Crisis lexicon not read (%s)", _describe_error(exc))
            return None

    async def _failed(
        self, incoming: _Incoming, app: Sanic | None, outcome: asyncio.Future[bool]
    ) -> None:
        """A turn failed. Crisis words: the emergency numbers at once. Then, while Telegram
        still waits for the answer to this delivery and it has not failed too often: 503, it
        comes again. Otherwise the person is told, kindly and in their language."""
        out = TelegramOutput(self.bot, self.payloads, database_url=self.database_url)
        update_id = incoming.update_id
        crisis = self._crisis_language(incoming)
        if crisis and (update_id is None or not self.crisis_told.seen(update_id)):
            lang = normalise_language(crisis) or await self._language(app, incoming)
            await out.send_text(incoming.chat_id, self._text("crisis", lang))
        attempts = 1
        if update_id is not None:
            attempts = self.failures.pop(update_id, 0) + 1
            self.failures[update_id] = attempts
            while len(self.failures) > 10_000:
                self.failures.popitem(last=False)
        if not outcome.done() and update_id is not None and attempts < MAX_ATTEMPTS:
            self.recent.forget(update_id)
            outcome.set_result(False)
            return
        lang = await self._language(app, incoming)
        await out.send_text(incoming.chat_id, self._text("telegram_try_again", lang))
        if not outcome.done():
            outcome.set_result(True)

    async def _handle(
        self,
        incoming: _Incoming,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        app: Sanic | None,
        out: TelegramOutput,
    ) -> None:
        chat = incoming.chat_id
        if incoming.callback_id:  # stops the spinner on the button at once
            await call_api("answerCallbackQuery",
                           lambda: self.bot.answer_callback_query(incoming.callback_id))
        if incoming.kind == "group":
            now = time.monotonic()
            last = self.group_noted.get(chat)
            if last is None or now - last > GROUP_NOTE_EVERY:
                self.group_noted[chat] = now
                self.group_noted.move_to_end(chat)
                while len(self.group_noted) > 10_000:
                    self.group_noted.popitem(last=False)
                lang = normalise_language(incoming.language_code) or get_settings().default_language
                await out.send_text(chat, self._text("private_only", lang))
            return
        if incoming.kind in ("not_text", "edited"):
            lang = await self._language(app, incoming)
            key = "not_text" if incoming.kind == "not_text" else "edited_message"
            await out.send_text(chat, self._text(key, lang))
            if incoming.kind == "not_text" and incoming.caption:
                # the words written under a photo are still a question worth answering
                await self._forward(incoming, incoming.caption, out, on_new_message, app)
            return
        if incoming.kind == "callback":
            payload = self.payloads.payload_for(incoming.text or "")
            if payload is None:
                logger.info("A button from before a restart was pressed; ignored")
                return
            await self._forward(incoming, payload, out, on_new_message, app)
            return
        if incoming.kind == "command":
            await self._forward(incoming, COMMANDS[incoming.text or ""], out, on_new_message, app)
            if incoming.text == "/start" and PRIVACY_PAYLOAD not in out.sent_payloads:
                # /start always shows the privacy notice, even to someone who has seen it
                lang = await self._language(app, incoming)
                markup = out.keyboard([{"title": self._text("button_read_more", lang),
                                        "payload": PRIVACY_PAYLOAD}])
                await out.send_text(chat, self._text("intro", lang), markup)
            return
        raw = incoming.text or ""
        await self._forward(incoming, raw, out, on_new_message, app)
        if len(raw) > MAX_MESSAGE_CHARS:
            await out.send_text(chat, self._text("too_long", await self._language(app, incoming)))

    async def _forward(
        self,
        incoming: _Incoming,
        raw: str,
        out: TelegramOutput,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        app: Sanic | None = None,
    ) -> None:
        """The text to Rasa under the conversation's pseudonym; raises when it could not be
        handled (the chat id not stored, no model loaded, Rasa's error)."""
        text = clean_text(raw)
        if text is None:
            lang = normalise_language(incoming.language_code) or get_settings().default_language
            await out.send_text(incoming.chat_id, self._text("not_text", lang))
            return
        ctx = getattr(app, "ctx", None) if app is not None else None
        if ctx is not None and hasattr(ctx, "agent") and not (
            ctx.agent is not None and ctx.agent.is_ready()
        ):
            # Rasa would drop the message with an INFO line ("no agent to handle it")
            raise RuntimeError("no model loaded")
        conversation_id = incoming.conversation_id
        await asyncio.to_thread(self._remember, conversation_id, incoming.chat_id)
        out.known[conversation_id] = incoming.chat_id
        metadata = clean_metadata({"language": incoming.language_code})
        verdict = await abuse.get_abuse().check_message(  # per conversation and channel
            channel=self.name(), conversation_id=conversation_id, address=None, text=text)
        if not verdict:
            await out.send_text(incoming.chat_id, abuse.limited_answer(metadata.get("language")))
            return
        async with self._typing(out, incoming.chat_id):
            message_id = (f"telegram-{incoming.update_id}" if incoming.update_id is not None
                          else None)  # fmt: skip
            await on_new_message(
                UserMessage(text, out, conversation_id, input_channel=self.name(),
                            metadata=metadata or None, message_id=message_id)
            )  # fmt: skip

    def _remember(self, conversation_id: str, chat_id: int) -> None:
        """Keep the chat id (encrypted) for later sends: a counsellor's reply, a reminder."""
        from bot.store.db import session

        with session(self.database_url or get_settings().database_url) as db:
            pseudonyms.remember(db, conversation_id, chat_id)

    # -- web -------------------------------------------------------------------------------
    def _authorised(self, request: Request) -> bool:
        given = request.headers.get(SECRET_HEADER, "")
        return hmac.compare_digest(given.encode("utf-8", "replace"),
                                   self.secret_token.encode("utf-8"))

    def accept(
        self,
        body: Any,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        app: Sanic | None,
    ) -> tuple[int, str, asyncio.Future[bool] | None]:
        """Check an update and start handling it: (status, what happened, the outcome to
        wait for: True done, False failed)."""
        if not isinstance(body, dict):
            return 400, "send a Telegram update (a JSON object)", None
        update_id = body.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            return 400, "update_id must be a number", None
        try:
            update = Update.de_json(body, self.bot)
        except Exception:
            return 400, "not a Telegram update", None
        if update is None:
            return 400, "not a Telegram update", None
        try:  # de_json is lenient: a message without its chat still parses
            incoming = read_update(update)
        except Exception:
            return 400, "not a Telegram update", None
        if self.recent.seen(update_id):
            return 200, "duplicate", None
        if incoming is not None:
            incoming.update_id = update_id
        self.handled += 1
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[bool] = loop.create_future()
        task = loop.create_task(self._handle_incoming(incoming, on_new_message, app, outcome))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return 200, "accepted", outcome

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @webhook.listener("after_server_start")
        async def register_webhook(_app: Sanic, _loop: Any) -> None:
            if not self.webhook_url:
                return
            done = await call_api("setWebhook", lambda: self.bot.set_webhook(
                url=self.webhook_url, secret_token=self.secret_token,
                allowed_updates=list(ALLOWED_UPDATES),
            ))  # fmt: skip
            if done:
                logger.info("Telegram webhook registered")
            else:
                logger.error("Could not register the Telegram webhook; see the warning above")

        @webhook.listener("before_server_stop")
        async def finish(_app: Sanic, _loop: Any) -> None:
            if self.tasks:
                await asyncio.wait(list(self.tasks), timeout=10)
            with contextlib.suppress(Exception):
                await self.bot.shutdown()

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self._authorised(request):
                return response.json({"error": "forbidden"}, status=403)
            if len(request.body or b"") > MAX_BODY_BYTES:
                return response.json({"error": "too large"}, status=413)
            try:
                body = json.loads(request.body)
            except Exception:  # invalid JSON or encoding
                body = None
            status, what, outcome = self.accept(body, on_new_message, request.app)
            if status != 200:
                return response.json({"error": what}, status=status)
            if outcome is not None:
                try:
                    done = await asyncio.wait_for(asyncio.shield(outcome), self.ack_within)
                except asyncio.TimeoutError:
                    # still working: acknowledged; if it fails now, the person is told
                    done = True
                    if not outcome.done():
                        outcome.set_result(True)
                if not done:
                    return response.json(
                        {"error": "could not be processed now; deliver it again"}, status=503,
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                    )  # fmt: skip
            return response.json({"status": what})

        return webhook


# -- polling ---------------------------------------------------------------------------------
async def poll(
    bot: Bot,
    webhook: str,
    secret: str,
    *,
    stop: asyncio.Event | None = None,
    timeout: int = 30,
) -> None:
    """Long-poll getUpdates and post each update to the local webhook, in order.

    An update is confirmed to Telegram (the offset moves past it) only once the local server
    took it (2xx, or 4xx for one it refuses to read): nothing is lost while Rasa restarts.
    """
    import httpx

    stop = stop or asyncio.Event()
    offset: int | None = None
    await call_api("deleteWebhook", lambda: bot.delete_webhook(drop_pending_updates=False))
    async with httpx.AsyncClient(timeout=30) as client:
        while not stop.is_set():
            try:
                updates = await bot.get_updates(
                    offset=offset, timeout=timeout, allowed_updates=list(ALLOWED_UPDATES)
                )
            except Conflict:
                logger.error("Another poller or a webhook is active for this bot; retrying")
                await asyncio.sleep(5)
                continue
            except (NetworkError, RetryAfter) as exc:
                logger.warning("getUpdates failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(2)
                continue
            for update in updates:
                while not stop.is_set():
                    try:
                        answer = await client.post(
                            webhook, json=update.to_dict(), headers={SECRET_HEADER: secret}
                        )
                    except httpx.HTTPError as exc:
                        logger.warning("Local webhook unreachable (%s); retrying",
                                       type(exc).__name__)
                        await asyncio.sleep(2)
                        continue
                    if answer.status_code == 403:
                        raise RuntimeError("the local webhook refused the secret "
                                           "(TELEGRAM_WEBHOOK_SECRET differs)")
                    if answer.status_code >= 500:
                        logger.warning("Local webhook answered %s; retrying", answer.status_code)
                        await asyncio.sleep(2)
                        continue
                    break
                else:
                    return
                offset = update.update_id + 1


def _main(argv: list[str]) -> int:
    import os

    from bot.run import telegram_secret

    if not argv or argv[0] != "poll":
        print("usage: python -m bot.channels.telegram poll", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    token = os.environ.get("TELEGRAM_BOT_TOKEN")
    if not token:
        print("Set TELEGRAM_BOT_TOKEN (and run `make run` with it set)", file=sys.stderr)
        return 1
    settings = get_settings()
    base_url = os.environ.get("TELEGRAM_API_BASE_URL") or DEFAULT_BASE_URL
    webhook = f"{settings.rasa_url}/webhooks/{TelegramInput.name()}/webhook"
    bot = make_bot(token, base_url, long_poll_timeout=30)
    print(f"Polling Telegram; updates go to {webhook}. Ctrl-C stops.", flush=True)
    try:
        asyncio.run(poll(bot, webhook, telegram_secret(settings)))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
