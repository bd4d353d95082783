"""NLU quality on the held-out split (never trained on): the release thresholds."""

from __future__ import annotations

import asyncio

import pytest

from bot.nlu.evaluate import THRESHOLDS, evaluate, print_reports
from bot.train import model_path

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reports():
    result = asyncio.run(evaluate(model_path()))
    print_reports(result)
    return {r.language: r for r in result}


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_accuracy_above_threshold(reports, lang: str) -> None:
    report = reports[lang]
    assert report.accuracy >= THRESHOLDS[lang], (report.accuracy, report.confusions)


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_every_held_out_crisis_message_is_recognised(reports, lang: str) -> None:
    assert reports[lang].crisis_missed == []
