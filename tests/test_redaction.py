"""Personal identifiers are redacted; dates, amounts and the bot's own numbers are not."""

from __future__ import annotations

import pytest

from bot.channels.common import clean_text
from bot.privacy.redact import redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mitt personnummer är 19811218-9876", "mitt personnummer är [personnummer]"),
        ("811218-9876", "[personnummer]"),
        ("198112189876", "[personnummer]"),
        ("samordningsnummer 701063-2391", "samordningsnummer [personnummer]"),
        ("ring mig 070-123 45 67", "ring mig [telefon]"),
        ("+46 70 123 45 67 är mitt nummer", "[telefon] är mitt nummer"),
        ("my number is 0701234567", "my number is [telefon]"),
        ("0046701234567", "[telefon]"),
        ("mejla a.b@example.com", "mejla [e-post]"),
        ("ärendenummer 12-345678", "ärendenummer [ärendenummer]"),
        ("dossiernummer: 123-4567890", "dossiernummer [ärendenummer]"),
        ("mitt ärende 1-234567 fick avslag", "mitt ärende [ärendenummer] fick avslag"),
        ("passport number N1234567", "passport number [passnummer]"),
        ("رقم الملف 123456789", "رقم الملف [ärendenummer]"),
        # a verb or "my" between the word and the number (found by tests/privacy/test_logs.py)
        ("Mitt passnummer är AB1234567, behöver jag ett nytt?",
         "Mitt passnummer är [passnummer], behöver jag ett nytt?"),
        ("my passport number is P12345678", "my passport number is [passnummer]"),
        ("شماره پاسپورت من AB1234567 است", "شماره پاسپورت من [passnummer] است"),
        ("номер паспорта: мой 123456789", "номер паспорта: мой [passnummer]"),
        ("ärendenummer är 123456789", "ärendenummer är [ärendenummer]"),
        ("case number is 12-345678", "case number is [ärendenummer]"),
    ],
)
def test_identifiers_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "jag fick beslut 2024-03-15",
        "beslutet kom 3/11 och jag har tre veckor",
        "30 000 kr per vuxen, högst 75 000",
        "ring 112 eller 1177",
        "Migrationsverket 0771-235 235",
        "Röda Korset 0771-19 95 00",
        "Självmordslinjen 90101",
        "BRIS 116 111",
        "1177 på arabiska 08-123 130 80",
        "år 2025 ändrades reglerna",
        "811218-9875",  # fails the Luhn check: not a personal number
        "20251301-1234",  # month 13
        "in case you need 12 000 kr",  # an amount after a word that names case numbers
        "mitt pass är giltigt till 2027-05-01",
        "passet kostar 400 kr och tar 14 dagar",
    ],
)
def test_near_misses_are_kept(text: str) -> None:
    assert redact(text) == text


