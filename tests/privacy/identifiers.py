"""Hypothesis strategies: personal identifiers as people write them, in every script and
format the assistant meets, and the ordinary numbers that must be kept; and the search for an
identifier, decoded, in stored or logged text.

An ``Identifier`` carries what was written (``written``, possibly in Persian digits with an en
dash), its digits in ASCII (``digits``), the label it must be replaced by, and the sentence it
was written in.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

from hypothesis import strategies as st

from bot.privacy.redact import CASE_NUMBER, EMAIL, PASSPORT, PERSONNUMMER, PHONE, normalise

# digits 0-9 in scripts people write them in (and a few more Unicode Nd scripts)
SCRIPTS = {
    "ascii": "0123456789",
    "arabic-indic": "٠١٢٣٤٥٦٧٨٩",
    "persian": "۰۱۲۳۴۵۶۷۸۹",
    "full-width": "０１２３４５６７８９",
    "devanagari": "०१२३४५६७८९",
    "bengali": "০১২৩৪৫৬৭৮৯",
    "myanmar": "၀၁၂၃၄၅၆၇၈၉",
    "nko": "߀߁߂߃߄߅߆߇߈߉",
}
DASHES = ["-", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015", "\u2212", "－"]
SPACES = [" ", "\u00a0", "\u202f", "\u2009", "\u3000"]


@dataclass(frozen=True)
class Identifier:
    kind: str
    written: str  # as in the message
    digits: str  # its digits, ASCII (for e-mail: the address, lower-case)
    label: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind} {self.written!r} in {self.message!r}"


def script(text: str, digits: str) -> str:
    return text.translate(str.maketrans("0123456789", digits))


scripts = st.sampled_from(sorted(SCRIPTS.values()))
dashes = st.sampled_from(DASHES)
spaces = st.sampled_from(SPACES)


def luhn_digit(nine: str) -> str:
    total = 0
    for i, ch in enumerate(nine):
        n = int(ch) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return str((10 - total % 10) % 10)


@st.composite
def personnummer(draw: st.DrawFn) -> tuple[str, str, bool]:
    """(as written in ASCII, its digits, checksum holds)."""
    born = draw(st.dates(date(1925, 1, 1), date(2012, 12, 31)))
    coordination = draw(st.booleans())
    day = born.day + (60 if coordination else 0)
    yymmdd = f"{born.year % 100:02d}{born.month:02d}{day:02d}"
    three = f"{draw(st.integers(0, 999)):03d}"
    check = luhn_digit(yymmdd + three)
    valid = draw(st.booleans())
    if not valid:
        check = str((int(check) + draw(st.integers(1, 9))) % 10)
    century = draw(st.booleans())
    head = (str(born.year)[:2] if century else "") + yymmdd
    sep = draw(st.sampled_from(["-", "–", " - ", "+" if not century else "-", "", " "]))
    return head + sep + three + check, head + three + check, valid


PNR_WORDS = [
    "mitt personnummer är", "personnummer:", "samordningsnummer", "my personal number is",
    "personal identity number", "الرقم الشخصي", "رقمي الشخصي هو", "شماره شخصی من",
    "lambarka shakhsiga waa", "ቁጽሪ መንነት", "мой личный номер", "персональный номер",
]  # fmt: skip

PHONES = [  # (format with {d} groups filled from digits, how the digits start)
    "07{a}-{b3} {c2} {d2}", "07{a}{b3}{c2}{d2}", "07{a}.{b3}.{c2}.{d2}", "07{a}/{b3} {c2} {d2}",
    "+46 7{a} {b3} {c2} {d2}", "+467{a}{b3}{c2}{d2}", "0046 7{a} {b3} {c2} {d2}",
    "467{a}{b3}{c2}{d2}", "46 7{a} {b3} {c2} {d2}", "(07{a}) {b3} {c2} {d2}",
    "08-{b3} {c2} {d2}", "+252 61 {b3}{c2}{d2}", "252 61 {b3}{c2}{d2}", "00252 61 {b3}{c2}{d2}",
    "8 91{a} {b3} {c2} {d2}", "8 (91{a}) {b3}-{c2}-{d2}", "+7 91{a} {b3}-{c2}-{d2}",
    "8-91{a}-{b3}-{c2}-{d2}", "+44 79{c2} {b3}{d2}1", "061 {b3} {c2}{d2}", "+964 77{a} {b3} {c2}{d2}",
    "+93 7{a} {b3} {c2}{d2}", "+98 91{a} {b3} {c2}{d2}",
]  # fmt: skip
PHONE_WORDS = [
    "ring mig på", "mitt nummer", "call me on", "رقم هاتفي", "اتصل بي على", "شماره من",
    "شماره تلفن من", "با من تماس بگیرید", "lambarkayga waa", "ቁጽሪ ስልከይ", "мой телефон",
    "номер", "",
]  # fmt: skip


@st.composite
def phone(draw: st.DrawFn) -> str:
    template = draw(st.sampled_from(PHONES))
    values = {
        "a": str(draw(st.sampled_from([0, 2, 3, 6]))),
        "b3": f"{draw(st.integers(100, 999))}",
        "c2": f"{draw(st.integers(10, 99))}",
        "d2": f"{draw(st.integers(10, 99))}",
    }
    return template.format(**values)


@st.composite
def identifiers(draw: st.DrawFn, kinds: tuple[str, ...] | None = None) -> Identifier:
    """One identifier in one script and format, inside a sentence."""
    kind = draw(st.sampled_from(kinds or ("personnummer", "phone", "court", "lma", "dossier",
                                          "passport", "email")))  # fmt: skip
    digits = draw(scripts)
    dash = draw(dashes)
    space = draw(spaces)

    def shape(ascii_text: str) -> str:
        """In the drawn script, with the drawn dash and space."""
        return script(ascii_text.replace("-", dash).replace(" ", space), digits)

    if kind == "personnummer":
        written, plain, valid = draw(personnummer())
        word = draw(st.sampled_from(PNR_WORDS))
        if valid and draw(st.booleans()) and (len(plain) == 12 or "-" in written or "–"
                                               in written or "+" in written):
            word = draw(st.sampled_from(["", "hej", "هذا", "это", "kan ni hjälpa"]))
        text = shape(written)
        return Identifier(kind, text, plain, PERSONNUMMER, f"{word} {text}".strip())
    if kind == "phone":
        written = draw(phone())
        word = draw(st.sampled_from(PHONE_WORDS))
        text = shape(written)
        plain = re.sub(r"\D", "", written)
        return Identifier(kind, text, plain, PHONE, f"{word} {text} tack".strip())
    if kind == "court":
        number = draw(st.integers(1, 99999))
        year = draw(st.integers(10, 29))
        written = draw(st.sampled_from([f"UM {number}-{year}", f"UM{number}-20{year}",
                                        f"mål nr {number}-{year}", f"MIG 20{year}:{number % 40}"]))
        text = shape(written)
        plain = re.sub(r"\D", "", written)
        return Identifier(kind, text, plain, CASE_NUMBER, f"mitt mål {text} är överklagat")
    if kind == "lma":
        number = f"{draw(st.integers(1, 999))}-{draw(st.integers(100000, 9999999))}"
        written = draw(st.sampled_from([f"LMA-kort nummer {number}", f"LMA {number}",
                                        f"my LMA card number is {number}",
                                        f"رقم بطاقة LMA {number}",
                                        f"LMA: {number.replace('-', '')}"]))
        text = shape(written)
        return Identifier(kind, text, re.sub(r"\D", "", number), CASE_NUMBER, text)
    if kind == "dossier":
        number = f"{draw(st.integers(1, 999))}-{draw(st.integers(100000, 9999999))}"
        word = draw(st.sampled_from(["ärendenummer", "dossiernummer:", "mitt ärende",
                                     "رقم الملف", "شماره پرونده", "номер дела", "lambarka kiiska",
                                     "case number is", ""]))  # fmt: skip
        text = shape(number)
        return Identifier(kind, text, re.sub(r"\D", "", number), CASE_NUMBER,
                          f"{word} {text}".strip())
    if kind == "passport":
        letters = draw(st.text("ABCDEFGHJKLMNPRSTUVWXYZ", min_size=1, max_size=2))
        number = "".join(str(draw(st.integers(0, 9))) for _ in range(draw(st.integers(7, 8))))
        ru = f"{draw(st.integers(10, 99))} {draw(st.integers(10, 99))} " \
             f"{draw(st.integers(100000, 999999))}"
        written, word = draw(st.sampled_from([
            (letters + number, ""), (letters + number, "passnummer"),
            (letters + number, "my passport number is"), (number + "1", "جواز السفر"),
            (letters + number, "شماره پاسپورت من"), (letters + number, "baasaboorkayga waa"),
            (number + "2", "ፓስፖርት"), (ru, "паспорт"), (ru, "мой паспорт"),
        ]))  # fmt: skip
        text = script(written, digits)
        return Identifier(kind, text, re.sub(r"\D", "", written), PASSPORT,
                          f"{word} {text}".strip())
    local = draw(st.from_regex(r"[a-z][a-z0-9]{1,8}(\.[a-z]{2,8})?", fullmatch=True))
    domain = draw(st.sampled_from(["gmail", "example", "mail", "hotmail", "yandex"]))
    tld = draw(st.sampled_from(["com", "se", "ru", "org", "nu"]))
    written = draw(st.sampled_from([
        f"{local}@{domain}.{tld}", f"{local} at {domain} dot {tld}", f"{local}[at]{domain}[dot]{tld}",
        f"{local} (at) {domain} (dot) {tld}", f"{local} snabel-a {domain} punkt {tld}",
        f"{local} собака {domain} точка {tld}", f"{local}＠{domain}．{tld}",
    ]))  # fmt: skip
    return Identifier("email", written, f"{local}@{domain}.{tld}", EMAIL,
                      f"skriv till {written} tack")


# -- what must be kept --------------------------------------------------------------------------
@st.composite
def ordinary(draw: st.DrawFn) -> str:
    """A sentence with ordinary numbers (dates, amounts, years, ages, times, the public
    numbers), in a drawn script: redaction keeps it as written."""
    digits = draw(scripts)
    day = draw(st.dates(date(2015, 1, 1), date(2030, 12, 31)))
    amount = draw(st.integers(1, 999))
    later = day + timedelta(days=draw(st.integers(1, 900)))
    hour = draw(st.integers(7, 20))
    choice = draw(st.sampled_from([
        f"jag fick beslut {day.isoformat()}", f"beslutet kom {day.day}/{day.month}",
        f"datum {day.day:02d}.{day.month:02d}.{day.year}", f"den {day.day}/{day.month}/{day.year}",
        f"{amount} 000 kr per vuxen", f"{amount} {draw(st.integers(100, 999))} 000 kr",
        f"år {day.year}", f"åren {day.year}-{later.year}", f"{day.year} {later.year}",
        f"jag är {draw(st.integers(1, 99))} år och har {draw(st.integers(0, 9))} barn",
        f"öppet {hour:02d}.00-{hour + 2:02d}.30", f"kl {hour}:{draw(st.integers(10, 59))}",
        "ring 112 eller 1177", "Migrationsverket 0771-235 235", "Röda Korset 0771-19 95 00",
        "Självmordslinjen 90101", "BRIS 116 111", "1177 på arabiska 08-123 130 80",
        "+46 771 235 235", f"{amount} dagar", f"kapitel {draw(st.integers(1, 30))} § 3",
        f"SFS {day.year}:{amount}",
    ]))  # fmt: skip
    return script(choice, digits)


# -- looking for an identifier -----------------------------------------------------------------
def _decoded(haystack: str) -> str:
    """The text with JSON string escapes (\\u0660) undone wherever they are."""
    def unescape(match: re.Match[str]) -> str:
        try:
            return json.loads(f'"{match.group(0)}"')
        except ValueError:
            return match.group(0)

    return re.sub(r"(?:\\u[0-9a-fA-F]{4})+", unescape, haystack)


def searchable(haystack: str) -> tuple[str, str]:
    """(the text decoded and normalised, its digits with every separator between two digits
    removed) as identifiers are looked for in them."""
    text, _ = normalise(unicodedata.normalize("NFC", _decoded(haystack)))
    text = text.lower()
    joined = re.sub(r"(?<=\d)[\s\-./()+]+(?=\d)", "", text)
    return text, joined


def found_in(identifier: Identifier, haystack: tuple[str, str]) -> str | None:
    """How the identifier was found in the haystack (from ``searchable``), or None."""
    text, joined = haystack
    written, _ = normalise(identifier.written)
    if written.lower() in text:
        return f"as written ({written!r})"
    if identifier.kind == "email":
        return "address" if identifier.digits in text else None
    digits = identifier.digits
    if len(digits) >= 6 and re.search(rf"(?<!\d){digits}(?!\d)", joined):
        return f"digits {digits}"
    # a phone number without its country code or trunk prefix (701234567 of +46701234567)
    if identifier.kind == "phone" and len(digits) >= 9:
        national = re.sub(r"^(?:00)?(?:46|252|7|44|964|93|98|291)?0?", "", digits)
        national = national[1:] if identifier.written.strip().startswith("8") else national
        if len(national) >= 7 and re.search(rf"(?<!\d){national}(?!\d)", joined):
            return f"national digits {national}"
    return None
