"""bot/rule_speed.py: the rule search on the last states gives Rasa's result for any history,
with the trained model's own rules; the empty-domain check equals Rasa's."""

from __future__ import annotations

import json
import logging
import random
import tarfile
from pathlib import Path

import pytest
from rasa.core.policies.rule_policy import RulePolicy
from rasa.shared.core.domain import Domain

from bot import rule_speed

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "assistant.tar.gz"


@pytest.fixture(scope="module")
def lookup() -> dict:
    """The trained RulePolicy's lookup (rules -> action), read from the model archive."""
    if not MODEL.exists():
        pytest.fail("no trained model: run `make train` first")
    with tarfile.open(MODEL) as archive:
        member = next(m for m in archive.getmembers()
                      if m.name.endswith("RulePolicy0/rule_policy.json"))  # fmt: skip
        data = json.load(archive.extractfile(member))  # type: ignore[arg-type]
    return data["lookup"]


def original_search() -> object:
    return getattr(RulePolicy._get_possible_keys, "__wrapped__", RulePolicy._get_possible_keys)


def policy() -> RulePolicy:
    return RulePolicy.__new__(RulePolicy)  # the search reads no instance state


def state_pool(rules: dict) -> list[dict]:
    """Every state that occurs in a rule, plus variants a conversation has and rules lack."""
    pool = []
    for key in rules:
        for state in json.loads(key):
            pool.append({name: {k: tuple(v) if isinstance(v, list) else v
                                for k, v in sub.items()} for name, sub in state.items()})  # fmt: skip
    pool += [
        {},  # a conversation start
        {"prev_action": {"action_name": "action_listen"}, "user": {"intent": "greet"},
         "slots": {"language": (1.0,)}},
        {"prev_action": {"action_name": "action_answer"}, "user": {"intent": "unknown_intent",
         "entities": ("country",)}, "active_loop": {"name": "some_form"}},
        {"prev_action": {"action_name": "action_listen"}, "user": {"text": "hej"}},
    ]  # fmt: skip
    return pool


@pytest.mark.parametrize("which", ["rules", "rules_for_loop_unhappy_path"])
def test_equals_rasas_search_for_random_histories(lookup: dict, which: str) -> None:
    rules = lookup[which]
    pool = state_pool(lookup["rules"])
    rng = random.Random(9)
    search = rule_speed.RuleSearch(original_search())
    found_any = 0
    for _ in range(3000):
        # short histories (shorter than the longest rule) and long ones; the same tails recur
        states = [dict(rng.choice(pool)) for _ in range(rng.choice([0, 1, 2, 3, 4, 7, 40]))]
        theirs = original_search()(policy(), rules, states)
        ours = search(policy(), rules, states)
        assert ours == theirs, states[-3:]
        found_any += bool(theirs)
    assert found_any > 300  # the histories do reach rules, not only empty results
    assert search.hits > 500 and search.misses > 100  # both paths taken


def test_a_long_history_is_not_walked(lookup: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = lookup["rules"]
    calls = []
    real = RulePolicy._is_rule_applicable

    def counting(self, key, index, state):  # type: ignore[no-untyped-def]
        calls.append(index)
        return real(self, key, index, state)

    monkeypatch.setattr(RulePolicy, "_is_rule_applicable", counting)
    pool = state_pool(rules)
    states = [dict(pool[i % len(pool)]) for i in range(300)]
    rule_speed.RuleSearch(original_search())(policy(), rules, states)
    assert max(calls) < 3  # the longest rule here has 3 states
    calls.clear()
    original_search()(policy(), rules, states)
    assert max(calls) > 100  # Rasa's own walks back through the whole history


def test_an_unhashable_value_is_searched_without_the_memo(lookup: dict) -> None:
    rules = lookup["rules"]
    states = [{"prev_action": {"action_name": "action_listen"},
               "user": {"intent": "greet", "entities": ["a", "b"]}}]  # fmt: skip
    search = rule_speed.RuleSearch(original_search())
    assert search(policy(), rules, states) == original_search()(policy(), rules, states)
    assert search.hits == search.misses == 0


def test_the_memo_is_bounded(lookup: dict) -> None:
    rules = lookup["rules"]
    search = rule_speed.RuleSearch(original_search(), size=5)
    for i in range(20):
        search(policy(), rules, [{"prev_action": {"action_name": f"action_{i}"}}])
    assert len(search._memo) <= 5


def test_a_different_result_is_reported_and_rasas_used(
    lookup: dict, caplog: pytest.LogCaptureFixture
) -> None:
    """With TRACKER_CACHE_VERIFY=1 (tests/conftest.py) every search is also Rasa's."""
    saved = (RulePolicy._get_possible_keys, Domain.is_empty)
    rule_speed.install()
    try:
        patched = RulePolicy._get_possible_keys
        rules = lookup["rules"]
        states = state_pool(rules)[:1]
        right = original_search()(policy(), rules, states)
        assert right and patched(policy(), rules, states) == right
        # spoil the remembered result: the check must notice and answer with Rasa's
        search = patched.search  # type: ignore[attr-defined]
        for key in search._memo:
            search._memo[key] = frozenset()
        with caplog.at_level(logging.ERROR, logger="bot.rule_speed"):
            assert patched(policy(), rules, states) == right
        assert "rule search: the rules found differ" in caplog.text
    finally:
        RulePolicy._get_possible_keys, Domain.is_empty = saved


def test_the_empty_domain_check_equals_rasas() -> None:
    original = getattr(Domain.is_empty, "__wrapped__", Domain.is_empty)  # Rasa's
    saved = (RulePolicy._get_possible_keys, Domain.is_empty)
    rule_speed.install()
    try:
        assert Domain.is_empty is not original
        domain = Domain.load(str(ROOT / "domain.yml"))
        for d in (Domain.empty(), domain, Domain.from_dict({"intents": ["greet"]})):
            assert d.is_empty() == original(d)
        assert Domain.empty().is_empty() and not domain.is_empty()
    finally:
        RulePolicy._get_possible_keys, Domain.is_empty = saved
