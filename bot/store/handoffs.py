"""Handoff queries. Keyword-only functions taking a Session; no Rasa, no web framework."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from bot.store import audit as audit_log
from bot.store.models import AuditEntry, Handoff, HandoffStatus, Priority, utcnow


def audit(
    session: Session,
    *,
    actor: str,
    action: str,
    handoff_id: str | None = None,
    conversation_id: str | None = None,
    detail: str | None = None,
) -> None:
    """An audit row in the caller's transaction (bot/store/audit.py: chained, and the
    conversation only as a keyed pseudonym). Never message text in ``detail``."""
    audit_log.append(
        session, actor=actor, action=action, handoff_id=handoff_id,
        conversation_id=conversation_id, detail=detail,
    )  # fmt: skip


def open_handoff_for(session: Session, *, conversation_id: str) -> Handoff | None:
    return session.execute(
        select(Handoff)
        .where(Handoff.conversation_id == conversation_id)
        .where(Handoff.status.in_(HandoffStatus.OPEN))
        .order_by(Handoff.created_at.desc())
    ).scalars().first()


def request_handoff(
    session: Session,
    *,
    conversation_id: str,
    channel: str,
    language: str,
    reason: str,
    priority: str = Priority.NORMAL,
) -> tuple[Handoff, bool]:
    """The conversation's open handoff, or a new one. ``(handoff, created)``.

    Escalating twice never makes two handoffs; a later crisis raises the priority.
    """
    existing = open_handoff_for(session, conversation_id=conversation_id)
    if existing is not None:
        if priority == Priority.URGENT and existing.priority != Priority.URGENT:
            existing.priority = Priority.URGENT
            existing.reason = reason
            audit(session, actor="user", action="escalate_urgent", handoff_id=existing.id,
                  conversation_id=conversation_id)
        existing.language = language or existing.language
        session.commit()
        return existing, False
    handoff = Handoff(
        conversation_id=conversation_id,
        channel=channel,
        language=language,
        reason=reason,
        priority=priority,
        status=HandoffStatus.WAITING,
    )
    session.add(handoff)
    session.flush()
    audit(session, actor="user", action="escalate", handoff_id=handoff.id,
          conversation_id=conversation_id, detail=reason)
    session.commit()
    return handoff, True


def cancel_handoff(session: Session, *, conversation_id: str) -> Handoff | None:
    """The user's "never mind": cancels a handoff nobody has claimed yet."""
    handoff = open_handoff_for(session, conversation_id=conversation_id)
    if handoff is None or handoff.status != HandoffStatus.WAITING:
        return None
    handoff.status = HandoffStatus.CANCELLED
    handoff.closed_at = utcnow()
    handoff.closed_by = "user"
    audit(session, actor="user", action="cancel", handoff_id=handoff.id,
          conversation_id=conversation_id)
    session.commit()
    return handoff


def queue(session: Session) -> list[Handoff]:
    """Open handoffs: urgent first, then longest waiting."""
    urgent_first = case((Handoff.priority == Priority.URGENT, 0), else_=1)
    return list(
        session.execute(
            select(Handoff)
            .where(Handoff.status.in_(HandoffStatus.OPEN))
            .order_by(urgent_first, Handoff.created_at.asc())
        ).scalars()
    )


def claim(session: Session, *, handoff_id: str, counsellor: str) -> bool:
    """Atomically claim a waiting handoff. Of two counsellors at once, exactly one wins."""
    result = session.execute(
        update(Handoff)
        .where(Handoff.id == handoff_id, Handoff.status == HandoffStatus.WAITING)
        .values(status=HandoffStatus.CLAIMED, claimed_by=counsellor, claimed_at=utcnow(),
                updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    won = result.rowcount == 1
    if won:
        audit(session, actor=counsellor, action="claim", handoff_id=handoff_id)
    session.commit()
    return won


# -- the counsellor console --------------------------------------------------------------------

OUTCOMES = ("answered", "referred", "no_response", "other")


def get_handoff(session: Session, *, handoff_id: str) -> Handoff | None:
    return session.get(Handoff, handoff_id)


def hand_back(session: Session, *, handoff_id: str, actor: str, any_claimer: bool = False) -> bool:
    """Claimed -> returned, by the counsellor who claimed it (``any_claimer``: an admin).

    One conditional UPDATE, so a hand-back racing a close or another hand-back happens once.
    """
    now = utcnow()
    statement = update(Handoff).where(
        Handoff.id == handoff_id, Handoff.status == HandoffStatus.CLAIMED
    )
    if not any_claimer:
        statement = statement.where(Handoff.claimed_by == actor)
    result = session.execute(
        statement.values(status=HandoffStatus.RETURNED, closed_by=actor, closed_at=now,
                         updated_at=now)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    done = result.rowcount == 1
    if done:
        audit(session, actor=actor, action="hand_back", handoff_id=handoff_id)
    session.commit()
    return done


def close_handoff(
    session: Session, *, handoff_id: str, actor: str, outcome: str, any_claimer: bool = False
) -> bool:
    """An open handoff -> closed with an outcome.

    Only a claimed one, by the counsellor who claimed it; with ``any_claimer`` (an admin) any
    open one, a waiting one too. (Anyone closing a waiting handoff would take the person out of
    the queue unseen, and used to buy read access to the conversation.)
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
    now = utcnow()
    statement = update(Handoff).where(
        Handoff.id == handoff_id, Handoff.status.in_(HandoffStatus.OPEN)
    )
    if not any_claimer:
        statement = statement.where(
            Handoff.status == HandoffStatus.CLAIMED, Handoff.claimed_by == actor
        )
    result = session.execute(
        statement.values(status=HandoffStatus.CLOSED, closed_by=actor, closed_at=now,
                         outcome=outcome, updated_at=now)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    done = result.rowcount == 1
    if done:
        audit(session, actor=actor, action="close", handoff_id=handoff_id, detail=outcome)
    session.commit()
    return done


def audit_entries(
    session: Session,
    *,
    handoff_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 200,
) -> list[AuditEntry]:
    """The newest audit entries matching the filters (``before_id``: the next page)."""
    statement = select(AuditEntry).order_by(AuditEntry.id.desc())
    if handoff_id is not None:
        statement = statement.where(AuditEntry.handoff_id == handoff_id)
    if actor is not None:
        statement = statement.where(AuditEntry.actor == actor)
    if action is not None:
        statement = statement.where(AuditEntry.action == action)
    if since is not None:
        statement = statement.where(AuditEntry.at >= since)
    if until is not None:
        statement = statement.where(AuditEntry.at < until)
    if before_id is not None:
        statement = statement.where(AuditEntry.id < before_id)
    return list(session.execute(statement.limit(limit)).scalars())


def audit_actors(session: Session) -> list[str]:
    """Everyone who appears in the audit log (the admin screen's filter)."""
    return list(session.execute(select(AuditEntry.actor).distinct().order_by(AuditEntry.actor))
                .scalars())  # fmt: skip
