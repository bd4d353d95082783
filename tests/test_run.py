"""`make run`'s supervisor: everything starts, and Ctrl-C stops every process it started."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bot.settings import ROOT

pytestmark = pytest.mark.slow


def children_of(pid: int) -> set[int]:
    found = set()
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(status.parent.name)
            found |= {child} | children_of(child)
    return found


def test_ctrl_c_stops_everything(tmp_path: Path) -> None:
    # A secret that starts with "-" (one random secret in 64 does) must not be read as an option.
    secret = "-" + secrets.token_urlsafe(32)
    env = dict(
        os.environ, RASA_PORT="5405", ACTION_PORT="5455", CONSOLE_PORT="8405",
        DATABASE_URL=f"sqlite:///{tmp_path / 'run.db'}", VAR_DIR=str(tmp_path),
        RASA_JWT_SECRET=secret,
    )  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.run"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        output = ""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            output += line
            if line.startswith("Ready in") or proc.poll() is not None:
                break
        assert "Ready in" in output, output[-2000:]
        with urllib.request.urlopen("http://127.0.0.1:5405/", timeout=5) as response:
            assert response.status == 200
        started = children_of(proc.pid)
        assert len(started) >= 2
        # the secret is in no command line that other local users can read
        for pid in started:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            assert secret not in cmdline, cmdline
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        time.sleep(1)
        alive = [pid for pid in started if Path(f"/proc/{pid}").exists()
                 and "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]]
        assert alive == []
    finally:
        if proc.poll() is None:
            proc.kill()
