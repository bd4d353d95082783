"""bot/fair_queue.py: at most N messages inside Rasa at a time, the others strictly in order."""

from __future__ import annotations

import asyncio

import pytest

from bot.fair_queue import FairGate
from tests.helpers import python_child


async def _hold(gate: FairGate, name: str, entered: list[str], release: asyncio.Event,
                inside: list[int], peak: list[int]) -> None:  # fmt: skip
    async with gate:
        entered.append(name)
        inside[0] += 1
        peak[0] = max(peak[0], inside[0])
        await release.wait()
        inside[0] -= 1


def test_never_more_than_the_limit_inside_and_everyone_gets_in() -> None:
    async def main() -> tuple[list[str], int, FairGate]:
        gate, entered, inside, peak = FairGate(3), [], [0], [0]
        release = asyncio.Event()
        tasks = [asyncio.create_task(_hold(gate, str(i), entered, release, inside, peak))
                 for i in range(10)]  # fmt: skip
        await asyncio.sleep(0.01)
        assert len(entered) == 3 and gate.waiting == 7
        release.set()
        await asyncio.gather(*tasks)
        return entered, peak[0], gate

    entered, peak, gate = asyncio.run(main())
    assert peak == 3
    assert entered == [str(i) for i in range(10)]  # in arrival order
    assert gate.active == 0 and gate.waiting == 0


def test_a_newcomer_never_overtakes_a_waiter() -> None:
    """The place freed by a leaving holder goes to the first waiter, even when a newcomer
    asks in the same moment (asyncio.Semaphore in Python 3.10 gives it to the newcomer)."""

    async def main() -> list[str]:
        gate, order = FairGate(1), []
        first_in, leave = asyncio.Event(), asyncio.Event()

        async def first() -> None:
            async with gate:
                first_in.set()
                await leave.wait()
            # in the same step as the release, before the waiter can run: asks again
            async with gate:
                order.append("newcomer")

        async def enter(name: str) -> None:
            async with gate:
                order.append(name)
                await asyncio.sleep(0)

        tasks: list[asyncio.Task] = [asyncio.create_task(first())]
        await first_in.wait()
        tasks.append(asyncio.create_task(enter("waiter")))
        await asyncio.sleep(0.01)
        leave.set()
        await asyncio.gather(*tasks)
        return order

    assert asyncio.run(main()) == ["waiter", "newcomer"]


def test_a_cancelled_waiter_gives_up_its_turn_and_a_cancelled_holder_its_place() -> None:
    async def main() -> tuple[list[str], FairGate]:
        gate, entered, inside, peak = FairGate(1), [], [0], [0]
        release = asyncio.Event()
        holder = asyncio.create_task(_hold(gate, "holder", entered, release, inside, peak))
        await asyncio.sleep(0)
        quitter = asyncio.create_task(_hold(gate, "quitter", entered, release, inside, peak))
        later = asyncio.create_task(_hold(gate, "later", entered, release, inside, peak))
        await asyncio.sleep(0.01)
        quitter.cancel()
        await asyncio.sleep(0.01)
        holder.cancel()  # cancelled while inside: its place must be freed
        await asyncio.sleep(0.01)
        assert entered == ["holder", "later"]
        release.set()
        await later
        for task in (holder, quitter):
            with pytest.raises(asyncio.CancelledError):
                await task
        return entered, gate

    entered, gate = asyncio.run(main())
    assert gate.active == 0 and gate.waiting == 0


def test_a_waiter_cancelled_just_after_its_turn_came_passes_the_place_on() -> None:
    async def main() -> list[str]:
        gate, order = FairGate(1), []
        leave = asyncio.Event()
        waiters: list[asyncio.Task] = []

        async def holder() -> None:
            async with gate:
                await leave.wait()
            # the place was handed to "unlucky" this very step; it is cancelled before it runs
            waiters[0].cancel()

        async def enter(name: str) -> None:
            async with gate:
                order.append(name)

        first = asyncio.create_task(holder())
        await asyncio.sleep(0)
        waiters.append(asyncio.create_task(enter("unlucky")))
        after = asyncio.create_task(enter("after"))
        await asyncio.sleep(0.01)
        leave.set()
        await asyncio.wait_for(after, 5)
        await first
        assert waiters[0].cancelled()
        assert gate.active == 0
        return order

    assert asyncio.run(main()) == ["after"]


def test_rasa_messages_go_through_one_gate_per_process() -> None:
    """Rasa's Agent.handle_message (every channel's way in) after install(): at most the
    limit inside the processor at a time, in arrival order, answers unchanged."""
    out = python_child(
        "import asyncio",
        "from rasa.core.agent import Agent",
        "from rasa.core.channels.channel import UserMessage",
        "from bot import fair_queue",
        "gate = fair_queue.install(2)",
        "assert fair_queue.install() is gate",
        "inside, peak, started = [0], [0], []",
        "class Processor:",
        "    async def handle_message(self, message):",
        "        started.append(message.sender_id)",
        "        inside[0] += 1; peak[0] = max(peak[0], inside[0])",
        "        await asyncio.sleep(0.02)",
        "        inside[0] -= 1",
        "        return [{'text': 'answer to ' + message.text}]",
        "agent = Agent()",
        "agent.processor = Processor()",
        "agent.is_ready = lambda: True",
        "async def main():",
        "    return await asyncio.gather(*(agent.handle_message(UserMessage(str(i), sender_id="
        "f's{i}')) for i in range(8)))",
        "answers = asyncio.run(main())",
        "print(peak[0], started == [f's{i}' for i in range(8)], answers[7])",
    )
    assert out.strip().splitlines()[-1] == "2 True [{'text': 'answer to 7'}]"


def test_the_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.fair_queue import DEFAULT_CONCURRENT_MESSAGES, concurrent_messages

    monkeypatch.delenv("RASA_CONCURRENT_MESSAGES", raising=False)
    assert concurrent_messages() == DEFAULT_CONCURRENT_MESSAGES
    monkeypatch.setenv("RASA_CONCURRENT_MESSAGES", "6")
    assert concurrent_messages() == 6
    for bad in ("0", "-1", "four"):
        monkeypatch.setenv("RASA_CONCURRENT_MESSAGES", bad)
        with pytest.raises(SystemExit, match="RASA_CONCURRENT_MESSAGES"):
            concurrent_messages()
    with pytest.raises(ValueError):
        FairGate(0)


def test_a_waiter_cancelled_in_the_same_step_as_a_release_is_skipped() -> None:
    """The waiter's task is cancelled and, before it runs, the holder leaves: the place goes
    to the next waiter, not to the cancelled one."""

    async def main() -> tuple[list[str], FairGate]:
        gate, order = FairGate(1), []
        leave = asyncio.Event()
        waiters: list[asyncio.Task] = []

        async def holder() -> None:
            async with gate:
                await leave.wait()
                waiters[0].cancel()  # cancelled, not yet run, when the place is freed below

        async def enter(name: str) -> None:
            async with gate:
                order.append(name)

        first = asyncio.create_task(holder())
        await asyncio.sleep(0)
        waiters.append(asyncio.create_task(enter("cancelled")))
        after = asyncio.create_task(enter("after"))
        await asyncio.sleep(0.01)
        assert gate.waiting == 2
        leave.set()
        await asyncio.wait_for(after, 5)
        await first
        assert waiters[0].cancelled()
        return order, gate

    order, gate = asyncio.run(main())
    assert order == ["after"]
    assert gate.active == 0 and gate.waiting == 0
