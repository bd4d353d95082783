"""The production profile (PostgreSQL, Redis, two Rasa servers behind nginx): REST needs its
key, and "delete my data" leaves nothing in PostgreSQL, in Redis or in either server's cache
(issue 20, review C1, M6). The dev profile's and the SQLite store's tests:
tests/privacy/test_channel_namespaces.py, tests/privacy/test_delete_my_data.py.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
import uuid

import pytest
import redis
from sqlalchemy import create_engine, text

from bot.content import for_display, load_content
from bot.conversation_ids import rest_id
from bot.settings import get_settings
from tests.helpers import widget_conversation
from tests.production.conftest import ORIGIN, RASA_PORTS, Production, wait_until
from tests.production.services import REDIS_URL
from tests.widget.sockets import Client

pytestmark = pytest.mark.slow


def content_text(key: str, lang: str) -> str:
    return for_display(load_content(get_settings().content_dir).text(key, lang), lang)


def stored(production: Production, conversation_id: str) -> dict[str, int]:
    engine = create_engine(production.database_url, future=True)
    try:
        with engine.connect() as connection:
            return {
                table: connection.execute(
                    text(f"SELECT count(*) FROM {table} WHERE {column} = :c"),
                    {"c": conversation_id},
                ).scalar_one()
                for table, column in (("events", "sender_id"), ("handoffs", "conversation_id"),
                                      ("reminders", "conversation_id"),
                                      ("widget_sessions", "conversation_id"))
            }  # fmt: skip
    finally:
        engine.dispose()


def redis_keys_of(production: Production, conversation_id: str) -> list[str]:
    prefix = production.stack.env["REDIS_KEY_PREFIX"]
    client = redis.Redis.from_url(REDIS_URL.rsplit("/", 1)[0] + "/1")
    try:
        return [k.decode() for k in client.scan_iter(f"{prefix}*") if conversation_id in k.decode()]
    finally:
        client.close()


def test_rest_through_nginx_needs_the_key(production: Production) -> None:
    body = json.dumps({"sender": "no-key", "message": "hej"}).encode()
    for headers in ({}, {"Authorization": "Bearer not-the-key-" + "x" * 32}):
        request = urllib.request.Request(
            f"{production.url}/webhooks/rest/webhook", data=body,
            headers={"Content-Type": "application/json", **headers},
        )  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 401
    assert production.say("with-key", "hej")[0] == 200


def test_delete_over_rest_on_one_server_reaches_the_other_servers_cache(
    production: Production,
) -> None:
    sender = f"del-{uuid.uuid4().hex[:10]}"
    first, second = (production.server_url(port) for port in RASA_PORTS)
    # the conversation is kept in server A's cache ...
    for question in ("Hur lång tid har jag på mig att överklaga?", "Kan jag få en advokat?"):
        assert production.say(sender, question, base=first)[0] == 200
    # ... and deleted through server B
    assert production.say(sender, "/delete_data", base=second)[0] == 200
    status, done = production.say(sender, "/affirm", base=second)
    assert status == 200 and [m["text"] for m in done] == [content_text("delete_done", "sv")]
    conversation_id = rest_id(sender)
    assert stored(production, conversation_id) == {
        "events": 0, "handoffs": 0, "reminders": 0, "widget_sessions": 0}  # fmt: skip
    assert wait_until(lambda: redis_keys_of(production, conversation_id) == [], 15)
    # server A does not hand out its kept copy: the conversation starts afresh there
    assert production.say(sender, "hej", base=first)[0] == 200
    assert production.user_texts(sender) == ["hej"]


async def test_delete_in_the_widget_leaves_nothing_in_postgresql_or_redis(
    production: Production,
) -> None:
    client = await Client().connect(production.url + "?r=" + uuid.uuid4().hex[:16], origin=ORIGIN)
    try:
        token = (await client.session())["token"]
        conversation_id = widget_conversation(production.database_url, token)
        for message in ("Hur överklagar jag?", "/delete_data"):
            ack = await client.sio.call("user_uttered", {"message": message, "id": uuid.uuid4().hex,
                                                         "metadata": {"language": "sv"}},
                                        timeout=60)  # fmt: skip
            assert ack.get("ok") is True, ack
            await client.next("bot_uttered", timeout=60)
        assert stored(production, conversation_id)["events"] > 0
        await asyncio.sleep(1.0)
        ack = await client.sio.call("user_uttered", {"message": "/affirm", "id": "a1",
                                                     "metadata": {"language": "sv"}}, timeout=60)
        assert ack.get("ok") is True, ack
        ended = await client.next("session_ended", timeout=60)
        assert ended == {"reason": "deleted", "text": content_text("delete_done", "sv")}
        assert stored(production, conversation_id) == {
            "events": 0, "handoffs": 0, "reminders": 0, "widget_sessions": 0}  # fmt: skip
        assert (await client.session(token))["resumed"] is False
    finally:
        await client.close()
    assert wait_until(lambda: redis_keys_of(production, conversation_id) == [], 15)
