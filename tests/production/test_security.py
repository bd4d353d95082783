"""What the production profile exposes, and to whom (issue 20; docs/security.md): the real
stack of tests/production/conftest.py (nginx, two Rasa servers, the action server, PostgreSQL,
Redis, RabbitMQ).
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest

from bot.run import nginx_binary, write_nginx_conf
from tests.production.conftest import (
    ACTION_PORT,
    API_PORT,
    NGINX_PORT,
    ORIGIN,
    RASA_PORTS,
    Production,
)

pytestmark = pytest.mark.slow

# Tight abuse limits for this module's stack (bot/abuse.py), so that a test reaches them with a
# few messages. Each test of the limits sends from a loopback address of its own (127.0.0.x):
# nginx passes that on as the client's address.
STACK_ENV = {
    "ABUSE_LIMITS": "conversation=5/600,address=12/60,address_conversations=10/600,"
                    "address_sessions=20/60,address_handoffs=2/600",
}


def request(
    url: str, method: str = "GET", body: bytes | None = None,
    headers: dict[str, str] | None = None, source: str | None = None,
) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    """One HTTP request from the source address ``source`` (a loopback address of its own
    stands for another client); (status, headers, body), status 0 when the connection failed."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=30,
        source_address=(source, 0) if source else None,
    )  # fmt: skip
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    except OSError:
        return 0, {}, b""
    finally:
        connection.close()


def is_nginx_404(status: int, body: bytes) -> bool:
    """nginx's own 404 page: the request never reached a Rasa server."""
    return status == 404 and b"<center>nginx</center>" in body


# -- 1. only what must be public is public -------------------------------------------------
INTERNAL_PATHS = [
    ("GET", "/"),
    ("GET", "/status"),
    ("GET", "/version"),
    ("GET", "/domain"),
    ("GET", "/conversations/someone/tracker"),
    ("POST", "/conversations/someone/tracker/events"),
    ("POST", "/conversations/someone/execute"),
    ("POST", "/conversations/someone/messages"),
    ("PUT", "/model"),
    ("POST", "/model/parse"),
    ("POST", "/auth"),
    ("GET", "/auth/verify"),
    ("POST", "/webhook"),  # the action server's path
    ("GET", "/actions"),
    ("GET", "/health"),
    ("GET", "/webhooks/rest/"),
    ("GET", "/webhooks/telegram/"),
    ("GET", "/webhooks/socketio/"),
    ("GET", "/console/api/me"),
]


def test_public_address_publishes_only_the_channels(production: Production) -> None:
    for method, path in INTERNAL_PATHS:
        status, _, body = request(production.url + path, method, b"{}" if method != "GET" else None)
        assert is_nginx_404(status, body), (method, path, status, body[:200])
    # the channels are published (REST because the profile has a REST_API_KEY)
    status, _, body = request(f"{production.url}/socket.io/?EIO=4&transport=polling",
                              headers={"Origin": ORIGIN})  # fmt: skip
    assert status == 200 and body.startswith(b"0{"), (status, body[:100])
    status, replies = production.say(uuid.uuid4().hex, "Hej")
    assert status == 200 and replies
    # no Telegram channel in this profile: the request reaches a Rasa server (Sanic's 404),
    # not nginx's
    status, _, body = request(f"{production.url}/webhooks/telegram/webhook", "POST", b"{}")
    assert status in (403, 404) and not is_nginx_404(status, body), (status, body[:200])
    # the HTTP API is reached on the internal address
    status, _, _ = request(f"{production.api_url}/status",
                           headers={"Authorization": f"Bearer {production.token()}"})
    assert status == 200


