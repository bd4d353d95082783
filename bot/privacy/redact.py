"""Redact personal identifiers from user text, in the channel layer, before storage or logs.

Replaced by placeholders the NLU model still reads as ordinary words:
``[personnummer]`` (Swedish personal and coordination numbers), ``[telefon]``, ``[e-post]``,
``[ärendenummer]`` (Migration Agency case / dossier numbers, LMA card numbers, court case
numbers), ``[passnummer]``.

The privacy notice promises this in seven languages, so it holds in every script they are
written in: the text is first read through a normalised copy (every Unicode decimal digit as
its ASCII digit, so Arabic-Indic, Persian, full-width and any other ``Nd`` digits count; every
dash U+2010-2015, U+2212 and their small/full-width forms as ``-``; every space as a space;
invisible direction marks dropped; full-width letters and signs through NFKC). What is found
there is replaced in the original text; everything else stays exactly as it was written.

What is found, in this order (an earlier finding hides its characters from the later ones):

1. e-mail addresses, also written "name at example dot com" / "name [at] example [dot] se";
2. numbers after a word that names them, in the seven languages: personal/coordination
   numbers (any 10 or 12 digits, the checksum need not hold: a typo is still someone's
   number), court case numbers (``UM 1234-23``, ``MIG 2023:12``, "mål nr 1234-23"), LMA card
   numbers, passport numbers (also Russian "45 12 345678"), Migration Agency case numbers;
3. personal numbers written with their dash or plus, or with the century (12 digits), whose
   date part is a date and whose checksum holds;
4. phone numbers, through Google's maintained metadata (the ``phonenumbers`` library): with
   ``+`` or ``00``; national numbers starting with 0 (Sweden and the countries people here
   write from); Russian ``8 9xx``; international numbers without ``+`` (compact, or with the
   country code as its own group). Separators: spaces, ``-``, ``.``, ``/``, brackets. Dates
   and clock times are never taken for phone numbers, nor the public numbers the assistant
   itself gives (crisis lines, authorities: ``PUBLIC_NUMBERS`` and every number in content/);
5. the remaining personal numbers (10 digits without separator, or with a space);
6. dossier numbers on their own (``1-234567``, ``12-345678``, ``123-4567890``);
7. numbers after a plain "number" word (``شماره``, ``رقم``, ``номер``...), when nothing above
   took them: so a Persian-digit phone number after ``شماره`` is a ``[telefon]``;
8. passport-shaped codes without the word (``AB1234567``: one or two capitals, 7-9 digits).

Near-misses stay: dates ("2024-03-15", "15.03.2024", "3/11"), clock times, amounts
("30 000 kr"), years and lists of years, ages, and the public numbers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from functools import cache, lru_cache
from pathlib import Path

import phonenumbers
from phonenumbers import NumberParseException

PERSONNUMMER = "[personnummer]"
PHONE = "[telefon]"
EMAIL = "[e-post]"
CASE_NUMBER = "[ärendenummer]"
PASSPORT = "[passnummer]"

# Public numbers the assistant gives (content/texts.yml, content/answers): never redacted.
# Short ones are compared as digits; the others as E.164 numbers. Every number found in
# content/ is added at first use (``public_numbers``).
PUBLIC_NUMBERS = {
    "112", "1177", "90101", "116111", "0771235235", "46771235235", "0771199500",
    "0812313080",
}  # fmt: skip

# National numbers (starting with 0) are tried as numbers of these regions: Sweden first,
# then the countries people using the assistant write from and their neighbours.
NATIONAL_REGIONS = (
    "SE", "SO", "ER", "ET", "AF", "IR", "IQ", "SY", "LB", "JO", "PS", "SD", "EG", "LY", "YE",
    "TR", "UA", "BY", "KZ", "UZ", "TJ", "KG", "GE", "AZ", "AM", "MD", "DE", "GB", "NO", "DK",
    "FI", "NL", "FR", "IT", "GR",
)  # fmt: skip

# Candidates per text checked fully by the library; after these, a candidate of the right
# shape counts as a phone number (a text of hundreds of digit groups is redacted in
# milliseconds, not seconds: such a text is no message a person needs kept as written).
THOROUGH_CHECKS = 200
_MASK = "\x00"  # characters already taken by an earlier finding
_HIDDEN = "\x01"  # dates and times: hidden from the phone and dossier rules, kept as written
_DASHES = {
    "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015", "\u2212", "\u2043", "\ufe58",
    "\ufe63", "\uff0d", "\u058a", "\u1806", "\u2e3a", "\u2e3b", "\u30fc",
}  # fmt: skip


# -- the normalised copy ------------------------------------------------------------------------
def normalise(text: str) -> tuple[str, list[int]]:
    """The text as the rules read it, and for each of its characters the index of the
    original character it comes from (one original character may give none or several)."""
    out: list[str] = []
    origin: list[int] = []
    for index, ch in enumerate(text):
        if ch < "\x80":
            out.append(ch)
            origin.append(index)
            continue
        category = unicodedata.category(ch)
        if category == "Nd":
            out.append(str(unicodedata.decimal(ch)))
            origin.append(index)
        elif ch in _DASHES:
            out.append("-")
            origin.append(index)
        elif category == "Zs":
            out.append(" ")
            origin.append(index)
        elif category == "Cf":  # LRM, RLM, ALM, ZWJ, ZWNJ, soft hyphen: invisible
            continue
        else:
            folded = unicodedata.normalize("NFKC", ch) if unicodedata.combining(ch) == 0 else ch
            for part in folded:
                if unicodedata.category(part) == "Nd":
                    part = str(unicodedata.decimal(part))
                out.append(part)
                origin.append(index)
    return "".join(out), origin


# -- words that name a number, in the seven languages --------------------------------------------
_PNR_WORDS = (
    # sv, en
    r"person\s?num\w*|personnr|pnr|samordnings\s?num\w*|samordningsnr|"
    r"personal\s+(?:identity\s+|id\s+|identification\s+)?(?:number|no|nr)|"
    r"(?:swedish\s+)?(?:personal\s+)?id(?:entity)?\s+(?:number|no|nr)|"
    r"social\s+security\s+(?:number|no)|coordination\s+(?:number|no)|"
    # ar
    r"(?:ال)?رقم\s*(?:ال)?شخصي|رقمي\s*(?:ال)?شخصي|رقم\s*(?:ال)?هوية(?:\s*(?:ال)?شخصية)?|"
    r"(?:ال)?رقم\s*(?:ال)?وطني|رقم\s*(?:ال)?تنسيق|[بپ]ير?سون\s*نو?مر|"
    # fa
    r"شماره\s*(?:ی|ٔ)?\s*(?:شخصی|هماهنگی|ملی)|کد\s*(?:شخصی|ملی)|پرسون\s*(?:ال\s*)?نو?مبر|"
    r"پرسون\s*نو?مر|"
    # so
    r"lambar(?:ka|kayga|kaaga)?\s+(?:shakhsiga|shakhsi|aqoonsiga|isku\s*dubarid\w*)|"
    # ti
    r"(?:ናይ\s*)?ውልቂ\s*ቁጽሪ|ቁጽሪ\s*(?:መንነት|ውልቂ)|ውልቃዊ\s*ቁጽሪ|ፐርሶን\s*ኑመር|"
    # ru
    r"(?:персональн|личн|идентификационн)\w*\s+номер\w*|номер\w*\s+координации|"
    r"персон+ум+ер\w*|персономер\w*"
)
_PASSPORT_WORDS = (
    r"pass(?:et|nummer|numret|nr|port\w*)?|passport|"
    r"جواز(?:\s*(?:ال)?سفر)?\w*|باسبور\w*|پاسپورت\w*|گذرنامه\w*|"
    r"baa?saboor\w*|paasaboor\w*|ፓስፖርት\w*|"
    r"(?:загран)?паспорт\w*"
)
# Migration Agency case / dossier words (a plain "case" only with its number word after it).
_CASE_WORDS = (
    r"ärende(?:nummer|numret|nr|t)?|arende(?:nummer|nr)?|dossier(?:nummer|nr|number)?|"
    r"case(?:\s*(?:number|no|nr))?|reference(?:\s*number)?|referens(?:nummer)?|"
    r"(?:ال)?رقم\s*(?:ال)?(?:ملف|قضية|دوسيه)|ملفي|"
    r"شماره\s*(?:ی|ٔ)?\s*(?:پرونده|دوسیه)|پرونده|"
    r"номер\w*\s+(?:дела|досье)|lambar(?:ka)?\s*kiiska|ቁጽሪ\s*(?:ጉዳይ|ፋይል)"
)
_NUMBER_WORDS = r"رقم\w*|شماره\w*|номер\w*|lambar\w*|ቁጽሪ|nummer|numret|number|nr|no"
_LMA_WORDS = r"lma"
_COURT_WORDS = r"mål(?:nummer|numret|nr)?|mål\s+nr|målnr"

# Between the word and the number: a few short words ("is", "my", "number", ...), or any
# words for the rules whose number has a distinctive shape (10/12 digits, LMA, passports).
_FILLER_WORDS = (
    r"är|var|is|was|it's|it\s+is|my|mitt|min|mina|waa|ni|ka|ku|هو|هي|من|است|هست|"
    r"это|мой|моего|моей|мои|ye|እዩ|ናተይ|ናይ|number|nummer|nr|no|номер|رقم|شماره|lambarka"
)
_FEW = rf"(?:(?:{_FILLER_WORDS})\s*[:#.]?\s+){{0,2}}"
_ANY = r"(?:[^\W\d_]{1,20}[\s:#.,،\-]+){0,3}?"
_SEP = r"[\s:#.,،\-]*"


def _keyword(words: str, filler: str, number: str) -> re.Pattern[str]:
    return re.compile(
        rf"(?<![^\W\d_])(?P<word>{words})(?![^\W\d_]){_SEP}{filler}(?P<num>{number})",
        re.IGNORECASE | re.UNICODE,
    )


_END = r"(?![\w])"
_PNR_NUMBER = rf"(?<!\d)(?:\d{{2}})?\d{{6}}\s*[-+]?\s*\d{{4}}{_END}"
_PNR_KEYWORD = _keyword(_PNR_WORDS, _ANY, _PNR_NUMBER)
_PASSPORT_NUMBER = (
    rf"(?:[A-Za-z]{{1,2}}\s?\d{{6,9}}|\d{{2}}\s?\d{{2}}\s?\d{{6,7}}|\d{{2}}\s\d{{7}}|\d{{7,9}}){_END}"
)
_PASSPORT_KEYWORD = _keyword(_PASSPORT_WORDS, _ANY, _PASSPORT_NUMBER)
_LMA_KEYWORD = _keyword(_LMA_WORDS, _ANY, rf"\d(?:[\s-]?\d){{5,13}}{_END}")
# Court case numbers: UM 1234-23 (migration courts, the Migration Court of Appeal), and the
# Migration Court of Appeal's MIG 2023:12 (uppercase only: "mig" is Swedish for "me").
_COURT = re.compile(
    r"(?<![^\W\d_])(?:(?i:UMA?)\s*[-.]?\s*\d{1,6}\s*-\s*\d{2}(?:\d{2})?"
    r"|MIG\s*[-.]?\s*\d{4}\s*:\s*\d{1,4}(?:\s*-\s*\d{1,3})?)(?!\d)"
)
_COURT_KEYWORD = _keyword(_COURT_WORDS, _FEW, rf"\d{{1,6}}\s*-\s*\d{{2,4}}{_END}")
_CASE_KEYWORD = _keyword(_CASE_WORDS, _FEW, rf"[A-Za-z]{{0,3}}[-\s]?\d[\d\s-]{{3,14}}\d{_END}")
_NUMBER_KEYWORD = _keyword(_NUMBER_WORDS, _FEW, rf"\d(?:[\s-]?\d){{5,14}}{_END}")

_PNR_DASHED = re.compile(r"(?<![\w-])(?P<c>19|20)?(?P<d>\d{6})\s*(?P<s>[-+])\s*(?P<t>\d{4})(?![\w-])")
_PNR_CENTURY = re.compile(r"(?<![\w-])(?P<c>19|20)(?P<d>\d{6})\s?(?P<s>)(?P<t>\d{4})(?![\w-])")
_PNR_PLAIN = re.compile(r"(?<![\w-])(?P<c>)(?P<d>\d{6})\s?(?P<s>)(?P<t>\d{4})(?![\w-])")
_DOSSIER = re.compile(r"(?<![\w-])\d{1,3}\s?-\s?\d{6,7}(?![\w-])")
_PASSPORT_ALONE = re.compile(r"(?<![\w])[A-Z]{1,2}\d{7,9}(?![\w])")

_TLD = (
    r"com|org|net|edu|gov|info|biz|io|me|co|se|nu|eu|uk|de|dk|no|fi|fr|nl|it|es|ru|ua|so|er|"
    r"et|af|ir|iq|sy|lb|jo|ps|sd|eg|tr|ch|at|be|pl|online|email|mail|today"
)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+\s?@\s?[\w-]+(?:\.[\w-]+)*\s?\.\s?[\w-]*[^\W\d_][\w-]*", re.UNICODE)
_AT = r"(?:\(at\)|\[at\]|\{at\}|<at>|\bat\b|snabel-?a|собака|\(собака\))"
_DOT = r"(?:\(dot\)|\[dot\]|\{dot\}|<dot>|\bdot\b|punkt|точка|\(точка\)|\.)"
_SPOKEN_EMAIL = re.compile(
    rf"(?<![\w.+-])[\w][\w.+-]*\s*{_AT}\s*[\w-]+(?:\s*{_DOT}\s*[\w-]+)*\s*{_DOT}\s*(?:{_TLD})(?![\w])",
    re.IGNORECASE | re.UNICODE,
)

# Dates and clock times, with no more digits next to them: never phone or dossier numbers.
_NOT_AFTER = r"(?<!\d)(?<!\d[-./ ])"
_NOT_BEFORE = r"(?![-./ ]?\d)"
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MONTH = r"(?:0?[1-9]|1[0-2])"
_DATES_AND_TIMES = re.compile(
    rf"{_NOT_AFTER}(?:"
    rf"(?:19|20)\d{{2}}(?P<a>[-./])\s?{_MONTH}(?P=a)\s?{_DAY}"  # 2024-03-15
    rf"|{_DAY}(?P<b>[-./])\s?{_MONTH}(?P=b)\s?(?:19|20)?\d{{2}}"  # 15.03.2024, 15/3/24
    rf"|(?:[01]?\d|2[0-3])[:.][0-5]\d\s?-\s?(?:[01]?\d|2[0-3])[:.][0-5]\d"  # 09.00-17.00
    rf"|(?:[01]?\d|2[0-3]):[0-5]\d"  # 9:30
    rf"){_NOT_BEFORE}"
)
# A run of digit groups a phone number may be part of.
_RUN = re.compile(r"\d+(?:[ \-./()]{1,3}\d+)*")


# -- checks -------------------------------------------------------------------------------------
def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(digits):
        n = int(ch) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _valid_date_part(yymmdd: str) -> bool:
    month, day = int(yymmdd[2:4]), int(yymmdd[4:6])
    if day > 60:  # coordination number: day + 60
        day -= 60
    return 1 <= month <= 12 and 1 <= day <= 31


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@cache
def _shape(region: str) -> tuple[frozenset[int], re.Pattern[str]]:
    """The lengths and the pattern every national number of ``region`` has."""
    desc = phonenumbers.PhoneMetadata.metadata_for_region(region).general_desc
    return frozenset(desc.possible_length), re.compile(desc.national_number_pattern)


@lru_cache(maxsize=8192)
def _could_be(national: str, region: str) -> bool:
    """A quick look (one regular expression) before the library's full, slower check."""
    lengths, pattern = _shape(region)
    return len(national) in lengths and pattern.fullmatch(national) is not None


