""""Are you safe right now?": asked before anything else when a message shows signs of danger
that fall short of a confident crisis (issue 19).

The crisis detector (bot/nlu/crisis_detector.py) marks such a message with
``crisis_check: {"ask": true}`` and leaves its intent. The answering actions call
:func:`ask_if_unsure` first: instead of the answer they send the question with three buttons
(I am safe / I am not safe / call 112) and remember the question the person asked in
``pending_confirmation`` as ``safety:<intent>``. "I am safe" (or a plain yes) then gets the
answer to that question; "I am not safe" (or a plain no) is a crisis: the emergency numbers and
an urgent handoff.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import SLOT_PENDING, button, content, intent_of, send

SAFETY_PREFIX = "safety:"
SAFE_PAYLOAD = "/safety_ok"
NOT_SAFE_PAYLOAD = "/crisis"
# Intents that never get the question: a crisis is answered as one; a request for a person or
# a language already leads to a person or to the same question in another language.
NEVER_ASKED = {"crisis", "request_human", "choose_language", "safety_ok"}


def should_ask(tracker: Tracker) -> bool:
    message: dict[str, Any] = tracker.latest_message or {}
    if str(message.get("text") or "").startswith("/"):
        return False
    check = message.get("crisis_check") or {}
    return bool(check.get("ask")) and intent_of(tracker) not in NEVER_ASKED


def ask_if_unsure(
    dispatcher: CollectingDispatcher, tracker: Tracker, lang: str, intent: str
) -> list[EventType] | None:
    """The question and its slot event when the latest message needs it, else None."""
    if not should_ask(tracker):
        return None
    c = content()
    buttons = [
        button(c.text("button_safe", lang), SAFE_PAYLOAD, lang),
        button(c.text("button_not_safe", lang), NOT_SAFE_PAYLOAD, lang),
        button(c.text("button_call_112", lang), NOT_SAFE_PAYLOAD, lang),
    ]
    send(dispatcher, c.text("safety_question", lang), lang, buttons)
    return [SlotSet(SLOT_PENDING, SAFETY_PREFIX + intent)]


def pending_question(pending: Any) -> str | None:
    """The intent of the question asked before "Are you safe?", if that is what is pending."""
    if isinstance(pending, str) and pending.startswith(SAFETY_PREFIX):
        return pending[len(SAFETY_PREFIX):] or None
    return None
