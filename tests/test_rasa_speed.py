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


# --- the graph runner, the SQLite pragmas and the action call of the current turn ------------

MESSAGES = [
    "Hur lång tid har jag på mig att överklaga?", "how do I appeal", "hej", "tack",
    "كيف أستأنف القرار؟", "من می خواهم با یک انسان صحبت کنم", "я хочу умереть",
    "sidee racfaan u qaataa", "ብኽመይ ይግባይ እብል", "asdfgh qwerty", "",
]


@pytest.fixture(scope="module")
def agent():
    import asyncio

    from rasa.core.agent import Agent

    from bot.train import model_path

    loaded = Agent.load(str(model_path()))
    yield loaded
    asyncio.run(asyncio.sleep(0))


@pytest.mark.slow
async def test_graphs_run_directly_give_dasks_results(agent) -> None:
    """Every NLU parse and policy prediction of the real model: the direct run and dask's agree."""
    from rasa.core.channels.channel import UserMessage
    from rasa.engine.runner.dask import DaskGraphRunner
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot import rasa_speed

    install()
    processor = agent.processor
    runner = processor.graph_runner
    assert isinstance(runner, DaskGraphRunner)
    for text in MESSAGES:
        message = UserMessage(text, sender_id="x")
        direct = await processor.parse_message(message)
        with rasa_speed.dask_runner():
            by_dask = await processor.parse_message(message)
        assert direct == by_dask, text
        tracker = DialogueStateTracker.from_events(
            "x", [ActionExecuted("action_listen"), UserUttered(text, direct)],
            slots=processor.domain.slots,
        )
        predicted = processor._predict_next_with_tracker(tracker)
        with rasa_speed.dask_runner():
            by_dask = processor._predict_next_with_tracker(tracker)
        assert (predicted.policy_name, predicted.max_confidence, predicted.probabilities) == (
            by_dask.policy_name, by_dask.max_confidence, by_dask.probabilities), text


def test_graph_input_that_clashes_with_a_node_is_refused() -> None:
    from rasa.engine.exceptions import GraphRunError
    from rasa.engine.graph import GraphSchema, SchemaNode

    from bot.rasa_speed import run_graph

    class Runner:
        _graph_schema = GraphSchema(
            {"a": SchemaNode(needs={"x": "__in__"}, uses=object, constructor_name="c", fn="f",
                             config={})}
        )
        _instantiated_nodes = {"a": lambda arg: ("a", arg)}

    assert run_graph(Runner(), {"__in__": 5}, ["a"]) == {"a": ("__in__", 5)}
    with pytest.raises(GraphRunError):
        run_graph(Runner(), {"__in__": "a"}, ["a"])


async def test_sqlite_tracker_store_commits_without_a_flush_and_keeps_events(tmp_path) -> None:
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    install()
    domain = Domain.from_yaml("version: '3.1'\nintents: [greet]\n")
    store = SQLTrackerStore(domain, dialect="sqlite", db=str(tmp_path / "t.db"))
    from sqlalchemy.pool import QueuePool

    assert isinstance(store.engine.pool, QueuePool)  # connections kept open, not one per session
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    tracker = DialogueStateTracker.from_events(
        "s", [ActionExecuted("action_listen"), UserUttered("hej", {"name": "greet"})]
    )
    await store.save(tracker)
    again = SQLTrackerStore(domain, dialect="sqlite", db=str(tmp_path / "t.db"))
    assert [e.as_dict()["event"] for e in (await again.retrieve("s")).events] == [
        "action", "user"]


def _long_tracker(turns: int):
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.from_yaml(
        "version: '3.1'\nintents: [greet]\nslots:\n  language:\n    type: text\n"
        "    mappings: [{type: custom}]\n  deadline_date:\n    type: text\n"
        "    mappings: [{type: custom}]\n"
    )
    events = []
    for i in range(turns):
        events += [
            ActionExecuted("action_listen"),
            UserUttered(f"hej {i}", {"name": "greet", "confidence": 1.0},
                        input_channel="telegram" if i == turns - 1 else "rest"),
            SlotSet("language", "sv" if i % 2 else "ar"),
            ActionExecuted("action_answer"),
            BotUttered(f"svar {i}"),
        ]
    events += [ActionExecuted("validate_deadline_form"), SlotSet("deadline_date", "2026-12-01")]
    return DialogueStateTracker.from_events("s", events, slots=domain.slots), domain


