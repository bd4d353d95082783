"""What every channel does to a user's text before Rasa sees it (and before any log line)."""

from __future__ import annotations

import unicodedata
from typing import Any

from bot.privacy.redact import redact

MAX_MESSAGE_CHARS = 2000
ALLOWED_METADATA = ("language",)


def clean_text(raw: Any) -> str | None:
    """Printable, redacted text of at most MAX_MESSAGE_CHARS, or None if unusable."""
    if not isinstance(raw, str):
        return None
    # drop control characters (keep newlines and tabs) and lone surrogates
    text = "".join(
        ch for ch in raw
        if ch in "\n\t" or (unicodedata.category(ch) not in ("Cc", "Cs", "Co"))
    ).strip()  # fmt: skip
    if not text:
        return None
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS]
    return redact(text)


def clean_metadata(raw: Any) -> dict[str, Any]:
    """Only the metadata keys the assistant uses, as short strings."""
    if not isinstance(raw, dict):
        return {}
    return {
        key: str(raw[key])[:16] for key in ALLOWED_METADATA if isinstance(raw.get(key), str)
    }