# -- every script, every format (issue 20, review H3: each of these was stored raw) ------------
AR = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FA = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
FULL = str.maketrans("0123456789-+", "０１２３４５６７８９－＋")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the review's table, row by row
        ("اتصل بي على ٠٧٠١٢٣٤٥٦٧", "اتصل بي على [telefon]"),
        ("اتصل بي على ٠٧٠-١٢٣ ٤٥ ٦٧", "اتصل بي على [telefon]"),
        ("با من تماس بگیرید ۰۷۰۱۲۳۴۵۶۷", "با من تماس بگیرید [telefon]"),
        ("هذا ١٩٨١١٢١٨-٩٨٧٦", "هذا [personnummer]"),
        ("این ۱۹۸۱۱۲۱۸-۹۸۷۶ است", "این [personnummer] است"),
        ("هذا ٨١١٢١٨-٩٨٧٦", "هذا [personnummer]"),
        ("811218–9876", "[personnummer]"),  # en dash (a phone's autocorrect)
        ("811218 - 9876", "[personnummer]"),
        ("811218−9876", "[personnummer]"),  # minus sign
        ("mitt personnummer är 811218-9875", "mitt personnummer är [personnummer]"),  # typo
        ("mitt personnummer är 19870412-5566", "mitt personnummer är [personnummer]"),
        ("мой телефон 8 912 345 67 89", "мой телефон [telefon]"),
        ("０７０１２３４５６７", "[telefon]"),
        ("070.123.45.67", "[telefon]"),
        ("070/123 45 67", "[telefon]"),
        ("46701234567", "[telefon]"),
        ("252 61 5123456", "[telefon]"),
        ("målnummer UM 1234-23", "målnummer [ärendenummer]"),
        ("LMA-kort nummer 123456789", "LMA-kort nummer [ärendenummer]"),
        ("AB1234567", "[passnummer]"),
        ("паспорт 45 12 345678", "паспорт [passnummer]"),
        ("passport N012345678", "passport [passnummer]"),
        ("amira.hassan at gmail dot com", "[e-post]"),
        # the Persian-digit phone number after "شماره" (number) is a phone number
        ("شماره من ۰۷۰۱۲۳۴۵۶۷ است", "شماره من [telefon] است"),
        ("رقم هاتفي ٠٧٠١٢٣٤٥٦٧", "رقم هاتفي [telefon]"),
        ("номер ۰۷۰۱۲۳۴۵۶۷", "номер [telefon]"),
        # Somali, Russian, international, with and without +
        ("+252 61 5123456", "[telefon]"),
        ("00252615123456", "[telefon]"),
        ("0615123456 waa lambarkayga", "[telefon] waa lambarkayga"),
        ("+7 (912) 345-67-89", "[telefon]"),
        ("8(912)3456789", "[telefon]"),
        ("8-912-345-67-89", "[telefon]"),
        ("(+46) 70 123 45 67", "[telefon]"),
        ("Tel: 0046 70 123 45 67", "Tel: [telefon]"),
        ("ring 0701234567 eller 08-123 45 67", "ring [telefon] eller [telefon]"),
        ("+44 20 7946 0958", "[telefon]"),
        ("٠٠٤٦٧٠١٢٣٤٥٦٧", "[telefon]"),
        ("+٤٦ ٧٠ ١٢٣ ٤٥ ٦٧", "[telefon]"),
        # digits of any script (Unicode Nd), direction marks inside
        ("०७०१२३४५६७", "[telefon]"),  # Devanagari
        ("০৭০১২৩৪৫৬৭", "[telefon]"),  # Bengali
        ("٠٧٠‏١٢٣‏٤٥‏٦٧", "[telefon]"),
        ("٨١١٢١٨‎-‎٩٨٧٦", "[personnummer]"),
        # personal and coordination numbers after their word, in the seven languages
        ("personnummer: 8112189875", "personnummer [personnummer]"),
        ("my personal number is 19811218 9875", "my personal number is [personnummer]"),
        ("الرقم الشخصي ١٩٨١١٢١٨٩٨٧٥", "الرقم الشخصي [personnummer]"),
        ("شماره شخصی من ۸۱۱۲۱۸-۹۸۷۵", "شماره شخصی من [personnummer]"),
        ("lambarka shakhsiga waa 811218-9875", "lambarka shakhsiga waa [personnummer]"),
        ("ቁጽሪ መንነት 811218-9875", "ቁጽሪ መንነት [personnummer]"),
        ("мой личный номер 811218-9875", "мой личный номер [personnummer]"),
        ("samordningsnummer 701063-2391", "samordningsnummer [personnummer]"),
        ("samordningsnummer 701063-2392", "samordningsnummer [personnummer]"),
        ("701063-2391", "[personnummer]"),  # checksum holds: anywhere
        # court case numbers, LMA, dossier, passports without and with the word
        ("UM 1234-23", "[ärendenummer]"),
        ("mitt mål UM12345-2023 i förvaltningsrätten", "mitt mål [ärendenummer] i förvaltningsrätten"),
        ("mål nr 1234-23", "mål nr [ärendenummer]"),
        ("MIG 2023:12", "[ärendenummer]"),
        ("LMA: ١٢-٣٤٥٦٧٨", "LMA [ärendenummer]"),
        ("my LMA card number is 12 345678", "my LMA card number is [ärendenummer]"),
        ("رقم الملف ۱۲-۳۴۵۶۷۸", "رقم الملف [ärendenummer]"),
        ("dossier ١-٢٣٤٥٦٧", "dossier [ärendenummer]"),
        ("12-345678", "[ärendenummer]"),
        ("جواز سفري رقم P12345678", "جواز سفري رقم [passnummer]"),
        ("پاسپورت من ۱۲۳۴۵۶۷۸۹", "پاسپورت من [passnummer]"),
        ("baasaboorkayga waa A1234567", "baasaboorkayga waa [passnummer]"),
        ("ፓስፖርት 123456789", "ፓስፖርት [passnummer]"),
        ("загранпаспорт 75 1234567", "загранпаспорт [passnummer]"),
        ("pass AB 1234567", "pass [passnummer]"),
        # e-mail
        ("amira [at] example [dot] se", "[e-post]"),
        ("amira(at)example(dot)org", "[e-post]"),
        ("amira snabel-a example punkt se", "[e-post]"),
        ("amira собака mail точка ru", "[e-post]"),
        ("amira ＠ example ． se", "[e-post]"),
        ("skriv till amira@exempel.se!", "skriv till [e-post]!"),
    ],
)
def test_every_script_and_format(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "jag fick beslut ٢٠٢٤-٠٣-١٥",
        "تاریخ تصمیم ۱۵.۰۳.۲۰۲۴",
        "beslut 15/03/2024 och 2024/03/15",
        "öppet 09.00–17.00, lunch 12:00-13:00",
        "٣٠ ٠٠٠ كرونة",
        "1 500 000 kr",
        "år 2010 2012 2013",
        "åren 2019-2020",
        "hon är 34 år och har 3 barn",
        "look at this. Then we go",
        "I am at home. Dot is my cat",
        "ring ٠٧٧١-٢٣٥ ٢٣٥",  # Migrationsverket, Arabic-Indic digits
        "+46 771 235 235",
        "0771 235 235",
        "116 111 och ١١٢",
        "SFS 2005:716",
        "kapitel 12 § 3",
        "Hej mig 070 är inte ett nummer",
        "https://www.riksdagen.se/en/news/articles/2025/mar/12/new-rules_cms90786760-493c-4cdd",
    ],
)
def test_ordinary_numbers_in_every_script_are_kept(text: str) -> None:
    assert redact(text) == text


def test_every_number_the_assistant_gives_is_kept() -> None:
    """Every phone number written anywhere in content/ (crisis lines, authorities) survives,
    as written and in Arabic-Indic and Persian digits."""
    import phonenumbers

    from bot.privacy.redact import normalise
    from bot.settings import get_settings

    found = set()
    for path in get_settings().content_dir.rglob("*.yml"):
        text, _ = normalise(path.read_text(encoding="utf-8"))
        found |= {m.raw_string for m in phonenumbers.PhoneNumberMatcher(text, "SE")}
    assert {"0771-235 235", "0771-19 95 00", "08-123 130 80"} <= found, found
    for number in sorted(found):
        for written in (number, number.translate(AR), number.translate(FA)):
            assert redact(f"ring {written} idag") == f"ring {written} idag"


def test_clean_text_limits_and_strips() -> None:
    assert clean_text(None) is None
    assert clean_text(42) is None
    assert clean_text("   \x00\x07 ") is None
    assert clean_text("hej\x00 då") == "hej då"
    assert len(clean_text("a" * 20000)) == 2000
    assert clean_text("ring 070-123 45 67") == "ring [telefon]"
