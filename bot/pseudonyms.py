"""Telegram conversations under a keyed pseudonym, never under the person's Telegram id.

A Telegram chat id is the person's user id: not secret (any bot they used, any shared group
shows it) and linkable to their phone number. So nothing stored is keyed by it: the
conversation id is ``tg:<pseudonym>``, the pseudonym the first 26 characters of
base32(HMAC-SHA256(PSEUDONYM_KEY, "telegram:" + chat_id)), lower case (130 bits). Events,
handoffs, audit rows, reminders, Redis lock keys and broker messages all carry that id, because
it is the Rasa sender id.

Sending needs the chat id back (a counsellor's reply, a deadline reminder): the table
``telegram_chats`` maps the conversation id to the chat id, encrypted (AES-GCM under a key
derived from PSEUDONYM_KEY, the conversation id as associated data), so a copy of the database
alone (a backup) names nobody. The row is written when the person writes and deleted with the
conversation's data: whoever deletes a conversation calls ``forget`` in the same transaction
(bot/store/retention.py ``delete_conversation`` does, for "delete my data" and the retention
purge).

PSEUDONYM_KEY comes from the environment; in dev it is generated once into var/ (bot/run.py
``dev_secret``); in production it is required where Telegram is on. It must never change: a new
key gives every Telegram user a new, empty conversation (keep it with the database's secrets).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from datetime import datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import column, delete, inspect, select, table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.settings import get_settings
from bot.store.models import TelegramChat

PREFIX = "tg:"
PSEUDONYM_CHARS = 26
KEY_NAME = "PSEUDONYM_KEY"
_CONVERSATION = re.compile(rf"^{PREFIX}[a-z2-7]{{{PSEUDONYM_CHARS}}}$")
_CHAT_ID = re.compile(r"^-?\d{1,20}$")


def key() -> bytes:
    """PSEUDONYM_KEY from the environment; in dev, the one generated into var/."""
    from bot.run import dev_secret  # bot.run imports no Rasa; late, as bot.run imports models

    return dev_secret(get_settings(), KEY_NAME).encode("utf-8")


def pseudonym(chat_id: int | str, secret: bytes | None = None) -> str:
    """The chat's pseudonym (SEC_COMMON decision 1)."""
    chat = str(chat_id).strip()
    if not _CHAT_ID.match(chat):
        raise ValueError("not a Telegram chat id")
    digest = hmac.new(secret or key(), f"telegram:{chat}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii")[:PSEUDONYM_CHARS].lower()


def telegram_conversation_id(chat_id: int | str, secret: bytes | None = None) -> str:
    """The conversation id of a Telegram chat: ``tg:<pseudonym>``."""
    return PREFIX + pseudonym(chat_id, secret)


def is_telegram_conversation(conversation_id: str) -> bool:
    return isinstance(conversation_id, str) and _CONVERSATION.match(conversation_id) is not None


# -- the chat id, encrypted at rest ------------------------------------------------------------
def _cipher(secret: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"return-assistant telegram chat id v1").derive(secret)  # fmt: skip
    return AESGCM(derived)


def seal(conversation_id: str, chat_id: int | str, secret: bytes | None = None) -> str:
    """The chat id encrypted for the row of ``conversation_id``."""
    nonce = os.urandom(12)
    sealed = _cipher(secret or key()).encrypt(nonce, str(int(chat_id)).encode(),
                                              conversation_id.encode())  # fmt: skip
    return "v1." + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def unseal(conversation_id: str, sealed: str, secret: bytes | None = None) -> int:
    """The chat id of a row (refuses a row moved to another conversation id)."""
    if not sealed.startswith("v1."):
        raise ValueError("unknown format")
    raw = base64.urlsafe_b64decode(sealed[3:].encode("ascii"))
    plain = _cipher(secret or key()).decrypt(raw[:12], raw[12:], conversation_id.encode())
    return int(plain.decode())


# -- the table ---------------------------------------------------------------------------------
def remember(db: Session, conversation_id: str, chat_id: int | str) -> bool:
    """Keep the chat id of a Telegram conversation for sending (committed). True when the row
    is new. Two servers writing at once: one row, no error."""
    if db.get(TelegramChat, conversation_id) is not None:
        return False
    db.add(TelegramChat(conversation_id=conversation_id, chat=seal(conversation_id, chat_id)))
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        return False
    return True


def chat_id_for(db: Session, conversation_id: str) -> int | None:
    """The chat id to send to, or None (not a Telegram conversation, or deleted)."""
    if not is_telegram_conversation(conversation_id):
        return None
    row = db.execute(
        select(TelegramChat.chat).where(TelegramChat.conversation_id == conversation_id)
    ).scalar_one_or_none()
    return unseal(conversation_id, row) if row is not None else None


def forget(conversation_id: str, db: Session | None = None) -> int:
    """Delete the chat id of a conversation: with ``db``, inside the caller's transaction (the
    caller commits with the rest of the deletion); without, in its own. Rows deleted."""
    statement = delete(TelegramChat).where(TelegramChat.conversation_id == conversation_id)
    if db is not None:
        return db.execute(statement).rowcount or 0
    from bot.store.db import session

    with session(get_settings().database_url) as own:
        count = own.execute(statement).rowcount or 0
        own.commit()
    return count


def forget_unused(db: Session, *, before: datetime) -> int:
    """Delete the chat ids of conversations that have nothing stored any more and were made
    before ``before`` (a message Rasa never stored, say): the retention purge calls this."""
    statement = delete(TelegramChat).where(TelegramChat.created_at < before)
    if "events" in inspect(db.get_bind()).get_table_names():
        events = table("events", column("sender_id"))
        statement = statement.where(
            ~select(events.c.sender_id)
            .where(events.c.sender_id == TelegramChat.conversation_id)
            .exists()
        )
    return db.execute(statement.execution_options(synchronize_session=False)).rowcount or 0
