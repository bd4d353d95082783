"""Property-based tests of redaction by itself (hypothesis): identifiers generated in every
script and format the assistant meets never survive ``redact``, decoded, in any form (as
written, as ASCII digits, without separators); each gets its own label; ordinary numbers in
any script are kept as written. The same generators feed the stack tests
(tests/privacy/test_redaction_stack.py)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.channels.common import clean_text
from bot.privacy.redact import redact
from tests.privacy.identifiers import Identifier, found_in, identifiers, ordinary, searchable

MANY = settings(max_examples=600, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


@MANY
@given(identifier=identifiers())
def test_no_identifier_survives_and_each_gets_its_label(identifier: Identifier) -> None:
    redacted = redact(identifier.message)
    assert found_in(identifier, searchable(redacted)) is None, (str(identifier), redacted)
    assert identifier.label in redacted, (str(identifier), redacted)


@MANY
@given(first=identifiers(), second=identifiers(), glue=st.sampled_from([" ", ", ", " och ", "\n",
                                                                       " و ", " - "]))
def test_two_identifiers_in_one_message(first: Identifier, second: Identifier, glue: str) -> None:
    redacted = clean_text(first.message + glue + second.message) or ""
    haystack = searchable(redacted)
    assert found_in(first, haystack) is None, (str(first), redacted)
    assert found_in(second, haystack) is None, (str(second), redacted)


@MANY
@given(text=ordinary(), words=st.sampled_from(["", "hej ", "مرحبا ", "سلام ", "привет ",
                                               "ሰላም ", "Salaan "]))  # fmt: skip
def test_ordinary_numbers_are_kept(text: str, words: str) -> None:
    assert redact(words + text) == words + text


@settings(max_examples=300, deadline=None, database=None)
@given(identifier=identifiers(("phone",)))
def test_a_phone_number_in_any_script_is_a_phone_number(identifier: Identifier) -> None:
    """Never "[ärendenummer]" for a phone number after "شماره" / "رقم" / "номер" (number)."""
    redacted = redact(identifier.message)
    assert "[telefon]" in redacted and "[ärendenummer]" not in redacted, (str(identifier),
                                                                          redacted)
