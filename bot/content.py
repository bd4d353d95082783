"""The assistant's texts: answers per topic, other texts, countries (content/*.yml).

Loaded once per process. No Rasa imports: the actions, the console and the tests use it.
``python -m bot.content status`` lists the texts still waiting for a native speaker's review;
``python -m bot.content check`` lists what is missing.
"""

from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.settings import LANGUAGES, RTL_LANGUAGES, get_settings

logger = logging.getLogger(__name__)

# Domain intents: each has an answer file (the order of docs/intents.yml).
DOMAIN_INTENTS = (
    "appeal_how", "appeal_deadline", "appeal_higher_court", "legal_counsel", "decision_final",
    "new_circumstances", "decision_expiry", "departure_deadline", "reentry_ban",
    "police_enforcement", "detention", "dublin_transfer", "law_changes", "work_permit",
    "return_centre", "housing_allowance", "health_care", "children_rights",
    "unaccompanied_minor", "psychosocial_support", "crisis", "family_tracing", "support_ended",
    "reporting_duty", "family_reunification", "lma_card", "voluntary_return",
    "travel_documents", "travel_costs", "reintegration_support", "return_safety",
    "red_cross_support", "contact_authority", "privacy", "delete_data", "office_hours",
    "resettlement",
)  # fmt: skip
COUNTRY_VARIANTS = ("both", "reestablishment_only", "eu_only", "none")
PLACEHOLDERS = {
    "retention_days", "office_hours", "country", "sources", "checked", "wait_minutes",
    "next_open",
    "date", "days", "remind_date", "left",  # deadline reminders (actions/reminders.py)
    "start", "final", "holiday",  # the deadline form (actions/deadlines.py)
}  # fmt: skip
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

# Left-to-right runs inside right-to-left text: Latin words, numbers, phone numbers, URLs.
# Brackets stay outside the runs: they are mirrored by the RTL context on both sides.
_LTR_RUN = re.compile(r"[A-Za-zÀ-ɏ0-9+][A-Za-zÀ-ɏ0-9 .,:/+\-–_@%]*[A-Za-zÀ-ɏ0-9%]|[A-Za-z0-9]")
LRI, PDI, RLM = "\u2066", "\u2069", "\u200f"


def isolate_ltr(text: str) -> str:
    """Wrap each left-to-right run in LRI…PDI so it keeps its order inside RTL text."""
    return _LTR_RUN.sub(lambda m: f"{LRI}{m.group(0)}{PDI}", text)


def for_display(text: str, lang: str) -> str:
    """Text as sent to a user of ``lang``: RTL text gets its LTR runs isolated."""
    if lang in RTL_LANGUAGES:
        return RLM + isolate_ltr(text)
    return text


@dataclass(frozen=True)
class Source:
    name: str
    url: str
    date: str | None = None


@dataclass(frozen=True)
class Answer:
    intent: str
    text: str
    title: str
    checked: str
    sources: tuple[Source, ...]
    related: tuple[str, ...]
    language: str


