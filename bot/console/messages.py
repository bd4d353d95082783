"""Texts the console sends to users or offers counsellors, from content/texts.yml.

Looked up in the user's language (falling back to English, then Swedish, like the actions).
"""

from __future__ import annotations

import logging
from typing import Any

from bot.content import Content, fill, for_display, load_content
from bot.office_hours import OfficeHours, describe
from bot.settings import LANGUAGES, Settings

logger = logging.getLogger(__name__)

# Standard texts a counsellor can insert into a reply: content key -> button label.
STANDARD_TEXTS = {
    "console_greeting": "Greeting",
    "console_check_back": "I'll check and come back",
    "console_closing": "Closing",
}


def content_of(settings: Settings) -> Content:
    return load_content(settings.content_dir)


def common_values(settings: Settings, lang: str) -> dict[str, Any]:
    """Placeholders any text may use (the same the actions fill in)."""
    try:
        hours = describe(OfficeHours.parse(settings.office_hours, settings.timezone), lang)
    except ValueError:
        hours = settings.office_hours
    return {
        "retention_days": settings.retention_days,
        "office_hours": hours,
        "wait_minutes": settings.handoff_wait_minutes,
    }


def _entry_text(entry: dict[str, Any] | None, lang: str) -> tuple[str, str] | None:
    """(language actually used, text) of a per-language entry, with the usual fallbacks."""
    for code in (lang, "en", "sv"):
        value = (entry or {}).get(code)
        if isinstance(value, dict):
            value = value.get("text")
        if value and str(value).strip():
            return code, str(value).strip()
    return None


def user_text(settings: Settings, key: str, lang: str) -> str | None:
    """The text ``key`` ready to send to a user of ``lang``; None (and a warning) if missing."""
    lang = lang if lang in LANGUAGES else settings.default_language
    found = _entry_text(content_of(settings).texts.get(key), lang)
    if found is None:
        logger.warning("Text %s is missing from content/texts.yml; the user was not told", key)
        return None
    used, text = found
    return for_display(fill(text, **common_values(settings, used)), used)


def standard_texts(settings: Settings, lang: str) -> list[tuple[str, str, str, str]]:
    """(key, label, language, text) for each standard reply text that exists."""
    lang = lang if lang in LANGUAGES else settings.default_language
    out: list[tuple[str, str, str, str]] = []
    texts = content_of(settings).texts
    for key, label in STANDARD_TEXTS.items():
        found = _entry_text(texts.get(key), lang)
        if found is not None:
            used, text = found
            out.append((key, label, used, fill(text, **common_values(settings, used))))
    return out
