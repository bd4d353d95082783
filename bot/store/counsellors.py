"""Console accounts. Keyword-only functions taking a Session; passwords arrive already hashed.

No web framework and no Rasa here: the console and its command line both use these.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.store.models import Counsellor

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
    """A new hash: a new password, or the same one rehashed at today's cost after a login.
    Sessions are left alone (a rehash must not log the counsellor out)."""
    session.execute(
        update(Counsellor).where(Counsellor.id == counsellor_id).values(password_hash=password_hash)
    )
    session.commit()
