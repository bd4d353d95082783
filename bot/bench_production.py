"""`make bench-production`: the production profile under load.

50 concurrent conversations (half over REST, half over socket.io, both through nginx) for two
minutes, with one and with two Rasa servers: errors, lost events, p50/p95 latency, throughput.
Each run starts its own profile on its own ports (nginx 6105, Rasa 6115/6116, actions 6155)
with its own PostgreSQL database, Redis key prefix and RabbitMQ queue, removed afterwards, so
it never disturbs a running `make run-production`.

Lost events: every message a client had answered must be in the tracker once, and every user
event must have been published to the RabbitMQ exchange (read through an exclusive queue of the
bench's own, as the console reads it). Each user connects from a loopback address of its own;
the abuse limits are off (this measures capacity: REST users send without a pause).

``--flood`` (`make bench-flood`): 20 people writing at a person's pace, alone and beside one
flooding client at another address, alternately; their p95 with the flood must stay within
1.5x of their p95 without it (docs/security.md has the figures).

    python -m bot.bench_production [--users 50] [--seconds 120] [--servers 1,2]
    python -m bot.bench_production --flood [--users 20] [--seconds 180] [--rounds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import jwt
import socketio

from bot.bench import QUESTIONS  # the same questions as `make bench`
from bot.run import Stack
from bot.settings import Settings

NGINX_PORT, RASA_PORTS, ACTION_PORT, CONSOLE_PORT = 6105, (6115, 6116), 6155, 6900
ORIGIN = f"http://127.0.0.1:{CONSOLE_PORT}"


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    channel_latencies: dict[str, list[float]] = field(
        default_factory=lambda: {"rest": [], "socketio": []}
    )
    done: list[float] = field(default_factory=list)  # when each answer came (monotonic)
    empty: int = 0  # REST answers without a message (conversation paused for a counsellor)
    errors: Counter = field(default_factory=Counter)
    sent: dict[str, list[str]] = field(default_factory=dict)  # conversation -> answered texts
    channel: dict[str, str] = field(default_factory=dict)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def stored_conversation(database_url: str, key: str) -> str:
    """The stored id of a REST conversation (rest:<sender>) or of a widget's session token."""
    from bot.conversation_ids import rest_id
    from bot.store import widget_sessions
    from bot.store.db import session
    from bot.store.models import WidgetSession

    handle = widget_sessions.handle_of(key)
    if handle is None:
        return rest_id(key)
    with session(database_url) as db:
        row = db.get(WidgetSession, widget_sessions.handle_hash(handle))
    return row.conversation_id if row is not None else key


def connector(source: str | None) -> aiohttp.TCPConnector | None:
    """Connections from the loopback address ``source``: nginx sees a client of its own."""
    return aiohttp.TCPConnector(local_addr=(source, 0)) if source else None


async def rest_user(base: str, until: float, result: Result, index: int,
                    source: str | None = None, pause: float = 0.0,
                    headers: dict[str, str] | None = None) -> None:  # fmt: skip
    sender = uuid.uuid4().hex
    result.sent[sender], result.channel[sender] = [], "rest"
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector(source),
                                     headers=headers) as http:  # fmt: skip
        i = index
        while time.monotonic() < until:
            text = f"{QUESTIONS[i % len(QUESTIONS)]}"
            i += 1
            started = time.monotonic()
            try:
                async with http.post(
                    f"{base}/webhooks/rest/webhook", json={"sender": sender, "message": text}
                ) as response:
                    body = await response.json(content_type=None)
                    if response.status != 200 or not isinstance(body, list):
                        result.errors[f"rest {response.status}"] += 1
                        await asyncio.sleep(1.0)
                        continue
                    if not body:  # a paused conversation (a handoff): the counsellor answers
                        result.empty += 1
            except Exception as exc:  # noqa: BLE001 - counted, the run goes on
                result.errors[f"rest {type(exc).__name__}"] += 1
                await asyncio.sleep(0.5)
                continue
            result.latencies.append(time.monotonic() - started)
            result.channel_latencies["rest"].append(result.latencies[-1])
            result.done.append(time.monotonic())
            result.sent[sender].append(text)
            await asyncio.sleep(pause)


