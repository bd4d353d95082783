"""bot/deadlines.py: told dates in seven languages against a fixed today, deadlines per the facts."""

from __future__ import annotations

from datetime import date

import pytest

from bot.deadlines import (
    APPEAL_DAYS,
    WEEKDAY_NAMES,
    compute_deadline,
    format_date,
    jalali_to_gregorian,
    normalise,
    parse_told_date,
    swedish_holiday,
)

TODAY = date(2026, 11, 23)  # a Monday
LAST_TUESDAY = date(2026, 11, 17)
YESTERDAY = date(2026, 11, 22)
NOV_3 = date(2026, 11, 3)

PARSED = [
    # Swedish
    ("sv", "3 november", NOV_3),
    ("sv", "igår", YESTERDAY),
    ("sv", "i går", YESTERDAY),
    ("sv", "förra tisdagen", LAST_TUESDAY),
    ("sv", "i tisdags", LAST_TUESDAY),
    ("sv", "i förrgår", date(2026, 11, 21)),
    ("sv", "den 3:e november", NOV_3),
    ("sv", "2026-11-03", NOV_3),
    ("sv", "3/11", NOV_3),
    ("sv", "3.11.26", NOV_3),
    ("sv", "för 3 dagar sedan", date(2026, 11, 20)),
    ("sv", "Jag fick beslutet igår.", YESTERDAY),
    ("sv", "24 december", date(2025, 12, 24)),  # no year: the last one, not a future one
    # English
    ("en", "3 November", NOV_3),
    ("en", "3rd of November", NOV_3),
    ("en", "yesterday", YESTERDAY),
    ("en", "last Tuesday", LAST_TUESDAY),
    ("en", "2 days ago", date(2026, 11, 21)),
    # Arabic: Arabic-Indic digits, Levantine month names, relative days
    ("ar", "٣ نوفمبر", NOV_3),
    ("ar", "3 نوفمبر", NOV_3),
    ("ar", "٣ تشرين الثاني", NOV_3),
    ("ar", "أمس", YESTERDAY),
    ("ar", "أول أمس", date(2026, 11, 21)),
    ("ar", "الثلاثاء الماضي", LAST_TUESDAY),
    ("ar", "قبل يومين", date(2026, 11, 21)),
    ("ar", "قبل ٣ أيام", date(2026, 11, 20)),
    ("ar", "٣/١١/٢٠٢٦", NOV_3),
    # Persian: Persian digits, ZWNJ, the Persian calendar (12 Aban 1405 = 3 Nov 2026)
    ("fa", "۳ نوامبر", NOV_3),
    ("fa", "دیروز", YESTERDAY),
    ("fa", "سه\u200cشنبه گذشته", LAST_TUESDAY),
    ("fa", "۲ روز پیش", date(2026, 11, 21)),
    ("fa", "۱۴۰۵/۸/۱۲", NOV_3),
    ("fa", "۱۲ آبان", NOV_3),
    ("fa", "۱۲ عقرب", NOV_3),  # Dari month name
    # Somali: month names as written, relative days, "last Tuesday"
    ("so", "3 Noofembar", NOV_3),
    ("so", "3 Nofembar 2026", NOV_3),
    ("so", "shalay", YESTERDAY),
    ("so", "Talaadadii hore", LAST_TUESDAY),
    ("so", "3 maalmood ka hor", date(2026, 11, 20)),
    # Tigrinya: Ge'ez script months (CLDR and transliterated), yesterday, last Tuesday
    ("ti", "3 ሕዳር", NOV_3),
    ("ti", "ሕዳር 3", NOV_3),
    ("ti", "3 ኖቬምበር", NOV_3),
    ("ti", "ትማሊ", YESTERDAY),
    ("ti", "ዝሓለፈ ሰሉስ", LAST_TUESDAY),
    # Russian
    ("ru", "3 ноября", NOV_3),
    ("ru", "3-е ноября", NOV_3),
    ("ru", "вчера", YESTERDAY),
    ("ru", "позавчера", date(2026, 11, 21)),
    ("ru", "в прошлый вторник", LAST_TUESDAY),
]


@pytest.mark.parametrize(("lang", "text", "expected"), PARSED)
def test_told_date_is_read_in_each_language(lang: str, text: str, expected: date) -> None:
    parsed = parse_told_date(text, lang, TODAY)
    assert (parsed.value, parsed.problem) == (expected, None)


@pytest.mark.parametrize(
    ("lang", "text", "problem"),
    [
        ("sv", "hej hej", "unparsed"),
        ("sv", "30 februari", "unparsed"),
        ("en", "stop", "unparsed"),
        ("ar", "لا أعرف", "unparsed"),
        ("sv", "", "unparsed"),
        ("sv", "x" * 200, "unparsed"),
        ("sv", "5 december 2026", "future"),
        ("ru", "5 декабря 2026", "future"),
        ("sv", "1990-01-01", "too_old"),
    ],
)
def test_what_is_not_a_usable_told_date(lang: str, text: str, problem: str) -> None:
    assert parse_told_date(text, lang, TODAY).problem == problem


@pytest.mark.parametrize("lang", sorted(WEEKDAY_NAMES))
def test_the_date_said_back_reads_back_as_the_same_date(lang: str) -> None:
    for day in (NOV_3, date(2024, 2, 29), date(2025, 12, 31), date(2026, 6, 19)):
        said = format_date(day, lang)
        assert str(day.day) in said and str(day.year) in said
        assert parse_told_date(said, lang, TODAY).value == day, said


