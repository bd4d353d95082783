"""A message sent again is taken once: the client's message id, checked inside the lock.

A client that got no answer sends the same message again (the widget's offline queue, a REST
client after a timeout or a 502). When the first try was stored and only its answer was lost
(a Rasa server killed between saving the conversation and answering, a connection dropped),
Rasa would take the message a second time: the person's question twice in the conversation
and answered twice, a form filled twice. With several Rasa servers the retry can reach another
server, so no memory of one process can tell.

Channels pass the client's id as Rasa's own ``UserMessage.message_id``, which Rasa stores on the
``UserUttered`` event. Rasa handles a conversation's messages one at a time under the lock
store's lock (``Agent.handle_message``); inside it, before the message is parsed, the
conversation is looked up for a user event with the same id. If there is one, the message is
not taken again: a collecting channel (REST) gets the replies stored after the first try, which
its client never received; a pushing channel (socket.io, Telegram, whose update id is the
message id) gets nothing, because replies are sent while they are made, before the conversation
is saved.

A message without a client id gets Rasa's random one and is never a duplicate.

Only a message of the same conversation *and the same channel* counts: conversations are
namespaced by channel (bot/conversation_ids.py), so a REST client can never address a widget's
or a Telegram conversation; and even within one conversation, an id stored by one channel is
never matched by a message from another (a ``telegram-<update id>`` planted by a REST message
cannot make the real Telegram update count as taken, review C1.8, nor can a REST retry fetch
the replies that followed another channel's message).
"""

from __future__ import annotations

import logging
import re
from typing import Any

logger = logging.getLogger(__name__)

# What a client may send as its message id: short, plain, nothing personal.
MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def client_message_id(raw: Any) -> str | None:
    """The client's message id if it is usable, else None (Rasa then makes its own)."""
    if isinstance(raw, str) and MESSAGE_ID.fullmatch(raw):
        return raw
    return None


class AlreadyTaken(Exception):
    """The conversation already holds this message (raised inside the processor only)."""

    def __init__(self, replies: list[dict[str, Any]]) -> None:
        super().__init__("message already taken")
        self.replies = replies


def earlier_replies(
    events: list[Any], message_id: str, input_channel: str | None = None
) -> list[dict[str, Any]] | None:
    """The bot messages that followed the user message with this id that came through
    ``input_channel``, or None if the conversation has no such user message."""
    from rasa.shared.core.events import BotUttered, UserUttered

    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        # the attribute first: one isinstance (an ABC check) per event was 1 % of the time
        if (
            getattr(event, "message_id", None) == message_id
            and isinstance(event, UserUttered)
            and event.input_channel == input_channel
        ):
            replies = []
            for later in events[index + 1 :]:
                if isinstance(later, UserUttered):
                    break
                if isinstance(later, BotUttered):
                    replies.append(later.message())
            return replies
    return None


def install() -> None:
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.core.processor import MessageProcessor

    if getattr(MessageProcessor.handle_message, "_message_ids", False):
        return
    handle_message = MessageProcessor.handle_message
    handle_with_tracker = MessageProcessor._handle_message_with_tracker

    async def _handle_message_with_tracker(
        self: MessageProcessor, message: Any, tracker: Any
    ) -> None:
        if message.message_id and not message.parse_data:
            replies = earlier_replies(
                list(tracker.events), message.message_id, message.input_channel
            )
            if replies is not None:
                raise AlreadyTaken(replies)
        await handle_with_tracker(self, message, tracker)

    async def handle_message_once(self: MessageProcessor, message: Any) -> Any:
        try:
            return await handle_message(self, message)
        except AlreadyTaken as taken:
            logger.info("A message sent again was already taken: not taken twice")
            channel = message.output_channel
            if isinstance(channel, CollectingOutputChannel):
                for reply in taken.replies:
                    await channel.send_response(message.sender_id, dict(reply))
                return channel.messages
            return None

    handle_message_once._message_ids = True  # type: ignore[attr-defined]
    MessageProcessor.handle_message = handle_message_once  # type: ignore[method-assign]
    MessageProcessor._handle_message_with_tracker = _handle_message_with_tracker  # type: ignore
