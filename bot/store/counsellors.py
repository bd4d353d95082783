"""Console accounts. Keyword-only functions taking a Session; passwords arrive already hashed.

No web framework and no Rasa here: the console and its command line both use these.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.store.models import Counsellor, utcnow

ROLES = ("counsellor", "admin")


class CounsellorExists(ValueError):
    """An account with this username exists already."""


def get_by_username(session: Session, *, username: str) -> Counsellor | None:
    return session.execute(
        select(Counsellor).where(Counsellor.username == username)
    ).scalar_one_or_none()


def get_by_id(session: Session, *, counsellor_id: int) -> Counsellor | None:
    return session.get(Counsellor, counsellor_id)


def create_counsellor(
    session: Session, *, username: str, password_hash: str, role: str
) -> Counsellor:
    """A new account; refuses an unknown role or a username that is taken."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if get_by_username(session, username=username) is not None:
        raise CounsellorExists(username)
    counsellor = Counsellor(username=username, password_hash=password_hash, role=role)
    session.add(counsellor)
    session.commit()
    return counsellor


def set_password(session: Session, *, counsellor_id: int, password_hash: str) -> None:
    """A new password also lifts a lockout."""
    session.execute(
        update(Counsellor)
        .where(Counsellor.id == counsellor_id)
        .values(password_hash=password_hash, failed_logins=0, locked_until=None)
    )
    session.commit()


def is_locked(counsellor: Counsellor, *, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return counsellor.locked_until is not None and counsellor.locked_until > now


def record_failed_login(
    session: Session,
    *,
    counsellor_id: int,
    max_failures: int,
    lockout: timedelta,
) -> bool:
    """Count a wrong password; lock the account at ``max_failures``. True if now locked.

    The increment happens in SQL so parallel guesses cannot lose a count.
    """
    session.execute(
        update(Counsellor)
        .where(Counsellor.id == counsellor_id)
        .values(failed_logins=Counsellor.failed_logins + 1)
    )
    failures = session.execute(
        select(Counsellor.failed_logins).where(Counsellor.id == counsellor_id)
    ).scalar_one()
    locked = failures >= max_failures
    if locked:
        session.execute(
            update(Counsellor)
            .where(Counsellor.id == counsellor_id)
            .values(locked_until=utcnow() + lockout, failed_logins=0)
        )
    session.commit()
    return locked


def record_successful_login(session: Session, *, counsellor_id: int) -> None:
    session.execute(
        update(Counsellor)
        .where(Counsellor.id == counsellor_id)
        .values(failed_logins=0, locked_until=None)
    )
    session.commit()
