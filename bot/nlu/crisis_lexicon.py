"""A safety net under the intent classifier: phrases that always mean `crisis`.

DIET learns crisis from examples, and a learnt model can miss a message that a person in danger
writes in words it has not seen ("I swallowed a whole box of pills" read as a health question).
A missed crisis costs more than any other error, so after the FallbackClassifier this component
looks for explicit emergency phrases (suicidal intent, self-harm, overdose, someone unconscious,
violence happening now, a child in danger) in every language, from bot/nlu/crisis/<code>.txt, and
when one matches it makes the intent `crisis` with confidence 1.0, the classifier's ranking kept
below it. The patterns are written to be specific: "will they kill me if I return" is a question
about return_safety and must not match (each language has negative examples in
bot/nlu/crisis/<code>_examples.yml, checked by tests/test_crisis_lexicon.py).

The patterns are read from the source tree when the model is loaded, so adding one does not need
retraining. Nothing of the message is logged.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

logger = logging.getLogger(__name__)

LEXICON_DIR = Path(__file__).parent / "crisis"
CRISIS = "crisis"

# Arabic-script harakat, tanwin, shadda, sukun, superscript alef, and tatweel.
_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_FOLD = str.maketrans(
    {
        "ي": "ی", "ى": "ی", "ئ": "ی",
        "ك": "ک",
        "ة": "ه",
        "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا",
        "ё": "е",
        "’": "'", "‘": "'", "`": "'",
        "\u200c": " ", "\u200d": "", "\u200b": "",
    }
)  # fmt: skip
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFKC, lower case, Arabic-script diacritics removed and letter variants folded (ي/ى→ی,
    ك→ک, ة→ه, أ/إ/آ→ا), ё→е, zero-width joiners dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = _ARABIC_MARKS.sub("", text).translate(_FOLD)
    return _SPACE.sub(" ", text).strip()


@dataclass(frozen=True)
class Lexicon:
    patterns: dict[str, list[re.Pattern[str]]]

    @classmethod
    def load(cls, directory: Path = LEXICON_DIR) -> Lexicon:
        patterns: dict[str, list[re.Pattern[str]]] = {}
        for path in sorted(directory.glob("*.txt")):
            compiled = []
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                try:
                    # Letters folded like the text's, so ي in a pattern matches ی (never lower-
                    # cased: that would turn \S into \s).
                    compiled.append(re.compile(fold_letters(line), re.IGNORECASE))
                except re.error as error:
                    raise ValueError(f"{path.name}:{number}: {error}") from error
            patterns[path.stem] = compiled
        return cls(patterns)

    def match(self, text: str) -> str | None:
        """The language code of the first pattern that matches ``text``, or None."""
        folded = normalise(text)
        if not folded:
            return None
        for code, compiled in self.patterns.items():
            if any(p.search(folded) for p in compiled):
                return code
        return None


def fold_letters(pattern: str) -> str:
    """The letter folding of :func:`normalise` without case or NFKC changes, for patterns: it
    maps letters to letters and never touches regex syntax."""
    return _ARABIC_MARKS.sub("", pattern).translate(_FOLD)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class CrisisLexicon(GraphComponent):
    """Sets the intent to `crisis` when an explicit emergency phrase is found (see module doc)."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {}

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> CrisisLexicon:
        return cls(Lexicon.load())

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if text.startswith("/"):  # a button payload names its intent itself
                continue
            try:
                matched = self.lexicon.match(text)
            except Exception:  # never let the safety net break understanding
                logger.exception("Crisis lexicon failed")
                continue
            if matched is None:
                continue
            current = message.get(INTENT) or {}
            if current.get("name") == CRISIS and (current.get("confidence") or 0) >= 0.99:
                continue
            ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != CRISIS]
            message.set(INTENT, {"name": CRISIS, "confidence": 1.0}, add_to_output=True)
            message.set(
                INTENT_RANKING_KEY, [{"name": CRISIS, "confidence": 1.0}, *ranking],
                add_to_output=True,
            )  # fmt: skip
            logger.info("Crisis phrase recognised (lexicon %s)", matched)
        return messages

    def process_training_data(self, training_data: Any) -> Any:
        return training_data
