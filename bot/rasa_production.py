"""A Rasa server of the production profile: ``python -m bot.rasa_production <rasa run options>``.

The same as ``bot.rasa_server`` (the JWT secret from the environment, the once-per-process
schema check), plus two changes to how Rasa 3.6 treats its tracker store when the database is
away (a PostgreSQL restart, tests/production/test_profile.py):

- Rasa wraps every tracker store in ``FailSafeTrackerStore``: when the database cannot be read
  it carries on with an *empty* conversation, and when it cannot be written it keeps the events
  in this process's memory and answers as if all were well. The person gets an answer without
  their conversation's context, the events are lost when the database is back, and Rasa's SQL
  store, which appends "the events beyond the number already stored", can then write a
  mixture of two conversations. Here the error reaches the channel instead: the REST channel
  answers 503, the widget's message is acknowledged as not taken and sent again.
- Its log line quoted the database error, whose text holds the SQL parameters (the person's
  message); here only the error's class is logged.
- Connections are checked before use (``pool_pre_ping``), so the first message after a
  database restart is answered instead of failing on a connection that died with the server.

Rasa's Pika broker logs the event it failed to publish (RabbitMQ down), text and sender id
included; here the log line keeps only the event's type. And it declares a durable queue and
publishes every event to it persistently: a copy of every conversation that nothing reads, that
retention and "delete my data" never reach, growing until the broker blocks. The broker here
(``ExchangeOnlyPikaEventBroker``, endpoints.production.yml) publishes to the fanout exchange
only, transient and expiring: an event reaches only the queues bound at that moment (the
console's live view, its own exclusive queue) and disappears from them within a minute.

And one for the action server being away: every answer of this assistant comes from it, and
Rasa then says nothing at all. For the two actions that must never fail silently, the crisis
answer and the request for a person, the Rasa server answers itself, from content/ texts: the
emergency numbers (crisis), that the counsellors cannot be reached and whom to call
(``handoff_unavailable``), and records the handoff in the database for the console, as the
action would have (bot.store.handoffs.request_handoff), pausing the conversation.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger(__name__)


def install() -> None:
    import rasa.core.agent
    import rasa.core.tracker_store as tracker_store
    from rasa.core.tracker_store import FailSafeTrackerStore

    if getattr(rasa.core.agent.FailSafeTrackerStore, "_strict", False):
        return

    class StrictTrackerStore(FailSafeTrackerStore):
        """FailSafeTrackerStore's interface, without the silent fallback to memory."""

        _strict = True

        def _failed(self, what: str, error: Exception) -> None:
            logger.error(
                "Tracker store %s failed (%s); the message is refused, not answered without "
                "its conversation", what, type(error).__name__,
            )  # fmt: skip

        async def retrieve(self, sender_id: str) -> Any:
            try:
                return await self._tracker_store.retrieve(sender_id)
            except Exception as error:
                self._failed("read", error)
                raise

        async def retrieve_full_tracker(self, sender_id: str) -> Any:
            try:
                return await self._tracker_store.retrieve_full_tracker(sender_id)
            except Exception as error:
                self._failed("read", error)
                raise

        async def keys(self) -> Iterable[str]:
            try:
                return await self._tracker_store.keys()
            except Exception as error:
                self._failed("keys", error)
                raise

        async def save(self, tracker: Any) -> None:
            try:
                await self._tracker_store.save(tracker)
            except Exception as error:
                self._failed("write", error)
                raise

    rasa.core.agent.FailSafeTrackerStore = StrictTrackerStore

    original_kwargs = tracker_store.create_engine_kwargs

    def create_engine_kwargs(url: Any) -> dict[str, Any]:
        kwargs = original_kwargs(url)
        kwargs.setdefault("pool_pre_ping", True)
        return kwargs

    tracker_store.create_engine_kwargs = create_engine_kwargs
    install_action_server_fallback()
    quiet_broker_logs()


class _EventFreeLogger:
    """structlog's logger without the ``rasa_event`` field (what a person wrote)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)
        if not callable(method):
            return method

        def log(*args: Any, **kwargs: Any) -> Any:
            event = kwargs.pop("rasa_event", None)
            if isinstance(event, dict):
                kwargs["rasa_event_type"] = event.get("event")
            return method(*args, **kwargs)

        return log


def _exchange_only_broker() -> type:
    from rasa.core.brokers.pika import PikaEventBroker

    class ExchangeOnlyPikaEventBroker(PikaEventBroker):
        """Rasa's Pika broker without a queue of its own (see the module docstring)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.pop("queues", None)  # an old config's queue is never declared
            super().__init__(*args, **kwargs)
            self.queues = []

        @staticmethod
        def _get_queues_from_args(queues_arg: Any) -> list[str]:
            return []  # Rasa's would fall back to a durable "rasa_core_events"

        def _message(self, event: dict[str, Any], headers: dict[str, str] | None) -> Any:
            import aio_pika

            message = super()._message(event, headers)
            message.delivery_mode = aio_pika.DeliveryMode.NOT_PERSISTENT  # never on disk
            message.expiration = BROKER_MESSAGE_SECONDS  # dropped from any queue after this
            return message

    return ExchangeOnlyPikaEventBroker


