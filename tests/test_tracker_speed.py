"""bot/tracker_speed.py: resumed applied events and a copy without replay equal Rasa's own after
every event of many conversations (answers, forms, follow-ups, reverted, restarted and new
sessions), and the rule policy's debug text is made only for a debug log."""

from __future__ import annotations

import logging
import random

import pytest
from rasa.shared.core.events import ActionExecuted, ActiveLoop, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import tracker_speed
from tests.test_past_states import DOMAIN, random_events

ORIGINAL_APPLIED = getattr(DialogueStateTracker.applied_events, "__wrapped__",
                           DialogueStateTracker.applied_events)  # fmt: skip
ORIGINAL_COPY = getattr(DialogueStateTracker.copy, "__wrapped__", DialogueStateTracker.copy)


def new_tracker() -> DialogueStateTracker:
    return DialogueStateTracker("t", DOMAIN.slots)


@pytest.mark.parametrize("seed", range(16))
def test_applied_events_equal_rasas_after_every_event(seed: int) -> None:
    rng = random.Random(seed)
    tracker = new_tracker()
    for event in random_events(rng, 60):
        tracker.update(event)
        ours = tracker_speed.applied_events(tracker)
        theirs = ORIGINAL_APPLIED(tracker)
        assert len(ours) == len(theirs)
        assert all(a is b for a, b in zip(ours, theirs, strict=True))
        # callers may change the list they get: the next call is not affected
        ours.clear()


def test_a_loop_name_seen_late_changes_earlier_events_as_in_rasa() -> None:
    """Rasa decides how a loop's earlier executions count by the loop names of all events: a
    new loop name means computing from the start."""
    tracker = new_tracker()
    for event in [ActionExecuted("action_listen"), ActionExecuted("deadline_form"),
                  ActionExecuted("action_listen"), ActionExecuted("deadline_form")]:  # fmt: skip
        tracker.update(event)
        tracker_speed.applied_events(tracker)
    tracker.update(ActiveLoop("deadline_form"))
    ours = tracker_speed.applied_events(tracker)
    theirs = ORIGINAL_APPLIED(tracker)
    assert [id(e) for e in ours] == [id(e) for e in theirs]
    assert len(theirs) < len(tracker.events)  # the earlier execution was taken back


def test_resumes_from_the_first_new_event() -> None:
    tracker = new_tracker()
    for i in range(10):
        tracker.update(ActionExecuted("action_listen"))
        tracker.update(UserUttered(f"fråga {i}", {"name": "ask", "confidence": 1.0}))
        tracker.update(ActionExecuted("action_answer"))
    first = tracker_speed.applied_events(tracker)
    assert len(first) == 30
    # an old event swapped behind the tracker's back is not looked at again: only new ones are
    tracker.events[1] = ActionExecuted("swapped_in")
    tracker.update(UserUttered("hej", {"name": "greet", "confidence": 1.0}))
    again = tracker_speed.applied_events(tracker)
    assert again[:-1] == first and again[-1].text == "hej"
    # a replaced event list is computed from the start
    tracker.events = tracker._create_events(list(tracker.events))
    assert any(getattr(e, "action_name", None) == "swapped_in"
               for e in tracker_speed.applied_events(tracker))  # fmt: skip


@pytest.mark.parametrize("seed", range(8))
def test_copy_equals_rasas_replay_after_every_event(seed: int) -> None:
    tracker = new_tracker()
    for event in random_events(random.Random(100 + seed), 40):
        tracker.update(event)
        ours = tracker_speed.copy_tracker(tracker)
        theirs = ORIGINAL_COPY(tracker)
        assert tracker_speed.tracker_difference(ours, theirs) == ""
        assert ours.current_state() == theirs.current_state()


def test_a_copy_changes_independently_of_its_original() -> None:
    tracker = new_tracker()
    for event in [ActionExecuted("action_listen"), SlotSet("country", "Iraq"),
                  ActionExecuted("deadline_form"), ActiveLoop("deadline_form")]:  # fmt: skip
        tracker.update(event)
    before = ORIGINAL_COPY(tracker)
    copied = tracker_speed.copy_tracker(tracker)
    copied.update(SlotSet("country", "Iran"))
    copied.update(ActionExecuted("action_answer"))
    copied.interrupt_loop(True)  # Rasa changes the active loop in place
    assert tracker_speed.tracker_difference(tracker, before) == ""
    assert tracker.get_slot("country") == "Iraq" and not tracker.is_active_loop_interrupted


def test_the_difference_names_what_differs() -> None:
    tracker = new_tracker()
    tracker.update(SlotSet("country", "Iraq"))
    other = ORIGINAL_COPY(tracker)
    other.slots["country"].value = "Iran"
    other._paused = True
    assert tracker_speed.tracker_difference(tracker, other) == "slots, _paused"


def test_rule_states_are_formatted_only_for_a_debug_log() -> None:
    from rasa.core.policies.policy import Policy

    states = [{"user": {"intent": "greet"}, "prev_action": {"action_name": "action_listen"}}]
    original = Policy.__dict__["format_tracker_states"]  # the staticmethod itself
    tracker_speed.install()
    rasa_logger = logging.getLogger("rasa")
    level = rasa_logger.level
    try:
        rasa_logger.setLevel(logging.INFO)
        assert Policy.format_tracker_states(states) == ""
        rasa_logger.setLevel(logging.DEBUG)
        assert "greet" in Policy.format_tracker_states(states)
    finally:
        rasa_logger.setLevel(level)
        Policy.format_tracker_states = original


@pytest.mark.parametrize("seed", range(8))
def test_copy_equals_rasas_replay_when_the_processor_cleared_the_followup(seed: int) -> None:
    """Rasa's processor clears a tracker's follow-up action without an event before it runs
    it: the copy, a replay in Rasa, has the follow-up action the events give."""
    tracker = new_tracker()
    rng = random.Random(200 + seed)
    for event in random_events(rng, 40):
        tracker.update(event)
        if rng.random() < 0.5:
            tracker.clear_followup_action()
        ours = tracker_speed.copy_tracker(tracker)
        theirs = ORIGINAL_COPY(tracker)
        assert tracker_speed.tracker_difference(ours, theirs) == ""


def test_the_followup_action_of_a_replay() -> None:
    from rasa.shared.core.events import FollowupAction, Restarted, UserUtteranceReverted

    replayed = tracker_speed.replayed_followup_action
    assert replayed([]) == "action_listen"
    assert replayed([FollowupAction("action_answer"), SlotSet("country", "x")]) == "action_answer"
    assert replayed([FollowupAction("action_answer"), ActionExecuted("action_answer")]) is None
    assert replayed([ActionExecuted("action_listen"), Restarted()]) == "action_session_start"
    assert replayed([UserUtteranceReverted()]) is tracker_speed._REPLAY
