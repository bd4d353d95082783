"""The widget's sessions: an opaque random handle in the browser, its hash and conversation here.

Before (review M1) a widget's token was ``v1.<conversation id>.<HMAC>``: it never expired,
could not be revoked, and named the conversation in clear (all a REST request needed, C1).
Now the browser holds ``v2.<handle>``, 256 random bits that mean nothing outside this table;
the table keeps the handle's SHA-256 (a copy of the database opens no conversation), the
conversation it opens, and when it was made, expires and was revoked.

- Expiry: a session unused for ``days`` (default: the retention period, RETENTION_DAYS)
  expires, as its conversation would be purged by then. Each use moves the expiry on (at most
  once an hour: a write per message would make every message a database write).
- Revoked by "Clear" and "Leave quickly" (the widget ends its own session) and by "delete my
  data" (every session of the conversation goes with it). The browser then gets a new session
  with a new conversation id: nothing it held before opens anything.
- Old ``v1`` tokens (made before this table existed) are honoured once: the first to show
  one gets a new handle for its conversation, if that conversation still has stored events,
  and a marker row (hash of ``"v1:" + id``, no handle can hash to it) makes every later
  attempt fail. Why not refuse them all: a person waiting for a counsellor when the update is
  deployed would lose that conversation. A v1 token no longer lets anyone into a conversation
  through REST (ids are namespaced, bot/conversation_ids.py), and it is dead after its one use.

Rows are deleted with their conversation (bot/store/retention.py) and, once expired or
revoked, by the retention purge when their conversation has no events left. The marker and
revoked rows are kept while the conversation's events exist, so "once" holds.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import column, delete, exists, func, inspect, select, table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store.models import WidgetSession, utcnow

TOKEN_PREFIX = "v2"
HANDLE = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 random bytes, unpadded URL-safe base64
# a session's expiry is moved on by use at most this often
SLIDE_EVERY = timedelta(hours=1)
_RASA_EVENTS = table("events", column("sender_id"))


def new_conversation_id() -> str:
    """A widget conversation's id: 128 random bits, 32 hex digits (bot/conversation_ids.py)."""
    return secrets.token_hex(16)


def handle_hash(handle: str) -> str:
    return hashlib.sha256(handle.encode("ascii")).hexdigest()


def _v1_marker(conversation_id: str) -> str:
    return hashlib.sha256(b"v1:" + conversation_id.encode("ascii")).hexdigest()


def token_for(handle: str) -> str:
    return f"{TOKEN_PREFIX}.{handle}"


def handle_of(token: object) -> str | None:
    """The handle inside a well-formed v2 token, else None."""
    if not isinstance(token, str) or len(token) != len(TOKEN_PREFIX) + 1 + 43:
        return None
    prefix, _, handle = token.partition(".")
    if prefix != TOKEN_PREFIX or not HANDLE.fullmatch(handle):
        return None
    return handle


@dataclass(frozen=True)
class Live:
    """A usable session: its conversation and the hash that identifies it."""

    conversation_id: str
    handle_hash: str
    token: str | None = None  # only when it was just issued


def start(db: Session, *, days: int, conversation_id: str | None = None) -> Live:
    """A new session (of a new conversation unless one is given)."""
    handle = secrets.token_urlsafe(32)
    now = utcnow()
    row = WidgetSession(
        handle_hash=handle_hash(handle),
        conversation_id=conversation_id or new_conversation_id(),
        created_at=now, expires_at=now + timedelta(days=days),
    )  # fmt: skip
    db.add(row)
    db.commit()
    return Live(row.conversation_id, row.handle_hash, token_for(handle))


def find(db: Session, *, hashed: str, days: int, now: datetime | None = None) -> Live | None:
    """The live session with this handle hash, its expiry moved on; None if there is none,
    or it expired or was revoked."""
    now = now or utcnow()
    row = db.get(WidgetSession, hashed)
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    lasts_until = now + timedelta(days=days)
    if row.expires_at < lasts_until - SLIDE_EVERY:
        # used again: it lasts ``days`` from now (written at most once per SLIDE_EVERY)
        row.expires_at = lasts_until
        db.commit()
    return Live(row.conversation_id, row.handle_hash)


def resume(db: Session, *, token: object, days: int) -> Live | None:
    """The live session a v2 token opens, else None."""
    handle = handle_of(token)
    if handle is None:
        return None
    return find(db, hashed=handle_hash(handle), days=days)


def revoke(db: Session, *, hashed: str) -> str | None:
    """Ends one session ("Clear", "Leave quickly"); the conversation it opened, if it was live."""
    row = db.get(WidgetSession, hashed)
    if row is None or row.revoked_at is not None:
        return None
    row.revoked_at = utcnow()
    db.commit()
    return row.conversation_id


def delete_for_conversation(db: Session, *, conversation_id: str) -> int:
    """Every session of a conversation, the v1 marker included (with its data); no commit."""
    return db.execute(
        delete(WidgetSession).where(WidgetSession.conversation_id == conversation_id)
    ).rowcount


def has_events(db: Session, conversation_id: str) -> bool:
    if not inspect(db.get_bind()).has_table("events"):
        return False
    return db.execute(
        select(exists().where(_RASA_EVENTS.c.sender_id == conversation_id))
    ).scalar_one()  # fmt: skip


def migrate_v1(db: Session, *, conversation_id: str, days: int) -> Live | None:
    """A new session for the conversation a genuine v1 token names, once; None if it was
    migrated before or has no stored events (deleted, purged, never written to)."""
    if not has_events(db, conversation_id):
        return None
    now = utcnow()
    db.add(WidgetSession(handle_hash=_v1_marker(conversation_id), conversation_id=conversation_id,
                         created_at=now, expires_at=now + timedelta(days=days),
                         revoked_at=now))  # fmt: skip
    try:
        db.flush()
    except IntegrityError:  # migrated before (or at this moment, by another tab or server)
        db.rollback()
        return None
    return start(db, days=days, conversation_id=conversation_id)


def purge(db: Session, *, now: datetime | None = None) -> int:
    """Expired or revoked sessions whose conversation has no events left (a session opened and
    never written to, a conversation purged); no commit."""
    now = now or utcnow()
    stale = (WidgetSession.expires_at <= now) | WidgetSession.revoked_at.is_not(None)
    if inspect(db.get_bind()).has_table("events"):
        stale = stale & ~exists().where(_RASA_EVENTS.c.sender_id == WidgetSession.conversation_id)
    return db.execute(
        delete(WidgetSession).where(stale).execution_options(synchronize_session=False)
    ).rowcount


def live_count(db: Session, *, conversation_id: str) -> int:
    """How many usable sessions the conversation has (tests, the delete check)."""
    now = utcnow()
    return db.execute(
        select(func.count()).select_from(WidgetSession).where(
            WidgetSession.conversation_id == conversation_id,
            WidgetSession.revoked_at.is_(None), WidgetSession.expires_at > now,
        )
    ).scalar_one()  # fmt: skip
