"""The REST channel (bot/channels/rest.py; issue 20, review C1, L6, M7, M9) on a real Sanic
server (Rasa's own app with the channel registered as `rasa run` does) and a stand-in agent
that records what reaches Rasa. The same attacks on the whole stack: tests/privacy/
test_channel_namespaces.py.
"""

from __future__ import annotations

import json
import logging
import secrets
import socket

import httpx
import pytest

from bot.channels.rest import RestInput
from bot.conversation_ids import channel_of, rest_id, rest_sender, valid_sender
from bot.settings import SettingsError
from tests.widget.sockets import StandInAgent, serve

KEY = secrets.token_urlsafe(32)
JSON = {"Content-Type": "application/json"}


async def post(url: str, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.post(f"{url}/webhooks/rest/webhook", content=json.dumps(body),
                               headers={**JSON, **(headers or {})})  # fmt: skip


def other_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent (UDP connect)
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


async def test_rest_conversations_are_their_own_whatever_the_sender() -> None:
    agent = StandInAgent()
    widget_id, telegram_id = secrets.token_hex(16), "123456789"
    async with serve(RestInput(profile="dev"), agent) as url:
        for sender in (widget_id, telegram_id, "me"):
            answer = await post(url, {"sender": sender, "message": "/deny"})
            assert answer.status_code == 200, answer.text
            # the answer names the sender as it was sent, never the stored id
            assert {m["recipient_id"] for m in answer.json()} == {sender}
    assert [m.sender_id for m in agent.received] == [
        f"rest:{widget_id}", "rest:123456789", "rest:me"]  # fmt: skip
    assert {m.input_channel for m in agent.received} == {"rest"}


@pytest.mark.parametrize("sender", [
    "", "a" * 65, "123:mutex", "rest:me", "tg:abc", "a b", "é", "../x", "a/b", "a.b", 5, None,
    ["me"], {"id": "me"}, "me\n",
])  # fmt: skip
async def test_a_sender_outside_the_pattern_is_a_clear_400(sender: object) -> None:
    agent = StandInAgent()
    async with serve(RestInput(profile="dev"), agent) as url:
        answer = await post(url, {"sender": sender, "message": "hej"})
    assert answer.status_code == 400
    assert answer.json() == {"error": "'sender' must be 1-64 letters, digits, '-' or '_'"}
    assert agent.received == []


async def test_production_without_a_key_has_no_rest_at_all() -> None:
    agent = StandInAgent()
    async with serve(RestInput(profile="production"), agent) as url:
        async with httpx.AsyncClient() as http:
            for answer in (
                await http.post(f"{url}/webhooks/rest/webhook", headers=JSON,
                                content=json.dumps({"sender": "me", "message": "hej"})),
                await http.get(f"{url}/webhooks/rest/"),
            ):  # fmt: skip
                assert answer.status_code == 404
    assert agent.received == []


@pytest.mark.parametrize("profile", ["production", "dev"])
async def test_with_a_key_only_its_bearer_gets_in(profile: str) -> None:
    agent = StandInAgent()
    async with serve(RestInput(api_key=KEY, profile=profile), agent) as url:
        async with httpx.AsyncClient() as http:

            async def send(headers: dict) -> httpx.Response:
                return await http.post(f"{url}/webhooks/rest/webhook", headers={**JSON, **headers},
                                       content=json.dumps({"sender": "me", "message": "hej"}))

            for wrong in ({}, {"Authorization": KEY}, {"Authorization": f"Basic {KEY}"},
                          {"Authorization": f"Bearer {KEY[:-1]}"},
                          {"Authorization": f"Bearer {KEY}x"}, {"Authorization": "Bearer"},
                          {"Authorization": "Bearer é".encode()}):  # fmt: skip
                answer = await send(wrong)
                assert answer.status_code == 401, wrong
                assert answer.headers["WWW-Authenticate"] == "Bearer"
                assert "key" in answer.json()["error"]
            assert (await http.get(f"{url}/webhooks/rest/")).status_code == 401
            answer = await send({"Authorization": f"Bearer {KEY}"})
            assert answer.status_code == 200 and answer.json()
            answer = await send({"Authorization": f"bearer  {KEY}"})
            assert answer.status_code == 200
    assert len(agent.received) == 2


async def test_dev_without_a_key_answers_this_machine_only() -> None:
    address = other_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    agent = StandInAgent()
    async with serve(RestInput(profile="dev"), agent, host="0.0.0.0") as url:
        port = url.rsplit(":", 1)[1]
        local = await post(url, {"sender": "me", "message": "hej"})
        assert local.status_code == 200
        remote = await post(f"http://{address}:{port}", {"sender": "me", "message": "hej"})
        assert remote.status_code == 403
        assert "REST_API_KEY" in remote.json()["error"]
    assert len(agent.received) == 1


async def test_only_json_bodies_so_no_cross_site_simple_request() -> None:
    agent = StandInAgent()
    body = json.dumps({"sender": "me", "message": "hej"})
    async with serve(RestInput(profile="dev"), agent) as url, httpx.AsyncClient() as http:
        for content_type in (None, "text/plain", "text/plain;charset=UTF-8",
                             "application/x-www-form-urlencoded", "multipart/form-data"):  # fmt: skip
            headers = {"Content-Type": content_type} if content_type else {}
            answer = await http.post(f"{url}/webhooks/rest/webhook", content=body,
                                     headers=headers)  # fmt: skip
            assert answer.status_code == 415, content_type
        answer = await http.post(f"{url}/webhooks/rest/webhook", content=body,
                                 headers={"Content-Type": "application/json; charset=utf-8"})
        assert answer.status_code == 200
    assert len(agent.received) == 1


class Failing(StandInAgent):
    async def handle_message(self, message) -> None:  # type: ignore[no-untyped-def]
        # what SQLAlchemy's errors say: the statement and its parameters, the text included
        raise RuntimeError(f"[SQL: INSERT INTO events] [parameters: {message.text!r}]")


async def test_an_error_is_a_503_and_its_log_line_holds_no_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret_text = "mitt hemliga meddelande 4711"
    with caplog.at_level(logging.DEBUG):
        async with serve(RestInput(profile="dev"), Failing()) as url:
            answer = await post(url, {"sender": "sender-0815", "message": secret_text})
    assert answer.status_code == 503
    assert answer.json() == {"error": "the assistant could not answer"}
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "Could not handle a REST message (RuntimeError)" in logged
    assert not any(r.exc_info for r in caplog.records if r.name == "bot.channels.rest")
    for personal in ("4711", "hemliga", "sender-0815", "parameters"):
        assert personal not in logged


def test_a_key_must_be_long_and_not_a_placeholder(monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in ("changeme", "short-key", "x" * 31):
        monkeypatch.setenv("REST_API_KEY", bad)
        with pytest.raises(SettingsError):
            RestInput.from_credentials(None)
    monkeypatch.setenv("REST_API_KEY", KEY)
    monkeypatch.setenv("PROFILE", "production")
    assert RestInput.from_credentials(None).mode == "key"
    monkeypatch.delenv("REST_API_KEY")
    assert RestInput.from_credentials(None).mode == "off"
    monkeypatch.setenv("PROFILE", "dev")
    assert RestInput.from_credentials(None).mode == "local"


def test_conversation_ids_say_their_channel() -> None:
    assert rest_id("me") == "rest:me" and rest_sender("rest:me") == "me"
    assert channel_of("rest:me") == "rest"
    assert channel_of("tg:" + "a2" * 13) == "telegram"
    assert channel_of(secrets.token_hex(16)) == "socketio"
    for legacy in ("123456789", "rest:", "rest:a:mutex", "tg:", "TG:abc", "x" * 32):
        assert channel_of(legacy) == "legacy", legacy
    assert valid_sender("a" * 64) and valid_sender("a" * 65) is None
    with pytest.raises(ValueError):
        rest_id("a:mutex")
