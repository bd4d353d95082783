"""Counsellors' opening hours, from configuration ("mon-fri 09:00-17:00; sat 10:00-13:00")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SEGMENT = re.compile(
    r"^\s*(?P<d1>[a-z]{3})(?:\s*-\s*(?P<d2>[a-z]{3}))?\s+"
    r"(?P<h1>\d{1,2}):(?P<m1>\d{2})\s*-\s*(?P<h2>\d{1,2}):(?P<m2>\d{2})\s*$"
)


@dataclass(frozen=True)
class OfficeHours:
    spans: tuple[tuple[int, time, time], ...]  # (weekday, start, end)
    tz: ZoneInfo

    @classmethod
    def parse(cls, spec: str, tz: str = "Europe/Stockholm") -> OfficeHours:
        spans: list[tuple[int, time, time]] = []
        for part in filter(None, (p.strip() for p in spec.lower().split(";"))):
            m = _SEGMENT.match(part)
            if not m or m["d1"] not in DAYS or (m["d2"] and m["d2"] not in DAYS):
                raise ValueError(f"office hours: cannot read {part!r} (e.g. 'mon-fri 09:00-17:00')")
            first = DAYS.index(m["d1"])
            last = DAYS.index(m["d2"]) if m["d2"] else first
            start = time(int(m["h1"]), int(m["m1"]))
            end = time(int(m["h2"]), int(m["m2"]))
            if end <= start:
                raise ValueError(f"office hours: {part!r} ends before it starts")
            for day in range(first, last + 1):
                spans.append((day, start, end))
        return cls(tuple(spans), ZoneInfo(tz))

    def _local(self, now: datetime | None) -> datetime:
        now = now or datetime.now(self.tz)
        if now.tzinfo is None:
            now = now.replace(tzinfo=self.tz)
        return now.astimezone(self.tz)

    def is_open(self, now: datetime | None = None) -> bool:
        local = self._local(now)
        return any(
            day == local.weekday() and start <= local.time() < end for day, start, end in self.spans
        )

    def next_open(self, now: datetime | None = None) -> datetime | None:
        """When counsellors are next available (now, if open). None if never."""
        local = self._local(now)
        if self.is_open(local):
            return local
        for offset in range(0, 8):
            day = (local + timedelta(days=offset)).date()
            starts = sorted(s for d, s, _ in self.spans if d == day.weekday())
            for start in starts:
                candidate = datetime.combine(day, start, tzinfo=self.tz)
                if candidate > local:
                    return candidate
        return None


# Weekday abbreviations for the opening hours shown to users, Monday first.
_DAY_NAMES = {
    "sv": ("mån", "tis", "ons", "tor", "fre", "lör", "sön"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "ar": ("الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد"),
    "fa": ("دوشنبه", "سه‌شنبه", "چهارشنبه", "پنجشنبه", "جمعه", "شنبه", "یکشنبه"),
    "so": ("Isniin", "Talaado", "Arbaco", "Khamiis", "Jimco", "Sabti", "Axad"),
    "ti": ("ሰኑይ", "ሰሉስ", "ረቡዕ", "ሓሙስ", "ዓርቢ", "ቀዳም", "ሰንበት"),
    "ru": ("пн", "вт", "ср", "чт", "пт", "сб", "вс"),
}


def describe(hours: OfficeHours, lang: str) -> str:
    """Opening hours in the user's language: "mån–fre 09:00–17:00"."""
    names = _DAY_NAMES.get(lang, _DAY_NAMES["en"])
    by_range: dict[tuple[time, time], list[int]] = {}
    for day, start, end in hours.spans:
        by_range.setdefault((start, end), []).append(day)
    parts = []
    for (start, end), days in by_range.items():
        days = sorted(set(days))
        runs: list[str] = []
        first = prev = days[0]
        for d in days[1:] + [None]:  # type: ignore[list-item]
            if d is not None and d == prev + 1:
                prev = d
                continue
            runs.append(names[first] if first == prev else f"{names[first]}–{names[prev]}")
            if d is not None:
                first = prev = d
        parts.append(f"{', '.join(runs)} {start:%H:%M}–{end:%H:%M}")
    return "; ".join(parts)


def describe_moment(moment: datetime, lang: str) -> str:
    """A point in time for users: "tis 09:00 (2026-11-24)"."""
    names = _DAY_NAMES.get(lang, _DAY_NAMES["en"])
    return f"{names[moment.weekday()]} {moment:%H:%M} ({moment:%Y-%m-%d})"