def _parse(digits: str, region: str | None, thorough: bool = True) -> str | None:
    """The E.164 form of a valid number, else None. Not ``thorough``: the quick look already
    made is taken as the answer (a text of many numbers: redact rather than spend seconds)."""
    if not thorough:
        return "+" + digits.lstrip("+")
    try:
        number = phonenumbers.parse(digits, region)
    except NumberParseException:
        return None
    return _e164(number) if phonenumbers.is_valid_number(number) else None


@cache
def _shapes_of(country_code: int) -> tuple[tuple[frozenset[int], re.Pattern[str]], ...]:
    """The different shapes of the national numbers of a country code's regions."""
    shapes = {}
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ()):
        if region != "001":
            lengths, pattern = _shape(region)
            shapes[(lengths, pattern.pattern)] = (lengths, pattern)
    return tuple(shapes.values())


def _could_be_in(country_code: int, national: str) -> bool:
    return any(len(national) in lengths and pattern.fullmatch(national)
               for lengths, pattern in _shapes_of(country_code))  # fmt: skip


@lru_cache(maxsize=4096)
def _international(digits: str, thorough: bool = True) -> str | None:
    """``digits`` as country code and number (no "+" written), if valid."""
    for size in (1, 2, 3):
        if _could_be_in(int(digits[:size]), digits[size:]):
            found = _parse("+" + digits, None, thorough)
            if found:
                return found
    return None


