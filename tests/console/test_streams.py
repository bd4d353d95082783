"""The live parts (server-sent events) through a real uvicorn, as a browser would use them:
a new escalation reaches the queue stream, a user's new message the transcript stream."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from bot.console.app import create_app
from bot.console.rasa import PooledRasaAPI
from bot.settings import Settings
from tests.console.conftest import JWT_SECRET, PASSWORD, TEST_CONFIG, add_account, escalate
from tests.console.fake_rasa import FakeRasa, serve_in_thread, stop_server


@dataclass
class Served:
    url: str


@pytest.fixture()
def served(settings: Settings, fake_rasa: FakeRasa) -> Iterator[Served]:
    app = create_app(settings, rasa=PooledRasaAPI(fake_rasa.url, JWT_SECRET), config=TEST_CONFIG)
    server, thread, port = serve_in_thread(app)
    yield Served(f"http://127.0.0.1:{port}")
    app.state.stopping.set()  # as `python -m bot.console serve` does on a stop: streams end
    stop_server(server, thread)


def login(url: str, username: str) -> tuple[str, str]:
    """(session cookie value, csrf). The cookie is Secure, so it is sent by hand over http."""
    r = httpx.post(f"{url}/console/api/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return r.cookies["console_session"], r.json()["csrf_token"]


class SSEReader:
    """Reads one event stream in a thread; events land in a queue with their arrival time."""

    def __init__(self, url: str, cookie: str, headers: dict[str, str] | None = None) -> None:
        self.events: queue.Queue[tuple[str, str, str | None, float]] = queue.Queue()
        self.status: int | None = None
        self._client = httpx.Client(timeout=httpx.Timeout(10.0, read=30.0))
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(url, {"Cookie": f"console_session={cookie}", **(headers or {})}),
            daemon=True,
        )  # fmt: skip
        self._thread.start()

    def _run(self, url: str, headers: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                self.status = response.status_code
                event, data, event_id = "message", [], None
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if line == "":
                        if data:
                            self.events.put((event, "\n".join(data), event_id, time.monotonic()))
                        event, data = "message", []
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif line.startswith("id:"):
                        event_id = line[3:].strip()
        except httpx.HTTPError:
            pass
        finally:
            self.events.put(("closed", "", None, time.monotonic()))

    def next(self, name: str, timeout: float = 5.0, where=lambda data: True):  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {name!r} event within {timeout} s")
            event, data, event_id, at = self.events.get(timeout=remaining)
            if event == name and where(data):
                return data, event_id, at
            if event == "closed" and name != "closed":
                raise AssertionError("the stream closed")

    def close(self) -> None:
        self._stop.set()
        self._client.close()


def test_new_escalation_reaches_the_queue_stream_within_2_s(
    served: Served, settings: Settings, fake_rasa: FakeRasa
) -> None:
    add_account(settings, "anna")
    cookie, _ = login(served.url, "anna")
    reader = SSEReader(f"{served.url}/console/api/stream", cookie)
    try:
        first, _, _ = reader.next("queue")
        assert json.loads(first)["handoffs"] == []
        started = time.monotonic()
        escalated = escalate(settings, fake_rasa, priority="urgent", reason="crisis")
        data, _, arrived = reader.next(
            "queue", where=lambda d: escalated.handoff_id in d, timeout=3.0
        )
        assert arrived - started < 2.0
        (item,) = json.loads(data)["handoffs"]
        assert item["priority"] == "urgent" and item["status"] == "waiting"
        assert reader.status == 200
    finally:
        reader.close()


def test_a_users_new_message_reaches_the_transcript_stream_within_1_s(
    served: Served, settings: Settings, fake_rasa: FakeRasa
) -> None:
    add_account(settings, "anna")
    cookie, csrf = login(served.url, "anna")
    escalated = escalate(settings, fake_rasa)
    headers = {"Cookie": f"console_session={cookie}", "X-CSRF-Token": csrf}
    claim = httpx.post(f"{served.url}/console/api/handoffs/{escalated.handoff_id}/claim",
                       headers=headers)  # fmt: skip
    assert claim.status_code == 200
    detail = httpx.get(f"{served.url}/console/api/handoffs/{escalated.handoff_id}",
                       headers=headers).json()  # fmt: skip
    after = detail["next_seq"]
    stream_url = f"{served.url}/console/api/handoffs/{escalated.handoff_id}/stream?after={after}"
    reader = SSEReader(stream_url, cookie)
    try:
        state, _, _ = reader.next("handoff")
        assert json.loads(state)["claimed_by"] == "anna"
        started = time.monotonic()
        fake_rasa.user_says(escalated.conversation_id, "Är du kvar?", intent="affirm")
        data, event_id, arrived = reader.next("turns", timeout=2.0)
        assert arrived - started < 1.0
        (turn,) = json.loads(data)
        assert (turn["kind"], turn["text"], turn["language"], turn["seq"]) == (
            "user", "Är du kvar?", "sv", after)  # fmt: skip
        assert event_id == str(after)
    finally:
        reader.close()

    # A reconnect with Last-Event-ID gets only what came after.
    fake_rasa.user_says(escalated.conversation_id, "Hallå?")
    again = SSEReader(stream_url.replace(f"after={after}", "after=0"), cookie,
                      headers={"Last-Event-ID": str(after)})  # fmt: skip
    try:
        data, _, _ = again.next("turns")
        assert [t["text"] for t in json.loads(data)] == ["Hallå?"]
    finally:
        again.close()


def test_a_stream_ends_when_its_login_does(
    served: Served, settings: Settings, fake_rasa: FakeRasa
) -> None:
    add_account(settings, "anna")
    cookie, csrf = login(served.url, "anna")
    reader = SSEReader(f"{served.url}/console/api/stream", cookie)
    try:
        reader.next("queue")
        out = httpx.post(
            f"{served.url}/console/api/logout",
            headers={"Cookie": f"console_session={cookie}", "X-CSRF-Token": csrf},
        )
        assert out.status_code == 204
        reader.next("logout", timeout=2.0)
        reader.next("closed", timeout=2.0)
    finally:
        reader.close()


def test_a_counsellor_reading_a_waiting_conversation_is_told_when_another_claims_it(
    served: Served, settings: Settings, fake_rasa: FakeRasa
) -> None:
    add_account(settings, "anna")
    add_account(settings, "bert")
    anna, _ = login(served.url, "anna")
    bert, bert_csrf = login(served.url, "bert")
    escalated = escalate(settings, fake_rasa)
    reader = SSEReader(f"{served.url}/console/api/handoffs/{escalated.handoff_id}/stream", anna)
    try:
        turns, _, _ = reader.next("turns")
        assert len(json.loads(turns)) == 5  # after=0: the whole transcript
        httpx.post(
            f"{served.url}/console/api/handoffs/{escalated.handoff_id}/claim",
            headers={"Cookie": f"console_session={bert}", "X-CSRF-Token": bert_csrf},
        )
        data, _, _ = reader.next("taken", timeout=2.0)
        assert json.loads(data) == {"claimed_by": "bert"}
    finally:
        reader.close()


def test_the_stream_ends_when_the_user_cancels_a_waiting_handoff(
    served: Served, settings: Settings, fake_rasa: FakeRasa
) -> None:
    from bot.store.db import session
    from bot.store.handoffs import cancel_handoff

    add_account(settings, "anna")
    anna, _ = login(served.url, "anna")
    escalated = escalate(settings, fake_rasa)
    reader = SSEReader(f"{served.url}/console/api/handoffs/{escalated.handoff_id}/stream", anna)
    try:
        reader.next("turns")
        with session(settings.database_url) as db:  # the user's "never mind", as the action does
            assert cancel_handoff(db, conversation_id=escalated.conversation_id) is not None
        state, _, _ = reader.next("handoff", where=lambda d: '"cancelled"' in d, timeout=2.0)
        data, _, _ = reader.next("ended", timeout=2.0)
        assert json.loads(data) == {"status": "cancelled"}
    finally:
        reader.close()


def _stream_rows(settings: Settings, handoff_id: str) -> list[tuple[str, str, str | None]]:
    from sqlalchemy import select

    from bot.store.db import session
    from bot.store.models import AuditEntry

    with session(settings.database_url) as db:
        return [tuple(r) for r in db.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.detail)
            .where(AuditEntry.handoff_id == handoff_id, AuditEntry.action == "stream")
            .order_by(AuditEntry.id)
        ).all()]  # fmt: skip


def test_every_start_of_a_transcript_stream_is_audited_whatever_after_says(
    served: Served, settings: Settings, fake_rasa: FakeRasa
) -> None:
    """Security review M4: ``?after=1`` or ``Last-Event-ID: 0`` streamed the whole transcript
    (event 0 is the session start) without an audit entry."""
    add_account(settings, "anna")
    cookie, csrf = login(served.url, "anna")
    escalated = escalate(settings, fake_rasa)
    headers = {"Cookie": f"console_session={cookie}", "X-CSRF-Token": csrf}
    base = f"{served.url}/console/api/handoffs/{escalated.handoff_id}"
    assert httpx.post(f"{base}/claim", headers=headers).status_code == 200
    for query, extra in (("?after=1", {}), ("", {"Last-Event-ID": "0"}), ("?after=0", {})):
        reader = SSEReader(f"{base}/stream{query}", cookie, headers=extra)
        try:
            turns, _, _ = reader.next("turns")  # the transcript goes out: a read
            assert "Jag vill prata med en människa" in [t["text"] for t in json.loads(turns)]
        finally:
            reader.close()
    assert _stream_rows(settings, escalated.handoff_id) == [
        ("anna", "stream", "after=1"), ("anna", "stream", "after=1"), ("anna", "stream", "after=0"),
    ]


def test_the_live_stream_ends_with_the_handoff_and_does_not_start_again(
    served: Served, settings: Settings, fake_rasa: FakeRasa
) -> None:
    """Security review M3: whoever closed a handoff kept a live stream of the conversation."""
    add_account(settings, "anna")
    cookie, csrf = login(served.url, "anna")
    escalated = escalate(settings, fake_rasa)
    headers = {"Cookie": f"console_session={cookie}", "X-CSRF-Token": csrf}
    base = f"{served.url}/console/api/handoffs/{escalated.handoff_id}"
    assert httpx.post(f"{base}/claim", headers=headers).status_code == 200
    reader = SSEReader(f"{base}/stream?after=0", cookie)
    try:
        reader.next("turns")
        closed = httpx.post(f"{base}/close", json={"outcome": "answered"}, headers=headers)
        assert closed.status_code == 200
        # the last turns up to the end (the bot resumed), then the stream ends
        data, _, _ = reader.next("ended", timeout=3.0)
        assert json.loads(data) == {"status": "closed"}
        reader.next("closed", timeout=3.0)
    finally:
        reader.close()
    fake_rasa.user_says(escalated.conversation_id, "Senare: något annat")
    again = SSEReader(f"{base}/stream?after=0", cookie)
    try:
        again.next("closed", timeout=5.0)
        assert again.status == 403
    finally:
        again.close()
    # reading it (not live) is still possible for the claimer, within CONSOLE_READ_HOURS
    assert httpx.get(base, headers=headers).status_code == 200
