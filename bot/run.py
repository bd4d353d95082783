"""Start everything `make run` promises, and stop all of it on Ctrl-C.

Processes: the action server (127.0.0.1:ACTION_PORT, bot/action_server.py: Rasa's token only), the Rasa server (127.0.0.1:RASA_PORT,
REST and socket.io channels, HTTP API with a token) and the console/widget web app
(127.0.0.1:CONSOLE_PORT) when it is present. Ports and the database URL come from the
environment (bot/settings.py has the defaults).

With PROFILE=production (`make run-production`, docs/deployment.md): PostgreSQL for the tracker
and the console, Redis lock store, RabbitMQ event broker (endpoints.production.yml), RASA_SERVERS
Rasa servers (default 2) on internal ports (RASA_SERVER_PORTS, default RASA_PORT+10, +11, ...)
behind nginx on RASA_PORT, run as this supervisor's own process with a config in VAR_DIR.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

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
        # readable by this user only from the start (not written first, restricted after)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32))
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
    if env.get("TELEGRAM_BOT_TOKEN") or settings.profile != "production" or env.get("PSEUDONYM_KEY"):
        # Telegram conversations are keyed by HMAC(PSEUDONYM_KEY, chat id): bot/pseudonyms.py
        env["PSEUDONYM_KEY"] = dev_secret(settings, "PSEUDONYM_KEY")
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
            # keys the audit log's conversation pseudonyms (bot/store/audit.py)
            "AUDIT_KEY": dev_secret(settings, "AUDIT_KEY"),
            # Rasa -> action server (endpoints.yml); the action server refuses anyone else
            "ACTION_SERVER_TOKEN": dev_secret(settings, "ACTION_SERVER_TOKEN"),
            "SANIC_HOST": settings.host,  # the action server binds here
            "TF_CPP_MIN_LOG_LEVEL": "2",
            # No telemetry and no error reports to Rasa's servers: nothing leaves this machine.
            "RASA_TELEMETRY_ENABLED": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


PRODUCTION_DATABASE = "return_assistant"
# In the production profile only nginx's public server listens on BIND_HOST; the Rasa servers,
# their HTTP API and the action server listen on the loopback address whatever BIND_HOST is.
INTERNAL_HOST = "127.0.0.1"
PRODUCTION_DEFAULTS = {
    "REDIS_URL": "redis://127.0.0.1:6379/1",
    "RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:5672/",
    "REDIS_KEY_PREFIX": "assistant",
    "RABBITMQ_QUEUE": "assistant_events",
    "RABBITMQ_EXCHANGE": "assistant-events",
    "SOCKETIO_MANAGER_CHANNEL": "assistant-socketio",
}


def production_database_url(env: dict[str, str]) -> str:
    return env.get("DATABASE_URL") or f"postgresql://postgres@127.0.0.1:5432/{PRODUCTION_DATABASE}"


@dataclass(frozen=True)
class Production:
    """The production profile's parts, all from the environment (this machine's services are
    the defaults)."""

    rasa_ports: tuple[int, ...]
    api_port: int  # nginx's internal server for Rasa's HTTP API (127.0.0.1 only)
    database_url: str
    redis_url: str
    rabbitmq_url: str
    env: dict[str, str]

    @classmethod
    def from_env(cls, settings: Settings, env: dict[str, str]) -> Production:
        values = {**PRODUCTION_DEFAULTS, **{k: v for k, v in env.items() if v}}
        count = int(values.get("RASA_SERVERS") or 2)
        if not 1 <= count <= 16:
            raise SettingsError("RASA_SERVERS must be between 1 and 16")
        raw_ports = values.get("RASA_SERVER_PORTS")
        try:
            ports = (
                tuple(int(p) for p in raw_ports.split(",") if p.strip())
                if raw_ports
                else tuple(settings.rasa_port + 10 + i for i in range(count))
            )
        except ValueError as exc:
            raise SettingsError("RASA_SERVER_PORTS must be a comma-separated list of ports") from exc
        if settings.rasa_port in ports or len(set(ports)) != len(ports):
            raise SettingsError("RASA_SERVER_PORTS must differ from RASA_PORT and each other")
        try:
            api_port = int(values.get("RASA_API_PORT") or settings.rasa_port + 1)
        except ValueError as exc:
            raise SettingsError("RASA_API_PORT must be a port number") from exc
        if api_port in (settings.rasa_port, settings.action_port, *ports):
            raise SettingsError("RASA_API_PORT must differ from RASA_PORT, ACTION_PORT and "
                                "RASA_SERVER_PORTS")  # fmt: skip
        database_url = production_database_url(values)
        if not database_url.startswith("postgresql"):
            raise SettingsError("DATABASE_URL must be a postgresql:// URL in the production profile")
        redis = urlsplit(values["REDIS_URL"])
        if redis.scheme not in ("redis", "rediss"):
            raise SettingsError("REDIS_URL must look like redis://host:6379/1")
        amqp = urlsplit(values["RABBITMQ_URL"])
        if amqp.scheme not in ("amqp", "amqps"):
            raise SettingsError("RABBITMQ_URL must look like amqp://user:password@host:5672/")
        prefix = values["REDIS_KEY_PREFIX"]
        if not prefix.isalnum():
            raise SettingsError("REDIS_KEY_PREFIX must be letters and digits only")
        derived = {
            "DATABASE_URL": database_url,
            # the console and the action server reach Rasa's HTTP API here, never publicly
            "RASA_URL": f"http://{INTERNAL_HOST}:{api_port}",
            "ACTION_ENDPOINT_URL": f"http://{INTERNAL_HOST}:{settings.action_port}/webhook",
            "SANIC_HOST": INTERNAL_HOST,  # the action server
            # X-Forwarded-For is believed only from nginx, which runs on this machine
            "TRUSTED_PROXIES": values.get("TRUSTED_PROXIES") or "127.0.0.1,::1",
            # the abuse limits' counters, shared by the Rasa servers (bot/abuse.py)
            "ABUSE_REDIS_URL": values.get("ABUSE_REDIS_URL") or values["REDIS_URL"],
            "REDIS_HOST": redis.hostname or "127.0.0.1",
            "REDIS_PORT": str(redis.port or 6379),
            "REDIS_DB": (redis.path or "/1").strip("/") or "1",
            "REDIS_PASSWORD": unquote(redis.password or ""),
            "REDIS_KEY_PREFIX": prefix,
            "RABBITMQ_HOST": amqp.hostname or "127.0.0.1",
            "RABBITMQ_PORT": str(amqp.port or 5672),
            "RABBITMQ_USERNAME": unquote(amqp.username or "guest"),
            "RABBITMQ_PASSWORD": unquote(amqp.password or "guest"),
            "RABBITMQ_QUEUE": values["RABBITMQ_QUEUE"],
            "RABBITMQ_EXCHANGE": values["RABBITMQ_EXCHANGE"],
            # socket.io across the Rasa servers (bot/channels/socketio.py): python-socketio's
            # AsyncRedisManager on the same Redis, its own channel name
            "SOCKETIO_MANAGER_URL": values.get("SOCKETIO_MANAGER_URL") or values["REDIS_URL"],
            "SOCKETIO_MANAGER_CHANNEL": values["SOCKETIO_MANAGER_CHANNEL"],
        }
        if (
            derived["RABBITMQ_HOST"] not in ("127.0.0.1", "localhost", "::1")
            and derived["RABBITMQ_PASSWORD"] == "guest"
        ):
            raise SettingsError("RABBITMQ_URL: the guest account is for this machine only")
        return cls(
            ports, api_port, database_url, values["REDIS_URL"], values["RABBITMQ_URL"], derived
        )


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in ``url`` if it does not exist yet."""
    from sqlalchemy import create_engine, text

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT", future=True)
    try:
        with engine.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{name.replace(chr(34), "")}"'))
    finally:
        engine.dispose()


