"""The abuse limits in the dev profile (`make run`: one Rasa server, counters in its memory),
on the real stack: REST from a client address of its own (a loopback address per client)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.run import Stack
from bot.settings import Settings
from tests.production.test_security import request

pytestmark = pytest.mark.slow

RASA_PORT, ACTION_PORT, CONSOLE_PORT = 5815, 5865, 8815


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("abuse")
    settings = Settings(rasa_port=RASA_PORT, action_port=ACTION_PORT, console_port=CONSOLE_PORT,
                        database_url=f"sqlite:///{tmp / 'rasa.db'}", var_dir=tmp,
                        office_hours="mon-sun 00:00-23:59")  # fmt: skip
    saved = os.environ.get("ABUSE_LIMITS")
    os.environ["ABUSE_LIMITS"] = "conversation=4/600,address=8/600,address_handoffs=1/600"
    stack = Stack(settings, log_dir=tmp / "logs", console=False)
    try:
        stack.start(timeout=240)
        yield f"http://127.0.0.1:{RASA_PORT}/webhooks/rest/webhook"
    finally:
        stack.stop()
        if saved is None:
            os.environ.pop("ABUSE_LIMITS", None)
        else:
            os.environ["ABUSE_LIMITS"] = saved


def say(url: str, sender: str, text: str, source: str,
        language: str | None = None) -> tuple[int, str]:  # fmt: skip
    body = {"sender": sender, "message": text}
    if language:
        body["metadata"] = {"language": language}
    status, _, raw = request(url, "POST", json.dumps(body).encode(),
                             {"Content-Type": "application/json",
                              "X-Forwarded-For": "203.0.113.1"}, source=source)  # fmt: skip
    replies = json.loads(raw) if raw.startswith(b"[") else []
    return status, " ".join(r.get("text") or "" for r in replies)


def test_a_conversation_and_an_address_are_limited(url: str) -> None:
    statuses = [say(url, "flood-1", "Hej", "127.0.0.20")[0] for _ in range(6)]
    assert statuses == [200] * 4 + [429, 429]
    # a new conversation from the same address still counts for the address (8 in all)
    statuses = [say(url, f"flood-{i}", "Hej", "127.0.0.20")[0] for i in range(2, 6)]
    assert statuses == [200, 200, 429, 429], statuses
    status, text = say(url, "flood-9", "Hej", "127.0.0.20", language="ar")
    assert status == 429 and "112" in text and "90101" in text and "انتظر" in text
    # the X-Forwarded-For every request carried was not believed (no proxy in dev)
    assert say(url, "someone", "Hej", "127.0.0.21")[0] == 200
    # crisis first
    status, text = say(url, "flood-1", "jag vill inte leva längre", "127.0.0.20")
    assert status == 200 and "112" in text and "90101" in text


def test_handoffs_per_address(url: str) -> None:
    first = say(url, "asks-1", "jag vill prata med en människa", "127.0.0.22")
    second = say(url, "asks-2", "jag vill prata med en människa", "127.0.0.22")
    assert first[0] == second[0] == 200
    assert "112" not in first[1] or "90101" not in first[1]  # the usual handoff answer
    assert "90101" in second[1]  # capped: wait, and the numbers to call
