"""Per-message work Rasa 3.6 repeats for nothing, done once instead.

Measured with py-spy on the running server (`make bench`, 2 cores): more than half of the Rasa
process's busy time went to ``jsonschema.validate`` in ``RemoteAction._validate_action_result``,
which re-checks Rasa's own response schema against the JSON-Schema meta-schema (with its
``$dynamicRef`` resolution) for every answer of the action server, twice per message here.
The response is still validated, against the same schema, with the same error; only the schema
check and the validator construction happen once per process.

Second, ``action_validate_slot_mappings`` (actions/guard.py) is called by Rasa on every user turn,
each time with the whole tracker rebuilt and sent to the action server; the guard acts only in a
paused conversation and returns nothing otherwise. Outside a pause the call is skipped, with the
result Rasa would have computed from the guard's empty answer: the extracted slot events.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def _response_validator() -> Any:
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_action_response(result: dict[str, Any]) -> None:
    """What ``jsonschema.validate(result, schema)`` does, with a validator built once: raises
    the best-matching ``ValidationError`` when ``result`` does not fit."""
    from jsonschema.exceptions import best_match

    error = best_match(_response_validator().iter_errors(result))
    if error is not None:
        raise error


def install() -> None:
    """Replace RemoteAction._validate_action_result with the cached validator (same message)."""
    from jsonschema import ValidationError
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    if getattr(RemoteAction._validate_action_result, "_cached", False):
        return

    def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        try:
            validate_action_response(result)
            return True
        except ValidationError as e:
            e.message += (
                f". Failed to validate Action server response from API, "
                f"make sure your response from the Action endpoint is valid. "
                f"For more information about the format visit "
                f"{DOCS_BASE_URL}/custom-actions"
            )
            raise e

    _validate_action_result._cached = True  # type: ignore[attr-defined]
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    _skip_guard_outside_a_pause()


def _skip_guard_outside_a_pause() -> None:
    from rasa.core.actions.action import ActionExtractSlots
    from rasa.shared.core.events import SlotSet

    original = ActionExtractSlots._execute_validation_action

    async def _execute_validation_action(
        self: ActionExtractSlots, extraction_events: list, output_channel: Any, nlg: Any,
        tracker: Any, domain: Any,
    ) -> list:
        if not tracker.is_paused():
            # what Rasa returns when the validation action answers [] (actions/guard.py)
            return [event for event in extraction_events if isinstance(event, SlotSet)]
        return await original(self, extraction_events, output_channel, nlg, tracker, domain)

    ActionExtractSlots._execute_validation_action = _execute_validation_action  # type: ignore
