"""Per-message work Rasa 3.6 repeats for nothing, done once instead.

Measured with py-spy on the running server (`make bench`, 2 cores): more than half of the Rasa
process's busy time went to ``jsonschema.validate`` in ``RemoteAction._validate_action_result``,
which re-checks Rasa's own response schema against the JSON-Schema meta-schema (with its
``$dynamicRef`` resolution) for every answer of the action server, twice per message here.
The response is still validated, against the same schema, with the same error; only the schema
check and the validator construction happen once per process. A response that fits is
recognised event by event, each event against its own type's part of the schema, instead of
against all 23 alternatives of the schema's ``oneOf`` (10 % of the process's time in cProfile
at 20 users); anything else is checked by the whole schema.

Second, ``action_validate_slot_mappings`` (actions/guard.py) is called by Rasa on every user turn,
each time with the whole tracker rebuilt and sent to the action server; the guard acts only in a
paused conversation and returns nothing otherwise. Outside a pause the call is skipped, with the
result Rasa would have computed from the guard's empty answer: the extracted slot events.

Third, Rasa runs its graphs (NLU for every message, the policies for every predicted action,
3-4 runs per message) through dask's synchronous scheduler, with the minimal sub-graph rebuilt
each time. Here the same nodes run in the same dependency order, directly, the sub-graph
computed once per set of targets.

Fourth, the SQLite tracker store (the `make run` default) waited for a disk flush at every
commit: WAL with synchronous=NORMAL keeps every committed event through a crash of any of our
processes (only a power loss can drop the last commits), and its connections are kept open in
a pool (SQLAlchemy 2.0's default) instead of a file opened and closed for every query;
PostgreSQL (production) is unchanged.

Fifth, every call to the action server carried the whole conversation (every event since the
session started, serialised again for each call: the cost grew with the conversation). Actions
here read the slots, the latest message and the events of the current turn (rasa_sdk's form
validation reads the trailing slot events; the latest input channel is the last user event),
so the call carries the events from the last user message on, plus ACTION_EVENTS_BEFORE
before it. Slots, the latest message, the active loop and the paused flag are computed by
Rasa from the whole tracker as before.

Sixth, loading a tracker turns each stored event back into its class with
``Event.resolve_by_type``, which walks the whole Event class tree (with an ``isabstract`` check
per class) for every single event: a fifth of the Rasa process's time in a long conversation.
The class found for a type name is remembered; a name not seen yet is looked up as before.
Rasa's SQL store also built a full ORM object per stored event only to read its ``data``
column: the same query (same filters and order) now selects that column alone.

Seventh, the tracker this process saved last is reused when the database shows it is still
exactly what is stored (bot/store/tracker_cache.py), instead of loading the conversation again.

Eighth, the policies' dialogue states are replayed from where the previous prediction for the
same tracker stopped, not from the session start for every prediction (bot/past_states.py).

Ninth, a tracker's applied events are computed from where the previous call stopped, a copy of a
tracker is made without replaying the conversation, and the rule policy's dialogue states are
formatted for its debug log only when debug logging is on (bot/tracker_speed.py).

Tenth, the rule policy matches rules against the last states only (a rule is applicable by
definition further back than its length) and remembers the result for the same states, and
the parse's check for an empty domain does not build an empty domain each time
(bot/rule_speed.py).

Eleventh, the processor's deep copies made only as arguments of debug log events are skipped
while those events are dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

# Events before the current turn sent along with each action call (see above).
ACTION_EVENTS_BEFORE = 20


@cache
def _response_validator() -> Any:
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@cache
def _event_validators() -> tuple[Any, dict[str, Any]] | None:
    """The schema split where its time goes: each event is checked against all 23 ``oneOf``
    alternatives, one per event type, each with ``"event": {"const": <type>}``. With distinct
    types, an event of type T fits exactly one alternative when it fits T's, and none when its
    type is none of them. So: the response with any events (their list still a list), then each
    event against the base item schema and its own type's alternative. None when the schema is
    not of that shape (then the whole schema is used, always)."""
    import copy

    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    try:
        items = schema["properties"]["events"]["items"]
        alternatives = items["oneOf"]
        types = [alternative["properties"]["event"]["const"] for alternative in alternatives]
    except (KeyError, TypeError):
        return None
    if len(set(types)) != len(types) or not all(isinstance(t, str) for t in types):
        return None
    cls = validator_for(schema)
    outer = copy.deepcopy(schema)
    outer["properties"]["events"]["items"] = {}
    base = {key: value for key, value in items.items() if key != "oneOf"}
    per_type = {t: cls({**base, "allOf": [a]}) for t, a in zip(types, alternatives, strict=True)}
    return cls(outer), per_type


def fits_by_event_type(result: Any) -> bool:
    """True only when ``result`` fits the response schema (see ``_event_validators``); False
    when it does not or when this cannot tell."""
    split = _event_validators()
    if split is None:
        return False
    outer, per_type = split
    if not outer.is_valid(result):
        return False
    for event in result.get("events") or []:
        kind = event.get("event") if isinstance(event, dict) else None
        validator = per_type.get(kind) if isinstance(kind, str) else None
        if validator is None or not validator.is_valid(event):
            return False
    return True


def validate_action_response(result: dict[str, Any]) -> None:
    """What ``jsonschema.validate(result, schema)`` does, with validators built once: raises
    the best-matching ``ValidationError`` when ``result`` does not fit. A response that fits is
    recognised event by event; anything else gets the whole schema's check and its error."""
    from jsonschema.exceptions import best_match

    if fits_by_event_type(result):
        return
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
    _run_graphs_directly()
    _sqlite_without_flush_per_commit()
    _send_the_current_turn_to_actions()
    _remember_event_classes()
    _read_only_the_event_data()
    from bot.store import tracker_cache

    tracker_cache.install()
    from bot import past_states

    past_states.install()
    from bot import tracker_speed

    tracker_speed.install()
    from bot import rule_speed

    rule_speed.install()
    _no_copies_for_dropped_debug_events()


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


