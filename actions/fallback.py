"""Two-stage fallback: rephrase with the closest topics as buttons, then a person."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    PENDING_HUMAN,
    SLOT_FALLBACKS,
    SLOT_PENDING,
    button,
    content,
    intro_if_first,
    resolve_language,
    send,
)
from actions.safety import ask_if_unsure

ACTION_FALLBACK = "action_fallback"
TOPIC_BUTTONS = 3
# Offered when the model has no idea at all (e.g. a message of symbols): the commonest needs.
DEFAULT_TOPICS = ("appeal_how", "appeal_deadline", "voluntary_return", "housing_allowance")


def closest_topics(tracker: Tracker, limit: int = TOPIC_BUTTONS) -> list[str]:
    """The domain intents the model found most likely, best first."""
    c = content()
    ranking = (tracker.latest_message or {}).get("intent_ranking") or []
    topics: list[str] = []
    for item in ranking:
        name = item.get("name")
        if name and c.has_answer(name) and name not in topics and name != "crisis":
            topics.append(name)
        if len(topics) == limit:
            break
    for name in DEFAULT_TOPICS:
        if len(topics) == limit:
            break
        if name not in topics:
            topics.append(name)
    return topics


class ActionFallback(Action):
    def name(self) -> str:
        return ACTION_FALLBACK

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        lang, events = resolve_language(tracker)
        asked = ask_if_unsure(dispatcher, tracker, lang, "nlu_fallback")
        if asked is not None:  # signs of danger in a message not understood: ask first
            return events + asked + intro_if_first(dispatcher, tracker, lang)
        c = content()
        count = int(tracker.get_slot(SLOT_FALLBACKS) or 0) + 1
        events.append(SlotSet(SLOT_FALLBACKS, float(count)))
        if count == 1:
            buttons = [button(c.title(t, lang), f"/{t}", lang) for t in closest_topics(tracker)]
            buttons.append(button(c.text("button_talk_to_person", lang), "/request_human", lang))
            send(dispatcher, c.text("fallback_rephrase", lang), lang, buttons)
        else:
            buttons = [
                button(c.text("button_talk_to_person", lang), "/request_human", lang),
                button(c.text("button_no_thanks", lang), "/deny", lang),
            ]
            send(dispatcher, c.text("fallback_offer_human", lang), lang, buttons)
            events.append(SlotSet(SLOT_PENDING, PENDING_HUMAN))
        return events + intro_if_first(dispatcher, tracker, lang)