def phone_number(
    digits: str, *, plus: bool, groups: list[str], thorough: bool = True
) -> str | None:
    """The E.164 form of ``digits`` (written as ``groups``, after a ``+`` or not) if it is a
    phone number as people write them, else None."""
    if plus:
        return _international(digits, thorough) if 7 <= len(digits) <= 15 else None
    if digits.startswith("00"):
        return _international(digits[2:], thorough) if 9 <= len(digits) <= 17 else None
    if digits.startswith("0"):
        if not 8 <= len(digits) <= 12:
            return None
        for region in NATIONAL_REGIONS:
            prefix = phonenumbers.PhoneMetadata.metadata_for_region(region).national_prefix
            national = digits[len(prefix):] if prefix and digits.startswith(prefix) else digits
            if _could_be(national, region):
                found = _parse(digits, region, thorough)
                if found:
                    return found
        return None
    if digits.startswith("8") and len(digits) == 11 and _could_be(digits[1:], "RU"):
        found = _parse(digits, "RU", thorough)  # Russian trunk prefix: 8 9xx ...
        if found:
            return found
    if 11 <= len(digits) <= 13 and (len(groups) == 1 or len(groups[0]) <= 3):
        # international without "+": compact, or the country code written as its own group
        # (so a list of years "2010 2012 2013" is not read as an Egyptian number)
        found = _international(digits, thorough)
        if found and (len(groups) == 1 or found.startswith("+" + groups[0])):
            return found
    return None


