"""The assistant's clock: Swedish time, movable in tests.

``now()`` is the current time in Europe/Stockholm (timezone-aware), ``today()`` its date. Both
add an offset in seconds read from the file ``VAR_DIR/clock_offset`` (a number, may be
negative or fractional; no file or an unreadable one means 0). The file is read at every call,
so a test moves the clock of already running processes (action server, Rasa) by writing it.
Production never has the file.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.settings import ROOT

STOCKHOLM = ZoneInfo("Europe/Stockholm")
OFFSET_FILE = "clock_offset"


def offset_path() -> Path:
    return Path(os.environ.get("VAR_DIR") or ROOT / "var") / OFFSET_FILE


def offset() -> float:
    """Seconds the assistant's clock is ahead of the real one."""
    try:
        return float(offset_path().read_text(encoding="utf-8").strip() or 0)
    except (OSError, ValueError):
        return 0.0


def set_offset(seconds: float, var_dir: Path | None = None) -> None:
    """Move the clock (tests): written to a temporary file, then renamed, so that a reader
    never sees half a number."""
    path = (var_dir / OFFSET_FILE) if var_dir is not None else offset_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(repr(float(seconds)), encoding="utf-8")
    tmp.replace(path)


def now() -> datetime:
    """The current time in Stockholm, with the offset."""
    return datetime.now(STOCKHOLM) + timedelta(seconds=offset())


def today() -> date:
    return now().date()


def to_real(moment: datetime) -> datetime:
    """The real (wall clock) time at which the assistant's clock shows ``moment``: what a
    scheduler running on the real clock must be given."""
    return moment - timedelta(seconds=offset())
