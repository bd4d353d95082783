"""The audit log, for admins: who read, claimed, replied to, handed back, closed or was refused
what, and when; filtered by counsellor, action and date; with the hash chain's state.

Reading the log is itself audited (an admin's reads are not above the log).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.concurrency import run_in_threadpool

from bot.console.deps import DB, Admin
from bot.console.schemas import AuditChainOut, AuditOut, AuditPage
from bot.store.audit import verify
from bot.store.handoffs import audit, audit_actors, audit_entries

router = APIRouter(prefix="/console/api", tags=["audit"])

# The actions the log holds (the screen's filter); others may appear and are shown as they are.
ACTIONS = ("login", "login_failed", "logout", "open", "stream", "claim", "reply", "hand_back",
           "close", "escalate", "escalate_urgent", "cancel", "refused", "audit_read",
           "audit_verify", "checkpoint")  # fmt: skip


def _day_start(day: date | None) -> datetime | None:
    return datetime.combine(day, time.min) if day is not None else None


@router.get("/audit", response_model=AuditPage)
def list_audit(
    user: Admin,
    db: DB,
    actor: str | None = Query(None, min_length=1, max_length=64),
    action: str | None = Query(None, min_length=1, max_length=32),
    handoff_id: str | None = Query(None, max_length=32),
    since: Annotated[date | None, Query(description="from this day on (UTC)")] = None,
    until: Annotated[date | None, Query(description="up to this day, included (UTC)")] = None,
    before_id: int | None = Query(None, ge=1, description="the next page: older than this id"),
    limit: int = Query(100, ge=1, le=500),
) -> AuditPage:
    """The newest entries matching the filters; audited as an ``audit_read``."""
    if since is not None and until is not None and since > until:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "'since' is after 'until'")
    entries = audit_entries(
        db, actor=actor, action=action, handoff_id=handoff_id, since=_day_start(since),
        until=_day_start(until + timedelta(days=1)) if until is not None else None,
        before_id=before_id, limit=limit + 1,
    )  # fmt: skip
    filters = {"actor": actor, "action": action, "handoff": handoff_id, "since": since,
               "until": until, "before": before_id}  # fmt: skip
    audit(db, actor=user.username, action="audit_read",
          detail=" ".join(f"{k}={v}" for k, v in filters.items() if v is not None) or None)
    actors = audit_actors(db)
    db.commit()
    return AuditPage(
        entries=[AuditOut.of(e) for e in entries[:limit]], more=len(entries) > limit,
        actors=actors, actions=list(ACTIONS),
    )  # fmt: skip


@router.get("/audit/chain", response_model=AuditChainOut)
async def check_chain(user: Admin, db: DB) -> AuditChainOut:
    """The whole hash chain walked now (as ``python -m bot.console audit-verify`` does)."""

    def run() -> AuditChainOut:
        report = verify(db)
        db.rollback()
        audit(db, actor=user.username, action="audit_verify",
              detail="intact" if report.ok else f"broken at {report.broken_id}")  # fmt: skip
        db.commit()
        return AuditChainOut(
            ok=report.ok, rows=report.rows, first_id=report.first_id, last_id=report.last_id,
            head=report.head, checkpoints=report.checkpoints, append_only=report.append_only,
            broken_id=report.broken_id, problem=report.problem, summary=report.summary(),
        )  # fmt: skip

    return await run_in_threadpool(run)
