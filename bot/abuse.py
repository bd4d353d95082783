"""Abuse limits on every public entry point (REST, socket.io, Telegram): one flooding client
must not delay anyone else's answer, nor fill the counsellors' queue.

Each message is counted, before it reaches Rasa's queue (bot/fair_queue.py), against:

- its conversation (``conversation``): the same budget whichever connection it came through,
  so reconnecting to the widget does not start a new one;
- its client's address (``address``), and the new conversations that address opens
  (``address_conversations``, distinct conversations per hour) and the socket.io sessions it
  asks for (``address_sessions``; each resume reads the whole conversation);
- its channel as a whole (``channel.rest``, ``channel.socketio``, ``channel.telegram``), so a
  flood through one channel leaves the Rasa servers' time to the others;
- and handoffs opened per address (``address_handoffs``): a request for a person beyond it is
  told whom to call instead of queueing one more (urgent) handoff.

The client's address is the connection's peer, or the X-Forwarded-For that nginx sets (one
address, overwritten, never appended) when the peer is a proxy named in TRUSTED_PROXIES
(bot/run.py sets 127.0.0.1 in the production profile); a client's own X-Forwarded-For is
never believed.

Crisis first: a message the crisis lexicon (bot/nlu/crisis_lexicon.py) flags is never limited,
and a limited message is answered with a short kind text in the person's language that
carries the emergency number 112 and the crisis lines of content/texts.yml ``crisis``.

Counters are fixed windows: in this process's memory in the dev profile (one Rasa server),
in Redis in the production profile (``ABUSE_REDIS_URL``, bot/run.py), shared by all servers;
keys hold keyed hashes, never an address or an id in clear, and expire with their window.
Redis unreachable: nothing is limited (the lock store fails the message anyway). Limits can
be changed with ``ABUSE_LIMITS`` ("conversation=10/10,address=30/10"; "off" for none).
(A maintained library, ``limits``, needs a second Redis client, coredis, for asyncio; the two
counters here are a few lines on redis-py, which the project has.)
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import ipaddress
import logging
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: float


DEFAULT_LIMITS: dict[str, Limit] = {
    # one person writes a message every few seconds at most; the widget resends after a wait
    "conversation": Limit(10, 10),
    # one address may be a shelter's or a carrier's NAT: room for a few dozen people at once
    "address": Limit(30, 10),
    "address_conversations": Limit(30, 3600),
    "address_sessions": Limit(60, 60),
    "address_handoffs": Limit(5, 3600),
    # a channel's share of the servers' time (about 70 messages a second on 2 cores)
    "channel.rest": Limit(200, 10),
    "channel.socketio": Limit(500, 10),
    "channel.telegram": Limit(500, 10),
}


def parse_limits(raw: str | None) -> dict[str, Limit]:
    """DEFAULT_LIMITS with the overrides of ``raw`` ("name=count/seconds,..."; "off": none)."""
    if raw is None or not raw.strip():
        return dict(DEFAULT_LIMITS)
    if raw.strip().lower() == "off":
        return {}
    limits = dict(DEFAULT_LIMITS)
    for item in raw.split(","):
        name, _, value = item.strip().partition("=")
        count, _, seconds = value.partition("/")
        if name not in DEFAULT_LIMITS:
            raise ValueError(f"ABUSE_LIMITS: unknown limit {name!r}")
        try:
            limit = Limit(int(count), float(seconds))
        except ValueError as exc:
            raise ValueError(f"ABUSE_LIMITS: {item!r} is not name=count/seconds") from exc
        if limit.count < 1 or limit.seconds <= 0:
            raise ValueError(f"ABUSE_LIMITS: {item!r} must allow at least one")
        limits[name] = limit
    return limits


# -- the client's address ----------------------------------------------------------------------
def trusted_proxies() -> frozenset[str]:
    raw = os.environ.get("TRUSTED_PROXIES", "")
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def client_address(peer: str | None, forwarded_for: str | None) -> str | None:
    """The client's address: X-Forwarded-For only from a trusted proxy (nginx sets it to one
    address), else the peer."""
    if peer and forwarded_for and peer in trusted_proxies():
        candidate = forwarded_for.split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            return peer
    return peer or None


def request_address(request: Any) -> str | None:
    """The client's address of a Sanic request (REST, Telegram, socket.io's environ)."""
    return client_address(getattr(request, "ip", None), request.headers.get("x-forwarded-for"))


def environ_address(environ: Mapping[str, Any] | None) -> str | None:
    """The client's address of a socket.io connection (python-engineio's environ)."""
    if not environ:
        return None
    request = environ.get("sanic.request")
    if request is not None:
        return request_address(request)
    return client_address(environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR"))


# -- crisis --------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _lexicon() -> Any:
    from bot.nlu.crisis_lexicon import Lexicon

    return Lexicon.load()


def is_crisis(text: str | None) -> bool:
    """The crisis lexicon flags ``text``: it is never limited."""
    return bool(text) and _lexicon().match(text) is not None


# What a limited message is answered with (then the crisis lines). Awaiting a native
# speaker's review, like content/. "sent_again": the widget sends the message again itself.
WAIT: dict[str, dict[bool, str]] = {
    "sv": {False: "Det kommer många meddelanden just nu. Vänta en liten stund och skriv igen.",
           True: "Du skriver snabbt. Vänta en liten stund, så skickas ditt meddelande."},
    "en": {False: "Many messages are arriving right now. Please wait a moment and write again.",
           True: "You are writing quickly. Please wait a moment; your message will be sent."},
    "ar": {False: "تصل رسائل كثيرة الآن. انتظر لحظة من فضلك ثم اكتب مرة أخرى.",
           True: "أنت تكتب بسرعة. انتظر لحظة من فضلك، وستُرسل رسالتك."},
    "fa": {False: "در این لحظه پیام‌های زیادی می‌رسد. لطفاً کمی صبر کنید و دوباره بنویسید.",
           True: "شما سریع می‌نویسید. لطفاً کمی صبر کنید؛ پیام شما فرستاده می‌شود."},
    "so": {False: "Fariimo badan ayaa hadda imanaya. Fadlan wax yar sug oo mar kale qor.",
           True: "Si dhakhso ah ayaad wax u qoraysaa. Fadlan wax yar sug; fariintaada waa la "
                 "diri doonaa."},
    "ti": {False: "ሕጂ ብዙሕ መልእኽትታት ይመጽእ ኣሎ። በጃኻ ቁሩብ ተጸበ እሞ እንደገና ጽሓፍ።",
           True: "ቀልጢፍካ ትጽሕፍ ኣለኻ። በጃኻ ቁሩብ ተጸበ፤ መልእኽትኻ ክለኣኽ እዩ።"},
    "ru": {False: "Сейчас приходит много сообщений. Подождите немного и напишите снова.",
           True: "Вы пишете очень быстро. Подождите немного — ваше сообщение будет отправлено."},
}  # fmt: skip


def language(code: Any) -> str:
    from bot.settings import LANGUAGES, get_settings

    code = str(code or "").lower().split("-")[0]
    return code if code in LANGUAGES else get_settings().default_language


@lru_cache(maxsize=32)
def limited_answer(lang: str, *, sent_again: bool = False) -> str:
    """A short kind answer for a limited message: wait, and the numbers to call now (the
    lines of content/texts.yml ``crisis`` that carry a number: 112 and the crisis lines)."""
    from bot.content import load_content
    from bot.settings import get_settings

    lang = language(lang)
    crisis = load_content(get_settings().content_dir).text("crisis", lang)
    numbers = [line.strip() for line in crisis.splitlines() if any(c.isdigit() for c in line)]
    return "\n".join([WAIT[lang][sent_again], *numbers])


# -- counters ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: float = 0.0
    limit: str | None = None  # the name of the limit that refused

    def __bool__(self) -> bool:
        return self.allowed


ALLOWED = Verdict(True)


class MemoryCounters:
    """Fixed windows in this process (the dev profile: one Rasa server)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._counts: dict[str, tuple[float, int]] = {}
        self._sets: dict[str, tuple[float, set[str]]] = {}
        self._calls = 0

    def _prune(self, now: float) -> None:
        self._calls += 1
        if self._calls % 1000:
            return
        self._counts = {k: v for k, v in self._counts.items() if v[0] > now}
        self._sets = {k: v for k, v in self._sets.items() if v[0] > now}

    async def hit(self, items: list[tuple[str, Limit]]) -> list[tuple[int, float]]:
        """Count one event on each key; (count so far, seconds left in the window) each."""
        now = self._clock()
        self._prune(now)
        out = []
        for key, limit in items:
            ends, count = self._counts.get(key, (0.0, 0))
            if ends <= now:
                ends, count = now + limit.seconds, 0
            self._counts[key] = (ends, count + 1)
            out.append((count + 1, ends - now))
        return out

    async def add_distinct(self, key: str, member: str, limit: Limit) -> float:
        """0 if ``member`` is in the window's set or fits in it (then added); else the seconds
        until the window ends."""
        now = self._clock()
        ends, members = self._sets.get(key, (0.0, set()))
        if ends <= now:
            ends, members = now + limit.seconds, set()
            self._sets[key] = (ends, members)
        if member in members:
            return 0.0
        if len(members) >= limit.count:
            return ends - now
        members.add(member)
        return 0.0


