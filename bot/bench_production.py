"""`make bench-production`: the production profile under load.

50 concurrent conversations (half over REST, half over socket.io, both through nginx) for two
minutes, with one and with two Rasa servers: errors, lost events, p50/p95 latency, throughput.
Each run starts its own profile on its own ports (nginx 6105, Rasa 6115/6116, actions 6155)
with its own PostgreSQL database, Redis key prefix and RabbitMQ queue, removed afterwards, so
it never disturbs a running `make run-production`.

Lost events: every message a client had answered must be in the tracker once, and every user
event of the tracker must have reached the RabbitMQ queue.

    python -m bot.bench_production [--users 50] [--seconds 120] [--servers 1,2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
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


# REST is off in the production profile without a key (bot/channels/rest.py): this run's own
REST_KEY = secrets.token_urlsafe(32)


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


async def rest_user(base: str, until: float, result: Result, index: int) -> None:
    sender = uuid.uuid4().hex
    result.sent[sender], result.channel[sender] = [], "rest"
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        i = index
        while time.monotonic() < until:
            text = f"{QUESTIONS[i % len(QUESTIONS)]}"
            i += 1
            started = time.monotonic()
            try:
                async with http.post(
                    f"{base}/webhooks/rest/webhook", json={"sender": sender, "message": text},
                    headers={"Authorization": f"Bearer {REST_KEY}"},
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


async def socketio_user(base: str, until: float, result: Result, index: int) -> None:
    """One widget: a session over long-polling, one message at a time, the same message (same
    id) sent again after a failure, as the widget does; a lost connection resumes the session."""
    token: str | None = None
    i = index
    pending: tuple[str, str] | None = None  # (text, id) not yet acknowledged
    while time.monotonic() < until:
        # a browser waits 20 s for the handshake; python-engineio's client only 5 s
        # our own HTTP session, closed below: python-engineio leaves its own open at disconnect
        http = aiohttp.ClientSession()
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
        sender = token  # its conversation: stored_conversation() after the run
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
                await asyncio.sleep(max(0.0, 1.05 - (time.monotonic() - started)))
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


async def broker_user_events(rabbitmq_url: str, queue_name: str) -> Counter:
    """User events per conversation that reached the queue (drained)."""
    import aio_pika

    counts: Counter = Counter()
    connection = await aio_pika.connect_robust(rabbitmq_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, durable=True, passive=True)
        idle = 0
        while idle < 3:
            message = await queue.get(fail=False, timeout=5)
            if message is None:
                idle += 1
                await asyncio.sleep(1)
                continue
            idle = 0
            await message.ack()
            event = json.loads(message.body)
            if event.get("event") == "user":
                counts[event.get("sender_id")] += 1
        await channel.queue_delete(queue_name)
    return counts


async def load(base: str, users: int, seconds: float) -> tuple[Result, float]:
    """The answers that came within ``seconds`` count for the throughput (closing the
    socket.io connections afterwards takes a long-poll's time)."""
    result = Result()
    started = time.monotonic()
    until = started + seconds
    tasks = []
    for i in range(users):
        user = rest_user if i % 2 == 0 else socketio_user
        tasks.append(asyncio.create_task(user(base, until, result, i)))
        await asyncio.sleep(0.1)  # a 5 s ramp, not all in the same millisecond
    await asyncio.gather(*tasks)
    result.done = [t for t in result.done if t <= until]
    return result, seconds


def admin_engine(database_url: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine

    parts = urlsplit(database_url)
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
    return create_engine(admin, isolation_level="AUTOCOMMIT", future=True)


def run_profile(servers: int, args: argparse.Namespace) -> dict:
    from sqlalchemy import text

    run = uuid.uuid4().hex[:10]
    base_db = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    parts = urlsplit(base_db)
    database_url = urlunsplit((parts.scheme, parts.netloc, f"/bench_{run}", parts.query, ""))
    rabbitmq_url = os.environ.get("RABBITMQ_URL") or "amqp://guest:guest@127.0.0.1:5672/"
    queue = f"bench_events_{run}"
    jwt_secret = secrets.token_urlsafe(32)
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
        "REST_API_KEY": REST_KEY,
        "SOCKETIO_SESSION_SECRET": secrets.token_urlsafe(32),
        "RASA_SERVER_PORTS": ",".join(str(p) for p in RASA_PORTS[:servers]),
        "REDIS_KEY_PREFIX": f"bench{run}",
        "RABBITMQ_URL": rabbitmq_url,
        "RABBITMQ_QUEUE": queue,
        "RABBITMQ_EXCHANGE": f"bench-events-{run}",
        "SOCKETIO_MANAGER_CHANNEL": f"bench-socketio-{run}",
        "OFFICE_HOURS": settings.office_hours,
    }
    stack = Stack(settings, log_dir=var_dir / "logs", console=False, env=env)
    base = f"http://127.0.0.1:{NGINX_PORT}"
    try:
        started = time.monotonic()
        stack.start(timeout=600)
        startup = time.monotonic() - started
        result, elapsed = asyncio.run(load(base, args.users, args.seconds))
        result.sent = {stored_conversation(database_url, k): v for k, v in result.sent.items()}

        async def check() -> tuple[int, Counter]:
            lost = 0
            for sender, sent in result.sent.items():
                stored = await tracker_texts(base, jwt_secret, sender)
                # answered, but not in the conversation (a message whose answer timed out
                # may be stored without having been counted as answered: not a loss)
                lost += sum((Counter(sent) - Counter(stored)).values())
            return lost, await broker_user_events(rabbitmq_url, queue)

        lost, broker = asyncio.run(check())
        answered = len(result.latencies)
        broker_lost = sum(max(0, len(v) - broker[k]) for k, v in result.sent.items())
        lat = result.latencies
        return {
            "servers": servers, "users": args.users, "seconds": round(elapsed),
            "startup_s": round(startup), "messages": answered,
            "errors": sum(result.errors.values()), "error_kinds": dict(result.errors),
            "empty_replies": result.empty,
            "lost_tracker": lost, "lost_broker": broker_lost,
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
    finally:
        stack.stop()
        engine = admin_engine(database_url)
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "bench_{run}" WITH (FORCE)'))
        engine.dispose()
        asyncio.run(_delete_broker_parts(rabbitmq_url, queue, f"bench-events-{run}"))
        try:
            import redis

            client = redis.Redis.from_url(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/1")
            for key in client.scan_iter(f"bench{run}:*"):
                client.delete(key)
        except Exception:  # noqa: BLE001 - cleanup only
            pass


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
    args = parser.parse_args(argv)
    # stopped with SIGTERM (timeout, kill): stop the servers it started too (`finally`)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
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
