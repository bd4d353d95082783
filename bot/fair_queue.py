"""Users' messages are handled first come, first served, a few at a time per Rasa server.

Rasa handles every incoming message as soon as it arrives, all of them at once on one event
loop. Under load that is unfair: every ready step of every message in the server runs before
any message gets its next step, so a message waits a full round of all the others at each of
its awaits. A message whose way in and out has more steps than another's waits
correspondingly longer. Measured (`make bench-production`, 1 server, 25 REST users sending
without a pause, 25 widget users over socket.io long-polling): REST answered in 1.4-1.7 s at
the median, the widget in 21-23 s: ten seconds only to get from the engine.io request to the
message handler, while socket.io users alone were answered in 1.5 s.

Here at most ``RASA_CONCURRENT_MESSAGES`` messages (default 4) are inside Rasa at a time per
server; the others wait in arrival order, whatever their channel. The CPU does the same work
(Rasa's work is CPU-bound; a few at a time still overlap the waits for the database, the action
server and the broker), but each step waits for a few messages instead of all of them, and
no channel starves another.

The gate is outside the conversation lock (bot/store/lock_store.py): a message takes its place
here before it waits for its conversation, so a lock holder always has its place already and
waiting for a lock can never block the gate for good.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from types import TracebackType

DEFAULT_CONCURRENT_MESSAGES = 4


class FairGate:
    """At most ``limit`` holders at a time; the others are let in strictly in arrival order.

    (asyncio.Semaphore in Python 3.10 lets a newcomer take a freed place before the woken
    waiter, which then queues again at the end: a waiter can starve.) A freed place is handed
    to the first waiter directly."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the gate must let at least one message in")
        self.limit = limit
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)  # a cancelled one leaves at once (__aenter__, _release)

    async def __aenter__(self) -> None:
        if self.active < self.limit and not self.waiting:
            self.active += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.cancelled():
                if waiter in self._waiters:  # gave up while waiting
                    self._waiters.remove(waiter)
            else:
                self._release()  # the place was handed over just before the cancel: pass it on
            raise

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self._release()

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            # a waiter cancelled a moment ago (its task has not run to remove it yet) is skipped
            if not waiter.done():
                waiter.set_result(None)  # the place goes to it; active stays the same
                return
        self.active -= 1


def concurrent_messages() -> int:
    raw = os.environ.get("RASA_CONCURRENT_MESSAGES", "").strip()
    if not raw:
        return DEFAULT_CONCURRENT_MESSAGES
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit("RASA_CONCURRENT_MESSAGES must be a whole number of at least 1") from None
    if value < 1:
        raise SystemExit("RASA_CONCURRENT_MESSAGES must be a whole number of at least 1")
    return value


def install(limit: int | None = None) -> FairGate:
    """Put every user message through one gate per process (Agent.handle_message: all
    channels)."""
    from rasa.core.agent import Agent

    existing = getattr(Agent.handle_message, "_gate", None)
    if existing is not None:
        return existing
    gate = FairGate(limit or concurrent_messages())
    handle_message = Agent.handle_message

    async def handle_message_in_turn(self: Agent, message):  # type: ignore[no-untyped-def]
        async with gate:
            return await handle_message(self, message)

    handle_message_in_turn._gate = gate  # type: ignore[attr-defined]
    Agent.handle_message = handle_message_in_turn  # type: ignore[method-assign]
    return gate