def test_security_headers_and_server_name(production: Production) -> None:
    for path in ("/socket.io/?EIO=4&transport=polling", "/status"):
        _, headers, _ = request(production.url + path, headers={"Origin": ORIGIN})
        assert headers.get("x-content-type-options") == "nosniff", path
        assert headers.get("x-frame-options") == "DENY", path
        assert headers.get("referrer-policy") == "no-referrer", path
        assert "frame-ancestors 'none'" in headers.get("content-security-policy", ""), path
        assert headers.get("strict-transport-security", "").startswith("max-age="), path
        assert headers.get("server") == "nginx", path  # no version


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a listening TCP socket on ``port`` (/proc/net/tcp{,6})."""
    found = set()
    for name in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                if len(address) == 8:
                    found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1]))
                else:
                    raw = bytes.fromhex(address)
                    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                    found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def test_internal_services_listen_on_loopback_only(production: Production) -> None:
    for port in (*RASA_PORTS, ACTION_PORT, API_PORT):
        assert listening_addresses(port) == {"127.0.0.1"}, port
    assert listening_addresses(NGINX_PORT) == {"127.0.0.1"}  # BIND_HOST of this profile


def test_without_a_rest_key_rest_is_not_published(
    production: Production, tmp_path: Path
) -> None:
    """The same config without REST_API_KEY (its own nginx on ports of its own, in front of the
    same Rasa servers): REST answers 404 from nginx, socket.io still works."""
    settings = production.stack.settings
    port = NGINX_PORT + 70  # 6075, 6076: unused by the profile
    from dataclasses import replace

    conf = write_nginx_conf(replace(settings, rasa_port=port, var_dir=tmp_path), RASA_PORTS,
                            port + 1, rest=False)  # fmt: skip
    proc = subprocess.Popen(
        [nginx_binary(), "-e", "stderr", "-p", str(conf.parent), "-c", str(conf), "-g",
         "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while request(base + "/")[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        body = json.dumps({"sender": uuid.uuid4().hex, "message": "Hej"}).encode()
        status, _, answer = request(f"{base}/webhooks/rest/webhook", "POST", body,
                                    {"Content-Type": "application/json"})  # fmt: skip
        assert is_nginx_404(status, answer), (status, answer[:200])
        status, _, answer = request(f"{base}/socket.io/?EIO=4&transport=polling",
                                    headers={"Origin": ORIGIN})  # fmt: skip
        assert status == 200 and answer.startswith(b"0{")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_slow_clients_are_dropped(production: Production) -> None:
    """A request whose headers never finish (slowloris) is dropped after nginx's 10 s header
    timeout, not held for its default minute."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", NGINX_PORT), timeout=30) as sock:
        sock.sendall(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n")
        try:
            assert sock.recv(1024) == b""  # closed by nginx
        except ConnectionResetError:
            pass  # reset_timedout_connection: closed with a reset
    assert time.monotonic() - started < 20


def test_a_flooding_address_is_limited_by_nginx_and_others_are_not(
    production: Production,
) -> None:
    """limit_req per client address: a client that sends faster than the burst allows gets
    429 from nginx (before a Rasa server spends anything), another address at the same
    moment does not. A client's own X-Forwarded-For does not make it someone else."""
    url = f"{production.url}/socket.io/?EIO=4&transport=polling&sid=unknown"
    statuses = []
    for i in range(160):
        spoof = {"X-Forwarded-For": f"10.0.{i // 250}.{i % 250}", "Origin": ORIGIN}
        statuses.append(request(url, headers=spoof, source="127.0.0.3")[0])
    assert statuses.count(429) > 20, statuses
    assert request(url, headers={"Origin": ORIGIN}, source="127.0.0.4")[0] == 400  # Rasa's
    # nothing of it in nginx's error log (client addresses and request lines are not kept)
    log = production.stack.settings.var_dir / "nginx" / "error.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    assert "client:" not in text and "request:" not in text, text[-2000:]


# -- 2. the action server accepts only Rasa --------------------------------------------------
def test_action_server_accepts_only_rasa(production: Production) -> None:
    from tests.test_action_server import delete_call

    sender = uuid.uuid4().hex
    status, replies = production.say(sender, "Hur överklagar jag beslutet?")
    assert status == 200 and replies  # Rasa's own calls carry the token
    for headers in ({}, {"Authorization": "Bearer " + "x" * 43}):
        status, _, body = request(f"http://127.0.0.1:{ACTION_PORT}/webhook", "POST",
                                  delete_call(sender),
                                  {"Content-Type": "application/json", **headers})  # fmt: skip
        assert status == 401, (status, body[:200])
    time.sleep(2)
    assert production.user_texts(sender) == ["Hur överklagar jag beslutet?"]


# -- 3. RabbitMQ: no queue keeps what people wrote -------------------------------------------
def rabbitmq(*args: str) -> list[dict]:
    out = subprocess.run(["rabbitmqctl", "-q", "--formatter", "json", *args], check=True,
                         capture_output=True, text=True, timeout=120).stdout  # fmt: skip
    return json.loads(out or "[]")


def bound_queues(exchange: str) -> set[str]:
    return {b["destination_name"] for b in rabbitmq("list_bindings", "source_name",
                                                    "destination_name")
            if b["source_name"] == exchange}  # fmt: skip


def test_events_reach_only_the_live_views_own_queue(production: Production) -> None:
    from bot.conversation_ids import rest_id
    from bot.store.db import session_factory
    from bot.store.retention import delete_conversation
    from tests.production.conftest import BrokerTap

    sender, text = uuid.uuid4().hex, f"Hur överklagar jag? {uuid.uuid4().hex[:8]}"
    with BrokerTap(production.exchange) as tap:
        status, _ = production.say(sender, text)
        assert status == 200
        events = tap.wait_for(sender, lambda found: any(e["event"] == "action" for e in found))
        assert text in [e.get("text") for e in events]  # the console's live view still works
        # the only queue on the exchange is the live view's own, exclusive one
        assert bound_queues(production.exchange) == {tap.queue_name}
        # events are transient and expire: nothing bound later keeps them
        assert {m.delivery_mode for m in tap.messages} == {1}  # NOT_PERSISTENT
        assert {str(m.expiration) for m in tap.messages} <= {"60", "60.0", "60000"}
    queues = {q["name"]: q for q in rabbitmq("list_queues", "name", "durable", "messages")}
    assert production.queue not in queues  # the old durable queue is neither made nor fed
    assert "rasa_core_events" not in queues  # Rasa's default when no queue is configured
    assert bound_queues(production.exchange) == set()
    # deleting the conversation leaves nothing of it in RabbitMQ
    with session_factory(production.database_url)() as db:
        delete_conversation(db, conversation_id=rest_id(sender))
    assert production.user_texts(sender) == []
    for queue in rabbitmq("list_queues", "name", "messages"):
        assert queue["messages"] == 0 or queue["name"].startswith("amq.gen"), queue


def test_the_old_event_queue_is_removed_at_start() -> None:
    """A durable queue left by an earlier version (every event, persistent) is deleted by the
    start step bot.run.remove_legacy_queue."""
    import asyncio

    import aio_pika

    from bot.run import remove_legacy_queue
    from tests.production.services import RABBITMQ_URL

    name = f"test_legacy_{uuid.uuid4().hex[:8]}"

    async def declare() -> None:
        connection = await aio_pika.connect(RABBITMQ_URL, timeout=10)
        async with connection:
            channel = await connection.channel()
            await channel.declare_queue(name, durable=True)
            await channel.default_exchange.publish(
                aio_pika.Message(b'{"event": "user", "text": "hej"}',
                                 delivery_mode=aio_pika.DeliveryMode.PERSISTENT), name,
            )  # fmt: skip

    asyncio.run(declare())
    assert name in {q["name"] for q in rabbitmq("list_queues", "name")}
    assert remove_legacy_queue(RABBITMQ_URL, name)
    assert name not in {q["name"] for q in rabbitmq("list_queues", "name")}


# -- 5. abuse limits: per conversation, address, channel; crisis first ----------------------
def rest(production: Production, sender: str, text: str, source: str,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], list]:  # fmt: skip
    body = json.dumps({"sender": sender, "message": text}).encode()
    status, answer_headers, raw = request(
        f"{production.url}/webhooks/rest/webhook", "POST", body,
        {"Content-Type": "application/json",
         "Authorization": f"Bearer {production.rest_api_key}", **(headers or {})},
        source=source,
    )  # fmt: skip
    try:
        return status, answer_headers, json.loads(raw)
    except ValueError:
        return status, answer_headers, []


