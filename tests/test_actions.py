"""Every custom action, run on inline trackers: the events and the messages it sends."""

from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.answers import ActionAnswer
from actions.crisis import ActionCrisis
from actions.fallback import ActionFallback
from actions.handoff import ActionEscalateToCounsellor
from actions.language import ActionChooseLanguage
from bot.store.db import session
from bot.store.models import Handoff
from tests.conftest import event_names, make_tracker, texts

SV = {"name": "sv", "confidence": 0.99}


async def run(action, tracker):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, {})
    return dispatcher, events


async def test_appeal_deadline_answer_has_three_weeks_source_and_date(db_url: str) -> None:
    tracker = make_tracker(
        "Hur lång tid har jag på mig att överklaga?", "appeal_deadline", language=SV
    )
    dispatcher, events = await run(ActionAnswer(), tracker)
    first = texts(dispatcher)[0]
    assert "tre veckor" in first
    assert "https://www.migrationsverket.se/" in first
    assert "2026-11-22" in first
    # related topics as buttons, then the first-contact line with "read more"
    assert dispatcher.messages[0]["buttons"]
    assert dispatcher.messages[-1]["buttons"][0]["payload"] == "/privacy"
    assert {"event": "slot", "name": "language", "value": "sv", "timestamp": None} in events
    assert {"event": "slot", "name": "intro_shown", "value": True, "timestamp": None} in events


async def test_intro_only_once(db_url: str) -> None:
    tracker = make_tracker("hur överklagar jag", "appeal_how", slots={"language": "sv",
                                                                     "intro_shown": True})
    dispatcher, events = await run(ActionAnswer(), tracker)
    assert len(dispatcher.messages) == 1
    assert "slot:intro_shown" not in event_names(events)


async def test_english_answer_when_conversation_is_english(db_url: str) -> None:
    tracker = make_tracker("how long do I have to appeal", "appeal_deadline",
                           slots={"language": "en", "intro_shown": True},
                           language={"name": "en", "confidence": 0.97})
    dispatcher, _ = await run(ActionAnswer(), tracker)
    assert "three weeks" in texts(dispatcher)[0]
    assert "Source" in texts(dispatcher)[0]


async def test_ok_does_not_flip_language(db_url: str) -> None:
    tracker = make_tracker("ok", "affirm", slots={"language": "ar", "intro_shown": True},
                           language={"name": "sv", "confidence": 0.5})
    _, events = await run(ActionAnswer(), tracker)
    assert "slot:language" not in event_names(events)


async def test_confident_sentence_switches_language(db_url: str) -> None:
    tracker = make_tracker("how do I appeal the decision", "appeal_how",
                           slots={"language": "sv", "intro_shown": True},
                           language={"name": "en", "confidence": 0.95})
    dispatcher, events = await run(ActionAnswer(), tracker)
    assert {"event": "slot", "name": "language", "value": "en", "timestamp": None} in events
    assert "Source" in texts(dispatcher)[0]


async def test_channel_language_seeds_the_conversation(db_url: str) -> None:
    tracker = make_tracker("hi", "greet", metadata={"language": "en-GB"},
                           language={"name": "en", "confidence": 0.4})
    dispatcher, events = await run(ActionAnswer(), tracker)
    assert {"event": "slot", "name": "language", "value": "en", "timestamp": None} in events


@pytest.mark.parametrize(
    ("country", "expected_fragment"),
    [("Iraq", "Irak"), ("Afghanistan", "Afghanistan"), ("Somaliland", "Somaliland")],
)
async def test_reintegration_names_the_country(db_url: str, country: str,
                                               expected_fragment: str) -> None:
    tracker = make_tracker(
        f"kan jag få pengar om jag åker till {expected_fragment}", "reintegration_support",
        slots={"language": "sv", "intro_shown": True},
        entities=[{"entity": "country", "value": country, "start": 0, "end": 1}],
    )
    dispatcher, _ = await run(ActionAnswer(), tracker)
    assert expected_fragment in texts(dispatcher)[0]


