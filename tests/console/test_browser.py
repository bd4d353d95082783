"""The console in real headless Chromium (Debian's, through Playwright's executable_path).

1. Against the console process and a fake Rasa (seconds): a counsellor account is made with
   the command, the counsellor logs in through the form, sees a new escalation arrive, claims
   it, reads the transcript, replies, sees the user's answer, and hands back. A user message
   carrying an XSS payload is shown as text and runs nothing.
2. Against the real stack (bot.run.Stack: action server, `rasa run` with the trained model,
   console; SQLite in a temporary directory): the person writes on the widget's socket.io
   channel and asks for a person, the counsellor claims and replies in Chromium, the person
   gets the reply and answers, the counsellor hands back and the bot answers the next question.
   The delays are written to var/console_delays.json. Also: an escalation while the console is
   down is in the queue, with its transcript, when the console comes back.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy import text as sql

from bot.run import Stack, service_env, wait_http
from bot.settings import ROOT, Settings
from bot.store.audit import audit_key
from bot.store.db import session
from bot.store.models import AuditEntry, Handoff
from tests.console.conftest import JWT_SECRET, PASSWORD, escalate
from tests.console.fake_rasa import FakeRasa
from tests.helpers import widget_conversation

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip
XSS = "<img src=x onerror=alert(1)>"
SCREENSHOT = Path("/tmp/console.png")
DELAYS = Path("/tmp/console_delays.json")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Console:
    url: str
    proc: subprocess.Popen
    log: Path


@pytest.fixture()
def console(settings: Settings, fake_rasa: FakeRasa, tmp_path: Path) -> Iterator[Console]:
    port = _free_port()
    env = {
        **os.environ, "DATABASE_URL": settings.database_url, "CONSOLE_PORT": str(port),
        "BIND_HOST": "127.0.0.1", "RASA_URL": fake_rasa.url, "RASA_JWT_SECRET": JWT_SECRET,
        "CONTENT_DIR": str(settings.content_dir), "VAR_DIR": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
        # the same key as this process (which writes escalations as the action server would)
        "AUDIT_KEY": audit_key().decode(),
    }  # fmt: skip
    made = subprocess.run(
        [sys.executable, "-m", "bot.console", "create-user", "--username", "anna", "--role",
         "counsellor", "--password-stdin"],
        input=PASSWORD + "\n", env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    log = tmp_path / "console.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot.console", "serve"], env=env, cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/console/health", timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"console did not start:\n{log.read_text()}")
        time.sleep(0.1)
    yield Console(url, proc, log)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait_until(check, timeout: float) -> float:  # type: ignore[no-untyped-def]
    """Poll ``check`` every 5 ms; the monotonic time it first held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(0.005)
    raise AssertionError("condition not met in time")