_HIT = """
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, ARGV[i])
    ttl = tonumber(ARGV[i])
  end
  out[#out + 1] = n
  out[#out + 1] = ttl
end
return out
"""
_DISTINCT = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then return 1 end
  return ttl
end
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 0
"""


class RedisCounters:
    """The same windows in Redis, shared by every Rasa server (one round trip per check)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _redis(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            import redis.asyncio

            self._client = redis.asyncio.Redis.from_url(self._url, socket_timeout=2)
            self._loop = loop
        return self._client

    async def hit(self, items: list[tuple[str, Limit]]) -> list[tuple[int, float]]:
        keys = [key for key, _ in items]
        windows = [int(limit.seconds * 1000) for _, limit in items]
        raw = await self._redis().eval(_HIT, len(keys), *keys, *windows)
        return [(int(raw[i]), int(raw[i + 1]) / 1000) for i in range(0, len(raw), 2)]

    async def add_distinct(self, key: str, member: str, limit: Limit) -> float:
        left = await self._redis().eval(_DISTINCT, 1, key, member, limit.count,
                                        int(limit.seconds * 1000))  # fmt: skip
        return int(left) / 1000


# -- the limits --------------------------------------------------------------------------------
# The client address of the message being handled (set by the channel's check, read when Rasa
# runs an action that would open a handoff: the same asyncio task). Never stored.
current_address: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "abuse_address", default=None
)
handoff_refused: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "abuse_handoff_refused", default=False
)
HANDOFF_REFUSED_KEY = "handoff_refused"  # in the action call's latest_message metadata


