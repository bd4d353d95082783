"""The running assistant over REST, with the action server in the path (real processes)."""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.conversation_ids import rest_id
from bot.run import Stack
from bot.settings import Settings
from bot.store.db import session
from bot.store.models import Handoff
from tests.helpers import say

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("e2e")
    settings = Settings(
        rasa_port=5105, action_port=5155, console_port=8105,
        database_url=f"sqlite:///{tmp / 'e2e.db'}", var_dir=tmp,
        office_hours="mon-sun 00:00-23:59",
    )  # fmt: skip
    import os

    os.environ["OFFICE_HOURS"] = settings.office_hours
    running = Stack(settings, log_dir=tmp / "logs", console=False)
    running.start(timeout=240)
    yield running
    running.stop()




def test_new_user_gets_the_appeal_deadline_with_source_and_date(stack: Stack) -> None:
    replies = say(stack, uuid.uuid4().hex, "Hur lång tid har jag på mig att överklaga?")
    first = replies[0]["text"]
    assert "tre veckor" in first
    assert "migrationsverket.se" in first and "2026-11-22" in first
    # the first-contact line follows the answer, with a "read more" button
    assert replies[-1]["buttons"][0]["payload"] == "/privacy"


def test_english_question_gets_english_answer(stack: Stack) -> None:
    replies = say(stack, uuid.uuid4().hex, "How long do I have to appeal against the decision?")
    assert "three weeks" in replies[0]["text"]


def test_crisis_gets_numbers_first_and_pauses(stack: Stack) -> None:
    sender = uuid.uuid4().hex
    replies = say(stack, sender, "jag vill inte leva längre")
    assert "112" in replies[0]["text"] and "90101" in replies[0]["text"]
    with session(stack.settings.database_url) as db:
        handoff = db.execute(select(Handoff).where(
            Handoff.conversation_id == rest_id(sender))).scalar_one()  # fmt: skip
    assert handoff.priority == "urgent"
    # paused: the bot stays silent, the counsellor answers
    assert say(stack, sender, "hur överklagar jag?") == []


def test_nonsense_is_never_met_with_silence(stack: Stack) -> None:
    for text in ("qwrtz plokm vbnx", "zzzz", "?!?", "🙂🙂🙂"):
        assert say(stack, uuid.uuid4().hex, text), text


def test_two_stage_fallback_then_a_person(stack: Stack) -> None:
    sender = uuid.uuid4().hex
    first = say(stack, sender, "/nlu_fallback")
    assert any(b["payload"] == "/request_human" for b in first[0]["buttons"])
    assert len(first[0]["buttons"]) >= 2  # closest topics, then "talk to a person"
    second = say(stack, sender, "/nlu_fallback")
    assert [b["payload"] for b in second[0]["buttons"]][0] == "/request_human"
    third = say(stack, sender, "ja")
    assert third, "yes to the offer must escalate"
    assert say(stack, sender, "hallå?") == []  # paused: a counsellor answers now


def test_http_api_needs_the_token(stack: Stack) -> None:
    try:
        urllib.request.urlopen(f"{stack.settings.rasa_url}/conversations/x/tracker", timeout=10)
        raise AssertionError("the HTTP API answered without a token")
    except urllib.error.HTTPError as error:
        assert error.code == 401


def events_in_db(stack: Stack, sender: str) -> int:
    from sqlalchemy import text

    with session(stack.settings.database_url) as db:
        return db.execute(
            text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": rest_id(sender)}
        ).scalar_one()


def test_delete_data_removes_every_trace_after_confirmation(stack: Stack) -> None:
    import time

    sender = uuid.uuid4().hex
    say(stack, sender, "jag vill prata med en människa")
    assert events_in_db(stack, sender) > 0
    # paused for a counsellor: "never mind" gives it back to the bot
    say(stack, sender, "nej tack, strunta i det")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not say(stack, sender, "radera mina uppgifter"):
        time.sleep(0.5)
    replies = say(stack, sender, "ja")
    assert replies, "the deletion was not confirmed to the user"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and events_in_db(stack, sender):
        time.sleep(0.25)
    assert events_in_db(stack, sender) == 0
    with session(stack.settings.database_url) as db:
        assert db.execute(select(Handoff).where(
            Handoff.conversation_id == rest_id(sender))).first() is None  # fmt: skip


def test_bad_input_gets_a_4xx_not_a_5xx(stack: Stack) -> None:
    url = f"{stack.settings.rasa_url}/webhooks/rest/webhook"
    for body in (b"not json", b"[]", b'{"sender": 1, "message": "x"}', b'{"sender": "a"}',
                 b'{"sender": "a", "message": ""}', b'{"sender": "a", "message": {"x": 1}}',
                 b'{"sender": "a", "message": "x", "message_id": ""}',
                 b'{"sender": "a", "message": "x", "message_id": 7}',
                 b'{"sender": "a", "message": "x", "message_id": "a b"}',
                 ('{"sender": "a", "message": "x", "message_id": "%s"}' % ("x" * 65)).encode()):
        request = urllib.request.Request(url, data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=30)
            raise AssertionError(f"accepted {body!r}")
        except urllib.error.HTTPError as error:
            assert 400 <= error.code < 500, (body, error.code)


