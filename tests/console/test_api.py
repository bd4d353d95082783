"""The console's API through FastAPI's TestClient, with Rasa's HTTP API faked on a real port.

Nothing under test is mocked: the app, its database and the HTTP calls to "Rasa" are real.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from bot.console.app import create_app
from bot.console.rasa import PooledRasaAPI
from bot.console.security import verify_password
from bot.settings import Settings
from bot.store.db import session
from bot.store.models import AuditEntry, ConsoleSession, Counsellor, Handoff, utcnow
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

STATIC = Path(__file__).resolve().parents[2] / "bot" / "console" / "static"


def post(client: TestClient, path: str, csrf: str, **kwargs) -> object:  # type: ignore[no-untyped-def]
    return client.post(path, headers={"X-CSRF-Token": csrf}, **kwargs)


def second_client(client: TestClient) -> TestClient:
    """Another browser: its own cookie jar, the same app."""
    return ConsoleClient(client.app)


def handoff_row(settings: Settings, handoff_id: str) -> Handoff:
    with session(settings.database_url) as db:
        return db.get(Handoff, handoff_id)


# -- login ------------------------------------------------------------------------------------


def test_login_sets_a_hardened_session_cookie_and_logout_ends_it(
    client: TestClient, settings: Settings
) -> None:
    add_account(settings, "anna")
    response = client.post("/console/api/login", json={"username": "anna", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "anna" and body["role"] == "counsellor"
    assert re.fullmatch(r"[0-9a-f]{64}", body["csrf_token"])
    cookie = response.headers["set-cookie"]
    for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/console"):
        assert flag.lower() in cookie.lower(), cookie
    token = re.search(r"console_session=([^;]+)", cookie).group(1)
    # Only a hash of the token is stored.
    with session(settings.database_url) as db:
        stored = db.execute(select(ConsoleSession.token_hash)).scalars().all()
    assert len(stored) == 1 and token not in stored[0]

    me = client.get("/console/api/me")
    assert me.status_code == 200 and me.json()["csrf_token"] == body["csrf_token"]

    out = post(client, "/console/api/logout", body["csrf_token"])
    assert out.status_code == 204
    client.cookies.set("console_session", token, domain="testserver.local", path="/console")
    assert client.get("/console/api/me").status_code == 401  # the old token is dead


def test_wrong_password_and_unknown_user_get_the_same_answer(
    client: TestClient, settings: Settings
) -> None:
    add_account(settings, "anna")
    wrong = client.post("/console/api/login", json={"username": "anna", "password": "nope" * 4})
    unknown = client.post("/console/api/login", json={"username": "nobody", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert "set-cookie" not in wrong.headers
    assert client.get("/console/api/me").status_code == 401


def test_login_attempts_are_limited_per_address_whatever_the_username(
    settings: Settings, fake_rasa: FakeRasa
) -> None:
    """Guessing across many usernames (each below its own limit) hits the address limit; the
    answer is the wrong-password one, and no account is locked by it."""
    from dataclasses import replace

    from bot.console.ratelimit import LoginLimits

    add_account(settings, "anna")
    config = replace(TEST_CONFIG, login=LoginLimits(per_address_per_minute=4))
    app = create_app(settings, rasa=PooledRasaAPI(fake_rasa.url, JWT_SECRET), config=config)
    with ConsoleClient(app) as client:
        answers = []
        for name in ("bert", "cilla", "dan", "eva"):
            r = client.post("/console/api/login", json={"username": name, "password": PASSWORD})
            assert r.status_code == 401
            answers.append(r.json())
        # Over the limit: refused before the password is even looked at, the right one too.
        r = client.post("/console/api/login", json={"username": "anna", "password": PASSWORD})
        assert r.status_code == 401 and "set-cookie" not in r.headers
        assert r.json() == answers[0]


def test_expired_session_is_refused(client: TestClient, settings: Settings) -> None:
    add_account(settings, "anna")
    login(client, "anna")
    with session(settings.database_url) as db:
        db.execute(update(ConsoleSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.commit()
    assert client.get("/console/api/me").status_code == 401


# -- access control ---------------------------------------------------------------------------


def test_every_api_route_needs_a_login(client: TestClient, settings: Settings,
                                       fake_rasa: FakeRasa) -> None:  # fmt: skip
    escalated = escalate(settings, fake_rasa)
    routes = [r for r in client.app.routes
              if isinstance(r, APIRoute) and r.path.startswith("/console/api")]  # fmt: skip
    checked = 0
    for route in routes:
        if route.path == "/console/api/login":
            continue
        path = route.path.replace("{handoff_id}", escalated.handoff_id)
        for method in route.methods:
            response = client.request(method, path, json={"text": "x", "outcome": "answered"})
            assert response.status_code == 401, (method, route.path, response.status_code)
            checked += 1
    assert checked >= 11
    assert fake_rasa.appended == []  # nothing reached Rasa
    # The page and the health check are public; they hold no data.
    assert client.get("/console").status_code == 200
    assert client.get("/console/health").json() == {"status": "ok", "database": "ok"}


def test_state_changing_calls_need_the_csrf_token(
    client: TestClient, settings: Settings, fake_rasa: FakeRasa
) -> None:
    add_account(settings, "anna")
    csrf = login(client, "anna")
    escalated = escalate(settings, fake_rasa)
    url = f"/console/api/handoffs/{escalated.handoff_id}/claim"
    assert client.post(url).status_code == 403
    assert client.post(url, headers={"X-CSRF-Token": "0" * 64}).status_code == 403
    cross_site = client.post(url, headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"})
    assert cross_site.status_code == 403
    assert client.post("/console/api/logout").status_code == 403
    assert handoff_row(settings, escalated.handoff_id).status == "waiting"
    assert fake_rasa.appended == []
    assert post(client, url, csrf).status_code == 200


def test_roles_are_checked(client: TestClient, settings: Settings) -> None:
    add_account(settings, "anna")
    add_account(settings, "boss", role="admin")
    login(client, "anna")
    assert client.get("/console/api/audit").status_code == 403
    admin = second_client(client)
    login(admin, "boss")
    assert admin.get("/console/api/audit").status_code == 200
    # An account whose role is neither counsellor nor admin gets nothing.
    with session(settings.database_url) as db:
        db.execute(update(Counsellor).where(Counsellor.username == "anna").values(role="guest"))
        db.commit()
    assert client.get("/console/api/handoffs").status_code == 403


# -- page and headers -------------------------------------------------------------------------


def test_security_headers_on_every_response(client: TestClient, settings: Settings) -> None:
    add_account(settings, "anna")
    responses = [
        client.get("/console"), client.get("/console/static/console.js"),
        client.get("/console/static/console.css"), client.get("/console/health"),
        client.get("/console/api/me"),
        client.post("/console/api/login", json={"username": "anna", "password": "x" * 12}),
        client.get("/console/no-such-page"),
    ]  # fmt: skip
    for response in responses:
        h = response.headers
        csp = h["content-security-policy"]
        assert (
            "default-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
        )
        assert "frame-ancestors 'none'" in csp
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "no-referrer"
        assert h["x-frame-options"] == "DENY"
    assert client.get("/console/api/me").headers["cache-control"] == "no-store"


class _PageAudit(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.sources: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.problems.append(f"{tag} {name}")
            if name in ("src", "href") and value and re.match(r"(https?:)?//", value):
                self.problems.append(f"external {value}")
        if tag == "style":
            self.problems.append("inline <style>")
        if tag == "script":
            if "src" not in names:
                self.problems.append("inline <script>")
            else:
                self.sources.append(names["src"] or "")


def test_page_has_no_inline_script_or_style_and_scripts_use_text_not_html(
    client: TestClient,
) -> None:
    audit = _PageAudit()
    audit.feed(client.get("/console").text)
    assert audit.problems == []
    assert audit.sources == ["/console/static/console.js"]
    script = (STATIC / "console.js").read_text()
    for unsafe in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                   "new Function", "http://", "https://"):  # fmt: skip
        assert unsafe not in script, unsafe


# -- the queue --------------------------------------------------------------------------------


def test_queue_urgent_first_then_longest_waiting(
    client: TestClient, settings: Settings, fake_rasa: FakeRasa
) -> None:
    add_account(settings, "anna")
    login(client, "anna")
    first = escalate(settings, fake_rasa, language="en")
    second = escalate(settings, fake_rasa, language="ar")
    urgent = escalate(settings, fake_rasa, priority="urgent", reason="crisis")
    queue = client.get("/console/api/handoffs").json()["handoffs"]
    assert [h["id"] for h in queue] == [urgent.handoff_id, first.handoff_id, second.handoff_id]
    top = queue[0]
    assert (top["priority"], top["reason"], top["language"], top["channel"], top["status"]) == (
        "urgent", "crisis", "sv", "socketio", "waiting")  # fmt: skip
    assert top["created_at"].endswith("+00:00")
    assert "conversation_id" not in top


def test_escalation_while_the_console_is_down_is_in_the_queue_when_it_starts(
    settings: Settings, fake_rasa: FakeRasa, content_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handoff is made by the real escalation action while no console runs."""
    from rasa_sdk.executor import CollectingDispatcher

    import actions.common
    import actions.handoff
    from tests.conftest import make_tracker

    with (content_dir / "texts.yml").open("a", encoding="utf-8") as texts:
        for key in ("handoff_open", "handoff_closed", "handoff_already", "handoff_unavailable"):
            texts.write(f'{key}:\n  sv: {{text: "{key}", reviewed: false}}\n')
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CONTENT_DIR", str(content_dir))
    monkeypatch.setenv("OFFICE_HOURS", "mon-sun 00:00-23:59")
    for cached in (actions.common.settings, actions.common.office_hours,
                   actions.handoff.store_url):  # fmt: skip
        cached.cache_clear()
    try:
        tracker = make_tracker("jag vill prata med en människa", "request_human",
                               sender_id="offline-user", channel="socketio")  # fmt: skip
        events = actions.handoff.escalate(CollectingDispatcher(), tracker, "sv", reason="request")
    finally:
        for cached in (actions.common.settings, actions.common.office_hours,
                       actions.handoff.store_url):  # fmt: skip
            cached.cache_clear()
    assert events[-1]["event"] == "pause"

    # Now the console starts, for the first time, on that database.
    add_account(settings, "anna")
    app = create_app(settings, rasa=PooledRasaAPI(fake_rasa.url, JWT_SECRET), config=TEST_CONFIG)
    with ConsoleClient(app) as client:
        login(client, "anna")
        queue = client.get("/console/api/handoffs").json()["handoffs"]
    assert [(h["channel"], h["reason"], h["status"]) for h in queue] == [
        ("socketio", "request", "waiting")]  # fmt: skip


