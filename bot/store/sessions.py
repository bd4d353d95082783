"""Console login sessions, stored by the hash of their token.

Idle sessions expire (``idle``), and every session ends after ``max_age`` however active.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.store.models import ConsoleSession, Counsellor, utcnow

# Writing last_seen_at on every request would make every read a write; this often is enough.
TOUCH_EVERY = timedelta(seconds=60)


def create_session(
    session: Session, *, counsellor_id: int, token_hash: str, idle: timedelta
) -> ConsoleSession:
    now = utcnow()
    row = ConsoleSession(
        counsellor_id=counsellor_id, token_hash=token_hash, created_at=now, last_seen_at=now,
        expires_at=now + idle,
    )  # fmt: skip
    session.add(row)
    session.commit()
    return row


def find_session(
    session: Session,
    *,
    token_hash: str,
    idle: timedelta,
    max_age: timedelta,
    touch: bool = True,
) -> tuple[ConsoleSession, Counsellor] | None:
    """The live session with this token hash and its account, or None.

    An expired session is deleted when found; a live one has its idle expiry pushed on.
    """
    found = session.execute(
        select(ConsoleSession, Counsellor)
        .join(Counsellor, Counsellor.id == ConsoleSession.counsellor_id)
        .where(ConsoleSession.token_hash == token_hash)
    ).first()
    if found is None:
        return None
    row, counsellor = found
    now = utcnow()
    if row.expires_at <= now or row.created_at + max_age <= now:
        session.delete(row)
        session.commit()
        return None
    if touch and now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        row.expires_at = min(now + idle, row.created_at + max_age)
        session.commit()
    return row, counsellor


def delete_session(session: Session, *, token_hash: str) -> None:
    session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == token_hash))
    session.commit()


def delete_sessions_of(session: Session, *, counsellor_id: int) -> int:
    """Every session of an account (after a password change or a lockout)."""
    count = session.execute(
        delete(ConsoleSession).where(ConsoleSession.counsellor_id == counsellor_id)
    ).rowcount
    session.commit()
    return count


def purge_expired(session: Session) -> int:
    count = session.execute(
        delete(ConsoleSession).where(ConsoleSession.expires_at <= utcnow())
    ).rowcount
    session.commit()
    return count
