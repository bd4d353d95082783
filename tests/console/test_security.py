"""Issue 20 (security review M2, M3, M4, L1, L4, L5, M7): the console's login, who reads what,
the audit log, redaction of replies and the database engine's error texts.

Through the real app (FastAPI's TestClient), its real database and a fake Rasa on a real port;
the tests of the console process itself are in test_console_stack.py.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError

from bot.settings import Settings
from bot.store.db import session
from bot.store.models import Handoff
from tests.console.conftest import add_account, escalate, login
from tests.console.fake_rasa import FakeRasa


def post(client: TestClient, path: str, csrf: str, **kwargs) -> object:  # type: ignore[no-untyped-def]
    return client.post(path, headers={"X-CSRF-Token": csrf}, **kwargs)


# -- M7: no parameters in database errors ------------------------------------------------------


def test_a_database_error_does_not_carry_the_statements_parameters(settings: Settings) -> None:
    """Whoever logs the exception (Rasa's channels log them whole) logs no message text."""
    secret = "mitt personnummer är 19870412-5566"
    with session(settings.database_url) as db:
        db.add(Handoff(id="h1", conversation_id="c1", reason="request"))
        db.commit()
        db.add(Handoff(id="h1", conversation_id=secret, reason="request"))
        with pytest.raises(IntegrityError) as caught:
            db.commit()
    text = str(caught.value)
    assert "UNIQUE" in text  # the error itself is still there to be logged
    assert secret not in text and "19870412" not in text


# -- L4: a CSRF header that is not ASCII ---------------------------------------------------------


def test_a_csrf_header_with_a_non_ascii_character_is_refused_not_a_server_error(
    client: TestClient, settings: Settings, fake_rasa: FakeRasa
) -> None:
    add_account(settings, "anna")
    csrf = login(client, "anna")
    escalated = escalate(settings, fake_rasa)
    url = f"/console/api/handoffs/{escalated.handoff_id}/claim"
    for bad in ("é".encode("latin-1"), csrf[:-1].encode() + b"\xe9", b"\xff" * 64):
        response = client.post(url, headers={"X-CSRF-Token": bad})
        assert response.status_code == 403, (bad, response.status_code)
    assert fake_rasa.appended == []
    assert post(client, url, csrf).status_code == 200
