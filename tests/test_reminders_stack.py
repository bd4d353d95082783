"""Deadline reminders on the real stack: scheduled, server restarted, delivered on time, once.

bot.run.Stack (action server and `rasa run` with the trained model and our Telegram channel,
python-telegram-bot talking to the fake Bot API of tests/telegram/ on a local port), SQLite in
a temporary directory, the assistant's clock moved through bot/clock.py's offset file that the
running processes read (VAR_DIR/clock_offset).

A Russian-speaking Telegram user has a computed appeal deadline (the slots part A's form fills,
set here through Rasa's HTTP API); the offer (action_offer_reminder, run through the HTTP API
on the user's channel) reaches the chat with its button, the user presses it (a callback
query with the button's callback_data) and gets the confirmation. The whole stack stops and
starts again; the clock moves so the reminder is due in a few seconds; its sendMessage reaches
the fake Bot API once, not before its time, in Russian, with the source line. Then a second
reminder is set and cancelled with the button: the clock moves past its time and nothing comes.
Last, a reminder whose time passes while the stack is down is sent right after the start.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot import clock
from bot import reminders as r
from bot.channels.telegram import SECRET_HEADER
from bot.content import for_display, load_content
from bot.pseudonyms import telegram_conversation_id
from bot.rasa_api import RasaAPI
from bot.run import Stack, service_env
from bot.settings import ROOT, Settings
from bot.store.db import session
from bot.store.models import Reminder
from tests.helpers import wait_until
from tests.telegram import updates as u
from tests.telegram.fake_bot_api import FakeBotAPI
from tests.telegram.harness import SECRET

pytestmark = pytest.mark.slow

RASA_PORT, ACTION_PORT, CONSOLE_PORT = 5605, 5655, 8605
PUBLIC_URL = "https://bot.example.org/webhooks/telegram/webhook"
WAIT = 90.0  # upper bound on one wait for the real assistant (busy CPUs)
CHAT = 860001
LEAD = 12.0  # seconds between moving the clock and the reminder's time
C = load_content(ROOT / "content")




@pytest.fixture()
def settings(api: FakeBotAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    s = Settings(
        rasa_port=RASA_PORT, action_port=ACTION_PORT, console_port=CONSOLE_PORT,
        database_url=f"sqlite:///{tmp_path / 'stack.db'}", var_dir=tmp_path,
        office_hours="mon-sun 00:00-23:59",
    )  # fmt: skip
    for name, value in {
        "BIND_HOST": s.host, "RASA_PORT": str(RASA_PORT), "ACTION_PORT": str(ACTION_PORT),
        "CONSOLE_PORT": str(CONSOLE_PORT), "VAR_DIR": str(tmp_path),
        "OFFICE_HOURS": s.office_hours, "PROFILE": "dev", "DATABASE_URL": s.database_url,
        "TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_WEBHOOK_URL": PUBLIC_URL, "TELEGRAM_API_BASE_URL": api.base_url,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    for name in ("SOCKETIO_ALLOWED_ORIGINS", "WIDGET_SERVER_URL", "RASA_JWT_SECRET",
                 "CONTENT_DIR"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    return s


def start(settings: Settings, logs: Path) -> tuple[Stack, float]:
    stack = Stack(settings, log_dir=logs, console=False)
    began = time.monotonic()
    stack.start(timeout=300)
    return stack, time.monotonic() - began


def post_update(settings: Settings, update: dict[str, Any]) -> None:
    response = httpx.post(f"{settings.rasa_url}/webhooks/telegram/webhook", json=update,
                          headers={SECRET_HEADER: SECRET}, timeout=WAIT)  # fmt: skip
    assert response.status_code == 200, response.text


def rasa(settings: Settings) -> RasaAPI:
    return RasaAPI(settings.rasa_url, service_env(settings)["RASA_JWT_SECRET"], timeout=WAIT)


def set_deadline(settings: Settings, kind: str, deadline: date, conversation: str = telegram_conversation_id(CHAT)) -> None:
    """What part A's form leaves behind: the computed deadline in the slots."""
    asyncio.run(rasa(settings).append_events(conversation, [
        {"event": "slot", "name": "deadline_kind", "value": kind},
        {"event": "slot", "name": "deadline_date", "value": deadline.isoformat()},
    ], deliver=False))  # fmt: skip


def offer(settings: Settings, conversation: str = telegram_conversation_id(CHAT)) -> None:
    """The offer after the deadline answer, on the user's own channel. Rasa's execute endpoint
    logs no ``action_listen`` after the action; it is added as Rasa would have (without it the
    next message is not seen as an answer to the bot, and no rule matches)."""
    api = rasa(settings)
    asyncio.run(api._request(
        "POST", f"/conversations/{conversation}/execute", params={"output_channel": "latest"},
        json={"name": "action_offer_reminder"},
    ))  # fmt: skip
    asyncio.run(api.append_events(conversation, [{"event": "action", "name": "action_listen"}],
                                  deliver=False))  # fmt: skip