# -- claim ------------------------------------------------------------------------------------


def test_claim_race_exactly_one_wins(
    client: TestClient, settings: Settings, fake_rasa: FakeRasa
) -> None:
    add_account(settings, "anna")
    add_account(settings, "bert")
    other = second_client(client)
    tokens = {"anna": (client, login(client, "anna")), "bert": (other, login(other, "bert"))}
    for _ in range(5):
        escalated = escalate(settings, fake_rasa)
        barrier = threading.Barrier(2)
        results: dict[str, tuple[int, dict]] = {}

        def claim(name: str, escalated=escalated, barrier=barrier, results=results) -> None:  # type: ignore[no-untyped-def]
            who, csrf = tokens[name]
            barrier.wait()
            r = post(who, f"/console/api/handoffs/{escalated.handoff_id}/claim", csrf)
            results[name] = (r.status_code, r.json())

        threads = [threading.Thread(target=claim, args=(n,)) for n in tokens]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        codes = sorted(code for code, _ in results.values())
        assert codes == [200, 409], results
        winner = next(n for n, (code, _) in results.items() if code == 200)
        loser = next(n for n, (code, _) in results.items() if code == 409)
        assert results[loser][1]["detail"]["message"] == f"Already taken by {winner}"
        assert handoff_row(settings, escalated.handoff_id).claimed_by == winner
        # The user is told once, not twice.
        assert len(fake_rasa.delivered_to(escalated.conversation_id)) == 1


