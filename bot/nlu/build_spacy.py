"""Build the blank Swedish spaCy pipeline that Rasa's SpacyNLP loads from a path.

No trained spaCy pipeline can be downloaded here and none is needed: Rasa only uses spaCy for
Swedish tokenisation and lookup lemmas. The lookup table comes from spacy-lookups-data at build
time and is stored inside the pipeline folder, so nothing is fetched at run time.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import spacy


def build(target: Path) -> None:
    nlp = spacy.blank("sv")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    # Rasa's SpacyNLP checks the model's metadata; give it a stable name.
    nlp.meta["name"] = "sv_blank_lookup"
    nlp.meta["version"] = "1.0.0"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    nlp.to_disk(tmp)
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    check = spacy.load(target)
    doc = check("Jag har fått avslag och vill överklaga beslutet")
    print(f"spaCy pipeline at {target}: {[t.lemma_ for t in doc]}")


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else "build/spacy_sv"))