def run_graph(runner: Any, inputs: dict[str, Any] | None, targets: list[str] | None) -> dict:
    """What ``DaskGraphRunner.run`` returns, computed without dask: each needed node once, its
    inputs first; an input name that nothing provides is passed as the bare name, as dask does."""
    from rasa.engine.exceptions import GraphRunError

    run_targets = targets if targets else runner._graph_schema.target_names
    cache = runner.__dict__.setdefault("_minimal_schemas", {})
    key = tuple(run_targets)
    if key not in cache:
        cache[key] = runner._graph_schema.minimal_graph_schema(run_targets)
    nodes = cache[key].nodes
    results: dict[str, Any] = {}
    for name, value in (inputs or {}).items():
        if isinstance(value, str) and value in nodes:
            raise GraphRunError(
                f"Input value '{value}' clashes with a node name. Make sure that none of the "
                f"input names passed to the `run` method are the same as node names in the "
                f"graph schema."
            )
        results[name] = (name, value)

    def compute(name: str) -> Any:
        if name in results:
            return results[name]
        if name not in nodes:
            return name
        args = [compute(dependency) for dependency in nodes[name].needs.values()]
        results[name] = runner._instantiated_nodes[name](*args)
        return results[name]

    try:
        return dict(compute(target) for target in run_targets)
    except RuntimeError as e:
        raise GraphRunError("Error running runner.") from e


_DASK_RUN: Any = None


@contextmanager
def dask_runner() -> Iterator[None]:
    """Rasa's own dask run for the duration (tests compare both)."""
    from rasa.engine.runner.dask import DaskGraphRunner

    patched = DaskGraphRunner.run
    DaskGraphRunner.run = _DASK_RUN  # type: ignore[method-assign]
    try:
        yield
    finally:
        DaskGraphRunner.run = patched  # type: ignore[method-assign]


def _run_graphs_directly() -> None:
    global _DASK_RUN
    from rasa.engine.runner.dask import DaskGraphRunner

    _DASK_RUN = DaskGraphRunner.run

    def run(self: DaskGraphRunner, inputs: dict | None = None, targets: list | None = None):
        return run_graph(self, inputs, targets)

    DaskGraphRunner.run = run  # type: ignore[method-assign]


