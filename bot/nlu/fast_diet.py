"""DIET's intent prediction for one message as the few matrix products it is here, without a
TensorFlow function call per message.

As configured here (config.yml: no transformer, no hidden layers, no entity tagging, sentence
features only, bot/nlu/sentence_features.py), DIET's intent scores for a message are:

    h = x @ K + b               sparse-to-dense layer of the sentence features x (1 x vocabulary)
    e = h @ E + c               the text embedding layer ("embed.text")
    scores = softmax(L @ e)     L: the label embeddings Rasa computes once after loading

(the feature-combining, feed-forward and sequence layers pass the sentence position through
unchanged; rasa/utils/tensorflow/rasa_layers.py, layers.py, diet_classifier.py). Rasa computes
this per message through its batch generator and a traced TensorFlow function: 1.8 ms of the
Rasa process's time per message, measured; the products themselves take a few microseconds.

Safety: a DIET configured otherwise (any layer these products leave out) is never taken over.
The first ``CHECKED_MESSAGES`` messages of each server are predicted both ways, and on the
first difference larger than ``TOLERANCE`` in any confidence (or another top intent) this path
is switched off for good, with a warning, and TensorFlow answers. With ``TRACKER_CACHE_VERIFY=1``
(the tests) every message is checked. Diagnostic data (``rasa shell --debug``) is TensorFlow's.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

CHECKED_MESSAGES = 20
TOLERANCE = 1e-5
ATTRIBUTE = "_fast_intent_predictor"


class FastIntentPredictor:
    def __init__(self, kernel: np.ndarray, bias: np.ndarray, embed_kernel: np.ndarray,
                 embed_bias: np.ndarray, labels: np.ndarray, cosine: bool) -> None:  # fmt: skip
        self.kernel = kernel
        self.bias = bias
        self.embed_kernel = embed_kernel
        self.embed_bias = embed_bias
        self.labels = labels
        self.cosine = cosine
        self.checked = 0
        self.off = False

    @classmethod
    def make(cls, diet: Any) -> FastIntentPredictor | None:
        """For a loaded DIETClassifier whose model is exactly the products above, else None."""
        try:
            return cls._make(diet)
        except Exception:  # any unexpected structure: TensorFlow answers, as before
            logger.debug("fast DIET prediction not used", exc_info=True)
            return None

    @classmethod
    def _make(cls, diet: Any) -> FastIntentPredictor | None:
        model = diet.model
        config = diet.component_config
        if model is None or not config.get("intent_classification") or config.get(
            "entity_recognition"
        ):
            return None
        layers_config = config.get("number_of_transformer_layers")
        text_layers = (layers_config.get("text", 0) if isinstance(layers_config, dict)
                       else layers_config)  # fmt: skip
        if text_layers or config.get("use_masked_language_model"):
            return None
        if list(config["hidden_layers_sizes"].get("text", [])):
            return None
        if config.get("model_confidence") != "softmax":
            return None
        similarity = config.get("similarity_type")
        if similarity not in ("inner", "cosine"):
            return None
        signature = model.predict_data_signature["text"]
        sentence, sequence = signature.get("sentence", []), signature.get("sequence", [])
        if not (len(sentence) == 1 and sentence[0].is_sparse):
            return None
        if not all(s.is_sparse for s in sequence):
            return None
        sequence_layer = model._tf_layers["sequence_layer.text"]
        if set(sequence_layer._tf_layers) - {"feature_combining", "ffnn", "transformer"}:
            return None
        if sequence_layer._has_transformer or list(sequence_layer._tf_layers["ffnn"]._ffn_layers):
            return None
        combining = sequence_layer._tf_layers["feature_combining"]
        if set(combining._tf_layers) - {"sparse_dense.sequence", "sparse_dense.sentence"}:
            return None  # e.g. the layers that unify different sequence and sentence sizes
        to_dense = combining._tf_layers["sparse_dense.sentence"]._tf_layers["sparse_to_dense"]
        embed = model._tf_layers["embed.text"]._dense
        if to_dense.activation not in (None, _linear()) or embed.activation not in (
            None, _linear()
        ):  # fmt: skip
            return None
        if not to_dense.use_bias or not embed.use_bias:
            return None
        if not model.prepared_for_prediction or model.all_labels_embed is None:
            return None
        labels = np.asarray(model.all_labels_embed, dtype=np.float32)
        if labels.ndim != 2:
            return None
        return cls(
            np.asarray(to_dense.kernel.numpy(), dtype=np.float32),
            np.asarray(to_dense.bias.numpy(), dtype=np.float32),
            np.asarray(embed.kernel.numpy(), dtype=np.float32),
            np.asarray(embed.bias.numpy(), dtype=np.float32),
            labels,
            similarity == "cosine",
        )

    def scores(self, sentence_features: Any) -> np.ndarray:
        """The intent confidences (1 x labels) for a 1 x vocabulary sparse feature row."""
        row = sentence_features.tocsr()
        h = self.bias.copy()
        if row.nnz:
            h += row.data.astype(np.float32) @ self.kernel[row.indices]
        e = h @ self.embed_kernel + self.embed_bias
        labels = self.labels
        if self.cosine:
            e = e / max(float(np.linalg.norm(e)), 1e-12)
            labels = labels / np.maximum(np.linalg.norm(labels, axis=-1, keepdims=True), 1e-12)
        similarities = labels @ e
        similarities -= similarities.max()
        confidences = np.exp(similarities)
        confidences /= confidences.sum()
        return confidences[np.newaxis, :]


def _linear() -> Any:
    import tensorflow as tf

    return tf.keras.activations.linear


def _differs(ours: np.ndarray, theirs: np.ndarray) -> bool:
    ours, theirs = ours.ravel(), np.asarray(theirs).ravel()
    return (
        ours.shape != theirs.shape
        or int(ours.argmax()) != int(theirs.argmax())
        or float(np.max(np.abs(ours - theirs))) > TOLERANCE
    )


def install() -> None:
    """Patch DIETClassifier._predict (the Rasa server only)."""
    from rasa.nlu.classifiers.diet_classifier import DIETClassifier
    from rasa.shared.nlu.constants import TEXT

    if getattr(DIETClassifier._predict, "_fast", False):
        return
    original = DIETClassifier._predict
    verify_all = os.environ.get("TRACKER_CACHE_VERIFY", "") not in ("", "0", "false")

    def _predict(self: DIETClassifier, message: Any) -> Any:
        predictor = self.__dict__.get(ATTRIBUTE)
        if predictor is None:
            predictor = self.__dict__[ATTRIBUTE] = FastIntentPredictor.make(self) or False
        if (
            not predictor
            or predictor.off
            or self._execution_context.should_add_diagnostic_data
            or not message.features_present(
                attribute=TEXT, featurizers=self.component_config.get("featurizers")
            )
        ):
            return original(self, message)
        # Rasa's get_sparse_features, for the sentence features only: the sequence features
        # were deep-copied and combined too, for nothing (the scores read sentence features)
        featurizers = self.component_config.get("featurizers") or []
        _, sentence_features = message._filter_sparse_features(TEXT, featurizers)
        sentence = message._combine_features(sentence_features, featurizers)
        if sentence is None:
            return original(self, message)
        ours = predictor.scores(sentence.features)
        if verify_all or predictor.checked < CHECKED_MESSAGES:
            theirs = original(self, message)
            predictor.checked += 1
            if theirs is None or _differs(ours, theirs["i_scores"]):
                predictor.off = True
                logger.warning("fast DIET prediction differs from TensorFlow's; switched off")
                return theirs
        return {"i_scores": ours}

    _predict._fast = True  # type: ignore[attr-defined]
    _predict.__wrapped__ = original  # type: ignore[attr-defined]
    DIETClassifier._predict = _predict  # type: ignore[method-assign]
