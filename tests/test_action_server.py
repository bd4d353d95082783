"""The action server accepts only Rasa (bot/action_server.py): the dev profile's real action
server process, started by bot.run.Stack. A local POST of ``action_delete_data`` without the
shared token (the review's M8) deletes nothing; Rasa's token makes the same request work."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.run import Stack, service_env
from bot.settings import Settings
from bot.store import handoffs
from bot.store.db import init_db, session
from bot.store.models import Handoff

pytestmark = pytest.mark.slow

ACTION_PORT = 5855  # this test's own


def delete_call(conversation_id: str) -> bytes:
    tracker = {"sender_id": conversation_id, "slots": {}, "latest_message": {}, "events": [],
               "paused": False, "active_loop": {}}  # fmt: skip
    return json.dumps({"next_action": "action_delete_data", "sender_id": conversation_id,
                       "tracker": tracker, "domain": {}, "version": "3.6.21"}).encode()  # fmt: skip


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json",
                                                               **headers})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.fixture(scope="module")
def actions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, str]]:
    tmp: Path = tmp_path_factory.mktemp("actions")
    settings = Settings(rasa_port=5805, action_port=ACTION_PORT, console_port=8805,
                        database_url=f"sqlite:///{tmp / 'rasa.db'}", var_dir=tmp)  # fmt: skip
    init_db(settings.database_url)
    stack = Stack(settings, log_dir=tmp / "logs", console=False)
    stack.start(with_rasa=False, timeout=120)
    try:
        yield settings, service_env(settings)["ACTION_SERVER_TOKEN"]
    finally:
        stack.stop()


def open_handoff(url: str, conversation_id: str) -> None:
    with session(url) as db:
        handoffs.request_handoff(db, conversation_id=conversation_id, channel="socketio",
                                 language="sv", reason="request", priority="normal")  # fmt: skip


def handoff_count(url: str, conversation_id: str) -> int:
    from sqlalchemy import func, select

    with session(url) as db:
        return db.execute(select(func.count()).select_from(Handoff)
                          .where(Handoff.conversation_id == conversation_id)).scalar_one()


def test_without_rasas_token_nothing_runs(actions: tuple[Settings, str]) -> None:
    settings, token = actions
    url = f"http://127.0.0.1:{ACTION_PORT}/webhook"
    victim = "a" * 32
    open_handoff(settings.database_url, victim)
    for headers in ({}, {"Authorization": "Bearer wrong-token-of-some-length"},
                    {"Authorization": token}, {"Authorization": f"Bearer {token[:-1]}"},
                    {"Authorization": "Bearer é"}):  # fmt: skip
        status, body = post(url, delete_call(victim), headers)
        assert status == 401, (headers, status, body)
        assert "delete_done" not in json.dumps(body)
    time.sleep(1)
    assert handoff_count(settings.database_url, victim) == 1
    # the list of actions is not public either; the health check is
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{ACTION_PORT}/actions", timeout=10)
    assert refused.value.code == 401
    with urllib.request.urlopen(f"http://127.0.0.1:{ACTION_PORT}/health", timeout=10) as ok:
        assert ok.status == 200


def test_rasas_token_runs_the_action(actions: tuple[Settings, str]) -> None:
    """The control: the same request with the token is what Rasa sends, and the action runs.
    (action_delete_data only asks for the deletion now: the Rasa server deletes after the turn,
    bot/deletion.py; so the control is the action's answer, not a deleted handoff.)"""
    settings, token = actions
    victim = "b" * 32
    open_handoff(settings.database_url, victim)
    status, body = post(f"http://127.0.0.1:{ACTION_PORT}/webhook", delete_call(victim),
                        {"Authorization": f"Bearer {token}"})  # fmt: skip
    assert status == 200, body
    events = body.get("events") if isinstance(body, dict) else None
    assert events and any(e.get("event") == "slot" and e.get("value") == "delete_now"
                          for e in events), body  # fmt: skip
    assert handoff_count(settings.database_url, victim) == 1  # nothing deleted by a caller


def test_errors_are_answered_without_the_request(actions: tuple[Settings, str]) -> None:
    """rasa_sdk answered an error with the request body (the whole conversation) and logged
    it; here neither."""
    settings, token = actions
    secret_text = "mitt hemliga meddelande 4711"
    body = json.dumps({"next_action": "action_delete_data", "tracker": {"events": secret_text},
                       "version": "3.6.21"}).encode()  # fmt: skip
    status, answer = post(f"http://127.0.0.1:{ACTION_PORT}/webhook", body,
                          {"Authorization": f"Bearer {token}"})  # fmt: skip
    assert status >= 400
    assert secret_text not in json.dumps(answer)
    logs = (settings.var_dir / "logs" / "actions.log").read_text(errors="replace")
    assert secret_text not in logs
