"""Rasa's Redis lock store, with its ticket bookkeeping made atomic across servers.

Rasa 3.6's RedisLockStore issues a ticket by reading the conversation's lock from Redis,
adding the ticket and writing the lock back (likewise when a ticket is finished or expired).
Two servers doing that at the same moment for the same conversation overwrite each other: both
hold "the" lock, both process their message on the same tracker, and the second save drops
the first message's events (seen in tests/production: one of two simultaneous messages was
answered but missing from the tracker). Here each read-modify-write runs under a Redis mutex
(redis-py's Lock: SET NX with expiry, released by a script), so tickets are issued in turn.
The waiting, the lifetimes and the stored format are Rasa's own.
"""

from __future__ import annotations

from typing import Any

from rasa.core.lock_store import LOCK_LIFETIME, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

MUTEX_SECONDS = 10  # a bookkeeping step takes milliseconds; the mutex expires if a server dies


class AtomicRedisLockStore(RedisLockStore):
    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs: Any) -> None:
        if endpoint_config is not None:
            kwargs = {"host": endpoint_config.url, **endpoint_config.kwargs, **kwargs}
        super().__init__(**kwargs)

    def _mutex(self, conversation_id: str) -> Any:
        return self.red.lock(
            f"{self.key_prefix}{conversation_id}:mutex",
            timeout=MUTEX_SECONDS, blocking_timeout=MUTEX_SECONDS, sleep=0.005,
        )  # fmt: skip

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        with self._mutex(conversation_id):
            return super().issue_ticket(conversation_id, lock_lifetime)

    def update_lock(self, conversation_id: str) -> None:
        with self._mutex(conversation_id):
            super().update_lock(conversation_id)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        # finish_serving + delete the lock when no one waits: one step, not two
        with self._mutex(conversation_id):
            super().cleanup(conversation_id, ticket_number)