def test_action_call_carries_the_current_turn_and_what_actions_read() -> None:
    from rasa.core.actions.action import RemoteAction
    from rasa_sdk import Tracker

    from bot.rasa_speed import ACTION_EVENTS_BEFORE

    tracker, domain = _long_tracker(60)
    full = tracker.current_state(__import__("rasa.shared.core.trackers", fromlist=["x"])
                                 .EventVerbosity.ALL)
    install()
    body = RemoteAction("action_answer", None)._action_call_format(tracker, domain)
    sent = body["tracker"]
    assert len(full["events"]) == 302
    assert len(sent["events"]) == ACTION_EVENTS_BEFORE + 6  # the last user event and after
    assert sent["events"] == full["events"][-len(sent["events"]):]
    assert {k: v for k, v in sent.items() if k != "events"} == {
        k: v for k, v in full.items() if k != "events"}
    # what rasa_sdk's actions and forms read is the same as from the whole conversation
    trimmed, whole = Tracker.from_dict(sent), Tracker.from_dict(full)
    assert trimmed.slots == whole.slots and trimmed.latest_message == whole.latest_message
    assert trimmed.get_latest_input_channel() == whole.get_latest_input_channel() == "telegram"
    assert trimmed.slots_to_validate() == whole.slots_to_validate() == {
        "deadline_date": "2026-12-01"}
    assert trimmed.active_loop == whole.active_loop
    assert body["next_action"] == "action_answer" and body["sender_id"] == "s"


def test_event_classes_resolve_as_rasa_resolves_them() -> None:
    from rasa.shared.core.events import Event, SlotSet, UserUttered
    from rasa.shared.utils.common import all_subclasses

    install()
    original = Event.resolve_by_type.__wrapped__
    for cls in all_subclasses(Event):
        assert Event.resolve_by_type(cls.type_name) is original(cls.type_name), cls
        assert Event.resolve_by_type(cls.type_name) is original(cls.type_name)  # remembered
    assert Event.resolve_by_type("user") is UserUttered
    assert Event.resolve_by_type("slot") is SlotSet
    assert Event.resolve_by_type("topic") is None
    assert Event.resolve_by_type("no_such_event", SlotSet) is SlotSet
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("no_such_event")
    assert Event.from_parameters({"event": "slot", "name": "language", "value": "sv"}) == SlotSet(
        "language", "sv")


async def test_sql_store_reads_the_same_events_as_rasas_orm_query(tmp_path) -> None:
    """The latest session's events, in order, exactly as Rasa's own query returns them."""
    import json

    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import (
        ActionExecuted,
        BotUttered,
        SessionStarted,
        SlotSet,
        UserUttered,
    )
    from rasa.shared.core.trackers import DialogueStateTracker

    install()
    domain = Domain.from_yaml(
        "version: '3.1'\nintents: [greet]\nslots:\n  language:\n    type: text\n"
        "    mappings: [{type: custom}]\n"
    )
    store = SQLTrackerStore(domain, dialect="sqlite", db=str(tmp_path / "t.db"))
    turn = [ActionExecuted("action_listen"), UserUttered("hej", {"name": "greet"}),
            SlotSet("language", "sv"), BotUttered("svar")]
    events = [SessionStarted(timestamp=1.0), *[type(e).from_parameters(
        {**e.as_dict(), "timestamp": 2.0}) for e in turn]]
    events += [SessionStarted(timestamp=10.0), *[type(e).from_parameters(
        {**e.as_dict(), "timestamp": 11.0}) for e in turn]]
    await store.save(DialogueStateTracker.from_events("s", events, slots=domain.slots))
    with store.session_scope() as session:
        expected = [json.loads(row.data)
                    for row in store._event_query(session, "s", False).all()]
        everything = [json.loads(row.data)
                      for row in store._event_query(session, "s", True).all()]
    latest = await store.retrieve("s")
    assert [e.as_dict() for e in latest.events] == expected
    assert len(expected) == 5 and len(everything) == 10  # the latest session only
    assert latest.get_slot("language") == "sv"
    full = await store.retrieve_full_tracker("s")
    assert [e.as_dict() for e in full.events] == everything
    assert await store.retrieve("nobody") is None


def test_the_server_runs_tensorflow_and_diet_without_jax() -> None:
    """bot.rasa_server keeps TensorFlow from importing jax (about 100 MB): TensorFlow and
    Rasa's DIET still import and run a layer; jax stays out of the process."""
    from tests.helpers import python_child

    out = python_child(
        "import sys",
        "from bot.rasa_server import skip_unused_imports",
        "skip_unused_imports()",
        "import tensorflow as tf",
        "import rasa.nlu.classifiers.diet_classifier",
        "assert float(tf.keras.layers.Dense(1, kernel_initializer='ones')(tf.ones((1, 2)))) == 2",
        "assert 'jaxlib' not in sys.modules and sys.modules.get('jax') is None",
        "print('ok')",
    )
    assert out.strip().endswith("ok")


