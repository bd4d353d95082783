"""Deleting the user's conversation, after they confirmed it."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, ReminderCancelled
from rasa_sdk.executor import CollectingDispatcher

from actions.common import content, resolve_language, send
from actions.handoff import store_url
from bot.rasa_api import RasaAPI, RasaAPIError
from bot.reminders import reminder_name
from bot.store.db import session
from bot.store.retention import delete_conversation

logger = logging.getLogger(__name__)

ACTION_DELETE_DATA = "action_delete_data"
_background: set[asyncio.Task] = set()


async def delete_after_turn(conversation_id: str) -> None:
    """Delete once Rasa has saved this turn.

    Rasa saves the tracker after the action returns, and its SQL store re-saves events it
    does not find in the table: deleting during the turn would be undone. An empty append
    through the HTTP API waits for the conversation's lock, i.e. for this turn to be saved.
    """
    url, secret = os.environ.get("RASA_URL"), os.environ.get("RASA_JWT_SECRET")
    if url and secret:
        try:
            await RasaAPI(url, secret, timeout=90).append_events(conversation_id, [],
                                                                  deliver=False)
        except RasaAPIError:
            logger.warning("Could not wait for the turn to end; deleting anyway")
    with session(store_url()) as db:
        delete_conversation(db, conversation_id=conversation_id)


class ActionDeleteData(Action):
    def name(self) -> str:
        return ACTION_DELETE_DATA

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        lang, _ = resolve_language(tracker)
        send(dispatcher, content().text("delete_done", lang), lang)
        task = asyncio.get_running_loop().create_task(delete_after_turn(tracker.sender_id))
        _background.add(task)
        task.add_done_callback(_background.discard)
        # the scheduled deadline reminder goes too (its row goes with the conversation)
        return [ReminderCancelled(name=reminder_name(tracker.sender_id))]
