"""Opt-in deadline reminders (issue 10, part B).

After the deadline answer (actions/deadlines.py fills the slots ``deadline_kind`` and
``deadline_date``), ``action_offer_reminder`` offers a reminder a few days before, on the
channels that can send one later (Telegram, the widget). The button's payload
``/remind_deadline`` runs ``action_remind_deadline``: Rasa's ``ReminderScheduled`` (intent
``EXTERNAL_deadline_reminder``, not cancelled by later messages) and a row in ``reminders``, so
that the Rasa server schedules it again after a restart (bot/reminders.py). ``/cancel_reminder``
cancels it; ``action_deliver_reminder`` is what the person gets on the day: the date, the days
left, "check your decision letter", where to get help, and the source like every answer.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, ReminderCancelled, ReminderScheduled
from rasa_sdk.executor import CollectingDispatcher

from actions.common import button, content, resolve_language, send, source_line
from actions.handoff import store_url
from bot import reminders as r
from bot.store.db import session

logger = logging.getLogger(__name__)

SLOT_KIND = "deadline_kind"
SLOT_DATE = "deadline_date"
ACTION_OFFER = "action_offer_reminder"
ACTION_REMIND = "action_remind_deadline"
ACTION_CANCEL = "action_cancel_reminder"
ACTION_DELIVER = "action_deliver_reminder"
PAYLOAD_REMIND = "/remind_deadline"
PAYLOAD_CANCEL = "/cancel_reminder"
# The answer whose sources the reminder shows.
ANSWER_OF_KIND = {"appeal": "appeal_deadline", "departure": "departure_deadline"}


def _parse_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def deadline_of(tracker: Tracker) -> tuple[str, date] | None:
    """The computed deadline (kind, date) from the slots, if there is a usable one."""
    kind = tracker.get_slot(SLOT_KIND)
    deadline = _parse_date(tracker.get_slot(SLOT_DATE))
    if kind not in r.KINDS or deadline is None:
        return None
    return kind, deadline


def _entity(tracker: Tracker, name: str) -> Any:
    for entity in (tracker.latest_message or {}).get("entities") or []:
        if entity.get("entity") == name:
            return entity.get("value")
    return None


def channel_of(tracker: Tracker) -> str | None:
    return tracker.get_latest_input_channel()


def reminder_text(kind: str, deadline: date, lang: str) -> str:
    """The reminder itself, with the source line of the deadline's answer."""
    c = content()
    left = r.days_left(deadline)
    left_text = (
        c.text("reminder_last_day", lang) if left <= 0
        else c.text("reminder_days_left", lang, days=left)
    )  # fmt: skip
    text = c.text(f"reminder_{kind}", lang, date=deadline.isoformat(), left=left_text)
    answer = c.answer(ANSWER_OF_KIND[kind], lang)
    return f"{text}\n\n{source_line(answer, lang)}"


def offer(dispatcher: CollectingDispatcher, tracker: Tracker, lang: str,
          kind: str | None = None, deadline: date | None = None) -> bool:
    """The offer with its button, when a reminder is possible here; whether it was made.

    ``action_offer_reminder`` runs it on the slots. actions/deadlines.py may call it at the end
    of its answer with the deadline it has just computed (its slot events are not applied yet):
    ``offer(dispatcher, tracker, lang, kind, deadline.date)``."""
    if kind is None or deadline is None:
        found = deadline_of(tracker)
        if found is None:
            return False
        kind, deadline = found
    if kind not in r.KINDS or channel_of(tracker) not in r.CHANNELS:
        return False
    if r.remind_time(deadline) is None:
        return False
    c = content()
    days = r.DAYS_BEFORE
    send(dispatcher, c.text("reminder_offer", lang, days=days, date=deadline.isoformat()), lang,
         [button(c.text("button_remind", lang, days=days), PAYLOAD_REMIND, lang)])  # fmt: skip
    return True


class ActionOfferReminder(Action):
    def name(self) -> str:
        return ACTION_OFFER

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        lang, events = resolve_language(tracker)
        offer(dispatcher, tracker, lang)
        return events


class ActionRemindDeadline(Action):
    def name(self) -> str:
        return ACTION_REMIND

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        lang, events = resolve_language(tracker)
        c = content()
        channel = channel_of(tracker)
        if channel not in r.CHANNELS:
            send(dispatcher, c.text("reminder_wrong_channel", lang), lang)
            return events
        found = deadline_of(tracker)
        if found is None:
            send(dispatcher, c.text("reminder_no_date", lang), lang)
            return events
        kind, deadline = found
        at = r.remind_time(deadline)
        if at is None:
            # Too late for a reminder: what the reminder would say, now.
            text = f"{c.text('reminder_too_close', lang)}\n{reminder_text(kind, deadline, lang)}"
            send(dispatcher, text, lang)
            return events
        with session(store_url()) as db:
            name = r.save(db, conversation_id=tracker.sender_id, channel=channel, language=lang,
                          kind=kind, deadline=deadline, remind_at=at)  # fmt: skip
        logger.info("A deadline reminder was scheduled")
        send(
            dispatcher,
            c.text("reminder_set", lang, remind_date=at.date().isoformat(),
                   date=deadline.isoformat()),
            lang,
            [button(c.text("button_cancel_reminder", lang), PAYLOAD_CANCEL, lang)],
        )  # fmt: skip
        return events + [
            ReminderScheduled(r.INTENT, at, entities=r.entities(kind, deadline), name=name,
                              kill_on_user_message=False)  # fmt: skip
        ]


def cancel_events(conversation_id: str) -> list[EventType]:
    """Rasa's cancellation of the conversation's scheduled reminder job."""
    return [ReminderCancelled(name=r.reminder_name(conversation_id))]


class ActionCancelReminder(Action):
    def name(self) -> str:
        return ACTION_CANCEL

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        lang, events = resolve_language(tracker)
        with session(store_url()) as db:
            removed = r.cancel(db, tracker.sender_id)
        key = "reminder_cancelled" if removed else "reminder_none"
        send(dispatcher, content().text(key, lang), lang)
        return events + cancel_events(tracker.sender_id)


class ActionDeliverReminder(Action):
    """Runs on ``EXTERNAL_deadline_reminder``: the Rasa server has already claimed the row."""

    def name(self) -> str:
        return ACTION_DELIVER

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        lang, events = resolve_language(tracker)
        kind = _entity(tracker, SLOT_KIND) or tracker.get_slot(SLOT_KIND)
        deadline = _parse_date(_entity(tracker, SLOT_DATE) or tracker.get_slot(SLOT_DATE))
        if kind not in r.KINDS or deadline is None or r.days_left(deadline) < 0:
            return events  # nothing true to say; never a reminder about a passed date
        send(dispatcher, reminder_text(kind, deadline, lang), lang)
        return events