class Abuse:
    def __init__(self, limits: dict[str, Limit], counters: Any, *, key: bytes,
                 prefix: str = "abuse") -> None:  # fmt: skip
        self.limits = limits
        self.counters = counters
        self._key = key
        self._prefix = prefix

    def _id(self, kind: str, value: str) -> str:
        digest = hashlib.blake2b(value.encode("utf-8", "replace"), key=self._key,
                                 digest_size=16, person=b"abuse-limits").hexdigest()  # fmt: skip
        return f"{self._prefix}:{kind}:{digest}"

    async def _hit(self, items: Iterable[tuple[str, str, str]]) -> Verdict:
        """Count on each (limit name, kind, value) that has a limit; the first exceeded wins."""
        chosen = [(name, self._id(kind, value), self.limits[name])
                  for name, kind, value in items if name in self.limits]  # fmt: skip
        if not chosen:
            return ALLOWED
        try:
            results = await self.counters.hit([(key, limit) for _, key, limit in chosen])
        except Exception as error:  # noqa: BLE001 - limits fail open, the service goes on
            logger.warning("Abuse limits unavailable (%s)", type(error).__name__)
            return ALLOWED
        for (name, _, limit), (count, left) in zip(chosen, results, strict=True):
            if count > limit.count:
                return Verdict(False, max(0.1, left), name)
        return ALLOWED

    async def _distinct(self, name: str, kind: str, value: str, member: str) -> Verdict:
        limit = self.limits.get(name)
        if limit is None:
            return ALLOWED
        try:
            left = await self.counters.add_distinct(self._id(kind, value),
                                                    self._id("member", member), limit)  # fmt: skip
        except Exception as error:  # noqa: BLE001
            logger.warning("Abuse limits unavailable (%s)", type(error).__name__)
            return ALLOWED
        return Verdict(False, max(0.1, left), name) if left else ALLOWED

    async def check_message(
        self, *, channel: str, conversation_id: str, address: str | None, text: str | None
    ) -> Verdict:
        """May this message go on to Rasa? Crisis messages always may."""
        current_address.set(address)
        if is_crisis(text):
            return ALLOWED
        if address:
            fresh = await self._distinct("address_conversations", "addr-conv", address,
                                         conversation_id)  # fmt: skip
            if not fresh:
                return fresh
        items = [("conversation", "conv", conversation_id), (f"channel.{channel}", "chan", channel)]
        if address:
            items.append(("address", "addr", address))
        return await self._hit(items)

    async def check_session(self, *, address: str | None, conversation_id: str,
                            new: bool) -> Verdict:  # fmt: skip
        """May this address start (``new``) or resume a socket.io session?"""
        if not address:
            return ALLOWED
        verdict = await self._hit([("address_sessions", "addr-sess", address)])
        if verdict and new:
            verdict = await self._distinct("address_conversations", "addr-conv", address,
                                           conversation_id)  # fmt: skip
        return verdict

    async def allow_handoff(self, address: str | None) -> bool:
        """One more handoff from this address (counted)?"""
        if not address:
            return True
        return bool(await self._hit([("address_handoffs", "addr-handoff", address)]))