def test_counsellor_takes_over_a_conversation_in_chromium(
    console: Console, settings: Settings, fake_rasa: FakeRasa
) -> None:
    from playwright.sync_api import expect, sync_playwright

    dialogs: list[str] = []
    problems: list[str] = []
    delays: dict[str, float] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.grant_permissions(["notifications"], origin=console.url)
        page = context.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on(
            "request",
            lambda r: problems.append(f"foreign request {r.url}")
            if not r.url.startswith(console.url) and not r.url.startswith("data:")
            else None,
        )

        # Log in through the form.
        page.goto(f"{console.url}/console")
        page.fill("#login-username", "anna")
        page.fill("#login-password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_selector("#app-view", state="visible")
        assert page.inner_text("#account-name") == "anna"
        page.wait_for_selector("#live-status.ok")  # the first queue snapshot has arrived
        page.evaluate(WATCH)
        cookie = next(c for c in context.cookies() if c["name"] == "console_session")
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"

        # A new escalation appears without reload, with a sound.
        started = time.time()
        escalated = escalate(settings, fake_rasa, language="sv", first_message=XSS)
        row = page.locator(f"#queue-body tr[data-id='{escalated.handoff_id}']")
        row.wait_for(timeout=5000)
        delays["escalation_to_queue_s"] = seen_at(page, f"row:{escalated.handoff_id}") - started
        assert delays["escalation_to_queue_s"] < 2.0
        assert page.get_attribute("body", "data-beeps") == "1"
        assert "asked for a person" in row.inner_text() and "waiting" in row.inner_text()

        # Claim from the queue: the conversation opens with its whole transcript.
        row.locator("button.claim").click()
        page.wait_for_selector("#reply-form", state="visible")
        transcript = page.locator("#transcript")
        transcript.locator("li.bot", has_text="En rådgivare har anslutit").wait_for(timeout=3000)
        first_user = transcript.locator("li.user").first
        assert first_user.locator("p.text").inner_text() == XSS  # shown as text ...
        assert transcript.locator("img").count() == 0  # ... not as an element
        assert (
            "language sv" in first_user.inner_text()
            and "intent appeal_how" in first_user.inner_text()
        )
        assert "topic appeal_how" in transcript.locator("li.bot").first.inner_text()
        joined = fake_rasa.delivered_to(escalated.conversation_id)
        assert [d.event["text"] for d in joined] == [
            "En rådgivare har anslutit och svarar dig här."
        ]
        expect(row).to_contain_text("claimed by anna", timeout=3000)  # the next queue snapshot

        # Reply, starting from a standard text.
        page.click("#standard-texts button:has-text('Greeting')")
        assert page.input_value("#reply-text").startswith("Hej! Jag är rådgivare")
        reply = "Hej! Du har tre veckor på dig att överklaga."
        page.fill("#reply-text", reply)
        started = time.monotonic()
        page.click("#reply-send")
        arrived = _wait_until(
            lambda: any(d.event["text"] == reply
                        for d in fake_rasa.delivered_to(escalated.conversation_id)), 3.0
        )  # fmt: skip
        delays["reply_to_user_s"] = arrived - started
        delivered = fake_rasa.delivered_to(escalated.conversation_id)[-1].event
        assert delivered["metadata"] == {"counsellor": "anna"}
        transcript.locator("li.counsellor", has_text=reply).wait_for(timeout=2000)

        # The user answers: it shows within a second.
        answer = "Tack! Var lämnar jag in överklagandet?"
        started = time.time()
        fake_rasa.user_says(escalated.conversation_id, answer, intent="appeal_how")
        transcript.locator("li.user", has_text="Var lämnar jag in").wait_for(timeout=5000)
        delays["user_message_to_console_s"] = seen_at(page, f"turn:{answer}") - started
        assert delays["user_message_to_console_s"] < 1.0

        # An identifier in a reply is taken out before it is stored and sent; the counsellor
        # is told what went.
        page.fill("#reply-text", "Ring mig på 070-123 45 67 i eftermiddag.")
        page.click("#reply-send")
        transcript.locator("li.counsellor", has_text="Ring mig på [telefon] i eftermiddag.").wait_for()
        expect(page.locator("#conversation-notice")).to_contain_text("070-123 45 67 → [telefon]")
        page.screenshot(path=str(SCREENSHOT.with_name("console-redacted.png")))
        assert fake_rasa.delivered_to(escalated.conversation_id)[-1].event["text"] == (
            "Ring mig på [telefon] i eftermiddag.")  # fmt: skip

        # An XSS payload typed by the counsellor is also just text, in the console.
        payload = "<script>alert(2)</script><img src=x onerror=alert(3)>"
        page.fill("#reply-text", payload)
        page.click("#reply-send")
        transcript.locator("li.counsellor", has_text="<script>alert(2)</script>").wait_for()
        assert transcript.locator("img, script").count() == 0
        page.wait_for_timeout(300)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        first_user.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOT.with_name("console-xss.png")), full_page=True)

        # Hand back: the bot answers again and the user is told.
        page.click("#handback-button")
        page.locator("#conversation-notice", has_text="Handed back to the assistant").wait_for()
        transcript.locator("li.system", has_text="Handed back to the assistant").wait_for(
            timeout=2000
        )
        events = [e["event"] for e in fake_rasa.events_of(escalated.conversation_id)]
        assert events[-3:] == ["resume", "action", "bot"]
        assert fake_rasa.delivered_to(escalated.conversation_id)[-1].event["text"] == (
            "Nu svarar assistenten igen.")  # fmt: skip
        page.locator("#queue-empty").wait_for(state="visible", timeout=3000)
        assert page.is_disabled("#handback-button")
        page.screenshot(path=str(SCREENSHOT.with_name("console-after.png")), full_page=True)
        browser.close()

    assert dialogs == []  # no alert() ran
    # The page's first call (who am I?) is answered 401 before login; Chromium logs that. Anything
    # else is a problem: a script error, a CSP violation, a request to another origin.
    startup_probe = "the server responded with a status of 401"
    assert sum(startup_probe in p for p in problems) <= 1
    assert [p for p in problems if startup_probe not in p] == [], problems
    DELAYS.write_text(json.dumps(delays, indent=2))
    print(f"\nmeasured delays: {json.dumps(delays)}")


