"""Widget sessions (issue 20): the table behind the widget's opaque handles, and REST
conversations moved into their own namespace (``rest:<sender>``, bot/conversation_ids.py).

A REST conversation stored before: every user message of it came through REST (the events'
``input_channel``) and its id is a valid REST sender. Its events, handoffs and reminders are
moved to ``rest:<id>`` so that the same REST client continues the same conversation. A
conversation with any message from another channel (a REST request into a Telegram or widget
conversation, the attack of review C1) keeps its id: it belongs to that channel's person.
Audit rows are left as they are (they record what happened, under the id of the time).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""

from __future__ import annotations

import hashlib
import json
import re

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_SENDER = re.compile(r"[A-Za-z0-9_-]{1,64}")
_EVENTS = sa.table("events", sa.column("sender_id"), sa.column("type_name"), sa.column("data"))
_HANDOFFS = sa.table("handoffs", sa.column("conversation_id"))
_REMINDERS = sa.table("reminders", sa.column("conversation_id"), sa.column("name"))


def _reminder_name(conversation_id: str) -> str:
    # bot/reminders.py reminder_name at the time of this revision
    return "deadline_" + hashlib.sha256(conversation_id.encode("utf-8")).hexdigest()[:32]


def rest_conversations(connection: sa.engine.Connection) -> list[str]:
    """Ids of the conversations whose every user message came through REST."""
    if not sa.inspect(connection).has_table("events"):
        return []
    rest: set[str] = set()
    other: set[str] = set()
    rows = connection.execute(
        sa.select(_EVENTS.c.sender_id, _EVENTS.c.data).where(_EVENTS.c.type_name == "user")
    )
    for sender_id, data in rows:
        try:
            channel = (json.loads(data) or {}).get("input_channel")
        except (TypeError, ValueError):
            channel = None
        (rest if channel == "rest" else other).add(sender_id)
    return sorted(s for s in rest - other if _SENDER.fullmatch(s or ""))


def _move(connection: sa.engine.Connection, old: str, new: str) -> None:
    connection.execute(_EVENTS.update().where(_EVENTS.c.sender_id == old).values(sender_id=new))
    connection.execute(
        _HANDOFFS.update().where(_HANDOFFS.c.conversation_id == old).values(conversation_id=new)
    )
    connection.execute(
        _REMINDERS.update()
        .where(_REMINDERS.c.conversation_id == old)
        .values(conversation_id=new, name=_reminder_name(new))
    )


def _taken(connection: sa.engine.Connection, conversation_id: str) -> bool:
    return connection.execute(
        sa.select(sa.func.count()).select_from(_EVENTS).where(
            _EVENTS.c.sender_id == conversation_id
        )
    ).scalar_one() > 0  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "widget_sessions",
        sa.Column("handle_hash", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("handle_hash"),
    )
    op.create_index("ix_widget_sessions_conversation_id", "widget_sessions", ["conversation_id"])
    op.create_index("ix_widget_sessions_expires_at", "widget_sessions", ["expires_at"])
    connection = op.get_bind()
    for sender in rest_conversations(connection):
        if not _taken(connection, "rest:" + sender):
            _move(connection, sender, "rest:" + sender)


def downgrade() -> None:
    connection = op.get_bind()
    if sa.inspect(connection).has_table("events"):
        moved = connection.execute(
            sa.select(_EVENTS.c.sender_id).where(_EVENTS.c.sender_id.like("rest:%")).distinct()
        ).scalars().all()
        for conversation_id in moved:
            old = conversation_id[len("rest:"):]
            if _SENDER.fullmatch(old) and not _taken(connection, old):
                _move(connection, conversation_id, old)
    op.drop_index("ix_widget_sessions_expires_at", table_name="widget_sessions")
    op.drop_index("ix_widget_sessions_conversation_id", table_name="widget_sessions")
    op.drop_table("widget_sessions")
