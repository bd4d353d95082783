"""Merge a translator's staging file into content/ (keeps the files' layout and comments).

    python -m bot.content_merge /tmp/tr_ar.yml [--reviewed]

The staging file has the shape {language, answers: {intent: {title, answer, by_country}},
texts: {key: text}, countries: {name: text}}. Every merged text gets ``reviewed: false``
unless --reviewed says a native speaker checked it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString

from bot.settings import LANGUAGES, ROOT

CONTENT = ROOT / "content"


def _rt() -> YAML:
    y = YAML()
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def _flow(text: str, reviewed: bool) -> CommentedMap:
    m = CommentedMap([("text", DoubleQuotedScalarString(text.strip())), ("reviewed", reviewed)])
    m.fa.set_flow_style()
    return m


def _block(text: str, reviewed: bool) -> CommentedMap:
    return CommentedMap([("reviewed", reviewed), ("text", LiteralScalarString(text.strip() + "\n"))])


def merge(staging: Path, reviewed: bool = False) -> list[str]:
    data = yaml.safe_load(staging.read_text(encoding="utf-8"))
    lang = data["language"]
    if lang not in LANGUAGES:
        raise SystemExit(f"unknown language {lang!r}")
    y = _rt()
    missing: list[str] = []
    for path in sorted((CONTENT / "answers").glob("*.yml")):
        doc = y.load(path.read_text(encoding="utf-8"))
        intent = doc["intent"]
        tr = (data.get("answers") or {}).get(intent)
        if not tr:
            missing.append(f"answers/{intent}")
            continue
        doc["title"][lang] = _flow(str(tr["title"]), reviewed)
        doc["answer"][lang] = _block(str(tr["answer"]), reviewed)
        for variant, text in (tr.get("by_country") or {}).items():
            if "by_country" in doc and variant in doc["by_country"]:
                doc["by_country"][variant][lang] = _block(str(text), reviewed)
        with path.open("w", encoding="utf-8") as handle:
            y.dump(doc, handle)
    texts_path = CONTENT / "texts.yml"
    texts = y.load(texts_path.read_text(encoding="utf-8"))
    for key in texts:
        if key in (data.get("texts") or {}):
            texts[key][lang] = _flow(str(data["texts"][key]), reviewed)
        else:
            missing.append(f"texts/{key}")
    with texts_path.open("w", encoding="utf-8") as handle:
        y.dump(texts, handle)
    countries_path = CONTENT / "countries.yml"
    countries = y.load(countries_path.read_text(encoding="utf-8"))
    for name in countries:
        value = (data.get("countries") or {}).get(name)
        if value:
            countries[name]["names"][lang] = DoubleQuotedScalarString(str(value))
        else:
            missing.append(f"countries/{name}")
    with countries_path.open("w", encoding="utf-8") as handle:
        y.dump(countries, handle)
    return missing


if __name__ == "__main__":
    missing = merge(Path(sys.argv[1]), reviewed="--reviewed" in sys.argv)
    print(f"merged; missing: {missing or 'nothing'}")
