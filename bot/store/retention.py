"""Deleting conversations: on the user's request, and after the retention period.

Rasa's SQL tracker store keeps events in its table ``events`` (sender_id, timestamp, ...);
the project's own tables hold handoffs, reminders and widget sessions. Deleting a conversation
removes all of them, in one transaction. The audit log stays: its rows name the conversation only
by a keyed pseudonym and hold no text (bot/store/audit.py), so they say who read or did what
without keeping the person's data; they have their own retention (AUDIT_RETENTION_DAYS, default
365), pruned here from the oldest end behind a checkpoint row. Only counts are logged, never an
id or a text.

When the person deletes their data while a handoff is open (waiting, or claimed by a
counsellor), that handoff is not simply gone from the console: it is closed with the outcome
``deleted_by_person`` and keeps no link to the person (its conversation id is replaced by
``deleted:<handoff id>``; its language, reason and times stay), so the counsellor sees why the
conversation ended. The retention purge removes it like any handoff without events.

The retention purge runs two ways:

- as a command: ``python -m bot.store.retention purge`` (``make purge``), settings from the
  environment (DATABASE_URL, RETENTION_DAYS); it prints the counts and exits 0, or 2 when the
  settings are unusable;
- as a periodic job inside the console process (``retention_job``), every
  RETENTION_INTERVAL_MINUTES (default 60), the first run right at start.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import column, delete, func, inspect, select, table
from sqlalchemy.orm import Session

from bot import pseudonyms
from bot.store import audit as audit_log
from bot.store.models import Handoff, HandoffStatus, Reminder, utcnow
from bot.store.widget_sessions import delete_for_conversation as delete_widget_sessions
from bot.store.widget_sessions import purge as purge_widget_sessions

logger = logging.getLogger(__name__)

RASA_EVENTS = table("events", column("sender_id"), column("timestamp"))


DEFAULT_INTERVAL_MINUTES = 60
# A handoff that was open when the person deleted their data (the console shows it)
DELETED_BY_PERSON = "deleted_by_person"
DELETED_PREFIX = "deleted:"


@dataclass
class Deleted:
    events: int = 0
    handoffs: int = 0
    conversations: int = 0
    sessions: int = 0


def _has_rasa_events(session: Session) -> bool:
    return inspect(session.get_bind()).has_table("events")


def delete_conversation(
    session: Session, *, conversation_id: str, log: bool = True, by_person: bool = False
) -> Deleted:
    """Every trace of one conversation: tracker events, handoffs, reminders, widget sessions,
    the Telegram chat id; committed together or not at all (its audit rows stay, pseudonymous and
    without text). ``by_person``: the person asked, and an open handoff is closed as
    ``deleted_by_person`` (unlinked) instead of vanishing."""
    deleted = Deleted(conversations=1)
    if by_person:
        deleted.handoffs += close_open_handoffs(session, conversation_id=conversation_id)
    if _has_rasa_events(session):
        deleted.events = session.execute(
            delete(RASA_EVENTS).where(RASA_EVENTS.c.sender_id == conversation_id)
        ).rowcount
    deleted.handoffs = session.execute(
        delete(Handoff).where(Handoff.conversation_id == conversation_id)
    ).rowcount
    session.execute(delete(Reminder).where(Reminder.conversation_id == conversation_id))
    pseudonyms.forget(conversation_id, db=session)  # a Telegram chat id, needed only to send
    deleted.sessions = delete_widget_sessions(session, conversation_id=conversation_id)
    session.commit()
    if log:
        logger.info(
            "Deleted a conversation: %d events, %d handoffs", deleted.events, deleted.handoffs
        )
    return deleted


def close_open_handoffs(session: Session, *, conversation_id: str) -> int:
    """The conversation's open handoffs, closed as deleted by the person and unlinked from it
    (no commit): the console shows the outcome, and nothing leads back to the person."""
    now = utcnow()
    closed = 0
    for handoff in session.execute(
        select(Handoff).where(Handoff.conversation_id == conversation_id,
                              Handoff.status.in_(HandoffStatus.OPEN))  # fmt: skip
    ).scalars():
        handoff.status = HandoffStatus.CLOSED
        handoff.outcome = DELETED_BY_PERSON
        handoff.closed_at = now
        handoff.conversation_id = DELETED_PREFIX + handoff.id
        closed += 1
    session.flush()
    return closed


def purge(session: Session, *, older_than_days: int, now: float | None = None) -> Deleted:
    """Conversations whose last message is older than the retention period.

    A conversation with an open (waiting or claimed) handoff is kept until the handoff is
    closed. A conversation that has handoffs but no tracker events left counts from the last
    change of its handoffs.
    """
    now = now if now is not None else time.time()
    cutoff = now - older_than_days * 86400
    total = Deleted()
    stale: set[str] = set()
    has_events = _has_rasa_events(session)
    if has_events:
        last_seen = (
            select(RASA_EVENTS.c.sender_id, func.max(RASA_EVENTS.c.timestamp).label("last"))
            .group_by(RASA_EVENTS.c.sender_id)
            .subquery()
        )
        stale.update(
            session.execute(
                select(last_seen.c.sender_id).where(last_seen.c.last < cutoff)
            ).scalars()
        )
    # handoffs whose conversation has no events (any more): their own last change counts
    cutoff_dt = datetime.fromtimestamp(cutoff, timezone.utc).replace(tzinfo=None)
    orphans = select(Handoff.conversation_id).where(Handoff.updated_at < cutoff_dt)
    if has_events:
        orphans = orphans.where(
            ~select(RASA_EVENTS.c.sender_id)
            .where(RASA_EVENTS.c.sender_id == Handoff.conversation_id)
            .exists()
        )
    stale.update(session.execute(orphans).scalars())
    open_ids = set(
        session.execute(
            select(Handoff.conversation_id).where(Handoff.status.in_(HandoffStatus.OPEN))
        ).scalars()
    )
    kept = 0
    for conversation_id in sorted(stale):
        if conversation_id in open_ids:
            kept += 1
            continue
        one = delete_conversation(session, conversation_id=conversation_id, log=False)
        total.conversations += 1
        total.events += one.events
        total.handoffs += one.handoffs
        total.sessions += one.sessions
    # widget sessions that expired or ended and whose conversation has no events left (one
    # opened and never written to, say)
    total.sessions += purge_widget_sessions(
        session, now=datetime.fromtimestamp(now, timezone.utc).replace(tzinfo=None)
    )
    pseudonyms.forget_unused(session, before=cutoff_dt)
    session.commit()
    logger.info(
        "Retention purge (%d days): %d conversations, %d events, %d handoffs deleted; %d kept "
        "for an open handoff",
        older_than_days, total.conversations, total.events, total.handoffs, kept,
    )  # fmt: skip
    return total


def prune_audit(session: Session, *, older_than_days: int) -> int:
    """The audit log's own retention: rows older than ``older_than_days`` go, from the oldest
    end, behind a checkpoint row (bot/store/audit.py). The number removed."""
    removed = audit_log.prune(session, older_than_days=older_than_days)
    if removed:
        logger.info("Audit log (%d days): %d oldest rows pruned behind a checkpoint",
                    older_than_days, removed)  # fmt: skip
    return removed


def interval_minutes() -> float:
    """RETENTION_INTERVAL_MINUTES from the environment (default 60; must be > 0)."""
    raw = os.environ.get("RETENTION_INTERVAL_MINUTES", "")
    if not raw.strip():
        return DEFAULT_INTERVAL_MINUTES
    try:
        value = float(raw)
    except ValueError:
        value = 0
    if value <= 0:
        from bot.settings import SettingsError

        raise SettingsError("RETENTION_INTERVAL_MINUTES must be a positive number")
    return value


def purge_database(
    database_url: str, older_than_days: int, audit_days: int | None = None
) -> Deleted:
    """One purge on the database at ``database_url`` (its own session); with ``audit_days``,
    the audit log's pruning too."""
    from bot.store.db import session as open_session

    with open_session(database_url) as db:
        deleted = purge(db, older_than_days=older_than_days)
        if audit_days is not None:
            prune_audit(db, older_than_days=audit_days)
        return deleted