def test_format_date_names_weekday_and_month() -> None:
    assert format_date(NOV_3, "sv") == "tisdag 3 november 2026"
    assert format_date(NOV_3, "en") == "Tuesday 3 November 2026"
    assert format_date(NOV_3, "ru") == "вторник, 3 ноября 2026"


def test_normalise_digits_and_marks() -> None:
    assert normalise("٣ نوفمبر", "ar") == "3 نوفمبر"
    assert normalise("۱۴۰۵/۸/۱۲", "fa") == "1405/8/12"
    assert normalise("\u2066Den 3:e November.\u2069", "sv") == "den 3 november"


def test_persian_calendar_conversion() -> None:
    assert jalali_to_gregorian(1403, 1, 1) == date(2024, 3, 20)
    assert jalali_to_gregorian(1399, 12, 30) == date(2021, 3, 20)  # leap year
    assert jalali_to_gregorian(1405, 1, 1) == date(2026, 3, 21)
    assert jalali_to_gregorian(1405, 7, 31) is None


# -- computing ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "decision", "basis", "start", "expected"),
    [
        # appeal: told + 3 weeks, across month and year ends and a leap day
        ("appeal", "agency", "told", date(2026, 11, 3), date(2026, 11, 24)),
        ("appeal", "agency", "told", date(2026, 11, 20), date(2026, 12, 11)),
        ("appeal", "agency", "told", date(2026, 12, 20), date(2027, 1, 10)),
        ("appeal", "agency", "told", date(2028, 2, 10), date(2028, 3, 2)),
        ("appeal", "agency", "told", date(2028, 2, 8), date(2028, 2, 29)),
        # departure from the day told: final 3 weeks later, then 2 / 4 weeks
        ("departure", "refusal_of_entry", "told", date(2026, 11, 3), date(2026, 12, 8)),
        ("departure", "expulsion", "told", date(2026, 11, 3), date(2026, 12, 22)),
        ("departure", "expulsion", "told", date(2026, 12, 1), date(2027, 1, 19)),
        # departure from the day it became final (e.g. a signed nöjdförklaring)
        ("departure", "refusal_of_entry", "final", date(2026, 12, 20), date(2027, 1, 3)),
        ("departure", "expulsion", "final", date(2028, 2, 1), date(2028, 2, 29)),
    ],
)
def test_deadline_dates(kind, decision, basis, start, expected) -> None:
    deadline = compute_deadline(kind, decision, start, TODAY, basis)
    assert deadline is not None
    assert deadline.date == expected
    assert deadline.days_left == (expected - TODAY).days
    assert deadline.past == (expected < TODAY)


def test_departure_from_told_states_the_final_date_it_rests_on() -> None:
    deadline = compute_deadline("departure", "expulsion", NOV_3, TODAY, "told")
    assert deadline.final == date(2026, 11, 24) and deadline.period_days == 28
    final = compute_deadline("departure", "expulsion", NOV_3, TODAY, "final")
    assert final.final == NOV_3 and final.date == date(2026, 12, 1)


def test_past_and_today() -> None:
    past = compute_deadline("appeal", "agency", date(2026, 10, 1), TODAY)
    assert past.past and past.days_left == -32  # 22 October
    today = compute_deadline("appeal", "agency", TODAY.replace(day=2), TODAY)
    assert today.date == TODAY and today.days_left == 0 and not today.past


def test_weekend_and_holiday_are_flagged_never_moved() -> None:
    christmas = compute_deadline("appeal", "agency", date(2026, 12, 4), TODAY)
    assert christmas.date == date(2026, 12, 25)  # not moved
    assert christmas.holiday == "Juldagen" and not christmas.weekend
    midsummer = compute_deadline("departure", "refusal_of_entry", date(2026, 6, 6), TODAY, "final")
    assert midsummer.date == date(2026, 6, 20)
    assert midsummer.holiday == "Midsommardagen" and midsummer.weekend
    saturday = compute_deadline("appeal", "agency", date(2026, 11, 7), TODAY)
    assert saturday.date == date(2026, 11, 28) and saturday.weekend and saturday.holiday is None
    weekday = compute_deadline("appeal", "agency", date(2026, 11, 3), TODAY)
    assert not weekday.weekend and weekday.holiday is None


def test_swedish_holidays_without_ordinary_sundays() -> None:
    assert swedish_holiday(date(2027, 1, 1)) == "Nyårsdagen"
    assert swedish_holiday(date(2026, 4, 3)) == "Långfredagen"  # Easter-based
    assert swedish_holiday(date(2026, 6, 6)) is not None
    assert swedish_holiday(date(2026, 11, 22)) is None  # an ordinary Sunday


def test_no_date_where_the_facts_give_no_period() -> None:
    assert compute_deadline("appeal", "court", NOV_3, TODAY) is None
    assert compute_deadline("departure", "expulsion", NOV_3, TODAY, "unknown") is None


@pytest.mark.parametrize(
    ("kind", "decision", "basis"),
    [("appeal", "expulsion", "told"), ("departure", "agency", "told"),
     ("departure", "expulsion", "guess"), ("other", "agency", "told")],
)  # fmt: skip
def test_unknown_combinations_are_refused(kind, decision, basis) -> None:
    with pytest.raises(ValueError):
        compute_deadline(kind, decision, NOV_3, TODAY, basis)


def test_appeal_period_is_the_facts_three_weeks() -> None:
    assert APPEAL_DAYS == 21
