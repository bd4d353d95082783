""""Are you safe right now?" before anything else when a message shows signs of danger short of a
confident crisis (issue 19, actions/safety.py), and a second question offered (long messages)."""

from __future__ import annotations

from typing import Any

from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions.answers import ActionAnswer, second_topic
from actions.fallback import ActionFallback
from tests.conftest import make_tracker, texts

EN = {"name": "en", "confidence": 0.99}


def unsure(text: str, intent: str, **kwargs: Any):  # type: ignore[no-untyped-def]
    tracker = make_tracker(text, intent, language=EN, slots={"language": "en"}, **kwargs)
    tracker.latest_message["crisis_check"] = {"score": 0.7, "ask": True}
    return tracker


async def run(action, tracker):  # type: ignore[no-untyped-def]
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, {})
    return dispatcher, events


def slot(events: list[dict[str, Any]], name: str) -> Any:
    values = [e["value"] for e in events if e.get("event") == "slot" and e.get("name") == name]
    return values[-1] if values else "unset"


async def test_unsure_message_is_asked_before_the_answer(db_url: str) -> None:
    tracker = unsure("i gave my phone to my friend, where i am going i dont need it", "travel_documents")
    dispatcher, events = await run(ActionAnswer(), tracker)
    assert len(dispatcher.messages) == 1
    assert "are you safe right now?" in texts(dispatcher)[0].lower()
    assert "112" in texts(dispatcher)[0]
    payloads = [b["payload"] for b in dispatcher.messages[0]["buttons"]]
    assert payloads == ["/safety_ok", "/crisis", "/crisis"]
    assert slot(events, "pending_confirmation") == "safety:travel_documents"


async def test_confident_ordinary_message_is_not_asked(db_url: str) -> None:
    tracker = make_tracker("how do i get a passport", "travel_documents", language=EN,
                           slots={"language": "en", "intro_shown": True})
    tracker.latest_message["crisis_check"] = {"score": 0.01, "ask": False}
    dispatcher, _ = await run(ActionAnswer(), tracker)
    assert "are you safe" not in texts(dispatcher)[0].lower()
    assert "Source" in texts(dispatcher)[0]


async def test_i_am_safe_answers_the_question_asked_before(db_url: str) -> None:
    tracker = make_tracker("/safety_ok", "safety_ok", language=EN,
                           slots={"language": "en", "intro_shown": True,
                                  "pending_confirmation": "safety:appeal_deadline"})
    dispatcher, events = await run(ActionAnswer(), tracker)
    assert "three weeks" in texts(dispatcher)[0]
    assert slot(events, "pending_confirmation") is None


async def test_a_plain_yes_also_answers_it(db_url: str) -> None:
    tracker = make_tracker("yes", "affirm", language=EN,
                           slots={"language": "en", "intro_shown": True,
                                  "pending_confirmation": "safety:appeal_deadline"})
    dispatcher, _ = await run(ActionAnswer(), tracker)
    assert "three weeks" in texts(dispatcher)[0]


async def test_no_to_are_you_safe_is_a_crisis(db_url: str) -> None:
    tracker = make_tracker("no", "deny", language=EN,
                           slots={"language": "en", "pending_confirmation": "safety:housing_allowance"})
    dispatcher, events = await run(ActionAnswer(), tracker)
    assert FollowupAction("action_crisis") in events
    assert slot(events, "pending_confirmation") is None
    assert not dispatcher.messages


async def test_not_understood_with_signs_of_danger_is_asked_too(db_url: str) -> None:
    tracker = unsure("where i go now i wont need anything", "nlu_fallback")
    dispatcher, events = await run(ActionFallback(), tracker)
    assert "are you safe right now?" in texts(dispatcher)[0].lower()
    assert slot(events, "pending_confirmation") == "safety:nlu_fallback"
    assert slot(events, "fallback_count") == "unset"  # not counted as a failed attempt


async def test_safe_after_not_understood_goes_back_to_the_fallback(db_url: str) -> None:
    tracker = make_tracker("/safety_ok", "safety_ok", language=EN,
                           slots={"language": "en", "pending_confirmation": "safety:nlu_fallback"})
    _, events = await run(ActionAnswer(), tracker)
    assert FollowupAction("action_fallback") in events


async def test_button_payloads_are_never_asked(db_url: str) -> None:
    tracker = unsure("/appeal_how", "appeal_how")
    dispatcher, _ = await run(ActionAnswer(), tracker)
    assert "are you safe" not in texts(dispatcher)[0].lower()


async def test_every_language_has_the_question_and_its_buttons(db_url: str) -> None:
    from actions.common import content
    from bot.settings import LANGUAGES

    c = content()
    for lang in LANGUAGES:
        assert "112" in c.text("safety_question", lang)
        for key in ("button_safe", "button_not_safe", "button_call_112"):
            assert c.text(key, lang).strip()


def test_second_question_of_a_long_message_is_offered_first() -> None:
    text = ("i came from italy and they took my fingerprints there. now migrationsverket says "
            "dublin. how long do they have to send me back? and can i work while i wait?")
    tracker = make_tracker(text, "reentry_ban", ranking=[
        {"name": "reentry_ban", "confidence": 0.5},
        {"name": "work_permit", "confidence": 0.3},
        {"name": "appeal_how", "confidence": 0.1},
    ])
    assert second_topic(tracker, "reentry_ban") == "work_permit"
    short = make_tracker("re-entry ban?", "reentry_ban", ranking=[
        {"name": "reentry_ban", "confidence": 0.5}, {"name": "work_permit", "confidence": 0.3}])
    assert second_topic(short, "reentry_ban") is None
    unlikely = make_tracker(text, "reentry_ban", ranking=[
        {"name": "reentry_ban", "confidence": 0.9}, {"name": "work_permit", "confidence": 0.05}])
    assert second_topic(unlikely, "reentry_ban") is None
