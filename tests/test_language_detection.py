"""Language identification: script rules, the trained classifier, short messages."""

from __future__ import annotations

import pytest

from bot.nlu.language import LanguageIdentifier, read_language_examples, script_of
from bot.settings import ROOT


@pytest.fixture(scope="module")
def identifier() -> LanguageIdentifier:
    ident = LanguageIdentifier()
    ident.fit(*read_language_examples(ROOT / "data" / "nlu"))
    return ident


@pytest.mark.parametrize(
    ("text", "script"),
    [("ሰላም ከመይ ኣለኹም", "ethiopic"), ("Привет", "cyrillic"), ("سلام", "arabic"),
     ("hej då", "latin"), ("123 !!", None), ("", None)],
)
def test_script(text: str, script: str | None) -> None:
    assert script_of(text) == script


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Hur lång tid har jag på mig att överklaga beslutet?", "sv"),
        ("i got avslag from migrationsverket what do i do now", "en"),
        ("How do I appeal the decision from the migration agency?", "en"),
        ("ሰላም ከመይ ገይረ ይግባይ ክብል ይኽእል", "ti"),
        ("Как мне обжаловать решение миграционной службы?", "ru"),
        ("كيف أستأنف قرار الرفض من Migrationsverket", "ar"),
        ("چطور می‌توانم به تصمیم رد اعتراض کنم", "fa"),
        ("Sideen racfaan uga qaadan karaa go'aanka Migrationsverket", "so"),
    ],
)
def test_detects_real_sentences(identifier: LanguageIdentifier, text: str, lang: str) -> None:
    result = identifier.detect(text)
    assert result is not None and result["name"] == lang, result


@pytest.mark.parametrize("text", ["ok", "hej", "1", "yes"])
def test_short_latin_messages_are_never_confident(identifier, text: str) -> None:
    result = identifier.detect(text)
    assert result is None or result["confidence"] <= 0.5


@pytest.mark.parametrize("text", ["", "   ", "/request_human", "😀😀", "12345"])
def test_nothing_to_go_on(identifier: LanguageIdentifier, text: str) -> None:
    assert identifier.detect(text) is None


def test_swedish_word_inside_arabic_stays_arabic(identifier: LanguageIdentifier) -> None:
    result = identifier.detect("عندي avslag من Migrationsverket شو اعمل")
    assert result["name"] == "ar"
