"""The privacy notice (content/answers/privacy.yml) says what issue 12 asks for, in all seven
languages, and the way to delete it names works: on the running stack, the phrase the notice
quotes, written in that language, starts the deletion (its confirmation question)."""

from __future__ import annotations

import re
import uuid

import pytest
import yaml

from bot.settings import LANGUAGES, ROOT
from tests.privacy.conftest import Running, say

NOTICE = yaml.safe_load((ROOT / "content/answers/privacy.yml").read_text(encoding="utf-8"))
TEXTS = yaml.safe_load((ROOT / "content/texts.yml").read_text(encoding="utf-8"))
QUOTED = re.compile(r"[«”\"„“]([^«»”\"“]+)[»”\"“]")


def notice(lang: str) -> str:
    return NOTICE["answer"][lang]["text"]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_notice_has_every_part(lang: str) -> None:
    text = notice(lang)
    lines = [line for line in text.splitlines() if line.strip()]
    # who runs it and that it is not an authority; stored; how long; who reads; not shared;
    # nothing to write; how to delete: one line each
    assert len(lines) >= 7, lines
    assert "Migrationsverket" in lines[0]  # who runs it: not the authorities
    assert "{retention_days}" in text  # how long, from RETENTION_DAYS
    assert QUOTED.search(lines[-1]), "the last line quotes what to write to delete"
    # the first-contact line (intro) says who runs it, how long, who reads
    assert "{retention_days}" in TEXTS["intro"][lang]["text"]
    assert NOTICE["checked"] and NOTICE["sources"]


@pytest.mark.slow
def test_the_delete_phrase_of_every_language_works(running: Running) -> None:
    missed = {}
    for lang in LANGUAGES:
        phrase = QUOTED.search(notice(lang).splitlines()[-1]).group(1)
        sender = uuid.uuid4().hex
        shown = say(running, sender, "/privacy", language=lang)
        assert any("{retention_days}" not in (r.get("text") or "") and
                   str(running.settings.retention_days) in (r.get("text") or "") for r in shown)
        replies = say(running, sender, phrase, language=lang)
        confirm = TEXTS["delete_confirm"][lang]["text"]
        if not any(confirm in (r.get("text") or "") for r in replies):
            missed[lang] = (phrase, [r.get("text", "")[:80] for r in replies])
    assert not missed, missed
