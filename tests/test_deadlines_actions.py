"""actions/deadlines.py and the deadline button of actions/answers.py, on trackers built inline.

The assistant's clock (bot/clock.py) is moved to Monday 23 November 2026 through its offset
file, as on the running stack.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.answers import ActionAnswer
from actions.deadlines import (
    ActionAskDeadlineDecision,
    ActionAskDeadlineTold,
    ActionAskDeadlineToldOk,
    ActionDeadlineAnswer,
    ActionDeadlineStart,
    ValidateDeadlineForm,
    compute_payload,
)
from bot import clock
from bot.content import LRI
from tests.conftest import make_tracker, texts

TODAY = datetime(2026, 11, 23, 12, 0, tzinfo=clock.STOCKHOLM)
FORM_SLOTS = {
    "deadline_kind": None, "deadline_decision": None, "deadline_basis": None,
    "deadline_told": None, "deadline_told_ok": None, "deadline_problem": None,
    "deadline_date": None, "requested_slot": None,
}  # fmt: skip
DOMAIN = {
    "forms": {"deadline_form": {"required_slots": [
        "deadline_decision", "deadline_basis", "deadline_told", "deadline_told_ok"]}},
    "slots": {name: {"mappings": [{"type": "custom"}]} for name in FORM_SLOTS},
}  # fmt: skip


@pytest.fixture(autouse=True)
def fixed_today(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    clock.set_offset((TODAY - datetime.now(clock.STOCKHOLM)).total_seconds(), tmp_path)
    assert clock.today() == TODAY.date()


def tracker(text: str = "", intent: str | None = None, *, slots: dict[str, Any] | None = None,
            set_now: dict[str, Any] | None = None, confidence: float = 0.95,
            form: bool = True):  # fmt: skip
    """A tracker inside the form; ``set_now`` are slot candidates of this turn."""
    t = make_tracker(text, intent, confidence=confidence,
                     slots={**FORM_SLOTS, "language": "sv", **(slots or {})})  # fmt: skip
    for name, value in (set_now or {}).items():
        t.events.append({"event": "slot", "name": name, "value": value})
        t.slots[name] = value
    if form:
        t.active_loop = {"name": "deadline_form"}
    return t


def slot_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


async def validate(t) -> dict[str, Any]:
    events = await ValidateDeadlineForm().run(CollectingDispatcher(), t, DOMAIN)
    return slot_events(events)


# -- the button under the general answer -----------------------------------------------------
@pytest.mark.parametrize(("intent", "kind"), [("appeal_deadline", "appeal"),
                                              ("departure_deadline", "departure")])
async def test_general_rule_first_then_the_compute_button(intent: str, kind: str) -> None:
    d = CollectingDispatcher()
    await ActionAnswer().run(d, make_tracker("hur lång tid", intent, slots={"language": "sv"}), {})
    first = d.messages[0]
    assert "2026-11-22" in first["text"] and "migrationsverket.se" in first["text"]
    assert first["buttons"][-1]["payload"] == compute_payload(kind)
    assert first["buttons"][-1]["payload"] == f'/compute_deadline{{"deadline_kind":"{kind}"}}'


async def test_other_answers_have_no_compute_button() -> None:
    d = CollectingDispatcher()
    await ActionAnswer().run(d, make_tracker("lma", "housing_allowance"), {})
    assert all("compute_deadline" not in b["payload"] for b in d.messages[0]["buttons"])


async def test_another_question_inside_the_form_is_answered_and_ends_the_form() -> None:
    d = CollectingDispatcher()
    events = await ActionAnswer().run(d, tracker("vad är lma", "housing_allowance"), {})
    assert [e["name"] for e in events if e["event"] == "active_loop"] == [None]
    assert slot_events(events)["requested_slot"] is None
    assert "LMA" in texts(d)[0]
    outside = await ActionAnswer().run(CollectingDispatcher(), tracker("lma", "housing_allowance",
                                                                       form=False), {})  # fmt: skip
    assert not [e for e in outside if e["event"] == "active_loop"]


async def test_start_clears_the_previous_run() -> None:
    events = await ActionDeadlineStart().run(
        CollectingDispatcher(),
        tracker("/compute_deadline", "compute_deadline", form=False,
                slots={"deadline_kind": "departure", "deadline_decision": "expulsion",
                       "deadline_told": "2026-11-01", "deadline_date": "2026-12-20"}),
        {},
    )  # fmt: skip
    slots = slot_events(events)
    assert slots["deadline_decision"] is None and slots["deadline_told"] is None
    assert slots["deadline_date"] is None and "deadline_kind" not in slots


# -- asking -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "values"), [("appeal", ["agency", "court"]),
                                              ("departure", ["refusal_of_entry", "expulsion"])])
async def test_decision_question_has_one_button_per_decision(kind: str, values: list[str]) -> None:
    d = CollectingDispatcher()
    await ActionAskDeadlineDecision().run(d, tracker(slots={"deadline_kind": kind}), {})
    payloads = [b["payload"] for b in d.messages[0]["buttons"]]
    assert payloads == [f'/inform_deadline{{"deadline_decision":"{v}"}}' for v in values]


async def test_date_question_gives_an_example_and_a_kind_reask() -> None:
    d = CollectingDispatcher()
    await ActionAskDeadlineTold().run(d, tracker(), {})
    assert "3 november" in texts(d)[0] and "igår" in texts(d)[0]
    d = CollectingDispatcher()
    await ActionAskDeadlineTold().run(d, tracker(slots={"deadline_problem": "unparsed"}), {})
    assert "kunde inte läsa" in texts(d)[0] and "3 november 2026" in texts(d)[0]
    d = CollectingDispatcher()
    await ActionAskDeadlineTold().run(d, tracker(slots={"deadline_basis": "final"}), {})
    assert "laga kraft" in texts(d)[0]


@pytest.mark.parametrize(("lang", "said"), [("sv", "tisdag 3 november 2026, stämmer det?"),
                                            ("en", "Tuesday 3 November 2026, is that right?"),
                                            ("ru", "вторник, 3 ноября 2026, верно?")])
async def test_confirmation_says_the_date_back_with_yes_no(lang: str, said: str) -> None:
    d = CollectingDispatcher()
    await ActionAskDeadlineToldOk().run(
        d, tracker(slots={"deadline_told": "2026-11-03", "language": lang}), {})
    assert d.messages[0]["text"] == said
    assert [b["payload"] for b in d.messages[0]["buttons"]] == ["/affirm", "/deny"]


async def test_confirmation_in_arabic_is_rtl_with_isolated_numbers() -> None:
    d = CollectingDispatcher()
    await ActionAskDeadlineToldOk().run(
        d, tracker(slots={"deadline_told": "2026-11-03", "language": "ar"}), {})
    text = d.messages[0]["text"]
    assert "الثلاثاء" in text and "نوفمبر" in text and f"{LRI}3" in text


# -- validating ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("lang", "text", "intent", "iso"),
    [("sv", "igår", "greet", "2026-11-22"), ("sv", "förra tisdagen", "nlu_fallback", "2026-11-17"),
     ("ar", "٣ نوفمبر", "appeal_deadline", "2026-11-03"),
     ("ru", "в прошлый вторник", "nlu_fallback", "2026-11-17"),
     ("ti", "3 ሕዳር", "out_of_scope", "2026-11-03")],
)  # fmt: skip
async def test_a_date_is_taken_and_confirmation_asked(lang, text, intent, iso) -> None:
    slots = await validate(tracker(text, intent, slots={
        "language": lang, "deadline_kind": "appeal", "deadline_decision": "agency",
        "requested_slot": "deadline_told"}))  # fmt: skip
    assert slots["deadline_told"] == iso
    assert slots["requested_slot"] == "deadline_told_ok"


async def test_unreadable_date_is_asked_again_kindly() -> None:
    slots = await validate(tracker("någon gång i höstas", "nlu_fallback", slots={
        "deadline_kind": "appeal", "deadline_decision": "agency",
        "requested_slot": "deadline_told"}))  # fmt: skip
    assert slots["deadline_told"] is None and slots["deadline_problem"] == "unparsed"
    assert slots["requested_slot"] == "deadline_told"


async def test_future_date_is_not_taken() -> None:
    slots = await validate(tracker("24 december 2026", "nlu_fallback", slots={
        "deadline_kind": "appeal", "deadline_decision": "agency",
        "requested_slot": "deadline_told"}))  # fmt: skip
    assert slots["deadline_told"] is None and slots["deadline_problem"] == "future"


@pytest.mark.parametrize(("text", "intent"), [
    ("igår ville jag ta livet av mig", "crisis"),  # crisis first, even with a date in it
    ("avbryt", "deny"),
    ("jag vill prata med en människa", "request_human"),
    ("vad är LMA-kortet", "housing_allowance"),  # another question: answered instead
])  # fmt: skip
async def test_not_a_date_answer_leaves_the_slot_to_the_rules(text: str, intent: str) -> None:
    slots = await validate(tracker(text, intent, slots={
        "deadline_kind": "appeal", "deadline_decision": "agency",
        "requested_slot": "deadline_told"}))  # fmt: skip
    assert "deadline_told" not in slots  # nothing extracted: Rasa rejects the form


async def test_no_to_the_confirmation_asks_for_the_date_again() -> None:
    slots = await validate(tracker("nej", "deny", set_now={"deadline_told_ok": False}, slots={
        "deadline_kind": "appeal", "deadline_decision": "agency", "deadline_told": "2026-11-03",
        "requested_slot": "deadline_told_ok"}))  # fmt: skip
    assert slots["deadline_told"] is None and slots["deadline_problem"] == "retry"
    assert slots["requested_slot"] == "deadline_told"


async def test_yes_to_the_confirmation_completes_the_form() -> None:
    slots = await validate(tracker("ja", "affirm", set_now={"deadline_told_ok": True}, slots={
        "deadline_kind": "appeal", "deadline_decision": "agency", "deadline_told": "2026-11-03",
        "requested_slot": "deadline_told_ok"}))  # fmt: skip
    assert slots["deadline_told_ok"] is True and slots["requested_slot"] is None


async def test_court_judgment_asks_no_date() -> None:
    slots = await validate(tracker("/inform_deadline", "inform_deadline",
                                   set_now={"deadline_decision": "court"},
                                   slots={"deadline_kind": "appeal",
                                          "requested_slot": "deadline_decision"}))  # fmt: skip
    assert slots["deadline_decision"] == "court" and slots["requested_slot"] is None


async def test_departure_asks_which_date_is_known() -> None:
    slots = await validate(tracker("/inform_deadline", "inform_deadline",
                                   set_now={"deadline_decision": "expulsion"},
                                   slots={"deadline_kind": "departure",
                                          "requested_slot": "deadline_decision"}))  # fmt: skip
    assert slots["requested_slot"] == "deadline_basis"


async def test_a_decision_of_the_other_kind_is_refused() -> None:
    slots = await validate(tracker("/inform_deadline", "inform_deadline",
                                   set_now={"deadline_decision": "expulsion"},
                                   slots={"deadline_kind": "appeal",
                                          "requested_slot": "deadline_decision"}))  # fmt: skip
    assert slots["deadline_decision"] is None and slots["requested_slot"] == "deadline_decision"


# -- the answer ---------------------------------------------------------------------------------
async def answer(lang: str = "sv", **slots: Any) -> tuple[str, dict[str, Any], list]:
    d = CollectingDispatcher()
    events = await ActionDeadlineAnswer().run(
        d, tracker("ja", "affirm", slots={"language": lang, **slots}, form=False), {})
    return d.messages[0]["text"], slot_events(events), d.messages


async def test_appeal_answer_on_a_holiday_with_source_and_help() -> None:
    text, slots, messages = await answer(deadline_kind="appeal", deadline_decision="agency",
                                         deadline_told="2026-12-04")  # fmt: skip
    assert "fredag 25 december 2026" in text and "fredag 4 december 2026" in text
    assert "Juldagen" in text and "i god tid" in text
    assert "om 32 dagar" in text
    assert "beslutsbrev" in text and "Rådgivningsbyrån" in text
    assert "migrationsverket.se" in text and "2026-11-22" in text
    assert slots == {"deadline_kind": "appeal", "deadline_date": "2026-12-25"}
    assert messages[0]["buttons"][0]["payload"] == "/legal_counsel"


async def test_departure_answer_says_the_assumption() -> None:
    text, slots, _ = await answer(lang="en", deadline_kind="departure",
                                  deadline_decision="expulsion", deadline_basis="told",
                                  deadline_told="2026-11-03")  # fmt: skip
    assert "Tuesday 24 November 2026" in text and "usually three weeks" in text
    assert "Tuesday 22 December 2026" in text
    assert slots["deadline_date"] == "2026-12-22"


async def test_weekend_is_said_not_moved() -> None:
    text, slots, _ = await answer(deadline_kind="appeal", deadline_decision="agency",
                                  deadline_told="2026-11-07")  # fmt: skip
    assert "lördag 28 november 2026" in text and "lördag eller söndag" in text
    assert slots["deadline_date"] == "2026-11-28"


async def test_past_date_gets_a_kind_answer() -> None:
    text, slots, _ = await answer(deadline_kind="appeal", deadline_decision="agency",
                                  deadline_told="2026-10-01")  # fmt: skip
    assert "redan passerat" in text and "32 dagar" in text
    assert "nya omständigheter" in text and "Rådgivningsbyrån" in text
    assert slots["deadline_date"] == "2026-10-22"


async def test_court_judgment_is_not_computed() -> None:
    text, slots, _ = await answer(lang="fa", deadline_kind="appeal", deadline_decision="court")
    assert "prövningstillstånd" in text and "offentligt biträde" in text
    assert slots["deadline_date"] is None


async def test_departure_without_a_known_final_date_is_not_computed() -> None:
    text, slots, _ = await answer(lang="so", deadline_kind="departure",
                                  deadline_decision="expulsion", deadline_basis="unknown")
    assert "laga kraft" in text and slots["deadline_date"] is None


@pytest.mark.parametrize("lang", ["sv", "en", "ar", "fa", "so", "ti", "ru"])
async def test_answer_in_every_language(lang: str) -> None:
    text, slots, _ = await answer(lang=lang, deadline_kind="appeal", deadline_decision="agency",
                                  deadline_told="2026-11-03")  # fmt: skip
    assert "24" in text and "2026" in text and "2026-11-22" in text
    assert "{" not in text
    assert slots["deadline_date"] == "2026-11-24"
