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


def main() -> None:
    from bot import rasa_server

    install()
    rasa_server.main()


if __name__ == "__main__":
    main()
