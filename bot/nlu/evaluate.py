"""Score the trained model on the held-out splits, never trained on:

- ``short``: tests/nlu/<lang>.yml, short questions of every intent;
- ``long``: tests/nlu_long/<lang>.yml, long and messy messages as frightened people type them on
  a phone (a story before the question, typos, dialects, transliteration, code-switching),
  indirect crisis messages and hard negatives, written separately from the training data
  (tests/nlu_long/README.md).

Prints, per split and language: intent accuracy, macro-F1, language-identification accuracy
(messages of three words or more), crisis messages recognised as crisis, crisis messages only
asked "Are you safe?", and ordinary messages flagged as crisis or asked, with the most frequent
confusion pairs. Exits non-zero when a language is below its threshold, a held-out crisis
message is missed, or more than 1 % of ordinary messages are flagged or asked.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.settings import LANGUAGES, ROOT

_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\{[^}]*\}|\([^)]*\))")
SPLITS = {"short": ROOT / "tests" / "nlu", "long": ROOT / "tests" / "nlu_long"}
HELD_OUT = SPLITS["short"]
# Release thresholds: Swedish and English first (issue 2), every language (issue 3); the long,
# messy split: 0.85 in every language, 0.90 overall (issue 19).
THRESHOLDS = {"sv": 0.90, "en": 0.90, "ar": 0.85, "fa": 0.85, "so": 0.85, "ti": 0.85, "ru": 0.85}
SPLIT_THRESHOLDS = {"short": THRESHOLDS, "long": dict.fromkeys(THRESHOLDS, 0.85)}
OVERALL_THRESHOLD = 0.90
# At most this share of ordinary held-out messages flagged as crisis or asked "Are you safe?".
FALSE_ALARM_THRESHOLD = 0.01
# Language identification on messages of three words or more.
LANGUAGE_ID_THRESHOLD = 0.97


def read_examples(path: Path) -> list[tuple[str, str]]:
    """(text, intent) pairs from a Rasa NLU YAML file, entity annotations removed."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    pairs: list[tuple[str, str]] = []
    for block in doc.get("nlu", []) or []:
        intent = block.get("intent")
        examples = block.get("examples")
        if not intent or not isinstance(examples, str):
            continue
        for line in examples.splitlines():
            line = line.strip()
            if line.startswith("- "):
                pairs.append((_ANNOTATION.sub(r"\1", line[2:]).strip(), intent))
    return pairs


@dataclass
class LanguageReport:
    language: str
    examples: int
    accuracy: float
    macro_f1: float
    language_id_accuracy: float | None
    crisis_missed: list[str] = field(default_factory=list)
    confusions: list[tuple[str, str, int]] = field(default_factory=list)
    split: str = "short"
    crisis: int = 0
    # crisis messages not recognised as crisis but asked "Are you safe?" (in crisis_missed too)
    crisis_asked: list[str] = field(default_factory=list)
    ordinary: int = 0
    ordinary_flagged: list[str] = field(default_factory=list)
    ordinary_asked: list[str] = field(default_factory=list)

    @property
    def false_alarms(self) -> int:
        return len(self.ordinary_flagged) + len(self.ordinary_asked)


