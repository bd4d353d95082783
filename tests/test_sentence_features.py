"""bot/nlu/sentence_features.py: with DIET as configured, token features cannot change an intent."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
import yaml

from bot.nlu.sentence_features import check_diet_config, sentence_only

ROOT = Path(__file__).resolve().parents[1]


def diet_config() -> dict:
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    names = [c["name"] for c in config["pipeline"]]
    assert "bot.nlu.sentence_features.SentenceFeaturesOnly" in names
    # after every featurizer, before DIET
    here = names.index("bot.nlu.sentence_features.SentenceFeaturesOnly")
    assert here == names.index("DIETClassifier") - 1
    assert all("Featurizer" not in name for name in names[here + 1 :])
    return next(c for c in config["pipeline"] if c["name"] == "DIETClassifier")


def test_the_project_diet_reads_the_intent_from_the_sentence_alone() -> None:
    check_diet_config(diet_config())


@pytest.mark.parametrize("change", [
    {"number_of_transformer_layers": 1},
    {"number_of_transformer_layers": {"text": 2}},
    {"entity_recognition": True},
    {"use_masked_language_model": True},
])  # fmt: skip
def test_any_diet_that_reads_tokens_is_refused(change: dict) -> None:
    with pytest.raises(ValueError, match="number_of_transformer_layers: 0"):
        check_diet_config({**diet_config(), **change})
    without_layers = {k: v for k, v in diet_config().items() if k != "number_of_transformer_layers"}
    with pytest.raises(ValueError):
        check_diet_config(without_layers)  # Rasa's default: 2 layers


def _train(epochs: int = 3):  # type: ignore[no-untyped-def]
    """A small DIET configured as the project's, trained on real examples with the real
    token and sentence features of Rasa's featurizers (no SentenceFeaturesOnly)."""
    import tempfile

    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.nlu.classifiers.diet_classifier import DIETClassifier
    from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
        CountVectorsFeaturizer,
    )
    from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
    from rasa.shared.nlu.training_data.loading import load_data

    storage = LocalModelStorage(Path(tempfile.mkdtemp()))
    context = ExecutionContext(GraphSchema({}), "test")
    data = load_data(str(ROOT / "data" / "nlu" / "en"))
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    tokenizer.process_training_data(data)
    featurizers = []
    for config in ({}, {"analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4}):
        featurizer = CountVectorsFeaturizer.create(
            {**CountVectorsFeaturizer.get_default_config(), **config}, storage,
            Resource(f"cvf{len(featurizers)}"), context,
        )  # fmt: skip
        featurizer.train(data)
        featurizer.process_training_data(data)
        featurizers.append(featurizer)
    config = {**DIETClassifier.get_default_config(), **diet_config(), "epochs": epochs}
    config.pop("name")
    diet = DIETClassifier.create(config, storage, Resource("diet"), context)
    diet.train(data)
    return tokenizer, featurizers, diet


def test_replacing_the_token_features_changes_no_prediction() -> None:
    from rasa.shared.nlu.constants import FEATURE_TYPE_SEQUENCE, INTENT, TEXT
    from rasa.shared.nlu.training_data.message import Message

    tokenizer, featurizers, diet = _train()
    texts = ["How long do I have to appeal?", "can i see a doctor", "I want to go home",
             "xyzzy", "my husband threatens to kill me", "where can i sleep tonight"]
    originals = [Message(data={TEXT: t}) for t in texts]
    tokenizer.process(originals)
    for featurizer in featurizers:
        featurizer.process(originals)
    scrambled = copy.deepcopy(originals)
    rng = np.random.default_rng(7)
    for message in scrambled:
        for feature in message.features:
            if feature.attribute == TEXT and feature.type == FEATURE_TYPE_SEQUENCE:
                shape = feature.features.shape
                feature.features = scipy.sparse.coo_matrix(rng.random(shape) * 3)
    diet.process(originals)
    diet.process(scrambled)
    for original, other in zip(originals, scrambled, strict=True):
        first = {r["name"]: r["confidence"] for r in original.get("intent_ranking")}
        second = {r["name"]: r["confidence"] for r in other.get("intent_ranking")}
        assert original.get(INTENT)["name"] == other.get(INTENT)["name"]
        assert first.keys() == second.keys()
        assert max(abs(first[k] - second[k]) for k in first) < 1e-5


def test_sentence_only_keeps_the_sentence_features_and_one_token() -> None:
    from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, FEATURE_TYPE_SEQUENCE, TEXT
    from rasa.shared.nlu.training_data.features import Features
    from rasa.shared.nlu.training_data.message import Message

    message = Message(data={TEXT: "hur överklagar jag"})
    sentence = scipy.sparse.coo_matrix(np.array([[1.0, 2.0, 0.0]]))
    message.features = [
        Features(scipy.sparse.coo_matrix(np.eye(3)), FEATURE_TYPE_SEQUENCE, TEXT, "cvf"),
        Features(sentence, FEATURE_TYPE_SENTENCE, TEXT, "cvf"),
        Features(scipy.sparse.coo_matrix(np.eye(3)), FEATURE_TYPE_SEQUENCE, "intent", "cvf"),
    ]
    sentence_only(message)
    sequence, kept = message.get_sparse_features(TEXT)
    assert sequence.features.shape == (1, 1) and sequence.features.sum() == 1
    assert (kept.features != sentence).nnz == 0
    assert len([f for f in message.features if f.attribute == "intent"]) == 1
    bare = Message(data={"intent": "greet"})
    sentence_only(bare)
    assert bare.features == []
