"""The deadline form on the real stack over REST (Rasa, action server, trained model).

Question -> general rule with source + "work out my date" button -> form -> the date said back
-> computed date with source; in Swedish and Arabic (RTL), leaving the form, crisis inside it.
The running processes' clock is set to Monday 23 November 2026 (bot/clock.py offset file).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest

from bot import clock
from bot.content import LRI, PDI
from bot.run import Stack
from bot.settings import Settings
from tests.helpers import say

pytestmark = pytest.mark.slow

RASA_PORT, ACTION_PORT, CONSOLE_PORT = 5505, 5555, 8505
TODAY = datetime(2026, 11, 23, 12, 0, tzinfo=clock.STOCKHOLM)
APPEAL = '/compute_deadline{"deadline_kind":"appeal"}'
DEPARTURE = '/compute_deadline{"deadline_kind":"departure"}'


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("deadlines")
    settings = Settings(
        rasa_port=RASA_PORT, action_port=ACTION_PORT, console_port=CONSOLE_PORT,
        database_url=f"sqlite:///{tmp / 'deadlines.db'}", var_dir=tmp,
        office_hours="mon-sun 00:00-23:59",
    )  # fmt: skip
    os.environ["OFFICE_HOURS"] = settings.office_hours
    clock.set_offset((TODAY - datetime.now(clock.STOCKHOLM)).total_seconds(), tmp)
    running = Stack(settings, log_dir=tmp / "logs", console=False)
    running.start(timeout=240)
    yield running
    running.stop()




def joined(replies: list[dict]) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


def payloads(replies: list[dict]) -> list[str]:
    return [b["payload"] for r in replies for b in r.get("buttons") or []]


def plain(text: str) -> str:
    """RTL text without the isolation marks the action server adds around numbers."""
    return text.replace(LRI, "").replace(PDI, "").replace("\u200f", "")


def test_swedish_question_form_confirmation_computed_date(stack: Stack) -> None:
    sender = uuid.uuid4().hex
    replies = say(stack, sender, "Hur lång tid har jag på mig att överklaga?")
    first = replies[0]
    assert "tre veckor" in first["text"] and "migrationsverket.se" in first["text"]
    assert first["buttons"][-1]["payload"] == APPEAL  # general rule first, then the offer

    replies = say(stack, sender, APPEAL)
    assert "Vilket beslut" in joined(replies)
    assert '/inform_deadline{"deadline_decision":"agency"}' in payloads(replies)

    replies = say(stack, sender, '/inform_deadline{"deadline_decision":"agency"}')
    assert "Vilken dag fick du veta" in joined(replies)

    replies = say(stack, sender, "3 november")
    assert joined(replies) == "tisdag 3 november 2026, stämmer det?"
    assert payloads(replies) == ["/affirm", "/deny"]

    replies = say(stack, sender, "ja")
    text = joined(replies)
    assert "tisdag 24 november 2026" in text and "om 1 dagar" in text
    assert "beslutsbrev" in text and "Rådgivningsbyrån" in text
    assert "migrationsverket.se" in text and "2026-11-22" in text

    # the form is over: a date now is not taken as an answer to anything
    assert "stämmer det" not in joined(say(stack, sender, "hej"))


def test_arabic_rtl_form_with_arabic_digits(stack: Stack) -> None:
    sender = uuid.uuid4().hex
    replies = say(stack, sender, "كم عندي وقت لأستأنف", language="ar")
    assert "ثلاثة أسابيع" in replies[0]["text"]
    assert replies[0]["text"].startswith("\u200f")
    assert replies[0]["buttons"][-1]["payload"] == APPEAL

    say(stack, sender, APPEAL)
    replies = say(stack, sender, '/inform_deadline{"deadline_decision":"agency"}')
    assert "في أي يوم" in joined(replies)
    replies = say(stack, sender, "٣ نوفمبر")
    assert plain(joined(replies)) == "الثلاثاء 3 نوفمبر 2026، هل هذا صحيح؟"
    replies = say(stack, sender, "/affirm")
    text = plain(joined(replies))
    assert "الثلاثاء 24 نوفمبر 2026" in text and "migrationsverket.se" in text
    assert "2026-11-22" in text


def test_departure_from_the_day_told_says_its_assumption(stack: Stack) -> None:
    sender = uuid.uuid4().hex
    say(stack, sender, "när måste jag lämna sverige")
    replies = say(stack, sender, DEPARTURE)
    assert '/inform_deadline{"deadline_decision":"expulsion"}' in payloads(replies)
    replies = say(stack, sender, '/inform_deadline{"deadline_decision":"expulsion"}')
    assert '/inform_deadline{"deadline_basis":"told"}' in payloads(replies)
    say(stack, sender, '/inform_deadline{"deadline_basis":"told"}')
    replies = say(stack, sender, "i tisdags")
    assert joined(replies) == "tisdag 17 november 2026, stämmer det?"
    # "no": the date is asked again, never guessed
    replies = say(stack, sender, "/deny")
    assert "datumet igen" in joined(replies)
    say(stack, sender, "3/11")
    text = joined(say(stack, sender, "/affirm"))
    assert "tisdag 24 november 2026" in text  # final, three weeks after being told
    assert "tisdag 22 december 2026" in text and "oftast tre veckor" in text


def test_unreadable_date_then_stop(stack: Stack) -> None:
    sender = uuid.uuid4().hex
    say(stack, sender, APPEAL)
    say(stack, sender, '/inform_deadline{"deadline_decision":"agency"}')
    replies = say(stack, sender, "32 november")
    assert "kunde inte läsa" in joined(replies) and "3 november 2026" in joined(replies)
    replies = say(stack, sender, "/deny")
    assert "Okej" in joined(replies)
    assert "stämmer det" not in joined(say(stack, sender, "3 november"))


def test_court_judgment_is_not_computed(stack: Stack) -> None:
    sender = uuid.uuid4().hex
    say(stack, sender, APPEAL)
    replies = say(stack, sender, '/inform_deadline{"deadline_decision":"court"}')
    text = joined(replies)
    assert "står i domen" in text and "idag" in text and "migrationsverket.se" in text


def test_crisis_inside_the_form_gets_the_emergency_answer(stack: Stack) -> None:
    sender = uuid.uuid4().hex
    say(stack, sender, APPEAL)
    say(stack, sender, '/inform_deadline{"deadline_decision":"agency"}')
    replies = say(stack, sender, "jag vill inte leva längre")
    assert "112" in replies[0]["text"] and "90101" in replies[0]["text"]
    assert "Vilken dag" not in joined(replies)


def test_another_question_inside_the_form_is_answered_instead(stack: Stack) -> None:
    sender = uuid.uuid4().hex
    say(stack, sender, APPEAL)
    say(stack, sender, '/inform_deadline{"deadline_decision":"agency"}')
    replies = say(stack, sender, "får jag behålla min dagersättning?")
    assert "dagersättning" in replies[0]["text"].lower()
    assert "Vilken dag" not in joined(replies) and "kunde inte läsa" not in joined(replies)
    assert "stämmer det" not in joined(say(stack, sender, "3 november"))  # the form is over
