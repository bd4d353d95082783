"""Helpers shared by the tests that drive the real stack."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from bot.run import Stack


def say(stack: Stack, sender: str, text: str, *, timeout: float = 60,
        message_id: str | None = None, **metadata: str) -> list:  # fmt: skip
    """One message over the REST channel (with the client's message id, if given); the bot's
    replies."""
    payload = {"sender": sender, "message": text, "metadata": metadata}
    if message_id is not None:
        payload["message_id"] = message_id
    body = json.dumps(payload).encode()
    request = urllib.request.Request(
        f"{stack.settings.rasa_url}/webhooks/rest/webhook", data=body,
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.02) -> Any:
    """Poll ``check`` until it returns something truthy; that value (else an AssertionError)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def python_child(*lines: str, timeout: float = 300) -> str:
    """Run these lines in a new Python process (this venv, the project importable); its
    standard output. A failure is an AssertionError with the end of its standard error."""
    result = subprocess.run([sys.executable, "-c", "\n".join(lines)], capture_output=True,
                            text=True, timeout=timeout)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def widget_conversation(database_url: str, token: str) -> str:
    """The conversation a widget's session token opens: only the server knows it (the token is
    an opaque handle, bot/store/widget_sessions.py)."""
    from bot.store import widget_sessions
    from bot.store.db import session
    from bot.store.models import WidgetSession

    handle = widget_sessions.handle_of(token)
    assert handle is not None, "not a widget session token"
    with session(database_url) as db:
        row = db.get(WidgetSession, widget_sessions.handle_hash(handle))
    assert row is not None, "no such widget session"
    return row.conversation_id
