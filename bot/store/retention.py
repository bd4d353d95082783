"""Deleting conversations: on the user's request, and after the retention period.

Rasa's SQL tracker store keeps events in its table ``events`` (sender_id, timestamp, ...);
the project's own tables hold handoffs and audit entries. Deleting a conversation removes all
of them. Only counts are logged, never an id or a text.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import column, delete, func, inspect, select, table
from sqlalchemy.orm import Session

from bot.store.models import AuditEntry, Handoff, HandoffStatus

logger = logging.getLogger(__name__)

RASA_EVENTS = table("events", column("sender_id"), column("timestamp"))


@dataclass
class Deleted:
    events: int = 0
    handoffs: int = 0
    audit: int = 0


def _has_rasa_events(session: Session) -> bool:
    return inspect(session.get_bind()).has_table("events")


def delete_conversation(session: Session, *, conversation_id: str) -> Deleted:
    """Every trace of one conversation: tracker events, handoffs, audit entries."""
    deleted = Deleted()
    if _has_rasa_events(session):
        deleted.events = session.execute(
            delete(RASA_EVENTS).where(RASA_EVENTS.c.sender_id == conversation_id)
        ).rowcount
    handoff_ids = list(
        session.execute(
            select(Handoff.id).where(Handoff.conversation_id == conversation_id)
        ).scalars()
    )
    deleted.audit = session.execute(
        delete(AuditEntry).where(
            (AuditEntry.conversation_id == conversation_id)
            | (AuditEntry.handoff_id.in_(handoff_ids) if handoff_ids else False)
        )
    ).rowcount
    deleted.handoffs = session.execute(
        delete(Handoff).where(Handoff.conversation_id == conversation_id)
    ).rowcount
    session.commit()
    logger.info(
        "Deleted a conversation: %d events, %d handoffs, %d audit entries",
        deleted.events, deleted.handoffs, deleted.audit,
    )  # fmt: skip
    return deleted


def purge(session: Session, *, older_than_days: int, now: float | None = None) -> Deleted:
    """Conversations whose last message is older than the retention period.

    A conversation with an open handoff is kept until the handoff is closed.
    """
    now = now if now is not None else time.time()
    cutoff = now - older_than_days * 86400
    total = Deleted()
    if not _has_rasa_events(session):
        return total
    last_seen = (
        select(RASA_EVENTS.c.sender_id, func.max(RASA_EVENTS.c.timestamp).label("last"))
        .group_by(RASA_EVENTS.c.sender_id)
        .subquery()
    )
    stale = list(
        session.execute(select(last_seen.c.sender_id).where(last_seen.c.last < cutoff)).scalars()
    )
    open_ids = set(
        session.execute(
            select(Handoff.conversation_id).where(Handoff.status.in_(HandoffStatus.OPEN))
        ).scalars()
    )
    for conversation_id in stale:
        if conversation_id in open_ids:
            continue
        one = delete_conversation(session, conversation_id=conversation_id)
        total.events += one.events
        total.handoffs += one.handoffs
        total.audit += one.audit
    logger.info(
        "Retention purge: %d events, %d handoffs, %d audit entries deleted",
        total.events, total.handoffs, total.audit,
    )  # fmt: skip
    return total
