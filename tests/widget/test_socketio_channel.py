"""The widget's socket.io channel (bot/channels/socketio.py) against a real server and clients.

Sessions are issued by the server and bound to the connection: forged tokens, guessed or
reused ids get nobody into another person's conversation. Only configured origins connect;
messages are limited in size and rate; a re-sent message is taken once; a resumed session gets
its history; counsellor replies reach every tab of the conversation. Sessions live in a real
SQLite database (bot/store/widget_sessions.py), one per test.
"""

from __future__ import annotations

import asyncio
import secrets
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import rasa.shared.utils.io
import socketio
from hypothesis import given, settings
from hypothesis import strategies as st
from rasa.core.channels.socketio import SocketIOInput as RasaSocketIOInput
from rasa.shared.core.events import BotUttered, UserUttered

from bot.channels.common import MAX_MESSAGE_CHARS
from bot.channels.socketio import (
    SLOW_DOWN,
    RateLimiter,
    SessionTokens,
    SocketIOInput,
    history_messages,
    parse_origins,
)
from bot.settings import LANGUAGES, ROOT, SettingsError
from bot.store import widget_sessions
from bot.store.db import init_db, session
from tests.widget.sockets import ORIGIN, SECRET, Client, StandInAgent, clients, serve

DATABASE: dict[str, str] = {}


@pytest.fixture(autouse=True)
def database(tmp_path: Path) -> Iterator[str]:
    """Each test's own sessions table."""
    url = f"sqlite:///{tmp_path / 'sessions.db'}"
    init_db(url)
    DATABASE["url"] = url
    yield url
    DATABASE.clear()


def channel(**overrides) -> SocketIOInput:
    options = {"session_secret": SECRET, "allowed_origins": [ORIGIN],
               "database_url": DATABASE["url"]}  # fmt: skip
    options.update(overrides)
    return SocketIOInput(**options)


def conversation_of(token: str) -> str:
    """The conversation a live token opens (only the server knows it)."""
    with session(DATABASE["url"]) as db:
        live = widget_sessions.resume(db, token=token, days=30)
    assert live is not None, "not a live session"
    return live.conversation_id


# -- the enter_room trap -----------------------------------------------------------------------


async def first_reply(channel_under_test, session: dict, message: dict) -> object | None:
    """The first bot message a client gets after a session request and one message."""

    class Echo:
        async def handle_message(self, msg) -> None:
            await msg.output_channel.send_text_message(msg.sender_id, "an answer")

    async with serve(channel_under_test, Echo()) as url:
        client = await Client().connect(url)
        try:
            await client.sio.emit("session_request", session)
            confirm = await client.next("session_confirm")
            if isinstance(confirm, dict) and "token" in confirm:
                await client.say(message)
            else:
                await client.sio.emit("user_uttered", message)
            try:
                return await client.next("bot_uttered", timeout=3)
            except asyncio.TimeoutError:
                return None
        finally:
            await client.close()


