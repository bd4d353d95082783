"""bot/inference_load.py: DIET loaded without Rasa's training step answers exactly as before."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bot import inference_load
from bot.nlu.evaluate import HELD_OUT, read_examples

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "assistant.tar.gz"


def _texts() -> list[str]:
    texts = []
    for lang in ("sv", "en", "ar", "fa", "so", "ti", "ru"):
        texts += [text for text, _ in read_examples(HELD_OUT / f"{lang}.yml")][::4]
    return texts


async def _parse_all(texts: list[str]) -> list[list[tuple[str, float]]]:
    from rasa.core.agent import Agent

    agent = Agent.load(str(MODEL))
    rankings = []
    for text in texts:
        result = await agent.parse_message(text)
        rankings.append([(r["name"], r["confidence"]) for r in result["intent_ranking"]])
    return rankings


@pytest.fixture(scope="module")
def both_loads() -> tuple[list[list[tuple[str, float]]], list[list[tuple[str, float]]]]:
    if not MODEL.exists():
        pytest.fail("no trained model: run `make train` first")
    texts = _texts()
    inference_load.uninstall()
    rasas = asyncio.run(_parse_all(texts))
    inference_load.install()
    try:
        ours = asyncio.run(_parse_all(texts))
    finally:
        inference_load.uninstall()
    return rasas, ours


def test_the_full_model_gives_the_same_intents_and_confidences(both_loads) -> None:  # type: ignore[no-untyped-def]
    rasas, ours = both_loads
    assert len(rasas) > 500
    for rasa_ranking, our_ranking in zip(rasas, ours, strict=True):
        assert [name for name, _ in our_ranking] == [name for name, _ in rasa_ranking]
        for (_, a), (_, b) in zip(our_ranking, rasa_ranking, strict=True):
            assert a == pytest.approx(b, abs=1e-5)
    # and the answers are not all the fallback: trained weights were read
    assert len({ranking[0][0] for ranking in ours}) > 20


def test_a_weight_missing_from_the_saved_model_falls_back_to_rasas_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A DIET configured with a layer its saved model does not have: not every weight can be
    read, so the model is loaded by Rasa's own load instead, with a warning."""
    from rasa.engine.graph import ExecutionContext
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.nlu.classifiers.diet_classifier import DIETClassifier

    storage, metadata = LocalModelStorage.from_model_archive(tmp_path / "storage", MODEL)
    node = next(n for n in metadata.predict_schema.nodes.values()
                if n.uses is DIETClassifier)  # fmt: skip
    config = {**DIETClassifier.get_default_config(), **node.config}
    context = ExecutionContext(metadata.predict_schema, metadata.model_id)
    inference_load.install()
    try:
        with caplog.at_level(logging.WARNING, logger="bot.inference_load"):
            as_saved = DIETClassifier.load(config, storage, node.resource, context)
        assert not caplog.records
        assert as_saved.model is not None
        changed = {**config, "hidden_layers_sizes": {"text": [128], "label": []}}
        with caplog.at_level(logging.WARNING, logger="bot.inference_load"):
            DIETClassifier.load(changed, storage, node.resource, context)
        assert any("Not every weight" in r.getMessage() for r in caplog.records)
    finally:
        inference_load.uninstall()
