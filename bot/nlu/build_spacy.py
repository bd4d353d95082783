"""Build the blank Swedish spaCy pipeline that Rasa's SpacyNLP loads from a path.

No trained spaCy pipeline can be downloaded here and none is needed: Rasa only uses spaCy for
Swedish tokenisation and lookup lemmas. The lookup table comes from spacy-lookups-data at build
time and is stored inside the pipeline folder, so nothing is fetched at run time.

The table is stored in the compact form of bot/nlu/lemmas.py (about 9 MB in memory instead of
spaCy's 190 MB ``Table``), with exactly the lemmas spaCy's lookup ``Lemmatizer`` gives: the
build checks every entry against spaCy's own table before it replaces the old pipeline.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import spacy
from spacy.lookups import load_lookups

from bot.nlu.lemmas import FACTORY, CompactLookupTable

TABLE = "lemma_lookup"


def build(target: Path) -> None:
    nlp = spacy.blank("sv")
    # The table spaCy's own lookup Lemmatizer would load (Lemmatizer.initialize), with its keys
    # as spaCy hashed them.
    table = load_lookups(lang="sv", tables=[TABLE]).get_table(TABLE)
    lemmatizer = nlp.add_pipe(FACTORY, name="lemmatizer")
    lemmatizer.table = CompactLookupTable.from_items(table.items())
    # Rasa's SpacyNLP checks the model's metadata; give it a stable name.
    nlp.meta["name"] = "sv_blank_lookup"
    nlp.meta["version"] = "1.1.0"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    nlp.to_disk(tmp)
    check = spacy.load(tmp).get_pipe("lemmatizer").table
    if len(check) != len(table) or any(table[key] != lemma for key, lemma in check.items()):
        raise SystemExit(f"{tmp}: the compact table differs from spaCy's {TABLE}")
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    doc = spacy.load(target)("Jag har fått avslag och vill överklaga beslutet")
    print(f"spaCy pipeline at {target} ({len(table)} lookup lemmas): {[t.lemma_ for t in doc]}")


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else "build/spacy_sv"))
