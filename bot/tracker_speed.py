"""Three things Rasa 3.6 recomputes from the whole conversation several times per message, done
from where the previous computation stopped, or not at all when nobody reads the result.

Measured with py-spy on the GIL holder of the Rasa process (`make bench`, 20 users): the time
that grew with the conversation was ``DialogueStateTracker.applied_events`` (6 % of the samples
in the function itself, most of ``abc.__instancecheck__``'s 6 % below it: one isinstance test
per event and per call, 5-6 calls per message), ``tracker.copy()`` in
``MessageProcessor._run_action`` (4.6 %: the whole conversation replayed onto a new tracker for
every action) and ``RulePolicy.format_tracker_states`` (1.5 %: every dialogue state formatted as
text for a debug log line, also when debug logging is off).

1. ``applied_events`` (the events without the reverted ones) is kept on the tracker with the
   events it was computed from, and goes on from the first new event while the tracker's event
   list is the same list, only appended to (its length and its last known event are checked).
   An ``ActiveLoop`` event with a loop name not seen before changes how earlier events count
   (Rasa's ``loop_names`` are taken from all events): then it is computed from the start, as
   it is whenever the events were replaced. The loop body is Rasa's. Callers get a new list.
2. ``tracker.copy()``: a new tracker with the same events, slots (each slot copied, values
   shared, exactly as a replay shares them with the events), pause flag, latest action, message
   and bot utterance, and active loop: the state Rasa's replay of every event arrives at,
   without replaying. The follow-up action is the replay's, found from the last event that sets
   it (Rasa's processor clears the tracker's own without an event); after a revert, where only
   a replay can tell, the copy is Rasa's replay.
3. ``format_tracker_states`` returns the text only when Rasa's debug logging is on.

With ``TRACKER_CACHE_VERIFY=1`` (the tests) Rasa's own ``applied_events`` and replayed copy run
as well on every call, and an error is logged (and Rasa's result used) when they differ.
"""

from __future__ import annotations

import copy as copy_module
import itertools
import logging
import os
from dataclasses import dataclass
from typing import Any

from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    FollowupAction,
    Restarted,
    SessionStarted,
    UserUtteranceReverted,
    UserUttered,
)

logger = logging.getLogger(__name__)

APPLIED_ATTRIBUTE = "_applied_events_memo"


@dataclass
class _Applied:
    events: Any  # the tracker's event deque this was computed from
    count: int  # how many of its events were consumed
    last: Any  # the last consumed event
    loop_names: set  # names of ActiveLoop events among them
    applied: list  # Rasa's applied events of the consumed events


def applied_events(tracker: Any) -> list:
    """What Rasa's ``tracker.applied_events()`` returns, computed from the first new event."""
    events = tracker.events
    count = len(events)
    memo: _Applied | None = tracker.__dict__.get(APPLIED_ATTRIBUTE)
    if (
        memo is not None
        and memo.events is events
        and memo.count <= count
        and (memo.count == 0 or events[memo.count - 1] is memo.last)
    ):
        new = list(itertools.islice(events, memo.count, None))
        names = {e.name for e in new if isinstance(e, ActiveLoop) and e.name}
        if names <= memo.loop_names:
            applied = list(memo.applied)
            loop_names = memo.loop_names
        else:
            memo = None
    else:
        memo = None
    if memo is None:
        new = list(events)
        loop_names = {e.name for e in new if isinstance(e, ActiveLoop) and e.name}
        applied = []
    # Rasa 3.6's loop (rasa/shared/core/trackers.py, DialogueStateTracker.applied_events)
    for event in new:
        if isinstance(event, (Restarted, SessionStarted)):  # noqa: UP038 (Rasa's; tuples are faster)
            applied = []
        elif isinstance(event, ActionReverted):
            tracker._undo_till_previous(ActionExecuted, applied)
        elif isinstance(event, UserUtteranceReverted):
            tracker._undo_till_previous(UserUttered, applied)
            tracker._undo_till_previous(ActionExecuted, applied)
        elif (
            isinstance(event, ActionExecuted)
            and event.action_name in loop_names
            and not tracker._first_loop_execution_or_unhappy_path(event.action_name, applied)
        ):
            tracker._undo_till_previous_loop_execution(event.action_name, applied)
        else:
            applied.append(event)
    tracker.__dict__[APPLIED_ATTRIBUTE] = _Applied(
        events, count, events[-1] if count else None, loop_names, list(applied)
    )
    return applied


_REPLAY = object()