def _secret_key() -> bytes:
    """The key of the hashes in counter keys: the same on every Rasa server."""
    secret = os.environ.get("RASA_JWT_SECRET") or os.environ.get("SOCKETIO_SESSION_SECRET") or ""
    return hashlib.blake2b(secret.encode(), digest_size=32, person=b"abuse-key").digest()


@lru_cache(maxsize=1)
def get_abuse() -> Abuse:
    """This process's limits: Redis-backed with ABUSE_REDIS_URL (production), else memory."""
    limits = parse_limits(os.environ.get("ABUSE_LIMITS"))
    url = os.environ.get("ABUSE_REDIS_URL")
    prefix = os.environ.get("REDIS_KEY_PREFIX") or "assistant"
    counters: Any = RedisCounters(url) if url else MemoryCounters()
    return Abuse(limits, counters, key=_secret_key(), prefix=f"{prefix}:abuse")


# -- handoffs: the Rasa server decides, the action server obeys --------------------------------
HANDOFF_ACTIONS = frozenset({"action_escalate_to_counsellor", "action_crisis"})


def refused_in(latest_message: Mapping[str, Any] | None) -> bool:
    """For actions/handoff.py: the Rasa server refused one more handoff from this address."""
    metadata = (latest_message or {}).get("metadata") or {}
    return bool(isinstance(metadata, Mapping) and metadata.get(HANDOFF_REFUSED_KEY))


def install() -> None:
    """In the Rasa server: before an action that opens a handoff runs for a message from a
    known address, count the handoff against ``address_handoffs``; over the cap, the action
    call says so (latest_message metadata, only in the call: nothing stored) and the action
    tells the person whom to call instead of queueing a handoff."""
    from rasa.core.actions.action import RemoteAction

    if getattr(RemoteAction.run, "_abuse", False):
        return
    run, call_format = RemoteAction.run, RemoteAction._action_call_format

    async def limited_run(self: RemoteAction, output_channel: Any, nlg: Any, tracker: Any,
                          domain: Any) -> list[Any]:  # fmt: skip
        token = None
        if self.name() in HANDOFF_ACTIONS:
            allowed = await get_abuse().allow_handoff(current_address.get())
            token = handoff_refused.set(not allowed)
            if not allowed:
                logger.warning("Handoff refused: too many from one address")
        try:
            return await run(self, output_channel, nlg, tracker, domain)
        finally:
            if token is not None:
                handoff_refused.reset(token)

    def marked_call_format(self: RemoteAction, tracker: Any, domain: Any) -> Any:
        body = call_format(self, tracker, domain)
        if handoff_refused.get() and isinstance(body, dict):
            latest = body.get("tracker", {}).get("latest_message")
            if isinstance(latest, dict):
                latest["metadata"] = {**(latest.get("metadata") or {}), HANDOFF_REFUSED_KEY: True}
        return body

    limited_run._abuse = True  # type: ignore[attr-defined]
    RemoteAction.run = limited_run  # type: ignore[method-assign]
    RemoteAction._action_call_format = marked_call_format  # type: ignore[method-assign]


# -- the channels' hooks (a few lines each in bot/channels/) -----------------------------------
async def refuse_rest(
    request: Any, channel: str, conversation_id: str, text: str, metadata: Mapping[str, Any]
) -> Any:
    """None if the REST message may go on; else the 429 answer (Retry-After, and the limited
    answer as the REST channel's usual list of bot messages)."""
    from sanic import response

    verdict = await get_abuse().check_message(
        channel=channel, conversation_id=conversation_id, address=request_address(request),
        text=text,
    )  # fmt: skip
    if verdict:
        return None
    answer = [{"recipient_id": conversation_id,
               "text": limited_answer(language(metadata.get("language")))}]  # fmt: skip
    return response.json(answer, status=429,
                         headers={"Retry-After": str(max(1, round(verdict.retry_after)))})
