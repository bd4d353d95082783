"""The console page and the health check. The page itself holds no data: it logs in and
loads everything through the API."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot.console.deps import AppSettings
from bot.console.schemas import Health
from bot.store.db import session as open_session

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(tags=["pages"])


@router.get("/console", include_in_schema=False)
def console_page() -> FileResponse:
    return FileResponse(STATIC / "console.html", media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-store"})  # fmt: skip


@router.get("/console/", include_in_schema=False)
def console_slash() -> RedirectResponse:
    return RedirectResponse("/console", status_code=308)


@router.get("/console/health", response_model=Health)
async def health(settings: AppSettings) -> JSONResponse:
    """Up, and the database answers (Rasa has its own health route)."""

    def ping() -> bool:
        try:
            with open_session(settings.database_url) as db:
                db.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            logger.exception("Health check: database unreachable")
            return False

    ok = await run_in_threadpool(ping)
    body = Health(status="ok" if ok else "degraded", database="ok" if ok else "unreachable")
    return JSONResponse(body.dict(), status_code=200 if ok else 503)
