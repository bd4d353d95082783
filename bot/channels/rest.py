"""REST channel (`/webhooks/rest/webhook`): Rasa's, with input checks and redaction.

Personal identifiers are redacted before Rasa stores or logs anything. Wrong input gets a 400
with a readable reason, never a 500.

A client that may send a message again (after a timeout or a 502) gives each message an id,
``"message_id"`` (letters, digits, ``-`` and ``_``, at most 64): a message whose id the
conversation already holds is not taken twice, and the answer is the replies it got the first
time (bot/message_ids.py).
"""

from __future__ import annotations

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
from bot.message_ids import client_message_id

logger = logging.getLogger(__name__)
MAX_SENDER_CHARS = 128


class RestInput(RasaRestInput):
    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                body = request.json
            except Exception:  # sanic raises on invalid JSON / encoding
                body = None
            if not isinstance(body, dict):
                return response.json({"error": "send a JSON object"}, status=400)
            sender = body.get("sender")
            if not isinstance(sender, str) or not 0 < len(sender) <= MAX_SENDER_CHARS:
                return response.json({"error": "'sender' must be a short string"}, status=400)
            text = clean_text(body.get("message"))
            if text is None:
                return response.json({"error": "'message' must be non-empty text"}, status=400)
            message_id = body.get("message_id")
            if message_id is not None and client_message_id(message_id) is None:
                return response.json(
                    {"error": "'message_id' must be 1-64 letters, digits, '-' or '_'"}, status=400
                )
            metadata = clean_metadata(body.get("metadata"))
            refused = await abuse.refuse_rest(request, self.name(), sender, text, metadata)
            if refused is not None:  # over a limit (bot/abuse.py): 429, numbers to call
                return refused
            collector = CollectingOutputChannel()
            try:
                await on_new_message(
                    UserMessage(text, collector, sender, input_channel=self.name(),
                                message_id=message_id, metadata=metadata)
                )
            except Exception as error:  # the type only: an error's text may quote the message
                logger.error("Could not handle a REST message (%s)", type(error).__name__)
                return response.json({"error": "the assistant could not answer"}, status=503)
            return response.json(collector.messages)

        return webhook
