"""The audit log: append-only, tamper-evident, without message text or conversation ids.

Every row carries the SHA-256 of the row before it (``prev_hash``) and its own (``hash``, over
the canonical form below), so changing, removing or inserting a row anywhere breaks the chain
from there on; ``verify`` finds the first broken row (``python -m bot.console audit-verify``).
Database triggers refuse UPDATE and DELETE on the table (models.AUDIT_TRIGGERS, migration
0003), so the application cannot do either by mistake; someone with the power to drop the
triggers can still rewrite the table, and then the chain shows it unless they recompute it
all, which is why ``verify`` prints the head hash for the operator to note elsewhere.

A conversation appears only as ``conversation_ref``: HMAC-SHA256 keyed with AUDIT_KEY, so an
audit row says nothing about who the person is, stays when the conversation is deleted
(retention, "delete my data"), and can still be found by whoever holds the key and the id.

The log has its own retention (AUDIT_RETENTION_DAYS, default 365): ``prune`` removes the oldest
rows and appends a checkpoint row that names the last removed row's hash, so what remains still
verifies and a removal without a checkpoint does not.

Appends are serialised by locking the one row of ``audit_head`` first (PostgreSQL: a row lock;
SQLite: the write lock), in the caller's transaction: the audit row commits with the action it
records, or not at all.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, inspect, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.store.models import AUDIT_TRIGGER_NAMES, AuditEntry, AuditHead, Handoff, utcnow

GENESIS = "0" * 64
FORMAT = 1  # of the canonical form; a row once written must verify for ever
CHECKPOINT = "checkpoint"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


# -- the key and the pseudonym ---------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _key(from_env: str | None, profile: str, var_dir: str) -> bytes:
    from bot.settings import Settings, SettingsError

    if from_env:
        return Settings(profile=profile).require_secret("AUDIT_KEY", from_env).encode("utf-8")
    if profile == "production":
        raise SettingsError("AUDIT_KEY is required in the production profile")
    # dev: generated once into var/, as bot.run does for the other secrets (same file)
    path = Path(var_dir) / "audit_key"
    if not path.exists():
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(32))
    value = path.read_text().strip()
    if len(value) < 16:
        raise SettingsError(f"{path} holds no usable AUDIT_KEY")
    return value.encode("utf-8")


def audit_key() -> bytes:
    """AUDIT_KEY from the environment (required in production); in dev, var/audit_key."""
    from bot.settings import get_settings

    settings = get_settings()
    return _key(settings.audit_key, settings.profile, str(settings.var_dir))


def conversation_ref(conversation_id: str) -> str:
    """The keyed pseudonym audit rows use for a conversation (64 hex characters)."""
    message = b"audit-conversation:v1:" + conversation_id.encode("utf-8")
    return hmac.new(audit_key(), message, hashlib.sha256).hexdigest()


# -- the chain -------------------------------------------------------------------------------


def canonical(
    *,
    id: int,  # noqa: A002 - the column's name
    at: datetime,
    actor: str,
    action: str,
    handoff_id: str | None,
    conversation_ref: str | None,
    detail: str | None,
    checkpoint_through: int | None,
    prev_hash: str,
) -> bytes:
    """The bytes a row's hash is taken over: JSON, keys sorted, ASCII only, no spaces."""
    return json.dumps(
        {
            "v": FORMAT, "id": id, "at": at.isoformat(timespec="microseconds"), "actor": actor,
            "action": action, "handoff_id": handoff_id, "conversation_ref": conversation_ref,
            "detail": detail, "checkpoint_through": checkpoint_through, "prev_hash": prev_hash,
        },
        sort_keys=True, ensure_ascii=True, separators=(",", ":"),
    ).encode("ascii")  # fmt: skip


def entry_hash(entry: AuditEntry) -> str:
    return hashlib.sha256(
        canonical(
            id=entry.id, at=entry.at, actor=entry.actor, action=entry.action,
            handoff_id=entry.handoff_id, conversation_ref=entry.conversation_ref,
            detail=entry.detail, checkpoint_through=entry.checkpoint_through,
            prev_hash=entry.prev_hash,
        )
    ).hexdigest()  # fmt: skip


def _lock_head(session: Session) -> None:
    """Take the chain's lock for the rest of the caller's transaction."""
    bump = update(AuditHead).where(AuditHead.id == 1).values(appends=AuditHead.appends + 1)
    if session.execute(bump).rowcount == 1:
        return
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert(AuditHead).values(id=1, appends=0).on_conflict_do_nothing())
    session.execute(bump)


def _last(session: Session) -> tuple[int, str]:
    row = session.execute(
        select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    return (row[0], row[1]) if row is not None else (0, GENESIS)


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    handoff_id: str | None = None,
    conversation_id: str | None = None,
    detail: str | None = None,
    checkpoint_through: int | None = None,
) -> AuditEntry:
    """One row at the end of the chain, in the caller's transaction (the caller commits).

    ``conversation_id`` is stored only as its pseudonym; without it, a row about a handoff
    gets the pseudonym of the handoff's conversation.
    """
    if conversation_id is None and handoff_id is not None:
        conversation_id = session.execute(
            select(Handoff.conversation_id).where(Handoff.id == handoff_id)
        ).scalar_one_or_none()
    ref = conversation_ref(conversation_id) if conversation_id is not None else None
    _lock_head(session)
    last_id, last_hash = _last(session)
    entry = AuditEntry(
        id=last_id + 1, at=utcnow(), actor=actor[:64], action=action[:32], handoff_id=handoff_id,
        conversation_ref=ref, detail=detail, checkpoint_through=checkpoint_through,
        prev_hash=last_hash,
    )  # fmt: skip
    entry.hash = entry_hash(entry)
    session.add(entry)
    session.flush()
    return entry


