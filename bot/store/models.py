"""SQLAlchemy table models (1.4, written in the 2.0 style)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from sqlalchemy import Column, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import declarative_base

Base = declarative_base()


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def new_id() -> str:
    return uuid.uuid4().hex


class HandoffStatus:
    WAITING = "waiting"      # in the queue, no counsellor yet
    CLAIMED = "claimed"      # one counsellor has it
    RETURNED = "returned"    # handed back to the bot
    CLOSED = "closed"        # closed with an outcome
    CANCELLED = "cancelled"  # the user said never mind
    OPEN = (WAITING, CLAIMED)


class Priority:
    URGENT = "urgent"
    NORMAL = "normal"


class Handoff(Base):
    """A conversation escalated to a counsellor."""

    __tablename__ = "handoffs"

    id = Column(String(32), primary_key=True, default=new_id)
    conversation_id = Column(String(255), nullable=False, index=True)
    channel = Column(String(64), nullable=False, default="rest")
    language = Column(String(8), nullable=False, default="sv")
    reason = Column(String(32), nullable=False)  # request | crisis | not_understood
    priority = Column(String(16), nullable=False, default=Priority.NORMAL)
    status = Column(String(16), nullable=False, default=HandoffStatus.WAITING)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    claimed_by = Column(String(64))
    claimed_at = Column(DateTime)
    closed_by = Column(String(64))
    closed_at = Column(DateTime)
    outcome = Column(String(64))

    __table_args__ = (Index("ix_handoffs_status_priority", "status", "priority", "created_at"),)


class Counsellor(Base):
    """A console account. Passwords are stored only as hashes."""

    __tablename__ = "counsellors"

    id = Column(Integer, primary_key=True, autoincrement=True)
    username = Column(String(64), nullable=False, unique=True)
    password_hash = Column(String(255), nullable=False)
    role = Column(String(16), nullable=False, default="counsellor")  # counsellor | admin
    created_at = Column(DateTime, nullable=False, default=utcnow)
    failed_logins = Column(Integer, nullable=False, default=0)
    locked_until = Column(DateTime)


class AuditEntry(Base):
    """Who did what to which handoff, and when. Never the text of a message."""

    __tablename__ = "audit_log"

    id = Column(Integer, primary_key=True, autoincrement=True)
    at = Column(DateTime, nullable=False, default=utcnow, index=True)
    actor = Column(String(64), nullable=False)
    action = Column(String(32), nullable=False)
    handoff_id = Column(String(32), index=True)
    conversation_id = Column(String(255), index=True)
    detail = Column(Text)


class ConsoleSession(Base):
    """A console login. Only a hash of the session token is stored, so a copy of the
    database does not let anyone in."""

    __tablename__ = "console_sessions"

    id = Column(Integer, primary_key=True, autoincrement=True)
    token_hash = Column(String(64), nullable=False, unique=True)
    counsellor_id = Column(
        Integer, ForeignKey("counsellors.id", ondelete="CASCADE"), nullable=False, index=True
    )
    created_at = Column(DateTime, nullable=False, default=utcnow)
    last_seen_at = Column(DateTime, nullable=False, default=utcnow)
    expires_at = Column(DateTime, nullable=False, index=True)


class Reminder(Base):
    """An opt-in deadline reminder (actions/reminders.py). Rasa keeps scheduled reminders in
    memory only; this row lets bot/reminders.py schedule it again after a restart. ``name`` is
    the Rasa reminder's name, which is also its job id in Rasa's scheduler. Deleted with the
    conversation; ``delivered_at`` is set by the one server that sends it."""

    __tablename__ = "reminders"

    id = Column(Integer, primary_key=True, autoincrement=True)
    name = Column(String(64), nullable=False, unique=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    channel = Column(String(32), nullable=False)
    language = Column(String(8), nullable=False, default="sv")
    kind = Column(String(16), nullable=False)  # appeal | departure
    deadline = Column(Date, nullable=False)
    remind_at = Column(DateTime, nullable=False)  # UTC, naive, on the assistant's clock
    created_at = Column(DateTime, nullable=False, default=utcnow)
    delivered_at = Column(DateTime, index=True)


class WidgetSession(Base):
    """A widget's session (bot/store/widget_sessions.py): the browser holds a random handle,
    the server only its SHA-256 and the conversation it opens. Expires when unused for the
    retention period; revoked by "Clear", "Leave quickly" and "delete my data". A row without
    a usable handle (``revoked_at`` set at creation) marks a conversation whose old-format
    token was migrated: that token is honoured once."""

    __tablename__ = "widget_sessions"

    handle_hash = Column(String(64), primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    expires_at = Column(DateTime, nullable=False, index=True)
    revoked_at = Column(DateTime)