async def retention_job(
    database_url: str, older_than_days: int, interval_seconds: float,
    stop: asyncio.Event | None = None, audit_days: int | None = None,
) -> None:
    """Purge now and then every ``interval_seconds`` until cancelled (or ``stop`` is set).

    The purge runs in a worker thread: the console's event loop keeps serving meanwhile. A
    failed run is logged (its kind only) and the job goes on.
    """
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            await asyncio.to_thread(purge_database, database_url, older_than_days, audit_days)
        except Exception as exc:  # a locked or unreachable database: next time
            logger.warning("Retention purge failed (%s); trying again later", type(exc).__name__)
        try:
            await asyncio.wait_for(stop.wait(), interval_seconds)
        except asyncio.TimeoutError:
            pass


def main(argv: list[str] | None = None) -> int:
    from bot.settings import SettingsError, get_settings

    parser = argparse.ArgumentParser(
        prog="python -m bot.store.retention",
        description="Delete conversations older than the retention period (RETENTION_DAYS).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("purge", help="delete what is past the retention period, now")
    run.add_argument("--days", type=int, default=None,
                     help="override RETENTION_DAYS (whole days, at least 1)")  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"Not purged: {exc}", file=sys.stderr)
        return 2
    days = settings.retention_days if args.days is None else args.days
    if days < 1:
        print("Not purged: the retention period must be at least 1 day", file=sys.stderr)
        return 2
    from bot.store.db import init_db

    init_db(settings.database_url)
    deleted = purge_database(settings.database_url, days)
    from bot.store.db import session as open_session

    with open_session(settings.database_url) as db:
        pruned = prune_audit(db, older_than_days=settings.audit_retention_days)
    print(
        f"Retention purge ({days} days): {deleted.conversations} conversations, "
        f"{deleted.events} events, {deleted.handoffs} handoffs deleted; audit log "
        f"({settings.audit_retention_days} days): {pruned} oldest rows pruned"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
