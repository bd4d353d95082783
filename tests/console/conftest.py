"""Fixtures for the console: a private database and content, a fake Rasa on a real port,
the app under a TestClient, accounts and handoffs made the way the project makes them."""

from __future__ import annotations

import functools
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient, _AsyncBackend, _TestClientTransport

from bot.console.app import create_app
from bot.console.config import ConsoleConfig
from bot.console.rasa import PooledRasaAPI
from bot.console.security import hash_password
from bot.settings import Settings
from bot.store import counsellors
from bot.store.db import init_db, session
from bot.store.handoffs import request_handoff
from bot.store.models import Priority
from tests.console.fake_rasa import FakeRasa

JWT_SECRET = secrets.token_urlsafe(32)
PASSWORD = "correct horse battery staple"

TEXTS_YML = """\
counsellor_joined:
  sv: {text: "En rådgivare har anslutit och svarar dig här.", reviewed: false}
  en: {text: "A counsellor has joined and will answer you here.", reviewed: false}
bot_back:
  sv: {text: "Nu svarar assistenten igen.", reviewed: false}
  en: {text: "The assistant is answering again.", reviewed: false}
console_greeting:
  sv: {text: "Hej! Jag är rådgivare och läser det du skriver.", reviewed: false}
  en: {text: "Hello, I am a counsellor.", reviewed: false}
console_check_back:
  sv: {text: "Jag kollar upp det och återkommer.", reviewed: false}
  en: {text: "I'll check and come back to you.", reviewed: false}
console_closing:
  sv: {text: "Tack för att du skrev. Ta hand om dig.", reviewed: false}
  en: {text: "Thank you for writing. Take care.", reviewed: false}
"""


class ConsoleClient(TestClient):
    """FastAPI's TestClient, built so it works with the pinned httpx.

    Starlette 0.27's TestClient passes ``app=`` to ``httpx.Client``, which httpx 0.28 (pinned in
    constraints.txt) no longer accepts; the transport that drives the app is Starlette's own.
    The default base URL is https: the session cookie is Secure.
    """

    __test__ = False

    def __init__(self, app: Any, base_url: str = "https://testserver") -> None:
        self.async_backend = _AsyncBackend(backend="asyncio", backend_options={})
        self.app = app
        self.app_state: dict[str, Any] = {}
        transport = _TestClientTransport(
            self.app, portal_factory=self._portal_factory, raise_server_exceptions=True,
            root_path="", app_state=self.app_state,
        )  # fmt: skip
        httpx.Client.__init__(
            self, base_url=base_url, headers={"user-agent": "testclient"}, transport=transport,
            follow_redirects=True,
        )  # fmt: skip


@pytest.fixture(scope="session")
def fake_rasa_server() -> Iterator[FakeRasa]:
    fake = FakeRasa(secret=JWT_SECRET).start()
    yield fake
    fake.stop()


@pytest.fixture()
def fake_rasa(fake_rasa_server: FakeRasa) -> FakeRasa:
    fake_rasa_server.reset()
    return fake_rasa_server


@pytest.fixture()
def content_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "content"
    (directory / "answers").mkdir(parents=True)
    (directory / "texts.yml").write_text(TEXTS_YML, encoding="utf-8")
    return directory


@pytest.fixture()
def settings(tmp_path: Path, content_dir: Path) -> Settings:
    url = f"sqlite:///{tmp_path / 'console.db'}"
    init_db(url)
    return Settings(database_url=url, content_dir=content_dir, var_dir=tmp_path,
                    rasa_jwt_secret=JWT_SECRET, office_hours="mon-sun 00:00-23:59")  # fmt: skip


TEST_CONFIG = ConsoleConfig(
    queue_poll_seconds=0.1, transcript_poll_seconds=0.1, stream_auth_seconds=0.2
)


@pytest.fixture()
def client(settings: Settings, fake_rasa: FakeRasa) -> Iterator[TestClient]:
    """The app under test. https base URL: the session cookie is Secure."""
    app = create_app(settings, rasa=PooledRasaAPI(fake_rasa.url, JWT_SECRET), config=TEST_CONFIG)
    with ConsoleClient(app) as test_client:
        yield test_client


@functools.lru_cache(maxsize=8)
def password_hash_of(password: str) -> str:
    """One real hash per password for the whole run: at today's cost (N=2^17) each takes about
    0.6 s, and the tests make many accounts with the same password."""
    return hash_password(password)


def add_account(settings: Settings, username: str, role: str = "counsellor",
                password: str = PASSWORD) -> None:  # fmt: skip
    with session(settings.database_url) as db:
        counsellors.create_counsellor(
            db, username=username, password_hash=password_hash_of(password), role=role
        )


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in; the CSRF token for later state-changing calls."""
    response = client.post("/console/api/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["csrf_token"]


@dataclass
class Escalated:
    handoff_id: str
    conversation_id: str


def escalate(
    settings: Settings,
    fake: FakeRasa,
    *,
    language: str = "sv",
    priority: str = Priority.NORMAL,
    reason: str = "request",
    first_message: str = "Hur överklagar jag beslutet?",
) -> Escalated:
    """A conversation as Rasa holds it when the handoff action has run, and the handoff row
    the action records (bot.store.handoffs.request_handoff, as actions/handoff.py does)."""
    conversation_id = uuid.uuid4().hex
    fake.user_says(conversation_id, first_message, language=language, intent="appeal_how")
    fake.bot_says(conversation_id, "Du överklagar skriftligt ...", topic="appeal_how",
                  buttons=["Tid att överklaga"])  # fmt: skip
    fake.user_says(conversation_id, "Jag vill prata med en människa", language=language,
                   intent="request_human")  # fmt: skip
    fake.bot_says(conversation_id, "En rådgivare svarar dig här.")
    fake.pause(conversation_id)
    with session(settings.database_url) as db:
        handoff, _ = request_handoff(
            db, conversation_id=conversation_id, channel="socketio", language=language,
            reason=reason, priority=priority,
        )  # fmt: skip
        return Escalated(handoff.id, conversation_id)
