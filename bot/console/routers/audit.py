"""The audit log, for admins: who opened, claimed, replied to, handed back or closed what."""

from __future__ import annotations

from fastapi import APIRouter, Query

from bot.console.deps import DB, Admin
from bot.console.schemas import AuditOut, as_utc
from bot.store.handoffs import audit_entries

router = APIRouter(prefix="/console/api", tags=["audit"])


@router.get("/audit", response_model=list[AuditOut])
def list_audit(
    user: Admin,
    db: DB,
    handoff_id: str | None = Query(None, max_length=32),
    limit: int = Query(200, ge=1, le=1000),
) -> list[AuditOut]:
    return [
        AuditOut(at=as_utc(e.at), actor=e.actor, action=e.action, handoff_id=e.handoff_id,
                 detail=e.detail)
        for e in audit_entries(db, handoff_id=handoff_id, limit=limit)
    ]  # fmt: skip
