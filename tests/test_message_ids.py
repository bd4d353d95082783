"""bot/message_ids.py: the replies that followed an earlier message with the same client id."""

from __future__ import annotations

from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUttered,
)

from bot.message_ids import client_message_id, earlier_replies


def conversation() -> list:
    return [
        SessionStarted(), ActionExecuted("action_listen"),
        UserUttered("hej", {"name": "greet"}, message_id="a1"),
        ActionExecuted("action_answer"), BotUttered("Hej!", {"buttons": [{"title": "x"}]}),
        BotUttered("Vad vill du veta?"), ActionExecuted("action_listen"),
        UserUttered("överklaga", {"name": "appeal"}, message_id="b2"),
        SlotSet("language", "sv"), ActionExecuted("action_answer"), BotUttered("Tre veckor."),
        ActionExecuted("action_listen"),
        UserUttered("tack", {"name": "thanks"}, message_id="c3"),
    ]  # fmt: skip


def test_replies_between_the_message_and_the_next_user_message() -> None:
    events = conversation()
    first = earlier_replies(events, "a1")
    assert [r["text"] for r in first] == ["Hej!", "Vad vill du veta?"]
    assert first[0]["buttons"] == [{"title": "x"}]
    assert [r["text"] for r in earlier_replies(events, "b2")] == ["Tre veckor."]
    assert earlier_replies(events, "c3") == []  # taken, its answer not made yet


def test_an_id_the_conversation_lacks_is_none() -> None:
    events = conversation()
    assert earlier_replies(events, "zz") is None
    assert earlier_replies([], "a1") is None
    # an event of another kind that happens to carry the attribute is not a user message
    odd = BotUttered("x")
    odd.message_id = "a9"  # type: ignore[attr-defined]
    assert earlier_replies([odd], "a9") is None


def test_client_ids_are_short_and_plain() -> None:
    assert client_message_id("abc-123_X") == "abc-123_X"
    for bad in ("", "a" * 65, "a b", "é", None, 7, "../x"):
        assert client_message_id(bad) is None


def test_only_a_message_of_the_same_channel_counts() -> None:
    """A REST message never matches an id stored by another channel (review C1.2, C1.8)."""
    events = [
        UserUttered("hej", {"name": "greet"}, message_id="telegram-42", input_channel="telegram"),
        BotUttered("Hej!"),
        UserUttered("fråga", {"name": "x"}, message_id="p1", input_channel="rest"),
        BotUttered("Svar från rådgivaren."),
    ]
    assert earlier_replies(events, "telegram-42", "rest") is None
    assert [r["text"] for r in earlier_replies(events, "telegram-42", "telegram")] == ["Hej!"]
    assert earlier_replies(events, "p1", "socketio") is None
    assert [r["text"] for r in earlier_replies(events, "p1", "rest")] == [
        "Svar från rådgivaren."]  # fmt: skip
