"""The crisis safety net: every language has a lexicon, its positive examples match and its
negative examples (frightening words that are not an emergency) do not."""

from __future__ import annotations

import pytest
import yaml
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.crisis_lexicon import LEXICON_DIR, CrisisLexicon, Lexicon, normalise
from bot.settings import LANGUAGES

LEXICON = Lexicon.load()


def examples(lang: str) -> dict[str, list[str]]:
    return yaml.safe_load((LEXICON_DIR / f"{lang}_examples.yml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_language_has_a_lexicon_with_examples(lang: str) -> None:
    assert len(LEXICON.patterns.get(lang, [])) >= 10
    ex = examples(lang)
    assert len(ex["positive"]) >= 10 and len(ex["negative"]) >= 10


@pytest.mark.parametrize("lang", LANGUAGES)
def test_emergencies_match(lang: str) -> None:
    missed = [t for t in examples(lang)["positive"] if LEXICON.match(t) is None]
    assert missed == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_frightening_questions_that_are_not_emergencies_do_not_match(lang: str) -> None:
    wrong = [t for t in examples(lang)["negative"] if LEXICON.match(t) is not None]
    assert wrong == []


def test_normalisation_folds_letter_variants() -> None:
    assert normalise("  أريد   أن أنتحر ") == normalise("اريد ان انتحر")
    assert normalise("مي\u200cخواهم") == "می خواهم"
    assert normalise("ВСЁ") == "все"


def test_component_overrides_the_classifier_and_keeps_its_ranking() -> None:
    component = CrisisLexicon(LEXICON)
    text = examples("en")["positive"][0]
    message = Message(data={"text": text, "intent": {"name": "health_care", "confidence": 0.9},
                            "intent_ranking": [{"name": "health_care", "confidence": 0.9}]})
    calm = Message(data={"text": "how do I appeal", "intent": {"name": "appeal_how",
                                                               "confidence": 0.8}})
    button = Message(data={"text": "/appeal_how", "intent": {"name": "appeal_how",
                                                             "confidence": 1.0}})
    component.process([message, calm, button])
    assert message.get("intent") == {"name": "crisis", "confidence": 1.0}
    assert [r["name"] for r in message.get("intent_ranking")] == ["crisis", "health_care"]
    assert calm.get("intent")["name"] == "appeal_how"
    assert button.get("intent")["name"] == "appeal_how"


def test_no_training_example_of_another_intent_matches() -> None:
    """The lexicon overrides the classifier, so a pattern that matches an ordinary question in
    the training data (any language) would turn that question into an emergency."""
    from tests.test_contract import training

    wrong = [(lang, intent, text) for lang in LANGUAGES for text, intent in training(lang)
             if intent != "crisis" and LEXICON.match(text) is not None]  # fmt: skip
    assert wrong == []
