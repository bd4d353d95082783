"""The resumed dialogue states (bot/past_states.py) equal Rasa's own
``Domain.states_for_tracker_history`` after every event of many conversations: answers, forms,
rule-only turns, follow-up actions, reverted and restarted conversations, new sessions, with
every argument combination the policies use; and on this assistant's real domain."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    BotUttered,
    FollowupAction,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot import past_states

ROOT = Path(__file__).resolve().parent.parent
ORIGINAL = Domain.states_for_tracker_history
if getattr(ORIGINAL, "_resumable", False):  # installed by another test in this process
    ORIGINAL = ORIGINAL.__wrapped__  # pragma: no cover

DOMAIN = Domain.from_yaml(
    """
version: '3.1'
intents: [greet, ask, affirm, deny, inform]
entities: [country]
slots:
  language: {type: categorical, values: [sv, ar], mappings: [{type: custom}]}
  country: {type: text, influence_conversation: true, mappings: [{type: from_entity, entity: country}]}
  pending: {type: text, influence_conversation: true, mappings: [{type: custom}]}
  date: {type: text, influence_conversation: false, mappings: [{type: custom}]}
forms:
  deadline_form: {required_slots: [date]}
responses:
  utter_greet: [{text: hej}]
actions: [action_answer, validate_deadline_form]
"""
)
ARGUMENTS = [
    (False, False, None),
    (True, False, None),
    (False, True, {"slots": ["pending"], "active_loops": ["deadline_form"]}),
    (True, True, {"slots": [], "active_loops": []}),
]


def random_events(rng: random.Random, n: int) -> list:
    events: list = [ActionExecuted("action_session_start"), SessionStarted(),
                    ActionExecuted("action_listen")]  # fmt: skip
    for _ in range(n):
        kind = rng.random()
        if kind < 0.45:
            intent = rng.choice(["greet", "ask", "affirm", "deny", "inform"])
            entities = [{"entity": "country", "value": "Iraq", "start": 0, "end": 4}] if (
                rng.random() < 0.3) else []  # fmt: skip
            events += [
                UserUttered(f"text {rng.random()}", {"name": intent, "confidence": 0.9}, entities),
                ActionExecuted("action_answer", hide_rule_turn=rng.random() < 0.3),
                BotUttered("svar"),
                ActionExecuted("action_listen", hide_rule_turn=rng.random() < 0.2),
            ]
        elif kind < 0.55:
            events += [SlotSet(rng.choice(["language", "country", "pending", "date"]),
                               rng.choice(["sv", "ar", None, "x"]))]  # fmt: skip
        elif kind < 0.65:
            events += [ActionExecuted("deadline_form"), ActiveLoop("deadline_form"),
                       ActionExecuted("action_listen"),
                       UserUttered("3 november", {"name": "inform", "confidence": 1.0}),
                       ActionExecuted("deadline_form"), SlotSet("date", "2026-11-03"),
                       ActiveLoop(None), ActionExecuted("action_listen")]  # fmt: skip
        elif kind < 0.72:
            events += [FollowupAction("action_answer"), ActionExecuted("action_answer"),
                       ActionExecuted("action_listen")]  # fmt: skip
        elif kind < 0.78:
            events += [UserUtteranceReverted()]
        elif kind < 0.83:
            events += [ActionReverted()]
        elif kind < 0.86:
            events += [Restarted(), ActionExecuted("action_listen")]
        elif kind < 0.88:
            events += [ActionExecuted("action_session_start"), SessionStarted(),
                       ActionExecuted("action_listen")]  # fmt: skip
        else:
            events += [ActionExecuted("action_listen")]
    return events


@pytest.mark.parametrize("seed", range(12))
def test_same_states_as_rasa_after_every_event(seed: int) -> None:
    rng = random.Random(seed)
    events = random_events(rng, 40)
    tracker = DialogueStateTracker("s", DOMAIN.slots)
    checked = 0
    for i, event in enumerate(events):
        tracker.update(event)
        # not after every event: a revert followed by new events, both since the last call,
        # must be noticed by what the events are, not by how many there are
        if rng.random() < 0.6 and i < len(events) - 1:
            continue
        for omit, ignore, rule_only in ARGUMENTS:
            ours = past_states.states(DOMAIN, tracker, omit, ignore, rule_only)
            theirs = ORIGINAL(DOMAIN, tracker, omit, ignore, rule_only)
            assert ours == theirs, (seed, len(tracker.events), omit, ignore)
            checked += 1
            # callers change what they get (Rasa's featurizer deletes the user text of every
            # state that has an intent): the next call is not affected
            for state in ours:
                state.pop("user", None)
                state.get("prev_action", {}).clear()
    assert checked >= 8 * len(ARGUMENTS)
    assert past_states.MEMO_ATTRIBUTE in tracker.__dict__  # resumed, not rebuilt


def test_a_revert_with_more_new_events_than_it_removed_is_replayed() -> None:
    tracker = DialogueStateTracker.from_events("s", random_events(random.Random(3), 10),
                                               slots=DOMAIN.slots)  # fmt: skip
    for event in [UserUttered("a", {"name": "greet"}), ActionExecuted("action_answer"),
                  ActionExecuted("action_listen")]:  # fmt: skip
        tracker.update(event)
    assert past_states.states(DOMAIN, tracker) == ORIGINAL(DOMAIN, tracker)
    for event in [UserUtteranceReverted(), UserUttered("b", {"name": "deny"}),
                  ActionExecuted("utter_greet"), ActionExecuted("action_listen"),
                  UserUttered("c", {"name": "affirm"}), ActionExecuted("action_answer")]:
        tracker.update(event)  # fmt: skip
    assert past_states.states(DOMAIN, tracker) == ORIGINAL(DOMAIN, tracker)


def test_resumes_instead_of_replaying() -> None:
    """The second call replays only the new events (counted on the kept replay tracker)."""
    tracker = DialogueStateTracker.from_events("s", random_events(random.Random(1), 30),
                                               slots=DOMAIN.slots)  # fmt: skip
    past_states.states(DOMAIN, tracker)
    memo = tracker.__dict__[past_states.MEMO_ATTRIBUTE][(False, False, "null")]
    replay, consumed = memo.replay, len(memo.consumed)
    new = [UserUttered("ny", {"name": "ask"}), ActionExecuted("action_answer")]
    for event in new:
        tracker.update(event)
    assert past_states.states(DOMAIN, tracker) == ORIGINAL(DOMAIN, tracker)
    assert memo.replay is replay and len(memo.consumed) == consumed + len(new)


def test_real_domain_and_another_domain_object_starts_again() -> None:
    domain = Domain.load(str(ROOT / "domain.yml"))
    events = [ActionExecuted("action_session_start"), SessionStarted(),
              ActionExecuted("action_listen"),
              UserUttered("Hur överklagar jag?", {"name": "appeal_how", "confidence": 0.9}),
              SlotSet("language", "sv"), ActionExecuted("action_answer"), BotUttered("svar"),
              ActionExecuted("action_listen")]  # fmt: skip
    tracker = DialogueStateTracker.from_events("s", events, slots=domain.slots)
    assert past_states.states(domain, tracker) == ORIGINAL(domain, tracker)
    other = Domain.load(str(ROOT / "domain.yml"))  # a new model: nothing kept is reused
    assert past_states.states(other, tracker) == ORIGINAL(other, tracker)
    memo = tracker.__dict__[past_states.MEMO_ATTRIBUTE][(False, False, "null")]
    assert memo.domain is other


@pytest.mark.parametrize("seed", range(6))
def test_rasas_featurizer_gets_rasas_states_call_after_call(seed: int) -> None:
    """The real caller: the rule policy's featurizer (MaxHistoryTrackerFeaturizer, no history
    limit), which changes the states in place (the last one's text or intent, every other one's
    text where it has an intent), with the text then the intent of the last message, as the
    rule policy calls it twice per prediction."""
    from rasa.core.featurizers.tracker_featurizers import MaxHistoryTrackerFeaturizer

    featurizer = MaxHistoryTrackerFeaturizer(state_featurizer=None, max_history=None)
    rng = random.Random(seed)
    tracker = DialogueStateTracker("s", DOMAIN.slots)
    for event in random_events(rng, 30):
        tracker.update(event)
        for use_text in (True, False):
            results = []
            for function in (resumed, ORIGINAL):
                saved = Domain.states_for_tracker_history
                Domain.states_for_tracker_history = function  # type: ignore[method-assign]
                try:
                    results.append(featurizer.prediction_states([tracker], DOMAIN, use_text))
                finally:
                    Domain.states_for_tracker_history = saved  # type: ignore[method-assign]
            assert results[0] == results[1]
    assert past_states.MEMO_ATTRIBUTE in tracker.__dict__


def resumed(domain, tracker, omit_unset_slots=False, ignore_rule_only_turns=False,  # type: ignore[no-untyped-def]
            rule_only_data=None):
    return past_states.states(domain, tracker, omit_unset_slots, ignore_rule_only_turns,
                              rule_only_data)  # fmt: skip
