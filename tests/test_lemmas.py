"""The compact Swedish lookup lemmatizer (bot/nlu/lemmas.py) gives spaCy's own lookup lemmas.

Checked against spaCy's lookup ``Lemmatizer`` with the spacy-lookups-data table: every word form
of the table, words not in it, other cases, other scripts, and every training and held-out
sentence through the full pipeline (tokenizer included). The memory figures are in the note of
issue 9 and in `make bench`, not here.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import spacy
import spacy_lookups_data
from spacy.language import Language
from spacy.tokens import Doc

from bot.nlu.build_spacy import build
from bot.nlu.evaluate import read_examples
from bot.nlu.lemmas import FACTORY
from bot.settings import ROOT


@pytest.fixture(scope="module")
def compact(tmp_path_factory: pytest.TempPathFactory) -> Language:
    """The pipeline as `make` builds it into build/spacy_sv, loaded back from disk."""
    target = tmp_path_factory.mktemp("spacy") / "spacy_sv"
    build(target)
    return spacy.load(target, disable=["parser"])


@pytest.fixture(scope="module")
def reference() -> Language:
    """spaCy's own lookup lemmatizer, as build/spacy_sv had it before."""
    nlp = spacy.blank("sv")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    return nlp


def _lemmas(nlp: Language, words: list[str]) -> list[str]:
    doc = nlp.get_pipe("lemmatizer")(Doc(nlp.vocab, words=words))
    return [t.lemma_ for t in doc]


def _same_lemmas(compact: Language, reference: Language, words: list[str]) -> None:
    assert _lemmas(compact, words) == _lemmas(reference, words)


def test_the_pipeline_uses_the_compact_component(compact: Language) -> None:
    assert compact.pipe_names == ["lemmatizer"]
    assert compact.get_pipe_meta("lemmatizer").factory == FACTORY


def test_every_entry_of_the_table(compact: Language, reference: Language) -> None:
    path = Path(spacy_lookups_data.__file__).parent / "data" / "sv_lemma_lookup.json.gz"
    table = json.loads(gzip.decompress(path.read_bytes()))
    words = list(table)
    assert len(words) == 660305  # spacy-lookups-data 1.0.5
    # spaCy's own lookup (Lemmatizer.lookup_lemmatize reads nothing but token.text) against the
    # compact table, for every word form; and they are the table's lemmas: the lookup hit.
    spacy_lookup = reference.get_pipe("lemmatizer").lookup_lemmatize
    want = [spacy_lookup(SimpleNamespace(text=word))[0] for word in words]
    got = compact.get_pipe("lemmatizer").table.lookup(words)
    assert sum(g == w for g, w in zip(got, want, strict=True)) == len(words)
    assert got == [table[word] for word in words]
    # The components themselves on real Docs (creating 660k tokens would take a minute): every
    # 20th word form.
    sample = words[::20]
    _same_lemmas(compact, reference, sample)
    assert _lemmas(compact, sample) == [table[word] for word in sample]


@pytest.mark.parametrize(
    "words",
    [
        # not in the table: their own lemma
        ["Migrationsverket", "LMA-kortet", "avslagsbeslutet", "överklagandeskrivelsen", "xyzzy"],
        # other cases of table entries
        ["Överklaga", "ÖVERKLAGAR", "hAr", "Vill", "VILL", "Beslutet", "BESLUTET", "jag", "JAG"],
        # other scripts, digits, punctuation, emoji
        ["الميغراشون", "رفض", "چطور", "ትግርኛ", "ሰላም", "Привет", "решение", "2024", "?", "!!", "🙂"],
        # strings spaCy hashes to its reserved symbol ids, in the table and not
        ["det", "Det", "neg", "possessive", "NOUN", "ADJ", "lemma", "ORTH", "nsubj"],
        # Latin-script Arabic, Persian, Somali and English
        ["3ndi", "rafd", "chetor", "sidee", "racfaan", "appeal", "the", "decision"],
    ],
)
def test_words_outside_the_table_and_other_scripts(
    compact: Language, reference: Language, words: list[str]
) -> None:
    _same_lemmas(compact, reference, words)


def test_every_training_and_held_out_sentence(compact: Language, reference: Language) -> None:
    texts = [
        text
        for path in sorted((ROOT / "data" / "nlu").rglob("*.yml")) + sorted((ROOT / "tests" / "nlu").glob("*.yml"))
        for text, _intent in read_examples(path)
    ]
    assert len(texts) > 1000
    for text in texts:
        assert [t.lemma_ for t in compact(text)] == [t.lemma_ for t in reference(text)], text


def test_a_lemma_already_set_is_kept(compact: Language, reference: Language) -> None:
    lemmas = []
    for nlp in (compact, reference):
        doc = Doc(nlp.vocab, words=["beslutet", "har"])
        doc[0].lemma_ = "förutbestämt"
        lemmas.append([t.lemma_ for t in nlp.get_pipe("lemmatizer")(doc)])
    assert lemmas[0] == lemmas[1] == ["förutbestämt", "hare"]


def test_an_empty_doc(compact: Language) -> None:
    assert list(compact("")) == []


@pytest.mark.slow
def test_rasa_registers_the_factory_before_spacy_loads(compact: Language, tmp_path: Path) -> None:
    """Rasa imports the pipeline's custom components (bot.nlu.language first) before SpacyNLP
    loads build/spacy_sv; that import alone must register the factory."""
    target = tmp_path / "spacy_sv"
    compact.to_disk(target)
    code = (
        "import sys, spacy\n"
        "import bot.nlu.language\n"
        f"nlp = spacy.load({str(target)!r})\n"
        "print([t.lemma_ for t in nlp('Jag vill överklaga beslutet')])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "['Jag', 'villa', 'överklaga', 'besluten']"