def messages(api: FakeBotAPI) -> list[tuple[float, str, Any]]:
    """(time.monotonic() at the fake Bot API, text, reply_markup) of each message to the chat."""
    out = []
    for call in api.recorded("sendMessage", CHAT):
        markup = call.params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        out.append((call.at, call.params.get("text", ""), markup))
    return out


def button_data(markup: Any, payload: str) -> str:
    for row in (markup or {}).get("inline_keyboard", []):
        for key in row:
            if key.get("callback_data") == payload:
                return key["callback_data"]
    raise AssertionError(f"no button {payload} in {markup}")


def wait_message(api: FakeBotAPI, check: Callable[[str], bool], after: int, what: str):  # type: ignore[no-untyped-def]
    return wait_until(
        lambda: next(((t, m, k) for t, m, k in messages(api)[after:] if check(m)), None),
        WAIT, f"{what}; the chat got {[m for _, m, _ in messages(api)]}",
    )  # fmt: skip


def rows(settings: Settings) -> list[Reminder]:
    with session(settings.database_url) as db:
        return list(db.execute(select(Reminder)).scalars())


def clock_at(settings: Settings, moment: datetime) -> None:
    """Move the running processes' clock so that it shows ``moment`` now."""
    clock.set_offset((moment - datetime.now(timezone.utc)).total_seconds(), settings.var_dir)


def schedule_reminder(settings: Settings, api: FakeBotAPI, deadline: date) -> datetime:
    """Offer, press "remind me", confirmation in Russian. The reminder's time."""
    set_deadline(settings, "appeal", deadline)
    seen = len(messages(api))
    offer(settings)
    offered = C.text("reminder_offer", "ru", days=r.DAYS_BEFORE, date=deadline.isoformat())
    _, _, markup = wait_message(api, lambda m: m == offered, seen, "the offer")
    seen = len(messages(api))
    post_update(settings, u.callback_update(CHAT, button_data(markup, "/remind_deadline"),
                                            language_code="ru"))  # fmt: skip
    remind_at = r.remind_time(deadline, clock.now())
    assert remind_at is not None
    confirmed = C.text("reminder_set", "ru", remind_date=remind_at.date().isoformat(),
                       date=deadline.isoformat())  # fmt: skip
    _, _, markup = wait_message(api, lambda m: m == confirmed, seen, "the confirmation")
    button_data(markup, "/cancel_reminder")
    [row] = [row for row in rows(settings)
             if row.delivered_at is None and row.conversation_id == telegram_conversation_id(CHAT)]
    assert r.from_utc_naive(row.remind_at) == remind_at
    return remind_at


class Widget:
    """The web widget's socket.io conversation (tests/widget/sockets.py's client, long-polling),
    in its own thread and loop; every bot message recorded with its arrival time."""

    def __init__(self, url: str) -> None:
        from tests.widget.sockets import Client

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.client = self.run(self._make(Client))
        self.run(self.client.connect(url, origin=f"http://127.0.0.1:{CONSOLE_PORT}"))
        confirm = self.run(self.client.session())
        self.token = confirm["token"]

    def conversation(self, database_url: str) -> str:
        """The conversation's id: only the server knows it (the token is an opaque handle)."""
        from tests.helpers import widget_conversation

        return widget_conversation(database_url, self.token)

    async def _make(self, cls: Any) -> Any:
        client = cls()

        async def record(data: Any = None) -> None:
            self.received.append((time.monotonic(), data))

        client.sio.on("bot_uttered", record)
        return client

    def run(self, coro: Any, timeout: float = WAIT) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def say(self, text: str, language: str) -> None:
        ack = self.run(self.client.say({"message": text, "metadata": {"language": language}}))
        assert ack.get("ok"), ack

    def texts(self) -> list[tuple[float, str, list]]:
        return [(t, d.get("text") or "", d.get("buttons") or []) for t, d in self.received]

    def close(self) -> None:
        try:
            self.run(self.client.close(), 20)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)


def widget_reminder(settings: Settings, widget: Widget, deadline: date) -> None:
    """In the widget, in Persian: offer, press the button, the confirmation."""
    widget.say("/greet", "fa")
    wait_until(lambda: widget.texts(), WAIT, "the widget's greeting")
    conversation = widget.conversation(settings.database_url)
    set_deadline(settings, "departure", deadline, conversation)
    seen = len(widget.texts())
    offer(settings, conversation)
    text = for_display(C.text("reminder_offer", "fa", days=r.DAYS_BEFORE,
                              date=deadline.isoformat()), "fa")  # fmt: skip
    offered = wait_until(lambda: [b for _, m, b in widget.texts()[seen:] if m == text], WAIT,
                         f"the offer in the widget; got {widget.texts()}")  # fmt: skip
    assert [b["payload"] for b in offered[0]] == ["/remind_deadline"]
    seen = len(widget.texts())
    widget.say("/remind_deadline", "fa")
    remind_at = r.remind_time(deadline, clock.now())
    assert remind_at is not None
    confirmed = for_display(C.text("reminder_set", "fa", remind_date=remind_at.date().isoformat(),
                                   date=deadline.isoformat()), "fa")  # fmt: skip
    wait_until(lambda: [m for _, m, _ in widget.texts()[seen:] if m == confirmed], WAIT,
               f"the confirmation in the widget; got {widget.texts()}")  # fmt: skip


