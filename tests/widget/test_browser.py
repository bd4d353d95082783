"""The chat widget on the demo page, in real headless Chromium, against the real assistant.

bot.run.Stack starts the action server, `rasa run` with the trained model (our socket.io
channel from credentials.yml) and the console process that serves the demo page, on their own
ports with a fresh SQLite database. The widget is the one `make widget` built.

What the issue asks of it: a Swedish question gets the Swedish answer with its source line; an
Arabic question lays out right-to-left with an Arabic answer; a reload keeps the history (also
when only the server has it); a quick-reply button works; an XSS payload is shown as text and
runs nothing; keyboard-only use reaches the input and the buttons. Screenshots at a phone's and
a desktop's width go to var/screenshots/ (look at them); the page asks nothing of any host but
this machine; widget.js is at most 100 KB gzipped. Measured numbers go to
var/screenshots/widget_metrics.json.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bot.run import Stack, wait_http
from bot.settings import ROOT, Settings

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip
PORTS = {"RASA_PORT": 5205, "ACTION_PORT": 5255, "CONSOLE_PORT": 8205}
WIDGET_JS = ROOT / "bot" / "console" / "static" / "widget" / "widget.js"
SHOTS = ROOT / "var" / "screenshots"
METRICS = SHOTS / "widget_metrics.json"
MAX_GZIP_BYTES = 100 * 1024
XSS = "<img src=x onerror=alert(1)>"
ANSWER_WAIT_MS = 60_000  # the real model on two busy CPUs
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

SWEDISH_QUESTION = "Hur lång tid har jag på mig att överklaga?"
ARABIC_QUESTION = "كيف أستأنف قرار الرفض من مصلحة الهجرة؟"

# the element that has the focus, through the widget's shadow root
FOCUSED = """() => {
  let el = document.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  if (!el || el === document.body) return null;
  return {tag: el.tagName.toLowerCase(), id: el.id || "", cls: el.className || "",
          text: (el.textContent || "").trim().slice(0, 80)};
}"""

metrics: dict[str, object] = {}


def arabic_share(text: str) -> float:
    """Share of Arabic-script letters; isolated left-to-right runs (names, dates) left out."""
    text = re.sub("\u2066[^\u2069]*\u2069", " ", text)
    letters = [ch for ch in text if ch.isalpha()]
    return sum(1 for ch in letters if "\u0600" <= ch <= "\u06ff") / max(1, len(letters))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    assert WIDGET_JS.is_file(), "the widget is not built: run `make widget`"
    tmp = tmp_path_factory.mktemp("widget-stack")
    settings = Settings(
        rasa_port=PORTS["RASA_PORT"], action_port=PORTS["ACTION_PORT"],
        console_port=PORTS["CONSOLE_PORT"], database_url=f"sqlite:///{tmp / 'widget.db'}",
        var_dir=tmp, office_hours="mon-sun 00:00-23:59",
    )  # fmt: skip
    with pytest.MonkeyPatch.context() as env:
        # Every process reads its settings from the environment: the console its port and the
        # Rasa URL it puts into the page, Rasa's socket.io channel the page origin it accepts.
        for name, value in {**{k: str(v) for k, v in PORTS.items()}, "BIND_HOST": "127.0.0.1",
                            "VAR_DIR": str(tmp), "DATABASE_URL": settings.database_url,
                            "OFFICE_HOURS": settings.office_hours, "PROFILE": "dev"}.items():  # fmt: skip
            env.setenv(name, value)
        for name in ("TELEGRAM_BOT_TOKEN", "SOCKETIO_ALLOWED_ORIGINS", "WIDGET_SERVER_URL",
                     "RASA_JWT_SECRET", "CONTENT_DIR", "DEFAULT_LANGUAGE"):  # fmt: skip
            env.delenv(name, raising=False)
        running = Stack(settings, log_dir=tmp / "logs", console=True)
        started = time.monotonic()
        running.start(timeout=300)
        try:
            console = next(p for name, p in running.procs if name == "console")
            if not wait_http(f"http://127.0.0.1:{PORTS['CONSOLE_PORT']}/", 60, console):
                raise RuntimeError((tmp / "logs" / "console.log").read_text()[-3000:])
            metrics["stack_start_s"] = round(time.monotonic() - started, 1)
            yield running
        finally:
            running.stop()
            SHOTS.mkdir(parents=True, exist_ok=True)
            METRICS.write_text(json.dumps(metrics, indent=2, ensure_ascii=False))
            print(f"\nwidget metrics: {json.dumps(metrics, ensure_ascii=False)}")


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


class Watch:
    """What a page did that it must not: dialogs, script errors, requests off this machine."""

    def __init__(self, page) -> None:  # type: ignore[no-untyped-def]
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.requests = 0
        self.accept_dialogs = False  # a test that answers the widget's own question (Clear)
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        # (a 4xx/5xx response is also logged by Chromium as "Failed to load resource")
        page.on("request", self._request)
        page.on("response", lambda r: self.errors.append(f"{r.status} {r.url}")
                if r.status >= 400 else None)  # fmt: skip

    def _dialog(self, dialog) -> None:  # type: ignore[no-untyped-def]
        if self.accept_dialogs:
            dialog.accept()
            return
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _request(self, request) -> None:  # type: ignore[no-untyped-def]
        self.requests += 1
        parts = urlsplit(request.url)
        if parts.scheme not in ("http", "https", "ws", "wss") or parts.hostname not in LOCAL_HOSTS:
            if parts.scheme not in ("data", "blob"):
                self.foreign.append(request.url)

    def assert_clean(self) -> None:
        assert self.dialogs == [], self.dialogs
        assert self.foreign == [], self.foreign
        assert self.errors == [], self.errors


def demo_url() -> str:
    return f"http://127.0.0.1:{PORTS['CONSOLE_PORT']}/"


def open_page(browser, locale: str, viewport: dict):  # type: ignore[no-untyped-def]
    context = browser.new_context(locale=locale, viewport=viewport)
    page = context.new_page()
    watch = Watch(page)
    started = time.monotonic()
    page.goto(demo_url())
    page.locator(".rw-status.rw-status_online").wait_for(timeout=30_000)
    return context, page, watch, time.monotonic() - started


def ask(page, text: str, expect: str | None = None):  # type: ignore[no-untyped-def]
    """Type ``text`` and press Enter; the first new bot bubble (containing ``expect``)."""
    bots = page.locator(".rw-msg.rw-bot")
    before = bots.count()
    page.locator("#rw-input").fill(text)
    page.locator("#rw-input").press("Enter")
    started = time.monotonic()
    answer = bots.nth(before) if expect is None else page.locator(".rw-msg.rw-bot", has_text=expect)
    answer.first.wait_for(timeout=ANSWER_WAIT_MS)
    return answer.first, time.monotonic() - started


def settle(page) -> None:  # type: ignore[no-untyped-def]
    """No message waiting for its acknowledgement, no typing dots (a quiet moment for shots)."""
    page.locator(".rw-typing").wait_for(state="hidden", timeout=ANSWER_WAIT_MS)
    page.wait_for_timeout(300)


def shoot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def no_horizontal_scroll(page) -> None:  # type: ignore[no-untyped-def]
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"


# -- the tests ---------------------------------------------------------------------------------


def test_widget_js_is_small_and_served_gzipped(stack: Stack) -> None:
    raw = WIDGET_JS.read_bytes()
    packed = len(gzip.compress(raw, compresslevel=9))
    request = urllib.request.Request(f"{demo_url()}widget/widget.js",
                                     headers={"Accept-Encoding": "gzip"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        served = response.read()
        assert response.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(served) == raw
    metrics.update(widget_js_bytes=len(raw), widget_js_gzip_bytes=packed,
                   widget_js_served_bytes=len(served))  # fmt: skip
    assert packed <= MAX_GZIP_BYTES
    page = urllib.request.urlopen(demo_url(), timeout=10)
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    html = page.read().decode()
    # one script tag, no inline script, nothing from another host
    assert html.count("<script") == 1 and 'src="/widget/widget.js"' in html
    assert not re.search(r"(src|href)=\"https?://(?!127\.0\.0\.1|localhost)", html)


def test_swedish_answer_with_source_reload_keeps_history_quick_reply_and_xss(
    stack: Stack, browser
) -> None:  # type: ignore[no-untyped-def]
    context, page, watch, ready = open_page(browser, "sv-SE", PHONE)
    metrics["page_to_online_s"] = round(ready, 2)
    root = page.locator(".rw")
    assert root.get_attribute("lang") == "sv" and root.get_attribute("dir") == "ltr"
    assert page.locator("#rw-language").input_value() == "sv"
    page.locator(".rw-privacy .rw-primary").click()  # the privacy note, read and closed

    answer, took = ask(page, SWEDISH_QUESTION, expect="tre veckor")
    metrics["swedish_answer_s"] = round(took, 2)
    source = answer.locator(".rw-source")
    assert source.count() == 1, answer.inner_html()
    source_text = source.inner_text()
    assert "migrationsverket.se" in source_text
    assert re.search(r"\d{4}-\d{2}-\d{2}", source_text), source_text
    assert source.locator("a[href^='https://']").count() >= 1
    page.locator(".rw-user", has_text=SWEDISH_QUESTION).first.wait_for()
    assert page.locator(".rw-state").count() == 0  # acknowledged: no "sending …" left
    settle(page)
    answer.scroll_into_view_if_needed()
    shoot(page, "widget-sv-390")
    no_horizontal_scroll(page)

    # a quick-reply button: its title is shown as the person's message, the bot answers it
    reply = page.locator(".rw-buttons .rw-reply").first
    reply.wait_for(timeout=ANSWER_WAIT_MS)
    title = reply.inner_text().strip()
    bots_before = page.locator(".rw-msg.rw-bot").count()
    reply.click()
    page.locator(".rw-user", has_text=title).first.wait_for(timeout=5_000)
    page.locator(".rw-msg.rw-bot").nth(bots_before).wait_for(timeout=ANSWER_WAIT_MS)
    settle(page)
    assert page.locator(".rw-user", has_text="/").count() == 0  # no payload shown

    # an XSS payload is text: shown as typed, no element made, nothing run
    ask(page, XSS)
    bubble = page.locator(".rw-user").last
    assert bubble.locator("p").inner_text() == XSS
    assert page.locator(".rw img, .rw script, .rw [onerror]").count() == 0
    settle(page)
    shoot(page, "widget-sv-390-xss")  # the end of the conversation: buttons, the payload as text

    # a reload keeps the history ...
    transcript = page.locator(".rw-log .rw-msg").all_inner_texts()
    page.reload()
    page.locator(".rw-status.rw-status_online").wait_for(timeout=30_000)
    page.locator(".rw-msg.rw-bot", has_text="tre veckor").first.wait_for(timeout=10_000)
    after = page.locator(".rw-log .rw-msg").all_inner_texts()
    assert after == transcript, json.dumps([transcript, after], ensure_ascii=False, indent=1)
    # ... also when only the server has it (the token is all the browser keeps)
    page.evaluate("""() => { for (const key of Object.keys(localStorage))
                               if (key.endsWith(':messages')) localStorage.removeItem(key); }""")
    page.reload()
    page.locator(".rw-msg.rw-bot", has_text="tre veckor").first.wait_for(timeout=30_000)
    page.locator(".rw-user", has_text=SWEDISH_QUESTION).first.wait_for(timeout=5_000)
    page.locator(".rw-user", has_text=title).first.wait_for(timeout=5_000)
    assert page.locator(".rw-user p", has_text=XSS).first.inner_text() == XSS
    assert page.locator(".rw img").count() == 0
    settle(page)

    page.set_viewport_size(DESKTOP)
    page.locator(".rw-msg.rw-bot", has_text="tre veckor").first.scroll_into_view_if_needed()
    shoot(page, "widget-sv-1280")
    no_horizontal_scroll(page)
    box = page.locator(".rw-panel").bounding_box()
    assert box is not None and box["width"] < 600  # a panel in the corner, not the screen
    assert box["x"] + box["width"] <= DESKTOP["width"]
    metrics["requests_swedish_page"] = watch.requests
    context.close()
    watch.assert_clean()


def test_arabic_question_lays_out_right_to_left(stack: Stack, browser) -> None:  # type: ignore[no-untyped-def]
    context, page, watch, _ = open_page(browser, "ar", PHONE)
    root = page.locator(".rw")
    assert root.get_attribute("dir") == "rtl" and root.get_attribute("lang") == "ar"
    assert page.locator("#rw-language").input_value() == "ar"
    assert page.locator("#rw-input").evaluate("e => getComputedStyle(e).direction") == "rtl"
    answer, took = ask(page, ARABIC_QUESTION)
    metrics["arabic_answer_s"] = round(took, 2)
    text = answer.inner_text()
    assert arabic_share(text) > 0.5, text
    assert answer.evaluate("e => getComputedStyle(e).direction") == "rtl"
    # the bot's bubble starts at the right edge, the person's at the left
    log = page.locator(".rw-log").bounding_box()
    bot = answer.bounding_box()
    user = page.locator(".rw-user").last.bounding_box()
    assert log and bot and user
    assert abs((bot["x"] + bot["width"]) - (log["x"] + log["width"])) < 40
    assert user["x"] - log["x"] < 40
    settle(page)
    answer.scroll_into_view_if_needed()
    shoot(page, "widget-ar-390")
    no_horizontal_scroll(page)
    page.set_viewport_size(DESKTOP)
    shoot(page, "widget-ar-1280")
    context.close()
    watch.assert_clean()


def test_keyboard_alone_reaches_the_input_and_the_buttons(stack: Stack, browser) -> None:  # type: ignore[no-untyped-def]
    context, page, watch, _ = open_page(browser, "sv-SE", DESKTOP)
    keyboard = page.keyboard

    def tab_to(check, limit: int = 40, back: bool = False):  # type: ignore[no-untyped-def]
        seen = []
        for _ in range(limit):
            keyboard.press("Shift+Tab" if back else "Tab")
            focused = page.evaluate(FOCUSED)
            seen.append(focused)
            if focused and check(focused):
                return focused
        raise AssertionError(f"not reached by Tab: {seen}")

    # from the top of the page: the privacy note's button, then the input
    tab_to(lambda f: "rw-primary" in f["cls"])
    keyboard.press("Enter")
    assert page.locator(".rw-privacy").is_hidden()
    assert page.evaluate(FOCUSED)["id"] == "rw-input"  # the note hands the focus on
    keyboard.type(SWEDISH_QUESTION)
    keyboard.press("Enter")
    page.locator(".rw-msg.rw-bot", has_text="tre veckor").first.wait_for(timeout=ANSWER_WAIT_MS)
    page.locator(".rw-buttons .rw-reply").first.wait_for(timeout=ANSWER_WAIT_MS)
    settle(page)

    # back from the input to a quick-reply button, and Enter presses it
    assert page.evaluate(FOCUSED)["id"] == "rw-input"
    button = tab_to(lambda f: "rw-reply" in f["cls"], back=True)
    bots_before = page.locator(".rw-msg.rw-bot").count()
    keyboard.press("Enter")
    page.locator(".rw-user", has_text=button["text"]).first.wait_for(timeout=5_000)
    page.locator(".rw-msg.rw-bot").nth(bots_before).wait_for(timeout=ANSWER_WAIT_MS)
    assert page.evaluate(FOCUSED)["id"] == "rw-input"  # ready for the next question
    settle(page)

    # the language picker by keyboard too; every control has a name
    tab_to(lambda f: f["id"] == "rw-language", back=True)
    names = page.evaluate("""() => {
      const root = document.querySelector('.return-assistant-widget').shadowRoot;
      return [...root.querySelectorAll('button:not([hidden]), select, textarea')]
        .filter(e => e.offsetParent !== null)
        .map(e => e.getAttribute('aria-label') || (e.labels && e.labels[0] &&
                  e.labels[0].textContent) || e.textContent.trim());
    }""")
    assert all(name and name.strip() for name in names), names
    # Escape closes the panel and gives the focus to the launcher; Enter opens it again
    keyboard.press("Escape")
    assert page.evaluate(FOCUSED)["cls"] == "rw-launcher"
    keyboard.press("Enter")
    assert page.evaluate(FOCUSED)["id"] == "rw-input"
    context.close()
    watch.assert_clean()


def test_messages_written_offline_are_sent_on_reconnect_in_order_once(
    stack: Stack, browser
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    context, page, watch, _ = open_page(browser, "sv-SE", PHONE)
    page.locator(".rw-privacy .rw-primary").click()
    ask(page, SWEDISH_QUESTION, expect="tre veckor")
    settle(page)
    context.set_offline(True)
    page.locator(".rw-status.rw-status_offline").wait_for(timeout=30_000)
    offline = ["hej", "vad kostar ett offentligt biträde?"]
    for text in offline:
        page.locator("#rw-input").fill(text)
        page.locator("#rw-input").press("Enter")
    assert page.locator(".rw-user .rw-state").count() == 2  # shown as waiting
    started = time.monotonic()
    context.set_offline(False)
    page.locator(".rw-status.rw-status_online").wait_for(timeout=30_000)
    expect(page.locator(".rw-user .rw-state")).to_have_count(0, timeout=ANSWER_WAIT_MS)
    metrics["offline_queue_sent_after_reconnect_s"] = round(time.monotonic() - started, 2)
    settle(page)
    # what the server has: each message once, in the order written
    page.evaluate("""() => { for (const key of Object.keys(localStorage))
                               if (key.endsWith(':messages')) localStorage.removeItem(key); }""")
    page.reload()
    page.locator(".rw-msg.rw-bot", has_text="tre veckor").first.wait_for(timeout=30_000)
    users = [t.split("\n")[-1].strip() for t in page.locator(".rw-user").all_inner_texts()]
    assert users == [SWEDISH_QUESTION, *offline], users
    context.close()
    # going offline makes Chromium log the failed long-poll; nothing else may go wrong
    watch.errors = [e for e in watch.errors if "ERR_INTERNET_DISCONNECTED" not in e]
    watch.assert_clean()


# -- what the browser keeps, and when it forgets (issue 20, review M1, M6) -----------------------

TYPED = "mitt telefonnummer är 070-123 45 67, hur lång tid har jag på mig att överklaga?"
STORED = """() => Object.fromEntries(Object.keys(localStorage).filter(k => k.startsWith('rw:'))
                                   .map(k => [k.split(':').pop(), localStorage.getItem(k)]))"""
SESSION_STORED = STORED.replace("localStorage", "sessionStorage")


def session_row(stack: Stack, token: str):  # type: ignore[no-untyped-def]
    """The server's row of a widget token (None once it is deleted)."""
    from bot.store import widget_sessions
    from bot.store.db import session
    from bot.store.models import WidgetSession

    with session(stack.settings.database_url) as db:
        return db.get(WidgetSession, widget_sessions.handle_hash(token[3:]))