def _sqlite_without_flush_per_commit() -> None:
    import sqlite3

    import rasa.core.tracker_store as tracker_store
    from sqlalchemy.pool import QueuePool

    original_kwargs = tracker_store.create_engine_kwargs

    def create_engine_kwargs(url: Any) -> dict[str, Any]:
        kwargs = original_kwargs(url)
        text = str(url)
        if text.startswith("sqlite") and ":memory:" not in text and text.rstrip("/") != "sqlite:":
            # SQLAlchemy 1.4 opens and closes a file for every session of a file database
            # (NullPool); 2.0's default, a pool of open connections, used on Rasa's one thread.
            kwargs.setdefault("poolclass", QueuePool)
            kwargs.setdefault("connect_args", {"check_same_thread": False})
        return kwargs

    tracker_store.create_engine_kwargs = create_engine_kwargs

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=15000")
            cursor.close()


def _send_the_current_turn_to_actions() -> None:
    import rasa
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.trackers import EventVerbosity

    def _action_call_format(self: RemoteAction, tracker: Any, domain: Any) -> dict[str, Any]:
        # Rasa's own format (rasa/core/actions/action.py), with the events of the current turn
        state = tracker.current_state(EventVerbosity.NONE)
        events = list(tracker.events)
        last_user = next(
            (i for i in range(len(events) - 1, -1, -1) if events[i].type_name == "user"), 0
        )
        state["events"] = [e.as_dict() for e in events[max(0, last_user - ACTION_EVENTS_BEFORE):]]
        result = {
            "next_action": self._name,
            "sender_id": tracker.sender_id,
            "tracker": state,
            "version": rasa.__version__,
        }
        if (
            not self._is_selective_domain_enabled()
            or domain.does_custom_action_explicitly_need_domain(self.name())
        ):
            result["domain"] = domain.as_dict()
        return result

    RemoteAction._action_call_format = _action_call_format  # type: ignore[method-assign]


def _remember_event_classes() -> None:
    from rasa.shared.core.events import Event

    original = Event.resolve_by_type
    known: dict[str, type] = {}

    def resolve_by_type(type_name: str, default: type | None = None) -> type | None:
        cls = known.get(type_name)
        if cls is None:
            cls = original(type_name, default)
            if cls is not None and cls is not default:
                known[type_name] = cls
        return cls

    resolve_by_type.__wrapped__ = original  # type: ignore[attr-defined]
    Event.resolve_by_type = staticmethod(resolve_by_type)  # type: ignore[method-assign]


def _read_only_the_event_data() -> None:
    import json

    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.trackers import DialogueStateTracker

    async def _retrieve(
        self: SQLTrackerStore, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> DialogueStateTracker | None:
        # Rasa's SQLTrackerStore._retrieve, with the query's rows read as the data column only
        with self.session_scope() as session:
            rows = (
                self._event_query(session, sender_id, fetch_events_from_all_sessions)
                .with_entities(self.SQLEvent.data)
                .all()
            )
            events = [json.loads(data) for (data,) in rows]
            if self.domain and len(events) > 0:
                return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
            return None

    SQLTrackerStore._retrieve = _retrieve  # type: ignore[method-assign]


def debug_events_dropped() -> bool:
    """True when structlog drops debug events (Rasa's configuration at any level above DEBUG
    makes ``debug`` a no-op); False when they may be logged or structlog is not configured."""
    import structlog

    wrapper = structlog.get_config().get("wrapper_class")
    return getattr(getattr(wrapper, "debug", None), "__name__", "") == "_nop"


def _no_copies_for_dropped_debug_events() -> None:
    """Rasa's processor deep-copies events, slots and parse data for every action, only as the
    arguments of structlog debug events (rasa/core/processor.py: each ``copy.deepcopy`` there
    is one), also when debug events are dropped: 2 % of the process's time at 20 users (the
    events of each action copied object by object). Its ``copy`` is given a ``deepcopy`` that
    copies only when the event can be logged."""
    import copy as copy_module
    import types

    import rasa.core.processor as processor

    if getattr(processor.copy, "_for_debug_events", False):
        return

    def deepcopy(value: Any, memo: Any = None) -> Any:
        return value if debug_events_dropped() else copy_module.deepcopy(value, memo)

    shim = types.ModuleType("copy")
    shim.__dict__.update(copy_module.__dict__)
    shim.deepcopy = deepcopy  # type: ignore[attr-defined]
    shim._for_debug_events = True  # type: ignore[attr-defined]
    processor.copy = shim  # type: ignore[attr-defined]
