"""The cached action-response validation behaves exactly like Rasa's own jsonschema.validate."""

from __future__ import annotations

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

from bot.rasa_speed import install, validate_action_response

SCHEMA = RemoteAction.action_response_format_spec()

VALID = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "language", "value": "ar"}],
     "responses": [{"text": "hej", "buttons": []}]},
    {"events": [{"event": "pause"}, {"event": "followup", "name": "action_answer"}]},
    {},
]
INVALID = [
    {"events": "not a list"},
    {"events": [{"event": "slot", "name": 3}]},
    {"responses": ["text instead of an object"]},
    {"events": [{"no_event_key": True}]},
    [],
]


@pytest.mark.parametrize("result", VALID + INVALID)
def test_same_verdict_and_message_as_jsonschema_validate(result) -> None:
    try:
        jsonschema.validate(result, SCHEMA)
        expected = None
    except jsonschema.ValidationError as error:
        expected = error.message
    try:
        validate_action_response(result)
        got = None
    except jsonschema.ValidationError as error:
        got = error.message
    assert got == expected
    assert (expected is None) == (result in VALID)


def test_installed_on_remote_action_keeps_rasas_error_text() -> None:
    install()
    action = RemoteAction("action_answer", None)
    assert action._validate_action_result({"events": []}) is True
    with pytest.raises(jsonschema.ValidationError, match="Failed to validate Action server"):
        action._validate_action_result({"events": "x"})


async def test_guard_is_called_only_in_a_paused_conversation(monkeypatch) -> None:
    """Outside a pause the guard (actions/guard.py) answers [], so Rasa's result is the slot
    events; the HTTP call is skipped. In a pause it is called as before."""
    from rasa.core.actions.action import ActionExtractSlots
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, ConversationPaused, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    install()
    domain = Domain.from_yaml(
        "version: '3.1'\nintents: [deny]\nslots:\n  language:\n    type: text\n"
        "    mappings: [{type: custom}]\nactions: [action_validate_slot_mappings]\n"
    )
    calls: list[str] = []

    async def fake_run_custom_action(self, name, output_channel, nlg, tracker, domain):
        calls.append(name)
        return [SlotSet("language", "ar")]

    monkeypatch.setattr(ActionExtractSlots, "_run_custom_action", fake_run_custom_action)
    action = ActionExtractSlots(None)
    extracted = [SlotSet("language", "sv")]
    events = [ActionExecuted("action_listen"), UserUttered("nej", {"name": "deny"})]

    calm = DialogueStateTracker.from_events("a", events, slots=domain.slots)
    assert await action._execute_validation_action(extracted, None, None, calm, domain) == extracted
    assert calls == []

    paused = DialogueStateTracker.from_events("b", [ConversationPaused(), *events],
                                              slots=domain.slots)
    result = await action._execute_validation_action(extracted, None, None, paused, domain)
    assert calls == ["action_validate_slot_mappings"]
    assert result == [SlotSet("language", "ar")]