# What the public server lets through, per client address (nginx's $remote_addr): requests per
# second and the burst taken at once beyond it, and open connections. The Rasa servers keep
# their own, finer limits per conversation, address and channel (bot/abuse.py); these stop a
# flood before it costs a Rasa server anything. A shelter's or a carrier's NAT is one address
# for many people: the figures leave room for a few dozen people writing at once.
NGINX_LIMITS = {
    "socketio_rate": 20, "socketio_burst": 100,  # engine.io: a message is 1-2 requests
    "telegram_rate": 50, "telegram_burst": 100,  # Telegram's servers: few addresses, all updates
    # REST: the app lets an address send 3 messages a second (bot/abuse.py "address"); more
    # would only be refused there, at a Rasa server's cost. An organisation's backend sending
    # for many people from one address needs both raised.
    "rest_rate": 5, "rest_burst": 20,
    "connections": 64,
}

NGINX_CONF = """# Generated by bot/run.py (production profile); see docs/deployment.md and docs/security.md.
# one worker per core: a flood's refusals in one worker do not hold up the others' requests
worker_processes auto;
pid {var}/nginx.pid;
# crit: errors of the level below (an upstream refusing a connection at every rolling restart,
# a limit reached) are written with the client's address and request line; they are not kept
error_log {var}/error.log crit;
events {{ worker_connections 4096; }}
http {{
    access_log off;  # no addresses, ids or paths of the people who write
    client_body_temp_path {var}/tmp/body;
    proxy_temp_path {var}/tmp/proxy;
    fastcgi_temp_path {var}/tmp/fastcgi;
    uwsgi_temp_path {var}/tmp/uwsgi;
    scgi_temp_path {var}/tmp/scgi;
    client_max_body_size 64k;
    client_body_buffer_size 64k;
    large_client_header_buffers 4 8k;
    # a client that sends its request slowly (slowloris) is dropped, not waited for a minute
    client_header_timeout 10s;
    client_body_timeout 10s;
    send_timeout 30s;
    keepalive_timeout 30s;
    reset_timedout_connection on;
    server_tokens off;

    # per client address (not per X-Forwarded-For: a client sets that itself)
    limit_req_zone $binary_remote_addr zone=socketio:10m rate={socketio_rate}r/s;
    limit_req_zone $binary_remote_addr zone=telegram:10m rate={telegram_rate}r/s;
    limit_req_zone $binary_remote_addr zone=rest:10m rate={rest_rate}r/s;
    limit_conn_zone $binary_remote_addr zone=addr:10m;
    limit_req_status 429;
    limit_conn_status 429;

    # REST and the HTTP API: any server will do (the Redis lock store orders each conversation).
    upstream rasa {{
        least_conn;
{servers}
        keepalive 32;
    }}
    # socket.io: engine.io's long-polling needs every request of a session at the same server
    # (websocket needs it only for the handshake). The widget sends a random routing key `r`,
    # made at page load and in every request of its connection (not the conversation id, not
    # stored), so one connection stays with one server while connections spread over all of
    # them, also from behind one address (a shelter's, a carrier's NAT). A client without the
    # key falls back to its address. Replies that start on another server reach it through the
    # Redis client manager.
    map $arg_r $socketio_route {{
        ""      $remote_addr;
        default $arg_r;
    }}
    upstream rasa_socketio {{
        hash $socketio_route consistent;
{servers}
    }}
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      '';
    }}

    # The public address: the widget (socket.io), the Telegram webhook and, with REST_API_KEY,
    # the REST webhook. Everything else (Rasa's HTTP API: /conversations, /model, /status,
    # /version, /auth) answers 404 here.
    server {{
        listen {host}:{port};
        limit_conn addr {connections};
        # a client over a limit gets its 429 and its connection closed: it must connect again
        # before it can ask again (a flood over kept-alive connections asked 1500 times a second)
        error_page 429 = @limited;
        add_header X-Content-Type-Options nosniff always;
        add_header X-Frame-Options DENY always;
        add_header Referrer-Policy no-referrer always;
        add_header Content-Security-Policy "default-src 'none'; frame-ancestors 'none'" always;
        add_header Strict-Transport-Security "max-age=63072000" always;
        proxy_http_version 1.1;
        # Each location sets X-Forwarded-For itself: nginx inherits proxy_set_header only into
        # a location that sets none of its own. It is the client's address for the Rasa
        # servers' own limits (bot/abuse.py trusts it only from this proxy): set, never
        # appended to what the client sent.

        location /socket.io/ {{
            limit_req zone=socketio burst={socketio_burst} nodelay;
            proxy_pass http://rasa_socketio;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header Host $host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_buffering off;
            proxy_read_timeout 120s;
            proxy_next_upstream error timeout;
        }}
        location = /webhooks/telegram/webhook {{
            limit_req zone=telegram burst={telegram_burst} nodelay;
            limit_except POST {{ deny all; }}
            proxy_pass http://rasa;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header Host $host;
            proxy_set_header Connection "";
            proxy_read_timeout 60s;
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 2;
        }}
{rest}
        location / {{
            return 404;
        }}
        location @limited {{
            keepalive_timeout 0;
            return 429;
        }}
    }}

    # Rasa's HTTP API for the console and the action server (RASA_URL), on the loopback
    # address only; never the public one.
    server {{
        listen 127.0.0.1:{api_port};
        location / {{
            proxy_pass http://rasa;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_read_timeout 60s;
            # a server that is down (connection refused) is skipped; a request a server already
            # took is never sent twice (POST is not idempotent: nginx's default)
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 2;
        }}
    }}
}}
"""

