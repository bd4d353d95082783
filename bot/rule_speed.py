"""The rule policy's search for matching rules, and one check in Rasa's message parsing, without
the work that cannot change their results.

Measured on the running server (`make bench`, 20 users; py-spy on the GIL holder and cProfile
for the callers):

1. ``RulePolicy._get_possible_keys`` (7 % of the samples): for every prediction (3 per
   message) every learned rule is tested against the conversation's last state, then the
   survivors against every earlier state back to the session start, although a rule is
   applicable by definition at any turn further back than its own length (Rasa's
   ``_is_rule_applicable``: ``turn_index >= len(rule states)`` is True). The cost grew with the
   conversation. So the result depends only on the last L states, L the longest rule of the
   lookup (3 here, 101 rules). Here the search runs on those L states only, with Rasa's own
   function, and its result is remembered for the same L states (compared by value): the
   same question after the same answer is the common case, across users too.
2. ``Domain.is_empty`` (2.7 %): Rasa's parse checks it for every message, and it built a
   whole empty Domain each time (``Domain.from_dict({})``, with its sanity checks) to compare
   with. The empty domain's dict is built once.

With ``TRACKER_CACHE_VERIFY=1`` (the tests) Rasa's own search on all the states runs as well on
every call, and an error is logged (and Rasa's result used) when the two differ.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

# remembered results per (lookup, last states); cleared when full (a few KB per entry at most)
MEMO_SIZE = 4096


def frozen(state: dict) -> Any:
    """A dialogue state (sub-state name -> feature name -> value) as a hashable value, equal for
    equal states whatever the order of the keys. Raises TypeError for an unhashable value."""
    return frozenset(
        (name, frozenset(sub.items()) if isinstance(sub, dict) else sub)
        for name, sub in state.items()
    )


class RuleSearch:
    """What ``RulePolicy._get_possible_keys(lookup, states)`` returns, computed on the states
    that can matter and remembered for them."""

    def __init__(self, original: Any, size: int = MEMO_SIZE) -> None:
        self.original = original
        self.size = size
        # id(lookup) -> (lookup, L, size). Holding the lookup keeps its id from being reused by
        # another dict (a model loaded later) while memo keys carry that id.
        self._longest: dict[int, tuple[Any, int, int]] = {}
        self._memo: dict[Any, frozenset] = {}
        self.hits = 0
        self.misses = 0

    def longest_rule(self, policy: Any, lookup: dict) -> int:
        known = self._longest.get(id(lookup))
        if known is not None and known[0] is lookup and known[2] == len(lookup):
            return known[1]
        longest = max((len(policy._rule_key_to_state(key)) for key in lookup), default=0)
        self._longest[id(lookup)] = (lookup, longest, len(lookup))
        return longest

    def __call__(self, policy: Any, lookup: dict, states: list) -> set:
        longest = self.longest_rule(policy, lookup)
        tail = states[-longest:] if longest else []
        try:
            key = (id(lookup), len(lookup), tuple(frozen(state) for state in tail))
            hash(key)
        except TypeError:  # a value that cannot be a dict key: Rasa's search, uncached
            return self.original(policy, lookup, tail)
        found = self._memo.get(key)
        if found is None:
            self.misses += 1
            found = frozenset(self.original(policy, lookup, tail))
            if len(self._memo) >= self.size:
                self._memo.clear()
            self._memo[key] = found
        else:
            self.hits += 1
        return set(found)


def install() -> None:
    """Patch RulePolicy and Domain in the Rasa server (not training)."""
    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.shared.core.domain import Domain

    if getattr(RulePolicy._get_possible_keys, "_tail_only", False):
        return
    original = RulePolicy._get_possible_keys
    search = RuleSearch(original)
    from bot.tracker_speed import verifying

    verify = verifying()

    def _get_possible_keys(self: RulePolicy, lookup: dict, states: list) -> set:
        ours = search(self, lookup, states)
        if verify:
            theirs = original(self, lookup, states)
            if ours != theirs:
                logger.error("rule search: the rules found differ from Rasa's (%d / %d)",
                             len(ours), len(theirs))  # fmt: skip
                return theirs
        return ours

    _get_possible_keys._tail_only = True  # type: ignore[attr-defined]
    _get_possible_keys.search = search  # type: ignore[attr-defined]
    _get_possible_keys.__wrapped__ = original  # type: ignore[attr-defined]
    RulePolicy._get_possible_keys = _get_possible_keys  # type: ignore[method-assign]

    empty = Domain.empty().as_dict()

    def is_empty(self: Domain) -> bool:
        return self.as_dict() == empty

    is_empty.__wrapped__ = Domain.is_empty  # type: ignore[attr-defined]
    Domain.is_empty = is_empty  # type: ignore[method-assign]
