"""Deleting the user's conversation, after they confirmed it.

The action only asks for the deletion: the Rasa server deletes at the end of this turn, once
the turn is saved, and only then tells the person "deleted" (or, if it failed, that it did not
work and to try again): bot/deletion.py says why it cannot happen here. The same request is
made by the guard (actions/guard.py) while a counsellor's handoff is open.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, ReminderCancelled, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import SLOT_PENDING
from bot.deletion import DELETE_NOW
from bot.reminders import reminder_name

ACTION_DELETE_DATA = "action_delete_data"


def deletion_requested(conversation_id: str) -> list[EventType]:
    """The events that ask the Rasa server to delete the conversation after this turn; the
    scheduled deadline reminder is cancelled too (its row goes with the conversation)."""
    return [SlotSet(SLOT_PENDING, DELETE_NOW), ReminderCancelled(name=reminder_name(conversation_id))]


class ActionDeleteData(Action):
    def name(self) -> str:
        return ACTION_DELETE_DATA

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return deletion_requested(tracker.sender_id)