def stored_token(page) -> str:  # type: ignore[no-untyped-def]
    return json.loads(page.evaluate(STORED)["token"])


def test_the_browser_keeps_the_servers_redacted_echo_never_the_typed_text(
    stack: Stack, browser
) -> None:  # type: ignore[no-untyped-def]
    context, page, watch, _ = open_page(browser, "sv-SE", PHONE)
    page.locator(".rw-privacy .rw-primary").click()
    ask(page, TYPED, expect="tre veckor")
    settle(page)
    kept = page.evaluate(STORED)
    assert set(kept) >= {"token", "messages", "until"} and "queue" not in kept
    assert kept["token"].startswith('"v2.')  # an opaque handle, no conversation id
    assert "123 45 67" not in json.dumps(kept, ensure_ascii=False)
    users = [m["text"] for m in json.loads(kept["messages"]) if m["sender"] == "user"]
    assert users and "[telefon" in users[0] and "överklaga" in users[0]
    # the bubble shows what was stored, too
    assert "123 45 67" not in page.locator(".rw-user").first.inner_text()
    page.locator(".rw-user").first.scroll_into_view_if_needed()
    shoot(page, "widget-sv-390-redacted-echo")
    context.close()
    watch.assert_clean()


def test_clear_wipes_the_browser_and_ends_the_session(stack: Stack, browser) -> None:  # type: ignore[no-untyped-def]
    context, page, watch, _ = open_page(browser, "sv-SE", PHONE)
    page.locator(".rw-privacy .rw-primary").click()
    ask(page, SWEDISH_QUESTION, expect="tre veckor")
    settle(page)
    old = stored_token(page)
    assert session_row(stack, old).revoked_at is None
    watch.accept_dialogs = True  # "Remove this conversation from this device …?": yes
    page.locator(".rw-clear").click()
    page.locator(".rw-notice", has_text="borttaget från den här enheten").wait_for()
    page.locator(".rw-status.rw-status_online").wait_for(timeout=30_000)
    assert page.locator(".rw-msg").count() == 0
    wait_for = time.monotonic() + 10
    while stored_token(page) == old and time.monotonic() < wait_for:
        time.sleep(0.1)
    kept = page.evaluate(STORED)
    assert json.loads(kept["token"]) != old and "tre veckor" not in json.dumps(kept)
    assert session_row(stack, old).revoked_at is not None  # ended on the server too
    shoot(page, "widget-sv-390-cleared")
    # a reload shows nothing of the old conversation
    page.reload()
    page.locator(".rw-status.rw-status_online").wait_for(timeout=30_000)
    page.wait_for_timeout(1000)
    assert page.locator(".rw-msg").count() == 0
    context.close()
    watch.assert_clean()


