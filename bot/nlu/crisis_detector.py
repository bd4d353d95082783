"""A dedicated, high-recall crisis detector beside the intent model (issue 19).

DIET ranks 47 intents from one bag of features; a person in danger who writes indirectly ("I
wrote a letter to my family and left it on the table, forgive me all") shares few words with the
crisis examples and many with an ordinary topic, so about half of such messages got an ordinary
answer. This component asks one question only, "is this message about immediate danger?", with
its own model: TF-IDF over character n-grams of the normalised text (robust to typos, dialect
spellings and transliteration), and a class-balanced logistic regression trained on every
`crisis` example against every other example (the hard negatives: fear about return, feeling
low, "my pills ran out" are ordinary examples of their own intents).

Two thresholds, chosen at training time from out-of-fold scores of the training data (3 folds),
so they follow the data instead of a number typed once:
- ``flag``: at or above it the intent becomes `crisis`. The threshold is the score that at most
  ``flag_rate`` of the ordinary out-of-fold examples reach.
- ``ask``: between it and ``flag`` the message keeps its intent, and the parse result carries
  ``crisis_check: {"ask": true}``; the actions then ask "Are you safe right now?" before
  anything else (actions/safety.py). At most ``ask_rate`` of ordinary out-of-fold examples reach
  it.
Every parse result carries ``crisis_check: {"score": p, "ask": bool}``, rounded, for the
evaluation and the console. The crisis lexicon (bot/nlu/crisis_lexicon.py) stays as the floor
after this component. Nothing of the message is logged.

Scoring one message uses the trained arithmetic directly (as bot/nlu/language.py's
FastClassifier does: about 0.1 ms instead of scikit-learn's 1 ms per call), checked against
scikit-learn on the training texts at load.
"""

from __future__ import annotations

import logging
import unicodedata
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.crisis_lexicon import normalise
from bot.nlu.language import tfidf_row

logger = logging.getLogger(__name__)

CRISIS = "crisis"
CRISIS_CHECK = "crisis_check"
_FILE = "crisis_detector.joblib"


def prepare(text: str) -> str:
    """The text the detector sees: the lexicon's normalisation (case, Arabic-script letter
    variants, diacritics, zero-width joiners) with the digits of every script made ASCII."""
    return "".join(
        str(unicodedata.digit(ch)) if not ch.isascii() and unicodedata.digit(ch, None) is not None
        else ch
        for ch in normalise(text)
    )


def build_pipeline(c: float = 4.0) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2,
            max_features=200_000, dtype=np.float64,
        ),
        LogisticRegression(C=c, class_weight="balanced", max_iter=3000, solver="lbfgs"),
    )  # fmt: skip


class FastBinary:
    """``predict_proba(text)[1]`` of the trained pipeline for one text, without scikit-learn's
    per-call overhead: sublinear tf times idf, l2-normalised, then the logistic of
    ``x @ coef + intercept``."""

    def __init__(self, pipeline: Any) -> None:
        vectorizer, model = pipeline[0], pipeline[-1]
        self._analyze = vectorizer.build_analyzer()
        self._vocabulary = vectorizer.vocabulary_
        self._idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        self._coef = np.asarray(model.coef_[0], dtype=np.float64)
        self._intercept = float(model.intercept_[0])
        self.positive_is_one = list(model.classes_) == [0, 1]

    def score(self, prepared: str) -> float:
        z = self._intercept
        row = tfidf_row(self._analyze, self._vocabulary, self._idf, prepared)
        if row is not None:
            indices, values = row
            z += float(values @ self._coef[indices])
        return float(1.0 / (1.0 + np.exp(-z)))


