"""The dialogue states of a conversation, computed once per event instead of once per prediction.

Rasa 3.6's policies see a conversation as a list of states, one before each action
(``Domain.states_for_tracker_history``). To build it, Rasa replays the whole conversation on
an empty tracker and computes a state at every action, for every prediction of every policy:
3-4 predictions per message, each replaying everything from the session start. In a long
conversation this was the largest part of the Rasa process's time (`make bench
ARGS=--profile=one`: 38 % of a message's time in the rule policy's states alone).

The states before an action depend only on the events before it. Here the replay goes on from
where the last call for the same tracker (the tracker cache hands the same object to the next
message, bot/store/tracker_cache.py) and the same arguments stopped, as long as the events it
consumed are still the start of the conversation's applied events (the same objects, in the
same order: a reverted or restarted conversation is replayed from the start). The state after
the last event is computed fresh on every call, as Rasa does. Callers change the states they
get (Rasa's featurizers delete user text or intent in place), so each call returns copies.

The loop body is Rasa's own (rasa/shared/core/domain.py, ``states_for_tracker_history``).
With ``TRACKER_CACHE_VERIFY=1`` (the tests) Rasa's own function runs as well on every call and
an error is logged when the two differ.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

MEMO_ATTRIBUTE = "_past_states_memo"


@dataclass
class _Replay:
    domain: Any
    replay: Any  # a tracker with the consumed events applied
    consumed: list = field(default_factory=list)  # the applied events consumed so far
    states: list = field(default_factory=list)  # the states before each consumed action
    last_ml_action_sub_state: Any = None
    turn_was_hidden: bool = False


def _step(
    domain: Any, states: list, tr: Any, hide_rule_turn: bool,
    last_ml: Any, hidden: bool, omit_unset_slots: bool, ignore_rule_only_turns: bool,
    rule_only_data: dict | None,
) -> tuple[Any, bool]:  # fmt: skip
    """One pass of the loop in Rasa's ``states_for_tracker_history``."""
    from rasa.shared.core.constants import PREVIOUS_ACTION

    if ignore_rule_only_turns:
        if not hidden:
            last_ml = domain._get_prev_action_sub_state(tr)
        if not tr.followup_action and not tr.latest_action_name == tr.active_loop_name:
            hidden = hide_rule_turn
        if hidden:
            return last_ml, hidden
    state = domain.get_active_state(tr, omit_unset_slots=omit_unset_slots)
    if ignore_rule_only_turns:
        domain._remove_rule_only_features(state, rule_only_data)
        if states:
            domain._substitute_rule_only_user_input(state, states[-1])
        if last_ml:
            state[PREVIOUS_ACTION] = last_ml
    states.append(domain._clean_state(state))
    return last_ml, hidden


def _copy(state: dict) -> dict:
    return {key: dict(value) if isinstance(value, dict) else value for key, value in state.items()}


def states(
    domain: Any, tracker: Any, omit_unset_slots: bool = False,
    ignore_rule_only_turns: bool = False, rule_only_data: dict | None = None,
) -> list:  # fmt: skip
    """What ``domain.states_for_tracker_history(tracker, ...)`` returns, replayed only from
    where the previous call for this tracker and these arguments stopped."""
    from rasa.shared.core.events import ActionExecuted

    key = (omit_unset_slots, ignore_rule_only_turns,
           json.dumps(rule_only_data, sort_keys=True, default=repr))  # fmt: skip
    applied = tracker.applied_events()
    memos = tracker.__dict__.setdefault(MEMO_ATTRIBUTE, {})
    memo: _Replay | None = memos.get(key)
    if (
        memo is None
        or memo.domain is not domain
        or len(memo.consumed) > len(applied)
        or any(a is not b for a, b in zip(memo.consumed, applied, strict=False))
    ):
        memo = _Replay(domain, tracker.init_copy())
        memos[key] = memo
    for event in applied[len(memo.consumed):]:
        if isinstance(event, ActionExecuted):
            memo.last_ml_action_sub_state, memo.turn_was_hidden = _step(
                domain, memo.states, memo.replay, event.hide_rule_turn,
                memo.last_ml_action_sub_state, memo.turn_was_hidden,
                omit_unset_slots, ignore_rule_only_turns, rule_only_data,
            )  # fmt: skip
        memo.replay.update(event)
        memo.consumed.append(event)
    # the state after the last event: computed fresh, not kept (Rasa's final `yield tracker`)
    result = [_copy(state) for state in memo.states]
    _step(domain, result, memo.replay, False, memo.last_ml_action_sub_state,
          memo.turn_was_hidden, omit_unset_slots, ignore_rule_only_turns, rule_only_data)
    result[-1:] = [_copy(state) for state in result[-1:]]
    return result


def install() -> None:
    """Patch Rasa's ``Domain.states_for_tracker_history`` (the Rasa server only, not training)."""
    from rasa.shared.core.domain import Domain

    if getattr(Domain.states_for_tracker_history, "_resumable", False):
        return
    original = Domain.states_for_tracker_history
    verify = os.environ.get("TRACKER_CACHE_VERIFY", "") not in ("", "0", "false")

    def states_for_tracker_history(
        self: Domain, tracker: Any, omit_unset_slots: bool = False,
        ignore_rule_only_turns: bool = False, rule_only_data: dict | None = None,
    ) -> list:  # fmt: skip
        ours = states(self, tracker, omit_unset_slots, ignore_rule_only_turns, rule_only_data)
        if verify:
            theirs = original(self, tracker, omit_unset_slots, ignore_rule_only_turns,
                              rule_only_data)  # fmt: skip
            if ours != theirs:
                logger.error("past states: the resumed states differ from Rasa's (%d / %d)",
                             len(ours), len(theirs))  # fmt: skip
                tracker.__dict__.pop(MEMO_ATTRIBUTE, None)
                return theirs
        return ours

    states_for_tracker_history._resumable = True  # type: ignore[attr-defined]
    states_for_tracker_history.__wrapped__ = original  # type: ignore[attr-defined]
    Domain.states_for_tracker_history = states_for_tracker_history  # type: ignore[method-assign]