@lru_cache(maxsize=1)
def public_numbers() -> frozenset[str]:
    """The public numbers the assistant itself gives: ``PUBLIC_NUMBERS`` and every phone
    number written in content/ (E.164), so that a changed text keeps its numbers."""
    found = set(PUBLIC_NUMBERS)
    for short in PUBLIC_NUMBERS:
        e164 = _parse(short, "SE") if short.startswith("0") else _parse("+" + short, None)
        if e164:
            found.add(e164)
    try:
        from bot.settings import get_settings

        content = get_settings().content_dir
    except Exception:  # noqa: BLE001 - the built-in list still holds
        content = Path(__file__).resolve().parent.parent.parent / "content"
    for path in sorted(Path(content).rglob("*.yml")) if Path(content).is_dir() else []:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        normalised, _ = normalise(text)
        for match in phonenumbers.PhoneNumberMatcher(normalised, "SE"):
            found.add(_e164(match.number))
    return frozenset(found)


# -- finding ------------------------------------------------------------------------------------
class _Findings:
    """The normalised text, with what is found masked out as it is found."""

    def __init__(self, text: str) -> None:
        self.work = text
        self.spans: list[tuple[int, int, str]] = []

    def take(self, start: int, end: int, replacement: str | None) -> None:
        """Mark [start, end) as found (to be replaced by ``replacement``) or, with
        ``replacement`` None, as kept as written and hidden from the rules after this one."""
        if end <= start:
            return
        if replacement is not None:
            self.spans.append((start, end, replacement))
        fill = _MASK if replacement is not None else _HIDDEN
        self.work = self.work[:start] + fill * (end - start) + self.work[end:]

    def free(self, start: int, end: int) -> bool:
        part = self.work[start:end]
        return _MASK not in part and _HIDDEN not in part

    def each(self, pattern: re.Pattern[str], take: Callable[[re.Match[str]], None]) -> None:
        for match in list(pattern.finditer(self.work)):
            if self.free(match.start(), match.end()):
                take(match)


