from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.office_hours import OfficeHours, describe, describe_moment

TZ = ZoneInfo("Europe/Stockholm")
HOURS = OfficeHours.parse("mon-fri 09:00-17:00; sat 10:00-13:00")


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        (datetime(2026, 11, 23, 9, 0, tzinfo=TZ), True),    # Monday opening minute
        (datetime(2026, 11, 23, 16, 59, tzinfo=TZ), True),
        (datetime(2026, 11, 23, 17, 0, tzinfo=TZ), False),  # closing is exclusive
        (datetime(2026, 11, 28, 11, 0, tzinfo=TZ), True),   # Saturday
        (datetime(2026, 11, 29, 11, 0, tzinfo=TZ), False),  # Sunday
    ],
)
def test_is_open(moment: datetime, is_open: bool) -> None:
    assert HOURS.is_open(moment) is is_open


def test_next_open_skips_the_weekend() -> None:
    sunday = datetime(2026, 11, 29, 20, 0, tzinfo=TZ)
    assert HOURS.next_open(sunday) == datetime(2026, 11, 30, 9, 0, tzinfo=TZ)
    friday_evening = datetime(2026, 11, 27, 18, 0, tzinfo=TZ)
    assert HOURS.next_open(friday_evening) == datetime(2026, 11, 28, 10, 0, tzinfo=TZ)


def test_utc_input_is_converted() -> None:
    utc = datetime(2026, 11, 23, 8, 30, tzinfo=ZoneInfo("UTC"))  # 09:30 in Stockholm
    assert HOURS.is_open(utc)


def test_describe_in_languages() -> None:
    assert describe(HOURS, "sv") == "mån–fre 09:00–17:00; lör 10:00–13:00"
    assert describe(HOURS, "en") == "Mon–Fri 09:00–17:00; Sat 10:00–13:00"
    assert describe_moment(datetime(2026, 11, 24, 9, 0, tzinfo=TZ), "sv") == "tis 09:00 (2026-11-24)"


@pytest.mark.parametrize("bad", ["monday 9-5", "mon-fri 17:00-09:00", "xyz 09:00-10:00"])
def test_bad_configuration_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        OfficeHours.parse(bad)
