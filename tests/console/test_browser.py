"""End to end in real headless Chromium against the real console process and the fake Rasa.

A counsellor account is made with the command, the counsellor logs in through the form, sees a
new escalation arrive, claims it, reads the transcript, replies, sees the user's answer, and
hands back. A user message carrying an XSS payload is shown as text and runs nothing.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.settings import ROOT, Settings
from tests.console.conftest import JWT_SECRET, PASSWORD, escalate
from tests.console.fake_rasa import FakeRasa

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
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
        cookie = next(c for c in context.cookies() if c["name"] == "console_session")
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"

        # A new escalation appears without reload, with a sound.
        started = time.monotonic()
        escalated = escalate(settings, fake_rasa, language="sv", first_message=XSS)
        row = page.locator(f"#queue-body tr[data-id='{escalated.handoff_id}']")
        row.wait_for(timeout=3000)
        delays["escalation_to_queue_s"] = time.monotonic() - started
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
        started = time.monotonic()
        fake_rasa.user_says(escalated.conversation_id, "Tack! Var lämnar jag in överklagandet?",
                            intent="appeal_how")  # fmt: skip
        transcript.locator("li.user", has_text="Var lämnar jag in").wait_for(timeout=2000)
        delays["user_message_to_console_s"] = time.monotonic() - started
        assert delays["user_message_to_console_s"] < 1.0

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
        assert events[-2:] == ["resume", "bot"]
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
