"""Answers: each topic's text in the conversation's language, with its source and date."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    PENDING_DELETE,
    PENDING_HUMAN,
    SLOT_COUNTRY,
    SLOT_FALLBACKS,
    SLOT_PENDING,
    button,
    common_values,
    content,
    intent_of,
    intro_if_first,
    resolve_language,
    send,
    source_line,
)
from actions.deadlines import FORM as DEADLINE_FORM
from actions.deadlines import compute_payload
from actions.safety import ask_if_unsure, pending_question

ACTION_ANSWER = "action_answer"
# Answers that offer to work out the person's own date (the deadline form).
DEADLINE_KINDS = {"appeal_deadline": "appeal", "departure_deadline": "departure"}
# A long message may hold a second question: its topic is offered first among the buttons when
# the model gives it at least this confidence and the message is long enough to hold two.
SECOND_QUESTION_CONFIDENCE = 0.15
SECOND_QUESTION_MIN_WORDS = 12
# Conversation intents answered from texts.yml rather than an answer file.
SMALL_TALK = (
    "greet", "goodbye", "thank", "affirm", "deny", "bot_challenge", "capabilities",
    "out_of_scope",
)  # fmt: skip


def _country(tracker: Tracker) -> str | None:
    for entity in (tracker.latest_message or {}).get("entities") or []:
        if entity.get("entity") == "country" and entity.get("value"):
            return str(entity["value"])
    return tracker.get_slot(SLOT_COUNTRY)


def second_topic(tracker: Tracker, intent: str) -> str | None:
    """The topic of a second question in a long message: the next intent of the ranking that
    has an answer of its own, when it is likely enough."""
    message = tracker.latest_message or {}
    if len(str(message.get("text") or "").split()) < SECOND_QUESTION_MIN_WORDS:
        return None
    c = content()
    for item in (message.get("intent_ranking") or [])[1:4]:
        name = item.get("name")
        if not name or name in (intent, "crisis", "delete_data") or not c.has_answer(name):
            continue
        if float(item.get("confidence") or 0.0) >= SECOND_QUESTION_CONFIDENCE:
            return str(name)
        return None
    return None


class ActionAnswer(Action):
    """Answers a question (or small talk) in the conversation's language."""

    def name(self) -> str:
        return ACTION_ANSWER

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        lang, events = resolve_language(tracker)
        intent = intent_of(tracker) or "out_of_scope"
        pending = tracker.get_slot(SLOT_PENDING)
        c = content()
        events.append(SlotSet(SLOT_FALLBACKS, 0.0))
        if tracker.active_loop_name == DEADLINE_FORM:
            # "no", "stop" or another question inside the deadline form: it ends there
            events += [ActiveLoop(None), SlotSet("requested_slot", None)]

        # "Are you safe right now?" was asked: "I am safe" / yes answers the question asked
        # before it; "I am not safe" / no is a crisis; anything else is a new message.
        question = pending_question(pending)
        if question is not None:
            events.append(SlotSet(SLOT_PENDING, None))
            pending = None
            if intent == "deny":
                return events + [FollowupAction("action_crisis")]
            if intent in ("safety_ok", "affirm"):
                if question == "nlu_fallback":
                    return events + [FollowupAction("action_fallback")]
                intent = question
        if intent == "safety_ok":  # the button again, nothing pending: a plain "OK"
            intent = "affirm"
        asked = ask_if_unsure(dispatcher, tracker, lang, intent)
        if asked is not None:
            return events + asked

        # A bare yes/no answers the question asked just before.
        if pending and intent in ("affirm", "deny"):
            events.append(SlotSet(SLOT_PENDING, None))
            if intent == "affirm" and pending == PENDING_HUMAN:
                return events + [FollowupAction("action_escalate_to_counsellor")]
            if intent == "affirm" and pending == PENDING_DELETE:
                return events + [FollowupAction("action_delete_data")]
            key = "delete_cancelled" if pending == PENDING_DELETE else "deny"
            send(dispatcher, c.text(key, lang, **common_values(lang)), lang)
            return events
        if pending:
            events.append(SlotSet(SLOT_PENDING, None))

        if c.has_answer(intent):
            answer = c.answer(intent, lang, **common_values(lang))
            text = answer.text
            if intent == "reintegration_support":
                country = _country(tracker)
                specific = c.country_answer(country, lang) if country else None
                if specific:
                    text = f"{specific}\n\n{text}"
            text = f"{text}\n\n{source_line(answer, lang)}"
            if intent == "delete_data":
                buttons = [
                    button(c.text("button_yes", lang), "/affirm", lang),
                    button(c.text("button_no", lang), "/deny", lang),
                ]
                send(dispatcher, text, lang)
                send(dispatcher, c.text("delete_confirm", lang), lang, buttons)
                events.append(SlotSet(SLOT_PENDING, PENDING_DELETE))
            else:
                second = second_topic(tracker, intent)
                topics = [second] if second else []
                topics += [rel for rel in answer.related if rel not in topics]
                buttons = [button(c.title(rel, lang), f"/{rel}", lang) for rel in topics[:3]]
                if intent in DEADLINE_KINDS:  # the general rule first, the own date offered
                    compute = button(
                        c.text("button_compute_deadline", lang),
                        compute_payload(DEADLINE_KINDS[intent]), lang,
                    )  # fmt: skip
                    buttons.append(compute)
                send(dispatcher, text, lang, buttons, custom_topic=intent)
        else:
            key = intent if intent in SMALL_TALK else "out_of_scope"
            send(dispatcher, c.text(key, lang, **common_values(lang)), lang)

        events += intro_if_first(dispatcher, tracker, lang, skip_button=intent == "privacy")
        return events
