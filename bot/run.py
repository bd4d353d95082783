"""Start everything `make run` promises, and stop all of it on Ctrl-C.

Processes: the action server (127.0.0.1:ACTION_PORT), the Rasa server (127.0.0.1:RASA_PORT,
REST and socket.io channels, HTTP API with a token) and the console/widget web app
(127.0.0.1:CONSOLE_PORT) when it is present. Ports and the database URL come from the
environment (bot/settings.py has the defaults).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bot.settings import ROOT, Settings, SettingsError, get_settings
from bot.train import model_path

BIN = Path(sys.executable).parent


def jwt_secret(settings: Settings) -> str:
    """The secret of Rasa's HTTP API JWTs: from the environment; in dev, generated into var/."""
    if settings.rasa_jwt_secret:
        return settings.require_secret("RASA_JWT_SECRET", settings.rasa_jwt_secret)
    return dev_secret(settings, "RASA_JWT_SECRET")


def telegram_secret(settings: Settings) -> str:
    """The Telegram webhook's secret token: from the environment; in dev, generated into var/."""
    return dev_secret(settings, "TELEGRAM_WEBHOOK_SECRET")


def dev_secret(settings: Settings, name: str) -> str:
    """A secret from the environment variable ``name``; in dev, generated once into var/."""
    value = os.environ.get(name)
    if value:
        return settings.require_secret(name, value)
    if settings.profile == "production":
        raise SettingsError(f"{name} is required in the production profile")
    path = settings.var_dir / name.lower()
    if not path.exists():
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def credentials_file(settings: Settings, env: dict[str, str]) -> Path:
    """credentials.yml, plus the Telegram channel (credentials.telegram.yml) only when
    TELEGRAM_BOT_TOKEN is set: Rasa refuses to start on an unset ${VAR} in the file."""
    base = ROOT / "credentials.yml"
    if not env.get("TELEGRAM_BOT_TOKEN"):
        return base
    merged = settings.var_dir / "credentials.yml"
    merged.write_text(
        base.read_text(encoding="utf-8").rstrip("\n") + "\n\n"
        + (ROOT / "credentials.telegram.yml").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    return merged


def service_env(settings: Settings) -> dict[str, str]:
    """Environment for every process: endpoints.yml and credentials.yml read these."""
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if env.get("TELEGRAM_BOT_TOKEN"):
        env["TELEGRAM_WEBHOOK_SECRET"] = telegram_secret(settings)
        env.setdefault("TELEGRAM_WEBHOOK_URL", "")
        base_url = env.get("TELEGRAM_API_BASE_URL") or "https://api.telegram.org/bot"
        env["TELEGRAM_API_BASE_URL"] = base_url
    env.update(
        {
            "ACTION_ENDPOINT_URL": settings.action_endpoint_url,
            # Every process sees the same settings as this one (a Stack with its own ports and
            # var/ in tests, say): the console serves the widget page pointing at this Rasa.
            "BIND_HOST": settings.host,
            "RASA_PORT": str(settings.rasa_port),
            "ACTION_PORT": str(settings.action_port),
            "CONSOLE_PORT": str(settings.console_port),
            "VAR_DIR": str(settings.var_dir),
            "OFFICE_HOURS": settings.office_hours,
            "DATABASE_URL": settings.database_url,
            "RASA_JWT_SECRET": jwt_secret(settings),
            "RASA_URL": settings.rasa_url,
            "SOCKETIO_SESSION_SECRET": dev_secret(settings, "SOCKETIO_SESSION_SECRET"),
            "SANIC_HOST": settings.host,  # the action server binds here
            "TF_CPP_MIN_LOG_LEVEL": "2",
            # No telemetry and no error reports to Rasa's servers: nothing leaves this machine.
            "RASA_TELEMETRY_ENABLED": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.25)
    return False


@dataclass
class Stack:
    """The running services; a context manager for tests and the benchmark."""

    settings: Settings = field(default_factory=get_settings)
    log_dir: Path | None = None
    console: bool = True
    procs: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - kept with the process
        else:
            out = None
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT if out else None,
            start_new_session=True,
        )  # fmt: skip
        self.procs.append((name, proc))
        return proc

    def start(self, *, with_rasa: bool = True, timeout: float = 180) -> Stack:
        s = self.settings
        env = service_env(s)
        actions = self._spawn(
            "actions",
            [str(BIN / "python"), "-m", "rasa_sdk", "--actions", "actions", "--port",
             str(s.action_port)],
            env,
        )  # fmt: skip
        if with_rasa:
            rasa = self._spawn(
                "rasa",
                [
                    # `rasa run`; the JWT secret reaches it from the environment, never
                    # through the command line that every local user can read.
                    str(BIN / "python"), "-m", "bot.rasa_server", "--model", str(model_path()),
                    "--endpoints", "endpoints.yml", "--credentials", str(credentials_file(s, env)),
                    "--interface", s.host, "--port", str(s.rasa_port), "--enable-api",
                ],
                env,
            )  # fmt: skip
        if self.console and (ROOT / "bot" / "console" / "__main__.py").exists():
            self._spawn("console", [str(BIN / "python"), "-m", "bot.console", "serve"], env)
        if not wait_http(f"http://{s.host}:{s.action_port}/health", timeout, actions):
            self.stop()
            raise RuntimeError("the action server did not start")
        if with_rasa and not wait_http(f"{s.rasa_url}/", timeout, rasa):
            self.stop()
            raise RuntimeError("the Rasa server did not start")
        return self

    def stop(self) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for _, proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs.clear()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    settings = get_settings()
    if not model_path().exists():
        print("No trained model: run `make train` first", file=sys.stderr)
        return 1
    stack = Stack(settings)
    interrupted = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal interrupted
        interrupted = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        if "--shell" in argv:
            stack.start(with_rasa=False)
            env = service_env(settings)
            return subprocess.call(
                [str(BIN / "rasa"), "shell", "--model", str(model_path()),
                 "--endpoints", "endpoints.yml"],
                cwd=ROOT, env=env,
            )  # fmt: skip
        started = time.monotonic()
        stack.start()
        print(
            f"\nReady in {time.monotonic() - started:.0f} s.\n"
            f"  REST:      POST {settings.rasa_url}/webhooks/rest/webhook "
            '{"sender": "me", "message": "Hej"}\n'
            f"  socket.io: {settings.rasa_url}/socket.io\n"
            f"  Widget:    http://{settings.host}:{settings.console_port}/\n"
            f"  Console:   http://{settings.host}:{settings.console_port}/console\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        while all(proc.poll() is None for _, proc in stack.procs):
            time.sleep(0.5)
        dead = [name for name, proc in stack.procs if proc.poll() is not None]
        print(f"Stopped because {', '.join(dead)} exited", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