def test_an_admin_reads_the_audit_log_and_sees_the_chain_break_in_chromium(
    console: Console, settings: Settings, fake_rasa: FakeRasa
) -> None:
    """The audit log's screen (issue 20): filters by counsellor, action and date; the chain's
    state, which turns red when someone with database access rewrites a row."""
    from playwright.sync_api import expect, sync_playwright

    from tests.console.conftest import add_account

    add_account(settings, "chef", role="admin")
    add_account(settings, "bert")
    escalated = escalate(settings, fake_rasa)
    anna = httpx.post(f"{console.url}/console/api/login",
                      json={"username": "anna", "password": PASSWORD}, timeout=30)  # fmt: skip
    headers = {"Cookie": f"console_session={anna.cookies['console_session']}",
               "X-CSRF-Token": anna.json()["csrf_token"]}  # fmt: skip
    base = f"{console.url}/console/api/handoffs/{escalated.handoff_id}"
    assert httpx.get(base, headers=headers, timeout=30).status_code == 200
    assert httpx.post(f"{base}/claim", headers=headers, timeout=30).status_code == 200
    bert = httpx.post(f"{console.url}/console/api/login",
                      json={"username": "bert", "password": PASSWORD}, timeout=30)  # fmt: skip
    assert httpx.get(base, headers={"Cookie": f"console_session={bert.cookies['console_session']}"},
                     timeout=30).status_code == 403  # fmt: skip

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"{console.url}/console")
        page.fill("#login-username", "chef")
        page.fill("#login-password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_selector("#app-view", state="visible")
        page.click("#audit-button")
        page.wait_for_selector("#audit-view", state="visible")
        expect(page.locator("#audit-chain")).to_have_class("chain ok")
        expect(page.locator("#audit-chain")).to_contain_text("Chain intact")
        rows = page.locator("#audit-body tr")
        expect(rows.first).to_be_visible()
        expect(page.locator("#audit-body tr.action-refused")).to_contain_text("bert")

        page.select_option("#audit-actor", "anna")
        page.click("#audit-apply")
        expect(rows).to_have_count(3)  # newest first: claim, open, login
        assert [rows.nth(i).locator("td").nth(3).inner_text() for i in range(3)] == [
            "claim", "open", "login"]  # fmt: skip
        # one conversation, one pseudonym, whichever process wrote the row; never its id
        refs = {rows.nth(i).locator("td").nth(5).get_attribute("title") for i in range(2)}
        with session(settings.database_url) as db:
            escalated_ref = db.execute(select(AuditEntry.conversation_ref)
                                       .where(AuditEntry.action == "escalate")).scalar_one()  # fmt: skip
        assert refs == {escalated_ref} and escalated.conversation_id not in page.content()
        page.select_option("#audit-action", "claim")
        page.click("#audit-apply")
        expect(rows).to_have_count(1)
        assert rows.first.locator("td").nth(4).inner_text() == escalated.handoff_id[:8]
        page.click("#audit-clear")
        page.fill("#audit-since", "2099-01-01")
        page.click("#audit-apply")
        page.locator("#audit-empty").wait_for(state="visible")
        page.click("#audit-clear")
        expect(rows.first).to_be_visible()
        page.screenshot(path=str(SCREENSHOT.with_name("console-audit.png")), full_page=True)

        # someone with the database's credentials drops the triggers and rewrites who read it
        with session(settings.database_url) as db:
            opened = db.execute(select(AuditEntry.id).where(AuditEntry.action == "open")
                                ).scalar_one()  # fmt: skip
            db.execute(sql("DROP TRIGGER audit_log_no_update"))
            db.execute(sql("UPDATE audit_log SET actor = 'bert' WHERE id = :i"), {"i": opened})
            db.commit()
        page.click("#audit-chain-check")
        expect(page.locator("#audit-chain")).to_have_class("chain broken")
        expect(page.locator("#audit-chain")).to_contain_text(f"BROKEN at entry {opened}")
        expect(page.locator("#audit-chain-detail")).to_contain_text("changed")
        expect(page.locator(f"#audit-body tr[data-id='{opened}']")).to_have_class(
            "action-open chain-broken")  # the table is read again, the broken entry marked
        expect(page.locator(f"#audit-body tr[data-id='{opened}']")).to_contain_text("bert")
        page.screenshot(path=str(SCREENSHOT.with_name("console-audit-broken.png")), full_page=True)
        page.click("#queue-button")
        page.wait_for_selector("#app-view", state="visible")
        browser.close()
    startup_probe = "the server responded with a status of 401"
    assert [p for p in problems if startup_probe not in p] == [], problems
    # the admin's reads of the log are in the log
    with session(settings.database_url) as db:
        reads = db.execute(select(AuditEntry.action).where(AuditEntry.actor == "chef")).scalars()
        assert {"audit_read", "audit_verify"} <= set(reads)


# -- the real stack ---------------------------------------------------------------------------
#
# bot.run.Stack: the action server, `rasa run` with the trained model (REST and socket.io
# channels, HTTP API with a JWT secret) and the console process, all on free ports, SQLite in a
# temporary directory. The user side is the widget's socket.io channel, driven by python-socketio
# (the widget page itself is tested in tests/widget/); the escalation while the console is down
# goes through the REST webhook.

STACK_DELAYS = ROOT / "var" / "console_delays.json"
WAIT = 60.0  # an upper bound on any single wait for the real assistant (2 busy CPUs)


class SocketUser:
    """The person, on the widget's socket.io channel (long-polling, as the widget starts)."""

    def __init__(self, url: str, origin: str) -> None:
        import socketio

        self.received: list[tuple[float, dict]] = []
        self._cond = threading.Condition()
        self._token: str | None = None
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("bot_uttered", self._bot)
        self.sio.on("session_confirm", self._confirm)
        self.sio.connect(url, transports=["polling"], headers={"Origin": origin},
                         socketio_path="/socket.io", wait_timeout=10)  # fmt: skip

    def _bot(self, data: dict) -> None:
        with self._cond:
            self.received.append((time.time(), data))
            self._cond.notify_all()

    def _confirm(self, data: dict) -> None:
        with self._cond:
            self._token = data["token"]
            self._cond.notify_all()

    def start_session(self) -> str:
        """A new conversation; its session token (an opaque handle the server maps to it)."""
        self.sio.emit("session_request", {})
        with self._cond:
            assert self._cond.wait_for(lambda: self._token is not None, timeout=10)
            return str(self._token)

    def say(self, text: str) -> float:
        """Send without waiting for Rasa; the (wall clock) time it left."""
        sent = time.time()
        self.sio.emit("user_uttered", {"message": text, "metadata": {"language": "sv"},
                                       "id": uuid.uuid4().hex})  # fmt: skip
        return sent

    def wait_for(self, check, after: float = 0.0, timeout: float = WAIT) -> tuple[float, dict]:  # type: ignore[no-untyped-def]  # noqa: E501
        """The first message received after ``after`` (wall clock) that ``check`` accepts, with
        its arrival time."""

        def found() -> tuple[float, dict] | None:
            return next(((t, m) for t, m in self.received if t >= after and check(m)), None)

        with self._cond:
            if not self._cond.wait_for(lambda: found() is not None, timeout=timeout):
                texts = [m.get("text") for _, m in self.received]
                raise AssertionError(f"no such message within {timeout} s; got {texts}")
            result = found()
            assert result is not None
            return result

    def close(self) -> None:
        if self.sio.connected:
            self.sio.disconnect()


# Delays are measured where they happen: the page notes (Date.now(), the same wall clock as
# Python's time.time()) when a queue row or a transcript turn first appears and when a reply is
# submitted, so the test's own polling and Playwright's round trips do not count.
WATCH = """() => {
  const seen = (window.__seen = {});
  const mark = (key) => { if (!(key in seen)) seen[key] = Date.now(); };
  new MutationObserver(() => {
    for (const tr of document.querySelectorAll("#queue-body tr")) mark("row:" + tr.dataset.id);
    for (const p of document.querySelectorAll("#transcript li p.text")) mark("turn:" + p.textContent);
  }).observe(document.body, { childList: true, subtree: true });
  document.getElementById("reply-form").addEventListener("submit", () => { seen.sent = Date.now(); },
                                                          { capture: true });
}"""


def seen_at(page, key: str) -> float:  # type: ignore[no-untyped-def]
    """When the page first showed ``key`` (see WATCH), in seconds since the epoch."""
    value = page.evaluate("(key) => window.__seen[key]", key)
    assert value is not None, f"the page never showed {key}"
    return value / 1000


def sync_playwright_started():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    return sync_playwright()


def _rest_say(stack: Stack, sender: str, text: str) -> list[dict]:
    body = json.dumps({"sender": sender, "message": text, "metadata": {"language": "sv"}})
    request = urllib.request.Request(
        f"{stack.settings.rasa_url}/webhooks/rest/webhook", data=body.encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        return json.loads(response.read())


def _console_url(stack: Stack) -> str:
    return f"http://{stack.settings.host}:{stack.settings.console_port}"


def _console_proc(stack: Stack) -> subprocess.Popen | None:
    return next((p for name, p in stack.procs if name == "console" and p.poll() is None), None)


def _wait_console(stack: Stack) -> None:
    proc = _console_proc(stack)
    assert proc is not None, "no console process"
    if not wait_http(f"{_console_url(stack)}/console/health", 60, proc):
        log = (stack.log_dir / "console.log").read_text() if stack.log_dir else ""
        raise RuntimeError(f"the console did not start:\n{log[-3000:]}")


def _stop_console(stack: Stack) -> None:
    proc = _console_proc(stack)
    assert proc is not None
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    stack.procs[:] = [(n, p) for n, p in stack.procs if p is not proc]


def _start_console(stack: Stack) -> None:
    """The console again, exactly as Stack starts it."""
    stack._spawn("console", [sys.executable, "-m", "bot.console", "serve"],
                 service_env(stack.settings))  # fmt: skip
    _wait_console(stack)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("console-stack")
    settings = Settings(
        rasa_port=_free_port(), action_port=_free_port(), console_port=_free_port(),
        database_url=f"sqlite:///{tmp / 'stack.db'}", var_dir=tmp,
        office_hours="mon-sun 00:00-23:59",
    )  # fmt: skip
    with pytest.MonkeyPatch.context() as env:
        # Every process reads its settings from the environment (the console its port, Rasa's
        # socket.io channel the page origin it accepts).
        for name, value in {
            "BIND_HOST": settings.host, "RASA_PORT": str(settings.rasa_port),
            "ACTION_PORT": str(settings.action_port), "CONSOLE_PORT": str(settings.console_port),
            "VAR_DIR": str(tmp), "OFFICE_HOURS": settings.office_hours, "PROFILE": "dev",
        }.items():  # fmt: skip
            env.setenv(name, value)
        for name in ("TELEGRAM_BOT_TOKEN", "SOCKETIO_ALLOWED_ORIGINS", "WIDGET_SERVER_URL",
                     "RASA_JWT_SECRET", "CONTENT_DIR"):  # fmt: skip
            env.delenv(name, raising=False)
        made = subprocess.run(
            [sys.executable, "-m", "bot.console", "create-user", "--username", "anna", "--role",
             "counsellor", "--password-stdin"],
            input=PASSWORD + "\n", env={**os.environ, "DATABASE_URL": settings.database_url},
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        running = Stack(settings, log_dir=tmp / "logs", console=True)
        started = time.monotonic()
        running.start(timeout=300)
        try:
            _wait_console(running)
            print(f"\nstack ready in {time.monotonic() - started:.0f} s")
            yield running
        finally:
            running.stop()


def _api_login(url: str) -> tuple[dict[str, str], str]:
    """Headers carrying the (Secure, so sent by hand over http) session cookie; the CSRF token."""
    r = httpx.post(f"{url}/console/api/login", json={"username": "anna", "password": PASSWORD},
                   timeout=30)  # fmt: skip
    assert r.status_code == 200, r.text
    return {"Cookie": f"console_session={r.cookies['console_session']}"}, r.json()["csrf_token"]


@pytest.mark.slow
def test_escalation_while_the_console_is_down_is_kept_and_shown_when_it_is_back(
    stack: Stack,
) -> None:
    """The handoff is recorded by the escalation action in the real assistant while no console
    runs; the console started afterwards shows it, with the whole transcript from Rasa."""
    _stop_console(stack)
    url = _console_url(stack)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/console/health", timeout=2)
    sender = uuid.uuid4().hex
    first = _rest_say(stack, sender, "Hur lång tid har jag på mig att överklaga?")
    assert "tre veckor" in first[0]["text"]
    told = _rest_say(stack, sender, "jag vill prata med en människa")
    assert told, "the user is told what happens next"

    _start_console(stack)
    headers, csrf = _api_login(url)
    queue = httpx.get(f"{url}/console/api/handoffs", headers=headers, timeout=30).json()
    [row] = queue["handoffs"]
    assert (row["channel"], row["reason"], row["status"], row["language"]) == (
        "rest", "request", "waiting", "sv")  # fmt: skip
    detail = httpx.get(f"{url}/console/api/handoffs/{row['id']}", headers=headers, timeout=30)
    texts = [t["text"] for t in detail.json()["turns"] if t["kind"] == "user"]
    assert texts == ["Hur lång tid har jag på mig att överklaga?",
                     "jag vill prata med en människa"]  # fmt: skip
    # Out of the way of the next test: claimed (only what one claimed is closed) and closed
    # with an outcome, the bot answers again.
    claimed = httpx.post(f"{url}/console/api/handoffs/{row['id']}/claim",
                         headers={**headers, "X-CSRF-Token": csrf}, timeout=30)  # fmt: skip
    assert claimed.status_code == 200, claimed.text
    closed = httpx.post(f"{url}/console/api/handoffs/{row['id']}/close",
                        json={"outcome": "no_response"},
                        headers={**headers, "X-CSRF-Token": csrf}, timeout=30)  # fmt: skip
    assert closed.status_code == 200, closed.text
    assert "tre veckor" in _rest_say(stack, sender, "Hur lång tid har jag på mig att överklaga?")[
        0]["text"]  # fmt: skip


@pytest.mark.slow
def test_a_person_asks_for_a_counsellor_and_gets_one_on_the_real_stack(stack: Stack) -> None:
    from playwright.sync_api import expect, sync_playwright

    url = _console_url(stack)
    secret = service_env(stack.settings)["RASA_JWT_SECRET"]
    problems: list[str] = []
    bodies: list = []
    delays: dict[str, float] = {}
    user = SocketUser(stack.settings.rasa_url, origin=url)
    try:
        conversation_id = widget_conversation(stack.settings.database_url, user.start_session())
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                         headless=True, timeout=30_000)  # fmt: skip
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.set_default_timeout(WAIT * 1000)
            page = context.new_page()
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on(
                "response",
                lambda r: bodies.append(r)
                if "text/event-stream" not in (r.headers.get("content-type") or "")
                else None,
            )

            # The counsellor logs in; the queue is live and empty.
            page.goto(f"{url}/console")
            page.fill("#login-username", "anna")
            page.fill("#login-password", PASSWORD)
            page.click("#login-submit")
            page.wait_for_selector("#live-status.ok")
            page.locator("#queue-empty").wait_for(state="visible")
            page.evaluate(WATCH)

            # The person asks a question, then for a person.
            user.say("Hur lång tid har jag på mig att överklaga?")
            user.wait_for(lambda m: "tre veckor" in (m.get("text") or ""))
            asked = user.say("jag vill prata med en människa")
            row = page.locator("#queue-body tr").first
            row.wait_for()
            with session(stack.settings.database_url) as db:
                handoff = db.execute(
                    select(Handoff).where(Handoff.conversation_id == conversation_id)
                ).scalar_one()
                handoff_id, created = handoff.id, handoff.created_at
            # the action wrote the handoff at `created` (naive UTC); the row showed at `shown`
            shown = seen_at(page, f"row:{handoff_id}")
            delays["request_to_queue_s"] = shown - asked
            delays["escalation_to_queue_s"] = (
                shown - created.replace(tzinfo=timezone.utc).timestamp()
            )
            assert row.get_attribute("data-id") == handoff_id
            expect(row).to_contain_text("asked for a person")
            expect(row).to_contain_text("socketio")
            user.wait_for(lambda m: bool(m.get("text")), after=asked)  # told what happens next
            assert delays["escalation_to_queue_s"] < 2.0, delays

            # Claim: the transcript comes from Rasa's tracker, the user is told.
            row.locator("button.claim").click()
            page.wait_for_selector("#reply-form", state="visible")
            transcript = page.locator("#transcript")
            transcript.locator("li.user", has_text="jag vill prata med en människa").wait_for()
            first_user = transcript.locator("li.user").first
            expect(first_user).to_contain_text("intent")
            expect(transcript.locator("li.system").first).to_contain_text("Paused")
            user.wait_for(lambda m: (m.get("metadata") or {}).get("event") == "counsellor_joined")

            # Reply: delivered on the person's own channel, kept in the transcript.
            reply = "Hej! Jag heter Anna. Vad undrar du över?"
            page.fill("#reply-text", reply)
            page.click("#reply-send")
            arrived, message = user.wait_for(lambda m: m.get("text") == reply)
            delays["reply_to_user_s"] = arrived - seen_at(page, "sent")
            assert message["metadata"] == {"counsellor": True}  # not the counsellor's login name
            transcript.locator("li.counsellor", has_text=reply).wait_for()

            # An identifier in a reply: the person gets a placeholder, the counsellor is told.
            page.fill("#reply-text", "Ring mig på 070-123 45 67.")
            page.click("#reply-send")
            user.wait_for(lambda m: m.get("text") == "Ring mig på [telefon].")
            expect(page.locator("#conversation-notice")).to_contain_text(
                "070-123 45 67 → [telefon]")  # fmt: skip

            # The person answers: it shows in the console within a second.
            answer = "Tack! Kan jag få hjälp med överklagandet?"
            said = user.say(answer)
            transcript.locator("li.user", has_text=answer).wait_for()
            delays["user_to_console_s"] = seen_at(page, f"turn:{answer}") - said
            assert delays["user_to_console_s"] < 1.0, delays
            with pytest.raises(AssertionError):  # paused: the bot stays silent
                user.wait_for(lambda m: not m.get("metadata"), after=said, timeout=1.5)

            # Hand back: the person is told, and the bot answers the next question.
            page.click("#handback-button")
            page.locator("#conversation-notice", has_text="Handed back").wait_for()
            user.wait_for(lambda m: (m.get("metadata") or {}).get("event") == "bot_back")
            transcript.locator("li.system", has_text="Handed back to the assistant").wait_for()
            page.locator("#queue-empty").wait_for(state="visible")
            again = user.say("Och hur lång tid har jag på mig att överklaga beslutet?")
            user.wait_for(lambda m: "tre veckor" in (m.get("text") or ""), after=again)
            page.screenshot(path=str(SCREENSHOT.with_name("console-stack.png")), full_page=True)

            # The browser never saw Rasa's secret nor a token made from it.
            for response in bodies:
                try:
                    body = response.body().decode("utf-8", "replace")
                except Exception:  # noqa: BLE001 - a redirect or an aborted request has none
                    continue
                assert secret not in body and "Bearer" not in body, response.url
                assert secret not in json.dumps(response.headers)
            assert secret not in page.content()
            assert all(secret not in c["value"] for c in context.cookies())
            browser.close()
    finally:
        user.close()

    startup_probe = "the server responded with a status of 401"
    assert [p for p in problems if startup_probe not in p] == [], problems

    # Handed back: no live stream of the conversation any more (refused, and audited).
    headers, _ = _api_login(url)
    with httpx.stream("GET", f"{url}/console/api/handoffs/{handoff_id}/stream?after=0",
                      headers=headers, timeout=30) as refused:  # fmt: skip
        assert refused.status_code == 403

    # Every open, stream, claim, reply and hand-back is audited with who did it.
    with session(stack.settings.database_url) as db:
        done = db.execute(
            select(AuditEntry.actor, AuditEntry.action).where(AuditEntry.handoff_id == handoff_id)
        ).all()
        stored = [json.loads(d).get("text") or "" for d in db.execute(
            sql("SELECT data FROM events WHERE sender_id = :s"), {"s": conversation_id}
        ).scalars()]  # fmt: skip
        audit_dump = str(db.execute(sql("SELECT * FROM audit_log")).all())
    assert {("anna", a) for a in ("open", "stream", "claim", "reply", "hand_back", "refused")} \
        <= set(done), done
    # the redacted reply is what Rasa stored; the audit log never names the conversation
    assert "Ring mig på [telefon]." in stored
    assert not [t for t in stored if "070-123 45 67" in t or "0701234567" in t]
    assert conversation_id not in audit_dump
    verified = subprocess.run(
        [sys.executable, "-m", "bot.console", "audit-verify"], cwd=ROOT, capture_output=True,
        text=True, timeout=60, env={**service_env(stack.settings), "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert verified.returncode == 0 and "chain intact" in verified.stdout, verified.stderr

    # No message text in the console's log, no secret either.
    log = (stack.log_dir / "console.log").read_text(encoding="utf-8", errors="replace")
    for text in ("överklaga", "människa", reply, answer, secret, conversation_id):
        assert text not in log, text

    STACK_DELAYS.parent.mkdir(parents=True, exist_ok=True)
    STACK_DELAYS.write_text(json.dumps({k: round(v, 3) for k, v in delays.items()}, indent=2))
    print(f"\nmeasured delays on the real stack: {json.dumps(delays)}")


WIDGET_JS = ROOT / "bot" / "console" / "static" / "widget" / "widget.js"
# The widget draws into an open shadow root: the page notes when a message first shows there.
WIDGET_WATCH = """() => {
  const seen = (window.__seen = {});
  const host = [...document.querySelectorAll("*")].find((e) => e.shadowRoot);
  const root = host.shadowRoot;
  new MutationObserver(() => {
    for (const m of root.querySelectorAll(".rw-msg")) {
      const key = m.textContent;
      if (!(key in seen)) seen[key] = Date.now();
    }
  }).observe(root, { childList: true, subtree: true, characterData: true });
}"""


def widget_seen_at(page, text: str) -> float:  # type: ignore[no-untyped-def]
    """When the widget first showed a message containing ``text`` (seconds since the epoch)."""
    value = page.evaluate(
        "(t) => { for (const [k, v] of Object.entries(window.__seen)) if (k.includes(t)) return v;"
        " return null; }",
        text,
    )
    assert value is not None, f"the widget never showed {text!r}"
    return value / 1000


@pytest.mark.slow
@pytest.mark.skipif(not WIDGET_JS.is_file(), reason="the widget is not built: run `make widget`")
def test_a_person_in_the_web_widget_gets_a_counsellor_on_the_real_stack(stack: Stack) -> None:
    """The same handoff with the person in the widget on the demo page, in a second browser."""
    url = _console_url(stack)
    delays: dict[str, float] = {}
    problems: list[str] = []
    question = "Hur lång tid har jag på mig att överklaga?"
    with sync_playwright_started() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                     headless=True, timeout=30_000)  # fmt: skip
        try:
            person = browser.new_context(locale="sv-SE", viewport={"width": 390, "height": 844})
            staff = browser.new_context(viewport={"width": 1400, "height": 900})
            for context in (person, staff):
                context.set_default_timeout(WAIT * 1000)
            widget, console = person.new_page(), staff.new_page()
            for page in (widget, console):
                page.on("pageerror", lambda e: problems.append(str(e)))

            console.goto(f"{url}/console")
            console.fill("#login-username", "anna")
            console.fill("#login-password", PASSWORD)
            console.click("#login-submit")
            console.wait_for_selector("#live-status.ok")
            console.evaluate(WATCH)

            widget.goto(f"{url}/")
            widget.locator(".rw-status.rw-status_online").wait_for()
            widget.evaluate(WIDGET_WATCH)
            if widget.locator(".rw-privacy .rw-primary").is_visible():
                widget.locator(".rw-privacy .rw-primary").click()
            bots = widget.locator(".rw-msg.rw-bot")

            def ask(text: str) -> float:
                widget.locator("#rw-input").fill(text)
                at = time.time()
                widget.locator("#rw-input").press("Enter")
                return at

            ask(question)
            widget.locator(".rw-msg.rw-bot", has_text="tre veckor").first.wait_for()
            before = bots.count()
            asked = ask("jag vill prata med en människa")
            bots.nth(before).wait_for()  # told what happens next
            row = console.locator("#queue-body tr").first
            row.wait_for()
            handoff_id = row.get_attribute("data-id")
            delays["request_to_queue_s"] = seen_at(console, f"row:{handoff_id}") - asked
            assert "socketio" in row.inner_text()

            row.locator("button.claim").click()
            console.wait_for_selector("#reply-form", state="visible")
            widget.locator(".rw-sign-counsellor_joined").first.wait_for()  # "a counsellor joined"
            reply = "Hej, jag är Anna, rådgivare. Berätta mer!"
            console.fill("#reply-text", reply)
            console.click("#reply-send")
            widget.locator(".rw-msg.rw-counsellor", has_text=reply).first.wait_for()
            delays["reply_to_user_s"] = widget_seen_at(widget, reply) - seen_at(console, "sent")

            answer = "Jag fick beslutet i måndags."
            said = ask(answer)
            console.locator("#transcript li.user", has_text=answer).wait_for()
            delays["user_to_console_s"] = seen_at(console, f"turn:{answer}") - said
            assert delays["user_to_console_s"] < 1.0, delays

            console.click("#handback-button")
            console.locator("#conversation-notice", has_text="Handed back").wait_for()
            widget.locator(".rw-sign-bot_back").first.wait_for()  # "the assistant is back"
            before = widget.locator(".rw-msg.rw-bot", has_text="tre veckor").count()
            ask("Och hur lång tid har jag på mig att överklaga beslutet?")
            widget.locator(".rw-msg.rw-bot", has_text="tre veckor").nth(before).wait_for()
            widget.screenshot(path=str(SCREENSHOT.with_name("console-widget-user.png")))
            console.screenshot(path=str(SCREENSHOT.with_name("console-widget-staff.png")))
        finally:
            browser.close()
    assert problems == [], problems
    print(f"\nmeasured delays with the widget: {json.dumps(delays)}")
    recorded = json.loads(STACK_DELAYS.read_text()) if STACK_DELAYS.is_file() else {}
    recorded["widget"] = {k: round(v, 3) for k, v in delays.items()}
    STACK_DELAYS.write_text(json.dumps(recorded, indent=2))
