"""Deadlines from a person's decision: the told date parsed in seven languages, the date computed.

Pure functions, no Rasa imports; ``today`` is always a parameter (the actions pass
``bot.clock.today()``). The rules are those of docs/facts.md, nothing else:

- appeal of a Migration Agency decision: the period written in the decision, often three weeks
  from the day the person was told (computed here as told + 21 days, said as an assumption);
- appeal of a migration court judgment: the period is **unconfirmed** in the facts, so no date
  is computed (``compute_deadline`` returns None);
- voluntary departure: 2 weeks (refusal of entry) / 4 weeks (expulsion) from the day the
  decision became final (laga kraft), which is usually 3 weeks after being told (assumption
  "told"), or the day the person gives as final, e.g. a signed nöjdförklaring (basis "final").

The facts have no rule on moving a deadline that falls on a weekend or a public holiday: the
result only flags it (``weekend``, ``holiday``), it never moves the date.

Dates are parsed with ``dateparser`` (CLDR data for all seven languages) after a small
normalisation for what it lacks: Arabic-Indic and Persian digits, ISO and numeric dates
(day first), "last Tuesday" in every language, yesterday / the day before / N days ago in
Arabic, Persian, Somali and Tigrinya, Levantine Arabic, Somali and Ge'ez-script month names.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

KINDS = ("appeal", "departure")
APPEAL_DECISIONS = ("agency", "court")
DEPARTURE_DECISIONS = ("refusal_of_entry", "expulsion")
BASES = ("told", "final", "unknown")

APPEAL_DAYS = 21  # "often 3 weeks from the day you were told" (facts §1)
FINAL_AFTER_TOLD_DAYS = 21  # laga kraft "usually 3 weeks after you were told" (facts §1)
DEPARTURE_DAYS = {"refusal_of_entry": 14, "expulsion": 28}  # facts §2
OLDEST_YEARS = 10  # a told date further back is not a date this tool can help with

# -- normalisation ---------------------------------------------------------------------------
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_ARABIC_LETTERS = str.maketrans({"ي": "ی", "ك": "ک", "ى": "ی"})  # Persian forms
_ZW = re.compile("[\u200c\u200d\u200e\u200f\u2066-\u2069\u061c]")

# Weekday names (Monday = 0), longest first where one contains another.
WEEKDAYS: dict[str, dict[str, int]] = {
    "sv": {"måndag": 0, "tisdag": 1, "onsdag": 2, "torsdag": 3, "fredag": 4, "lördag": 5,
           "söndag": 6, "mandag": 0, "lordag": 5, "sondag": 6},
    "en": {"monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4,
           "saturday": 5, "sunday": 6},
    "ar": {"الاثنين": 0, "الإثنين": 0, "الثلاثاء": 1, "الثلاثا": 1, "الأربعاء": 2,
           "الاربعاء": 2, "الخميس": 3, "الجمعة": 4, "الجمعه": 4, "السبت": 5, "الأحد": 6,
           "الاحد": 6},
    "fa": {"یک شنبه": 6, "یکشنبه": 6, "دوشنبه": 0, "دو شنبه": 0, "سه شنبه": 1, "سهشنبه": 1,
           "چهارشنبه": 2, "چهار شنبه": 2, "پنجشنبه": 3, "پنج شنبه": 3, "جمعه": 4, "شنبه": 5},
    "ru": {"понедельник": 0, "вторник": 1, "среду": 2, "среда": 2, "четверг": 3,
           "пятницу": 4, "пятница": 4, "субботу": 5, "суббота": 5, "воскресенье": 6},
    "so": {"isniin": 0, "talaado": 1, "talaada": 1, "arbaco": 2, "arbacada": 2, "khamiis": 3,
           "jimco": 4, "jimcaha": 4, "sabti": 5, "axad": 6, "axadda": 6},
    "ti": {"ሰኑይ": 0, "ሰሉስ": 1, "ረቡዕ": 2, "ሓሙስ": 3, "ዓርቢ": 4, "ቀዳም": 5, "ሰንበት": 6},
}  # fmt: skip

# Relative days: phrase -> days back. Longer phrases are tried first.
RELATIVE: dict[str, dict[str, int]] = {
    "sv": {"i förrgår": 2, "förrgår": 2, "i går": 1, "igår": 1, "idag": 0, "i dag": 0},
    "en": {"the day before yesterday": 2, "day before yesterday": 2, "yesterday": 1,
           "today": 0},
    "ar": {"أول أمس": 2, "اول امس": 2, "أول امس": 2, "اول أمس": 2, "أول البارحة": 2,
           "أمس": 1, "امس": 1, "البارحة": 1, "البارحه": 1, "اليوم": 0},
    "fa": {"پریروز": 2, "پری روز": 2, "دیروز": 1, "امروز": 0},
    "ru": {"позавчера": 2, "вчера": 1, "сегодня": 0},
    "so": {"dorraad": 2, "shalay": 1, "maanta": 0},
    "ti": {"ቅድሚ ትማሊ": 2, "ትማሊ": 1, "ሎሚ": 0},
}  # fmt: skip

# N days/weeks ago where dateparser lacks it: (pattern, days per unit).
_NUM = r"(\d{1,3})"
AGO: dict[str, tuple[tuple[str, int], ...]] = {
    "ar": ((r"قبل\s+" + _NUM + r"\s+(?:يوم|أيام|ايام)", 1), (r"قبل\s+يومين", -2),
           (r"قبل\s+" + _NUM + r"\s+(?:أسبوع|اسبوع|أسابيع|اسابيع)", 7),
           (r"قبل\s+(?:أسبوعين|اسبوعين)", -14), (r"قبل\s+(?:أسبوع|اسبوع)", -7),
           (r"قبل\s+(?:يوم)", -1)),
    "fa": ((_NUM + r"\s+روز\s+(?:پیش|قبل)", 1), (_NUM + r"\s+هفته\s+(?:پیش|قبل)", 7),
           (r"(?:یک|یه)\s+هفته\s+(?:پیش|قبل)", -7), (r"دو\s+هفته\s+(?:پیش|قبل)", -14),
           (r"دو\s+روز\s+(?:پیش|قبل)", -2), (r"سه\s+روز\s+(?:پیش|قبل)", -3)),
    "so": ((_NUM + r"\s+(?:maalin|maalmood|maalmo)\s+ka\s+hor", 1),
           (_NUM + r"\s+(?:toddobaad|toddobaadyo|usbuuc)\s+ka\s+hor", 7),
           (r"(?:toddobaad|usbuuc)\s+ka\s+hor", -7)),
    "ti": ((r"ቅድሚ\s+" + _NUM + r"\s+(?:መዓልቲ|መዓልትታት)", 1),
           (r"ቅድሚ\s+" + _NUM + r"\s+(?:ሰሙን|ሰሙናት)", 7), (r"ቅድሚ\s+ሰሙን", -7)),
}  # fmt: skip

# Month names dateparser does not know -> English.
MONTHS: dict[str, dict[str, str]] = {
    "ar": {"كانون الثاني": "january", "شباط": "february", "آذار": "march", "اذار": "march",
           "نيسان": "april", "أيار": "may", "ايار": "may", "حزيران": "june", "تموز": "july",
           "آب": "august", "اب": "august", "أيلول": "september", "ايلول": "september",
           "تشرين الأول": "october", "تشرين الاول": "october", "تشرين الثاني": "november",
           "كانون الأول": "december", "كانون الاول": "december", "جانفي": "january",
           "فيفري": "february", "أفريل": "april", "افريل": "april", "جوان": "june",
           "جويلية": "july", "أوت": "august", "اوت": "august"},
    "so": {"janaayo": "january", "jannaayo": "january", "janaayu": "january",
           "febraayo": "february", "feebarweri": "february", "febarweri": "february",
           "feebraayo": "february", "maarso": "march", "marso": "march", "abriil": "april",
           "abril": "april", "maajo": "may", "maayo": "may", "juun": "june", "juunyo": "june",
           "luulyo": "july", "luuliyo": "july", "agoosto": "august", "ogosto": "august",
           "agosto": "august", "sebtembar": "september", "sebteembar": "september",
           "setembar": "september", "oktoobar": "october", "oktobar": "october",
           "nofembar": "november", "noofembar": "november", "nofeembar": "november",
           "nowembar": "november", "diseembar": "december", "desembar": "december",
           "disembar": "december"},
    "ti": {"ጃንዩወሪ": "january", "ጃንዋሪ": "january", "ፌብሩወሪ": "february",
           "ፌብሩዋሪ": "february", "ማርች": "march", "ኤፕሪል": "april", "ኤፕረል": "april",
           "ሜይ": "may", "ጁን": "june", "ጁላይ": "july", "ኦገስት": "august", "ኦጋስት": "august",
           "ሴፕቴምበር": "september", "ሰፕቴምበር": "september", "ኦክቶበር": "october",
           "ኖቬምበር": "november", "ኖቨምበር": "november", "ዲሴምበር": "december"},
}  # fmt: skip

# Persian (Iran) and Dari (Afghanistan) solar months, numbered from 1.
SOLAR_MONTHS = {
    "فروردین": 1, "اردیبهشت": 2, "خرداد": 3, "تیر": 4, "مرداد": 5, "امرداد": 5, "شهریور": 6,
    "مهر": 7, "آبان": 8, "آذر": 9, "دی": 10, "بهمن": 11, "اسفند": 12,
    "حمل": 1, "ثور": 2, "جوزا": 3, "سرطان": 4, "اسد": 5, "سنبله": 6, "میزان": 7, "عقرب": 8,
    "قوس": 9, "جدی": 10, "دلو": 11, "حوت": 12,
}  # fmt: skip
_SOLAR = re.compile(
    r"^(\d{1,2})\s+(" + "|".join(sorted(SOLAR_MONTHS, key=len, reverse=True)) + r")(?:\s+(\d{4}))?$"
)

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_NUMERIC = re.compile(r"^(\d{1,2})\s*[./\-]\s*(\d{1,2})(?:\s*[./\-]\s*(\d{2}|\d{4}))?$")
_ORDINAL = re.compile(r"(\d)(?::[ae]|st|nd|rd|th|-?е|-?го|-?ого)\b", re.IGNORECASE)
_NOISE = re.compile(r"[,.!?؟،;:]+(?=\s|$)")


def normalise(text: str, lang: str) -> str:
    """Text prepared for parsing: Western digits, no direction or joiner marks, lower case,
    Persian letter forms for Persian, ordinal endings and trailing punctuation removed."""
    text = unicodedata.normalize("NFC", text or "").translate(_DIGITS)
    text = _ZW.sub(" ", text)
    if lang == "fa":
        text = text.translate(_ARABIC_LETTERS)
    text = _ORDINAL.sub(r"\1", text.casefold())
    text = _NOISE.sub(" ", text)
    return " ".join(text.split())


def _has_word(text: str, word: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(word) + r"(?!\w)", text) is not None


def _find_weekday(text: str, lang: str) -> int | None:
    """A weekday named in ``text``. A weekday alone, with or without "last" ("förra
    tisdagen", "i tisdags", "в прошлый вторник", "الثلاثاء الماضي"), means the most recent one
    before today; the confirmation question catches the other reading."""
    for word in sorted(WEEKDAYS.get(lang, {}), key=len, reverse=True):
        # Swedish/Somali/Russian forms grow at the end: "tisdagen", "tisdags", "talaadadii"
        pattern = re.escape(word) + (r"\w*" if lang in ("sv", "so", "ru", "en") else "")
        if re.search(r"(?<!\w)" + pattern + r"(?!\w)", text):
            return WEEKDAYS[lang][word]
    return None


def last_weekday(weekday: int, today: date) -> date:
    """The most recent ``weekday`` strictly before ``today``."""
    back = (today.weekday() - weekday) % 7 or 7
    return today - timedelta(days=back)


def _relative(text: str, lang: str, today: date) -> date | None:
    """Days back, "N days ago" and "last <weekday>" in the person's language (and English)."""
    for code in dict.fromkeys((lang, "en")):
        for phrase in sorted(RELATIVE.get(code, {}), key=len, reverse=True):
            if _has_word(text, phrase):
                return today - timedelta(days=RELATIVE[code][phrase])
        for pattern, unit in AGO.get(code, ()):
            m = re.search(pattern, text)
            if m:
                return today - timedelta(days=-unit if unit < 0 else int(m.group(1)) * unit)
        weekday = _find_weekday(text, code)
        if weekday is not None and not re.search(r"\d", text):
            return last_weekday(weekday, today)
    return None


def jalali_to_gregorian(jy: int, jm: int, jd: int) -> date | None:
    """A solar hijri (Persian calendar) date as a Gregorian date; None if it does not exist."""
    if not (1 <= jm <= 12 and 1 <= jd <= (31 if jm <= 6 else 30)):
        return None
    jy += 1595
    days = -355668 + 365 * jy + (jy // 33) * 8 + ((jy % 33) + 3) // 4 + jd
    days += (jm - 1) * 31 if jm < 7 else (jm - 7) * 30 + 186
    gy = 400 * (days // 146097)
    days %= 146097
    if days > 36524:
        days -= 1
        gy += 100 * (days // 36524)
        days %= 36524
        if days >= 365:
            days += 1
    gy += 4 * (days // 1461)
    days %= 1461
    if days > 365:
        gy += (days - 1) // 365
        days = (days - 1) % 365
    return date(gy, 1, 1) + timedelta(days=days)


def _solar(jy: int | None, jm: int, jd: int, today: date) -> date | None:
    """A Persian-calendar date; without a year the latest one not after today."""
    if jy is not None:
        return jalali_to_gregorian(jy, jm, jd)
    for year in (today.year - 621, today.year - 622):
        found = jalali_to_gregorian(year, jm, jd)
        if found and found <= today:
            return found
    return None


def _numeric(text: str, today: date) -> date | None:
    m = _ISO.match(text) or re.match(r"^(\d{4})/(\d{1,2})/(\d{1,2})$", text)
    if m:
        y, mo, d = (int(g) for g in m.groups())
        if 1300 <= y <= 1500:  # a Persian-calendar year (1405 = 2026/27)
            return _solar(y, mo, d, today)
        return _safe_date(y, mo, d)
    m = _SOLAR.match(text)
    if m:
        return _solar(int(m.group(3)) if m.group(3) else None, SOLAR_MONTHS[m.group(2)],
                      int(m.group(1)), today)  # fmt: skip
    m = _NUMERIC.match(text)
    if m:
        d, mo = int(m.group(1)), int(m.group(2))
        year = m.group(3)
        if year is None:
            found = _safe_date(today.year, mo, d)
            if found and found > today:
                found = _safe_date(today.year - 1, mo, d)
            return found
        y = int(year) + (2000 if len(year) == 2 else 0)
        return _safe_date(y, mo, d)
    return None


def _safe_date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _strip_weekdays(text: str, lang: str) -> str:
    """A date with its weekday ("tisdag 3 november") without it: the date decides."""
    for code in dict.fromkeys((lang, "en")):
        for word in sorted(WEEKDAYS.get(code, {}), key=len, reverse=True):
            text = re.sub(r"(?<!\w)" + re.escape(word) + r"\w*(?!\w)", " ", text)
    return " ".join(text.split())


def _months_to_english(text: str, lang: str) -> str:
    for name in sorted(MONTHS.get(lang, {}), key=len, reverse=True):
        text = re.sub(r"(?<!\w)" + re.escape(name) + r"(?!\w)", MONTHS[lang][name], text)
    return text


@dataclass(frozen=True)
class ParsedDate:
    """A told date, or why there is none: ``problem`` is None, "unparsed", "future" or
    "too_old"."""

    value: date | None
    problem: str | None = None


def parse_told_date(text: str, lang: str, today: date) -> ParsedDate:
    """The date a person gives ("3 november", "igår", "٣ نوفمبر", "в прошлый вторник") as a
    date on or before ``today``. Dates without a year are taken in the past."""
    clean = normalise(text, lang)
    if not clean or len(clean) > 60:
        return ParsedDate(None, "unparsed")
    found = _numeric(clean, today) or _relative(clean, lang, today)
    if found is None:
        found = _dateparser(_months_to_english(_strip_weekdays(clean, lang), lang), lang, today)
    if found is None:
        return ParsedDate(None, "unparsed")
    if found > today:
        return ParsedDate(found, "future")
    if found.year < today.year - OLDEST_YEARS:
        return ParsedDate(found, "too_old")
    return ParsedDate(found, None)


@lru_cache(maxsize=8)
def _languages(lang: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys((lang, "en")))


def _dateparser(text: str, lang: str, today: date) -> date | None:
    import dateparser  # loaded on first use: its language data takes a moment

    settings = {
        "RELATIVE_BASE": datetime(today.year, today.month, today.day, 12, 0),
        "PREFER_DATES_FROM": "past",
        "DATE_ORDER": "DMY",
        "REQUIRE_PARTS": ["day", "month"],
        "RETURN_TIME_AS_PERIOD": False,
    }
    try:
        result = dateparser.parse(text, languages=list(_languages(lang)), settings=settings)
    except Exception:  # dateparser raises on some odd inputs; that is "not a date"
        return None
    return result.date() if result else None


# -- the deadline ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Deadline:
    kind: str  # "appeal" | "departure"
    decision: str  # "agency" | "refusal_of_entry" | "expulsion"
    basis: str  # "told": counted from the day told; "final": from the day it became final
    start: date  # the date the person gave
    final: date | None  # the laga kraft date the departure time counts from
    date: date
    period_days: int
    days_left: int  # negative when past
    past: bool
    weekend: bool
    holiday: str | None  # the Swedish public holiday's name (Swedish), if it is one

    @property
    def weekday(self) -> int:
        return self.date.weekday()


def swedish_holiday(day: date) -> str | None:
    """The name of the Swedish public holiday on ``day`` (Sundays not counted), or None."""
    return _holidays(day.year).get(day)


@lru_cache(maxsize=16)
def _holidays(year: int) -> dict[date, str]:
    import holidays

    calendar = holidays.Sweden(years=[year], include_sundays=False, language="sv")
    return dict(calendar.items())


def compute_deadline(
    kind: str, decision: str, start: date, today: date, basis: str = "told"
) -> Deadline | None:
    """The deadline under the facts, or None where the facts give no period to count
    (appeal of a court judgment) or the person does not know the date it counts from."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    if kind == "appeal":
        if decision not in APPEAL_DECISIONS:
            raise ValueError(f"unknown appeal decision {decision!r}")
        if decision == "court":
            return None  # the period for appealing a court judgment is unconfirmed
        final, period, day = None, APPEAL_DAYS, start + timedelta(days=APPEAL_DAYS)
        basis = "told"
    else:
        if decision not in DEPARTURE_DECISIONS:
            raise ValueError(f"unknown departure decision {decision!r}")
        if basis not in BASES:
            raise ValueError(f"unknown basis {basis!r}")
        if basis == "unknown":
            return None
        final = start + timedelta(days=FINAL_AFTER_TOLD_DAYS) if basis == "told" else start
        period = DEPARTURE_DAYS[decision]
        day = final + timedelta(days=period)
    left = (day - today).days
    return Deadline(
        kind=kind, decision=decision, basis=basis, start=start, final=final, date=day,
        period_days=period, days_left=left, past=left < 0, weekend=day.weekday() >= 5,
        holiday=swedish_holiday(day),
    )  # fmt: skip


# -- saying a date back ----------------------------------------------------------------------
WEEKDAY_NAMES: dict[str, tuple[str, ...]] = {
    "sv": ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "ar": ("الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد"),
    "fa": ("دوشنبه", "سه\u200cشنبه", "چهارشنبه", "پنجشنبه", "جمعه", "شنبه", "یکشنبه"),
    "so": ("Isniin", "Talaado", "Arbaco", "Khamiis", "Jimco", "Sabti", "Axad"),
    "ti": ("ሰኑይ", "ሰሉስ", "ረቡዕ", "ሓሙስ", "ዓርቢ", "ቀዳም", "ሰንበት"),
    "ru": ("понедельник", "вторник", "среда", "четверг", "пятница", "суббота", "воскресенье"),
}
MONTH_NAMES: dict[str, tuple[str, ...]] = {
    "sv": ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti",
           "september", "oktober", "november", "december"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
    "ar": ("يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر",
           "أكتوبر", "نوفمبر", "ديسمبر"),
    "fa": ("ژانویه", "فوریه", "مارس", "آوریل", "مه", "ژوئن", "ژوئیه", "اوت", "سپتامبر",
           "اکتبر", "نوامبر", "دسامبر"),
    "so": ("Janaayo", "Febraayo", "Maarso", "Abriil", "Maajo", "Juun", "Luulyo", "Agoosto",
           "Sebtembar", "Oktoobar", "Nofembar", "Diseembar"),
    "ti": ("ጥሪ", "ለካቲት", "መጋቢት", "ሚያዝያ", "ግንቦት", "ሰነ", "ሓምለ", "ነሓሰ", "መስከረም",
           "ጥቅምቲ", "ሕዳር", "ታሕሳስ"),
    "ru": ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
           "сентября", "октября", "ноября", "декабря"),
}  # fmt: skip


def format_date(day: date, lang: str) -> str:
    """``day`` as a person of ``lang`` reads it: "tisdag 3 november 2026", "вторник, 3 ноября
    2026". Gregorian, as on the Swedish decision letter."""
    lang = lang if lang in WEEKDAY_NAMES else "en"
    weekday = WEEKDAY_NAMES[lang][day.weekday()]
    month = MONTH_NAMES[lang][day.month - 1]
    separator = ", " if lang == "ru" else " "
    return f"{weekday}{separator}{day.day} {month} {day.year}"