def is_reminder(text: str) -> bool:
    return text.startswith("Напоминание:")


def test_reminder_survives_a_restart_and_arrives_on_time_once(
    api: FakeBotAPI, settings: Settings, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    (tmp_path / "clock_offset").unlink(missing_ok=True)
    deadline = clock.today() + timedelta(days=10)
    timings: dict[str, float] = {}

    stack, timings["first start"] = start(settings, logs)
    try:
        post_update(settings, u.text_update(CHAT, "/start", language_code="ru"))
        wait_until(lambda: messages(api), WAIT, "the greeting")
        remind_at = schedule_reminder(settings, api, deadline)
    finally:
        stack.stop()
    assert [row.delivered_at for row in rows(settings)] == [None]

    stack, timings["second start"] = start(settings, logs)
    widget: Widget | None = None
    try:
        # the widget (socket.io) has a reminder for the same time, set after the restart
        widget = Widget(settings.rasa_url)
        widget_reminder(settings, widget, deadline)
        widget_seen = len(widget.texts())
        seen = len(messages(api))
        clock_at(settings, remind_at - timedelta(seconds=LEAD))
        moved = time.monotonic()
        # not before its time
        time.sleep(LEAD - 3)
        assert not [m for _, m, _ in messages(api)[seen:] if is_reminder(m)]
        arrived, text, _ = wait_message(api, is_reminder, seen, "the reminder")
        timings["reminder after the clock move"] = arrived - moved
        assert LEAD - 1.5 <= arrived - moved <= LEAD + 20, timings  # busy CPUs: generous
        left = C.text("reminder_days_left", "ru", days=r.DAYS_BEFORE)
        assert text.startswith(C.text("reminder_appeal", "ru", date=deadline.isoformat(),
                                      left=left))  # fmt: skip
        assert C.answer("appeal_deadline", "ru").sources[0].url in text
        in_widget = wait_until(
            lambda: [(t, m) for t, m, _ in widget.texts()[widget_seen:] if "یادآوری" in m],
            WAIT, f"the reminder in the widget; got {widget.texts()[widget_seen:]}")  # fmt: skip
        timings["widget reminder after the clock move"] = in_widget[0][0] - moved
        assert in_widget[0][0] - moved >= LEAD - 1.5, timings
        farsi = for_display(C.text("reminder_departure", "fa", date=deadline.isoformat(),
                                   left=C.text("reminder_days_left", "fa", days=r.DAYS_BEFORE)),
                            "fa")  # fmt: skip
        assert in_widget[0][1].startswith(farsi)
        time.sleep(4)  # once
        assert len([m for _, m, _ in messages(api)[seen:] if is_reminder(m)]) == 1
        assert len([m for _, m, _ in widget.texts()[widget_seen:] if "یادآوری" in m]) == 1
        assert [row.delivered_at is not None for row in rows(settings)] == [True, True]
        widget.close()
        widget = None

        # A second reminder, cancelled with its button: nothing comes at its time.
        (tmp_path / "clock_offset").unlink()
        second = schedule_reminder(settings, api, deadline)
        _, _, markup = messages(api)[-1]
        seen = len(messages(api))
        post_update(settings, u.callback_update(CHAT, button_data(markup, "/cancel_reminder"),
                                                language_code="ru"))  # fmt: skip
        wait_message(api, lambda m: m == C.text("reminder_cancelled", "ru"), seen,
                     "the cancellation")  # fmt: skip
        assert [row for row in rows(settings) if row.delivered_at is None] == []
        clock_at(settings, second + timedelta(seconds=2))
        time.sleep(6)
        assert not [m for _, m, _ in messages(api)[seen:] if is_reminder(m)]

        # A third one, whose time passes while the stack is down: sent at the start.
        (tmp_path / "clock_offset").unlink()
        third = schedule_reminder(settings, api, deadline)
    finally:
        if widget is not None:
            widget.close()
        stack.stop()
    clock_at(settings, third + timedelta(hours=5))
    seen = len(messages(api))
    began = time.monotonic()
    stack, timings["third start"] = start(settings, logs)
    try:
        arrived, text, _ = wait_message(api, is_reminder, seen, "the overdue reminder")
        timings["overdue reminder after the start began"] = arrived - began
        assert deadline.isoformat() in text
        time.sleep(3)
        assert len([m for _, m, _ in messages(api)[seen:] if is_reminder(m)]) == 1
        assert all(row.delivered_at is not None for row in rows(settings))
        assert len(rows(settings)) == 2  # the widget's, and the third
    finally:
        stack.stop()
    print("\nreminder timings (s):", {k: round(v, 1) for k, v in timings.items()})