async def test_rasa_channel_with_session_persistence_never_answers() -> None:
    """The trap (issue 5): Rasa 3.6's channel does not await python-socketio 5.x's enter_room,
    so its replies go to an empty room. If this starts failing, the pinned python-socketio
    changed: look again at whether our channel is still needed for it."""
    rasa_channel = RasaSocketIOInput(session_persistence=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "coroutine ... never awaited"
        reply = await first_reply(
            rasa_channel, {"session_id": "abc"}, {"message": "hej", "session_id": "abc"}
        )
    assert reply is None


async def test_our_channel_answers_in_the_conversation_room() -> None:
    reply = await first_reply(channel(), {}, {"message": "hej"})
    assert reply == {"text": "an answer", "buttons": [], "metadata": {}}


# -- sessions ----------------------------------------------------------------------------------


async def test_server_issues_the_session_and_a_token_resumes_it() -> None:
    agent = StandInAgent()
    async with serve(channel(), agent) as url:
        async with clients(url) as [first]:
            confirm = await first.session()
            assert confirm["resumed"] is False
            assert await first.say({"message": "hej", "id": "m1"}) == {"ok": True, "text": "hej"}
            assert (await first.next("bot_uttered"))["text"] == "reply to hej"
        async with clients(url) as [again]:
            resumed = await again.session(confirm["token"])
            history = await again.next("history")
            assert resumed == {"token": confirm["token"], "resumed": True}
            assert await again.say({"message": "och sen?"}) == {"ok": True, "text": "och sen?"}
            conversation = conversation_of(confirm["token"])
    senders = {m.sender_id for m in agent.received}
    assert senders == {conversation}
    assert conversation not in confirm["token"]  # the token does not name the conversation
    assert [m["text"] for m in history["messages"]] == ["hej", "reply to hej"]
    assert history["received"] == ["m1"]


def v1_forgeries(conversation: str) -> list[object]:
    """Old-format tokens that are not genuine (the v1 format is still read, to migrate)."""
    signature = SessionTokens(SECRET).token_for(conversation).split(".")[2]
    other = SessionTokens("another-secret-that-is-long-enough-0123456789")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    return [
        conversation,  # the bare id, as Rasa's channel would take it
        f"v1.{conversation}.{flipped}",  # signature changed by one character
        other.token_for(conversation),  # signed with another secret
        f"v1.{'0' * 32}.{signature}",  # another id with this signature
        f"v2.{conversation}.{signature}",
        f"v1.{conversation.upper()}.{signature}",
        f"v1.{conversation}.{signature}.extra",
        f"v1.{conversation}.{signature[:-1]}\u0100",  # non-ASCII: hmac.compare_digest raises
        "", "v1..", None, 42, ["v1", conversation, signature],
    ]  # fmt: skip


def forgeries(token: str, conversation: str) -> list[object]:
    handle = token.split(".", 1)[1]
    flipped = handle[:-1] + ("A" if handle[-1] != "A" else "B")
    return [
        *v1_forgeries(conversation),
        f"v2.{flipped}",  # one character changed
        f"v2.{handle[:-1]}",  # one character short
        f"v2.{handle}x",
        f"v3.{handle}",
        handle,  # without its prefix
        f"v2.{widget_sessions.handle_hash(handle)}",  # what the database holds
        f"v2.{handle[:-1]}\u0100",
        f"v2.{secrets.token_urlsafe(32)}",  # well-formed, never issued
        {"token": token},
    ]  # fmt: skip


async def test_forged_tokens_get_a_new_conversation_and_no_history() -> None:
    agent = StandInAgent()
    async with serve(channel(), agent) as url:
        async with clients(url) as [owner]:
            token = (await owner.session())["token"]
            conversation = conversation_of(token)
            await owner.say({"message": "min hemlighet"})
            for forged in forgeries(token, conversation):
                async with clients(url) as [intruder]:
                    confirm = await intruder.session(forged)
                    assert confirm["resumed"] is False, forged
                    assert conversation_of(confirm["token"]) != conversation
                    assert await intruder.nothing("history", wait=0.2)
    assert {m.sender_id for m in agent.received} == {conversation}


async def test_a_session_id_sent_with_a_message_is_ignored() -> None:
    """A second client cannot write into another's conversation by naming its id, nor read
    what is sent to it."""
    agent = StandInAgent()
    async with serve(chan := channel(), agent) as url:
        async with clients(url, 2) as [owner, other]:
            owner_id = conversation_of((await owner.session())["token"])
            other_id = conversation_of((await other.session())["token"])
            ack = await other.say(
                {"message": "hijack", "session_id": owner_id, "sender": owner_id,
                 "sender_id": owner_id, "room": owner_id}
            )  # fmt: skip
            assert ack == {"ok": True, "text": "hijack"}
            assert (await other.next("bot_uttered"))["text"] == "reply to hijack"
            assert await owner.nothing("bot_uttered")
            assert await owner.nothing("user_echo", wait=0.1)
            # a reply to the owner's conversation (a counsellor's, say) reaches the owner only
            await chan.get_output_channel().send_text_message(owner_id, "för dig")
            assert (await owner.next("bot_uttered"))["text"] == "för dig"
            assert await other.nothing("bot_uttered")
    assert [(m.sender_id, m.text) for m in agent.received] == [(other_id, "hijack")]


async def test_a_message_before_a_session_is_refused() -> None:
    agent = StandInAgent()
    async with serve(channel(), agent) as url, clients(url) as [client]:
        assert await client.say({"message": "hej", "session_id": "abc"}) == {
            "ok": False, "error": "no_session"}  # fmt: skip
    assert agent.received == []


async def test_a_new_session_on_the_same_connection_leaves_the_old_room() -> None:
    """ "Clear this conversation" asks for a new session without reconnecting."""
    async with serve(chan := channel()) as url, clients(url) as [client]:
        old = conversation_of((await client.session())["token"])
        new = conversation_of((await client.session())["token"])
        assert new != old
        await chan.get_output_channel().send_text_message(old, "to the old conversation")
        assert await client.nothing("bot_uttered")


# -- origins, size, rate, duplicates -----------------------------------------------------------


async def test_only_configured_origins_connect() -> None:
    async with serve(channel()) as url:
        for origin in ("http://evil.example", "http://127.0.0.1:8001", "null"):
            with pytest.raises(socketio.exceptions.ConnectionError):
                await Client().connect(url, origin=origin)
        allowed = await Client().connect(url, origin=ORIGIN)
        assert allowed.sio.connected
        await allowed.close()


def test_origins_are_parsed_strictly() -> None:
    assert parse_origins("http://a.example, https://b.example:8443/") == [
        "http://a.example", "https://b.example:8443"]  # fmt: skip
    for bad in ("*", "", " , ", "a.example", "http://a.example/path", "javascript:alert(1)", 5):
        with pytest.raises(SettingsError):
            parse_origins(bad)


async def test_texts_are_cleaned_and_metadata_is_only_the_language() -> None:
    agent = StandInAgent()
    async with serve(channel(), agent) as url, clients(url) as [client]:
        await client.session()
        long_text = "å" * (MAX_MESSAGE_CHARS + 500)
        assert await client.say({"message": long_text}) == {
            "ok": True, "text": "å" * MAX_MESSAGE_CHARS}  # fmt: skip
        ack = await client.say({"message": "mitt personnummer är 19811218-9876\x00\x07",
                                "metadata": {"language": "ar", "admin": True, "sender": "x"}})
        # the acknowledgement carries the text as stored: the widget keeps that, not the typed
        assert ack == {"ok": True, "text": agent.received[1].text}
        for junk in ("", "   ", "\x00\x01", None, 5, ["x"], {"text": "x"}):
            assert await client.say({"message": junk}) == {"ok": False, "error": "invalid"}
        assert await client.say("not a dict") == {"ok": False, "error": "invalid"}
    first, second = agent.received
    assert len(first.text) == MAX_MESSAGE_CHARS
    assert "9876" not in second.text and "[personnummer]" in second.text
    assert "\x00" not in second.text
    assert second.metadata == {"language": "ar"}
    assert second.input_channel == "socketio"


async def test_over_the_rate_limit_a_kind_message_not_a_disconnect() -> None:
    agent = StandInAgent()
    async with serve(channel(rate_limit_messages=3, rate_limit_seconds=30), agent) as url:
        async with clients(url) as [client]:
            await client.session()
            for n in range(3):
                assert (await client.say({"message": f"fråga {n}"}))["ok"] is True
                await client.next("bot_uttered")
            ack = await client.say({"message": "en till", "metadata": {"language": "ar"}})
            assert ack["ok"] is False and ack["error"] == "rate_limited"
            assert 0 < ack["retry_after"] <= 30
            notice = await client.next("bot_uttered")
            assert notice["text"].startswith(SLOW_DOWN["ar"]["text"])
            assert "112" in notice["text"] and "90101" in notice["text"]  # bot/abuse.py
            assert notice["metadata"] == {"notice": "rate_limited"}
            assert client.sio.connected
    assert len(agent.received) == 3


def test_rate_limiter_window_slides() -> None:
    now = [0.0]
    limiter = RateLimiter(2, 10, clock=lambda: now[0])
    assert limiter.retry_after("a") == 0 and limiter.retry_after("a") == 0
    assert limiter.retry_after("a") == pytest.approx(10)
    assert limiter.retry_after("b") == 0  # per connection
    now[0] = 10.0
    assert limiter.retry_after("a") == 0


async def test_a_message_sent_again_is_taken_once() -> None:
    """The widget re-sends a message whose acknowledgement was lost, with the same id."""
    agent = StandInAgent()
    async with serve(channel(), agent) as url, clients(url) as [client]:
        await client.session()
        assert await client.say({"message": "hej", "id": "abc_123"}) == {"ok": True, "text": "hej"}
        assert await client.say({"message": "hej", "id": "abc_123"}) == {
            "ok": True, "duplicate": True, "text": "hej"}  # fmt: skip
        assert await client.say({"message": "hej", "id": "other"}) == {"ok": True, "text": "hej"}
    assert [m.text for m in agent.received] == ["hej", "hej"]


# -- rooms: tabs, counsellors, history ----------------------------------------------------------


async def test_every_tab_of_a_conversation_gets_replies_and_counsellor_messages() -> None:
    async with serve(chan := channel()) as url, clients(url, 3) as [tab1, tab2, stranger]:
        token = (await tab1.session())["token"]
        await tab2.session(token)
        await tab2.next("history")
        await stranger.session()
        await tab1.say({"message": "hej"})
        assert (await tab1.next("bot_uttered"))["text"] == "reply to hej"
        assert (await tab2.next("bot_uttered"))["text"] == "reply to hej"
        assert (await tab2.next("user_echo")) == {"text": "hej"}
        # what the console appends through Rasa's HTTP API with output_channel=latest
        output = chan.get_output_channel()
        await output.send_response(
            conversation_of(token),
            {"text": "Hej, jag heter Anna.", "counsellor": "anna.k", "timestamp": 1.0},
        )
        for tab in (tab1, tab2):
            message = await tab.next("bot_uttered")
            assert message == {"text": "Hej, jag heter Anna.", "buttons": [],
                               "metadata": {"counsellor": True}}  # fmt: skip
        await output.send_response(
            conversation_of(token), {"text": "Assistenten svarar igen.", "console_event": "bot_back"}
        )
        assert (await tab1.next("bot_uttered"))["metadata"] == {"event": "bot_back"}
        assert await stranger.nothing("bot_uttered")


def test_history_shows_button_titles_and_leaves_out_bare_payloads() -> None:
    buttons = [{"title": "Hur överklagar jag?", "payload": "/appeal_how"}]
    events = [
        UserUttered("/choose_language{\"language\": \"sv\"}"),
        BotUttered("Jag skriver på svenska."),
        UserUttered("hej"),
        BotUttered("Hej! Vad undrar du?", data={"buttons": buttons}, metadata={"x": "y"}),
        UserUttered("/appeal_how"),
        BotUttered("Du överklagar …\n\nKälla: … Kontrollerad 2026-11-22."),
        BotUttered("Nu svarar en människa.", metadata={"counsellor": "anna.k"}),
        # topic buttons on an answer, then a second message of the turn with its own button
        BotUttered("Tre veckor.", data={"buttons": [{"title": "Så överklagar du",
                                                     "payload": "/appeal_how"}]}),
        BotUttered("Jag är en assistent.", data={"buttons": [{"title": "Läs mer",
                                                              "payload": "/privacy"}]}),
        UserUttered("/appeal_how"),
        UserUttered("/privacy"),
    ]
    assert history_messages(events) == [
        {"sender": "bot", "text": "Jag skriver på svenska.", "buttons": [], "metadata": {}},
        {"sender": "user", "text": "hej"},
        {"sender": "bot", "text": "Hej! Vad undrar du?", "buttons": buttons, "metadata": {}},
        {"sender": "user", "text": "Hur överklagar jag?"},
        {"sender": "bot", "text": "Du överklagar …\n\nKälla: … Kontrollerad 2026-11-22.",
         "buttons": [], "metadata": {}},
        {"sender": "bot", "text": "Nu svarar en människa.", "buttons": [],
         "metadata": {"counsellor": True}},
        {"sender": "bot", "text": "Tre veckor.", "metadata": {},
         "buttons": [{"title": "Så överklagar du", "payload": "/appeal_how"}]},
        {"sender": "bot", "text": "Jag är en assistent.", "metadata": {},
         "buttons": [{"title": "Läs mer", "payload": "/privacy"}]},
        {"sender": "user", "text": "Så överklagar du"},
        {"sender": "user", "text": "Läs mer"},
    ]  # fmt: skip
    assert len(history_messages([UserUttered(f"m{n}") for n in range(500)])) == 200


# -- tokens and configuration ------------------------------------------------------------------


def test_old_tokens_verify_only_their_own() -> None:
    tokens = SessionTokens(SECRET)
    conversation = secrets.token_hex(16)
    assert tokens.verify(tokens.token_for(conversation)) == conversation
    for forged in v1_forgeries(conversation):
        assert tokens.verify(forged) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120) | st.from_regex(r"v1\.[0-9a-f]{32}\.[A-Za-z0-9_-]{43}"))
