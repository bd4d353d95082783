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
