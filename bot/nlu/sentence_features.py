"""Only the sentence-level features reach DIET: the per-token ones could not change its answer.

DIET here classifies the intent with no transformer layer and no entity tagging (config.yml).
Rasa's DIET then runs every position of the message through the same position-wise layers: one
position per token (the featurizers' sequence features) and one for the whole message (their
sentence features), and reads the intent from the message position alone
(``RasaSequenceLayer.call`` without a transformer returns the position-wise outputs;
``DIET._batch_loss_intent`` and prediction take the last position, the sentence). Nothing
mixes the positions, so the token positions cannot change the intent: they were computed in
training and for every message for nothing, each a product of a 40,000-column sparse row
(word and character n-gram counts) with the input layer. That was most of the training time.

This component, after the featurizers and before DIET, replaces a message's text sequence
features with one constant feature at one position, so DIET keeps its shape (a sequence of
length one, then the sentence) at a fraction of the work. The sentence features, which hold the
same counts summed over the message, are untouched.

Only valid while DIET has no transformer layer and no entity recognition: ``create`` refuses
any other DIET configuration in the pipeline (checked by tests/test_sentence_features.py
against config.yml).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import FEATURE_TYPE_SEQUENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

ORIGIN = "SentenceFeaturesOnly"


def sentence_only(message: Message) -> None:
    """Drop the message's text sequence features; put one constant 1x1 feature instead.
    A message without text features (an intent-only message, a button payload) is left."""
    features = message.features
    if not any(f.attribute == TEXT and f.type == FEATURE_TYPE_SEQUENCE for f in features):
        return
    message.features = [
        f for f in features if not (f.attribute == TEXT and f.type == FEATURE_TYPE_SEQUENCE)
    ]
    message.features.append(
        Features(scipy.sparse.coo_matrix(np.ones((1, 1), dtype=np.float32)),
                 FEATURE_TYPE_SEQUENCE, TEXT, ORIGIN)  # fmt: skip
    )


def check_diet_config(diet: dict[str, Any]) -> None:
    """Raise unless this DIET configuration reads the intent from the sentence alone."""
    layers = diet.get("number_of_transformer_layers", 2)
    layers = max(layers.values()) if isinstance(layers, dict) else layers
    if layers or diet.get("entity_recognition", True) or diet.get("use_masked_language_model"):
        raise ValueError(
            "SentenceFeaturesOnly needs DIETClassifier with number_of_transformer_layers: 0, "
            "entity_recognition: false and no masked language model: with any of them the "
            "token features matter"
        )


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceFeaturesOnly(GraphComponent):
    """See the module's documentation."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {}

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SentenceFeaturesOnly:
        for node in execution_context.graph_schema.nodes.values():
            if getattr(node.uses, "__name__", "") == "DIETClassifier":
                check_diet_config(node.config)
        _register_discarding_featurizers(execution_context, model_storage)
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            sentence_only(message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            sentence_only(message)
        return training_data


# Count-vector featurizers whose text sequence features a SentenceFeaturesOnly of the same graph
# discards before anything reads them: (id(model storage), resource name, fingerprint) -> the
# model storage (kept, so that its id is never reused while it is registered)
DISCARDED: dict[tuple[int, str, str], Any] = {}


def _register_discarding_featurizers(context: ExecutionContext, storage: ModelStorage) -> None:
    """Walk up this node's chain of inputs: each CountVectorsFeaturizer directly before it
    (only other count-vector featurizers between, which read tokens, not features), whose
    output nothing else in the graph reads, has its text sequence features discarded here."""
    schema, name = context.graph_schema, context.node_name
    if schema is None or name not in schema.nodes:
        return
    nodes = schema.nodes
    readers: dict[str, list[str]] = {}
    for node_name, node in nodes.items():
        for provider in node.needs.values():
            readers.setdefault(provider, []).append(node_name)
    current = nodes[name].needs.get("messages")
    after = name
    while current in nodes and getattr(nodes[current].uses, "__name__", "") == (
        "CountVectorsFeaturizer"
    ):
        resource = nodes[current].resource
        if readers.get(current) != [after] or resource is None:
            return
        DISCARDED[(id(storage), resource.name, resource.output_fingerprint)] = storage
        after, current = current, nodes[current].needs.get("messages")


def discards_text_sequence(featurizer: Any) -> bool:
    resource = getattr(featurizer, "_resource", None)
    storage = getattr(featurizer, "_model_storage", None)
    if resource is None or storage is None:
        return False
    return (id(storage), resource.name, resource.output_fingerprint) in DISCARDED


def install() -> None:
    """In the Rasa server: a count-vector featurizer whose text sequence features are discarded
    (above) does not compute them. Rasa transforms each token on its own for them (half of the
    featurizer's time, 5 % of the process's at 20 users); an empty matrix of the same shape
    stands in, for SentenceFeaturesOnly to find and replace. Other attributes, and featurizers
    in any other graph, are Rasa's."""
    from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
        CountVectorsFeaturizer,
    )

    if getattr(CountVectorsFeaturizer._create_features, "_sentence_only", False):
        return
    original = CountVectorsFeaturizer._create_features

    def _create_features(self: CountVectorsFeaturizer, attribute: str, all_tokens: list) -> Any:
        if attribute != TEXT or not discards_text_sequence(self):
            return original(self, attribute, all_tokens)
        vectorizer = self.vectorizers.get(attribute)
        if not vectorizer:
            return original(self, attribute, all_tokens)
        width = len(vectorizer.vocabulary_)
        sequence_features: list = []
        sentence_features: list = []
        for tokens in all_tokens:
            if not tokens:
                sequence_features.append(None)
                sentence_features.append(None)
                continue
            sequence_features.append(scipy.sparse.coo_matrix((len(tokens), width)))
            # Rasa's sentence features, as Rasa computes them
            sentence_vec = vectorizer.transform([" ".join(tokens)])
            sentence_vec.sort_indices()
            sentence_features.append(sentence_vec.tocoo())
        return sequence_features, sentence_features

    _create_features._sentence_only = True  # type: ignore[attr-defined]
    _create_features.__wrapped__ = original  # type: ignore[attr-defined]
    CountVectorsFeaturizer._create_features = _create_features  # type: ignore[method-assign]
