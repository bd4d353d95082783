"""REST channel (`/webhooks/rest/webhook`): Rasa's, with input checks, redaction, its own
conversations and, where it is public, a key.

REST is for trying the assistant with ``curl`` and for an organisation's own backend. What it
may reach (issue 20, review C1):

- Its own conversations only. The sender a client sends (1-64 letters, digits, ``-``, ``_``;
  anything else is a 400 with a clear reason) is stored as ``rest:<sender>``
  (bot/conversation_ids.py): a widget's conversation id or a Telegram chat id sent as a
  sender names a REST conversation of its own, never theirs. Answers name the sender as it was
  sent.
- Who may call it: with ``REST_API_KEY`` set (at least 32 characters), only a request with
  ``Authorization: Bearer <key>`` (compared in constant time), in any profile. Without a key,
  the production profile switches REST off (404, as if it were not there), and the dev
  profile (`make run`) answers only clients on this machine (a loopback address), for curl.
- Only JSON bodies (``Content-Type: application/json``): a web page elsewhere cannot make a
  visitor's browser post here with a "simple" cross-site request (review L6).

Personal identifiers are redacted before Rasa stores or logs anything. Wrong input gets a 400
with a readable reason, never a 500. No log line holds a text or an id: an error is logged by
its type only (a database error's text would quote the SQL parameters, the message itself).

A client that may send a message again (after a timeout or a 502) gives each message an id,
``"message_id"`` (letters, digits, ``-`` and ``_``, at most 64): a message whose id the
conversation already holds is not taken twice, and the answer is the replies it got the first
time (bot/message_ids.py), only from this REST conversation.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput as RasaRestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import abuse
from bot.channels.common import clean_metadata, clean_text
from bot.conversation_ids import rest_id, valid_sender
from bot.message_ids import client_message_id
from bot.settings import SettingsError, get_settings

logger = logging.getLogger(__name__)

MIN_KEY_CHARS = 32
# how a REST request may be let in (see the module docstring)
OPEN_LOCAL, KEY, OFF = "local", "key", "off"


def access_mode(profile: str, key: str | None) -> str:
    """``key`` when a key is set, else ``off`` in production and ``local`` in dev."""
    if key:
        return KEY
    return OFF if profile == "production" else OPEN_LOCAL


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _bearer(request: Request) -> bytes | None:
    header = request.headers.get("authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    # bytes: compare_digest raises on a non-ASCII str (review L4)
    return value.strip().encode("utf-8", "surrogateescape")


def _error(message: str, status: int, **headers: str) -> HTTPResponse:
    return response.json({"error": message}, status=status, headers=headers or None)


class RestInput(RasaRestInput):
    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> RestInput:
        settings = get_settings()
        key = settings.rest_api_key
        if key is not None:
            settings.require_secret("REST_API_KEY", key)
            if len(key) < MIN_KEY_CHARS:
                raise SettingsError(
                    f"REST_API_KEY must be at least {MIN_KEY_CHARS} characters (a long random "
                    "value, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
                )
        return cls(api_key=key, profile=settings.profile)

    def __init__(self, api_key: str | None = None, profile: str = "dev") -> None:
        self.api_key = api_key.encode("utf-8") if api_key else None
        self.mode = access_mode(profile, api_key)
        logger.info(
            "REST channel: %s",
            {KEY: "a bearer key is required", OFF: "off (no REST_API_KEY in production)",
             OPEN_LOCAL: "open to this machine only (dev, no REST_API_KEY)"}[self.mode],
        )  # fmt: skip

    def refusal(self, request: Request) -> HTTPResponse | None:
        """The answer to a request that may not use REST, or None if it may."""
        if self.mode == OFF:
            return _error("not found", 404)
        if self.mode == OPEN_LOCAL:
            if not _is_loopback(request.ip or ""):
                return _error(
                    "REST without REST_API_KEY answers this machine only", 403
                )
            return None
        given = _bearer(request)
        if given is None or not hmac.compare_digest(given, self.api_key or b""):
            return _error(
                "send the REST API key as 'Authorization: Bearer <key>'", 401,
                **{"WWW-Authenticate": "Bearer"},
            )  # fmt: skip
        return None

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return self.refusal(request) or response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            refused = self.refusal(request)
            if refused is not None:
                return refused
            content_type = (request.headers.get("content-type") or "").split(";")[0]
            if content_type.strip().lower() != "application/json":
                return _error("send JSON with 'Content-Type: application/json'", 415)
            try:
                body = request.json
            except Exception:  # sanic raises on invalid JSON / encoding
                body = None
            if not isinstance(body, dict):
                return _error("send a JSON object", 400)
            sender = valid_sender(body.get("sender"))
            if sender is None:
                return _error("'sender' must be 1-64 letters, digits, '-' or '_'", 400)
            text = clean_text(body.get("message"))
            if text is None:
                return _error("'message' must be non-empty text", 400)
            message_id = body.get("message_id")
            if message_id is not None and client_message_id(message_id) is None:
                return _error("'message_id' must be 1-64 letters, digits, '-' or '_'", 400)
            metadata = clean_metadata(body.get("metadata"))
            refused = await abuse.refuse_rest(request, self.name(), rest_id(sender), text, metadata)
            if refused is not None:  # over a limit (bot/abuse.py): 429, numbers to call
                return refused
            collector = CollectingOutputChannel()
            try:
                await on_new_message(
                    UserMessage(text, collector, rest_id(sender), input_channel=self.name(),
                                message_id=message_id, metadata=metadata)
                )  # fmt: skip
            except Exception as error:
                # the type only: a database error's text quotes the SQL parameters (the text)
                logger.error("Could not handle a REST message (%s)", type(error).__name__)
                return _error("the assistant could not answer", 503)
            # the client's own name for the conversation, not the stored id
            return response.json([{**m, "recipient_id": sender} for m in collector.messages])

        return webhook
