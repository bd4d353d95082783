"""Conversation ids, namespaced by channel: nothing addressed through one channel reaches a
conversation of another (issue 20, decision 1 of the security work).

- REST: ``rest:<sender>``, the sender being what the REST client sent, checked against
  ``[A-Za-z0-9_-]{1,64}``. A REST client chooses its sender freely, so the prefix is what keeps
  it out of every other channel's conversations: a widget's id or a Telegram chat id sent as
  a REST sender names a REST conversation of its own.
- Telegram: ``tg:<pseudonym>`` (bot/pseudonyms.py: a keyed HMAC of the chat id, never the id).
- Widget (socket.io): the 32 hexadecimal digits the server drew at random for it; a browser
  never sees them (it holds an opaque session handle, bot/store/widget_sessions.py).

No channel's ids can be written in another's form: a REST sender has no ``:``, a widget id no
letters beyond ``f``, so ``channel_of`` is exact. It is also why no conversation's Redis lock
key can be another's mutex key (review M9: a REST sender ``"<id>:mutex"`` is refused).
"""

from __future__ import annotations

import re
from typing import Any

REST_PREFIX = "rest:"
TELEGRAM_PREFIX = "tg:"
REST = "rest"
TELEGRAM = "telegram"
SOCKETIO = "socketio"
# stored before ids were namespaced (REST senders and Telegram chat ids as they came)
LEGACY = "legacy"

SENDER = re.compile(r"[A-Za-z0-9_-]{1,64}")
WIDGET_ID = re.compile(r"[0-9a-f]{32}")
_PSEUDONYM = re.compile(r"[a-z2-7]{1,64}")  # base32, lower case (bot/pseudonyms.py)


class InvalidSender(ValueError):
    """A REST sender that is not 1-64 letters, digits, '-' or '_'."""


def valid_sender(raw: Any) -> str | None:
    """The REST sender if it is usable, else None."""
    if isinstance(raw, str) and SENDER.fullmatch(raw):
        return raw
    return None


def rest_id(sender: str) -> str:
    """The stored conversation id of a REST sender; InvalidSender for anything else."""
    if valid_sender(sender) is None:
        raise InvalidSender("a REST sender is 1-64 letters, digits, '-' or '_'")
    return REST_PREFIX + sender


def rest_sender(conversation_id: str) -> str | None:
    """The REST sender of a REST conversation id, else None."""
    if conversation_id.startswith(REST_PREFIX):
        return valid_sender(conversation_id[len(REST_PREFIX):])
    return None


def is_widget_id(conversation_id: Any) -> bool:
    return isinstance(conversation_id, str) and WIDGET_ID.fullmatch(conversation_id) is not None


def channel_of(conversation_id: str) -> str:
    """The channel a conversation id belongs to: "rest", "telegram", "socketio" or "legacy"."""
    if rest_sender(conversation_id) is not None:
        return REST
    if conversation_id.startswith(TELEGRAM_PREFIX) and _PSEUDONYM.fullmatch(
        conversation_id[len(TELEGRAM_PREFIX):]
    ):  # fmt: skip
        return TELEGRAM
    if is_widget_id(conversation_id):
        return SOCKETIO
    return LEGACY