# Published only when REST_API_KEY is set (the REST channel checks the key, bot/channels/rest.py).
NGINX_REST = """        location = /webhooks/rest/webhook {{
            limit_req zone=rest burst={rest_burst} nodelay;
            limit_except POST {{ deny all; }}
            proxy_pass http://rasa;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header Host $host;
            proxy_set_header Connection "";
            proxy_read_timeout 60s;
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 2;
        }}"""


def remove_legacy_queue(rabbitmq_url: str, queue: str) -> bool:
    """Delete the durable queue earlier versions had Rasa publish every event to (nothing read
    it: a copy of every conversation out of reach of retention and deletion). True when the
    broker answered; a broker that is down is left for the next start (Rasa retries anyway)."""
    import asyncio

    async def delete() -> None:
        import aio_pika

        connection = await aio_pika.connect(rabbitmq_url, timeout=10)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(queue)

    try:
        asyncio.run(delete())
    except Exception as error:  # noqa: BLE001 - the start goes on; said on the console
        print(f"RabbitMQ: could not remove the old queue {queue!r} ({type(error).__name__})",
              file=sys.stderr)  # fmt: skip
        return False
    return True


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        raise SettingsError("nginx is not installed: run `make system-deps` (Debian's nginx)")
    return found


def write_nginx_conf(
    settings: Settings, ports: tuple[int, ...], api_port: int, *, rest: bool = False
) -> Path:
    """nginx's config: the public server on BIND_HOST:RASA_PORT, Rasa's HTTP API on
    127.0.0.1:``api_port``; the REST webhook published only when ``rest`` (REST_API_KEY set)."""
    directory = settings.var_dir / "nginx"
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    servers = "\n".join(
        f"        server {INTERNAL_HOST}:{port} max_fails=1 fail_timeout=5s;" for port in ports
    )
    conf = directory / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            var=directory, servers=servers, host=settings.host, port=settings.rasa_port,
            api_port=api_port, rest=NGINX_REST.format(**NGINX_LIMITS) if rest else "",
            **NGINX_LIMITS,
        )  # fmt: skip
    )
    return conf


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
    # production profile: more environment for every process (a test's own Redis prefix,
    # RabbitMQ queue, ...); read like os.environ
    env: dict[str, str] = field(default_factory=dict)
    production: Production | None = None

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
        if self.settings.profile == "production":
            return self._start_production(with_rasa=with_rasa, timeout=timeout)
        s = self.settings
        env = service_env(s)
        actions = self._spawn(
            "actions",
            # rasa_sdk's server that accepts only Rasa (ACTION_SERVER_TOKEN)
            [str(BIN / "python"), "-m", "bot.action_server", "--actions", "actions", "--port",
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

    def production_env(self) -> tuple[Production, dict[str, str]]:
        """The processes' environment in the production profile (``self.env`` overrides)."""
        s = self.settings
        base = {**os.environ, **self.env}
        if s.database_url.startswith("postgresql"):
            base["DATABASE_URL"] = s.database_url
        elif base.get("DATABASE_URL") and not base["DATABASE_URL"].startswith("postgresql"):
            raise SettingsError("DATABASE_URL must be a postgresql:// URL in the production profile")
        production = Production.from_env(s, base)
        saved = dict(os.environ)
        try:  # the secrets and settings helpers read os.environ
            os.environ.update(self.env)
            env = service_env(s)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        env.update(self.env)
        env.update(production.env)
        env["PROFILE"] = "production"
        return production, env

    def _start_production(self, *, with_rasa: bool, timeout: float) -> Stack:
        from bot.store.db import init_db

        s = self.settings
        production, env = self.production_env()
        self.production = production
        ensure_database(production.database_url)
        init_db(production.database_url)  # Alembic: upgrade to head before anything starts
        remove_legacy_queue(production.rabbitmq_url, production.env["RABBITMQ_QUEUE"])
        nginx = nginx_binary() if with_rasa else ""
        actions = self.start_action_server(env)
        servers: list[tuple[int, subprocess.Popen]] = []
        if with_rasa:
            credentials = credentials_file(s, env)
            for port in production.rasa_ports:
                servers.append((port, self.start_rasa_server(port, env, credentials)))
            conf = write_nginx_conf(
                s, production.rasa_ports, production.api_port, rest=bool(env.get("REST_API_KEY"))
            )
            self._spawn(
                "nginx",
                [nginx, "-e", "stderr", "-p", str(conf.parent), "-c", str(conf), "-g",
                 "daemon off;"],
                env,
            )  # fmt: skip
        if self.console and (ROOT / "bot" / "console" / "__main__.py").exists():
            self._spawn("console", [str(BIN / "python"), "-m", "bot.console", "serve"], env)
        if not wait_http(f"http://{INTERNAL_HOST}:{s.action_port}/health", timeout, actions):
            self.stop()
            raise RuntimeError("the action server did not start")
        for port, proc in servers:
            if not wait_http(f"http://{INTERNAL_HOST}:{port}/", timeout, proc):
                self.stop()
                raise RuntimeError(f"the Rasa server on port {port} did not start")
        # the public server answers 404 on / (nothing but the channels is published there)
        if with_rasa and not wait_http(f"{env['RASA_URL']}/", 30):
            self.stop()
            raise RuntimeError("nginx did not start (see its log)")
        return self

    def start_action_server(self, env: dict[str, str] | None = None) -> subprocess.Popen:
        """The action server (production profile; also to restart it in the fault tests)."""
        if env is None:
            env = self.production_env()[1]
        return self._spawn(
            "actions",
            [str(BIN / "python"), "-m", "bot.action_server", "--actions", "actions", "--port",
             str(self.settings.action_port)],
            env,
        )  # fmt: skip

    def start_rasa_server(
        self, port: int, env: dict[str, str] | None = None, credentials: Path | None = None
    ) -> subprocess.Popen:
        """One Rasa server of the production profile on an internal port (also to restart one
        in the fault tests)."""
        if env is None:
            env = self.production_env()[1]
        if credentials is None:
            credentials = credentials_file(self.settings, env)
        return self._spawn(
            f"rasa-{port}",
            [
                # bot.rasa_server, and a tracker store that refuses a message while the
                # database is away instead of answering it without its conversation
                str(BIN / "python"), "-m", "bot.rasa_production", "--model", str(model_path()),
                "--endpoints", "endpoints.production.yml", "--credentials", str(credentials),
                "--interface", INTERNAL_HOST, "--port", str(port), "--enable-api",
            ],
            env,
        )  # fmt: skip

    def process(self, name: str) -> subprocess.Popen:
        """The running process called ``name`` ("actions", "rasa-6015", "nginx", ...)."""
        for found, proc in reversed(self.procs):
            if found == name:
                return proc
        raise KeyError(name)

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
        if stack.production is not None:
            print(
                f"\nProduction profile: {len(stack.production.rasa_ports)} Rasa servers on ports "
                f"{', '.join(map(str, stack.production.rasa_ports))} behind nginx; PostgreSQL, "
                "Redis lock store, RabbitMQ event broker.\n"
                f"  Public on {settings.rasa_url}: /socket.io/, /webhooks/telegram/webhook"
                + (", /webhooks/rest/webhook" if os.environ.get("REST_API_KEY") else "")
                + f"\n  Rasa's HTTP API (console, actions): http://{INTERNAL_HOST}:"
                f"{stack.production.api_port}",
                flush=True,
            )
        rest = (
            f"POST {settings.rasa_url}/webhooks/rest/webhook "
            '{"sender": "me", "message": "Hej"}'
            + (" with 'Authorization: Bearer $REST_API_KEY'" if settings.rest_api_key else "")
            if settings.rest_api_key or settings.profile != "production"
            else "off (no REST_API_KEY)"
        )
        print(
            f"\nReady in {time.monotonic() - started:.0f} s.\n"
            f"  REST:      {rest}\n"
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
    except SettingsError as exc:
        print(f"Not started: {exc}", file=sys.stderr)
        return 2
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
