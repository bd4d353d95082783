"""What hypothesis found on the console (tests/privacy/test_properties.py), kept as plain
regression tests in-process: a lone surrogate in a login or a reply is a 422, not a 500."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.console.app import create_app
from bot.console.rasa import PooledRasaAPI
from bot.console.security import hash_password
from bot.settings import Settings
from bot.store import counsellors
from bot.store.db import init_db, session
from bot.store.handoffs import claim, request_handoff
from tests.console.conftest import ConsoleClient
from tests.console.fake_rasa import FakeRasa

SECRET = secrets.token_urlsafe(32)
PASSWORD = "correct horse battery staple"


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[tuple[ConsoleClient, Settings, FakeRasa]]:
    url = f"sqlite:///{tmp_path / 'console.db'}"
    init_db(url)
    settings = Settings(database_url=url, var_dir=tmp_path, rasa_jwt_secret=SECRET)
    with session(url) as db:
        counsellors.create_counsellor(db, username="anna", password_hash=hash_password(PASSWORD),
                                      role="counsellor")  # fmt: skip
    fake = FakeRasa(secret=SECRET).start()
    try:
        app = create_app(settings, rasa=PooledRasaAPI(fake.url, SECRET))
        with ConsoleClient(app) as test_client:
            yield test_client, settings, fake
    finally:
        fake.stop()


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("body", [
    b'{"username": "\\ud800", "password": "x"}',
    b'{"username": "anna", "password": "\\udfff secret"}',
])  # fmt: skip
def test_a_lone_surrogate_in_the_login_is_a_422(client, body: bytes) -> None:  # type: ignore[no-untyped-def]
    test_client, _, _ = client
    response = test_client.post("/console/api/login", content=body, headers=JSON)
    assert response.status_code == 422, response.text
    ok = test_client.post("/console/api/login", json={"username": "anna", "password": PASSWORD})
    assert ok.status_code == 200


@pytest.mark.parametrize("body", [
    b'{"username": "x", "password": "\xed\xa0\x80\x00"}',  # found in CI: was a 500
    b'{"username": "anna", "password": "secret\x00"}',
    b'{"username": "anna", "password": "\xff"}',
])  # fmt: skip
def test_a_body_that_is_not_json_is_a_422_that_does_not_echo_it(client, body: bytes) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    test_client, _, _ = client
    response = test_client.post("/console/api/login", content=body, headers=JSON)
    assert response.status_code in (400, 422), response.text  # 400: not even UTF-8
    assert "secret" not in response.text and "password\"" not in response.text
    if response.status_code == 422:
        assert response.json()["detail"][0]["loc"][0] == "body"


def test_a_lone_surrogate_in_a_reply_is_a_422(client) -> None:  # type: ignore[no-untyped-def]
    test_client, settings, fake = client
    with session(settings.database_url) as db:
        handoff, _ = request_handoff(db, conversation_id="c" * 32, channel="rest",
                                     language="sv", reason="request")  # fmt: skip
        assert claim(db, handoff_id=handoff.id, counsellor="anna")
    login = test_client.post("/console/api/login", json={"username": "anna", "password": PASSWORD})
    headers = {**JSON, "X-CSRF-Token": login.json()["csrf_token"]}
    path = f"/console/api/handoffs/{handoff.id}/reply"
    bad = test_client.post(path, content=b'{"text": "hej \\ud800"}', headers=headers)
    assert bad.status_code == 422, bad.text
    assert test_client.post(path, content=b'{"text": "hej"}', headers=headers).status_code == 200
