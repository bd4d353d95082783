"""Crisis: the emergency numbers first, then a person (an urgent handoff)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import common_values, content, intro_if_first, resolve_language, send
from actions.handoff import escalate
from bot.store.models import Priority

ACTION_CRISIS = "action_crisis"


class ActionCrisis(Action):
    def name(self) -> str:
        return ACTION_CRISIS

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        lang, events = resolve_language(tracker)
        # Numbers before anything else, whatever else is going on.
        send(dispatcher, content().text("crisis", lang, **common_values(lang)), lang)
        events += escalate(dispatcher, tracker, lang, reason="crisis", priority=Priority.URGENT)
        return intro_if_first(dispatcher, tracker, lang) + events