# -- verification ----------------------------------------------------------------------------


@dataclass
class ChainReport:
    ok: bool
    rows: int = 0
    first_id: int | None = None
    last_id: int | None = None
    head: str | None = None  # the last row's hash: note it elsewhere to compare later
    checkpoints: int = 0
    append_only: bool = False  # the triggers are in place
    broken_id: int | None = None
    problem: str | None = None

    def summary(self) -> str:
        if not self.ok:
            where = f"row {self.broken_id}" if self.broken_id is not None else "the table"
            return f"audit log: BROKEN at {where}: {self.problem}"
        if self.rows == 0:
            return "audit log: empty" + ("" if self.append_only else "; NOT append-only")
        guard = "append-only triggers in place" if self.append_only else (
            "the append-only triggers are MISSING")  # fmt: skip
        return (
            f"audit log: {self.rows} rows (ids {self.first_id}..{self.last_id}), chain intact, "
            f"{self.checkpoints} checkpoints, {guard}; head {self.head}"
        )


def triggers_present(session: Session) -> bool:
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        found = session.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'")
        ).scalars()
    elif bind.dialect.name == "postgresql":
        found = session.execute(
            text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass "
                 "AND NOT tgisinternal AND tgenabled <> 'D'")  # fmt: skip
        ).scalars()
    else:
        return False
    return set(AUDIT_TRIGGER_NAMES) <= set(found)


def _anchor(entry: AuditEntry) -> str | None:
    """The hash of the last row a checkpoint row removed (in its detail)."""
    try:
        value = json.loads(entry.detail or "").get("anchor")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and _HEX64.match(value) else None


def verify(session: Session) -> ChainReport:
    """Walk the whole chain in id order; the first problem found, or the chain's summary."""
    report = ChainReport(ok=True, append_only=triggers_present(session))
    if not inspect(session.get_bind()).has_table("audit_log"):
        return ChainReport(ok=False, problem="there is no audit_log table")
    previous: AuditEntry | None = None
    first: AuditEntry | None = None
    anchored = False
    rows = session.execute(
        select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=1000)
    ).scalars()

    def broken(entry: AuditEntry, problem: str) -> ChainReport:
        report.ok, report.broken_id, report.problem = False, entry.id, problem
        return report

    for entry in rows:
        report.rows += 1
        if previous is None:
            first = entry
            report.first_id = entry.id
            anchored = entry.prev_hash == GENESIS
        elif entry.prev_hash != previous.hash:
            return broken(entry, "its prev_hash is not the hash of the row before it "
                                 f"(row {previous.id}): a row was removed, added or changed")  # fmt: skip
        if not _HEX64.match(entry.hash or "") or entry_hash(entry) != entry.hash:
            return broken(entry, "its content does not match its hash: the row was changed")
        if entry.checkpoint_through is not None:
            report.checkpoints += 1
            anchor = _anchor(entry)
            if entry.action != CHECKPOINT or anchor is None or entry.checkpoint_through >= entry.id:
                return broken(entry, "a malformed checkpoint row")
            if (not anchored and first is not None and anchor == first.prev_hash
                    and entry.checkpoint_through < first.id):  # fmt: skip
                anchored = True
        previous = entry
        report.last_id = entry.id
        report.head = entry.hash
    if first is not None and not anchored:
        return broken(first, "the oldest row follows rows that are gone, and no checkpoint row "
                             "accounts for them: rows were removed from the start")  # fmt: skip
    return report


# -- the log's own retention -----------------------------------------------------------------


def prune(session: Session, *, older_than_days: int, now: datetime | None = None) -> int:
    """Remove the oldest rows older than ``older_than_days`` (a prefix of the chain), behind a
    checkpoint row that keeps the rest verifiable. The number of rows removed; commits."""
    cutoff = (now or utcnow()) - timedelta(days=older_than_days)
    _lock_head(session)
    covered = session.execute(select(func.max(AuditEntry.checkpoint_through))).scalar() or 0
    first_young = session.execute(
        select(func.min(AuditEntry.id)).where(AuditEntry.at >= cutoff)
    ).scalar()
    last_old = select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
    if first_young is not None:
        last_old = last_old.where(AuditEntry.id < first_young)
    found = session.execute(last_old).first()
    if found is None or found[0] <= covered:
        session.commit()
        return 0
    through, anchor = found
    count = session.execute(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.id <= through)
    ).scalar_one()
    detail = json.dumps(
        {"anchor": anchor, "rows": count, "before": cutoff.isoformat(timespec="seconds")},
        sort_keys=True,
    )
    append(session, actor="system", action=CHECKPOINT, detail=detail, checkpoint_through=through)
    session.execute(AuditEntry.__table__.delete().where(AuditEntry.id <= through))
    session.commit()
    return count