def _after_words(findings: _Findings, match: re.Match[str], label: str) -> None:
    """The word that names the number and the words after it stay; from there to the end of
    the number becomes the placeholder (with one space before it)."""
    cut = match.start("num")
    while cut > match.end("word") and findings.work[cut - 1] in " \t:#.,،-":
        cut -= 1
    if findings.free(cut, match.end("num")):
        findings.take(cut, match.end("num"), " " + label)


def _personnummer(findings: _Findings, match: re.Match[str], *, century: bool) -> None:
    date, tail = match.group("d"), match.group("t")
    if century and match.group("c") is None:
        return
    if _valid_date_part(date) and _luhn_ok(date + tail):
        findings.take(match.start(), match.end(), PERSONNUMMER)


MAX_GROUPS = 12  # "+252 (0) 61 512 34 56" has 6; a number written digit by digit has 10-12


def _lengths(first: str, plus: bool, single: bool) -> range:
    """How many digits a phone number starting with ``first`` may have (see phone_number)."""
    if plus:
        return range(7, 16)
    if first.startswith("00"):
        return range(9, 18)
    if first.startswith("0"):
        return range(8, 13)
    if len(first) > 3 and not single:
        return range(0)  # international without "+" needs its country code as a group
    return range(11, 14)


def _phones(findings: _Findings) -> None:
    """Phone numbers in every run of digit groups: the longest valid number from each group
    on, so that two numbers written one after the other are both found."""
    public = public_numbers()
    work = findings.work
    checks = 0
    for run in list(_RUN.finditer(work)):
        groups = [(m.start() + run.start(), m.end() + run.start())
                  for m in re.finditer(r"\d+", run.group())]  # fmt: skip
        i = 0
        while i < len(groups):
            start = groups[i][0]
            plus, lead = False, start
            before = findings.work[max(0, start - 2):start]
            if before.endswith("+"):
                plus, lead = True, start - (2 if before == "(+" else 1)
            elif before.endswith("("):
                lead = start - 1
            taken = False
            if lead == 0 or not findings.work[lead - 1].isalnum():
                first = findings.work[groups[i][0]:groups[i][1]]
                # the groups from i on (at most MAX_GROUPS) whose digits may make a number
                candidates, count = [], 0
                for j in range(i, min(len(groups), i + MAX_GROUPS)):
                    count += groups[j][1] - groups[j][0]
                    if count > 17:
                        break
                    if count in _lengths(first, plus, single=j == i):
                        candidates.append(j)
                for j in reversed(candidates):  # the longest first
                    end = groups[j][1]
                    if not findings.free(lead, end):
                        continue
                    parts = [findings.work[a:b] for a, b in groups[i:j + 1]]
                    digits = "".join(parts)
                    checks += 1
                    e164 = phone_number(digits, plus=plus, groups=parts,
                                        thorough=checks <= THOROUGH_CHECKS)
                    if e164 is None:
                        continue
                    public_one = e164 in public or digits in public or digits.lstrip("0") in public
                    findings.take(lead, end, None if public_one else PHONE)
                    i, taken = j + 1, True
                    break
            if not taken:
                i += 1