def texts_of(replies: list) -> str:
    return " ".join(r.get("text") or "" for r in replies if isinstance(r, dict))


def test_one_conversation_is_limited_with_the_numbers_to_call(production: Production) -> None:
    sender = uuid.uuid4().hex
    results = [rest(production, sender, "Var kan jag bo nu?", "127.0.0.10") for _ in range(7)]
    statuses = [status for status, _, _ in results]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429], statuses
    status, headers, replies = results[-1]
    assert int(headers["retry-after"]) >= 1
    text = texts_of(replies)
    assert "Vänta" in text and "112" in text and "90101" in text, text
    assert production.user_texts(sender) == ["Var kan jag bo nu?"] * 5  # nothing more stored
    # a crisis in the same conversation is never limited
    status, _, replies = rest(production, sender, "jag vill inte leva längre", "127.0.0.10")
    assert status == 200 and "90101" in texts_of(replies)


def test_one_address_is_limited_whatever_it_claims_and_others_are_not(
    production: Production,
) -> None:
    """New conversations and messages per client address; a client's own X-Forwarded-For does
    not make it someone else (nginx overwrites it), and another address goes on."""
    statuses = []
    for i in range(14):
        spoof = {"X-Forwarded-For": f"198.51.100.{i}"}
        status, _, replies = rest(production, uuid.uuid4().hex, "Hej", "127.0.0.11", spoof)
        statuses.append(status)
        if status == 429:
            assert "112" in texts_of(replies)
    assert statuses[:10] == [200] * 10 and set(statuses[10:]) == {429}, statuses
    status, _, replies = rest(production, uuid.uuid4().hex, "Hej", "127.0.0.12")
    assert status == 200 and replies
    # the limited address still gets through with a crisis
    status, _, replies = rest(production, uuid.uuid4().hex, "jag vill dö", "127.0.0.11")
    assert status == 200 and "112" in texts_of(replies), (status, replies)


