"""Issue 20 (security review M2, M3, M4, L1, L4, L5, M7): the console's login, who reads what,
the audit log, redaction of replies and the database engine's error texts.

Through the real app (FastAPI's TestClient), its real database and a fake Rasa on a real port;
the tests of the console process itself are in test_console_stack.py.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import statistics
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.console.app import create_app
from bot.console.rasa import PooledRasaAPI
from bot.console.ratelimit import LoginLimits
from bot.console.security import verify_password
from bot.settings import Settings
from bot.store import counsellors
from bot.store.db import session
from bot.store.models import AuditEntry, Counsellor, Handoff
from tests.console.conftest import (
    JWT_SECRET,
    PASSWORD,
    TEST_CONFIG,
    ConsoleClient,
    add_account,
    escalate,
    login,
)
from tests.console.fake_rasa import FakeRasa


def post(client: TestClient, path: str, csrf: str, **kwargs) -> object:  # type: ignore[no-untyped-def]
    return client.post(path, headers={"X-CSRF-Token": csrf}, **kwargs)


# -- M7: no parameters in database errors ------------------------------------------------------


def test_a_database_error_does_not_carry_the_statements_parameters(settings: Settings) -> None:
    """Whoever logs the exception (Rasa's channels log them whole) logs no message text."""
    secret = "mitt personnummer är 19870412-5566"
    with session(settings.database_url) as db:
        db.add(Handoff(id="h1", conversation_id="c1", reason="request"))
        db.commit()
        db.add(Handoff(id="h1", conversation_id=secret, reason="request"))
        with pytest.raises(IntegrityError) as caught:
            db.commit()
    text = str(caught.value)
    assert "UNIQUE" in text  # the error itself is still there to be logged
    assert secret not in text and "19870412" not in text


# -- L4: a CSRF header that is not ASCII ---------------------------------------------------------


def test_a_csrf_header_with_a_non_ascii_character_is_refused_not_a_server_error(
    client: TestClient, settings: Settings, fake_rasa: FakeRasa
) -> None:
    add_account(settings, "anna")
    csrf = login(client, "anna")
    escalated = escalate(settings, fake_rasa)
    url = f"/console/api/handoffs/{escalated.handoff_id}/claim"
    for bad in ("é".encode("latin-1"), csrf[:-1].encode() + b"\xe9", b"\xff" * 64):
        response = client.post(url, headers={"X-CSRF-Token": bad})
        assert response.status_code == 403, (bad, response.status_code)
    assert fake_rasa.appended == []
    assert post(client, url, csrf).status_code == 200


# -- M2, L5: login limits, one answer, scrypt's cost ----------------------------------------------

LOGIN = "/console/api/login"
ATTACKER = "203.0.113.7"
ANNA_AT_WORK = "198.51.100.20"


def proxied(settings: Settings, fake_rasa: FakeRasa, trusted: str = "testclient",
            **limits: float) -> ConsoleClient:  # fmt: skip
    """The console behind a proxy (TestClient's peer is "testclient": trusted as the proxy),
    with the given login limits."""
    settings = replace(settings, console_trusted_proxies=trusted)
    config = replace(TEST_CONFIG, login=replace(LoginLimits(), **limits))
    app = create_app(settings, rasa=PooledRasaAPI(fake_rasa.url, JWT_SECRET), config=config)
    return ConsoleClient(app)


def attempt(client: TestClient, username: str, password: str, address: str | None = None):  # type: ignore[no-untyped-def]
    headers = {"X-Forwarded-For": address} if address else {}
    return client.post(LOGIN, json={"username": username, "password": password}, headers=headers)


@pytest.fixture()
def behind_proxy(settings: Settings, fake_rasa: FakeRasa) -> Iterator[ConsoleClient]:
    with proxied(settings, fake_rasa, per_address_per_minute=8) as client:
        yield client


def test_guessing_from_one_address_neither_locks_out_nor_logs_out_the_counsellors(
    behind_proxy: ConsoleClient, settings: Settings
) -> None:
    """The review's attack (M2): behind nginx, guesses at anna's password and at made-up names
    from one address, past its limit. Before: everybody got 429 for a minute, anna was locked
    for 15 minutes and her open session was deleted."""
    add_account(settings, "anna")
    add_account(settings, "bert")
    working = ConsoleClient(behind_proxy.app)
    assert attempt(working, "anna", PASSWORD, ANNA_AT_WORK).status_code == 200
    for _ in range(10):
        assert attempt(behind_proxy, "anna", "guess-guess-guess", ATTACKER).status_code == 401
    for i in range(10):
        assert attempt(behind_proxy, f"user{i}", "guess-guess-guess", ATTACKER).status_code == 401
    # the attacker's address is throttled now: even the right password is refused there
    assert attempt(behind_proxy, "anna", PASSWORD, ATTACKER).status_code == 401
    # anna's open session is still there, and she and bert log in from their own addresses
    assert working.get("/console/api/me").status_code == 200
    again = ConsoleClient(behind_proxy.app)
    assert attempt(again, "anna", PASSWORD, ANNA_AT_WORK).status_code == 200
    assert attempt(again, "bert", PASSWORD, "198.51.100.21").status_code == 200
    # the failures at an existing account are audited (after the answer), without the password
    with session(settings.database_url) as db:
        rows = db.execute(select(AuditEntry.action, AuditEntry.detail)
                          .where(AuditEntry.actor == "anna")).all()  # fmt: skip
    # three free failures, then the delays: a check now and then while they ran out
    assert 3 <= rows.count(("login_failed", None)) <= 5
    assert ("login_failed", "throttled") in rows
    assert [r for r in rows if r[0] == "login"] == [("login", None)] * 2


def test_delays_grow_per_account_and_address_and_end(settings: Settings, fake_rasa: FakeRasa) -> None:
    with proxied(settings, fake_rasa, free_failures=2, first_delay=0.6) as client:
        add_account(settings, "anna")
        for _ in range(2):  # free
            assert attempt(client, "anna", "guess-guess-guess", ATTACKER).status_code == 401
        assert attempt(client, "anna", "guess-guess-guess", ATTACKER).status_code == 401
        # third failure: the next attempt from there must wait 0.6 s, the right password too
        assert attempt(client, "anna", PASSWORD, ATTACKER).status_code == 401
        assert attempt(client, "anna", PASSWORD, ANNA_AT_WORK).status_code == 200  # elsewhere
        time.sleep(0.7)
        assert attempt(ConsoleClient(client.app), "anna", PASSWORD, ATTACKER).status_code == 200


def test_many_addresses_guessing_one_account_are_slowed_but_its_known_address_is_not(
    settings: Settings, fake_rasa: FakeRasa
) -> None:
    with proxied(settings, fake_rasa, account_failures_per_hour=5) as client:
        add_account(settings, "anna")
        assert attempt(client, "anna", PASSWORD, ANNA_AT_WORK).status_code == 200
        for i in range(5):  # a botnet: one guess per address
            assert attempt(client, "anna", "guess-guess-guess", f"203.0.113.{i}").status_code == 401
        # a sixth address, even with the right password, waits for the hour to move on ...
        assert attempt(client, "anna", PASSWORD, "203.0.113.99").status_code == 401
        # ... IPv6 addresses count by their /64 ...
        assert attempt(client, "anna", PASSWORD, "2001:db8:1:2::99").status_code == 401
        # ... but where anna logged in before, she still gets in
        assert attempt(ConsoleClient(client.app), "anna", PASSWORD, ANNA_AT_WORK).status_code == 200


def test_forwarded_for_from_a_peer_that_is_not_the_proxy_is_ignored(
    settings: Settings, fake_rasa: FakeRasa
) -> None:
    """CONSOLE_TRUSTED_PROXIES=127.0.0.1 (the default): TestClient's peer is not it, so inventing
    a new X-Forwarded-For per attempt does not escape the per-address limit."""
    add_account(settings, "anna")
    with proxied(settings, fake_rasa, "127.0.0.1", per_address_per_minute=4) as client:
        for i in range(4):
            attempt(client, f"user{i}", "guess-guess-guess", f"192.0.2.{i}")
        assert attempt(client, "anna", PASSWORD, "192.0.2.200").status_code == 401
    with proxied(settings, fake_rasa, "testclient", per_address_per_minute=4) as client:
        for i in range(4):
            attempt(client, f"user{i}", "guess-guess-guess", f"192.0.2.{i}")
        assert attempt(client, "anna", PASSWORD, "192.0.2.200").status_code == 200


def test_unknown_user_wrong_password_and_throttled_get_the_same_answer_in_about_the_same_time(
    settings: Settings, fake_rasa: FakeRasa
) -> None:
    with proxied(settings, fake_rasa, free_failures=0, first_delay=600) as client:
        add_account(settings, "anna")
        attempt(client, "anna", "warm-up-warm-up", "192.0.2.1")  # the dummy hash is made once

        def timed(username: str, address: str) -> tuple[int, dict, dict, float]:
            started = time.perf_counter()
            r = attempt(client, username, "guess-guess-guess", address)
            headers = {k: v for k, v in r.headers.items() if k not in ("date", "content-length")}
            return r.status_code, r.json(), headers, time.perf_counter() - started

        wrong = [timed("anna", f"192.0.2.{10 + i}") for i in range(3)]
        unknown = [timed("nobody", f"192.0.2.{20 + i}") for i in range(3)]
        timed("anna", "192.0.2.30")
        throttled = [timed("anna", "192.0.2.30") for _ in range(3)]  # within its 600 s delay
    answers = {(s, str(body), str(headers)) for s, body, headers, _ in wrong + unknown + throttled}
    assert len(answers) == 1, answers
    assert next(iter(answers))[0] == 401
    t_wrong, t_unknown, t_throttled = (statistics.median(t for *_, t in group)
                                       for group in (wrong, unknown, throttled))  # fmt: skip
    assert t_wrong > 0.2  # scrypt at today's cost
    for t in (t_unknown, t_throttled):
        assert 0.6 * t_wrong < t < 1.6 * t_wrong, (t_wrong, t_unknown, t_throttled)


def _old_hash(password: str) -> str:
    """A hash as the console made them before (N=2^14)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    return f"scrypt$16384$8$1${b64(salt)}${b64(digest)}"


def test_an_old_hash_is_renewed_at_owasps_cost_on_login(
    client: TestClient, settings: Settings
) -> None:
    with session(settings.database_url) as db:
        counsellors.create_counsellor(db, username="anna", password_hash=_old_hash(PASSWORD),
                                      role="counsellor")  # fmt: skip
    login(client, "anna")
    with session(settings.database_url) as db:
        stored = db.execute(select(Counsellor.password_hash)).scalar_one()
    assert stored.startswith("scrypt$131072$8$1$")
    assert verify_password(PASSWORD, stored) and not verify_password("x" + PASSWORD, stored)
    assert client.get("/console/api/me").status_code == 200  # the session lives on
    assert login(ConsoleClient(client.app), "anna")
