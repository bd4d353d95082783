"""Generated identifiers through the real stack (`make run`'s processes: Rasa with the trained
model, the action server, the console): hypothesis writes each one, in every script and format,
in a conversation over REST; then every column of every table of the database and every log
file of the stack are searched for it, decoded (JSON escapes undone, digits of every script as
ASCII, separators removed). None may be found. Ordinary numbers reach the database as written.
"""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy import inspect, text

from bot.store.db import get_engine
from tests.privacy.conftest import Running, say
from tests.privacy.identifiers import Identifier, found_in, identifiers, ordinary, searchable

pytestmark = pytest.mark.slow

SENT: list[tuple[str, Identifier]] = []
KEPT: list[str] = []
CONVERSATION = uuid.uuid4().hex  # one long conversation, as a person writes


def every_table(running: Running) -> dict[str, str]:
    """Every value of every column of every table, as text, by table."""
    engine = get_engine(running.settings.database_url)
    tables: dict[str, str] = {}
    with engine.connect() as connection:
        for table in inspect(engine).get_table_names():
            rows = connection.execute(text(f'SELECT * FROM "{table}"'))
            tables[table] = "\n".join(str(v) for row in rows for v in row if v is not None)
    return tables


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(identifier=identifiers())
def test_identifiers_written_in_a_conversation(running: Running, identifier: Identifier) -> None:
    sender = CONVERSATION if len(SENT) % 3 else uuid.uuid4().hex  # also first messages
    say(running, sender, identifier.message, language="sv")
    SENT.append((sender, identifier))


@settings(max_examples=10, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(sentence=ordinary())
def test_ordinary_numbers_written_in_a_conversation(running: Running, sentence: str) -> None:
    say(running, CONVERSATION, sentence, language="sv")
    KEPT.append(sentence)


def test_no_identifier_in_any_table_or_log(running: Running) -> None:
    assert len(SENT) >= 30, "the conversation above did not run"
    tables = every_table(running)
    assert "events" in tables and json.dumps("[telefon]")[1:-1] in tables["events"]
    logs = running.logs()
    assert {"rasa.log", "actions.log"} <= set(logs)
    found = []
    for where, body in [*(("table " + t, b) for t, b in tables.items()),
                        *(("log " + name, b) for name, b in logs.items())]:  # fmt: skip
        haystack = searchable(body)
        for _, identifier in SENT:
            how = found_in(identifier, haystack)
            if how:
                found.append(f"{where}: {identifier} found {how}")
    assert not found, "\n".join(found[:20])
    # what must be kept reached the conversation as written (decoded from the JSON)
    events, _ = searchable(tables["events"])
    for sentence in KEPT:
        assert searchable(sentence)[0] in events, sentence
    print(f"\n{len(SENT)} identifiers in {len({s for s, _ in SENT})} conversations, "
          f"{len(KEPT)} sentences of ordinary numbers; searched {len(tables)} tables, "
          f"{len(logs)} log files")
