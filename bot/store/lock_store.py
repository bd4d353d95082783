"""Rasa's Redis lock store, with its ticket bookkeeping made atomic across servers, its keys
namespaced and its waits asynchronous.

Rasa 3.6's RedisLockStore issues a ticket by reading the conversation's lock from Redis,
adding the ticket and writing the lock back (likewise when a ticket is finished or expired).
Two servers doing that at the same moment for the same conversation overwrite each other: both
hold "the" lock, both process their message on the same tracker, and the second save drops
the first message's events (seen in tests/production: one of two simultaneous messages was
answered but missing from the tracker). Here each read-modify-write runs under a Redis mutex
(redis-py's Lock: SET NX with expiry, released by a script), so tickets are issued in turn.
The waiting, the lifetimes and the stored format are Rasa's own.

The mutex of conversation ``<id>`` is ``<prefix>:mutex:<id>``, beside Rasa's lock
``<prefix>:lock:<id>``: no conversation id can name another's key (it was
``<prefix>:lock:<id>:mutex``, the lock key of a conversation called ``<id>:mutex``, which
then blocked ``<id>``; the review's M9).

``lock()``, the only entry Rasa uses (agent, processor, HTTP API), runs on redis-py's asyncio
client: waiting for the mutex is ``await asyncio.sleep``, never redis-py's blocking
``time.sleep`` loop, which stalled the whole server's event loop (every conversation) for as
long as one conversation's mutex was held. The bookkeeping steps finish even when the message
that started them is cancelled (a client that went away), so no ticket is left to block the
conversation until it expires.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from rasa.core.lock import TicketLock
from rasa.core.lock_store import (
    DEFAULT_REDIS_LOCK_STORE_KEY_PREFIX,
    DEFAULT_SOCKET_TIMEOUT_IN_SECONDS,
    LOCK_LIFETIME,
    LockError,
    RedisLockStore,
)
from rasa.utils.endpoints import EndpointConfig

MUTEX_SECONDS = 10  # a bookkeeping step takes milliseconds; the mutex expires if a server dies
MUTEX_POLL_SECONDS = 0.005
MUTEX_NAMESPACE = "mutex:"

T = TypeVar("T")


class AtomicRedisLockStore(RedisLockStore):
    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs: Any) -> None:
        if endpoint_config is not None:
            kwargs = {"host": endpoint_config.url, **endpoint_config.kwargs, **kwargs}
        super().__init__(**kwargs)
        self._async_options = {
            "host": kwargs.get("host", "localhost"),
            "port": int(kwargs.get("port", 6379)),
            "db": int(kwargs.get("db", 1)),
            "username": kwargs.get("username"),
            "password": kwargs.get("password") or None,
            "ssl": bool(kwargs.get("use_ssl", False)),
            "ssl_certfile": kwargs.get("ssl_certfile"),
            "ssl_keyfile": kwargs.get("ssl_keyfile"),
            "ssl_ca_certs": kwargs.get("ssl_ca_certs"),
            "socket_timeout": kwargs.get("socket_timeout", DEFAULT_SOCKET_TIMEOUT_IN_SECONDS),
        }
        # "<prefix>:lock:" -> "<prefix>:mutex:"
        base = self.key_prefix[: -len(DEFAULT_REDIS_LOCK_STORE_KEY_PREFIX)]
        self.mutex_prefix = base + MUTEX_NAMESPACE
        self._async_client: Any = None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._background: set[asyncio.Task] = set()

    def mutex_key(self, conversation_id: str) -> str:
        return self.mutex_prefix + conversation_id

    # -- Rasa's synchronous interface (kept for other callers; the server uses lock()) --------
    def _mutex(self, conversation_id: str) -> Any:
        return self.red.lock(
            self.mutex_key(conversation_id), timeout=MUTEX_SECONDS,
            blocking_timeout=MUTEX_SECONDS, sleep=MUTEX_POLL_SECONDS,
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

    # -- asynchronous: what Rasa's server runs ------------------------------------------------
    def _client(self) -> Any:
        """redis-py's asyncio client, one per event loop (its connections belong to one)."""
        loop = asyncio.get_running_loop()
        if self._async_client is None or self._async_loop is not loop:
            import redis.asyncio

            self._async_client = redis.asyncio.StrictRedis(**self._async_options)
            self._async_loop = loop
        return self._async_client

    @asynccontextmanager
    async def _async_mutex(self, conversation_id: str) -> AsyncIterator[None]:
        from redis.exceptions import LockError as RedisLockError

        mutex = self._client().lock(
            self.mutex_key(conversation_id), timeout=MUTEX_SECONDS,
            blocking_timeout=MUTEX_SECONDS, sleep=MUTEX_POLL_SECONDS,
        )  # fmt: skip
        if not await mutex.acquire():
            raise LockError(f"The lock bookkeeping of a conversation stayed busy for "
                            f"{MUTEX_SECONDS} s")  # fmt: skip
        try:
            yield
        finally:
            try:
                await mutex.release()
            except RedisLockError:
                pass  # expired meanwhile (a step longer than MUTEX_SECONDS): nothing to free

    async def _get(self, conversation_id: str) -> TicketLock | None:
        raw = await self._client().get(self.key_prefix + conversation_id)
        return TicketLock.from_dict(json.loads(raw)) if raw else None

    async def _save(self, lock: TicketLock) -> None:
        await self._client().set(self.key_prefix + lock.conversation_id, lock.dumps())

    async def issue_ticket_async(
        self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME
    ) -> int:
        try:
            async with self._async_mutex(conversation_id):
                lock = await self._get(conversation_id) or self.create_lock(conversation_id)
                ticket = lock.issue_ticket(lock_lifetime)
                await self._save(lock)
                return ticket
        except LockError:
            raise
        except Exception as error:
            raise LockError(f"Error while acquiring lock ({type(error).__name__})") from error

    async def update_lock_async(self, conversation_id: str) -> None:
        async with self._async_mutex(conversation_id):
            lock = await self._get(conversation_id)
            if lock:
                lock.remove_expired_tickets()
                await self._save(lock)

    async def cleanup_async(self, conversation_id: str, ticket_number: int) -> None:
        async with self._async_mutex(conversation_id):
            lock = await self._get(conversation_id)
            if lock is None:
                return
            lock.remove_ticket_for(ticket_number)
            if lock.is_someone_waiting():
                await self._save(lock)
            else:
                await self._client().delete(self.key_prefix + conversation_id)

    async def _acquire_lock_async(
        self, conversation_id: str, ticket: int, wait_time_in_seconds: float
    ) -> TicketLock:
        """Rasa's ``_acquire_lock``, with the asynchronous steps."""
        while True:
            lock = await self._get(conversation_id)
            if not lock:  # expired
                break
            if not lock.is_locked(ticket):
                return lock
            await asyncio.sleep(wait_time_in_seconds)
            await self.update_lock_async(conversation_id)
        raise LockError(f"Could not acquire the lock of a conversation (ticket {ticket})")

    def _keep(self, awaitable: Awaitable[Any]) -> asyncio.Task:
        task = asyncio.ensure_future(awaitable)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _finish(self, step: Awaitable[T]) -> T:
        """``step`` runs to its end even if the caller is cancelled meanwhile."""
        return await asyncio.shield(self._keep(step))

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = 1,
    ) -> AsyncIterator[TicketLock]:
        """Rasa's ``LockStore.lock`` (same tickets, same order), without blocking the loop."""
        issuing = self._keep(self.issue_ticket_async(conversation_id, lock_lifetime))
        try:
            ticket = await asyncio.shield(issuing)
        except asyncio.CancelledError:
            # cancelled while the ticket was issued: give the ticket back once it exists

            def give_back(task: asyncio.Task) -> None:
                if not task.cancelled() and task.exception() is None:
                    self._keep(self.cleanup_async(conversation_id, task.result()))

            issuing.add_done_callback(give_back)
            raise
        try:
            yield await self._acquire_lock_async(conversation_id, ticket, wait_time_in_seconds)
        finally:
            await self._finish(self.cleanup_async(conversation_id, ticket))
