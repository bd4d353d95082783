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


def test_checked_date_is_the_fact_sheet_date(content: Content) -> None:
    sheet_date = re.search(r"compiled on (\d{4}-\d{2}-\d{2})", FACTS).group(1)
    for intent in DOMAIN_INTENTS:
        assert str(content.answers[intent]["checked"]) == sheet_date, intent


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