def test_delete_my_data_wipes_the_browser_after_the_server_deleted(stack: Stack, browser) -> None:  # type: ignore[no-untyped-def]
    from bot.content import for_display, load_content

    done = for_display(load_content(stack.settings.content_dir).text("delete_done", "sv"), "sv")
    context, page, watch, _ = open_page(browser, "sv-SE", PHONE)
    page.locator(".rw-privacy .rw-primary").click()
    ask(page, SWEDISH_QUESTION, expect="tre veckor")
    settle(page)
    old = stored_token(page)
    ask(page, "radera mina uppgifter", expect="Är du säker")
    settle(page)
    page.locator(".rw-buttons .rw-reply", has_text="Ja").click()
    page.locator(".rw-notice", has_text=done).wait_for(timeout=ANSWER_WAIT_MS)
    assert session_row(stack, old) is None  # deleted with the conversation
    assert page.locator(".rw-msg").count() == 0
    page.locator(".rw-status.rw-status_online").wait_for(timeout=30_000)
    kept = page.evaluate(STORED)
    assert json.loads(kept.get("token", "null")) != old
    assert "tre veckor" not in json.dumps(kept) and "radera" not in json.dumps(kept)
    shoot(page, "widget-sv-390-deleted")
    context.close()
    watch.assert_clean()


