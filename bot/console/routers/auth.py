"""Login, logout, and who am I (with the CSRF token the page needs after a reload)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from bot.console.deps import DB, Config, Staff, StaffWrite, same_origin
from bot.console.ratelimit import SlidingWindow
from bot.console.schemas import LoginIn, Me
from bot.console.security import (
    burn_time,
    csrf_token_for,
    new_session_token,
    token_hash,
    verify_password,
)
from bot.store import counsellors, sessions
from bot.store.handoffs import audit

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/console/api", tags=["auth"])

WRONG = "Wrong username or password"
LOCKED = "Too many failed logins: the account is locked for a while. Try again later."


def _limiter(request: Request) -> SlidingWindow:
    return request.app.state.login_limiter


def _set_cookie(response: Response, name: str, token: str) -> None:
    response.set_cookie(
        name, token, httponly=True, secure=True, samesite="strict", path="/console",
    )  # fmt: skip


@router.post("/login", response_model=Me)
async def login(body: LoginIn, request: Request, response: Response, db: DB, config: Config) -> Me:
    """Check the password; on success a new session (never reusing one the browser brought)."""
    if not same_origin(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Cross-origin request refused")
    client = request.client.host if request.client else "unknown"
    if not _limiter(request).allow(client):
        logger.warning("Login attempts rate-limited for one client address")
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "Too many attempts; wait a minute")

    def check() -> Me:
        account = counsellors.get_by_username(db, username=body.username)
        if account is None:
            burn_time(body.password)
            logger.info("Login failed: unknown account")
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, WRONG)
        if counsellors.is_locked(account):
            logger.info("Login refused: account %s is locked", account.id)
            raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, LOCKED)
        if not verify_password(body.password, account.password_hash):
            locked = counsellors.record_failed_login(
                db, counsellor_id=account.id, max_failures=config.max_failed_logins,
                lockout=config.lockout,
            )  # fmt: skip
            audit(
                db,
                actor=account.username,
                action="login_failed",
                detail="locked" if locked else None,
            )
            if locked:
                sessions.delete_sessions_of(db, counsellor_id=account.id)
                logger.warning("Account %s locked after repeated failed logins", account.id)
            db.commit()
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, WRONG)
        counsellors.record_successful_login(db, counsellor_id=account.id)
        old = request.cookies.get(config.cookie_name)
        if old:
            sessions.delete_session(db, token_hash=token_hash(old))
        token = new_session_token()
        sessions.create_session(
            db, counsellor_id=account.id, token_hash=token_hash(token), idle=config.session_idle
        )
        audit(db, actor=account.username, action="login")
        db.commit()
        _set_cookie(response, config.cookie_name, token)
        logger.info("Login: account %s", account.id)
        return Me(username=account.username, role=account.role, csrf_token=csrf_token_for(token))

    return await run_in_threadpool(check)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(user: StaffWrite, db: DB, config: Config) -> Response:
    sessions.delete_session(db, token_hash=user.token_hash)
    audit(db, actor=user.username, action="logout")
    db.commit()
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(config.cookie_name, path="/console", secure=True, httponly=True,
                           samesite="strict")  # fmt: skip
    return response


@router.get("/me", response_model=Me)
def me(user: Staff) -> Me:
    return Me(username=user.username, role=user.role, csrf_token=user.csrf_token)
