"""What still happens while a conversation is paused for a counsellor.

While paused, Rasa stores the user's messages but predicts no action. Its slot-mapping
validation action still runs on every user message, though (rasa/core/actions/action.py,
ActionExtractSlots -> action_validate_slot_mappings), and the messages it returns are sent.
This guard uses that hook for the things that must never wait for a person:
- a crisis message gets the emergency numbers at once, and the handoff becomes urgent;
- "delete my data" works at any time, as the privacy notice promises: asked and confirmed as
  outside a pause (the same question and buttons), then deleted by the Rasa server at the end
  of the turn (bot/deletion.py); the open handoff ends, and the counsellor sees that the person
  deleted their data (outcome ``deleted_by_person``);
- "never mind" before a counsellor has taken the conversation cancels the handoff and gives
  the conversation back to the bot (a `resume` appended through Rasa's HTTP API once this
  turn has finished and released the conversation's lock).
Outside a pause it returns at once. Errors are logged by their type only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from actions.common import (
    PENDING_DELETE,
    SLOT_HANDOFF,
    SLOT_PENDING,
    button,
    common_values,
    content,
    intent_of,
    send,
    source_line,
)
from actions.handoff import store_url
from actions.privacy import deletion_requested
from bot.rasa_api import RasaAPI, RasaAPIError
from bot.store import handoffs
from bot.store.db import session
from bot.store.models import Priority

logger = logging.getLogger(__name__)

ACTION_GUARD = "action_validate_slot_mappings"
_background: set[asyncio.Task] = set()

# The phrase the assistant itself tells a waiting user to write to cancel (the quoted words in
# the `handoff_already` text, per language): it must cancel even when the classifier reads it
# as something else ("nej tack, strunta i det" as thanks).
_QUOTED = re.compile(r"[«“”\"]([^«»“”\"]{2,40})[»”\"]")
_NOT_WORD = re.compile(r"[^\w\s]+")


def _plain(text: str) -> str:
    return " ".join(_NOT_WORD.sub(" ", text.casefold()).split())


def is_cancel_phrase(text: str, lang: str) -> bool:
    """True when ``text`` is the cancel phrase the user was told to write, alone or at the
    start or end of a short message ("nej tack, strunta i det"); not when it is inside a
    sentence that says something else ("мне не надо депортацию")."""
    try:
        template = content().text("handoff_already", lang)
    except Exception:  # a missing text must not break the guard
        return False
    said = _plain(text or "")
    for phrase in (_plain(p) for p in _QUOTED.findall(template)):
        if not phrase or not said:
            continue
        extra = len(said.split()) - len(phrase.split())
        if said == phrase or (
            0 < extra <= 3 and (said.startswith(phrase + " ") or said.endswith(" " + phrase))
        ):
            return True
    return False


async def _resume_later(conversation_id: str) -> None:
    url, secret = os.environ.get("RASA_URL"), os.environ.get("RASA_JWT_SECRET")
    if not url or not secret:
        logger.error("Cannot resume a cancelled handoff: RASA_URL/RASA_JWT_SECRET not set")
        return
    try:
        await RasaAPI(url, secret, timeout=90).resume(conversation_id)
    except RasaAPIError as error:
        logger.error("Could not resume a conversation after a cancelled handoff (%s)", error)


class ActionGuardPausedConversation(Action):
    def name(self) -> str:
        return ACTION_GUARD

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if not tracker.is_paused():
            return []
        intent = intent_of(tracker)
        lang = tracker.get_slot("language") or "sv"
        c = content()
        pending = tracker.get_slot(SLOT_PENDING)
        # a question asked here (delete?) is answered by the very next message or not at all:
        # a later "yes" to the counsellor must never delete the conversation
        forget = [SlotSet(SLOT_PENDING, None)] if pending else []
        if intent == "crisis":
            send(dispatcher, c.text("crisis", lang, **common_values(lang)), lang)
            try:
                with session(store_url()) as db:
                    handoffs.request_handoff(
                        db, conversation_id=tracker.sender_id,
                        channel=tracker.get_latest_input_channel() or "rest",
                        language=lang, reason="crisis", priority=Priority.URGENT,
                    )  # fmt: skip
            except SQLAlchemyError as error:
                logger.error("Could not mark a handoff urgent (%s)", type(error).__name__)
            return forget
        if intent == "delete_data":
            # the same question as outside a pause (actions/answers.py), answered here
            if c.has_answer("delete_data"):
                answer = c.answer("delete_data", lang, **common_values(lang))
                send(dispatcher, f"{answer.text}\n\n{source_line(answer, lang)}", lang)
            buttons = [button(c.text("button_yes", lang), "/affirm", lang),
                       button(c.text("button_no", lang), "/deny", lang)]  # fmt: skip
            send(dispatcher, c.text("delete_confirm", lang), lang, buttons)
            return [SlotSet(SLOT_PENDING, PENDING_DELETE)]
        if pending == PENDING_DELETE and intent == "affirm":
            return deletion_requested(tracker.sender_id)
        if pending == PENDING_DELETE and intent == "deny":
            # "no" to deleting, not to the counsellor: the handoff stays
            send(dispatcher, c.text("delete_cancelled", lang, **common_values(lang)), lang)
            return forget
        if intent == "deny" or is_cancel_phrase(tracker.latest_message.get("text") or "", lang):
            try:
                with session(store_url()) as db:
                    cancelled = handoffs.cancel_handoff(db, conversation_id=tracker.sender_id)
            except SQLAlchemyError as error:
                logger.error("Could not cancel a handoff (%s)", type(error).__name__)
                return forget
            if cancelled is None:
                return forget  # a counsellor has it: "no" is an answer to them
            send(dispatcher, c.text("handoff_cancelled", lang, **common_values(lang)), lang)
            task = asyncio.get_running_loop().create_task(_resume_later(tracker.sender_id))
            _background.add(task)
            task.add_done_callback(_background.discard)
            return [*forget, SlotSet(SLOT_HANDOFF, None)]
        return forget
