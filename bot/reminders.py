"""Deadline reminders: when, the table, and their life inside the Rasa server.

actions/reminders.py returns Rasa's ``ReminderScheduled`` (intent ``EXTERNAL_deadline_reminder``)
and writes a row into ``reminders`` (bot/store/models.py). Rasa keeps scheduled reminders in
memory only, in its APScheduler (rasa/core/jobs.py), with the reminder's name as the job id.
Inside the Rasa process (bot/rasa_server.py calls ``install``):

- at start, every pending row is scheduled again into that scheduler, under the same job id,
  with the output channel of the conversation's input channel (telegram / socketio), as
  rasa/server.py ``_get_output_channel`` finds it; a reminder whose time passed while the
  server was down is sent at once, if its deadline has not passed;
- a due reminder is sent only by the server that claims its row (``UPDATE ... WHERE
  delivered_at IS NULL``): once, also with two Rasa servers; a cancelled or deleted reminder has
  no row and is not sent. Rasa's own check (the ``ReminderScheduled`` event must be in the
  current session) is not used for these reminders: a day of silence starts a new session
  (domain.yml), and a reminder comes days later;
- times follow bot/clock.py: the scheduler runs on the real clock, so a job runs at
  ``trigger - offset``; when the offset file changes, the jobs are re-timed (tests).

Nothing about a person is logged: no conversation id, no date.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot import clock
from bot.store.models import Reminder

logger = logging.getLogger(__name__)

INTENT = "EXTERNAL_deadline_reminder"
# Where a message can arrive later, without the person asking: not REST (request/response).
CHANNELS = ("telegram", "socketio")
KINDS = ("appeal", "departure")
DAYS_BEFORE = 3
HOUR = 10  # a daytime hour, Swedish time
WATCH_SECONDS = 1.0  # how often the Rasa process looks at the clock offset


# -- when ---------------------------------------------------------------------------------------
def reminder_name(conversation_id: str) -> str:
    """The reminder's name (Rasa's job id): one per conversation, not the id itself."""
    return "deadline_" + hashlib.sha256(conversation_id.encode("utf-8")).hexdigest()[:32]


def remind_time(deadline: date, now: datetime | None = None) -> datetime | None:
    """When to remind: ``DAYS_BEFORE`` days before the deadline at ``HOUR`` Swedish time, or
    the next day at that hour when that is already past; ``None`` when no such moment is left
    before the deadline day (the answer already says to act now)."""
    now = now or clock.now()
    at = datetime.combine(deadline - timedelta(days=DAYS_BEFORE), time(HOUR), clock.STOCKHOLM)
    if at <= now:
        at = datetime.combine(
            now.astimezone(clock.STOCKHOLM).date() + timedelta(days=1), time(HOUR), clock.STOCKHOLM
        )
    return at if at.date() < deadline else None


def days_left(deadline: date, today: date | None = None) -> int:
    return (deadline - (today or clock.today())).days


def entities(kind: str, deadline: date) -> list[dict[str, str]]:
    """What the reminder carries to action_deliver_reminder (the slots may have changed)."""
    return [{"entity": "deadline_kind", "value": kind},
            {"entity": "deadline_date", "value": deadline.isoformat()}]  # fmt: skip


def to_utc_naive(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def from_utc_naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc).astimezone(clock.STOCKHOLM)


# -- the table ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pending:
    name: str
    conversation_id: str
    channel: str
    language: str
    kind: str
    deadline: date
    remind_at: datetime  # aware, Stockholm


def save(
    db: Session, *, conversation_id: str, channel: str, language: str, kind: str,
    deadline: date, remind_at: datetime,
) -> str:  # fmt: skip
    """Store the conversation's reminder, replacing an earlier one (as Rasa replaces the job
    with the same name). Its name."""
    name = reminder_name(conversation_id)
    db.execute(delete(Reminder).where(Reminder.name == name))
    db.add(Reminder(name=name, conversation_id=conversation_id, channel=channel,
                    language=language, kind=kind, deadline=deadline,
                    remind_at=to_utc_naive(remind_at)))  # fmt: skip
    db.commit()
    return name


def cancel(db: Session, conversation_id: str) -> int:
    """Remove the conversation's pending reminders; how many there were."""
    count = db.execute(
        delete(Reminder).where(
            Reminder.conversation_id == conversation_id, Reminder.delivered_at.is_(None)
        )
    ).rowcount
    db.commit()
    return count


