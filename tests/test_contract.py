"""The intent taxonomy is a contract: exactly these names, trained and held out per language."""

from __future__ import annotations

import re

import pytest
import yaml

from bot.nlu.evaluate import read_examples
from bot.settings import LANGUAGES, ROOT

TAXONOMY = yaml.safe_load((ROOT / "docs" / "intents.yml").read_text(encoding="utf-8"))
INTENTS = list(TAXONOMY["intents"])
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
# Intents sent only as button payloads ("/name") or by Rasa itself: in the domain, never in
# the taxonomy, no NLU examples (test_training_examples_per_intent rejects any).
PAYLOAD_ONLY = {"remind_deadline", "cancel_reminder", "EXTERNAL_deadline_reminder",
                "compute_deadline", "inform_deadline", "safety_ok"}  # fmt: skip
# Entities only in button payloads ('/compute_deadline{"deadline_kind":"appeal"}'), never
# annotated in training data.
PAYLOAD_ONLY_ENTITIES = {"deadline_kind", "deadline_decision", "deadline_basis"}
# Minimum training examples per intent and language.
MINIMUM = {"sv": 20, "en": 15, "ar": 15, "fa": 15, "so": 15, "ti": 15, "ru": 15}


def training(lang: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for path in sorted((ROOT / "data" / "nlu" / lang).glob("*.yml")):
        pairs += read_examples(path)
    return pairs


def norm(text: str) -> str:
    return re.sub(r"[^\w]+", " ", text.lower()).strip()


def test_domain_has_exactly_the_contract_intents() -> None:
    assert [i for i in DOMAIN["intents"] if i not in PAYLOAD_ONLY] == INTENTS
    assert set(DOMAIN["intents"]) == set(INTENTS) | PAYLOAD_ONLY
    assert len(INTENTS) == 47
    assert set(DOMAIN["entities"]) == {"language", "country"} | PAYLOAD_ONLY_ENTITIES


def test_payload_only_entities_are_never_annotated() -> None:
    for path in sorted((ROOT / "data" / "nlu").rglob("*.yml")):
        text = path.read_text(encoding="utf-8")
        for entity in PAYLOAD_ONLY_ENTITIES:
            assert f'"entity": "{entity}"' not in text, (path, entity)


def test_every_intent_has_a_rule() -> None:
    covered = set()
    for path in (ROOT / "data" / "rules").glob("*.yml"):
        for rule in yaml.safe_load(path.read_text(encoding="utf-8")).get("rules", []):
            for step in rule.get("steps", []):
                if "intent" in step:
                    covered.add(step["intent"])
    assert set(INTENTS) <= covered
    assert "nlu_fallback" in covered


@pytest.mark.parametrize("lang", LANGUAGES)
def test_training_examples_per_intent(lang: str) -> None:
    pairs = training(lang)
    if lang not in ("sv", "en") and not pairs:
        pytest.fail(f"no training data for {lang}")
    counts = {intent: 0 for intent in INTENTS}
    for _, intent in pairs:
        assert intent in counts, f"{lang}: unknown intent {intent}"
        counts[intent] += 1
    low = {i: n for i, n in counts.items() if n < MINIMUM[lang]}
    assert not low, f"{lang}: too few examples {low}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_held_out_split_is_never_trained_on(lang: str) -> None:
    trained = {norm(t) for t, _ in training(lang)}
    held_out = read_examples(ROOT / "tests" / "nlu" / f"{lang}.yml")
    assert {i for _, i in held_out} == set(INTENTS)
    leaked = [t for t, _ in held_out if norm(t) in trained]
    assert not leaked, leaked[:5]


def test_no_example_in_two_intents() -> None:
    seen: dict[str, str] = {}
    clashes = []
    for lang in LANGUAGES:
        for text, intent in training(lang):
            key = norm(text)
            if key in seen and seen[key] != intent:
                clashes.append((text, seen[key], intent))
            seen[key] = intent
    assert not clashes, clashes[:10]


def test_entity_synonyms_are_consistent() -> None:
    """One surface text maps to one value (Rasa's synonym mapper ignores the entity type)."""
    annotation = re.compile(r"\[([^\]]+)\]\{\"entity\": \"(\w+)\", \"value\": \"([^\"]+)\"\}")
    seen: dict[str, tuple[str, str]] = {}
    clashes = []
    for path in sorted((ROOT / "data" / "nlu").rglob("*.yml")):
        for text, entity, value in annotation.findall(path.read_text(encoding="utf-8")):
            key = text.lower()
            if key in seen and seen[key] != (entity, value):
                clashes.append((text, seen[key], (entity, value), path.name))
            seen.setdefault(key, (entity, value))
    assert not clashes, clashes[:10]


def test_entity_lookup_file_is_current() -> None:
    from bot.nlu.entities import collect, render

    current = (ROOT / "data" / "nlu" / "entities.yml").read_text(encoding="utf-8")
    assert current == render(collect()), "run: python -m bot.nlu.entities"