def test_no_made_up_token_verifies(candidate: str) -> None:
    assert SessionTokens(SECRET).verify(candidate) is None


def test_from_credentials_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOCKETIO_ALLOWED_ORIGINS", raising=False)
    monkeypatch.delenv("WIDGET_SESSION_DAYS", raising=False)
    monkeypatch.setenv("RETENTION_DAYS", "21")
    made = SocketIOInput.from_credentials({"session_secret": SECRET})
    assert made.allowed_origins == ["http://127.0.0.1:8000", "http://localhost:8000"]
    assert made.session_days == 21  # sessions last the retention period by default
    monkeypatch.setenv("WIDGET_SESSION_DAYS", "7")
    assert SocketIOInput.from_credentials({"session_secret": SECRET}).session_days == 7
    monkeypatch.setenv("SOCKETIO_ALLOWED_ORIGINS", "https://org.example")
    assert SocketIOInput.from_credentials({"session_secret": SECRET}).allowed_origins == [
        "https://org.example"]  # fmt: skip
    for bad in (None, {}, {"session_secret": ""}, {"session_secret": "short"},
                {"session_secret": "changeme"}, {"session_secret": SECRET, "rate_limit_messages": 0},
                {"session_secret": SECRET, "rate_limit_seconds": "soon"},
                {"session_secret": SECRET, "session_days": -1},
                {"session_secret": SECRET, "session_days": "a week"}):  # fmt: skip
        with pytest.raises(SettingsError):
            SocketIOInput.from_credentials(bad)
    monkeypatch.setenv("SOCKETIO_ALLOWED_ORIGINS", "*")
    with pytest.raises(SettingsError):
        SocketIOInput.from_credentials({"session_secret": SECRET})


