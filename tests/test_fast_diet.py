"""bot/nlu/fast_diet.py: DIET's intent scores as plain matrix products equal TensorFlow's on every
held-out message of the full model, and the path switches itself off on any difference."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bot import inference_load
from bot.nlu import fast_diet
from bot.nlu.evaluate import HELD_OUT, read_examples

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "assistant.tar.gz"


def _diet(agent):  # type: ignore[no-untyped-def]
    import gc

    from rasa.nlu.classifiers.diet_classifier import DIETClassifier

    found = [o for o in gc.get_referrers(DIETClassifier) if isinstance(o, DIETClassifier)]
    found = found or [o for o in gc.get_objects() if isinstance(o, DIETClassifier)]
    return next(o for o in found if o.model is not None and fast_diet.ATTRIBUTE in o.__dict__)


@pytest.fixture(scope="module")
def agent():  # type: ignore[no-untyped-def]
    from rasa.core.agent import Agent
    from rasa.nlu.classifiers.diet_classifier import DIETClassifier

    if not MODEL.exists():
        pytest.fail("no trained model: run `make train` first")
    original = DIETClassifier._predict
    inference_load.install()
    fast_diet.install()
    try:
        yield Agent.load(str(MODEL))
    finally:
        DIETClassifier._predict = original
        inference_load.uninstall()


def test_every_held_out_message_scores_as_with_tensorflow(agent, caplog) -> None:  # type: ignore[no-untyped-def]
    """TRACKER_CACHE_VERIFY=1 (tests/conftest.py): every message is also predicted by
    TensorFlow and compared (top intent, every confidence within 1e-5)."""
    texts = []
    for lang in ("sv", "en", "ar", "fa", "so", "ti", "ru"):
        texts += [text for text, _ in read_examples(HELD_OUT / f"{lang}.yml")]

    async def parse_all() -> list[dict]:
        return [await agent.parse_message(text) for text in texts]

    with caplog.at_level(logging.WARNING, logger="bot.nlu.fast_diet"):
        results = asyncio.run(parse_all())
    predictor = _diet(agent).__dict__[fast_diet.ATTRIBUTE]
    assert predictor and not predictor.off
    assert predictor.checked >= len(texts) > 3000
    assert not caplog.records
    assert len({r["intent"]["name"] for r in results}) > 30


def test_a_difference_switches_it_off(agent, caplog) -> None:  # type: ignore[no-untyped-def]
    diet = _diet(agent)
    predictor = diet.__dict__[fast_diet.ATTRIBUTE]
    saved = predictor.embed_bias.copy()
    predictor.embed_bias += 0.5
    try:
        with caplog.at_level(logging.WARNING, logger="bot.nlu.fast_diet"):
            first = asyncio.run(agent.parse_message("Hur överklagar jag beslutet?"))
        assert predictor.off and "switched off" in caplog.text
        assert first["intent"]["name"] == "appeal_how"  # TensorFlow's answer was used
    finally:
        predictor.embed_bias[:] = saved
        predictor.off = False


def test_a_diet_with_other_layers_is_not_taken_over(tmp_path: Path) -> None:
    from rasa.engine.graph import ExecutionContext
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.nlu.classifiers.diet_classifier import DIETClassifier

    storage, metadata = LocalModelStorage.from_model_archive(tmp_path / "storage", MODEL)
    node = next(n for n in metadata.predict_schema.nodes.values()
                if n.uses is DIETClassifier)  # fmt: skip
    config = {**DIETClassifier.get_default_config(), **node.config}
    context = ExecutionContext(metadata.predict_schema, metadata.model_id)
    as_saved = DIETClassifier.load(config, storage, node.resource, context)
    assert fast_diet.FastIntentPredictor.make(as_saved) is not None
    changed = {**config, "hidden_layers_sizes": {"text": [128], "label": []}}
    other = DIETClassifier.load(changed, storage, node.resource, context)
    assert other.model is not None
    assert fast_diet.FastIntentPredictor.make(other) is None
    transformer = DIETClassifier.load({**config, "number_of_transformer_layers": 1}, storage,
                                 node.resource, context)  # fmt: skip
    assert fast_diet.FastIntentPredictor.make(transformer) is None