def test_claim_tells_the_user_in_their_language(
    client: TestClient, settings: Settings, fake_rasa: FakeRasa
) -> None:
    add_account(settings, "anna")
    csrf = login(client, "anna")
    escalated = escalate(settings, fake_rasa, language="en")
    r = post(client, f"/console/api/handoffs/{escalated.handoff_id}/claim", csrf)
    assert r.status_code == 200 and r.json()["user_notified"] is True
    assert r.json()["handoff"]["claimed_by"] == "anna"
    (delivery,) = fake_rasa.delivered_to(escalated.conversation_id)
    assert delivery.event["text"] == "A counsellor has joined and will answer you here."
    # claiming again is a conflict, not a second message
    again = post(client, f"/console/api/handoffs/{escalated.handoff_id}/claim", csrf)
    assert again.status_code == 409
    assert len(fake_rasa.delivered_to(escalated.conversation_id)) == 1


# -- conversation, reply, hand back, close ----------------------------------------------------


def test_reply_reaches_rasa_and_the_transcript_shows_it(
    client: TestClient, settings: Settings, fake_rasa: FakeRasa
) -> None:
    add_account(settings, "anna")
    csrf = login(client, "anna")
    escalated = escalate(settings, fake_rasa)
    base = f"/console/api/handoffs/{escalated.handoff_id}"
    assert post(client, f"{base}/reply", csrf, json={"text": "Hej"}).status_code == 409  # unclaimed
    assert post(client, f"{base}/claim", csrf).status_code == 200
    fake_rasa.appended.clear()

    reply = "Hej! Du har tre veckor på dig att överklaga."
    r = post(client, f"{base}/reply", csrf, json={"text": f"  {reply}\n"})
    assert r.status_code == 200, r.text
    ((conversation, event, params),) = fake_rasa.appended
    assert conversation == escalated.conversation_id
    assert event["event"] == "bot" and event["text"] == reply
    assert event["metadata"] == {"counsellor": "anna"}
    assert params == {"output_channel": "latest", "execute_side_effects": "true"}
    assert fake_rasa.delivered_to(escalated.conversation_id)[-1].event["text"] == reply
    assert fake_rasa.unauthorised == 0

    fake_rasa.user_says(escalated.conversation_id, "Tack, hur gör jag?", intent="appeal_how")
    detail = client.get(base).json()
    turns = detail["turns"]
    kinds = [t["kind"] for t in turns]
    assert kinds == ["user", "bot", "user", "bot", "system", "bot", "counsellor", "user"]
    assert turns[0]["language"] == "sv" and turns[0]["intent"] == "appeal_how"
    assert turns[0]["channel"] == "socketio"
    assert turns[1]["topic"] == "appeal_how" and turns[1]["buttons"] == ["Tid att överklaga"]
    assert turns[4]["event"] == "pause"
    assert turns[5]["text"].startswith("En rådgivare har anslutit")  # counsellor_joined
    assert turns[6] == {**turns[6], "counsellor": "anna", "text": reply}
    assert turns[7]["text"] == "Tack, hur gör jag?"
    assert detail["next_seq"] == len(fake_rasa.events_of(escalated.conversation_id))


