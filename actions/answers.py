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

ACTION_ANSWER = "action_answer"
# Answers that offer to work out the person's own date (the deadline form).
DEADLINE_KINDS = {"appeal_deadline": "appeal", "departure_deadline": "departure"}
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
                buttons = [
                    button(c.title(rel, lang), f"/{rel}", lang) for rel in answer.related[:3]
                ]
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