class _SafeDict(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(template: str, **values: Any) -> str:
    """Fill known placeholders; leave unknown ones visible rather than crash."""
    return template.format_map(_SafeDict(values))


class Content:
    """All texts, loaded from a content directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.answers: dict[str, dict[str, Any]] = {}
        for path in sorted((directory / "answers").glob("*.yml")):
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            self.answers[doc.get("intent", path.stem)] = doc
        texts_path = directory / "texts.yml"
        self.texts: dict[str, dict[str, Any]] = (
            yaml.safe_load(texts_path.read_text(encoding="utf-8")) if texts_path.exists() else {}
        ) or {}
        countries_path = directory / "countries.yml"
        self.countries: dict[str, dict[str, Any]] = (
            yaml.safe_load(countries_path.read_text(encoding="utf-8"))
            if countries_path.exists()
            else {}
        ) or {}

    # -- lookups -----------------------------------------------------------------------------
    @staticmethod
    def _pick(entry: dict[str, Any] | None, lang: str) -> str | None:
        """The text of a per-language entry, falling back to English, then Swedish."""
        if not entry:
            return None
        for code in (lang, "en", "sv"):
            value = entry.get(code)
            if isinstance(value, dict):
                value = value.get("text")
            if value:
                if code != lang:
                    logger.warning("Missing %s text, used %s", lang, code)
                return str(value).strip()
        return None

    def text(self, key: str, lang: str, **values: Any) -> str:
        picked = self._pick(self.texts.get(key), lang)
        if picked is None:
            raise KeyError(f"no text {key!r}")
        return fill(picked, **values)

    def has_answer(self, intent: str) -> bool:
        return intent in self.answers

    def title(self, intent: str, lang: str) -> str:
        doc = self.answers.get(intent) or {}
        return self._pick(doc.get("title"), lang) or intent.replace("_", " ")

    def answer(self, intent: str, lang: str, **values: Any) -> Answer:
        doc = self.answers[intent]
        text = self._pick(doc.get("answer"), lang) or ""
        return Answer(
            intent=intent,
            text=fill(text, **values),
            title=self.title(intent, lang),
            checked=str(doc.get("checked", "")),
            sources=tuple(
                Source(str(s.get("name", "")), str(s.get("url", "")), s.get("date"))
                for s in doc.get("sources", []) or []
            ),
            related=tuple(doc.get("related", []) or []),
            language=lang,
        )

    def country_answer(self, country: str, lang: str) -> str | None:
        """The reintegration text for a named country, or None if the country is unknown."""
        entry = self.countries.get(country)
        if entry is None:
            return None
        on_re = bool(entry.get("reestablishment_support"))
        on_eu = bool(entry.get("eu_reintegration"))
        variant = (
            "both" if on_re and on_eu
            else "reestablishment_only" if on_re
            else "eu_only" if on_eu
            else "none"
        )  # fmt: skip
        variants = (self.answers.get("reintegration_support") or {}).get("by_country") or {}
        template = self._pick(variants.get(variant), lang)
        if template is None:
            return None
        return fill(template, country=self.country_name(country, lang))

    def country_name(self, country: str, lang: str) -> str:
        entry = self.countries.get(country) or {}
        names = entry.get("names") or {}
        return str(names.get(lang) or names.get("en") or country)

    # -- quality -----------------------------------------------------------------------------
    def _entries(self) -> list[tuple[str, dict[str, Any]]]:
        """Every per-language entry with a readable location."""
        out: list[tuple[str, dict[str, Any]]] = []
        for intent, doc in self.answers.items():
            out.append((f"answers/{intent}.yml title", doc.get("title") or {}))
            out.append((f"answers/{intent}.yml answer", doc.get("answer") or {}))
            for variant, entry in (doc.get("by_country") or {}).items():
                out.append((f"answers/{intent}.yml by_country.{variant}", entry or {}))
        for key, entry in self.texts.items():
            out.append((f"texts.yml {key}", entry or {}))
        return out

    def problems(self, languages: tuple[str, ...] = LANGUAGES) -> list[str]:
        """Everything missing or malformed, as readable lines (empty when all is well)."""
        found: list[str] = []
        for intent in DOMAIN_INTENTS:
            doc = self.answers.get(intent)
            if doc is None:
                found.append(f"answers/{intent}.yml: missing")
                continue
            if not doc.get("checked"):
                found.append(f"answers/{intent}.yml: no checked date")
            sources = doc.get("sources") or []
            if not sources or not all(str(s.get("url", "")).startswith("https://") for s in sources):
                found.append(f"answers/{intent}.yml: no source with an https URL")
            for rel in doc.get("related", []) or []:
                if rel not in DOMAIN_INTENTS:
                    found.append(f"answers/{intent}.yml: related topic {rel!r} unknown")
        by_country = (self.answers.get("reintegration_support") or {}).get("by_country") or {}
        for variant in COUNTRY_VARIANTS:
            if variant not in by_country:
                found.append(f"answers/reintegration_support.yml: by_country.{variant} missing")
        for where, entry in self._entries():
            for lang in languages:
                value = entry.get(lang)
                text = value.get("text") if isinstance(value, dict) else value
                if not text or not str(text).strip():
                    found.append(f"{where}: no {lang} text")
                    continue
                if not isinstance(value, dict) or "reviewed" not in value:
                    found.append(f"{where}: {lang} has no reviewed flag")
                for name in _PLACEHOLDER.findall(str(text)):
                    if name not in PLACEHOLDERS:
                        found.append(f"{where}: {lang} has unknown placeholder {{{name}}}")
        for country, entry in self.countries.items():
            for lang in languages:
                if not (entry.get("names") or {}).get(lang):
                    found.append(f"countries.yml {country}: no {lang} name")
        return found

    def unreviewed(self) -> dict[str, list[str]]:
        """Per language, the texts whose ``reviewed`` flag is not true."""
        out: dict[str, list[str]] = {lang: [] for lang in LANGUAGES}
        for where, entry in self._entries():
            for lang in LANGUAGES:
                value = entry.get(lang)
                if isinstance(value, dict) and value.get("text") and not value.get("reviewed"):
                    out[lang].append(where)
        return out


@lru_cache(maxsize=4)
def load_content(directory: Path | None = None) -> Content:
    return Content(directory or get_settings().content_dir)


def _main(argv: list[str]) -> int:
    content = load_content()
    command = argv[0] if argv else "status"
    if command == "status":
        for lang, items in content.unreviewed().items():
            print(f"{lang}: {len(items)} texts not yet reviewed by a native speaker")
            for item in items:
                print(f"    {item}")
        return 0
    if command == "check":
        problems = content.problems()
        for line in problems:
            print(line)
        print(f"{len(problems)} problems")
        return 1 if problems else 0
    print("usage: python -m bot.content [status|check]")
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