def test_reply_is_length_limited_and_not_empty(
    client: TestClient, settings: Settings, fake_rasa: FakeRasa
) -> None:
    add_account(settings, "anna")
    csrf = login(client, "anna")
    escalated = escalate(settings, fake_rasa)
    base = f"/console/api/handoffs/{escalated.handoff_id}"
    post(client, f"{base}/claim", csrf)
    fake_rasa.appended.clear()
    assert post(client, f"{base}/reply", csrf, json={"text": "   "}).status_code == 422
    assert post(client, f"{base}/reply", csrf, json={"text": "a" * 2001}).status_code == 422
    assert post(client, f"{base}/reply", csrf, json={"wrong": "shape"}).status_code == 422
    assert post(client, f"{base}/reply", csrf, content=b"\xff\xfe").status_code == 422
    assert fake_rasa.appended == []
    assert post(client, f"{base}/reply", csrf, json={"text": "a" * 2000}).status_code == 200


def test_counsellor_cannot_act_on_another_counsellors_handoff(
    client: TestClient, settings: Settings, fake_rasa: FakeRasa
) -> None:
    add_account(settings, "anna")
    add_account(settings, "bert")
    add_account(settings, "boss", role="admin")
    anna_csrf = login(client, "anna")
    bert = second_client(client)
    bert_csrf = login(bert, "bert")
    escalated = escalate(settings, fake_rasa)
    base = f"/console/api/handoffs/{escalated.handoff_id}"
    assert bert.get(base).status_code == 200  # a waiting one may be read before claiming
    assert post(client, f"{base}/claim", anna_csrf).status_code == 200
    fake_rasa.appended.clear()

    assert bert.get(base).status_code == 403
    assert post(bert, f"{base}/reply", bert_csrf, json={"text": "hej"}).status_code == 403
    assert post(bert, f"{base}/handback", bert_csrf).status_code == 403
    r = post(bert, f"{base}/close", bert_csrf, json={"outcome": "answered"})
    assert r.status_code == 403 and r.json()["detail"]["claimed_by"] == "anna"
    assert fake_rasa.appended == []
    assert handoff_row(settings, escalated.handoff_id).status == "claimed"

    admin = second_client(client)
    admin_csrf = login(admin, "boss")
    assert admin.get(base).status_code == 200
    assert post(admin, f"{base}/reply", admin_csrf, json={"text": "Admin här"}).status_code == 200
    assert fake_rasa.appended[-1][1]["metadata"] == {"counsellor": "boss"}
    assert post(admin, f"{base}/close", admin_csrf, json={"outcome": "other"}).status_code == 200
    row = handoff_row(settings, escalated.handoff_id)
    assert (row.status, row.closed_by, row.outcome) == ("closed", "boss", "other")