def macro_f1(gold: list[str], predicted: list[str]) -> float:
    labels = sorted(set(gold))
    scores = []
    for label in labels:
        tp = sum(1 for g, p in zip(gold, predicted, strict=False) if g == label and p == label)
        fp = sum(1 for g, p in zip(gold, predicted, strict=False) if g != label and p == label)
        fn = sum(1 for g, p in zip(gold, predicted, strict=False) if g == label and p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def overall_accuracy(reports: list[LanguageReport]) -> float:
    total = sum(r.examples for r in reports)
    return sum(r.accuracy * r.examples for r in reports) / total if total else 0.0


def false_alarm_rate(reports: list[LanguageReport]) -> float:
    ordinary = sum(r.ordinary for r in reports)
    return sum(r.false_alarms for r in reports) / ordinary if ordinary else 0.0


async def evaluate(
    model: Path, languages: tuple[str, ...] = LANGUAGES, split: str = "short", agent: Any = None
) -> list[LanguageReport]:
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # not a debug line per parsed message

    agent = agent or Agent.load(str(model))
    reports = []
    for lang in languages:
        path = SPLITS[split] / f"{lang}.yml"
        if not path.exists():
            continue
        pairs = read_examples(path)
        gold, predicted, lang_hits, lang_total = [], [], 0, 0
        crisis_missed: list[str] = []
        crisis_asked: list[str] = []
        ordinary_flagged: list[str] = []
        ordinary_asked: list[str] = []
        for text, intent in pairs:
            result = await agent.parse_message(text)
            name = (result.get("intent") or {}).get("name") or "None"
            asked = bool((result.get("crisis_check") or {}).get("ask"))
            gold.append(intent)
            predicted.append(name)
            if intent == "crisis" and name != "crisis":
                crisis_missed.append(text)
                if asked:
                    crisis_asked.append(text)
            elif intent != "crisis" and name == "crisis":
                ordinary_flagged.append(text)
            elif intent != "crisis" and asked:
                ordinary_asked.append(text)
            if len(text.split()) >= 3:
                lang_total += 1
                lang_hits += int((result.get("language") or {}).get("name") == lang)
        confusions = Counter((g, p) for g, p in zip(gold, predicted, strict=False) if g != p)
        reports.append(
            LanguageReport(
                language=lang,
                examples=len(pairs),
                accuracy=sum(g == p for g, p in zip(gold, predicted, strict=False)) / len(pairs),
                macro_f1=macro_f1(gold, predicted),
                language_id_accuracy=(lang_hits / lang_total) if lang_total else None,
                crisis_missed=crisis_missed,
                confusions=[(g, p, n) for (g, p), n in confusions.most_common(8)],
                split=split,
                crisis=sum(1 for g in gold if g == "crisis"),
                crisis_asked=crisis_asked,
                ordinary=sum(1 for g in gold if g != "crisis"),
                ordinary_flagged=ordinary_flagged,
                ordinary_asked=ordinary_asked,
            )
        )
    return reports


def failures(reports: list[LanguageReport], thresholds: dict[str, float]) -> list[str]:
    out = []
    for r in reports:
        minimum = thresholds.get(r.language)
        if minimum is not None and r.accuracy < minimum:
            out.append(f"{r.language}: accuracy {r.accuracy:.3f} < {minimum}")
        if r.crisis_missed:
            out.append(f"{r.language}: {len(r.crisis_missed)} crisis message(s) not recognised")
        lid = r.language_id_accuracy
        if r.split == "short" and lid is not None and lid < LANGUAGE_ID_THRESHOLD:
            out.append(f"{r.language}: language identification {lid:.3f} < {LANGUAGE_ID_THRESHOLD}")
    if len(reports) == len(LANGUAGES) and overall_accuracy(reports) < OVERALL_THRESHOLD:
        out.append(f"all: accuracy {overall_accuracy(reports):.3f} < {OVERALL_THRESHOLD}")
    if false_alarm_rate(reports) > FALSE_ALARM_THRESHOLD:
        out.append(
            f"all: {false_alarm_rate(reports):.3%} of ordinary messages flagged as crisis or asked"
            f" (at most {FALSE_ALARM_THRESHOLD:.0%})"
        )
    return out


def print_reports(reports: list[LanguageReport]) -> None:
    if reports:
        print(f"split: {reports[0].split}")
    print(
        f"{'lang':5} {'n':>5} {'accuracy':>9} {'macro-F1':>9} {'lang-id':>8} {'crisis':>9}"
        f" {'asked':>6} {'false alarms':>13}"
    )
    for r in reports:
        lid = f"{r.language_id_accuracy:.3f}" if r.language_id_accuracy is not None else "-"
        found = r.crisis - len(r.crisis_missed)
        print(
            f"{r.language:5} {r.examples:5d} {r.accuracy:9.3f} {r.macro_f1:9.3f} {lid:>8}"
            f" {found:>4}/{r.crisis:<4} {len(r.crisis_asked):>6} {r.false_alarms:>6}/{r.ordinary:<6}"
        )
    total = sum(r.examples for r in reports)
    if total:
        crisis = sum(r.crisis for r in reports)
        found = crisis - sum(len(r.crisis_missed) for r in reports)
        print(
            f"{'all':5} {total:5d} {overall_accuracy(reports):9.3f} {'':9} {'':8}"
            f" {found:>4}/{crisis:<4} {sum(len(r.crisis_asked) for r in reports):>6}"
            f" {false_alarm_rate(reports):>13.2%}"
        )
    for r in reports:
        if r.confusions:
            pairs = ", ".join(f"{g}->{p} ({n})" for g, p, n in r.confusions)
            print(f"  {r.language} confusions: {pairs}")


def main(argv: list[str]) -> int:
    from bot.train import model_path

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=model_path())
    parser.add_argument("--languages", default=",".join(LANGUAGES))
    parser.add_argument("--splits", default=",".join(SPLITS))
    parser.add_argument("--json", type=Path, default=ROOT / "var" / "eval.json")
    args = parser.parse_args(argv)
    languages = tuple(args.languages.split(","))
    problems: list[str] = []
    everything: list[LanguageReport] = []

    async def run_all() -> None:
        from rasa.core.agent import Agent

        agent = Agent.load(str(args.model))
        for split in args.splits.split(","):
            reports = await evaluate(args.model, languages, split, agent=agent)
            print_reports(reports)
            print()
            everything.extend(reports)
            problems.extend(f"{split} {p}" for p in failures(reports, SPLIT_THRESHOLDS[split]))

    asyncio.run(run_all())
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([asdict(r) for r in everything], ensure_ascii=False, indent=1))
    for line in problems:
        print(f"FAIL {line}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
