"""What every action needs: the conversation's language, content, sending, the intro line.

For action writers: an action receives the slots, the latest message and the events of the
current turn (from the last user message on, plus 20 before it), not the whole conversation,
and no domain unless its name starts with ``validate_`` (bot/rasa_speed.py, endpoints.yml).
Keep what an action must remember in a slot.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.content import Answer, Content, for_display, load_content
from bot.office_hours import OfficeHours, describe
from bot.settings import LANGUAGES, Settings, get_settings

logger = logging.getLogger(__name__)

SLOT_LANGUAGE = "language"
SLOT_COUNTRY = "country"
SLOT_PENDING = "pending_confirmation"
SLOT_FALLBACKS = "fallback_count"
SLOT_INTRO = "intro_shown"
SLOT_HANDOFF = "handoff_id"

PENDING_HUMAN = "human"
PENDING_DELETE = "delete"

# A detected language replaces the conversation's only on a real sentence, confidently.
SWITCH_CONFIDENCE = 0.8
SWITCH_MIN_WORDS = 3


@lru_cache(maxsize=1)
def settings() -> Settings:
    return get_settings()


def content() -> Content:
    return load_content(settings().content_dir)


@lru_cache(maxsize=1)
def office_hours() -> OfficeHours:
    s = settings()
    return OfficeHours.parse(s.office_hours, s.timezone)


def common_values(lang: str) -> dict[str, Any]:
    """Placeholders any text may use."""
    s = settings()
    return {
        "retention_days": s.retention_days,
        "office_hours": describe(office_hours(), lang),
        "wait_minutes": s.handoff_wait_minutes,
    }


def intent_of(tracker: Tracker) -> str | None:
    return ((tracker.latest_message or {}).get("intent") or {}).get("name")


def _normalise(code: Any) -> str | None:
    if not isinstance(code, str):
        return None
    code = code.strip().lower().replace("_", "-").split("-")[0]
    if code == "prs":  # Dari
        code = "fa"
    return code if code in LANGUAGES else None


def resolve_language(tracker: Tracker) -> tuple[str, list[EventType]]:
    """The language to answer in, and the slot event if it changes.

    Seeded from the channel (metadata ``language``: Telegram's language_code, the browser's
    language), or a detection; changed only by a confident detection on a real sentence
    (three words or more), never by "ok", a number or a Swedish word inside other text.
    """
    current = _normalise(tracker.get_slot(SLOT_LANGUAGE))
    message = tracker.latest_message or {}
    detected = message.get("language") or {}
    code = _normalise(detected.get("name"))
    confidence = float(detected.get("confidence") or 0.0)
    words = len(str(message.get("text") or "").split())
    real_sentence = words >= SWITCH_MIN_WORDS and confidence >= SWITCH_CONFIDENCE
    if current is None:
        from_channel = _normalise((message.get("metadata") or {}).get("language"))
        if code and (real_sentence or (confidence >= SWITCH_CONFIDENCE and not from_channel)):
            chosen = code
        else:
            chosen = from_channel or settings().default_language
        return chosen, [SlotSet(SLOT_LANGUAGE, chosen)]
    if code and code != current and real_sentence:
        return code, [SlotSet(SLOT_LANGUAGE, code)]
    return current, []


def button(title: str, payload: str, lang: str) -> dict[str, str]:
    return {"title": for_display(title, lang), "payload": payload}


def send(
    dispatcher: CollectingDispatcher,
    text: str,
    lang: str,
    buttons: list[dict[str, str]] | None = None,
    **extra: Any,
) -> None:
    dispatcher.utter_message(text=for_display(text, lang), buttons=buttons or [], **extra)


def source_line(answer: Answer, lang: str) -> str:
    sources = "; ".join(
        f"{s.name} ({s.date}) {s.url}" if s.date else f"{s.name} {s.url}" for s in answer.sources
    )
    return content().text("source_line", lang, sources=sources, checked=answer.checked)


def intro_if_first(
    dispatcher: CollectingDispatcher, tracker: Tracker, lang: str, *, skip_button: bool = False
) -> list[EventType]:
    """At first contact: one short line on what the assistant is and is not, with "read more".

    Sent after the answer, never instead of it.
    """
    if tracker.get_slot(SLOT_INTRO):
        return []
    c = content()
    buttons = [] if skip_button else [button(c.text("button_read_more", lang), "/privacy", lang)]
    send(dispatcher, c.text("intro", lang, **common_values(lang)), lang, buttons)
    return [SlotSet(SLOT_INTRO, True)]
