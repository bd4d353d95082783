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


def test_the_fast_classifier_gives_scikit_learns_probabilities(identifier) -> None:  # type: ignore[no-untyped-def]
    """bot/nlu/language.py FastClassifier against the trained scikit-learn pipeline, on every
    held-out message of every language and on texts with nothing in the vocabulary."""
    import numpy as np

    from bot.nlu.evaluate import HELD_OUT, read_examples
    from bot.nlu.language import FastClassifier

    pipeline = identifier.classifier
    fast = FastClassifier.make(pipeline, ["hej"])
    assert fast is not None
    texts = ["", "   ", "!!!", "\u2603\u2603", "😀"]
    for lang in ("sv", "en", "ar", "fa", "so", "ti", "ru"):
        texts += [text for text, _ in read_examples(HELD_OUT / f"{lang}.yml")]
    assert len(texts) > 3000
    expected = pipeline.predict_proba(texts)
    for text, row in zip(texts, expected, strict=True):
        assert np.allclose(fast.predict_proba(text), row, rtol=0, atol=1e-12), text
    # and the identifier uses it
    identifier.detect("Hur överklagar jag beslutet?")
    assert isinstance(identifier._fast, FastClassifier)


def test_a_pipeline_of_another_kind_is_not_taken_over() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from bot.nlu.language import FastClassifier

    texts = ["hej hur mår du", "hello how are you", "مرحبا كيف حالك", "hej då", "goodbye", "شكرا"]
    labels = ["sv", "en", "ar", "sv", "en", "ar"]
    plain_tf = make_pipeline(TfidfVectorizer(analyzer="char_wb", sublinear_tf=False),
                             LogisticRegression()).fit(texts, labels)  # fmt: skip
    assert FastClassifier.make(plain_tf, texts) is None
    ovr = make_pipeline(TfidfVectorizer(analyzer="char_wb", sublinear_tf=True),
                        LogisticRegression(multi_class="ovr")).fit(texts, labels)  # fmt: skip
    assert FastClassifier.make(ovr, texts) is None
    ours = make_pipeline(TfidfVectorizer(analyzer="char_wb", sublinear_tf=True),
                         LogisticRegression()).fit(texts, labels)  # fmt: skip
    assert FastClassifier.make(ours, texts) is not None
