"""Property-based tests (hypothesis) against the running stack's entry points: the REST
webhook, the socket.io channel (through python-socketio's client and as raw engine.io
long-polling bytes), and the counsellor console's forms and API (login, reply, close, handoff
ids in the path).

Inputs: empty, 20,000 characters, control characters, invalid UTF-8 in the body, emoji only,
mixed scripts, JSON of the wrong shape. Never a 5xx or a traceback: a 4xx (or the channel's
"invalid" acknowledgement) or an answer; and the same conversation answers normally after.
Counts of the cases tried are printed at the end (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.channels.socketio import MAX_PACKET_BYTES
from bot.conversation_ids import rest_id
from bot.store.db import session
from bot.store.models import Handoff
from tests.helpers import widget_conversation
from tests.privacy.conftest import ORIGIN, Console, Running, post_raw, say
from tests.widget.sockets import Client

pytestmark = pytest.mark.slow

COUNTS: dict[str, Counter] = {}
FOLLOW_UP = "Hur lång tid har jag på mig att överklaga?"
SOURCE = "migrationsverket.se"  # every answer about appeals shows its source
LANGUAGES = ("sv", "en", "ar", "fa", "so", "ti", "ru")

BASE = settings(
    deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture, HealthCheck.large_base_example],
)  # fmt: skip


def examples(n: int) -> settings:
    return settings(BASE, max_examples=n)


def count(test: str, outcome: str) -> None:
    COUNTS.setdefault(test, Counter())[outcome] += 1


@pytest.fixture(scope="module", autouse=True)
def report_counts() -> Iterator[None]:
    yield
    print("\nhypothesis cases tried per entry point (then: the same conversation after it):")
    for test, outcomes in COUNTS.items():
        cases = sum(n for outcome, n in outcomes.items() if not outcome.startswith("then"))
        print(f"  {test}: {cases} cases {dict(outcomes)}")


# -- inputs -------------------------------------------------------------------------------------

WORDS = ("hej", "överklaga", "appeal", "سلام", "مرحبا", "پرونده", "привет", "решение", "ሰላም",
         "Salaan", "Migrationsverket", "beslut", "pass", "?", "!")  # fmt: skip
EMOJI = list("😀🙂😢🙏❤👍🏽🇸🇪🤷‍♀️🆘✅") + ["\u200d", "\ufe0f"]
CONTROL = st.characters(whitelist_categories=("Cc", "Cf", "Zl", "Zp"))

long_texts = st.tuples(
    st.text(max_size=20), st.sampled_from(["a ", "ä", "ع", "😀", "\x00", "Hej ", "ሰ", "\n"])
).map(lambda t: (t[0] + t[1] * 20_000)[:20_000])
message_texts = st.one_of(
    st.just(""),
    st.just(" \t\n "),
    long_texts,
    st.text(alphabet=CONTROL, min_size=1, max_size=40),  # control characters only
    st.lists(st.one_of(st.sampled_from(WORDS), st.text(alphabet=CONTROL, max_size=3)),
             min_size=1, max_size=8).map("".join),  # words with control characters inside
    st.text(alphabet=st.sampled_from(EMOJI), min_size=1, max_size=30),  # emoji only
    st.lists(st.sampled_from(WORDS), min_size=2, max_size=10).map(" ".join),  # mixed scripts
    st.text(max_size=200),  # anything (no surrogates: hypothesis leaves them out)
    st.lists(st.one_of(st.sampled_from(WORDS), st.characters(whitelist_categories=("Cs",))),
             min_size=1, max_size=6).map("".join),  # lone surrogates (\ud800 in JSON)
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)  # fmt: skip
invalid_utf8 = st.lists(
    st.sampled_from([b"\xff", b"\xfe", b"\xc3\x28", b"\xa0\xa1", b"\xe2\x28\xa1", b"\xf0\x28\x8c",
                     b"\xed\xa0\x80", b"\xc0\xaf", b"abc", b" ", b"\x00"]),
    min_size=1, max_size=12,
).map(b"".join)  # fmt: skip


def to_json(value: Any) -> bytes:
    """JSON as a client sends it; lone surrogates as \\ud800 escapes (ensure_ascii)."""
    return json.dumps(value).encode("ascii")


# -- REST ---------------------------------------------------------------------------------------


@st.composite
def rest_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    sender = uuid.uuid4().hex
    kind = draw(st.sampled_from(["text", "text", "text", "bad_utf8", "wrong_shape", "fields"]))
    if kind == "text":
        meta = draw(st.one_of(st.just({}), st.builds(dict, language=st.sampled_from(LANGUAGES)),
                              json_values))  # fmt: skip
        return sender, to_json({"sender": sender, "message": draw(message_texts),
                                "metadata": meta})  # fmt: skip
    if kind == "bad_utf8":
        return sender, (b'{"sender": "' + sender.encode() + b'", "message": "hej '
                        + draw(invalid_utf8) + b'"}')  # fmt: skip
    if kind == "wrong_shape":
        return sender, to_json(draw(json_values))
    return sender, to_json({"sender": draw(st.one_of(json_values, st.text(min_size=129))),
                            "message": draw(json_values)})  # fmt: skip


def answers_normally(replies: list[dict]) -> bool:
    return bool(replies) and SOURCE in " ".join(r.get("text") or "" for r in replies)


def waits_for_counsellor(running: Running, conversation_id: str) -> bool:
    """The model read the input as asking for a person: the bot is silent by design."""
    with session(running.settings.database_url) as db:
        return db.query(Handoff).filter(Handoff.conversation_id == conversation_id,
                                        Handoff.status == "waiting").first() is not None


def goes_on(running: Running, conversation_id: str, replies: list[dict], test: str) -> None:
    if not replies and waits_for_counsellor(running, conversation_id):
        count(test, "then waiting for a counsellor")
        return
    assert answers_normally(replies), replies
    count(test, "then answered normally")


@examples(30)
@given(case=rest_bodies())
def test_rest_webhook_never_fails(running: Running, case: tuple[str, bytes]) -> None:
    sender, body = case
    status, raw = post_raw(f"{running.rasa_url}/webhooks/rest/webhook", body)
    assert status < 500, (status, raw[:300], body[:200])
    assert b"Traceback" not in raw
    if status == 200:
        replies = json.loads(raw)
        assert replies and all(isinstance(r.get("text"), str) and r["text"].strip()
                               for r in replies if "text" in r), replies  # fmt: skip
        count("REST webhook", "answered 200")
    else:
        assert 400 <= status < 500 and json.loads(raw).get("error"), (status, raw[:200])
        count("REST webhook", f"refused {status}")
    # the same conversation (sender) goes on answering normally
    goes_on(running, rest_id(sender), say(running, sender, FOLLOW_UP, language="sv"),
            "REST webhook")  # fmt: skip


# -- socket.io ----------------------------------------------------------------------------------

socket_payloads = st.one_of(
    st.builds(lambda m, lang: {"message": m, "metadata": {"language": lang}},
              message_texts, st.sampled_from(LANGUAGES)),
    st.builds(lambda m, meta, i: {"message": m, "metadata": meta, "id": i},
              message_texts, json_values, json_values),
    json_values,  # not an object, or an object of the wrong shape
)  # fmt: skip


async def socket_case(running: Running, payload: Any) -> None:
    test = "socket.io user_uttered"
    client = await Client().connect(running.rasa_url, origin=ORIGIN)
    try:
        token = (await client.session())["token"]
        if len(json.dumps(payload)) > MAX_PACKET_BYTES - 64:
            # python-engineio refuses a packet this large (400) and the client drops the
            # connection: no answer, nothing processed; the person reconnects
            try:
                ack = await asyncio.wait_for(client.sio.call("user_uttered", payload, timeout=4), 5)
            except Exception:  # the client's timeout or its dropped connection
                ack = None
            assert ack is None or ack.get("ok") is False, ack
            count(test, "refused (packet too large)")
        else:
            ack = await client.say(payload)
            assert isinstance(ack, dict), ack
            if ack.get("ok"):
                reply = await client.next("bot_uttered", timeout=30)
                assert isinstance(reply.get("text"), str) and reply["text"].strip(), reply
                count(test, "answered")
            else:
                assert ack.get("error") in ("invalid", "rate_limited"), ack
                count(test, f"refused ({ack['error']})")
    finally:
        await client.close()
    # the same conversation goes on answering normally, on a new connection (a reload)
    again = await Client().connect(running.rasa_url, origin=ORIGIN)
    try:
        assert (await again.session(token))["resumed"] is True
        ack = await again.say({"message": FOLLOW_UP, "metadata": {"language": "sv"}})
        assert ack.get("ok") is True, ack
        replies: list[dict] = []
        try:
            while not answers_normally(replies):
                replies.append(await again.next("bot_uttered", timeout=15))
        except asyncio.TimeoutError:
            pass
        goes_on(running, widget_conversation(running.settings.database_url, token), replies, test)
    finally:
        await again.close()


@examples(30)
@given(payload=socket_payloads)
def test_socketio_channel_never_fails(running: Running, payload: Any) -> None:
    asyncio.run(socket_case(running, payload))


def polling(running: Running) -> tuple[httpx.Client, str]:
    """A raw engine.io v4 long-polling session with a socket.io connection and a session."""
    http = httpx.Client(base_url=running.rasa_url, headers={"Origin": ORIGIN}, timeout=30)
    opened = http.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
    assert opened.status_code == 200, opened.text
    sid = json.loads(opened.text[1:])["sid"]
    params = {"EIO": "4", "transport": "polling", "sid": sid}
    assert http.post("/socket.io/", params=params, content=b"40").status_code == 200
    assert http.get("/socket.io/", params=params).text.startswith("40")
    return http, sid


def read_until(http: httpx.Client, sid: str, marker: str, tries: int = 20) -> str:
    params = {"EIO": "4", "transport": "polling", "sid": sid}
    seen = ""
    for _ in range(tries):
        seen += http.get("/socket.io/", params=params).text
        if marker in seen:
            return seen
    raise AssertionError(f"{marker!r} never came; got {seen[:300]!r}")


@examples(30)
@given(junk=invalid_utf8, where=st.sampled_from(["message", "event", "packet"]))
def test_socketio_invalid_utf8_bytes_never_fail(running: Running, junk: bytes, where: str) -> None:
    http, sid = polling(running)
    params = {"EIO": "4", "transport": "polling", "sid": sid}
    try:
        sent = http.post("/socket.io/", params=params, content=b'42["session_request",{}]')
        assert sent.status_code == 200
        read_until(http, sid, "session_confirm")
        body = {
            "message": b'421["user_uttered",{"message":"hej ' + junk + b'"}]',
            "event": b'421["' + junk + b'",{"message":"hej"}]',
            "packet": b"4" + junk,
        }[where]
        response = http.post("/socket.io/", params=params, content=body)
        assert response.status_code < 500 and b"Traceback" not in response.content
        count("socket.io raw bytes", f"{where}: {response.status_code}")
    finally:
        http.close()
    # a new connection on the same server still gets its answers
    http, sid = polling(running)
    params = {"EIO": "4", "transport": "polling", "sid": sid}
    try:
        http.post("/socket.io/", params=params, content=b'42["session_request",{}]')
        read_until(http, sid, "session_confirm")
        follow = json.dumps(["user_uttered", {"message": FOLLOW_UP}], ensure_ascii=False)
        http.post("/socket.io/", params=params, content=b"422" + follow.encode())
        read_until(http, sid, SOURCE)
    finally:
        http.close()


# -- console ------------------------------------------------------------------------------------

login_bodies = st.one_of(
    st.builds(lambda u, p: {"username": u, "password": p},
              st.one_of(message_texts, st.just("admin")), message_texts),
    json_values,
)  # fmt: skip


@examples(40)
@given(body=login_bodies, bad_bytes=st.one_of(st.none(), invalid_utf8))
def test_console_login_never_fails(running: Running, console: Console, body: Any,
                                   bad_bytes: bytes | None) -> None:  # fmt: skip
    if isinstance(body, dict) and body.get("username") == "privacy-anna":
        body["username"] = "someone-else"  # never lock the test's own account out
    content = (b'{"username": "x", "password": "' + bad_bytes + b'"}') if bad_bytes else to_json(body)
    with httpx.Client(base_url=running.console_url, timeout=30) as http:
        response = http.post("/console/api/login", content=content,
                             headers={"Content-Type": "application/json"})  # fmt: skip
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert "Traceback" not in response.text and "set-cookie" not in response.headers
    count("console login", str(response.status_code))
    # the logged-in counsellor's session goes on working
    assert console.get("/console/api/me").status_code == 200


@pytest.fixture(scope="module")
def claimed(running: Running, console: Console) -> tuple[str, str]:
    """A conversation escalated over REST and claimed in the console: (conversation, handoff)."""
    conversation_id = uuid.uuid4().hex
    say(running, conversation_id, "jag vill prata med en människa")
    with session(running.settings.database_url) as db:
        handoff_id = db.query(Handoff.id).filter(
            Handoff.conversation_id == rest_id(conversation_id)).scalar()  # fmt: skip
    assert handoff_id, "no handoff"
    assert console.post(f"/console/api/handoffs/{handoff_id}/claim").status_code == 200
    return conversation_id, handoff_id


reply_bodies = st.one_of(
    st.builds(lambda t: {"text": t}, message_texts),
    json_values,
)


@examples(40)
@given(body=reply_bodies, bad_bytes=st.one_of(st.none(), st.none(), invalid_utf8))
def test_console_reply_never_fails(console: Console, claimed: tuple[str, str], body: Any,
                                   bad_bytes: bytes | None) -> None:  # fmt: skip
    _, handoff_id = claimed
    content = (b'{"text": "hej ' + bad_bytes + b'"}') if bad_bytes else to_json(body)
    response = console.http.post(
        f"/console/api/handoffs/{handoff_id}/reply", content=content,
        headers={**console.csrf, "Content-Type": "application/json"},
    )  # fmt: skip
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert "Traceback" not in response.text
    if response.status_code == 200:
        assert response.json()["handoff"]["status"] == "claimed"
    count("console reply", str(response.status_code))
    # the conversation goes on: a normal reply is delivered and the transcript reads
    ok = console.post(f"/console/api/handoffs/{handoff_id}/reply", json={"text": "Hej igen!"})
    assert ok.status_code == 200, ok.text
    assert console.get(f"/console/api/handoffs/{handoff_id}").status_code == 200


@examples(30)
@given(handoff=st.one_of(message_texts.filter(lambda t: len(t) < 300 and t.strip(".")),
                         st.just("../../etc")),
       action=st.sampled_from(["", "/claim", "/close", "/handback", "/reply", "/stream"]),
       body=json_values)  # fmt: skip
def test_console_handoff_routes_never_fail(console: Console, claimed: tuple[str, str],
                                           handoff: str, action: str, body: Any) -> None:  # fmt: skip
    # a lone surrogate becomes invalid UTF-8 in the path (%ED%A0%80)
    quoted = urllib.parse.quote(handoff.encode("utf-8", "surrogatepass"), safe="")
    path = f"/console/api/handoffs/{quoted}{action}"
    if action in ("", "/stream"):
        response = console.get(path)
    else:
        response = console.http.post(path, content=to_json(body),
                                     headers={**console.csrf, "Content-Type": "application/json"})
    assert response.status_code < 500, (path[:80], response.status_code, response.text[:300])
    assert 400 <= response.status_code < 500, (path[:80], response.status_code)
    count("console handoff routes", str(response.status_code))
    _, handoff_id = claimed
    assert console.get(f"/console/api/handoffs/{handoff_id}").json()["handoff"]["status"] \
        == "claimed"