def pending(db: Session) -> list[Pending]:
    rows = db.execute(select(Reminder).where(Reminder.delivered_at.is_(None))).scalars()
    return [
        Pending(r.name, r.conversation_id, r.channel, r.language, r.kind, r.deadline,
                from_utc_naive(r.remind_at))  # fmt: skip
        for r in rows
    ]


def claim(db: Session, name: str, conversation_id: str) -> Pending | None:
    """Mark the reminder delivered, atomically: only one caller gets it (``None`` for the
    others, and when it was cancelled or deleted)."""
    row = db.execute(
        select(Reminder).where(Reminder.name == name, Reminder.conversation_id == conversation_id)
    ).scalar_one_or_none()
    if row is None:
        return None
    claimed = db.execute(
        update(Reminder)
        .where(Reminder.id == row.id, Reminder.delivered_at.is_(None))
        .values(delivered_at=to_utc_naive(clock.now()))
        .execution_options(synchronize_session=False)
    ).rowcount
    db.commit()
    if claimed != 1:
        return None
    return Pending(row.name, row.conversation_id, row.channel, row.language, row.kind,
                   row.deadline, from_utc_naive(row.remind_at))  # fmt: skip


# -- inside the Rasa server ---------------------------------------------------------------------
def _database_url() -> str:
    from bot.settings import get_settings

    return get_settings().database_url


def _db() -> Session:
    from bot.store.db import session

    return session(_database_url())


def _run_at(trigger: datetime) -> datetime:
    """The real time to give the scheduler for ``trigger`` on the assistant's clock; never in
    the past (APScheduler skips a job more than a second late)."""
    real = clock.to_real(trigger)
    soon = datetime.now(timezone.utc) + timedelta(seconds=0.5)
    return max(real, soon)


def output_channel_for(app: Any, channel: str) -> Any:
    """The output channel of the registered input channel ``channel``, as rasa/server.py
    ``_get_output_channel`` finds it; None when that channel is not running."""
    for candidate in getattr(app.ctx, "input_channels", None) or []:
        if candidate.name() == channel:
            return candidate.get_output_channel()
    return None


def _event(p: Pending) -> Any:
    from rasa.shared.core.events import ReminderScheduled

    return ReminderScheduled(INTENT, p.remind_at, name=p.name, kill_on_user_message=False,
                             entities=entities(p.kind, p.deadline))  # fmt: skip


async def _schedule(processor: Any, event: Any, sender_id: str, output: Any) -> None:
    from rasa.core import jobs

    (await jobs.scheduler()).add_job(
        processor.handle_reminder, "date", run_date=_run_at(event.trigger_date_time),
        args=[event, sender_id, output], id=event.name, replace_existing=True,
        name=event.scheduled_job_name(sender_id), misfire_grace_time=None,
    )  # fmt: skip


async def restore(app: Any) -> int:
    """Schedule every pending reminder of the table; how many were scheduled."""
    agent = getattr(app.ctx, "agent", None)
    processor = getattr(agent, "processor", None)
    if processor is None:
        logger.warning("No model loaded: deadline reminders not restored")
        return 0

    def read() -> list[Pending]:
        from bot.store.db import init_db

        init_db(_database_url())  # the action server may not have made the table yet
        with _db() as db:
            return pending(db)

    rows = await asyncio.to_thread(read)
    today = clock.today()
    scheduled = expired = 0
    for p in rows:
        output = output_channel_for(app, p.channel)
        if output is None or p.deadline < today:
            expired += 1  # left in the table: delete_data and the retention purge remove it
            continue
        await _schedule(processor, _event(p), p.conversation_id, output)
        scheduled += 1
    logger.info("Deadline reminders restored: %d scheduled, %d not (past or no channel)",
                scheduled, expired)  # fmt: skip
    return scheduled


