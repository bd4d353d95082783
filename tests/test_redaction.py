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


def test_clean_text_limits_and_strips() -> None:
    assert clean_text(None) is None
    assert clean_text(42) is None
    assert clean_text("   \x00\x07 ") is None
    assert clean_text("hej\x00 då") == "hej då"
    assert len(clean_text("a" * 20000)) == 2000
    assert clean_text("ring 070-123 45 67") == "ring [telefon]"