async def test_reintegration_unknown_list_country(db_url: str) -> None:
    from actions.common import content

    tracker = make_tracker(
        "support for Georgia", "reintegration_support",
        slots={"language": "en", "intro_shown": True},
        entities=[{"entity": "country", "value": "Georgia", "start": 0, "end": 1}],
    )
    dispatcher, _ = await run(ActionAnswer(), tracker)
    expected = content().country_answer("Georgia", "en")
    assert expected and texts(dispatcher)[0].startswith(expected)


async def test_crisis_numbers_come_first_then_urgent_handoff(db_url: str) -> None:
    tracker = make_tracker("jag vill inte leva längre", "crisis", language=SV,
                           sender_id="crisis-user")
    dispatcher, events = await run(ActionCrisis(), tracker)
    first = texts(dispatcher)[0]
    for number in ("112", "90101", "1177", "116 111"):
        assert number in first
    assert "pause" in event_names(events)
    with session(db_url) as db:
        handoff = db.execute(select(Handoff)).scalars().one()
    assert (handoff.priority, handoff.reason, handoff.conversation_id) == (
        "urgent", "crisis", "crisis-user")


async def test_escalating_twice_makes_one_handoff(db_url: str) -> None:
    tracker = make_tracker("jag vill prata med en människa", "request_human",
                           slots={"language": "sv"}, sender_id="twice")
    d1, e1 = await run(ActionEscalateToCounsellor(), tracker)
    d2, e2 = await run(ActionEscalateToCounsellor(), tracker)
    with session(db_url) as db:
        rows = db.execute(select(Handoff)).scalars().all()
    assert len(rows) == 1
    assert texts(d1)[0] != texts(d2)[0]  # the second time: "you are already waiting"
    assert "pause" in event_names(e1) and "pause" in event_names(e2)


async def test_escalation_outside_office_hours_says_when(db_url: str, monkeypatch) -> None:
    import actions.common

    monkeypatch.setenv("OFFICE_HOURS", "mon 03:00-03:01")
    actions.common.settings.cache_clear()
    actions.common.office_hours.cache_clear()
    from actions.common import content

    tracker = make_tracker("can I talk to someone", "request_human", slots={"language": "en"})
    dispatcher, events = await run(ActionEscalateToCounsellor(), tracker)
    closed_template = content().text("handoff_closed", "en")
    assert texts(dispatcher)[0] != content().text("handoff_open", "en")
    assert closed_template.split("{")[0][:20] in texts(dispatcher)[0]
    assert "pause" in event_names(events)


async def test_escalation_with_database_down_tells_user_to_call(monkeypatch) -> None:
    import actions.common
    import actions.handoff

    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("PROFILE", "production")
    actions.common.settings.cache_clear()
    actions.handoff.store_url.cache_clear()
    try:
        tracker = make_tracker("human please", "request_human", slots={"language": "en"})
        dispatcher, events = await run(ActionEscalateToCounsellor(), tracker)
        assert "0771-19 95 00" in texts(dispatcher)[0]
        assert "pause" not in event_names(events)
    finally:
        actions.common.settings.cache_clear()
        actions.handoff.store_url.cache_clear()


async def test_first_fallback_offers_closest_topics(db_url: str) -> None:
    ranking = [
        {"name": "nlu_fallback", "confidence": 0.4},
        {"name": "appeal_how", "confidence": 0.3},
        {"name": "greet", "confidence": 0.1},
        {"name": "appeal_deadline", "confidence": 0.1},
        {"name": "legal_counsel", "confidence": 0.05},
        {"name": "detention", "confidence": 0.05},
    ]
    tracker = make_tracker("blabla överkl", "nlu_fallback", ranking=ranking,
                           slots={"language": "sv", "intro_shown": True})
    dispatcher, events = await run(ActionFallback(), tracker)
    payloads = [b["payload"] for b in dispatcher.messages[0]["buttons"]]
    assert payloads == ["/appeal_how", "/appeal_deadline", "/legal_counsel", "/request_human"]
    assert {"event": "slot", "name": "fallback_count", "value": 1.0, "timestamp": None} in events