def script_data(context, **data: str) -> None:  # type: ignore[no-untyped-def]
    """Set data-* attributes on the widget's script tag of every page of ``context`` before the
    widget runs, as an organisation's own page would write them (the demo page is served as
    it is: a page answered by the test would count as a public site for Chromium's
    private-network rules)."""
    sets = " ".join(f"s.dataset.{key} = {json.dumps(value)};" for key, value in data.items())
    context.add_init_script(
        "new MutationObserver((_, observer) => {"
        " const s = document.querySelector('script[src$=\"widget.js\"]');"
        f" if (s) {{ {sets} observer.disconnect(); }}"
        "}).observe(document, {childList: true, subtree: true});"
    )


def test_leave_quickly_ends_the_session_as_the_page_is_left(stack: Stack, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(locale="sv-SE", viewport=PHONE)
    neutral = f"{demo_url()}console"  # stands in for the neutral site it opens (no widget)
    script_data(context, leaveUrl=neutral)
    page = context.new_page()
    watch = Watch(page)
    page.goto(demo_url())
    page.locator(".rw-status.rw-status_online").wait_for(timeout=30_000)
    page.locator(".rw-privacy .rw-primary").click()
    ask(page, SWEDISH_QUESTION, expect="tre veckor")
    settle(page)
    old = stored_token(page)
    beacons = []
    page.on("request", lambda r: beacons.append(r) if r.url.endswith("/socket.io/end") else None)
    page.locator(".rw-leave").click()
    page.wait_for_url(neutral, timeout=10_000)
    deadline = time.monotonic() + 10
    while session_row(stack, old).revoked_at is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert session_row(stack, old).revoked_at is not None
    assert beacons and beacons[0].post_data == old
    assert page.evaluate(STORED) == {}
    page.wait_for_timeout(500)
    # the stand-in neutral page (the console's login) asks who is logged in: its 401 is its own
    watch.errors = [e for e in watch.errors if "401" not in e]
    page.goto(demo_url())
    page.locator(".rw-status.rw-status_online").wait_for(timeout=30_000)
    page.wait_for_timeout(1000)
    assert page.locator(".rw-msg").count() == 0
    context.close()
    watch.assert_clean()


def test_session_storage_mode_keeps_nothing_in_local_storage(stack: Stack, browser) -> None:  # type: ignore[no-untyped-def]
    """data-storage="session" (a shelter's or a library's shared computer): everything in
    sessionStorage, gone with the tab; what an earlier page kept in localStorage is wiped."""
    context = browser.new_context(locale="sv-SE", viewport=PHONE)
    page = context.new_page()
    watch = Watch(page)
    # the computer was used before the site switched to session storage
    page.goto(demo_url())
    page.locator(".rw-status.rw-status_online").wait_for(timeout=30_000)
    page.locator(".rw-privacy .rw-primary").click()
    ask(page, "Kan jag få en advokat gratis?")
    settle(page)
    assert {"token", "messages"} <= set(page.evaluate(STORED))
    script_data(context, storage="session")
    page.reload()
    page.locator(".rw-status.rw-status_online").wait_for(timeout=30_000)
    page.locator(".rw-privacy .rw-primary").click()
    ask(page, SWEDISH_QUESTION, expect="tre veckor")
    settle(page)
    assert page.evaluate(STORED) == {}  # nothing in localStorage, the old leftovers gone
    assert page.locator(".rw-user", has_text="advokat").count() == 0
    kept = page.evaluate(SESSION_STORED)
    assert {"token", "messages"} <= set(kept) and "tre veckor" in kept["messages"]
    # a reload in the same tab goes on
    page.reload()
    page.locator(".rw-msg.rw-bot", has_text="tre veckor").first.wait_for(timeout=30_000)
    shoot(page, "widget-sv-390-session-storage")
    # another tab (a new browsing session: the next person at the computer) has nothing
    other = context.new_page()
    other_watch = Watch(other)
    other.goto(demo_url())
    other.locator(".rw-status.rw-status_online").wait_for(timeout=30_000)
    other.wait_for_timeout(1000)
    assert other.locator(".rw-msg").count() == 0
    context.close()
    watch.assert_clean()
    other_watch.assert_clean()


def test_the_built_widget_is_up_to_date() -> None:
    """The widget.js these tests ran is the one `make widget` makes of the sources now."""
    result = subprocess.run(["make", "-q", "widget"], cwd=ROOT, capture_output=True, timeout=60)
    assert result.returncode == 0, "widget.js is older than its sources: run `make widget`"
