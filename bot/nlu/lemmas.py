"""Swedish lookup lemmas in a compact form: a spaCy component for build/spacy_sv.

spaCy's own lookup ``Lemmatizer`` keeps the spacy-lookups-data table (660,305 Swedish word
forms) as a ``Table``, an OrderedDict of uint64 hash -> str, plus a Bloom filter: about 190 MB
of resident memory per load, and a Rasa server loads build/spacy_sv twice (SpacyNLP is two nodes
of the predict graph, ``provide_SpacyNLP1`` and ``run_SpacyNLP1``, each calling ``spacy.load``):
+216 and +148 MB measured. Here the same table is kept as

* ``keys``: the table's own uint64 keys, sorted (numpy, 8 bytes each),
* ``lemma_index``: per key, the int32 number of its lemma (4 bytes each),
* ``lemmas``: the 93k distinct lemmas as one UTF-8 blob with uint32 offsets,

about 10 MB per load (11 and 10 MB measured in the Rasa server), read straight into numpy arrays:
no dict is ever built, not even while loading.

The lemma of a token is exactly what spaCy's lookup ``Lemmatizer`` gives
(spacy/pipeline/lemmatizer.py, ``lookup_lemmatize`` and ``__call__``, spaCy 3.4): the token's
text, case as written, is looked up by ``spacy.strings.get_string_id`` (the hash spaCy's
``Table`` uses, including its reserved symbol ids for "det", "neg", "possessive"); a text not in
the table is its own lemma; a token that already has a lemma keeps it unless ``overwrite``.
tests/test_lemmas.py checks this for every entry of the table.

The factory must be registered before spaCy loads build/spacy_sv: bot/nlu/language.py (the first
component of the NLU pipeline, imported by Rasa when it builds or loads the model graph, before
any component is created) imports this module. No ``from __future__ import annotations`` here:
spaCy validates the factory's signature with pydantic at run time.
"""

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from spacy.language import Language
from spacy.strings import get_string_id
from spacy.tokens import Doc

FACTORY = "compact_lookup_lemmatizer"
_FILE = "lemma_lookup.npz"


class CompactLookupTable:
    """A read-only hash -> lemma mapping: sorted uint64 keys, int32 lemma numbers, one blob."""

    def __init__(
        self, keys: np.ndarray, lemma_index: np.ndarray, blob: bytes, offsets: np.ndarray
    ) -> None:
        self.keys = keys
        self.lemma_index = lemma_index
        self.blob = blob
        self.offsets = offsets

    @classmethod
    def from_items(cls, items: Iterable[tuple[int, str]]) -> "CompactLookupTable":
        """From (key, lemma) pairs, the keys as spaCy's Table holds them (build time only)."""
        numbers: dict[str, int] = {}
        keys: list[int] = []
        index: list[int] = []
        for key, lemma in items:
            if not isinstance(lemma, str):
                raise TypeError(f"lemma of {key} is {type(lemma).__name__}, not str")
            keys.append(key)
            index.append(numbers.setdefault(lemma, len(numbers)))
        key_array = np.array(keys, dtype=np.uint64)
        order = np.argsort(key_array, kind="stable")
        key_array = key_array[order]
        if len(key_array) > 1 and not np.all(key_array[1:] > key_array[:-1]):
            raise ValueError("duplicate keys")
        encoded = [lemma.encode("utf-8") for lemma in numbers]
        offsets = np.zeros(len(encoded) + 1, dtype=np.uint32)
        offsets[1:] = np.cumsum([len(b) for b in encoded], dtype=np.uint64)
        return cls(key_array, np.array(index, dtype=np.int32)[order], b"".join(encoded), offsets)

    def __len__(self) -> int:
        return len(self.keys)

    def lemma(self, number: int) -> str:
        return self.blob[self.offsets[number] : self.offsets[number + 1]].decode("utf-8")

    def lookup(self, texts: list[str]) -> list[str]:
        """The lemma of each text, the text itself when it is not in the table."""
        if not texts or not len(self.keys):
            return list(texts)
        wanted = np.fromiter((get_string_id(t) for t in texts), dtype=np.uint64, count=len(texts))
        pos = np.searchsorted(self.keys, wanted)
        np.minimum(pos, len(self.keys) - 1, out=pos)
        found = self.keys[pos] == wanted
        numbers = self.lemma_index[pos]
        return [
            self.lemma(int(n)) if hit else text
            for text, hit, n in zip(texts, found.tolist(), numbers.tolist(), strict=True)
        ]

    def items(self) -> Iterable[tuple[int, str]]:
        for key, number in zip(self.keys.tolist(), self.lemma_index.tolist(), strict=True):
            yield key, self.lemma(number)

    def save(self, path: Path) -> None:
        np.savez(
            path,
            keys=self.keys,
            lemma_index=self.lemma_index,
            blob=np.frombuffer(self.blob, dtype=np.uint8),
            offsets=self.offsets,
        )

    @classmethod
    def load(cls, path: Path) -> "CompactLookupTable":
        with np.load(path, allow_pickle=False) as data:
            return cls(
                data["keys"], data["lemma_index"], data["blob"].tobytes(), data["offsets"]
            )


class CompactLookupLemmatizer:
    """spaCy pipeline component: token.lemma_ from a :class:`CompactLookupTable`."""

    def __init__(self, name: str = "lemmatizer", *, overwrite: bool = False) -> None:
        self.name = name
        self.overwrite = overwrite
        self.table: CompactLookupTable | None = None

    def __call__(self, doc: Doc) -> Doc:
        if self.table is None:
            raise ValueError(f"{FACTORY}: no lookup table loaded (run bot.nlu.build_spacy)")
        tokens = [t for t in doc if self.overwrite or t.lemma == 0]
        for token, lemma in zip(tokens, self.table.lookup([t.text for t in tokens]), strict=True):
            token.lemma_ = lemma
        return doc

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        if self.table is None:
            raise ValueError(f"{FACTORY}: nothing to save")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.table.save(path / _FILE)

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> "CompactLookupLemmatizer":
        self.table = CompactLookupTable.load(Path(path) / _FILE)
        return self


@Language.factory(FACTORY, assigns=["token.lemma"], default_config={"overwrite": False})
def make_compact_lookup_lemmatizer(nlp: Language, name: str, overwrite: bool) -> Any:
    return CompactLookupLemmatizer(name, overwrite=overwrite)