async def handle_reminder(processor: Any, event: Any, sender_id: str, output: Any) -> None:
    """A due reminder of ours: claimed, then sent as Rasa sends any reminder."""
    if clock.to_real(event.trigger_date_time) > datetime.now(timezone.utc) + timedelta(seconds=1):
        # the clock was moved back since it was scheduled: not yet
        await _schedule(processor, event, sender_id, output)
        return

    def take() -> Pending | None:
        with _db() as db:
            return claim(db, event.name, sender_id)

    claimed = await asyncio.to_thread(take)
    if claimed is None:
        return  # cancelled, deleted, or sent by another server
    if claimed.deadline < clock.today():
        logger.info("A deadline reminder was not sent: its deadline has passed")
        return
    async with processor.lock_store.lock(sender_id):
        tracker = await processor.fetch_tracker_and_update_session(sender_id, output)
        await processor.trigger_external_user_uttered(
            event.intent, event.entities or [], tracker, output
        )


def retime_jobs(scheduler: Any) -> int:
    """Move our jobs to the real time their trigger now corresponds to (the offset changed)."""
    moved = 0
    for job in scheduler.get_jobs():
        event = job.args[0] if job.args else None
        if getattr(event, "intent", None) != INTENT:
            continue
        job.modify(next_run_time=_run_at(event.trigger_date_time))
        moved += 1
    return moved


async def watch_clock() -> None:
    """Re-time the jobs whenever bot/clock.py's offset changes (tests move the clock)."""
    from rasa.core import jobs

    seen = clock.offset()
    while True:
        await asyncio.sleep(WATCH_SECONDS)
        current = clock.offset()
        if current != seen:
            seen = current
            retime_jobs(await jobs.scheduler())


def install() -> None:
    """Patch Rasa (once): our reminders go through ``handle_reminder`` above, are timed on the
    assistant's clock, and are restored after the server started."""
    from rasa.core.processor import MessageProcessor

    from bot.rasa_hooks import on_server_start

    if getattr(MessageProcessor.handle_reminder, "_deadline_reminders", False):
        return
    original_handle = MessageProcessor.handle_reminder
    original_schedule = MessageProcessor._schedule_reminders

    async def patched_handle(self: Any, reminder_event: Any, sender_id: str, output: Any) -> None:
        if getattr(reminder_event, "intent", None) == INTENT:
            await handle_reminder(self, reminder_event, sender_id, output)
        else:
            await original_handle(self, reminder_event, sender_id, output)

    async def patched_schedule(self: Any, events: list, tracker: Any, output: Any) -> None:
        from rasa.shared.core.events import ReminderScheduled

        ours = [e for e in events if isinstance(e, ReminderScheduled) and e.intent == INTENT]
        others = [e for e in events if all(e is not o for o in ours)]
        await original_schedule(self, others, tracker, output)
        for event in ours:
            await _schedule(self, event, tracker.sender_id, output)

    async def restore_after_start(running: Any) -> None:
        try:
            await restore(running)
        except Exception as exc:  # noqa: BLE001 - the server must run without reminders
            logger.error("Deadline reminders not restored (%s)", type(exc).__name__)

    on_server_start(ready=restore_after_start, background=watch_clock)

    patched_handle._deadline_reminders = True  # type: ignore[attr-defined]
    MessageProcessor.handle_reminder = patched_handle  # type: ignore[method-assign]
    MessageProcessor._schedule_reminders = patched_schedule  # type: ignore[method-assign]
