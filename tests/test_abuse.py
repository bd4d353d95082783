"""bot/abuse.py by itself: which address counts, the limits, crisis first, the limited answer
in every language, and the Redis counters shared by two servers (real Redis)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from bot import abuse
from bot.abuse import Abuse, Limit, MemoryCounters, RedisCounters, parse_limits
from bot.settings import LANGUAGES

LIMITS = {"conversation": Limit(3, 60), "address": Limit(5, 60),
          "address_conversations": Limit(4, 600), "address_sessions": Limit(3, 60),
          "address_handoffs": Limit(2, 600), "channel.rest": Limit(50, 60)}  # fmt: skip


def test_x_forwarded_for_is_believed_only_from_the_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1,::1")
    assert abuse.client_address("127.0.0.1", "203.0.113.7") == "203.0.113.7"
    # nginx overwrites the header; if a chain reaches us, the proxy's own entry is the last
    assert abuse.client_address("127.0.0.1", "6.6.6.6, 203.0.113.7") == "203.0.113.7"
    assert abuse.client_address("127.0.0.1", "junk") == "127.0.0.1"
    assert abuse.client_address("198.51.100.2", "203.0.113.7") == "198.51.100.2"  # not a proxy
    monkeypatch.setenv("TRUSTED_PROXIES", "")
    assert abuse.client_address("127.0.0.1", "203.0.113.7") == "127.0.0.1"  # dev: no proxy


def test_limits_from_the_environment() -> None:
    assert parse_limits(None) == abuse.DEFAULT_LIMITS
    assert parse_limits("off") == {}
    assert parse_limits("conversation=2/5")["conversation"] == Limit(2, 5.0)
    for wrong in ("nosuch=1/1", "conversation=x", "conversation=0/10"):
        with pytest.raises(ValueError):
            parse_limits(wrong)


async def _counting(counters: object) -> None:
    limits = Abuse(LIMITS, counters, key=b"k" * 32, prefix=f"t{uuid.uuid4().hex[:8]}:abuse")
    conversation, address = uuid.uuid4().hex, "203.0.113.9"
    ok = [await limits.check_message(channel="rest", conversation_id=conversation,
                                     address=address, text="Hej") for _ in range(4)]  # fmt: skip
    assert [bool(v) for v in ok] == [True, True, True, False]
    assert ok[-1].limit == "conversation" and 0 < ok[-1].retry_after <= 60
    # a crisis is never limited, however many came before
    crisis = await limits.check_message(channel="rest", conversation_id=conversation,
                                        address=address, text="jag vill inte leva längre")
    assert crisis
    # new conversations per address (distinct ones per window)
    fresh = [await limits.check_message(channel="rest", conversation_id=uuid.uuid4().hex,
                                        address="203.0.113.10", text="Hej") for _ in range(5)]
    assert [bool(v) for v in fresh] == [True] * 4 + [False]
    assert fresh[-1].limit == "address_conversations"
    # messages per address, across its conversations
    one, two = uuid.uuid4().hex, uuid.uuid4().hex
    mixed = [await limits.check_message(channel="rest", conversation_id=c, address="203.0.113.11",
                                        text="Hej") for c in (one, one, one, two, two, two)]
    assert [bool(v) for v in mixed] == [True] * 5 + [False] and mixed[-1].limit == "address"
    # another address is not affected
    assert await limits.check_message(channel="rest", conversation_id=uuid.uuid4().hex,
                                      address="198.51.100.4", text="Hej")  # fmt: skip
    # handoffs per address
    assert [await limits.allow_handoff("198.51.100.5") for _ in range(3)] == [True, True, False]
    assert await limits.allow_handoff(None)  # Telegram: no address, not counted here


async def test_memory_counters() -> None:
    await _counting(MemoryCounters())


async def test_redis_counters_are_shared_by_the_servers() -> None:
    from tests.production.services import REDIS_URL

    await _counting(RedisCounters(REDIS_URL))
    prefix = f"t{uuid.uuid4().hex[:8]}:abuse"
    servers = [Abuse(LIMITS, RedisCounters(REDIS_URL), key=b"k" * 32, prefix=prefix)
               for _ in range(2)]  # fmt: skip
    conversation = uuid.uuid4().hex
    verdicts = await asyncio.gather(*(
        servers[i % 2].check_message(channel="rest", conversation_id=conversation,
                                     address=None, text="Hej") for i in range(6)))  # fmt: skip
    assert sum(bool(v) for v in verdicts) == 3  # one budget for both servers
    import redis

    keys = list(redis.Redis.from_url(REDIS_URL).scan_iter(f"{prefix}:*"))
    assert keys and all(conversation.encode() not in key for key in keys)  # hashed
    assert all(redis.Redis.from_url(REDIS_URL).pttl(key) > 0 for key in keys)  # they expire


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_limited_answer_carries_the_emergency_numbers(lang: str) -> None:
    for sent_again in (False, True):
        text = abuse.limited_answer(lang, sent_again=sent_again)
        assert text.startswith(abuse.WAIT[lang][sent_again])
        assert "112" in text and "90101" in text and "116 111" in text, (lang, text)
        assert len(text) < 600
