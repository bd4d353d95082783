"""The console's own knobs: session lifetimes, login limits, how often streams poll.

Defaults fit one office; tests shorten the polling and the limits where they need to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from bot.console.ratelimit import LoginLimits


@dataclass(frozen=True)
class ConsoleConfig:
    session_idle: timedelta = timedelta(hours=8)
    session_max_age: timedelta = timedelta(hours=12)
    # Login throttling (bot/console/ratelimit.py): per address, per (account, address) with
    # growing delays, per account from unknown addresses. Never a lockout.
    login: LoginLimits = field(default_factory=LoginLimits)
    reply_max_chars: int = 2000
    # Server-side polling behind the event streams: queue from the database, transcript from
    # Rasa's tracker. Well under the 2 s (queue) and 1 s (new user message) the console promises.
    queue_poll_seconds: float = 0.5
    transcript_poll_seconds: float = 0.3
    # with the production profile's event broker: how often a live transcript stream still
    # looks at the handoff's status and the login between events
    live_check_seconds: float = 2.0
    heartbeat_seconds: float = 15.0
    # How often an open stream re-checks that its login is still valid.
    stream_auth_seconds: float = 5.0
    cookie_name: str = "console_session"