class CrisisModel:
    """The detector without Rasa: the pipeline, its two thresholds and the fast scorer."""

    def __init__(self, pipeline: Any, flag: float, ask: float) -> None:
        self.pipeline = pipeline
        self.flag = flag
        self.ask = ask
        self._fast: FastBinary | None = None

    @classmethod
    def fit(
        cls, texts: list[str], labels: list[int], *, flag_rate: float, ask_rate: float,
        c: float = 4.0, folds: int = 3, seed: int = 42,
    ) -> CrisisModel:  # fmt: skip
        from sklearn.model_selection import StratifiedKFold

        prepared = [prepare(t) for t in texts]
        y = np.asarray(labels)
        out_of_fold = np.zeros(len(prepared))
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        for train_index, test_index in splitter.split(prepared, y):
            fold = build_pipeline(c).fit([prepared[i] for i in train_index], y[train_index])
            out_of_fold[test_index] = fold.predict_proba([prepared[i] for i in test_index])[:, 1]
        negatives = np.sort(out_of_fold[y == 0])
        flag = _threshold(negatives, flag_rate)
        ask = min(_threshold(negatives, ask_rate), flag)
        pipeline = build_pipeline(c).fit(prepared, y)
        positives = out_of_fold[y == 1]
        logger.info(
            "Crisis detector: %d positives, %d negatives; out-of-fold recall %.3f flagged, "
            "%.3f flagged or asked; thresholds flag %.3f ask %.3f",
            int(y.sum()), int((y == 0).sum()), float((positives >= flag).mean()),
            float((positives >= ask).mean()), flag, ask,
        )  # fmt: skip
        return cls(pipeline, flag, ask)

    def use_fast_path(self, samples: list[str]) -> None:
        """Score with :class:`FastBinary` when it agrees with scikit-learn on ``samples``."""
        fast = FastBinary(self.pipeline)
        if not fast.positive_is_one:
            return
        prepared = [prepare(t) for t in samples]
        if prepared:
            expected = self.pipeline.predict_proba(prepared)[:, 1]
            got = np.array([fast.score(p) for p in prepared])
            if not np.allclose(got, expected, rtol=0, atol=1e-9):
                logger.warning("Fast crisis scorer differs from scikit-learn's; not used")
                return
        self._fast = fast

    def score(self, text: str) -> float:
        prepared = prepare(text)
        if self._fast is not None:
            return self._fast.score(prepared)
        return float(self.pipeline.predict_proba([prepared])[0, 1])


def _threshold(sorted_negatives: np.ndarray, rate: float) -> float:
    """The smallest score that at most ``rate`` of the negatives reach (strictly above the
    (1-rate) quantile), never below 0.5."""
    if not len(sorted_negatives):
        return 0.5
    allowed = int(np.floor(rate * len(sorted_negatives)))
    cut = sorted_negatives[len(sorted_negatives) - allowed - 1]
    return float(max(0.5, np.nextafter(cut, 1.0)))


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class CrisisDetector(GraphComponent):
    """Rasa graph component around :class:`CrisisModel` (see the module doc)."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # flag_rate / ask_rate: the share of ordinary training examples (out of fold) allowed
        # to reach each threshold; C: the logistic regression's inverse regularisation.
        return {"flag_rate": 0.002, "ask_rate": 0.006, "C": 4.0}

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: CrisisModel | None = None,
    ) -> None:
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self.model = model

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> CrisisDetector:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        texts, labels = [], []
        for example in training_data.intent_examples:
            text = example.get(TEXT) or ""
            if not text or text.startswith("/"):
                continue
            texts.append(text)
            labels.append(int(example.get(INTENT) == CRISIS))
        self.model = CrisisModel.fit(
            texts, labels, flag_rate=float(self._config["flag_rate"]),
            ask_rate=float(self._config["ask_rate"]), c=float(self._config["C"]),
        )  # fmt: skip
        with self._model_storage.write_to(self._resource) as model_dir:
            joblib.dump(
                {"pipeline": self.model.pipeline, "flag": self.model.flag, "ask": self.model.ask,
                 "samples": texts[:: max(1, len(texts) // 200)]},
                Path(model_dir) / _FILE,
            )  # fmt: skip
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> CrisisDetector:
        model = None
        try:
            with model_storage.read_from(resource) as model_dir:
                stored = joblib.load(Path(model_dir) / _FILE)
            model = CrisisModel(stored["pipeline"], stored["flag"], stored["ask"])
            model.use_fast_path(stored.get("samples") or [])
        except (ValueError, FileNotFoundError, KeyError):
            logger.warning("No trained crisis detector in the model; the lexicon alone guards")
        return cls(config, model_storage, resource, model)

    def process(self, messages: list[Message]) -> list[Message]:
        if self.model is None:
            return messages
        for message in messages:
            text = message.get(TEXT) or ""
            if not text or text.startswith("/"):  # a button payload names its intent itself
                continue
            try:
                score = self.model.score(text)
            except Exception:  # never let the safety net break understanding
                logger.error("Crisis detector failed", exc_info=False)
                continue
            current = message.get(INTENT) or {}
            already = current.get("name") == CRISIS
            flagged = score >= self.model.flag
            ask = not already and not flagged and score >= self.model.ask
            message.set(
                CRISIS_CHECK, {"score": round(score, 4), "ask": ask}, add_to_output=True
            )
            if flagged and not already:
                confidence = round(max(score, 0.5), 4)
                ranking = [
                    r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != CRISIS
                ]
                message.set(INTENT, {"name": CRISIS, "confidence": confidence}, add_to_output=True)
                message.set(
                    INTENT_RANKING_KEY, [{"name": CRISIS, "confidence": confidence}, *ranking],
                    add_to_output=True,
                )  # fmt: skip
                logger.info("Crisis recognised by the detector")
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
