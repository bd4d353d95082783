"""SQLAlchemy table models (1.4, written in the 2.0 style)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from sqlalchemy import Column, Date, DateTime, ForeignKey, Index, Integer, String, Text, event
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


class AuditEntry(Base):
    """Who did what to which handoff, and when. Never the text of a message, never a
    conversation's id: ``conversation_ref`` is a keyed pseudonym of it (bot/store/audit.py), so
    the row outlives the conversation's deletion without pointing at the person.

    Append-only and tamper-evident: each row carries the hash of the row before it and its own
    (SHA-256 over a canonical form, bot/store/audit.py); database triggers refuse UPDATE and
    DELETE, except the oldest rows once a checkpoint row covers them (``checkpoint_through``:
    the audit log's own retention). Ids are given in order by the writer, never reused.
    """

    __tablename__ = "audit_log"

    id = Column(Integer, primary_key=True, autoincrement=False)
    at = Column(DateTime, nullable=False, default=utcnow, index=True)
    actor = Column(String(64), nullable=False, index=True)
    action = Column(String(32), nullable=False)
    handoff_id = Column(String(32), index=True)
    conversation_ref = Column(String(64), index=True)
    detail = Column(Text)
    checkpoint_through = Column(Integer, index=True)
    prev_hash = Column(String(64), nullable=False)
    hash = Column(String(64), nullable=False)


# The triggers that make audit_log append-only. Migration 0003 creates the same (its own copy);
# these are for a database made by create_all. A DELETE passes only for a row a checkpoint
# covers (the audit log's retention, bot/store/audit.py); PostgreSQL also refuses TRUNCATE.
AUDIT_TRIGGERS: dict[str, tuple[str, ...]] = {
    "sqlite": (
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN "
        "SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END",
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        "WHEN OLD.id > (SELECT coalesce(max(checkpoint_through), 0) FROM audit_log) BEGIN "
        "SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END",
    ),
    "postgresql": (
        """CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'DELETE' AND OLD.id <= (
              SELECT coalesce(max(checkpoint_through), 0) FROM audit_log) THEN
            RETURN OLD;
          END IF;
          RAISE EXCEPTION USING MESSAGE = 'audit_log is append-only: ' || TG_OP || ' refused';
        END $$""",
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
    ),
}
AUDIT_TRIGGER_NAMES = ("audit_log_no_update", "audit_log_no_delete")


@event.listens_for(AuditEntry.__table__, "after_create")
def _audit_triggers(target, connection, **kw) -> None:  # type: ignore[no-untyped-def]
    for statement in AUDIT_TRIGGERS.get(connection.dialect.name, ()):
        connection.exec_driver_sql(statement)


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


class TelegramChat(Base):
    """The Telegram chat id of a ``tg:<pseudonym>`` conversation, needed to send to it
    (bot/pseudonyms.py). Encrypted; deleted with the conversation's data (retention and
    "delete my data" call ``bot.pseudonyms.forget``)."""

    __tablename__ = "telegram_chats"

    conversation_id = Column(String(64), primary_key=True)
    chat = Column(String(255), nullable=False)  # "v1." + AES-GCM(chat id), bot/pseudonyms.py
    created_at = Column(DateTime, nullable=False, default=utcnow)


class AuditHead(Base):
    """One row, locked by every audit append (UPDATE, then the chain's last row is read): two
    writers, in any process, never link a row to the same predecessor."""

    __tablename__ = "audit_head"

    id = Column(Integer, primary_key=True, autoincrement=False)
    appends = Column(Integer, nullable=False, default=0)


@event.listens_for(AuditHead.__table__, "after_create")
def _audit_head_row(target, connection, **kw) -> None:  # type: ignore[no-untyped-def]
    connection.execute(target.insert().values(id=1, appends=0))


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
