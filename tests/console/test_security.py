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
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.console.app import create_app
from bot.console.rasa import PooledRasaAPI
from bot.console.ratelimit import LoginLimits
from bot.console.security import verify_password
from bot.settings import Settings
from bot.store import counsellors
from bot.store.db import session
from bot.store.handoffs import request_handoff
from bot.store.models import AuditEntry, Counsellor, Handoff, utcnow
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
    """CONSOLE_TRUSTED_PROXIES=127.0.0.1 (as the default): TestClient's peer is not it, so inventing
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
    with proxied(settings, fake_rasa, free_failures=0, first_delay=600,
                 per_address_per_minute=100) as client:  # fmt: skip
        add_account(settings, "anna")
        attempt(client, "anna", "warm-up-warm-up", "192.0.2.1")  # the dummy hash is made once

        def timed(username: str, address: str) -> tuple[int, dict, dict, float]:
            started = time.perf_counter()
            r = attempt(client, username, "guess-guess-guess", address)
            headers = {k: v for k, v in r.headers.items() if k not in ("date", "content-length")}
            return r.status_code, r.json(), headers, time.perf_counter() - started

        timed("anna", "192.0.2.30")  # from now on throttled there (a 600 s delay)
        wrong, unknown, throttled = [], [], []
        for i in range(5):  # in turn: a busy machine slows all three alike
            wrong.append(timed("anna", f"192.0.2.{10 + i}"))
            unknown.append(timed("nobody", f"192.0.2.{20 + i}"))
            throttled.append(timed("anna", "192.0.2.30"))
    answers = {(s, str(body), str(headers)) for s, body, headers, _ in wrong + unknown + throttled}
    assert len(answers) == 1, answers
    assert next(iter(answers))[0] == 401
    t_wrong, t_unknown, t_throttled = (statistics.median(t for *_, t in group)
                                       for group in (wrong, unknown, throttled))  # fmt: skip
    assert t_wrong > 0.2  # scrypt at today's cost
    for t in (t_unknown, t_throttled):
        assert 0.5 * t_wrong < t < 2.0 * t_wrong, (t_wrong, t_unknown, t_throttled)


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


# -- M3: a counsellor reads what they claimed, for a while ---------------------------------------


def _as(client: TestClient, username: str) -> tuple[ConsoleClient, str]:
    other = ConsoleClient(client.app)
    return other, login(other, username)


def _texts(client: TestClient, handoff_id: str) -> list[str]:
    response = client.get(f"/console/api/handoffs/{handoff_id}")
    assert response.status_code == 200, response.text
    return [t["text"] for t in response.json()["turns"] if t["text"]]


def _set_closed_at(settings: Settings, handoff_id: str, when: datetime) -> None:
    with session(settings.database_url) as db:
        db.execute(update(Handoff).where(Handoff.id == handoff_id).values(closed_at=when))
        db.commit()


def test_closing_a_waiting_handoff_needs_a_claim_and_buys_no_reading(
    client: TestClient, settings: Settings, fake_rasa: FakeRasa
) -> None:
    """The review's PoC (M3): close a waiting handoff without claiming it, read the
    conversation for ever after."""
    for name, role in (("anna", "counsellor"), ("chef", "admin")):
        add_account(settings, name, role)
    anna, anna_csrf = _as(client, "anna")
    escalated = escalate(settings, fake_rasa)
    base = f"/console/api/handoffs/{escalated.handoff_id}"
    assert anna.get(base).status_code == 200  # waiting: read to decide whether to claim it
    refused = post(anna, f"{base}/close", anna_csrf, json={"outcome": "other"})
    assert refused.status_code == 403 and "Claim" in refused.json()["detail"]["message"]
    with session(settings.database_url) as db:
        row = db.get(Handoff, escalated.handoff_id)
        assert (row.status, row.closed_by) == ("waiting", None)  # still in the queue
    assert fake_rasa.appended == []  # the bot was not resumed
    # an admin may take it out of the queue; nobody else reads it afterwards
    chef, chef_csrf = _as(client, "chef")
    assert post(chef, f"{base}/close", chef_csrf, json={"outcome": "other"}).status_code == 200
    assert anna.get(base).status_code == 403
    assert chef.get(base).status_code == 200


def test_the_claimer_reads_the_handoff_up_to_its_end_and_the_window_and_then_not_at_all(
    client: TestClient, settings: Settings, fake_rasa: FakeRasa
) -> None:
    settings = replace(settings, console_read_hours=1)
    app = create_app(settings, rasa=PooledRasaAPI(fake_rasa.url, JWT_SECRET), config=TEST_CONFIG)
    for name, role in (("anna", "counsellor"), ("bert", "counsellor"), ("chef", "admin")):
        add_account(settings, name, role)
    anna, anna_csrf = _as(ConsoleClient(app), "anna")
    bert, _ = _as(ConsoleClient(app), "bert")
    chef, _ = _as(ConsoleClient(app), "chef")
    escalated = escalate(settings, fake_rasa)
    base = f"/console/api/handoffs/{escalated.handoff_id}"
    assert post(anna, f"{base}/claim", anna_csrf).status_code == 200
    assert post(anna, f"{base}/reply", anna_csrf, json={"text": "Hej, jag heter Anna"}).status_code == 200
    assert bert.get(base).status_code == 403  # claimed by another
    assert post(anna, f"{base}/close", anna_csrf, json={"outcome": "answered"}).status_code == 200
    closed = time.time()
    fake_rasa.user_says(escalated.conversation_id, "Tack, en sak till", at=closed + 1800)
    fake_rasa.user_says(escalated.conversation_id, "Nästa vecka: mitt nya boende", at=closed + 7200)

    seen = _texts(anna, escalated.handoff_id)
    assert "Hej, jag heter Anna" in seen and "Tack, en sak till" in seen  # end + 1 hour
    assert "Nästa vecka: mitt nya boende" not in seen  # the person's later conversation
    assert anna.get(base).json()["next_seq"] == len(fake_rasa.events_of(escalated.conversation_id)) - 1
    assert bert.get(base).status_code == 403
    assert "Nästa vecka: mitt nya boende" not in _texts(chef, escalated.handoff_id)

    # an hour after the end, the claimer's access ends; an admin's does not
    _set_closed_at(settings, escalated.handoff_id, utcnow() - timedelta(minutes=61))
    gone = anna.get(base)
    assert gone.status_code == 403 and "too long ago" in gone.json()["detail"]["message"]
    assert chef.get(base).status_code == 200


def test_a_later_handoff_of_the_same_person_is_not_shown_through_an_earlier_one(
    client: TestClient, settings: Settings, fake_rasa: FakeRasa
) -> None:
    for name in ("anna", "bert"):
        add_account(settings, name)
    anna, anna_csrf = _as(client, "anna")
    bert, bert_csrf = _as(client, "bert")
    first = escalate(settings, fake_rasa)
    base = f"/console/api/handoffs/{first.handoff_id}"
    assert post(anna, f"{base}/claim", anna_csrf).status_code == 200
    assert post(anna, f"{base}/handback", anna_csrf).status_code == 200
    time.sleep(0.01)
    # the same person asks for a person again; bert takes it
    fake_rasa.user_says(first.conversation_id, "Jag behöver prata med någon igen")
    time.sleep(0.01)
    with session(settings.database_url) as db:
        second, created = request_handoff(db, conversation_id=first.conversation_id,
                                          channel="socketio", language="sv", reason="request")  # fmt: skip
        assert created
        second_id = second.id
    time.sleep(0.01)
    second_base = f"/console/api/handoffs/{second_id}"
    assert post(bert, f"{second_base}/claim", bert_csrf).status_code == 200
    assert post(bert, f"{second_base}/reply", bert_csrf, json={"text": "Bert här"}).status_code == 200
    fake_rasa.user_says(first.conversation_id, "Min adress är hemlig")

    seen = _texts(anna, first.handoff_id)  # within anna's 24 hours
    assert "Jag behöver prata med någon igen" in seen
    assert "Bert här" not in seen and "Min adress är hemlig" not in seen
    assert "Bert här" in _texts(bert, second_id)
    assert anna.get(second_base).status_code == 403


# -- M4: every read and every refusal is audited -------------------------------------------------


def _audit_rows(settings: Settings, **where: str) -> list[AuditEntry]:
    with session(settings.database_url) as db:
        statement = select(AuditEntry).order_by(AuditEntry.id)
        for column, value in where.items():
            statement = statement.where(getattr(AuditEntry, column) == value)
        return list(db.execute(statement).scalars())


def test_refusals_are_audited_with_who_and_where(
    client: TestClient, settings: Settings, fake_rasa: FakeRasa
) -> None:
    for name in ("anna", "bert"):
        add_account(settings, name)
    anna, anna_csrf = _as(client, "anna")
    bert, bert_csrf = _as(client, "bert")
    escalated = escalate(settings, fake_rasa)
    base = f"/console/api/handoffs/{escalated.handoff_id}"
    assert post(anna, f"{base}/claim", anna_csrf).status_code == 200
    assert bert.get(base).status_code == 403
    assert post(bert, f"{base}/reply", bert_csrf, json={"text": "hej"}).status_code == 403
    assert bert.get("/console/api/audit").status_code == 403
    assert bert.post(f"{base}/close", json={"outcome": "other"}).status_code == 403  # no CSRF
    refused = [(r.handoff_id, r.detail) for r in _audit_rows(settings, actor="bert",
                                                              action="refused")]  # fmt: skip
    assert refused == [
        (escalated.handoff_id, "GET /console/api/handoffs/{handoff_id}"),
        (escalated.handoff_id, "POST /console/api/handoffs/{handoff_id}/reply"),
        (None, "GET /console/api/audit"),
        (escalated.handoff_id, "POST /console/api/handoffs/{handoff_id}/close"),
    ]
    ref = _audit_rows(settings, actor="bert", action="refused")[0].conversation_ref
    assert ref is not None and escalated.conversation_id not in ref


def test_admin_reads_of_the_audit_log_are_filtered_and_audited(
    client: TestClient, settings: Settings, fake_rasa: FakeRasa
) -> None:
    for name, role in (("anna", "counsellor"), ("bert", "counsellor"), ("chef", "admin")):
        add_account(settings, name, role)
    anna, anna_csrf = _as(client, "anna")
    _as(client, "bert")
    escalated = escalate(settings, fake_rasa)
    base = f"/console/api/handoffs/{escalated.handoff_id}"
    assert anna.get(base).status_code == 200
    assert post(anna, f"{base}/claim", anna_csrf).status_code == 200
    chef, _ = _as(client, "chef")

    page = chef.get("/console/api/audit", params={"actor": "anna"}).json()
    assert [e["action"] for e in page["entries"]] == ["claim", "open", "login"]  # newest first
    assert {"anna", "bert", "chef", "user"} <= set(page["actors"])
    opened = chef.get("/console/api/audit", params={"action": "open"}).json()["entries"]
    assert [(e["actor"], e["handoff_id"]) for e in opened] == [("anna", escalated.handoff_id)]
    today = utcnow().date()
    assert chef.get("/console/api/audit", params={"since": str(today), "until": str(today),
                                                  "actor": "bert"}).json()["entries"]  # fmt: skip
    tomorrow = today + timedelta(days=1)
    assert chef.get("/console/api/audit", params={"since": str(tomorrow)}).json()["entries"] == []
    assert chef.get("/console/api/audit", params={"since": str(tomorrow),
                                                  "until": str(today)}).status_code == 422  # fmt: skip
    one = chef.get("/console/api/audit", params={"limit": 1}).json()
    assert len(one["entries"]) == 1 and one["more"] is True
    older = chef.get("/console/api/audit", params={"before_id": one["entries"][0]["id"]}).json()
    assert all(e["id"] < one["entries"][0]["id"] for e in older["entries"])
    chain = chef.get("/console/api/audit/chain").json()
    assert chain["ok"] is True and chain["append_only"] is True and chain["rows"] > 5

    reads = [r.detail for r in _audit_rows(settings, actor="chef", action="audit_read")]
    assert reads[:2] == ["actor=anna", "action=open"] and len(reads) == 6  # not the 422
    assert [r.detail for r in _audit_rows(settings, actor="chef", action="audit_verify")] == [
        "intact"]  # fmt: skip


# -- L1: counsellor replies are redacted -----------------------------------------------------------


def test_a_reply_is_redacted_before_it_is_stored_and_sent_and_the_counsellor_sees_what_went(
    client: TestClient, settings: Settings, fake_rasa: FakeRasa
) -> None:
    add_account(settings, "anna")
    csrf = login(client, "anna")
    escalated = escalate(settings, fake_rasa)
    base = f"/console/api/handoffs/{escalated.handoff_id}"
    assert post(client, f"{base}/claim", csrf).status_code == 200
    fake_rasa.appended.clear()
    typed = "Ring mig på 070-123 45 67 eller mejla anna.berg@example.org. Ärende 12-345678."
    r = post(client, f"{base}/reply", csrf, json={"text": typed})
    assert r.status_code == 200, r.text
    body = r.json()
    sent = "Ring mig på [telefon] eller mejla [e-post]. Ärende [ärendenummer]."
    assert body["text"] == sent
    assert body["removed"] == [
        {"original": "070-123 45 67", "placeholder": "[telefon]"},
        {"original": "anna.berg@example.org", "placeholder": "[e-post]"},
        {"original": "12-345678", "placeholder": "[ärendenummer]"},
    ]
    # stored in the transcript and delivered: the redacted text only
    ((_, event, _),) = fake_rasa.appended
    assert event["text"] == sent and fake_rasa.delivered_to(escalated.conversation_id)[-1].event[
        "text"] == sent  # fmt: skip
    turns = client.get(base).json()["turns"]
    assert turns[-1]["kind"] == "counsellor" and turns[-1]["text"] == sent
    [row] = _audit_rows(settings, action="reply")
    assert row.detail == "redacted=3"
    # a reply with nothing to remove goes as written
    plain = post(client, f"{base}/reply", csrf, json={"text": "Du har tre veckor på dig."}).json()
    assert plain["text"] == "Du har tre veckor på dig." and plain["removed"] == []


def test_where_each_identifier_was_is_found_even_between_look_alike_separators() -> None:
    from bot.console.redaction import redact_reply

    text, removed = redact_reply("070-123 45 67 anna@example.org")
    assert text == "[telefon] [e-post]"
    assert [(r.original, r.placeholder) for r in removed] == [
        ("070-123 45 67", "[telefon]"), ("anna@example.org", "[e-post]")]  # fmt: skip
    assert redact_reply("Skriv [telefon] om du vill") == ("Skriv [telefon] om du vill", [])


def test_the_trusted_proxies_setting(monkeypatch: pytest.MonkeyPatch, settings: Settings,
                                     fake_rasa: FakeRasa) -> None:  # fmt: skip
    from bot.console.app import trusted_proxies
    from bot.settings import SettingsError

    for name in ("CONSOLE_TRUSTED_PROXIES", "TRUSTED_PROXIES"):
        monkeypatch.delenv(name, raising=False)
    assert trusted_proxies(Settings.from_env()) == ["127.0.0.1", "::1"]  # this machine only
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.5")  # the one the Rasa servers read
    assert trusted_proxies(Settings.from_env()) == ["10.0.0.5"]
    monkeypatch.setenv("CONSOLE_TRUSTED_PROXIES", "10.0.0.6, 10.0.0.7")
    assert trusted_proxies(Settings.from_env()) == ["10.0.0.6", "10.0.0.7"]
    with pytest.raises(SettingsError, match="any client"):
        create_app(replace(settings, console_trusted_proxies="10.0.0.6,*"),
                   rasa=PooledRasaAPI(fake_rasa.url, JWT_SECRET))  # fmt: skip