def test_handoffs_per_address_are_capped_crisis_answers_are_not(production: Production) -> None:
    from tests.production.test_profile import handoff_of

    senders = [uuid.uuid4().hex for _ in range(3)]
    answers = [rest(production, sender, "jag vill prata med en människa", "127.0.0.13")
               for sender in senders]  # fmt: skip
    assert [status for status, _, _ in answers] == [200, 200, 200]
    assert [handoff_of(production, sender) is not None for sender in senders] == [
        True, True, False]  # fmt: skip
    # the third is told to wait and whom to call now (bot/abuse.py limited_answer)
    assert "112" in texts_of(answers[2][2]) and "90101" in texts_of(answers[2][2]), answers[2]
    # a crisis from that address: the emergency numbers, though no handoff is queued
    crisis = uuid.uuid4().hex
    status, _, replies = rest(production, crisis, "jag vill inte leva längre", "127.0.0.13")
    assert status == 200 and "112" in texts_of(replies) and "90101" in texts_of(replies)
    assert handoff_of(production, crisis) is None
    # another address opens its handoff as usual
    other = uuid.uuid4().hex
    assert rest(production, other, "jag vill prata med en människa", "127.0.0.14")[0] == 200
    assert handoff_of(production, other) == ("normal", "request")


async def test_widget_limit_holds_across_reconnects(production: Production) -> None:
    """The conversation's budget is the conversation's, not the connection's: reconnecting
    with the same token does not reset it. A crisis still goes through."""
    import asyncio

    import aiohttp
    import socketio

    async def connect(token: str | None) -> tuple[socketio.AsyncClient, aiohttp.ClientSession,
                                                  asyncio.Queue, dict]:  # fmt: skip
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.15", 0)))
        client = socketio.AsyncClient(reconnection=False, http_session=http)
        confirmed: asyncio.Queue = asyncio.Queue()
        notices: asyncio.Queue = asyncio.Queue()
        client.on("session_confirm", lambda data: confirmed.put_nowait(data))
        client.on("bot_uttered", lambda data: notices.put_nowait(data))
        await client.connect(f"{production.url}?r={uuid.uuid4().hex[:16]}",
                             transports=["polling"], headers={"Origin": ORIGIN},
                             wait_timeout=30)  # fmt: skip
        await client.emit("session_request", {"token": token} if token else {})
        return client, http, notices, await asyncio.wait_for(confirmed.get(), 30)

    async def say(client: socketio.AsyncClient, text: str) -> dict:
        return await client.call("user_uttered", {"message": text, "id": uuid.uuid4().hex,
                                                  "metadata": {"language": "sv"}}, timeout=60)

    started = time.monotonic()
    client, http, _, confirm = await connect(None)
    try:
        acks = [await say(client, "Hej") for _ in range(6)]
    finally:
        await http.close()  # first: python-engineio's disconnect waits for its long-poll
        await client.disconnect()
    assert [a.get("ok") for a in acks] == [True] * 5 + [False], acks
    assert acks[-1]["error"] == "rate_limited"
    client, http, notices, again = await connect(confirm["token"])
    try:
        assert again["resumed"] is True
        ack = await say(client, "Hej igen")
        elapsed = time.monotonic() - started
        assert ack.get("error") == "rate_limited", (ack, elapsed)  # not reset by reconnecting
        notice = await asyncio.wait_for(notices.get(), 30)
        while notice.get("metadata", {}).get("notice") != "rate_limited":
            notice = await asyncio.wait_for(notices.get(), 30)
        assert "112" in notice["text"] and "90101" in notice["text"]
        assert (await say(client, "jag vill inte leva längre")).get("ok") is True
    finally:
        await http.close()
        await client.disconnect()