def test_hand_back_resumes_the_bot_and_tells_the_user(
    client: TestClient, settings: Settings, fake_rasa: FakeRasa
) -> None:
    add_account(settings, "anna")
    csrf = login(client, "anna")
    escalated = escalate(settings, fake_rasa)
    base = f"/console/api/handoffs/{escalated.handoff_id}"
    post(client, f"{base}/claim", csrf)
    assert fake_rasa.paused(escalated.conversation_id)
    r = post(client, f"{base}/handback", csrf)
    assert r.status_code == 200 and r.json()["handoff"]["status"] == "returned"
    assert not fake_rasa.paused(escalated.conversation_id)
    tail = [e["event"] for e in fake_rasa.events_of(escalated.conversation_id)[-3:]]
    assert tail == ["resume", "action", "bot"]  # action_listen: the bot listens again
    assert fake_rasa.delivered_to(escalated.conversation_id)[-1].event["text"] == (
        "Nu svarar assistenten igen.")  # fmt: skip
    row = handoff_row(settings, escalated.handoff_id)
    assert (row.status, row.closed_by) == ("returned", "anna")
    assert client.get("/console/api/handoffs").json()["handoffs"] == []
    assert post(client, f"{base}/handback", csrf).status_code == 409


def test_close_records_the_outcome_and_resumes(
    client: TestClient, settings: Settings, fake_rasa: FakeRasa
) -> None:
    add_account(settings, "anna")
    csrf = login(client, "anna")
    escalated = escalate(settings, fake_rasa)
    base = f"/console/api/handoffs/{escalated.handoff_id}"
    post(client, f"{base}/claim", csrf)
    assert post(client, f"{base}/close", csrf, json={"outcome": "maybe"}).status_code == 422
    r = post(client, f"{base}/close", csrf, json={"outcome": "referred"})
    assert r.status_code == 200
    row = handoff_row(settings, escalated.handoff_id)
    assert (row.status, row.outcome, row.closed_by) == ("closed", "referred", "anna")
    assert row.closed_at is not None
    assert not fake_rasa.paused(escalated.conversation_id)
    assert post(client, f"{base}/close", csrf, json={"outcome": "other"}).status_code == 409


def test_rasa_down_is_a_502_and_changes_nothing(
    client: TestClient, settings: Settings, fake_rasa: FakeRasa
) -> None:
    add_account(settings, "anna")
    csrf = login(client, "anna")
    escalated = escalate(settings, fake_rasa)
    base = f"/console/api/handoffs/{escalated.handoff_id}"
    post(client, f"{base}/claim", csrf)
    fake_rasa.down = True
    assert client.get(base).status_code == 502
    assert post(client, f"{base}/handback", csrf).status_code == 502
    assert handoff_row(settings, escalated.handoff_id).status == "claimed"


def test_standard_texts_in_the_users_language(client: TestClient, settings: Settings) -> None:
    add_account(settings, "anna")
    login(client, "anna")
    sv = client.get("/console/api/texts", params={"lang": "sv"}).json()
    assert [t["key"] for t in sv["texts"]] == [
        "console_greeting", "console_check_back", "console_closing"]  # fmt: skip
    assert sv["texts"][1]["text"] == "Jag kollar upp det och återkommer."
    fa = client.get("/console/api/texts", params={"lang": "fa"}).json()  # falls back to English
    assert {t["language"] for t in fa["texts"]} == {"en"}


# -- audit and logs ---------------------------------------------------------------------------


