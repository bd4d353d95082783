"""The console process itself (``python -m bot.console serve``, as bot.run starts it) on a real
port, Rasa faked on another: what only the real server shows. Run under the stack lock
(tests/console/*_stack.py, see the helpers' brief).

M2 (security review): behind nginx every connection comes from 127.0.0.1; the console must take
the client's address from the X-Forwarded-For nginx sets, and guessing must not lock out or log
out the counsellors.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.settings import ROOT, Settings
from bot.store.audit import audit_key
from tests.console.conftest import JWT_SECRET, PASSWORD
from tests.console.fake_rasa import FakeRasa


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Console:
    url: str
    env: dict[str, str]
    log: Path

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot.console", *args], input=stdin,
                              env=self.env, cwd=ROOT, capture_output=True, text=True,
                              timeout=120)  # fmt: skip


@pytest.fixture()
def console(settings: Settings, fake_rasa: FakeRasa, tmp_path: Path) -> Iterator[Console]:
    port = _free_port()
    env = {
        **os.environ, "DATABASE_URL": settings.database_url, "CONSOLE_PORT": str(port),
        "BIND_HOST": "127.0.0.1", "RASA_URL": fake_rasa.url, "RASA_JWT_SECRET": JWT_SECRET,
        "CONTENT_DIR": str(settings.content_dir), "VAR_DIR": str(tmp_path),
        "PYTHONUNBUFFERED": "1", "AUDIT_KEY": audit_key().decode(),
    }  # fmt: skip
    for name in ("CONSOLE_TRUSTED_PROXIES", "TRUSTED_PROXIES"):  # the default: this host
        env.pop(name, None)
    url = f"http://127.0.0.1:{port}"
    handle = Console(url, env, tmp_path / "console.log")
    for name, role in (("anna", "counsellor"), ("bert", "counsellor"), ("chef", "admin")):
        made = handle.run("create-user", "--username", name, "--role", role,
                          "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
        assert made.returncode == 0, made.stderr
    with handle.log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot.console", "serve"], env=env, cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/console/health", timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"console did not start:\n{handle.log.read_text()}")
        time.sleep(0.1)
    try:
        yield handle
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _login(url: str, username: str, password: str, client_address: str) -> httpx.Response:
    """A login as nginx passes it on: from 127.0.0.1, the client named in X-Forwarded-For."""
    return httpx.post(f"{url}/console/api/login", json={"username": username, "password": password},
                      headers={"X-Forwarded-For": client_address}, timeout=60)  # fmt: skip


def test_guessing_through_the_proxy_locks_out_and_logs_out_nobody(console: Console) -> None:
    anna = _login(console.url, "anna", PASSWORD, "198.51.100.20")
    assert anna.status_code == 200
    cookie = {"Cookie": f"console_session={anna.cookies['console_session']}"}
    # the review's PoC: 25 guesses at made-up names, then 5 at anna's password, all from one
    # client behind nginx
    answers = [_login(console.url, "x", "y" * 12, "203.0.113.7") for _ in range(25)]
    answers += [_login(console.url, "anna", "wrong" * 3, "203.0.113.7") for _ in range(5)]
    assert {a.status_code for a in answers} == {401}  # never 429: nothing tells names apart
    assert len({a.text for a in answers}) == 1
    # anna's session lives on; she, bert and the admin get in from their own addresses
    assert httpx.get(f"{console.url}/console/api/me", headers=cookie).status_code == 200
    assert _login(console.url, "anna", PASSWORD, "198.51.100.20").status_code == 200
    assert _login(console.url, "bert", PASSWORD, "198.51.100.21").status_code == 200
    assert _login(console.url, "chef", PASSWORD, "2001:db8:5::1").status_code == 200
    # the guessing address itself is throttled, even with the right password
    assert _login(console.url, "bert", PASSWORD, "203.0.113.7").status_code == 401