def test_a_message_sent_again_is_taken_once(stack: Stack) -> None:
    """A REST client that got no answer sends the message again with the same id: the
    conversation holds it once and the answer is the first try's replies."""
    sender, message_id = uuid.uuid4().hex, uuid.uuid4().hex
    first = say(stack, sender, "Hur lång tid har jag på mig att överklaga?", message_id=message_id)
    assert first and "överklag" in first[0]["text"].lower()
    again = say(stack, sender, "Hur lång tid har jag på mig att överklaga?", message_id=message_id)
    assert again == first
    later = say(stack, sender, "Kan jag få en advokat gratis?", message_id=uuid.uuid4().hex)
    assert later and later != first
    from sqlalchemy import text

    with session(stack.settings.database_url) as db:
        users = [json.loads(data) for data in db.execute(
            text("SELECT data FROM events WHERE sender_id = :s AND type_name = 'user' "
                 "ORDER BY id"), {"s": rest_id(sender)}).scalars()]  # fmt: skip
    assert [e["text"] for e in users] == [
        "Hur lång tid har jag på mig att överklaga?", "Kan jag få en advokat gratis?"]
    assert users[0]["message_id"] == message_id


def test_identifiers_never_reach_the_tracker(stack: Stack) -> None:
    from sqlalchemy import text

    sender = uuid.uuid4().hex
    say(stack, sender, "mitt personnummer är 19811218-9876 och tel 070-123 45 67, hur överklagar jag")
    with session(stack.settings.database_url) as db:
        stored = " ".join(db.execute(
            text("SELECT data FROM events WHERE sender_id = :s"), {"s": rest_id(sender)}
        ).scalars())  # fmt: skip
    assert "9876" not in stored and "123 45 67" not in stored
    assert "[personnummer]" in stored


def arabic_share(text: str) -> float:
    """Share of Arabic letters in the text the user reads as Arabic: the isolated left-to-right
    runs (Swedish names, addresses, dates between U+2066 and U+2069) are left out."""
    text = re.sub("\u2066[^\u2069]*\u2069", " ", text)
    letters = [ch for ch in text if ch.isalpha()]
    return sum(1 for ch in letters if "\u0600" <= ch <= "\u06ff") / max(1, len(letters))


def test_arabic_conversation_stays_arabic_after_ok(stack: Stack) -> None:
    sender = uuid.uuid4().hex
    first = say(stack, sender, "كيف أستأنف قرار الرفض من مصلحة الهجرة؟")
    assert arabic_share(first[0]["text"]) > 0.5, first[0]["text"]
    for text in ("ok", "Migrationsverket", "12", "LMA"):
        replies = say(stack, sender, text)
        assert replies and arabic_share(replies[0]["text"]) > 0.5, (text, replies)


def test_channel_language_seeds_the_first_answer(stack: Stack) -> None:
    replies = say(stack, uuid.uuid4().hex, "hej", language="ar")
    assert arabic_share(replies[0]["text"]) > 0.5


def test_reused_trackers_equal_the_database_in_a_real_conversation(stack: Stack) -> None:
    """Every tracker the Rasa server reuses from its cache (bot/store/tracker_cache.py) is
    checked against the database (TRACKER_CACHE_VERIFY=1, tests/conftest.py): a conversation
    with answers, a follow-up offer, a button and a language change, then the server's log."""
    sender = uuid.uuid4().hex
    for text in [
        "Hej", "Hur lång tid har jag på mig att överklaga?", "/privacy", "Kan jag få en advokat?",
        "ja", "How do I get to the return centre?", "Var kan jag bo nu?", "tack",
    ]:
        assert say(stack, sender, text), text
    log = (stack.log_dir / "rasa.log").read_text(encoding="utf-8", errors="replace")
    assert "tracker cache: the kept tracker differs" not in log
    assert "past states: the resumed states differ" not in log  # bot/past_states.py, likewise
    assert "applied events: the resumed list differs" not in log  # bot/tracker_speed.py
    assert "tracker copy: differs" not in log
    assert "rule search: the rules found differ" not in log  # bot/rule_speed.py
    assert "stored events known" not in log  # the count of a kept tracker's stored events
    assert log.count("tracker cache: a kept tracker was verified") >= 6


def test_the_rasa_server_runs_with_its_start_environment(stack: Stack) -> None:
    """bot/rasa_server.py starts itself again with MALLOC_ARENA_MAX and OPENBLAS_NUM_THREADS
    (read only at process start), and answers with the fast intent scores, self-checked
    against TensorFlow (bot/nlu/fast_diet.py) without a difference."""
    from pathlib import Path

    rasa = next(proc for name, proc in stack.procs if name == "rasa")
    environ = Path(f"/proc/{rasa.pid}/environ").read_bytes().split(b"\0")
    assert b"MALLOC_ARENA_MAX=2" in environ and b"OPENBLAS_NUM_THREADS=1" in environ
    assert say(stack, uuid.uuid4().hex, "Hur överklagar jag?")
    log = (stack.log_dir / "rasa.log").read_text(encoding="utf-8", errors="replace")
    assert "fast DIET prediction differs" not in log
