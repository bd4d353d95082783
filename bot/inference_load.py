"""Load DIET's TensorFlow model for answering only, without Rasa's one training step.

Rasa 3.6 (``RasaModel.load``, rasa/utils/tensorflow/models.py) builds a saved model's weights by
compiling it with Adam and *training it on one example* (``model.fit``), then reads the saved
weights over them. That traces Keras' whole training function (gradients and the optimizer's
update ops, kept by the model afterwards) and creates Adam's two slot variables per weight: all of
it is never used again by a server that only answers. Measured with the full model on two cores:
the DIET load took the Rasa process from 819 to 1080 MB resident; loaded as here, to 941 MB, with
the same intents and confidences.

Here the model is built the way prediction builds it: one prediction on the same example, run
eagerly (nothing traced), creates every weight prediction uses; the saved weights are then read
into exactly those. Before the first real prediction the label embeddings are computed again, from
the loaded weights, and the prediction function is traced as in Rasa. If any weight that
prediction uses is missing from the saved model, Rasa's own load is used instead (with a warning),
so nothing can answer with untrained weights. Loading for further training (``finetune_mode``) is
Rasa's own load, unchanged.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


def load_for_inference(
    cls: Any,
    model_file_name: str,
    model_data_example: Any,
    predict_data_example: Any = None,
    finetune_mode: bool = False,
    *args: Any,
    **kwargs: Any,
) -> Any:
    """``RasaModel.load`` with the same arguments and result, for a model that only predicts."""
    import tensorflow as tf
    from rasa.utils.tensorflow.constants import LEARNING_RATE, RUN_EAGERLY

    original = _original_load()
    if finetune_mode or predict_data_example is None:
        return original(cls, model_file_name, model_data_example, predict_data_example,
                        finetune_mode, *args, **kwargs)  # fmt: skip
    config = kwargs.get("config", {})
    model = cls(*args, **kwargs)
    # As Rasa's load: the optimizer object (no slot variables until something is trained) and
    # the configured eagerness for the predictions to come.
    model.compile(optimizer=tf.keras.optimizers.Adam(config.get(LEARNING_RATE, 0.001)),
                  run_eagerly=config.get(RUN_EAGERLY))  # fmt: skip
    configured_eagerly = model._run_eagerly
    model._run_eagerly = True
    model.run_inference(predict_data_example)  # creates the weights prediction reads
    model._run_eagerly = configured_eagerly
    status = model.load_weights(model_file_name)
    try:
        status.assert_existing_objects_matched()
    except AssertionError:
        logger.warning("Not every weight of %s was in its saved model; loading it with Rasa's "
                       "training step instead", cls.__name__)  # fmt: skip
        return original(cls, model_file_name, model_data_example, predict_data_example,
                        finetune_mode, *args, **kwargs)  # fmt: skip
    status.expect_partial()  # the optimizer's saved slots are not needed to answer
    # The label embeddings were computed from the weights before loading: again, from the
    # loaded ones. Then the prediction function is traced, as Rasa's load does.
    model.prepared_for_prediction = False
    model._tf_predict_step = None
    model.run_inference(predict_data_example)
    return model


_ORIGINAL: list[Any] = []


def _original_load() -> Any:
    from rasa.utils.tensorflow.models import RasaModel

    if not _ORIGINAL:
        _ORIGINAL.append(RasaModel.load.__func__)
    return _ORIGINAL[0]


def install() -> None:
    from rasa.utils.tensorflow.models import RasaModel

    _original_load()
    if getattr(RasaModel.load, "__func__", None) is not load_for_inference:
        RasaModel.load = classmethod(load_for_inference)  # type: ignore[assignment]


def uninstall() -> None:
    from rasa.utils.tensorflow.models import RasaModel

    if _ORIGINAL:
        RasaModel.load = classmethod(_ORIGINAL[0])  # type: ignore[assignment]
