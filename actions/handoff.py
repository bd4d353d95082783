"""Escalation to a human counsellor: record a handoff, tell the user, pause the bot."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from actions.common import (
    SLOT_HANDOFF,
    SLOT_PENDING,
    common_values,
    content,
    intro_if_first,
    office_hours,
    resolve_language,
    send,
    settings,
)
from bot import abuse
from bot.office_hours import describe_moment
from bot.store import handoffs
from bot.store.db import init_db, session
from bot.store.models import Priority

logger = logging.getLogger(__name__)

ACTION_ESCALATE = "action_escalate_to_counsellor"


@lru_cache(maxsize=1)
def store_url() -> str:
    """The database URL, with the tables created once per process (dev profile)."""
    url = settings().database_url
    if settings().profile == "dev":
        init_db(url)
    return url


def escalate(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    lang: str,
    *,
    reason: str,
    priority: str = Priority.NORMAL,
) -> list[EventType]:
    """Record (or reuse) the conversation's handoff, tell the user what happens, pause.

    If the database cannot be reached the user is told to call, and the bot is not paused:
    nobody would see the conversation.
    """
    c = content()
    values = common_values(lang)
    if abuse.refused_in(tracker.latest_message):  # too many handoffs from one address:
        send(dispatcher, abuse.limited_answer(lang), lang)  # wait, and the numbers to call
        return []
    try:
        with session(store_url()) as db:
            handoff, created = handoffs.request_handoff(
                db,
                conversation_id=tracker.sender_id,
                channel=tracker.get_latest_input_channel() or "rest",
                language=lang,
                reason=reason,
                priority=priority,
            )
            handoff_id = handoff.id
    except SQLAlchemyError as error:  # the type only: no conversation id or values in the log
        logger.error("Could not record a handoff (%s)", type(error).__name__)
        send(dispatcher, c.text("handoff_unavailable", lang, **values), lang)
        return []
    if not created:
        send(dispatcher, c.text("handoff_already", lang, **values), lang)
    elif office_hours().is_open():
        send(dispatcher, c.text("handoff_open", lang, **values), lang)
    else:
        moment = office_hours().next_open()
        next_open = describe_moment(moment, lang) if moment else values["office_hours"]
        send(dispatcher, c.text("handoff_closed", lang, next_open=next_open, **values), lang)
    logger.info("Handoff %s (%s, %s, created=%s)", handoff_id, reason, priority, created)
    return [SlotSet(SLOT_HANDOFF, handoff_id), SlotSet(SLOT_PENDING, None), ConversationPaused()]


class ActionEscalateToCounsellor(Action):
    """On request_human (and "yes" to an offer of a person)."""

    def name(self) -> str:
        return ACTION_ESCALATE

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        lang, events = resolve_language(tracker)
        reason = "not_understood" if (tracker.get_slot("fallback_count") or 0) >= 2 else "request"
        events += escalate(dispatcher, tracker, lang, reason=reason)
        return intro_if_first(dispatcher, tracker, lang) + events
