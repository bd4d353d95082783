"""Redact personal identifiers from user text, in the channel layer, before storage or logs.

Replaced by placeholders the NLU model still reads as ordinary words:
``[personnummer]`` (Swedish personal and coordination numbers), ``[telefon]``, ``[e-post]``,
``[ärendenummer]`` (Migration Agency case / dossier numbers), ``[passnummer]``.

Near-misses stay: dates ("2024-03-15", "3/11"), amounts ("30 000 kr"), years, and the public
numbers the assistant itself gives (112, 1177, 90101, 116 111, 0771-235 235, 0771-19 95 00...).
"""

from __future__ import annotations

import re

PERSONNUMMER = "[personnummer]"
PHONE = "[telefon]"
EMAIL = "[e-post]"
CASE_NUMBER = "[ärendenummer]"
PASSPORT = "[passnummer]"

# Public numbers the assistant gives: never redacted (compared digits only).
PUBLIC_NUMBERS = {
    "112", "1177", "90101", "116111", "0771235235", "46771235235", "0771199500",
    "0812313080",
}  # fmt: skip

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)

# YYYYMMDD-NNNN, YYMMDD-NNNN, YYMMDD+NNNN, or the same without separator (checked by Luhn).
_PNR = re.compile(r"(?<![\w-])(?:19|20)?(\d{6})[-+ ]?(\d{4})(?![\w-])")

# Case / dossier numbers after a word that names them, in the languages people write in.
_CASE_WORDS = (
    r"ärende(?:nummer|nr|numret)?|arende(?:nummer|nr)?|dossier(?:nummer|nr|number)?|"
    r"case(?:\s*(?:number|no|nr))?|reference(?:\s*number)?|referens(?:nummer)?|"
    r"رقم(?:\s*(?:الملف|القضية|الدوسيه))?|شماره(?:\s*(?:پرونده|دوسیه))?|"
    r"номер(?:\s*(?:дела|досье))?|lambarka(?:\s*kiiska)?|ቁጽሪ"
)
# Between the word and the number: "is", "my" and the like ("mitt passnummer är AB1234567",
# "شماره پاسپورت من ..."): at most two of these short words, so an amount further on in the
# sentence ("in case you need 12 000 kr") is not taken for a number.
_FILLER = (
    r"(?:(?:är|var|is|was|it's|waa|ni|هو|هي|من|است|это|my|mitt|min|mi|мой|моего|моей)"
    r"\s*[:#.]?\s+){0,2}"
)
_CASE = re.compile(
    rf"(?P<word>{_CASE_WORDS})\s*[:#.]?\s*{_FILLER}"
    r"(?P<num>[A-Za-z]{0,3}[-\s]?\d[\d\s-]{3,14}\d)",
    re.IGNORECASE | re.UNICODE,
)
# Migration Agency dossier numbers written on their own: 1-234567 / 12-345678 / 123-4567890.
_DOSSIER = re.compile(r"(?<![\w-])\d{1,3}-\d{6,7}(?![\w-])")

_PASSPORT_WORDS = r"pass(?:nummer|nr|port(?:\s*(?:number|no|nr))?)?|جواز(?:\s*السفر)?|پاسپورت|паспорт[аеу]?|baasaboor|ፓስፖርት"
_PASSPORT = re.compile(
    rf"(?P<word>{_PASSPORT_WORDS})\s*[:#.]?\s*(?:(?:number|nummer|nr|no|رقم|شماره|номер)\s*[:#.]?\s*)?"
    rf"{_FILLER}(?P<num>[A-Za-z]{{1,2}}\d{{6,8}}|\d{{8,9}})(?![\w])",
    re.IGNORECASE | re.UNICODE,
)

# Phone numbers: +46 / 0046 / 0 followed by 7-11 more digits, with spaces, dashes, brackets.
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\d[\d\s\-()]{6,16}\d(?![\w])")


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


def _personnummer(match: re.Match[str]) -> str:
    date, tail = match.group(1), match.group(2)
    if _valid_date_part(date) and _luhn_ok(date + tail):
        return PERSONNUMMER
    return match.group(0)


def _phone(match: re.Match[str]) -> str:
    raw = match.group(0)
    digits = re.sub(r"\D", "", raw)
    if digits in PUBLIC_NUMBERS or digits.lstrip("0") in PUBLIC_NUMBERS:
        return raw
    # A phone number starts with 0 or an international prefix and has 8-13 digits.
    if not (raw.startswith(("+", "00", "0")) and 8 <= len(digits) <= 13):
        return raw
    # dates such as 2024-03-15 or 2024 03 15 are not phone numbers
    if re.fullmatch(r"(?:19|20)\d{2}[-\s]\d{2}[-\s]\d{2}", raw.strip()):
        return raw
    return PHONE


def _keep_words(match: re.Match[str], placeholder: str) -> str:
    """The word that names the number and the words after it, then the placeholder."""
    words = match.group(0)[: match.start("num") - match.start()].rstrip(" \t:#.")
    return f"{words} {placeholder}"


def redact(text: str) -> str:
    """The text with personal identifiers replaced by placeholders."""
    if not text:
        return text
    text = _EMAIL.sub(EMAIL, text)
    text = _CASE.sub(lambda m: _keep_words(m, CASE_NUMBER), text)
    text = _PASSPORT.sub(lambda m: _keep_words(m, PASSPORT), text)
    text = _PNR.sub(_personnummer, text)
    text = _DOSSIER.sub(CASE_NUMBER, text)
    text = _PHONE.sub(_phone, text)
    return text
