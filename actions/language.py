"""Switching the conversation's language on request."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import SLOT_LANGUAGE, button, content, intro_if_first, resolve_language, send
from bot.settings import LANGUAGES

ACTION_CHOOSE_LANGUAGE = "action_choose_language"
# Each language named in its own script, for the picker.
NATIVE_NAMES = {
    "sv": "Svenska", "en": "English", "ar": "العربية", "fa": "فارسی / دری",
    "so": "Soomaali", "ti": "ትግርኛ", "ru": "Русский",
}  # fmt: skip


class ActionChooseLanguage(Action):
    def name(self) -> str:
        return ACTION_CHOOSE_LANGUAGE

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        lang, events = resolve_language(tracker)
        c = content()
        wanted = None
        for entity in (tracker.latest_message or {}).get("entities") or []:
            if entity.get("entity") == "language" and entity.get("value") in LANGUAGES:
                wanted = entity["value"]
        if wanted is None:
            buttons = [
                button(NATIVE_NAMES[code], f'/choose_language{{"language": "{code}"}}', code)
                for code in LANGUAGES
            ]
            send(dispatcher, c.text("language_list", lang), lang, buttons)
            return events + intro_if_first(dispatcher, tracker, lang)
        send(dispatcher, c.text("language_switched", wanted), wanted)
        return [SlotSet(SLOT_LANGUAGE, wanted)] + intro_if_first(dispatcher, tracker, wanted)
