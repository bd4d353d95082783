"""The deadline form: which decision, which date, confirmed; then the computed date.

Started by the button under the appeal_deadline / departure_deadline answers (the general rule
is always given first). The date is read from the person's own words in their language
(bot/deadlines.py), said back for a yes/no, never taken silently. The answer follows
docs/facts.md only, with "check the date in your decision letter", free legal help and the
source line of the topic's answer. Part B (reminders) reads `deadline_kind`/`deadline_date`.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import button, content, intent_of, resolve_language, send, source_line
from actions.reminders import offer
from bot import clock
from bot.content import DOMAIN_INTENTS
from bot.deadlines import (
    APPEAL_DECISIONS,
    DEPARTURE_DECISIONS,
    KINDS,
    Deadline,
    compute_deadline,
    format_date,
    parse_told_date,
)

logger = logging.getLogger(__name__)

FORM = "deadline_form"
SLOT_KIND = "deadline_kind"
SLOT_DECISION = "deadline_decision"
SLOT_BASIS = "deadline_basis"
SLOT_TOLD = "deadline_told"
SLOT_OK = "deadline_told_ok"
SLOT_PROBLEM = "deadline_problem"
SLOT_DATE = "deadline_date"
FORM_SLOTS = (SLOT_DECISION, SLOT_BASIS, SLOT_TOLD, SLOT_OK, SLOT_PROBLEM)

# A message that does not read as a date but is confidently one of these topics is a new
# question: the form lets it go (rejection) and the question gets its answer.
QUESTION_CONFIDENCE = 0.7
# Never taken as a date, whatever the text: the rules handle them (crisis first).
NEVER_A_DATE = ("crisis", "request_human", "deny", "choose_language")

TOPIC = {"appeal": "appeal_deadline", "departure": "departure_deadline"}


def payload(intent: str, **entities: str) -> str:
    return f"/{intent}{json.dumps(entities, separators=(',', ':'))}"


def compute_payload(kind: str) -> str:
    """The button under a deadline answer that starts the form."""
    return payload("compute_deadline", deadline_kind=kind)


def _kind(tracker: Tracker) -> str:
    kind = tracker.get_slot(SLOT_KIND)
    return kind if kind in KINDS else "appeal"


def _lang(tracker: Tracker) -> str:
    return resolve_language(tracker)[0]


def _iso(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None


class ActionDeadlineStart(Action):
    """Clears what an earlier run of the form left, so that every question is asked again."""

    def name(self) -> str:
        return "action_deadline_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        _, events = resolve_language(tracker)
        events += [SlotSet(slot, None) for slot in (*FORM_SLOTS, SLOT_DATE, "requested_slot")]
        if tracker.get_slot(SLOT_KIND) not in KINDS:
            events.append(SlotSet(SLOT_KIND, "appeal"))
        return events


class ValidateDeadlineForm(FormValidationAction):
    def name(self) -> str:
        return "validate_deadline_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[str]:
        if _kind(tracker) == "appeal":
            if tracker.get_slot(SLOT_DECISION) == "court":
                return [SLOT_DECISION]  # the facts give no period: nothing to compute
            return [SLOT_DECISION, SLOT_TOLD, SLOT_OK]
        if tracker.get_slot(SLOT_BASIS) == "unknown":
            return [SLOT_DECISION, SLOT_BASIS]
        return [SLOT_DECISION, SLOT_BASIS, SLOT_TOLD, SLOT_OK]

    async def next_requested_slot(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventType:
        """Always says which slot comes next (None: the form is complete), also when the list
        happens to equal the domain's."""
        required = await self.required_slots(
            self.domain_slots(domain), dispatcher, tracker, domain
        )
        missing = next((slot for slot in required if tracker.slots.get(slot) is None), None)
        return SlotSet("requested_slot", missing)

    async def extract_deadline_told(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        """The user's words when the date was asked, unless they are something else: a
        crisis, "stop", a request for a person, or another question that is not a date."""
        if tracker.get_slot("requested_slot") != SLOT_TOLD:
            return {}
        message = tracker.latest_message or {}
        text = str(message.get("text") or "").strip()
        intent = intent_of(tracker)
        # A "no" that holds a number is a date the classifier misread ("32 november" came out
        # as deny, 0.31): it is read as a date, and an unreadable one is asked again.
        misread_no = intent == "deny" and any(ch.isdigit() for ch in text)
        if not text or text.startswith("/") or (intent in NEVER_A_DATE and not misread_no):
            return {}
        parsed = parse_told_date(text, _lang(tracker), clock.today())
        if parsed.value is None:
            confidence = float((message.get("intent") or {}).get("confidence") or 0.0)
            if intent in DOMAIN_INTENTS and confidence >= QUESTION_CONFIDENCE:
                return {}
        return {SLOT_TOLD: text}

    async def validate_deadline_decision(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Any
    ) -> dict[str, Any]:
        allowed = APPEAL_DECISIONS if _kind(tracker) == "appeal" else DEPARTURE_DECISIONS
        return {SLOT_DECISION: value if value in allowed else None}

    async def validate_deadline_basis(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Any
    ) -> dict[str, Any]:
        return {SLOT_BASIS: value if value in ("told", "final", "unknown") else None}

    async def validate_deadline_told(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Any
    ) -> dict[str, Any]:
        parsed = parse_told_date(str(value or ""), _lang(tracker), clock.today())
        if parsed.problem is None and parsed.value is not None:
            return {SLOT_TOLD: parsed.value.isoformat(), SLOT_PROBLEM: None, SLOT_OK: None}
        return {SLOT_TOLD: None, SLOT_PROBLEM: parsed.problem or "unparsed"}

    async def validate_deadline_told_ok(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Any
    ) -> dict[str, Any]:
        if value is True:
            return {SLOT_OK: True}
        # "no": the date is asked again, never guessed
        return {SLOT_OK: None, SLOT_TOLD: None, SLOT_PROBLEM: "retry"}


class ActionAskDeadlineDecision(Action):
    def name(self) -> str:
        return "action_ask_deadline_decision"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        lang, events = resolve_language(tracker)
        c = content()
        kind = _kind(tracker)
        choices = APPEAL_DECISIONS if kind == "appeal" else DEPARTURE_DECISIONS
        buttons = [
            button(c.text(f"button_deadline_{choice}", lang),
                   payload("inform_deadline", deadline_decision=choice), lang)
            for choice in choices
        ]  # fmt: skip
        send(dispatcher, c.text(f"deadline_ask_decision_{kind}", lang), lang, buttons)
        return events


class ActionAskDeadlineBasis(Action):
    def name(self) -> str:
        return "action_ask_deadline_basis"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        lang, events = resolve_language(tracker)
        c = content()
        buttons = [
            button(c.text(f"button_deadline_basis_{basis}", lang),
                   payload("inform_deadline", deadline_basis=basis), lang)
            for basis in ("told", "final", "unknown")
        ]  # fmt: skip
        send(dispatcher, c.text("deadline_ask_basis", lang), lang, buttons)
        return events


class ActionAskDeadlineTold(Action):
    def name(self) -> str:
        return "action_ask_deadline_told"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        lang, events = resolve_language(tracker)
        c = content()
        problem = tracker.get_slot(SLOT_PROBLEM)
        which = "final" if tracker.get_slot(SLOT_BASIS) == "final" else "told"
        if problem in ("unparsed", "future", "too_old", "retry"):
            send(dispatcher, c.text(f"deadline_problem_{problem}", lang), lang)
        send(dispatcher, c.text(f"deadline_ask_{which}", lang), lang)
        return events


class ActionAskDeadlineToldOk(Action):
    def name(self) -> str:
        return "action_ask_deadline_told_ok"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        lang, events = resolve_language(tracker)
        c = content()
        told = _iso(tracker.get_slot(SLOT_TOLD))
        if told is None:  # cannot happen through the form; ask for the date instead
            return events + [SlotSet(SLOT_TOLD, None), SlotSet("requested_slot", SLOT_TOLD)]
        buttons = [
            button(c.text("button_yes", lang), "/affirm", lang),
            button(c.text("button_no", lang), "/deny", lang),
        ]
        text = c.text("deadline_confirm", lang, date=format_date(told, lang))
        send(dispatcher, text, lang, buttons)
        return events


def deadline_lines(deadline: Deadline, lang: str) -> list[str]:
    """The computed answer's paragraphs (without the legal help line and the source)."""
    c = content()
    values = {
        "date": format_date(deadline.date, lang),
        "start": format_date(deadline.start, lang),
        "final": format_date(deadline.final, lang) if deadline.final else "",
        "days": abs(deadline.days_left),
    }
    key = "deadline_result_appeal" if deadline.kind == "appeal" else (
        f"deadline_result_departure_{deadline.basis}"
    )  # fmt: skip
    lines = [c.text(key, lang, **values)]
    if deadline.past:
        lines.append(c.text(f"deadline_past_{deadline.kind}", lang, **values))
    elif deadline.days_left == 0:
        lines.append(c.text("deadline_left_today", lang, **values))
    else:
        lines.append(c.text("deadline_left", lang, **values))
    if not deadline.past:
        if deadline.holiday:
            lines.append(c.text("deadline_holiday", lang, holiday=deadline.holiday, **values))
        elif deadline.weekend:
            lines.append(c.text("deadline_weekend", lang, **values))
    lines.append(c.text("deadline_check_letter", lang))
    return lines


class ActionDeadlineAnswer(Action):
    """After the form: the computed date (or why it is not computed), with the source."""

    def name(self) -> str:
        return "action_deadline_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        lang, events = resolve_language(tracker)
        c = content()
        kind = _kind(tracker)
        decision = tracker.get_slot(SLOT_DECISION)
        basis = tracker.get_slot(SLOT_BASIS) or "told"
        start = _iso(tracker.get_slot(SLOT_TOLD))
        deadline: Deadline | None = None
        if start is not None and decision != "court" and basis != "unknown":
            try:
                deadline = compute_deadline(kind, decision, start, clock.today(), basis)
            except ValueError:
                logger.warning("Deadline form ended with an unusable decision or basis")
        if deadline is not None:
            lines = deadline_lines(deadline, lang)
        elif kind == "appeal" and decision == "court":
            lines = [c.text("deadline_court", lang)]
        elif kind == "departure" and basis == "unknown":
            lines = [c.text("deadline_departure_unknown", lang)]
        else:
            lines = [c.text("deadline_not_computed", lang)]
        lines.append(c.text("deadline_legal_help", lang))
        lines.append(source_line(c.answer(TOPIC[kind], lang), lang))
        buttons = [button(c.title("legal_counsel", lang), "/legal_counsel", lang)]
        send(dispatcher, "\n\n".join(lines), lang, buttons, custom_topic=TOPIC[kind])
        if deadline is not None and not deadline.past:
            try:  # part B: "remind me" under the computed date, where reminders are possible
                offer(dispatcher, tracker, lang, kind, deadline.date)
            except Exception:  # the answer must reach the person even if the offer fails
                logger.exception("Could not offer a reminder")
        computed = deadline.date.isoformat() if deadline is not None else None
        return events + [SlotSet(SLOT_KIND, kind), SlotSet(SLOT_DATE, computed)]