async def test_second_fallback_offers_a_person_and_yes_escalates(db_url: str) -> None:
    tracker = make_tracker("???", "nlu_fallback", slots={"language": "sv", "intro_shown": True,
                                                         "fallback_count": 1.0})
    dispatcher, events = await run(ActionFallback(), tracker)
    assert dispatcher.messages[0]["buttons"][0]["payload"] == "/request_human"
    assert {"event": "slot", "name": "pending_confirmation", "value": "human",
            "timestamp": None} in events
    yes = make_tracker("ja", "affirm", slots={"language": "sv", "intro_shown": True,
                                              "pending_confirmation": "human"})
    _, events = await run(ActionAnswer(), yes)
    assert {"event": "followup", "name": "action_escalate_to_counsellor",
            "timestamp": None} in events


async def test_choose_language_switches_and_answers_in_new_language(db_url: str) -> None:
    from actions.common import content

    tracker = make_tracker("kan vi prata engelska", "choose_language",
                           slots={"language": "sv", "intro_shown": True},
                           entities=[{"entity": "language", "value": "en"}])
    dispatcher, events = await run(ActionChooseLanguage(), tracker)
    assert texts(dispatcher) == [content().text("language_switched", "en")]
    assert {"event": "slot", "name": "language", "value": "en", "timestamp": None} in events


async def test_choose_language_without_entity_lists_languages(db_url: str) -> None:
    tracker = make_tracker("other language", "choose_language",
                           slots={"language": "en", "intro_shown": True})
    dispatcher, _ = await run(ActionChooseLanguage(), tracker)
    titles = [b["title"] for b in dispatcher.messages[0]["buttons"]]
    assert len(titles) == 7 and "Soomaali" in titles


async def test_small_talk_and_unknown_intent(db_url: str) -> None:
    for intent in ("greet", "goodbye", "thank", "bot_challenge", "capabilities",
                   "out_of_scope", "affirm", "deny"):
        tracker = make_tracker("x", intent, slots={"language": "en", "intro_shown": True})
        dispatcher, _ = await run(ActionAnswer(), tracker)
        assert texts(dispatcher)[0].strip(), intent


async def _paused_guard(db_url: str, text: str, intent: str, lang: str, monkeypatch):
    """The guard on a paused conversation that waits for a counsellor; the background resume
    is recorded instead of calling Rasa."""
    import actions.guard as guard
    from bot.store import handoffs

    resumed: list[str] = []

    async def fake_resume(conversation_id: str) -> None:
        resumed.append(conversation_id)

    monkeypatch.setattr(guard, "_resume_later", fake_resume)
    from actions.handoff import store_url

    store_url()  # creates the tables, as the action server does
    with session(db_url) as db:
        handoffs.request_handoff(db, conversation_id="test-user", channel="rest", language=lang,
                                 reason="request_human")  # fmt: skip
    tracker = make_tracker(text, intent, slots={"language": lang})
    tracker._paused = True
    dispatcher = CollectingDispatcher()
    events = await guard.ActionGuardPausedConversation().run(dispatcher, tracker, {})
    for task in list(guard._background):
        await task
    return events, texts(dispatcher), resumed


@pytest.mark.parametrize(("text", "intent", "lang"), [
    ("nej tack, strunta i det", "thank", "sv"),   # the phrase the bot suggested, read as thanks
    ("never mind", "deny", "en"),
    ("не надо", "deny", "ru"),
])  # fmt: skip
async def test_cancel_phrase_while_waiting_cancels_and_resumes(
    db_url: str, monkeypatch, text: str, intent: str, lang: str
) -> None:
    events, said, resumed = await _paused_guard(db_url, text, intent, lang, monkeypatch)
    assert resumed == ["test-user"]
    assert said and "handoff_id" in [e.get("name") for e in events]
    with session(db_url) as db:
        assert db.execute(select(Handoff.status)).scalar_one() == "cancelled"


async def test_other_words_while_waiting_do_not_cancel(db_url: str, monkeypatch) -> None:
    events, said, resumed = await _paused_guard(
        db_url, "мне не надо депортацию", "police_enforcement", "ru", monkeypatch)
    assert resumed == [] and said == [] and events == []
    with session(db_url) as db:
        assert db.execute(select(Handoff.status)).scalar_one() == "waiting"
