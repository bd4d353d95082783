""""Delete my data", done in the Rasa server at the end of the turn, and said only when done.

Before (review M6) the action said "deleted" and then started the deletion in the background
of the action server: a failure was silent, and while a handoff was open nothing happened at
all. Deleting inside the action cannot work: Rasa saves the turn's tracker after the action
returned, and its SQL store writes back every event it does not find in the table.

Here the action (actions/privacy.py; the guard, actions/guard.py, while a counsellor's handoff
is open) only asks: it sets the slot ``pending_confirmation`` to ``delete_now``. This module
wraps Rasa's ``MessageProcessor.handle_message``, which runs under the conversation's lock:
after the turn was saved, if the turn asked for the deletion, every trace of the conversation
is deleted in one database transaction (bot/store/retention.py: events, handoffs, reminders,
widget sessions; an open handoff is closed as ``deleted_by_person`` for the counsellor), then
this process's cached copy of the tracker and its scheduled reminder go. Only then is the
person told "deleted", through the channel they wrote on; the widget is also told to wipe what
it kept and starts a new conversation (its old token opens nothing). If the deletion fails it
is tried again (three more times within a few seconds); if it still fails, the person is told
kindly, in their language, that it did not work and to try again, and the log says so with
the error's type only (no id, no text).

Nothing stays in Redis: the conversation's lock keys are deleted when its lock is released,
right after this (Rasa's lock store); python-socketio's Redis channel stores nothing.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
from typing import Any

logger = logging.getLogger(__name__)

SLOT = "pending_confirmation"
DELETE_NOW = "delete_now"
RETRY_SECONDS = (0.5, 1.5, 3.0)

_turn: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "deletion_turn", default=None
)


def requested(events: list[Any]) -> bool:
    """True when this turn (the events after the latest user message) asked for deletion."""
    from rasa.shared.core.events import SlotSet, UserUttered

    for event in reversed(events):
        if isinstance(event, UserUttered):
            return False
        if isinstance(event, SlotSet) and event.key == SLOT and event.value == DELETE_NOW:
            return True
    return False


def _database_url() -> str:
    from bot.settings import get_settings

    return os.environ.get("DATABASE_URL") or get_settings().database_url


def delete_now(database_url: str, conversation_id: str) -> None:
    """Every trace of the conversation, committed (or nothing, on an error)."""
    from bot.store.db import session
    from bot.store.retention import delete_conversation

    with session(database_url) as db:
        try:
            delete_conversation(db, conversation_id=conversation_id, by_person=True)
        except Exception:
            db.rollback()
            raise


async def delete_with_retries(database_url: str, conversation_id: str,
                              pauses: tuple[float, ...] = RETRY_SECONDS) -> bool:  # fmt: skip
    """True once the deletion committed; False after the last try failed."""
    for attempt in range(len(pauses) + 1):
        if attempt:
            await asyncio.sleep(pauses[attempt - 1])
        try:
            await asyncio.to_thread(delete_now, database_url, conversation_id)
            return True
        except Exception as error:  # the type only: its text may quote SQL parameters
            logger.warning("Deleting a conversation failed (%s), try %d of %d",
                           type(error).__name__, attempt + 1, len(pauses) + 1)  # fmt: skip
    logger.error("A person's conversation could not be deleted; they were told to try again")
    return False


def _text(key: str, lang: str) -> str:
    from bot.content import for_display, load_content
    from bot.settings import LANGUAGES, get_settings

    settings = get_settings()
    lang = lang if lang in LANGUAGES else settings.default_language
    text = load_content(settings.content_dir).text(key, lang, retention_days=settings.retention_days)
    return for_display(text, lang)


async def _cancel_reminder(conversation_id: str) -> None:
    from rasa.core import jobs

    from bot.reminders import reminder_name

    try:
        scheduler = await jobs.scheduler()
        job = scheduler.get_job(reminder_name(conversation_id))
        if job is not None:
            job.remove()
    except Exception as error:  # its row is gone: a job left would find nothing to send
        logger.warning("A deleted conversation's reminder job stayed (%s)", type(error).__name__)


async def after_turn(processor: Any, message: Any, tracker: Any) -> None:
    """The deletion the turn asked for, and what the person is told (see the module)."""
    from rasa.shared.core.events import SlotSet

    from bot.store import tracker_cache

    conversation_id = tracker.sender_id
    lang = tracker.get_slot("language") or ""
    output = message.output_channel
    if await delete_with_retries(_database_url(), conversation_id):
        tracker_cache.forget(processor.tracker_store, conversation_id)
        await _cancel_reminder(conversation_id)
        logger.info("A conversation was deleted at the person's request")
        text = _text("delete_done", lang)
        try:
            tell = getattr(output, "conversation_deleted", None)
            if tell is not None:
                await tell(conversation_id, text)
            else:
                await output.send_text_message(conversation_id, text)
        except Exception as error:
            logger.warning("Could not tell the person their data was deleted (%s)",
                           type(error).__name__)  # fmt: skip
        return
    # not deleted: the request is not left standing in the conversation
    tracker.update(SlotSet(SLOT, None))
    try:
        await processor.save_tracker(tracker)
    except Exception as error:
        logger.warning("Could not clear the failed deletion request (%s)", type(error).__name__)
    try:
        await output.send_text_message(conversation_id, _text("delete_failed", lang))
    except Exception as error:
        logger.warning("Could not tell the person the deletion failed (%s)", type(error).__name__)


def install() -> None:
    """Wrap Rasa's processor (once): the turn's tracker is noted, and a deletion it asked for
    runs after the turn was saved, still under the conversation's lock."""
    from rasa.core.processor import MessageProcessor

    if getattr(MessageProcessor.handle_message, "_deletion", False):
        return
    handle_message = MessageProcessor.handle_message
    run_prediction_loop = MessageProcessor._run_prediction_loop

    async def _run_prediction_loop(self: MessageProcessor, output_channel: Any,
                                   tracker: Any) -> None:  # fmt: skip
        turn = _turn.get()
        if turn is not None:
            turn["tracker"] = tracker
        await run_prediction_loop(self, output_channel, tracker)

    async def handle_message_then_delete(self: MessageProcessor, message: Any) -> Any:
        token = _turn.set({})
        try:
            result = await handle_message(self, message)
            tracker = (_turn.get() or {}).get("tracker")
        finally:
            _turn.reset(token)
        if tracker is not None and requested(list(tracker.events)):
            await after_turn(self, message, tracker)
            output = message.output_channel
            messages = getattr(output, "messages", None)
            if isinstance(messages, list):
                return messages  # a collecting channel (REST): the answer includes the outcome
        return result

    handle_message_then_delete._deletion = True  # type: ignore[attr-defined]
    MessageProcessor.handle_message = handle_message_then_delete  # type: ignore[method-assign]
    MessageProcessor._run_prediction_loop = _run_prediction_loop  # type: ignore[method-assign]