async def socketio_user(base: str, until: float, result: Result, index: int,
                        source: str | None = None, pause: float = 1.05) -> None:
    """One widget: a session over long-polling, one message at a time, the same message (same
    id) sent again after a failure, as the widget does; a lost connection resumes the session."""
    token: str | None = None
    i = index
    pending: tuple[str, str] | None = None  # (text, id) not yet acknowledged
    while time.monotonic() < until:
        # a browser waits 20 s for the handshake; python-engineio's client only 5 s
        # our own HTTP session, closed below: python-engineio leaves its own open at disconnect
        http = aiohttp.ClientSession(connector=connector(source))
        client = socketio.AsyncClient(reconnection=False, request_timeout=30, http_session=http)
        confirmed: asyncio.Queue = asyncio.Queue()
        client.on("session_confirm", lambda data, q=confirmed: q.put_nowait(data))
        try:
            # the widget's routing key (widget/src/index.js): one per connection
            await client.connect(
                f"{base}?r={uuid.uuid4().hex[:16]}", transports=["polling"],
                headers={"Origin": ORIGIN}, wait_timeout=60,
            )  # fmt: skip
            await client.emit("session_request", {"token": token} if token else {})
            token = (await asyncio.wait_for(confirmed.get(), 60))["token"]
        except Exception as exc:  # noqa: BLE001 - counted, tried again
            result.errors[f"socket.io connect {type(exc).__name__}"] += 1
            await _quietly_disconnect(client)
            await http.close()
            await asyncio.sleep(1.0)
            continue
        sender = token  # the session's key; stored_conversation() finds its conversation
        result.sent.setdefault(sender, [])
        result.channel[sender] = "socketio"
        try:
            while time.monotonic() < until and client.connected:
                if pending is None:
                    pending = (QUESTIONS[i % len(QUESTIONS)], uuid.uuid4().hex)
                    i += 1
                text, message_id = pending
                started = time.monotonic()
                try:
                    ack = await client.call(
                        "user_uttered",
                        {"message": text, "metadata": {"language": "sv"}, "id": message_id},
                        timeout=60,
                    )  # fmt: skip
                except Exception as exc:  # noqa: BLE001
                    result.errors[f"socket.io {type(exc).__name__}"] += 1
                    await asyncio.sleep(1.0)
                    continue
                if not (isinstance(ack, dict) and ack.get("ok")):
                    error = ack.get("error") if isinstance(ack, dict) else ack
                    result.errors[f"socket.io {error}"] += 1
                    retry = ack.get("retry_after") if isinstance(ack, dict) else None
                    await asyncio.sleep(float(retry or 1.0))
                    continue
                pending = None
                if not ack.get("duplicate"):
                    result.latencies.append(time.monotonic() - started)
                    result.channel_latencies["socketio"].append(result.latencies[-1])
                    result.done.append(time.monotonic())
                result.sent[sender].append(text)
                # the widget's rate limit is 10 messages per 10 s per connection: stay under it
                await asyncio.sleep(max(0.0, pause - (time.monotonic() - started)))
        finally:
            await _quietly_disconnect(client)
            await http.close()


async def _quietly_disconnect(client: socketio.AsyncClient) -> None:
    try:
        await asyncio.wait_for(client.disconnect(), 10)
    except Exception:  # noqa: BLE001 - closing only
        pass


async def tracker_texts(base: str, secret: str, sender: str) -> list[str]:
    now = int(time.time())
    token = jwt.encode({"user": {"username": "bench", "role": "admin"}, "iat": now,
                        "exp": now + 300}, secret, algorithm="HS256")  # fmt: skip
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        async with http.get(
            f"{base}/conversations/{sender}/tracker",
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            events = (await response.json())["events"]
    return [e.get("text") for e in events if e["event"] == "user"]


class BrokerCounter:
    """User events per conversation published to the profile's exchange during the run, read
    as the console reads them: an exclusive queue of its own (Rasa's broker has none)."""

    def __init__(self, rabbitmq_url: str, exchange: str) -> None:
        self.url, self.exchange = rabbitmq_url, exchange
        self.counts: Counter = Counter()
        self._connection = None

    async def __aenter__(self) -> BrokerCounter:
        import aio_pika

        self._connection = await aio_pika.connect(self.url, timeout=10)
        channel = await self._connection.channel()
        exchange = await channel.declare_exchange(self.exchange, type=aio_pika.ExchangeType.FANOUT)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, "")

        async def on_message(message) -> None:  # type: ignore[no-untyped-def]
            async with message.process():
                event = json.loads(message.body)
                if event.get("event") == "user":
                    self.counts[event.get("sender_id")] += 1

        await queue.consume(on_message)
        return self

    async def __aexit__(self, *_: object) -> None:
        await asyncio.sleep(3)  # the last events of the run
        if self._connection is not None:
            await self._connection.close()