# -- 6. no message text in any log on an error path ------------------------------------------
def all_logs(production: Production) -> dict[str, str]:
    logs = {path.name: path.read_text(errors="replace")
            for path in production.stack.log_dir.glob("*.log")}  # fmt: skip
    nginx_log = production.stack.settings.var_dir / "nginx" / "error.log"
    if nginx_log.exists():
        logs["nginx error.log"] = nginx_log.read_text(errors="replace")
    return logs


def test_a_database_error_while_saving_logs_no_message_text(production: Production) -> None:
    """The database refuses the Rasa server's INSERT of the person's message (a constraint
    added for the test): the message is refused (503), and no log quotes the statement's
    values ("[parameters: ...]", the event JSON with the text)."""
    from sqlalchemy import create_engine
    from sqlalchemy import text as sql
    from sqlalchemy.pool import NullPool

    from tests.production.conftest import wait_until

    sender, secret = uuid.uuid4().hex, f"mitt ärende gäller {uuid.uuid4().hex[:10]}"
    assert production.say(sender, "Hej")[0] == 200
    engine = create_engine(production.database_url, future=True, poolclass=NullPool,
                           isolation_level="AUTOCOMMIT")  # fmt: skip
    with engine.connect() as admin:
        admin.execute(sql("ALTER TABLE events ADD CONSTRAINT test_refuse CHECK (false) NOT VALID"))
        try:
            status, _ = production.say(sender, secret)
        finally:
            admin.execute(sql("ALTER TABLE events DROP CONSTRAINT test_refuse"))
    engine.dispose()
    assert status == 503
    assert wait_until(lambda: production.say(sender, "Hej igen")[0] == 200, 60)
    logs = all_logs(production)
    assert any("IntegrityError" in log for log in logs.values())  # the error was logged
    for name, log in logs.items():
        assert "[parameters:" not in log, name
        assert secret not in log, name
