"""NLU quality on the held-out split (never trained on): the release thresholds, every language."""

from __future__ import annotations

import asyncio

import pytest

from bot.nlu.evaluate import (
    LANGUAGE_ID_THRESHOLD,
    OVERALL_THRESHOLD,
    THRESHOLDS,
    evaluate,
    overall_accuracy,
    print_reports,
)
from bot.settings import LANGUAGES
from bot.train import model_path

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reports():
    result = asyncio.run(evaluate(model_path()))
    print_reports(result)
    return {r.language: r for r in result}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_accuracy_above_threshold(reports, lang: str) -> None:
    report = reports[lang]
    assert report.accuracy >= THRESHOLDS[lang], (report.accuracy, report.confusions)


def test_overall_accuracy(reports) -> None:
    assert overall_accuracy(list(reports.values())) >= OVERALL_THRESHOLD


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_held_out_crisis_message_is_recognised(reports, lang: str) -> None:
    assert reports[lang].crisis_missed == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_language_identified_on_real_sentences(reports, lang: str) -> None:
    assert reports[lang].language_id_accuracy >= LANGUAGE_ID_THRESHOLD
