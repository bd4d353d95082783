"""Counsellor replies go through the same redaction as what people write (security review L1):
identifiers are replaced by placeholders before the reply is stored in the transcript and sent.
The counsellor is shown what was removed, so they can say it another way if it was meant
(an office's own phone number, say).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from bot.privacy.redact import redact

# What bot.privacy.redact puts in place of an identifier: "[telefon]", "[e-post]", ...
PLACEHOLDER = re.compile(r"\[[^\[\]\s]{2,40}\]")
_MAX_STEPS = 500  # the search for where each identifier was: bounded, whatever the text


@dataclass(frozen=True)
class Removed:
    original: str  # as the counsellor wrote it ("" when it cannot be told); never stored
    placeholder: str


def _alignments(
    text: str, pieces: list[str], placeholders: list[str], accept: Callable[[str, str], bool]
) -> Iterator[list[str]]:
    """Every way of reading ``text`` as pieces[0] + x1 + pieces[1] + x2 + ... (each x accepted
    for its placeholder); the originals x1, x2, ..."""
    steps = 0

    def walk(k: int, position: int, found: list[str]) -> Iterator[list[str]]:
        nonlocal steps
        if k == len(placeholders):
            if position == len(text):
                yield list(found)
            return
        following = pieces[k + 1]
        last = k + 1 == len(placeholders)
        end = text.find(following, position + 1) if following else position + 1
        while 0 <= end <= len(text):
            steps += 1
            if steps > _MAX_STEPS:
                return
            if last and end + len(following) != len(text):
                end = len(text) - len(following) if text.endswith(following) else -1
                if end <= position:
                    return
            original = text[position:end]
            if accept(original, placeholders[k]):
                found.append(original)
                yield from walk(k + 1, end + len(following), found)
                found.pop()
            if last:
                return
            end = text.find(following, end + 1) if following else end + 1

    if text.startswith(pieces[0]):
        yield from walk(0, len(pieces[0]), [])


def redact_reply(text: str) -> tuple[str, list[Removed]]:
    """The reply as it will be stored and sent, and what was taken out of it.

    Where each identifier was is found by lining the redacted text up with the original: an
    alignment whose every part redacts to its own placeholder, else the only alignment there
    is; when neither exists (the identifier needs its context to be seen, and the text can be
    cut in several ways), the placeholders are listed without the original.
    """
    redacted = redact(text)
    if redacted == text:
        return text, []
    pieces = PLACEHOLDER.split(redacted)
    placeholders = PLACEHOLDER.findall(redacted)

    def on_its_own(original: str, placeholder: str) -> bool:
        return redact(original) == placeholder

    chosen = next(_alignments(text, pieces, placeholders, on_its_own), None)
    if chosen is None:
        candidates = _alignments(text, pieces, placeholders, lambda o, p: bool(o.strip()))
        first, second = next(candidates, None), next(candidates, None)
        chosen = first if second is None else None
    if chosen is None:
        originals = set(PLACEHOLDER.findall(text))
        return redacted, [Removed("", p) for p in placeholders if p not in originals]
    return redacted, [Removed(o, p) for o, p in zip(chosen, placeholders, strict=True) if o != p]
