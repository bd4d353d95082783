"""The crisis detector (bot/nlu/crisis_detector.py) without Rasa: its thresholds, its fast scorer
against scikit-learn, the digits of every script, and the component on the trained model."""

from __future__ import annotations

import numpy as np
import pytest

from bot.nlu.crisis_detector import CrisisModel, _threshold, prepare
from bot.nlu.evaluate import read_examples
from bot.settings import ROOT


def training(lang: str) -> tuple[list[str], list[int]]:
    texts, labels = [], []
    for path in sorted((ROOT / "data" / "nlu" / lang).glob("*.yml")):
        for text, intent in read_examples(path):
            texts.append(text)
            labels.append(int(intent == "crisis"))
    return texts, labels


def test_threshold_lets_at_most_the_rate_through() -> None:
    negatives = np.sort(np.linspace(0.0, 0.99, 1000))
    for rate in (0.0, 0.002, 0.01, 0.1):
        cut = _threshold(negatives, rate)
        assert (negatives >= cut).sum() <= int(rate * 1000)
        assert cut >= 0.5
    assert _threshold(np.array([]), 0.01) == 0.5


def test_digits_of_every_script_are_made_ascii() -> None:
    assert prepare("٠٧٠١٢٣") == "070123"
    assert prepare("۰۷۰۱۲۳") == "070123"
    assert prepare("０７０") == "070"
    assert prepare("Jag VILL") == "jag vill"


@pytest.fixture(scope="module")
def english() -> tuple[CrisisModel, list[str]]:
    texts, labels = training("en")
    model = CrisisModel.fit(texts, labels, flag_rate=0.002, ask_rate=0.006, folds=3)
    held_out = [t for t, _ in read_examples(ROOT / "tests" / "nlu" / "en.yml")]
    return model, held_out


def test_fast_scorer_equals_scikit_learn(english: tuple[CrisisModel, list[str]]) -> None:
    model, held_out = english
    model.use_fast_path(held_out[:50])
    assert model._fast is not None
    expected = model.pipeline.predict_proba([prepare(t) for t in held_out])[:, 1]
    got = np.array([model.score(t) for t in held_out])
    assert np.allclose(got, expected, rtol=0, atol=1e-9)


def test_thresholds_follow_the_out_of_fold_rates(english: tuple[CrisisModel, list[str]]) -> None:
    model, _ = english
    assert 0.5 <= model.ask <= model.flag < 1.0
    texts, labels = training("en")
    ordinary = [t for t, y in zip(texts, labels, strict=True) if not y]
    crisis = [t for t, y in zip(texts, labels, strict=True) if y]
    # in-sample, the model separates what it was trained on
    assert np.mean([model.score(t) >= model.flag for t in crisis]) > 0.9
    assert np.mean([model.score(t) >= model.ask for t in ordinary]) < 0.01
