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

