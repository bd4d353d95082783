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


def test_the_served_model_skips_only_discarded_token_features_and_parses_the_same() -> None:
    """The trained model, loaded as the server loads it: both count-vector featurizers are
    found to feed SentenceFeaturesOnly alone, and with their token features not computed every
    held-out message (every 4th, all languages) parses exactly as before: intent, ranking,
    entities, language."""
    import asyncio
    import logging

    import structlog
    from rasa.core.agent import Agent
    from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
        CountVectorsFeaturizer,
    )
    from rasa.utils.log_utils import configure_structlog

    from bot.nlu import sentence_features
    from bot.nlu.evaluate import HELD_OUT, read_examples

    model = ROOT / "models" / "assistant.tar.gz"
    if not model.exists():
        pytest.fail("no trained model: run `make train` first")
    saved = structlog.get_config()
    configure_structlog(logging.WARNING)  # the parse's debug events, as the server drops them
    original = CountVectorsFeaturizer._create_features
    try:
        sentence_features.DISCARDED.clear()
        agent = Agent.load(str(model))
        assert sorted(name for _, name, _ in sentence_features.DISCARDED) == [
            "train_CountVectorsFeaturizer3", "train_CountVectorsFeaturizer4"]  # fmt: skip
        texts = []
        for lang in ("sv", "en", "ar", "fa", "so", "ti", "ru"):
            texts += [text for text, _ in read_examples(HELD_OUT / f"{lang}.yml")][::4]

        async def parse_all() -> list[dict]:
            return [await agent.parse_message(text) for text in texts]

        before = asyncio.run(parse_all())
        calls = []
        sentence_features.install()
        patched = CountVectorsFeaturizer._create_features
        assert patched is not original

        def counting(self, attribute, all_tokens):  # type: ignore[no-untyped-def]
            calls.append(sentence_features.discards_text_sequence(self))
            return patched(self, attribute, all_tokens)

        CountVectorsFeaturizer._create_features = counting  # type: ignore[method-assign]
        after = asyncio.run(parse_all())
        assert len(texts) > 600 and after == before
        assert calls and all(calls)  # the skipping path was the one taken
    finally:
        CountVectorsFeaturizer._create_features = original  # type: ignore[method-assign]
        structlog.configure(**saved)


def test_a_featurizer_read_by_another_node_keeps_its_token_features() -> None:
    from rasa.engine.graph import ExecutionContext, GraphSchema, SchemaNode
    from rasa.engine.storage.resource import Resource
    from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
        CountVectorsFeaturizer,
    )

    from bot.nlu import sentence_features
    from bot.nlu.sentence_features import SentenceFeaturesOnly

    def node(uses, needs, resource=None):  # type: ignore[no-untyped-def]
        return SchemaNode(needs=needs, uses=uses, constructor_name="load", fn="process",
                          config={}, resource=resource)  # fmt: skip

    def registered(nodes: dict) -> list[str]:
        sentence_features.DISCARDED.clear()
        context = ExecutionContext(GraphSchema(nodes), node_name="sentence")
        _register = sentence_features._register_discarding_featurizers
        _register(context, object())  # type: ignore[arg-type]
        return sorted(name for _, name, _ in sentence_features.DISCARDED)

    chain = {
        "cv0": node(CountVectorsFeaturizer, {"messages": "tokens"}, Resource("r0", "f0")),
        "cv1": node(CountVectorsFeaturizer, {"messages": "cv0"}, Resource("r1", "f1")),
        "sentence": node(SentenceFeaturesOnly, {"messages": "cv1"}),
        "diet": node(SentenceFeaturesOnly, {"messages": "sentence"}),
    }
    assert registered(chain) == ["r0", "r1"]
    # another node reads cv0's features: cv0 and everything before it keep theirs
    assert registered({**chain, "other": node(SentenceFeaturesOnly, {"messages": "cv0"})}) == ["r1"]
    # a component other than a count-vector featurizer in between ends the chain
    assert registered({**chain, "cv1": node(SentenceFeaturesOnly, {"messages": "cv0"})}) == []
    sentence_features.DISCARDED.clear()