def test_credentials_file_registers_the_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.core.run import create_http_input_channels

    monkeypatch.setenv("SOCKETIO_SESSION_SECRET", SECRET)
    monkeypatch.delenv("SOCKETIO_ALLOWED_ORIGINS", raising=False)
    loaded = rasa.shared.utils.io.read_config_file(str(ROOT / "credentials.yml"))
    assert "socketio" not in loaded  # Rasa's own channel is not registered any more
    found = [c for c in create_http_input_channels(None, str(ROOT / "credentials.yml"))
             if isinstance(c, SocketIOInput)]  # fmt: skip
    assert len(found) == 1 and found[0].name() == "socketio"


def test_the_kind_message_exists_in_every_language() -> None:
    assert set(SLOW_DOWN) == set(LANGUAGES)
    assert all(entry["text"] and isinstance(entry["reviewed"], bool) for entry in SLOW_DOWN.values())


class Failing(StandInAgent):
    async def handle_message(self, message) -> None:  # type: ignore[no-untyped-def]
        # what SQLAlchemy's errors say: the statement and its parameters, the text included
        raise RuntimeError(f"[SQL: INSERT INTO events] [parameters: {message.text!r}]")


async def test_an_error_is_acknowledged_and_its_log_line_holds_no_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    with caplog.at_level(logging.DEBUG):
        async with serve(channel(), Failing()) as url, clients(url) as [client]:
            await client.session()
            ack = await client.say({"message": "mitt hemliga meddelande 4711", "id": "m1"})
    assert ack == {"ok": False, "error": "unavailable"}
    ours = [r for r in caplog.records if r.name == "bot.channels.socketio"]
    logged = "\n".join(r.getMessage() for r in ours)
    assert "Could not handle a socket.io message (RuntimeError)" in logged
    assert not any(r.exc_info for r in ours)
    for personal in ("4711", "hemliga", "parameters"):
        assert personal not in "\n".join(r.getMessage() + (r.exc_text or "")
                                         for r in caplog.records)  # fmt: skip