async def load(base: str, users: int, seconds: float, rest_key: str,
               pause: float | None = None) -> tuple[Result, float]:  # fmt: skip
    """The answers that came within ``seconds`` count for the throughput (closing the
    socket.io connections afterwards takes a long-poll's time). Each user connects from a
    loopback address of its own (127.0.1.x): a client of its own for nginx and the limits."""
    result = Result()
    started = time.monotonic()
    until = started + seconds
    tasks = []
    headers = {"Authorization": f"Bearer {rest_key}"}
    for i in range(users):
        source = f"127.0.1.{i + 1}"
        if i % 2 == 0:
            task = rest_user(base, until, result, i, source, pause or 0.0, headers)
        else:
            task = socketio_user(base, until, result, i, source, 1.05 if pause is None else pause)
        tasks.append(asyncio.create_task(task))
        await asyncio.sleep(0.1)  # a ramp, not all in the same millisecond
    await asyncio.gather(*tasks)
    result.done = [t for t in result.done if t <= until]
    return result, seconds


def admin_engine(database_url: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine

    parts = urlsplit(database_url)
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
    return create_engine(admin, isolation_level="AUTOCOMMIT", future=True)


@dataclass
class Profile:
    """A production profile of the bench's own (database, Redis prefix, exchange, ports)."""

    stack: Stack
    jwt_secret: str
    rest_key: str
    rabbitmq_url: str
    exchange: str
    startup: float

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{NGINX_PORT}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{NGINX_PORT + 1}"  # Rasa's HTTP API, loopback only


@contextmanager
def profile(servers: int, extra_env: dict[str, str]) -> Iterator[Profile]:
    from sqlalchemy import text

    run = uuid.uuid4().hex[:10]
    base_db = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    parts = urlsplit(base_db)
    database_url = urlunsplit((parts.scheme, parts.netloc, f"/bench_{run}", parts.query, ""))
    rabbitmq_url = os.environ.get("RABBITMQ_URL") or "amqp://guest:guest@127.0.0.1:5672/"
    jwt_secret, rest_key = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    exchange = f"bench-events-{run}"
    var_dir = Path(tempfile.mkdtemp(prefix="bench-production-"))
    settings = Settings(
        profile="production", rasa_port=NGINX_PORT, action_port=ACTION_PORT,
        console_port=CONSOLE_PORT, database_url=database_url, var_dir=var_dir,
        office_hours="mon-sun 00:00-23:59",
    )  # fmt: skip
    env = {
        "PROFILE": "production",
        "RASA_JWT_SECRET": jwt_secret,
        "ACTION_SERVER_TOKEN": secrets.token_urlsafe(32),
        "SOCKETIO_SESSION_SECRET": secrets.token_urlsafe(32),
        "REST_API_KEY": rest_key,  # REST is published (with its key)
        "RASA_SERVER_PORTS": ",".join(str(p) for p in RASA_PORTS[:servers]),
        "REDIS_KEY_PREFIX": f"bench{run}",
        "RABBITMQ_URL": rabbitmq_url,
        "RABBITMQ_QUEUE": f"bench_events_{run}",
        "RABBITMQ_EXCHANGE": exchange,
        "SOCKETIO_MANAGER_CHANNEL": f"bench-socketio-{run}",
        "OFFICE_HOURS": settings.office_hours,
        **extra_env,
    }
    stack = Stack(settings, log_dir=var_dir / "logs", console=False, env=env)
    try:
        started = time.monotonic()
        stack.start(timeout=600)
        yield Profile(stack, jwt_secret, rest_key, rabbitmq_url, exchange,
                      time.monotonic() - started)  # fmt: skip
    finally:
        stack.stop()
        engine = admin_engine(database_url)
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "bench_{run}" WITH (FORCE)'))
        engine.dispose()
        asyncio.run(_delete_broker_parts(rabbitmq_url, f"bench_events_{run}", exchange))
        try:
            import redis

            client = redis.Redis.from_url(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/1")
            for key in client.scan_iter(f"bench{run}:*"):
                client.delete(key)
        except Exception:  # noqa: BLE001 - cleanup only
            pass


def latency_row(result: Result, elapsed: float) -> dict:
    lat = result.latencies
    return {
        "messages": len(lat),
        "errors": sum(result.errors.values()), "error_kinds": dict(result.errors),
        "p50_ms": round(statistics.median(lat) * 1000) if lat else None,
        "p95_ms": round(percentile(lat, 0.95) * 1000) if lat else None,
        "throughput": round(len(result.done) / elapsed, 1),
        **{
            f"{channel}_p50_p95_ms": "/".join(
                str(round(percentile(values, q) * 1000)) for q in (0.5, 0.95)
            ) if values else None
            for channel, values in result.channel_latencies.items()
        },
    }  # fmt: skip


def run_profile(servers: int, args: argparse.Namespace) -> dict:
    # the capacity of the servers: the abuse limits would refuse users sending without a pause
    with profile(servers, {"ABUSE_LIMITS": "off"}) as prof:

        async def measured() -> tuple[Result, float, Counter]:
            async with BrokerCounter(prof.rabbitmq_url, prof.exchange) as broker:
                result, elapsed = await load(prof.base, args.users, args.seconds, prof.rest_key)
            return result, elapsed, broker.counts

        result, elapsed, broker = asyncio.run(measured())
        # the client's keys (REST senders, widget tokens) as the conversations they are stored as
        result.sent = {stored_conversation(prof.stack.settings.database_url, k): v for k, v in result.sent.items()}

        async def check() -> int:
            lost = 0
            for sender, sent in result.sent.items():
                stored = await tracker_texts(prof.api, prof.jwt_secret, sender)
                # answered, but not in the conversation (a message whose answer timed out
                # may be stored without having been counted as answered: not a loss)
                lost += sum((Counter(sent) - Counter(stored)).values())
            return lost

        lost = asyncio.run(check())
        broker_lost = sum(max(0, len(v) - broker[k]) for k, v in result.sent.items())
        return {"servers": servers, "users": args.users, "seconds": round(elapsed),
                "startup_s": round(prof.startup), "empty_replies": result.empty,
                "lost_tracker": lost, "lost_broker": broker_lost,
                **latency_row(result, elapsed)}  # fmt: skip


# -- flood: one client beside 20 people ---------------------------------------------------------
FLOOD_SOURCE = "127.0.0.2"


@dataclass
class Flood:
    statuses: Counter = field(default_factory=Counter)


async def rest_flooder(base: str, until: float, flood: Flood, rest_key: str) -> None:
    """REST as fast as it gets answers, a new conversation every message."""
    headers = {"Authorization": f"Bearer {rest_key}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30),
                                     connector=connector(FLOOD_SOURCE),
                                     headers=headers) as http:  # fmt: skip
        i = 0
        while time.monotonic() < until:
            i += 1
            try:
                async with http.post(f"{base}/webhooks/rest/webhook", json={
                        "sender": uuid.uuid4().hex,
                        "message": QUESTIONS[i % len(QUESTIONS)]}) as response:  # fmt: skip
                    body = await response.read()
                    kind = "nginx" if b"<html>" in body else "app"
                    flood.statuses[f"rest {response.status}" + (
                        f" {kind}" if response.status == 429 else "")] += 1
            except Exception as exc:  # noqa: BLE001 - counted
                flood.statuses[f"rest {type(exc).__name__}"] += 1
                await asyncio.sleep(0.05)


async def socketio_flooder(base: str, until: float, flood: Flood) -> None:
    """The widget's channel: a new session, then messages as fast as they are acknowledged;
    a new session again after 20 (as if reconnecting would reset a limit)."""
    while time.monotonic() < until:
        http = aiohttp.ClientSession(connector=connector(FLOOD_SOURCE))
        client = socketio.AsyncClient(reconnection=False, request_timeout=10, http_session=http)
        confirmed: asyncio.Queue = asyncio.Queue()
        client.on("session_confirm", lambda data, q=confirmed: q.put_nowait(data))
        try:
            await client.connect(f"{base}?r={uuid.uuid4().hex[:16]}", transports=["polling"],
                                 headers={"Origin": ORIGIN}, wait_timeout=10)  # fmt: skip
            await client.emit("session_request", {})
            await asyncio.wait_for(confirmed.get(), 10)
            for i in range(20):
                if time.monotonic() >= until:
                    break
                ack = await client.call("user_uttered", {"message": QUESTIONS[i % len(QUESTIONS)],
                                                         "id": uuid.uuid4().hex}, timeout=30)
                flood.statuses["socket.io " + ("ok" if isinstance(ack, dict) and ack.get("ok")
                                               else str((ack or {}).get("error")))] += 1
        except Exception as exc:  # noqa: BLE001 - counted
            flood.statuses[f"socket.io {type(exc).__name__}"] += 1
            await asyncio.sleep(0.2)
        finally:
            await http.close()
            await _quietly_disconnect(client)


async def flood(base: str, rest_key: str, seconds: float) -> Flood:
    """The flooding client: 40 REST and 8 socket.io connections from one address."""
    result = Flood()
    until = time.monotonic() + seconds
    tasks = [asyncio.create_task(rest_flooder(base, until, result, rest_key)) for _ in range(40)]
    tasks += [asyncio.create_task(socketio_flooder(base, until, result)) for _ in range(8)]
    await asyncio.gather(*tasks)
    return result


def _idle_priority() -> None:
    """SCHED_IDLE: the flooder runs only on CPU time nothing else wants."""
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def start_flooder(prof: Profile, seconds: float) -> subprocess.Popen:
    """The flood in a process of its own, on CPU time nothing else wants (SCHED_IDLE): a real
    attacker's CPU is another machine's, and on this one the flooder's own work (tens of
    thousands of requests) would otherwise be counted as the server's. What its requests cost
    this machine (nginx, the Rasa servers) counts; its request rate is reported."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot.bench_production", "--flooder", prof.base,
         "--seconds", str(seconds)],
        env={**os.environ, "BENCH_REST_KEY": prof.rest_key},
        stdout=subprocess.PIPE, text=True, preexec_fn=_idle_priority,
    )  # fmt: skip


def cpu_of(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each process and its children (/proc)."""
    from bot.bench import cpu_seconds

    def tree(pid: int) -> float:
        try:
            total = cpu_seconds(pid)
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return 0.0
        return total + sum(tree(int(child)) for child in children)

    return {name: tree(pid) for name, pid in pids.items()}


def flood_run(prof: Profile, users: int, seconds: float, pause: float,
              flooding: bool) -> tuple[Result, float, Counter, dict[str, float]]:  # fmt: skip
    """One phase; also the CPU seconds each part of the stack (and the flooder) spent in it."""
    pids = {name.split("-")[0]: proc.pid for name, proc in prof.stack.procs}
    pids.update({name: proc.pid for name, proc in prof.stack.procs if name.startswith("rasa-")})
    pids.pop("rasa", None)
    flooder = start_flooder(prof, seconds + 6) if flooding else None
    if flooder is not None:
        pids["flooder"] = flooder.pid
        time.sleep(3)  # the flood is on before the people write
    before = cpu_of(pids)
    try:
        result, elapsed = asyncio.run(load(prof.base, users, seconds, prof.rest_key, pause))
    finally:
        after = cpu_of(pids)
        statuses: Counter = Counter()
        if flooder is not None:
            out, _ = flooder.communicate(timeout=120)
            statuses.update(json.loads(out.strip().splitlines()[-1] or "{}"))
    return result, elapsed, statuses, {k: round(after[k] - before[k], 1) for k in pids}


def run_flood(args: argparse.Namespace) -> int:
    """Normal users alone, then the same users beside one flooding client (127.0.0.2): their
    p95 with the flood must stay within 1.5x of their p95 without it."""
    servers = int(args.servers.split(",")[-1])
    extra = {"ABUSE_LIMITS": args.abuse_limits} if args.abuse_limits else {}
    with profile(servers, extra) as prof:
        flood_run(prof, args.users, 15, args.pause, False)  # warm-up
        # alternately, so that a change in the machine's other load hits both alike
        phases: dict[bool, list] = {False: [], True: []}
        for _ in range(args.rounds):
            for flooding in (False, True):
                phases[flooding].append(flood_run(prof, args.users, args.seconds / args.rounds,
                                                  args.pause, flooding))  # fmt: skip

    def pooled(runs: list) -> tuple[Result, float, Counter, dict[str, float]]:
        result, statuses, cpu = Result(), Counter(), Counter()
        for part, _, part_statuses, part_cpu in runs:
            result.latencies += part.latencies
            result.done += part.done
            result.errors.update(part.errors)
            for channel, values in part.channel_latencies.items():
                result.channel_latencies[channel] += values
            statuses.update(part_statuses)
            cpu.update(part_cpu)
        return result, sum(run[1] for run in runs), statuses, dict(cpu)

    alone, alone_s, _, alone_cpu = pooled(phases[False])
    flooded, flooded_s, statuses, flood_cpu = pooled(phases[True])
    rows = [("alone", latency_row(alone, alone_s)), ("with flood", latency_row(flooded, flooded_s))]
    for name, row in rows:
        print(json.dumps({"phase": name, **row}), flush=True)
    print(json.dumps({"flood": dict(statuses)}), flush=True)
    print(json.dumps({"cpu_s_alone": alone_cpu, "cpu_s_with_flood": flood_cpu}), flush=True)
    header = ["messages", "errors", "p50_ms", "p95_ms", "rest_p50_p95_ms",
              "socketio_p50_p95_ms", "throughput"]  # fmt: skip
    print(f"\n{servers} Rasa server(s), {args.users} people (pause {args.pause} s), "
          f"{args.seconds:.0f} s per phase")
    print("| phase | " + " | ".join(h.replace("throughput", "msg/s") for h in header) + " |")
    print("|" + "---|" * (len(header) + 1))
    for name, row in rows:
        print(f"| {name} | " + " | ".join(str(row[h]) for h in header) + " |")
    ratio = rows[1][1]["p95_ms"] / rows[0][1]["p95_ms"]
    accepted = sum(n for k, n in statuses.items() if k in ("rest 200", "socket.io ok"))
    print(f"p95 with the flood / without: {ratio:.2f} (must be <= 1.5); flood requests: "
          f"{sum(statuses.values())} ({sum(statuses.values()) / flooded_s:.0f}/s), "
          f"taken: {accepted}")
    return 0 if ratio <= 1.5 and not rows[1][1]["errors"] else 1


async def _delete_broker_parts(rabbitmq_url: str, queue: str, exchange: str) -> None:
    import aio_pika

    try:
        connection = await aio_pika.connect_robust(rabbitmq_url, timeout=10)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(queue)
            await channel.exchange_delete(exchange)
    except Exception:  # noqa: BLE001 - cleanup only
        pass


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--servers", default="1,2")
    parser.add_argument("--flood", action="store_true",
                        help="normal users alone, then beside one flooding client")
    parser.add_argument("--pause", type=float, default=2.0,
                        help="--flood: seconds each person waits between messages")
    parser.add_argument("--flooder", metavar="BASE", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=2,
                        help="--flood: alternations of the two phases (--seconds in all)")
    parser.add_argument("--abuse-limits", default=None,
                        help="--flood: ABUSE_LIMITS for the servers (default: bot/abuse.py's)")
    args = parser.parse_args(argv)
    # stopped with SIGTERM (timeout, kill): stop the servers it started too (`finally`)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.flood:
        return run_flood(args)
    if args.flooder:
        statuses = asyncio.run(flood(args.flooder, os.environ["BENCH_REST_KEY"], args.seconds))
        print(json.dumps(dict(statuses.statuses)), flush=True)
        return 0
    rows = []
    for servers in [int(n) for n in args.servers.split(",")]:
        print(f"{servers} Rasa server(s): starting the profile, then {args.users} conversations "
              f"for {args.seconds:.0f} s ...", flush=True)  # fmt: skip
        row = run_profile(servers, args)
        rows.append(row)
        print(json.dumps(row), flush=True)
    header = ["servers", "users", "seconds", "messages", "errors", "lost_tracker", "lost_broker",
              "p50_ms", "p95_ms", "rest_p50_p95_ms", "socketio_p50_p95_ms",
              "throughput"]  # fmt: skip
    print("\n| " + " | ".join(h.replace("throughput", "msg/s") for h in header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(row[h]) for h in header) + " |")
    errors = sum(row["errors"] + row["lost_tracker"] + row["lost_broker"] for row in rows)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
