"""Telegram conversations under a keyed pseudonym (issue 20, bot/pseudonyms.py).

Before this revision a Telegram conversation was stored under the chat id, which is the
person's Telegram user id. Upgrade: the table ``telegram_chats`` (the chat id, encrypted, needed
to send), and every stored trace of each Telegram conversation moved to ``tg:<pseudonym>``:
Rasa's ``events.sender_id``, and every ``conversation_id`` / ``sender_id`` column of every other
table (handoffs, reminders, audit log, and tables added later); a reminder's name (a hash of the
conversation id, so of the chat id) is renamed in its row and in the events that carry it.
Nothing is deleted. Downgrade moves everything back.

A Telegram conversation is a sender id that is a chat id (digits) with a user message that came
in through the Telegram channel, or a handoff or reminder on the Telegram channel.
Needs PSEUDONYM_KEY (dev: generated into var/) only when there is such a conversation.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import hashlib
import json
import re

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_CHAT_ID = re.compile(r"^-?\d{1,20}$")
_ID_COLUMNS = ("conversation_id", "sender_id")


def _reminder_name(conversation_id: str) -> str:
    """bot/reminders.py reminder_name, as it is at this revision."""
    return "deadline_" + hashlib.sha256(conversation_id.encode("utf-8")).hexdigest()[:32]


def _telegram_chats(connection: sa.engine.Connection, tables: set[str]) -> list[str]:
    """The sender ids of Telegram conversations stored under their chat id."""
    found: set[str] = set()
    if "events" in tables:
        senders = connection.execute(sa.text("SELECT DISTINCT sender_id FROM events")).scalars()
        for sender in [s for s in senders if s and _CHAT_ID.match(s)]:
            rows = connection.execute(
                sa.text("SELECT data FROM events WHERE sender_id = :s AND type_name = 'user'"),
                {"s": sender},
            ).scalars()
            for data in rows:
                try:
                    if json.loads(data or "{}").get("input_channel") == "telegram":
                        found.add(sender)
                        break
                except ValueError:
                    continue
    for name in ("handoffs", "reminders"):
        if name in tables:
            rows = connection.execute(
                sa.text(f"SELECT DISTINCT conversation_id FROM {name} WHERE channel = 'telegram'")
            ).scalars()
            found.update(r for r in rows if r and _CHAT_ID.match(r))
    return sorted(found)


def _id_columns(connection: sa.engine.Connection) -> list[tuple[str, str]]:
    """(table, column) of every column that holds a conversation id."""
    inspector = sa.inspect(connection)
    return [
        (name, column["name"])
        for name in inspector.get_table_names()
        if name not in ("telegram_chats", "alembic_version")
        for column in inspector.get_columns(name)
        if column["name"] in _ID_COLUMNS
    ]


def _move(connection: sa.engine.Connection, old: str, new: str) -> None:
    """Every trace of conversation ``old`` to ``new``."""
    for name, column in _id_columns(connection):
        connection.execute(
            sa.text(f'UPDATE "{name}" SET "{column}" = :new WHERE "{column}" = :old'),
            {"new": new, "old": old},
        )
    old_name, new_name = _reminder_name(old), _reminder_name(new)
    tables = set(sa.inspect(connection).get_table_names())
    if "reminders" in tables:
        connection.execute(sa.text("UPDATE reminders SET name = :new WHERE name = :old"),
                           {"new": new_name, "old": old_name})  # fmt: skip
    if "events" in tables:
        connection.execute(
            sa.text("UPDATE events SET data = REPLACE(data, :old, :new) "
                    "WHERE sender_id = :id AND data LIKE :pattern"),
            {"old": old_name, "new": new_name, "id": new, "pattern": f"%{old_name}%"},
        )  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "telegram_chats",
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("chat", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id"),
    )
    connection = op.get_bind()
    chats = _telegram_chats(connection, set(sa.inspect(connection).get_table_names()))
    if not chats:
        return
    from datetime import datetime, timezone

    from bot import pseudonyms

    secret = pseudonyms.key()  # raises (with what to set) when there is none
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    for chat in chats:
        new = pseudonyms.telegram_conversation_id(chat, secret)
        _move(connection, chat, new)
        connection.execute(
            sa.text("INSERT INTO telegram_chats (conversation_id, chat, created_at) "
                    "VALUES (:id, :chat, :at)"),
            {"id": new, "chat": pseudonyms.seal(new, chat, secret), "at": now},
        )  # fmt: skip


def downgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT conversation_id, chat FROM telegram_chats")).all()
    if rows:
        from bot import pseudonyms

        secret = pseudonyms.key()
        for conversation_id, sealed in rows:
            chat = str(pseudonyms.unseal(conversation_id, sealed, secret))
            _move(connection, conversation_id, chat)
    op.drop_table("telegram_chats")