def test_every_action_is_audited_without_message_text(
    client: TestClient, settings: Settings, fake_rasa: FakeRasa, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    add_account(settings, "anna")
    csrf = login(client, "anna")
    secret_words = "Mitt dossiernummer och min adress är hemliga"
    escalated = escalate(settings, fake_rasa, first_message=secret_words)
    second = escalate(settings, fake_rasa)
    base = f"/console/api/handoffs/{escalated.handoff_id}"
    reply_text = "Svar med känsligt innehåll 4711"
    assert client.get(base).status_code == 200
    assert post(client, f"{base}/claim", csrf).status_code == 200
    assert post(client, f"{base}/reply", csrf, json={"text": reply_text}).status_code == 200
    assert post(client, f"{base}/handback", csrf).status_code == 200
    other = f"/console/api/handoffs/{second.handoff_id}"
    assert post(client, f"{other}/claim", csrf).status_code == 200
    assert post(client, f"{other}/close", csrf, json={"outcome": "answered"}).status_code == 200

    with session(settings.database_url) as db:
        rows = db.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
    mine = [(r.actor, r.action, r.handoff_id) for r in rows if r.actor == "anna"]
    assert mine == [
        ("anna", "login", None),
        ("anna", "open", escalated.handoff_id),
        ("anna", "claim", escalated.handoff_id),
        ("anna", "reply", escalated.handoff_id),
        ("anna", "hand_back", escalated.handoff_id),
        ("anna", "claim", second.handoff_id),
        ("anna", "close", second.handoff_id),
    ]
    assert all(r.at is not None for r in rows)
    for row in rows:
        for value in (row.detail or "", row.actor, row.action):
            assert reply_text not in value and secret_words not in value
    # ... and no message text, conversation id or username in the logs either.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert logged  # the console does log what it does
    for private in (reply_text, secret_words, escalated.conversation_id, "anna", PASSWORD):
        assert private not in logged


# -- account command --------------------------------------------------------------------------


def test_create_user_command(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "DATABASE_URL": url}

    def run(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.console", "create-user", *args], input=stdin, env=env,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    ok = run("--username", "chef", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert ok.returncode == 0, ok.stderr
    assert run("--username", "chef", "--role", "admin", "--password-stdin",
               stdin=PASSWORD + "\n").returncode == 1  # fmt: skip
    assert run("--username", "kort", "--role", "counsellor", "--password-stdin",
               stdin="short\n").returncode == 2  # fmt: skip
    assert run("--username", "x y", "--role", "counsellor", "--password-stdin",
               stdin=PASSWORD + "\n").returncode == 2  # fmt: skip
    bad_role = run("--username", "z", "--role", "root", "--password-stdin", stdin=PASSWORD)
    assert bad_role.returncode == 2
    with session(url) as db:
        accounts = db.execute(select(Counsellor)).scalars().all()
    assert [(a.username, a.role) for a in accounts] == [("chef", "admin")]  # no default account
    stored = accounts[0].password_hash
    assert stored.startswith("scrypt$131072$8$1$") and PASSWORD not in stored
    assert verify_password(PASSWORD, stored) and not verify_password(PASSWORD + "x", stored)


def test_the_projects_content_has_the_console_texts() -> None:
    """The texts the console sends or offers exist in the shared content (sv and en)."""
    from bot.content import Content
    from bot.settings import ROOT

    content = Content(ROOT / "content")
    for key in ("counsellor_joined", "bot_back", "console_greeting", "console_check_back",
                "console_closing"):  # fmt: skip
        for lang in ("sv", "en"):
            assert content.text(key, lang).strip(), (key, lang)


def test_other_parts_of_the_project_can_add_routes_and_get_the_same_headers(
    settings: Settings, fake_rasa: FakeRasa
) -> None:
    from fastapi import APIRouter
    from fastapi.responses import HTMLResponse

    extra = APIRouter()

    @extra.get("/extra-page", response_class=HTMLResponse)
    def page() -> str:
        return "<!doctype html><title>extra</title>"

    app = create_app(
        settings, rasa=PooledRasaAPI(fake_rasa.url, JWT_SECRET), config=TEST_CONFIG,
        extra_routers=[extra],
    )  # fmt: skip
    with ConsoleClient(app) as client:
        response = client.get("/extra-page")
    assert response.status_code == 200 and "extra" in response.text
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in response.headers["content-security-policy"]
