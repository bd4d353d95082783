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
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            sentence_only(message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            sentence_only(message)
        return training_data
