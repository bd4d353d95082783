"""One running stack for the privacy tests that need it (log scan, property tests): action
server, Rasa (REST + socket.io) and the console on ports 5305/5355/8305, logs in files, a
counsellor account, and small clients for each entry point."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.console.security import hash_password
from bot.run import Stack
from bot.settings import Settings
from bot.store import counsellors
from bot.store.db import init_db, session

RASA_PORT, ACTION_PORT, CONSOLE_PORT = 5305, 5355, 8305
ORIGIN = f"http://127.0.0.1:{CONSOLE_PORT}"
COUNSELLOR = "privacy-anna"
PASSWORD = "a long and private passphrase 42"


@dataclass
class Running:
    stack: Stack
    log_dir: Path

    @property
    def settings(self) -> Settings:
        return self.stack.settings

    @property
    def rasa_url(self) -> str:
        return self.settings.rasa_url

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{CONSOLE_PORT}"

    def logs(self) -> dict[str, str]:
        """Every file the stack wrote into its log directory, by name."""
        return {
            path.name: path.read_text(encoding="utf-8", errors="replace")
            for path in sorted(self.log_dir.rglob("*"))
            if path.is_file()
        }


@pytest.fixture(scope="package")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("privacy")
    url = f"sqlite:///{tmp / 'privacy.db'}"
    settings = Settings(
        rasa_port=RASA_PORT, action_port=ACTION_PORT, console_port=CONSOLE_PORT,
        database_url=url, var_dir=tmp, office_hours="mon-sun 00:00-23:59",
    )  # fmt: skip
    init_db(url)
    with session(url) as db:
        counsellors.create_counsellor(
            db, username=COUNSELLOR, password_hash=hash_password(PASSWORD), role="counsellor"
        )
    saved = {k: os.environ.get(k) for k in ("OFFICE_HOURS", "SOCKETIO_ALLOWED_ORIGINS")}
    os.environ["OFFICE_HOURS"] = settings.office_hours
    os.environ["SOCKETIO_ALLOWED_ORIGINS"] = ORIGIN
    stack = Stack(settings, log_dir=tmp / "logs", console=True)
    try:
        stack.start(timeout=300)
        from bot.run import wait_http

        assert wait_http(f"http://127.0.0.1:{CONSOLE_PORT}/console/health", 60), "no console"
        yield Running(stack, tmp / "logs")
    finally:
        stack.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def post_raw(url: str, body: bytes, content_type: str = "application/json",
             timeout: float = 60) -> tuple[int, bytes]:  # fmt: skip
    """POST bytes as they are; (status, body) also for 4xx/5xx."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def say(running: Running, sender: str, text: Any, **metadata: str) -> list[dict]:
    """A REST message; the bot's replies (asserts a 200)."""
    body = json.dumps({"sender": sender, "message": text, "metadata": metadata}).encode()
    status, raw = post_raw(f"{running.rasa_url}/webhooks/rest/webhook", body)
    assert status == 200, (status, raw[:300])
    return json.loads(raw)


class Console:
    """The counsellor console's HTTP API with a real login (the session cookie is Secure:
    sent by hand over plain http, as a browser would over https)."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=30)
        response = self.http.post("/console/api/login",
                                  json={"username": COUNSELLOR, "password": PASSWORD})  # fmt: skip
        assert response.status_code == 200, response.text
        self.cookie = {"Cookie": f"console_session={response.cookies['console_session']}"}
        self.csrf = {**self.cookie, "X-CSRF-Token": response.json()["csrf_token"]}

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path, headers=self.cookie)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.post(path, headers=self.csrf, **kwargs)

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="package")
def console(running: Running) -> Iterator[Console]:
    """Logged in once: the property tests on the login form may trip its rate limit (a 429
    for every login from this address for a minute), which must not lock this session out."""
    client = Console(running.console_url)
    yield client
    client.close()
