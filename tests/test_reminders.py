"""Deadline reminders (issue 10 B): when, the actions, the table, the clock, deletion.

The actions run as the action server runs them (trackers from tests/conftest.py), on a real
SQLite database migrated like production; "now" is set through bot/clock.py's offset file,
as the full-stack test (tests/test_reminders_stack.py) moves the clock of running processes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from bot import clock
from bot import reminders as r
from bot.content import for_display, load_content
from bot.settings import ROOT
from bot.store.db import get_engine, init_db, session
from bot.store.models import Reminder
from bot.store.retention import delete_conversation
from tests.conftest import make_tracker, texts

C = load_content(ROOT / "content")
DEADLINE = date(2026, 12, 14)


def freeze(monkeypatch: pytest.MonkeyPatch, var_dir: Path, moment: datetime) -> None:
    """Make bot.clock show ``moment`` now (through the offset file, as in the stack test)."""
    monkeypatch.setenv("VAR_DIR", str(var_dir))
    clock.set_offset((moment - datetime.now(timezone.utc)).total_seconds())


def at(y: int, m: int, d: int, h: int = 12) -> datetime:
    return datetime(y, m, d, h, tzinfo=clock.STOCKHOLM)


def tracker(channel: str = "telegram", lang: str = "en", kind: str | None = "appeal",
            deadline: date | None = DEADLINE, **kwargs):  # fmt: skip
    slots = {"language": lang, "intro_shown": True, "deadline_kind": kind,
             "deadline_date": deadline.isoformat() if deadline else None}  # fmt: skip
    return make_tracker("/remind_deadline", "remind_deadline", slots=slots, channel=channel,
                        **kwargs)  # fmt: skip


async def run(action_class, t):  # type: ignore[no-untyped-def]
    dispatcher = CollectingDispatcher()
    events = await action_class().run(dispatcher, t, {})
    return dispatcher, events


def rows(url: str) -> list[Reminder]:
    init_db(url)
    with session(url) as db:
        return list(db.execute(select(Reminder)).scalars())


# -- when ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("deadline", "now", "expected"),
    [
        (date(2026, 12, 14), at(2026, 11, 23), at(2026, 12, 11, 10)),
        # over a month and a year end
        (date(2027, 1, 2), at(2026, 12, 1), at(2026, 12, 30, 10)),
        # three days before is past: tomorrow at ten
        (date(2026, 12, 14), at(2026, 12, 12, 9), at(2026, 12, 13, 10)),
        # the same day at nine: still three days before at ten
        (date(2026, 12, 14), at(2026, 12, 11, 9), at(2026, 12, 11, 10)),
        # into summer time: 10:00 is 08:00 UTC
        (date(2027, 3, 31), at(2027, 3, 1), at(2027, 3, 28, 10)),
        # no day left before the deadline day
        (date(2026, 12, 14), at(2026, 12, 13, 9), None),
        (date(2026, 12, 14), at(2026, 12, 20), None),
    ],
)
def test_remind_time(deadline: date, now: datetime, expected: datetime | None) -> None:
    got = r.remind_time(deadline, now)
    assert got == expected
    if got is not None:
        assert got.tzinfo is not None and got.hour == 10
        assert got.astimezone(clock.STOCKHOLM).hour == 10


def test_summer_time_reminder_is_ten_swedish_time_in_utc() -> None:
    got = r.remind_time(date(2027, 3, 31), at(2027, 3, 1))
    assert r.to_utc_naive(got) == datetime(2027, 3, 28, 8, 0)
    assert r.to_utc_naive(r.remind_time(DEADLINE, at(2026, 11, 23))) == datetime(2026, 12, 11, 9)
    assert r.from_utc_naive(datetime(2026, 12, 11, 9)) == at(2026, 12, 11, 10)


def test_name_is_per_conversation_and_hides_the_id() -> None:
    a, b = r.reminder_name("123456789"), r.reminder_name("123456780")
    assert a != b and a == r.reminder_name("123456789")
    assert "123456789" not in a and len(a) <= 64


# -- the clock ----------------------------------------------------------------------------------
def test_clock_offset_moves_now_and_today(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    assert clock.offset() == 0.0
    real = clock.now()
    assert real.tzinfo is not None and real.utcoffset() in (timedelta(hours=1), timedelta(hours=2))
    clock.set_offset(86400 * 10)
    assert 10 * 86400 - 5 < (clock.now() - real).total_seconds() < 10 * 86400 + 5
    assert clock.today() == (real + timedelta(days=10)).date()
    moment = at(2027, 1, 1)
    assert abs((clock.to_real(moment) - (moment - timedelta(days=10))).total_seconds()) < 1
    (tmp_path / "clock_offset").write_text("not a number")
    assert clock.offset() == 0.0
    clock.set_offset(-3600.5)
    assert clock.offset() == -3600.5


# -- the actions --------------------------------------------------------------------------------
async def test_remind_on_telegram_schedules_and_persists(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from actions.reminders import ActionRemindDeadline

    freeze(monkeypatch, tmp_path, at(2026, 11, 23))
    dispatcher, events = await run(ActionRemindDeadline, tracker(sender_id="4711"))
    reminder = next(e for e in events if e["event"] == "reminder")
    assert reminder["intent"] == r.INTENT
    assert reminder["name"] == r.reminder_name("4711")
    assert reminder["kill_on_user_msg"] is False
    assert datetime.fromisoformat(reminder["date_time"]) == at(2026, 12, 11, 10)
    assert {e["entity"]: e["value"] for e in reminder["entities"]} == {
        "deadline_kind": "appeal", "deadline_date": "2026-12-14"}  # fmt: skip
    [saved] = rows(db_url)
    assert (saved.conversation_id, saved.channel, saved.language, saved.kind) == (
        "4711", "telegram", "en", "appeal")  # fmt: skip
    assert saved.deadline == DEADLINE and saved.remind_at == datetime(2026, 12, 11, 9)
    assert saved.delivered_at is None
    [message] = dispatcher.messages
    assert "2026-12-11" in message["text"] and "2026-12-14" in message["text"]
    assert message["text"] == C.text("reminder_set", "en", remind_date="2026-12-11",
                                     date="2026-12-14")  # fmt: skip
    assert [b["payload"] for b in message["buttons"]] == ["/cancel_reminder"]


async def test_remind_again_replaces_the_reminder(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from actions.reminders import ActionRemindDeadline

    freeze(monkeypatch, tmp_path, at(2026, 11, 23))
    await run(ActionRemindDeadline, tracker(sender_id="c1", channel="socketio"))
    await run(ActionRemindDeadline, tracker(sender_id="c1", channel="socketio", kind="departure",
                                            deadline=date(2026, 12, 20)))  # fmt: skip
    await run(ActionRemindDeadline, tracker(sender_id="c2", channel="socketio"))
    by_id = {row.conversation_id: row for row in rows(db_url)}
    assert len(rows(db_url)) == 2
    assert (by_id["c1"].kind, by_id["c1"].deadline) == ("departure", date(2026, 12, 20))


@pytest.mark.parametrize("lang", ["sv", "ar", "ru"])
async def test_rest_cannot_get_a_reminder(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    from actions.reminders import ActionRemindDeadline

    freeze(monkeypatch, tmp_path, at(2026, 11, 23))
    dispatcher, events = await run(ActionRemindDeadline, tracker(channel="rest", lang=lang))
    assert [e for e in events if e["event"] == "reminder"] == []
    assert texts(dispatcher) == [for_display(C.text("reminder_wrong_channel", lang), lang)]
    assert rows(db_url) == []


async def test_no_date_yet(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from actions.reminders import ActionRemindDeadline

    freeze(monkeypatch, tmp_path, at(2026, 11, 23))
    for t in (tracker(kind=None, deadline=None), tracker(kind="appeal", deadline=None),
              tracker(kind="other")):  # fmt: skip
        dispatcher, events = await run(ActionRemindDeadline, t)
        assert texts(dispatcher) == [C.text("reminder_no_date", "en")]
        assert [e for e in events if e["event"] == "reminder"] == []
    # a broken date in the slot is no date, not a crash
    t = make_tracker("/remind_deadline", "remind_deadline", channel="telegram",
                     slots={"language": "fa", "deadline_kind": "appeal",
                            "deadline_date": "14/12"})  # fmt: skip
    dispatcher, _ = await run(ActionRemindDeadline, t)
    assert texts(dispatcher) == [for_display(C.text("reminder_no_date", "fa"), "fa")]
    assert rows(db_url) == []


async def test_too_close_says_it_now(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from actions.reminders import ActionRemindDeadline

    freeze(monkeypatch, tmp_path, at(2026, 12, 13, 15))
    dispatcher, events = await run(ActionRemindDeadline, tracker(lang="so"))
    [text] = texts(dispatcher)
    assert text.startswith(C.text("reminder_too_close", "so"))
    assert C.text("reminder_days_left", "so", days=1) in text and "2026-12-14" in text
    assert "Migrationsverket" in text  # the source line
    assert [e for e in events if e["event"] == "reminder"] == [] and rows(db_url) == []


async def test_cancel(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from actions.reminders import ActionCancelReminder, ActionRemindDeadline

    freeze(monkeypatch, tmp_path, at(2026, 11, 23))
    await run(ActionRemindDeadline, tracker(sender_id="77", lang="ti"))
    await run(ActionRemindDeadline, tracker(sender_id="78", lang="ti"))
    dispatcher, events = await run(ActionCancelReminder, tracker(sender_id="77", lang="ti"))
    assert texts(dispatcher) == [C.text("reminder_cancelled", "ti")]
    cancelled = [e for e in events if e["event"] == "cancel_reminder"]
    assert [e["name"] for e in cancelled] == [r.reminder_name("77")]
    assert [row.conversation_id for row in rows(db_url)] == ["78"]
    dispatcher, _ = await run(ActionCancelReminder, tracker(sender_id="77", lang="ti"))
    assert texts(dispatcher) == [C.text("reminder_none", "ti")]


@pytest.mark.parametrize("lang", ["sv", "en", "ar", "fa", "so", "ti", "ru"])
async def test_delivered_text_in_every_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    from actions.reminders import ActionDeliverReminder

    freeze(monkeypatch, tmp_path, at(2026, 12, 11, 10))
    entities = r.entities("appeal", DEADLINE)
    t = make_tracker("", r.INTENT, entities=entities, channel="telegram",
                     slots={"language": lang, "deadline_kind": "departure",
                            "deadline_date": "2027-01-30"})  # fmt: skip
    dispatcher, _ = await run(ActionDeliverReminder, t)
    [text] = texts(dispatcher)
    left = C.text("reminder_days_left", lang, days=3)
    body = C.text("reminder_appeal", lang, date="2026-12-14", left=left)
    plain = text.replace("\u2066", "").replace("\u2069", "").replace("\u200f", "")
    assert plain.startswith(body)  # the reminded deadline, not the slots' newer one
    answer = C.answer("appeal_deadline", lang)
    assert answer.sources[0].url in plain and answer.checked in plain


async def test_delivered_departure_from_slots_and_last_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from actions.reminders import ActionDeliverReminder

    freeze(monkeypatch, tmp_path, at(2026, 12, 14, 10))
    t = make_tracker("", r.INTENT, channel="socketio",
                     slots={"language": "en", "deadline_kind": "departure",
                            "deadline_date": "2026-12-14"})  # fmt: skip
    dispatcher, _ = await run(ActionDeliverReminder, t)
    [text] = texts(dispatcher)
    assert "today is the last day" in text and "tidsfrist för frivillig avresa" in text
    assert C.answer("departure_deadline", "en").sources[0].url in text


async def test_no_reminder_about_a_passed_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from actions.reminders import ActionDeliverReminder

    freeze(monkeypatch, tmp_path, at(2026, 12, 15, 10))
    t = make_tracker("", r.INTENT, entities=r.entities("appeal", DEADLINE), channel="telegram",
                     slots={"language": "en"})  # fmt: skip
    dispatcher, _ = await run(ActionDeliverReminder, t)
    assert dispatcher.messages == []


@pytest.mark.parametrize(("channel", "offered"), [("telegram", True), ("socketio", True),
                                                  ("rest", False)])  # fmt: skip
async def test_offer_only_where_it_can_arrive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, channel: str, offered: bool
) -> None:
    from actions.reminders import ActionOfferReminder

    freeze(monkeypatch, tmp_path, at(2026, 11, 23))
    dispatcher, _ = await run(ActionOfferReminder, tracker(channel=channel, lang="ar"))
    if not offered:
        assert dispatcher.messages == []
        return
    [message] = dispatcher.messages
    assert "2026-12-14" in message["text"]
    assert [b["payload"] for b in message["buttons"]] == ["/remind_deadline"]
    # no offer without a date, or too close to it
    dispatcher, _ = await run(ActionOfferReminder, tracker(channel=channel, deadline=None))
    assert dispatcher.messages == []
    freeze(monkeypatch, tmp_path, at(2026, 12, 13, 12))
    dispatcher, _ = await run(ActionOfferReminder, tracker(channel=channel))
    assert dispatcher.messages == []


async def test_delete_data_cancels_the_reminder_job(db_url: str) -> None:
    from actions.privacy import ActionDeleteData

    dispatcher, events = await run(ActionDeleteData, tracker(sender_id="5"))
    assert [(e["event"], e.get("name")) for e in events if e["event"] == "cancel_reminder"] == [
        ("cancel_reminder", r.reminder_name("5"))]  # fmt: skip
    assert dispatcher.messages == []  # "deleted" is said by the Rasa server once it is done


# -- the table ----------------------------------------------------------------------------------
def _save(db, conversation_id: str = "42", remind_at: datetime | None = None) -> str:  # type: ignore[no-untyped-def]
    return r.save(db, conversation_id=conversation_id, channel="telegram", language="ru",
                  kind="appeal", deadline=DEADLINE,
                  remind_at=remind_at or at(2026, 12, 11, 10))  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database of each kind (PostgreSQL: the local server, as in production)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'claim.db'}"
        init_db(url)
        yield url
        return
    from tests.production.services import postgres_database

    with postgres_database("test_remind") as url:
        init_db(url)
        yield url
        get_engine(url).dispose()


def test_claim_once(any_db: str) -> None:
    """Two Rasa servers restore the same reminder: the atomic claim lets one send it."""
    url = any_db
    with session(url) as db:
        name = _save(db)
        _save(db, "43")
        assert {p.conversation_id for p in r.pending(db)} == {"42", "43"}
        assert r.claim(db, name, "43") is None  # another conversation's name
    winners: list[object] = []

    def claim() -> None:
        with session(url) as db:
            got = r.claim(db, name, "42")
            if got is not None:
                winners.append(got)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    got = winners[0]
    assert (got.kind, got.deadline, got.language, got.remind_at) == (
        "appeal", DEADLINE, "ru", at(2026, 12, 11, 10))  # fmt: skip
    with session(url) as db:
        assert [p.conversation_id for p in r.pending(db)] == ["43"]
        assert r.cancel(db, "42") == 0  # delivered: nothing pending to cancel


def test_cancelled_or_deleted_is_never_claimed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gone.db'}"
    init_db(url)
    with session(url) as db:
        first, second = _save(db, "1"), _save(db, "2")
        assert r.cancel(db, "1") == 1
        assert r.claim(db, first, "1") is None
        delete_conversation(db, conversation_id="2")
        assert r.claim(db, second, "2") is None
        assert r.pending(db) == []


def test_rules_and_domain_know_the_reminder_intents() -> None:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    rules = yaml.safe_load((ROOT / "data/rules/reminders.yml").read_text(encoding="utf-8"))
    pairs = {(rule["steps"][0]["intent"], rule["steps"][1]["action"]) for rule in rules["rules"]}
    assert pairs == {("remind_deadline", "action_remind_deadline"),
                     ("cancel_reminder", "action_cancel_reminder"),
                     (r.INTENT, "action_deliver_reminder")}  # fmt: skip
    for _, action in pairs:
        assert action in domain["actions"]
    assert "action_offer_reminder" in domain["actions"]
    for slot in ("deadline_kind", "deadline_date"):  # actions/deadlines.py fills them
        assert slot in domain["slots"]


async def test_offer_with_the_deadline_just_computed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """actions/deadlines.py's answer offers before its slot events are applied."""
    from actions.reminders import offer

    freeze(monkeypatch, tmp_path, at(2026, 11, 23))
    dispatcher = CollectingDispatcher()
    t = tracker(channel="telegram", lang="sv", kind=None, deadline=None)
    assert offer(dispatcher, t, "sv", "departure", date(2026, 12, 20))
    [message] = dispatcher.messages
    assert message["text"] == C.text("reminder_offer", "sv", days=3, date="2026-12-20")
    assert not offer(CollectingDispatcher(), t, "sv", "other", date(2026, 12, 20))
    assert not offer(CollectingDispatcher(), tracker(channel="rest"), "sv", "appeal", DEADLINE)