def _find(text: str) -> list[tuple[int, int, str]]:
    """(start, end, replacement) in the normalised text, not overlapping."""
    f = _Findings(text)
    f.each(_EMAIL, lambda m: f.take(m.start(), m.end(), EMAIL))
    f.each(_SPOKEN_EMAIL, lambda m: f.take(m.start(), m.end(), EMAIL))
    f.each(_COURT, lambda m: f.take(m.start(), m.end(), CASE_NUMBER))
    f.each(_COURT_KEYWORD, lambda m: _after_words(f, m, CASE_NUMBER))
    f.each(_LMA_KEYWORD, lambda m: _after_words(f, m, CASE_NUMBER))
    f.each(_PASSPORT_KEYWORD, lambda m: _after_words(f, m, PASSPORT))
    f.each(_PNR_KEYWORD, lambda m: _after_words(f, m, PERSONNUMMER))
    f.each(_CASE_KEYWORD, lambda m: _after_words(f, m, CASE_NUMBER))
    f.each(_PNR_CENTURY, lambda m: _personnummer(f, m, century=True))
    f.each(_PNR_DASHED, lambda m: _personnummer(f, m, century=False))
    f.each(_DATES_AND_TIMES, lambda m: f.take(m.start(), m.end(), None))
    _phones(f)
    f.each(_PNR_PLAIN, lambda m: _personnummer(f, m, century=False))
    f.each(_DOSSIER, lambda m: f.take(m.start(), m.end(), CASE_NUMBER))
    f.each(_NUMBER_KEYWORD, lambda m: _after_words(f, m, CASE_NUMBER))
    f.each(_PASSPORT_ALONE, lambda m: f.take(m.start(), m.end(), PASSPORT))
    return sorted(f.spans)


def redact_spans(text: str) -> Iterable[tuple[int, int, str]]:
    """(start, end, replacement) in the original ``text``, last first."""
    normalised, origin = normalise(text)
    spans = []
    for start, end, replacement in _find(normalised):
        spans.append((origin[start], origin[end - 1] + 1, replacement))
    return reversed(spans)


def redact(text: str) -> str:
    """The text with personal identifiers replaced by placeholders."""
    if not text:
        return text
    for start, end, replacement in redact_spans(text):
        text = text[:start] + replacement + text[end:]
    return text
