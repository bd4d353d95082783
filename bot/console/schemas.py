"""What the console's API accepts and returns (pydantic 1.10), separate from the table models."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, Field, validator

from bot.store.handoffs import OUTCOMES
from bot.store.models import AuditEntry, Handoff

Outcome = Literal["answered", "referred", "no_response", "other"]
assert set(Outcome.__args__) == set(OUTCOMES)  # type: ignore[attr-defined]


def as_utc(moment: datetime | None) -> datetime | None:
    """The database keeps naive UTC; the browser needs to know it is UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def _no_surrogates(value: str) -> str:
    """JSON may carry a lone surrogate ("\\ud800"): no database, hash or UTF-8 page takes it.
    Refused here (a 422) instead of failing deeper down (a 500 found by hypothesis,
    tests/privacy/test_properties.py)."""
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        raise ValueError("the text is not valid Unicode")
    return value


class LoginIn(BaseModel):
    username: str = Field(..., min_length=1, max_length=64)
    password: str = Field(..., min_length=1, max_length=1024)

    _valid_unicode = validator("username", "password", allow_reuse=True)(_no_surrogates)


class Me(BaseModel):
    username: str
    role: str
    csrf_token: str


class HandoffOut(BaseModel):
    id: str
    language: str
    channel: str
    reason: str
    priority: str
    status: str
    created_at: datetime
    claimed_by: str | None
    claimed_at: datetime | None
    closed_by: str | None
    closed_at: datetime | None
    outcome: str | None

    @classmethod
    def of(cls, handoff: Handoff) -> HandoffOut:
        return cls(
            id=handoff.id, language=handoff.language, channel=handoff.channel,
            reason=handoff.reason, priority=handoff.priority, status=handoff.status,
            created_at=as_utc(handoff.created_at), claimed_by=handoff.claimed_by,
            claimed_at=as_utc(handoff.claimed_at), closed_by=handoff.closed_by,
            closed_at=as_utc(handoff.closed_at), outcome=handoff.outcome,
        )  # fmt: skip


class QueueOut(BaseModel):
    server_time: datetime
    handoffs: list[HandoffOut]


class Turn(BaseModel):
    """One line of the transcript. ``seq`` is the event's index in Rasa's tracker."""

    seq: int
    kind: Literal["user", "bot", "counsellor", "system"]
    event: str
    text: str | None = None
    at: float | None = None
    language: str | None = None
    language_confidence: float | None = None
    intent: str | None = None
    intent_confidence: float | None = None
    topic: str | None = None
    counsellor: str | None = None
    channel: str | None = None
    buttons: list[str] = []


class HandoffDetail(BaseModel):
    handoff: HandoffOut
    turns: list[Turn]
    next_seq: int


class ClaimOut(BaseModel):
    handoff: HandoffOut
    user_notified: bool


class ReplyIn(BaseModel):
    # The upper bound is enforced per app (ConsoleConfig.reply_max_chars) in the route;
    # this one only keeps absurd bodies out before they are parsed further.
    text: str = Field(..., max_length=20000)

    @validator("text")
    def _not_blank(cls, value: str) -> str:  # noqa: N805 - pydantic validator
        value = _no_surrogates(value).strip()
        if not value:
            raise ValueError("the reply is empty")
        return value


class CloseIn(BaseModel):
    outcome: Outcome


class ActionOut(BaseModel):
    handoff: HandoffOut
    user_notified: bool = True


class RemovedOut(BaseModel):
    original: str  # as the counsellor typed it ("" when it cannot be told apart)
    placeholder: str


class ReplyOut(ActionOut):
    text: str  # as stored and sent: redacted
    removed: list[RemovedOut] = []


class StandardText(BaseModel):
    key: str
    label: str
    language: str
    text: str


class StandardTextsOut(BaseModel):
    language: str
    texts: list[StandardText]


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    handoff_id: str | None
    # the conversation's keyed pseudonym: which rows are about the same person, never who
    conversation_ref: str | None
    detail: str | None
    hash: str

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditOut:
        return cls(
            id=entry.id, at=as_utc(entry.at), actor=entry.actor, action=entry.action,
            handoff_id=entry.handoff_id, conversation_ref=entry.conversation_ref,
            detail=entry.detail, hash=entry.hash,
        )  # fmt: skip


class AuditPage(BaseModel):
    entries: list[AuditOut]
    more: bool  # older entries match too: ask again with before_id = the last id
    actors: list[str]
    actions: list[str]


class AuditChainOut(BaseModel):
    ok: bool
    rows: int
    first_id: int | None
    last_id: int | None
    head: str | None
    checkpoints: int
    append_only: bool
    broken_id: int | None
    problem: str | None
    summary: str


class Health(BaseModel):
    status: str
    database: str