# A live view reads an event within a second; nothing else may keep one.
BROKER_MESSAGE_SECONDS = 60


def __getattr__(name: str) -> Any:
    """``bot.rasa_production.ExchangeOnlyPikaEventBroker`` for endpoints.production.yml, made
    on first use (Rasa's broker module is imported only then)."""
    if name == "ExchangeOnlyPikaEventBroker":
        cls = _exchange_only_broker()
        globals()[name] = cls
        return cls
    raise AttributeError(name)


def quiet_broker_logs() -> None:
    import rasa.core.brokers.pika as pika

    if not isinstance(pika.structlogger, _EventFreeLogger):
        pika.structlogger = _EventFreeLogger(pika.structlogger)


# action name -> (text sent first or None, handoff reason, priority)
FALLBACK_ACTIONS = {
    "action_crisis": ("crisis", "crisis", "urgent"),
    "action_escalate_to_counsellor": (None, "request", "normal"),
}


def _language(tracker: Any) -> str:
    from bot.settings import LANGUAGES, get_settings

    candidates = [
        tracker.get_slot("language"),
        ((tracker.latest_message.metadata if tracker.latest_message else None) or {}).get(
            "language"
        ),
    ]
    for code in candidates:
        code = str(code or "").lower().split("-")[0]
        if code in LANGUAGES:
            return code
    return get_settings().default_language


def answer_without_action_server(name: str, tracker: Any) -> list[Any]:
    """What ``name`` would have said and done, as far as it can be done here."""
    from rasa.shared.core.events import BotUttered, ConversationPaused, SlotSet

    from actions.common import common_values, content
    from bot.content import for_display
    from bot.settings import get_settings
    from bot.store import handoffs
    from bot.store.db import session

    first, reason, priority = FALLBACK_ACTIONS[name]
    lang = _language(tracker)
    texts = content()
    values = common_values(lang)
    events: list[Any] = []
    if first is not None:
        events.append(BotUttered(for_display(texts.text(first, lang, **values), lang),
                                 data={"buttons": []}))  # fmt: skip
    events.append(
        BotUttered(for_display(texts.text("handoff_unavailable", lang, **values), lang),
                   data={"buttons": []})  # fmt: skip
    )
    from bot import abuse

    if abuse.handoff_refused.get():  # too many handoffs from this address (bot/abuse.py)
        return events
    try:
        with session(get_settings().database_url) as db:
            handoff, _ = handoffs.request_handoff(
                db, conversation_id=tracker.sender_id,
                channel=tracker.get_latest_input_channel() or "rest", language=lang,
                reason=reason, priority=priority,
            )  # fmt: skip
            handoff_id = handoff.id
    except Exception as error:  # noqa: BLE001 - the person has been told whom to call
        logger.error("Handoff not recorded without the action server (%s)", type(error).__name__)
        return events
    logger.info("Handoff %s recorded without the action server (%s)", handoff_id, reason)
    return [*events, SlotSet("handoff_id", handoff_id), ConversationPaused()]


def install_action_server_fallback() -> None:
    import aiohttp
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.exceptions import RasaException

    if getattr(RemoteAction.run, "_fallback", False):
        return
    original = RemoteAction.run

    async def run(self: RemoteAction, output_channel: Any, nlg: Any, tracker: Any,
                  domain: Any) -> list[Any]:  # fmt: skip
        try:
            return await original(self, output_channel, nlg, tracker, domain)
        except RasaException as error:
            unreachable = isinstance(error.__context__, aiohttp.ClientConnectionError | OSError)
            if self.name() not in FALLBACK_ACTIONS or not unreachable:
                raise
            logger.error("Action server unreachable: %s answered by the Rasa server", self.name())
            return answer_without_action_server(self.name(), tracker)

    run._fallback = True  # type: ignore[attr-defined]
    RemoteAction.run = run


def main() -> None:
    from bot import rasa_server

    # as bot.rasa_server does (less memory, no spinning OpenBLAS threads), but started again
    # as this module: bot.rasa_server would start itself again without the changes above
    rasa_server.start_again_with_environment("bot.rasa_production")
    install()
    rasa_server.main()


if __name__ == "__main__":
    main()