def replayed_followup_action(events: Any) -> Any:
    """The follow-up action a replay of ``events`` ends with. Rasa's processor clears a
    tracker's follow-up action directly, without an event, so the tracker's own value can
    differ from its replay's; ``_REPLAY`` when only a replay can tell (a revert replays the
    applied events again)."""
    for event in reversed(events):
        if isinstance(event, (UserUttered, ActionExecuted)):  # noqa: UP038
            return None
        if isinstance(event, FollowupAction):
            return event.action_name
        if isinstance(event, Restarted):
            return ACTION_SESSION_START_NAME
        if isinstance(event, SessionStarted):
            return ACTION_LISTEN_NAME
        if isinstance(event, (UserUtteranceReverted, ActionReverted)):  # noqa: UP038
            return _REPLAY
    return ACTION_LISTEN_NAME


def copy_tracker(tracker: Any) -> Any:
    """What Rasa's ``tracker.copy()`` returns (a replay of every event on a new tracker)."""
    followup_action = replayed_followup_action(tracker.events)
    if followup_action is _REPLAY:
        return tracker.travel_back_in_time(float("inf"))  # Rasa's copy
    new = tracker.init_copy()
    new.events = new._create_events(list(tracker.events))
    new.slots = {name: copy_module.copy(slot) for name, slot in tracker.slots.items()}
    new._paused = tracker._paused
    new.followup_action = followup_action
    new.latest_action = dict(tracker.latest_action) if tracker.latest_action is not None else None
    new.latest_message = tracker.latest_message
    new.latest_bot_utterance = tracker.latest_bot_utterance
    new.active_loop = copy_module.copy(tracker.active_loop)  # changed in place by Rasa
    return new


def _slot_state(tracker: Any) -> dict:
    return {name: (type(slot), slot.value, getattr(slot, "_has_been_set", None))
            for name, slot in tracker.slots.items()}  # fmt: skip


def tracker_difference(a: Any, b: Any) -> str:
    """Which attributes of two trackers differ (names only, no values: no personal data)."""
    names = []
    if list(a.events) != list(b.events) or any(
        x is not y for x, y in zip(a.events, b.events, strict=False)
    ):
        names.append("events")
    if a.events.maxlen != b.events.maxlen:
        names.append("events.maxlen")
    if _slot_state(a) != _slot_state(b):
        names.append("slots")
    for name in ("sender_id", "sender_source", "is_rule_tracker", "_max_event_history", "_paused",
                 "followup_action", "latest_action", "active_loop", "model_id", "assistant_id"):  # fmt: skip
        if getattr(a, name) != getattr(b, name):
            names.append(name)
    for name in ("latest_message", "latest_bot_utterance"):
        x, y = getattr(a, name), getattr(b, name)
        if x is not y and x != y:
            names.append(name)
    return ", ".join(names)


def verifying() -> bool:
    """TRACKER_CACHE_VERIFY is on (the tests): every shortcut is also made Rasa's way."""
    return os.environ.get("TRACKER_CACHE_VERIFY", "") not in ("", "0", "false")


def install() -> None:
    """Patch the Rasa server's trackers and RulePolicy (not training: `rasa train` never calls
    this)."""
    from rasa.core.policies.policy import Policy
    from rasa.shared.core.trackers import DialogueStateTracker

    if getattr(DialogueStateTracker.applied_events, "_resumable", False):
        return
    original_applied = DialogueStateTracker.applied_events
    original_copy = DialogueStateTracker.copy
    original_format = Policy.format_tracker_states
    verify = verifying()

    def patched_applied_events(self: DialogueStateTracker) -> list:
        ours = applied_events(self)
        if verify:
            theirs = original_applied(self)
            if len(ours) != len(theirs) or any(
                a is not b for a, b in zip(ours, theirs, strict=False)
            ):
                logger.error("applied events: the resumed list differs from Rasa's (%d / %d)",
                             len(ours), len(theirs))  # fmt: skip
                self.__dict__.pop(APPLIED_ATTRIBUTE, None)
                return theirs
        return ours

    def patched_copy(self: DialogueStateTracker) -> DialogueStateTracker:
        ours = copy_tracker(self)
        if verify:
            theirs = original_copy(self)
            difference = tracker_difference(ours, theirs)
            if difference:
                logger.error("tracker copy: differs from Rasa's replay (%s)", difference)
                return theirs
        return ours

    def format_tracker_states(states: list) -> str:
        if not logging.getLogger("rasa").isEnabledFor(logging.DEBUG):
            return ""
        return original_format(states)

    patched_applied_events._resumable = True  # type: ignore[attr-defined]
    patched_applied_events.__wrapped__ = original_applied  # type: ignore[attr-defined]
    patched_copy.__wrapped__ = original_copy  # type: ignore[attr-defined]
    DialogueStateTracker.applied_events = patched_applied_events  # type: ignore[method-assign]
    DialogueStateTracker.copy = patched_copy  # type: ignore[method-assign]
    Policy.format_tracker_states = staticmethod(format_tracker_states)  # type: ignore[method-assign]
