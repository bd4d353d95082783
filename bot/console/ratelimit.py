"""Login throttling, in memory: slows guessing down without locking anybody out.

Three counts, all keyed by what the attempt names (the username as typed, whether or not such an
account exists, so being throttled says nothing about which accounts exist) and by the client's
real address (behind nginx: the X-Forwarded-For it sets, trusted from the configured proxy only;
IPv6 by its /64, which one client usually holds whole):

- per address, whatever the username: at most ``per_address_per_minute`` attempts a minute
  (guessing across many names);
- per (account, address): ``free_failures`` wrong passwords, then each further attempt waits a
  delay that doubles with every failure up to ``max_delay`` (guessing one account from one
  place). Someone guessing at an account from their own address never slows down its owner at
  another;
- per account, from addresses where it has not logged in lately: at most
  ``account_failures_per_hour`` failures an hour from all of them together (guessing one
  account from many addresses). Addresses where the account logged in during the last
  ``known_for`` are exempt, so a distributed attack does not keep the counsellor out either.

Nothing here ends a session or locks an account: a throttled attempt is answered like a wrong
password and changes nothing. One console process serves one office; several processes would
each count on their own (still a bound), and a restart forgets the counts.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass


@dataclass(frozen=True)
class LoginLimits:
    per_address_per_minute: int = 20
    free_failures: int = 3
    first_delay: float = 2.0  # seconds, after the free failures; doubles with each failure
    max_delay: float = 900.0
    forget_after: float = 24 * 3600.0  # a (account, address) with no failure this long: fresh
    account_failures_per_hour: int = 30
    known_for: float = 30 * 24 * 3600.0
    max_keys: int = 50_000  # per table; the oldest are forgotten first


def address_key(host: str | None) -> str:
    """The client as the limits count it: an IPv4 address, an IPv6 /64, or the raw value."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is 192.0.2.1
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


@dataclass
class _Strikes:
    failures: int
    last: float


class _Bounded(OrderedDict):  # type: ignore[type-arg]
    """A dict that forgets its least recently written keys beyond ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: object, value: object) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


class LoginThrottle:
    """``allowed`` before the password is looked at; ``failed`` / ``succeeded`` after."""

    def __init__(self, limits: LoginLimits | None = None) -> None:
        self.limits = limits or LoginLimits()
        n = self.limits.max_keys
        self._lock = threading.Lock()
        self._per_address: _Bounded = _Bounded(n)  # address -> deque of attempt times
        self._pairs: _Bounded = _Bounded(n)  # (username, address) -> _Strikes
        self._accounts: _Bounded = _Bounded(n)  # username -> deque of failure times
        self._known: _Bounded = _Bounded(n)  # (username, address) -> last success

    def _delay(self, failures: int) -> float:
        """The wait after the ``failures``-th failure: none while free, then first_delay,
        doubling with each further failure."""
        over = failures - self.limits.free_failures
        if over <= 0:
            return 0.0
        return min(self.limits.first_delay * 2 ** (over - 1), self.limits.max_delay)

    def _is_known(self, username: str, address: str, now: float) -> bool:
        since = self._known.get((username, address))
        return since is not None and now - since < self.limits.known_for

    def allowed(self, username: str, address: str, now: float | None = None) -> bool:
        """Whether this attempt may have its password checked; counts it for the address."""
        now = time.monotonic() if now is None else now
        limits = self.limits
        with self._lock:
            hits = self._per_address.get(address) or deque()
            while hits and hits[0] <= now - 60.0:
                hits.popleft()
            over_address = len(hits) >= limits.per_address_per_minute
            hits.append(now)
            if len(hits) > 4 * limits.per_address_per_minute:  # a flood: bounded memory
                hits.popleft()
            self._per_address.put(address, hits)
            if over_address:
                return False
            strikes = self._pairs.get((username, address))
            if strikes is not None:
                if now - strikes.last >= limits.forget_after:
                    del self._pairs[(username, address)]
                elif now - strikes.last < self._delay(strikes.failures):
                    return False
            if not self._is_known(username, address, now):
                failures = self._accounts.get(username)
                if failures is not None:
                    while failures and failures[0] <= now - 3600.0:
                        failures.popleft()
                    if len(failures) >= limits.account_failures_per_hour:
                        return False
            return True

    def failed(self, username: str, address: str, now: float | None = None) -> None:
        """A wrong password (or no such account: counted the same way)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            strikes = self._pairs.get((username, address)) or _Strikes(0, now)
            strikes.failures += 1
            strikes.last = now
            self._pairs.put((username, address), strikes)
            if not self._is_known(username, address, now):
                failures = self._accounts.get(username) or deque()
                failures.append(now)
                while len(failures) > self.limits.account_failures_per_hour:
                    failures.popleft()
                self._accounts.put(username, failures)

    def succeeded(self, username: str, address: str, now: float | None = None) -> None:
        """The right password: this address is known for the account; its strikes are gone."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._pairs.pop((username, address), None)
            self._known.put((username, address), now)
