"""Content: every answer has every language, a source and a date; facts as on the fact sheet."""

from __future__ import annotations

import re

import pytest

from bot.content import DOMAIN_INTENTS, Content, for_display, isolate_ltr
from bot.settings import ROOT

# Every text exists in all seven languages.
REQUIRED_LANGUAGES = ("sv", "en", "ar", "fa", "so", "ti", "ru")
FACTS = (ROOT / "docs" / "facts.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def content() -> Content:
    return Content(ROOT / "content")


def test_no_problems(content: Content) -> None:
    assert content.problems(REQUIRED_LANGUAGES) == []


def test_every_domain_intent_has_an_answer(content: Content) -> None:
    assert sorted(content.answers) == sorted(DOMAIN_INTENTS)


def test_every_source_url_is_on_the_fact_sheet(content: Content) -> None:
    for intent in DOMAIN_INTENTS:
        for source in content.answers[intent]["sources"]:
            assert source["url"] in FACTS, (intent, source["url"])


def _sheet_dates() -> tuple[str, str, str]:
    """The two compilation dates of the sheet and the text of section 7 (its later part)."""
    first = re.search(r"compiled on (\d{4}-\d{2}-\d{2})", FACTS).group(1)
    later = re.search(r"section 7 on (\d{4}-\d{2}-\d{2})", FACTS).group(1)
    start = FACTS.index("\n## 7.")
    end = FACTS.index("\n## ", start + 1)
    return first, later, FACTS[start:end]


def test_checked_date_is_the_fact_sheet_date(content: Content) -> None:
    """An answer shows the compilation date of the section its facts come from: one citing a
    source that only section 7 gives shows section 7's date, never the day it was written."""
    first, later, section7 = _sheet_dates()
    outside7 = FACTS.replace(section7, "")
    for intent in DOMAIN_INTENTS:
        checked = str(content.answers[intent]["checked"])
        urls = [s["url"] for s in content.answers[intent]["sources"]]
        needs_later = any(u in section7 and u not in outside7 for u in urls)
        assert checked in (first, later), intent
        if needs_later:
            assert checked == later, (intent, "cites a source only section 7 gives")


def test_appeal_deadline_states_the_three_week_rule(content: Content) -> None:
    assert "tre veckor" in content.answer("appeal_deadline", "sv").text
    assert "three weeks" in content.answer("appeal_deadline", "en").text


def test_phone_numbers_are_those_of_the_fact_sheet(content: Content) -> None:
    phone = re.compile(r"\b0\d{2,3}-[\d ]{5,10}\d\b|\b\d{3} \d{3}\b|\b(?:112|1177|90101)\b")
    for where, entry in content._entries():
        for lang in REQUIRED_LANGUAGES:
            value = entry.get(lang) or {}
            for number in phone.findall(str(value.get("text", ""))):
                assert number in FACTS, (where, lang, number)


def test_crisis_text_leads_with_emergency_numbers(content: Content) -> None:
    for lang in REQUIRED_LANGUAGES:
        text = content.text("crisis", lang)
        assert "112" in text.split("\n")[0]
        for number in ("90101", "1177", "116 111"):
            assert number in text


def test_country_lists_match_the_fact_sheet(content: Content) -> None:
    reestablishment = {"Afghanistan", "Central African Republic", "DR Congo", "El Salvador",
                       "Eritrea", "Ethiopia", "Iraq", "Yemen", "Lebanon", "Libya", "Nigeria",
                       "Pakistan", "Palestine", "Somalia", "Sudan", "South Sudan"}
    eu = {"Armenia", "Bangladesh", "DR Congo", "Egypt", "El Salvador", "Ethiopia", "Gambia",
          "Iraq", "Jordan", "Mongolia", "Morocco", "Nigeria", "Pakistan", "Somalia",
          "Somaliland"}
    for country, entry in content.countries.items():
        assert bool(entry["reestablishment_support"]) == (country in reestablishment), country
        assert bool(entry["eu_reintegration"]) == (country in eu), country


def test_rtl_text_isolates_latin_runs_and_numbers() -> None:
    out = isolate_ltr("اتصل بـ Migrationsverket على 0771-235 235 الآن")
    assert "\u2066Migrationsverket\u2069" in out
    assert "\u20660771-235 235\u2069" in out
    assert for_display("hej 112", "sv") == "hej 112"
    assert for_display("اتصل 112", "ar").startswith("\u200f")


def test_brackets_stay_outside_isolated_runs() -> None:
    out = isolate_ltr("کمک (återetableringsstöd) است")
    assert "(\u2066återetableringsstöd\u2069)" in out


# The six topics of facts.md section 7 (issue 22): the Swedish words a person finds on their
# letters stay in every language, and what is not yet known is said, not guessed.
NEW_TOPIC_TERMS = {
    "dublin_transfer": ("Dublin", "överföringsbeslut", "inhibition", "0200-88 00 66"),
    "law_changes": ("spårbyte", "återreseförbud", "LMA", "0200-88 00 66"),
    "support_ended": ("LMA", "laga kraft", "socialtjänsten", "papperslos@redcross.se",
                      "0723-49 98 08", "0200-88 00 66", "info@sweref.org"),
    "reporting_duty": ("informationsplikt", "socialtjänsten", "0200-88 00 66"),
    "family_reunification": ("återreseförbud", "sambo", "0200-88 00 66"),
    "lma_card": ("LMA-kort", "AT-UND", "0771-235 235", "0200-88 00 66"),
}  # fmt: skip


@pytest.mark.parametrize("intent", sorted(NEW_TOPIC_TERMS))
def test_new_topics_keep_the_swedish_terms_in_every_language(content: Content, intent: str) -> None:
    for lang in REQUIRED_LANGUAGES:
        text = content.answer(intent, lang).text.casefold()
        for term in NEW_TOPIC_TERMS[intent]:
            assert term.casefold() in text, (intent, lang, term)


def _numbers(text: str) -> list[str]:
    return sorted(re.findall(r"\d+", text))


@pytest.mark.parametrize("intent", sorted(NEW_TOPIC_TERMS))
def test_translations_keep_every_number_of_the_swedish_text(content: Content, intent: str) -> None:
    """Every number, date, phone number and time of the Swedish text is in each translation,
    none added: a translation that drops '6 months' or a digit of a phone number fails."""
    source = _numbers(content.answer(intent, "sv").text)
    for lang in REQUIRED_LANGUAGES:
        assert _numbers(content.answer(intent, lang).text) == source, (intent, lang)


def test_unknown_deadlines_point_to_the_decision_letter(content: Content) -> None:
    for intent in ("dublin_transfer", "law_changes"):
        assert "Beslutsbrevet anger din egen tidsfrist" in content.answer(intent, "sv").text
        assert "The decision letter states your own deadline" in content.answer(intent, "en").text


def test_section_7_dates_are_stated(content: Content) -> None:
    """The EU Pact (12 Jun 2026) and the new reception act (1 Oct 2026), as facts.md 7 dates them."""
    assert "12 juni 2026" in content.answer("dublin_transfer", "sv").text
    law = content.answer("law_changes", "sv").text
    for date in ("1 april 2025", "12 juni 2026", "1 oktober 2026"):
        assert date in law
    for intent in ("support_ended", "lma_card"):
        assert "1 oktober 2026" in content.answer(intent, "sv").text
