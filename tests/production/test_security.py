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
