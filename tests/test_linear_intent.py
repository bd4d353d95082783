"""The linear intent classifier (bot/nlu/linear_intent.py) without Rasa: its fast scorer against
scikit-learn, and how its probabilities combine with DIET's ranking."""

from __future__ import annotations

import numpy as np
import pytest

from bot.nlu.crisis_detector import prepare
from bot.nlu.evaluate import read_examples
from bot.nlu.linear_intent import RANKING_LENGTH, LinearIntentModel, combine
from bot.settings import ROOT


@pytest.fixture(scope="module")
def swedish() -> tuple[LinearIntentModel, list[tuple[str, str]]]:
    texts, intents = [], []
    for path in sorted((ROOT / "data" / "nlu" / "sv").glob("*.yml")):
        for text, intent in read_examples(path):
            texts.append(text)
            intents.append(intent)
    model = LinearIntentModel.fit(texts, intents, c=0.5)
    return model, read_examples(ROOT / "tests" / "nlu" / "sv.yml")


def test_fast_scorer_equals_scikit_learn(swedish) -> None:  # type: ignore[no-untyped-def]
    model, held_out = swedish
    model.use_fast_path([t for t, _ in held_out[:30]])
    assert model._fast is not None
    for text, _ in held_out[::7]:
        fast = np.array([model.probabilities(text)[c] for c in model.classes])
        expected = model.reference_probabilities(prepare(text))
        assert np.allclose(fast, expected, rtol=0, atol=1e-9)


def test_it_understands_held_out_swedish(swedish) -> None:  # type: ignore[no-untyped-def]
    model, held_out = swedish
    right = 0
    for text, intent in held_out:
        scores = model.probabilities(text)
        right += max(scores, key=scores.get) == intent
    assert right / len(held_out) > 0.85


def test_temperature_makes_confident_answers_confident(swedish) -> None:  # type: ignore[no-untyped-def]
    model, held_out = swedish
    assert model.temperature > 1.0
    confidences = [max(model.probabilities(t).values()) for t, _ in held_out]
    assert np.median(confidences) > 0.5


def test_combine_weights_both_models_and_keeps_the_top_ten() -> None:
    linear = {f"i{n}": 0.0 for n in range(20)} | {"a": 0.6, "b": 0.4}
    diet = [{"name": "b", "confidence": 0.9}, {"name": "c", "confidence": 0.1}]
    ranking = combine(linear, diet, 0.5)
    assert [r["name"] for r in ranking[:3]] == ["b", "a", "c"]
    assert ranking[0]["confidence"] == pytest.approx(0.65)
    assert len(ranking) == RANKING_LENGTH
    # without DIET's ranking (a model without it), this model alone decides
    alone = combine({"a": 0.6, "b": 0.4}, [], 0.5)
    assert alone[0] == {"name": "a", "confidence": 0.6}
