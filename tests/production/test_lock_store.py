"""Tickets of one conversation issued by several servers at once are all distinct (real Redis)."""

from __future__ import annotations

import threading
import uuid

from rasa.utils.endpoints import EndpointConfig

from bot.store.lock_store import AtomicRedisLockStore


def _race(stores: list, conversation_id: str) -> list[int]:
    barrier = threading.Barrier(len(stores))
    tickets: list[int] = []

    def issue(store) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        tickets.append(store.issue_ticket(conversation_id, 60))

    threads = [threading.Thread(target=issue, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return tickets


def test_simultaneous_tickets_are_distinct_and_all_kept() -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    config = EndpointConfig(url="127.0.0.1", type="x", port=6379, db=0, key_prefix=prefix)
    stores = [AtomicRedisLockStore(endpoint_config=config) for _ in range(6)]  # six "servers"
    for _ in range(5):
        conversation = uuid.uuid4().hex
        tickets = _race(stores, conversation)
        assert sorted(tickets) == list(range(6))
        lock = stores[0].get_lock(conversation)
        assert sorted(t.number for t in lock.tickets) == list(range(6))
        for number in tickets:
            stores[number % 6].cleanup(conversation, number)
        assert stores[0].get_lock(conversation) is None



def _store(prefix: str) -> AtomicRedisLockStore:
    config = EndpointConfig(url="127.0.0.1", type="x", port=6379, db=0, key_prefix=prefix)
    return AtomicRedisLockStore(endpoint_config=config)


async def test_a_conversation_named_like_anothers_mutex_does_not_block_it() -> None:
    """M9: conversation "<id>:mutex" held its lock under the key that was "<id>"'s mutex, so
    "<id>" waited 10 s and failed. Keys of different conversations never meet now."""
    import asyncio
    import time

    store = _store(f"t{uuid.uuid4().hex[:8]}")
    victim = uuid.uuid4().hex
    async with store.lock(f"{victim}:mutex"):  # the attacker's message is being processed
        started = time.monotonic()
        async with store.lock(victim):
            waited = time.monotonic() - started
    assert waited < 1.0, waited
    assert store.get_lock(victim) is None and store.get_lock(f"{victim}:mutex") is None
    await asyncio.sleep(0)


async def test_waiting_for_a_busy_mutex_does_not_stall_the_event_loop() -> None:
    """Another server holds a conversation's bookkeeping mutex for 1.5 s; meanwhile this
    server's event loop keeps running (redis-py's blocking lock slept in time.sleep)."""
    import asyncio
    import time

    import redis

    prefix = f"t{uuid.uuid4().hex[:8]}"
    store = _store(prefix)
    conversation = uuid.uuid4().hex
    other_server = redis.Redis(host="127.0.0.1", port=6379, db=0)
    # the mutex, whatever its name (this version's and the earlier one's)
    held = [other_server.lock(name, timeout=1.5) for name in
            (f"{prefix}:mutex:{conversation}", f"{prefix}:lock:{conversation}:mutex")]
    for mutex in held:
        assert mutex.acquire(blocking=False)
    gaps: list[float] = []
    stop = asyncio.Event()

    async def tick() -> None:
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.05)
    started = time.monotonic()
    async with store.lock(conversation):
        waited = time.monotonic() - started
    stop.set()
    await ticker
    assert waited >= 1.0  # it did wait for the other server's step
    assert max(gaps) < 0.25, max(gaps)


async def test_a_cancelled_message_leaves_no_ticket_behind() -> None:
    """A message cancelled while it waits for the conversation (its client went away) gives
    its ticket back: the next message is not held until the ticket expires."""
    import asyncio
    import time

    store = _store(f"t{uuid.uuid4().hex[:8]}")
    conversation = uuid.uuid4().hex
    entered = asyncio.Event()

    async def first() -> None:
        async with store.lock(conversation):
            entered.set()
            await asyncio.sleep(0.5)

    async def second() -> None:
        async with store.lock(conversation, wait_time_in_seconds=0.05):
            pass

    holder = asyncio.create_task(first())
    await entered.wait()
    waiting = asyncio.create_task(second())
    await asyncio.sleep(0.1)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    await holder
    await asyncio.sleep(0.2)
    started = time.monotonic()
    async with store.lock(conversation, wait_time_in_seconds=0.05):
        assert time.monotonic() - started < 1.0
    await asyncio.sleep(0.1)
    assert store.get_lock(conversation) is None