def every_event_type() -> list[dict]:
    """One event of each type Rasa's schema knows, as Rasa serialises it (Event.as_dict)."""
    from rasa.shared.core import events as e

    made = [
        e.UserUttered("hej", {"name": "greet", "confidence": 0.9},
                      [{"entity": "language", "value": "ar", "start": 0, "end": 3}],
                      input_channel="rest", message_id="m1"),
        e.ActionExecuted("action_answer", policy="RulePolicy", confidence=1.0),
        e.SlotSet("language", "ar"), e.EntitiesAdded([{"entity": "country", "value": "Iraq"}]),
        e.DefinePrevUserUtteredFeaturization(False),
        e.ReminderCancelled(name="r"), e.ActionExecutionRejected("action_x"),
        e.LoopInterrupted(True), e.ActiveLoop("form"), e.AllSlotsReset(),
        e.ConversationResumed(), e.ConversationPaused(), e.FollowupAction("action_answer"),
        e.StoryExported(), e.Restarted(), e.UserUtteranceReverted(), e.ActionReverted(),
        e.BotUttered("svar", {"buttons": []}), e.SessionStarted(),
        e.AgentUttered("text"),
    ]  # fmt: skip
    return [event.as_dict() for event in made]


def mutations(event: dict, rng) -> list[dict]:  # type: ignore[no-untyped-def]
    out = []
    for key in event:
        out.append({k: v for k, v in event.items() if k != key})  # a key missing
        for wrong in (None, 3, "x", [], {}, 1.5, True):
            out.append({**event, key: wrong})  # a value of another type
    for kind in ("user", "slot", "bot", "nonexistent", "", None, 7):
        out.append({**event, "event": kind})  # another event type's name
    out.append({**event, "extra": rng.random()})
    return out


def test_event_by_event_check_agrees_with_the_whole_schema() -> None:
    """Over every event type and many broken variants of each: a response recognised event by
    event is one the whole schema accepts, every response the schema accepts with real events
    is recognised so (the fast path is taken), and the verdict and message equal Rasa's."""
    import random

    from bot.rasa_speed import fits_by_event_type

    rng = random.Random(9)
    events = every_event_type()
    assert len({e["event"] for e in events}) >= 20
    cases = [{"events": events, "responses": [{"text": "svar"}]}]
    for event in events:
        cases.append({"events": [event]})
        cases += [{"events": [rng.choice(events), broken]} for broken in mutations(event, rng)]
    cases += [{"events": None}, {"events": [None]}, {"events": [[]]}, {"responses": None}]
    # what jsonschema.validate(result, SCHEMA) does, with its schema check done once
    whole = jsonschema.validators.validator_for(SCHEMA)(SCHEMA)
    fast = accepted = 0
    for result in cases:
        error = jsonschema.exceptions.best_match(whole.iter_errors(result))
        expected = None if error is None else error.message
        quick = fits_by_event_type(result)
        assert not (quick and expected is not None), result  # never accepts what Rasa refuses
        if expected is None:
            accepted += 1
            fast += quick
        try:
            validate_action_response(result)
            got = None
        except jsonschema.ValidationError as error:
            got = error.message
        assert got == expected, result
    assert accepted > 100 and len(cases) - accepted > 200  # both kinds are well represented
    assert fast == accepted  # every accepted response was recognised without the whole schema


def test_debug_event_arguments_are_copied_only_when_they_can_be_logged() -> None:
    """rasa/core/processor.py deep-copies values only as structlog debug arguments: with debug
    events dropped (Rasa's configuration at INFO) the value itself is passed, at DEBUG a copy."""
    import ast
    import logging
    from pathlib import Path

    import rasa.core.processor as processor
    import structlog
    from rasa.utils.log_utils import configure_structlog

    from bot.rasa_speed import debug_events_dropped

    install()
    tree = ast.parse(Path(processor.__file__).read_text())
    uses = [node for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id == "copy"]  # fmt: skip
    as_debug_arguments = [
        keyword.value.func for node in ast.walk(tree) if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute) and node.func.attr == "debug"
        and getattr(node.func.value, "id", "") == "structlogger"
        for keyword in node.keywords if isinstance(keyword.value, ast.Call)
    ]  # fmt: skip
    # every use of `copy` there is `copy.deepcopy(...)` as an argument of a debug event
    assert len(uses) >= 5 and all(use.attr == "deepcopy" for use in uses)
    assert all(any(use is arg for arg in as_debug_arguments) for use in uses)
    value = [{"event": "slot", "value": ["a"]}]
    root_level = logging.getLogger().level
    saved = structlog.get_config()
    try:
        configure_structlog(logging.INFO)
        assert debug_events_dropped()
        assert processor.copy.deepcopy(value) is value
        configure_structlog(logging.DEBUG)
        assert not debug_events_dropped()
        copied = processor.copy.deepcopy(value)
        assert copied == value and copied is not value and copied[0] is not value[0]
    finally:
        structlog.configure(**saved)
        logging.getLogger().setLevel(root_level)
