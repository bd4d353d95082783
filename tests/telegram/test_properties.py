"""Property-based tests (hypothesis): whatever reaches the webhook, never a 5xx, and no valid
update is lost. Also the splitting of long answers. The channel runs in a real Sanic server
and talks to the fake Bot API, as in test_channel.py."""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.channels.common import clean_text
from bot.channels.telegram import COMMANDS, _utf16_len, split_message
from tests.telegram import updates as u
from tests.telegram.fake_bot_api import FakeBotAPI
from tests.telegram.harness import ChannelServer

COUNTS: dict[str, int] = {}
_chats = itertools.count(800_000_000)


def _count(name: str) -> None:
    COUNTS[name] = COUNTS.get(name, 0) + 1


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


CHANNEL_LOG = _Collect()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChannelServer]:
    from bot.store.db import init_db

    url = f"sqlite:///{tmp_path_factory.mktemp('telegram_properties') / 'channel.db'}"
    init_db(url)
    api = FakeBotAPI().start()
    running = ChannelServer(api, responder=None, database_url=url).start()
    logging.getLogger("bot.channels.telegram").addHandler(CHANNEL_LOG)
    yield running
    logging.getLogger("bot.channels.telegram").removeHandler(CHANNEL_LOG)
    running.stop()
    api.stop()
    print(f"\nhypothesis examples tried: {COUNTS}")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)  # fmt: skip
update_keys = st.sampled_from([
    "update_id", "message", "edited_message", "callback_query", "channel_post", "chat", "from",
    "text", "data", "id", "date", "message_id", "type", "language_code", "voice", "photo",
])  # fmt: skip
# Objects shaped like updates with wrong or missing parts: they reach Update.de_json.
update_like = st.recursive(
    json_values,
    lambda children: st.dictionaries(update_keys, children, max_size=6),
    max_leaves=16,
)


def _real_update(kind: int, text: str) -> dict:
    chat = next(_chats)
    makers = [
        lambda: u.text_update(chat, text), lambda: u.edited_update(chat, text),
        lambda: u.voice_update(chat), lambda: u.photo_update(chat, caption=text or None),
        lambda: u.sticker_update(chat), lambda: u.group_update(-chat, text),
        lambda: u.callback_update(chat, text[:20]),
    ]  # fmt: skip
    return makers[kind % len(makers)]()


def _mutate(update: dict, path_value: object, drop: str | None) -> dict:
    """A real update with one part replaced by junk or removed."""
    changed = json.loads(json.dumps(update))
    body_key = next(k for k in changed if k != "update_id")
    if drop and drop in changed[body_key]:
        del changed[body_key][drop]
    else:
        changed[body_key]["chat" if drop is None else drop] = path_value
    return changed


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(body=json_values | update_like)
def test_arbitrary_json_never_gets_a_5xx(server: ChannelServer, body: object) -> None:
    _count("arbitrary JSON")
    reply = server.post(body)
    assert reply.status_code in (200, 400), reply.text


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(kind=st.integers(0, 6), text=st.text(max_size=200), junk=json_values,
       drop=st.sampled_from([None, "chat", "from", "date", "message_id", "text", "id"]))
def test_broken_real_updates_never_get_a_5xx(server: ChannelServer, kind: int, text: str,
                                             junk: object, drop: str | None) -> None:
    _count("broken real updates")
    reply = server.post(_mutate(_real_update(kind, text), junk, drop))
    assert reply.status_code in (200, 400), reply.text


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(raw=st.binary(max_size=2000) | st.text(max_size=2000).map(str.encode))
def test_arbitrary_bytes_never_get_a_5xx(server: ChannelServer, raw: bytes) -> None:
    _count("arbitrary bytes")
    assert server.post(content=raw).status_code in (200, 400)
    assert server.post(content=raw, secret="wrong-secret-0123456789").status_code == 403


def expected_text(text: str, kind: int) -> str | None:
    """What Rasa should be given for a private text (kind 0) or button (kind 1) update."""
    if kind == 1:
        return None if text[:30].startswith("#") else clean_text(text[:30])
    command = text.split(maxsplit=1)[0].split("@")[0].lower() if text.startswith("/") else ""
    if command in COMMANDS:
        return COMMANDS[command]
    return clean_text(text.lstrip("/") if command else text)


@settings(max_examples=250, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(text=st.text(max_size=300) | st.text(min_size=1990, max_size=2600)
       | st.sampled_from(list(COMMANDS)).flatmap(lambda c: st.text(max_size=20).map(c.__add__)),
       kind=st.integers(0, 1))
def test_no_valid_update_is_lost(server: ChannelServer, text: str, kind: int) -> None:
    """Every valid private text or button update has exactly one effect: its text reaches
    Rasa once (cleaned), or, for text that cannot be used, the user gets the kind answer (a
    button with a key this process never issued is only acknowledged)."""
    _count("valid updates")
    api = server.api
    chat = next(_chats)
    update = u.text_update(chat, text) if kind == 0 else u.callback_update(chat, text[:30])
    assert server.post(update).status_code == 200
    assert server.post(update).status_code == 200  # a redelivery changes nothing
    expected = expected_text(text, kind)

    def done() -> bool:
        if kind == 1 and not any(c.params.get("callback_query_id")
                                 == update["callback_query"]["id"]
                                 for c in api.recorded("answerCallbackQuery")):
            return False
        if expected is not None:
            return len(server.texts_for(chat)) >= 1
        return kind == 1 or len(api.texts(chat)) >= 1

    deadline = time.monotonic() + 20
    while not done() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert done(), "update lost"
    time.sleep(0.05)
    assert server.texts_for(chat) == ([] if expected is None else [expected])


def test_nothing_above_was_accepted_and_then_failed(server: ChannelServer) -> None:
    """A body the webhook accepted (200) is one the channel can handle: what it cannot read
    is refused with a 400 at once, never taken and then dropped with an error."""
    time.sleep(0.5)
    assert COUNTS.get("arbitrary JSON") and COUNTS.get("broken real updates")
    assert [f"{r.levelname} {r.getMessage()}" for r in CHANNEL_LOG.records] == []


@settings(max_examples=500, deadline=None, database=None)
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=3000),
       limit=st.integers(8, 600))
def test_split_message_keeps_every_word_within_the_limit(text: str, limit: int) -> None:
    _count("split_message")
    parts = split_message(text, limit)
    assert all(p.strip() and _utf16_len(p) <= limit for p in parts)
    rlm = "\u200f"
    body = text[1:] if text.startswith(rlm) else text
    joined = "".join(p[1:] if text.startswith(rlm) else p for p in parts)
    assert "".join(joined.split()) == "".join(body.split())