async def test_scheduled_jobs_follow_the_movable_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside Rasa: the job (Rasa's own scheduler, the reminder's name as id) runs at the real
    time the assistant's clock shows the reminder's time, also after the clock moved."""
    import asyncio
    import time

    from rasa.core import jobs

    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    fired: list[float] = []

    class Processor:  # what Rasa's scheduler calls back; the scheduling is under test
        async def handle_reminder(self, event, sender_id, output) -> None:  # type: ignore[no-untyped-def]
            fired.append(time.monotonic())

    trigger = clock.now() + timedelta(days=7)
    event = r._event(r.Pending(r.reminder_name("s"), "s", "telegram", "en", "appeal",
                               (trigger + timedelta(days=3)).date(), trigger))  # fmt: skip
    jobs.kill_scheduler()
    try:
        await r._schedule(Processor(), event, "s", None)
        scheduler = await jobs.scheduler()
        job = scheduler.get_job(r.reminder_name("s"))
        assert abs((job.next_run_time - trigger).total_seconds()) < 1
        clock.set_offset(7 * 86400 - 2.0)  # due in two seconds
        moved = time.monotonic()
        assert r.retime_jobs(scheduler) == 1
        await asyncio.sleep(1.2)
        assert fired == []
        await asyncio.sleep(2.0)
        assert len(fired) == 1 and 1.5 < fired[0] - moved < 3.0
        # overdue (the server was down): at once
        await r._schedule(Processor(), event, "s", None)
        await asyncio.sleep(1.0)
        assert len(fired) == 2
    finally:
        jobs.kill_scheduler()
