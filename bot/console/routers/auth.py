"""Login, logout, and who am I (with the CSRF token the page needs after a reload).

A login that fails gets one answer whatever the reason (no such account, a wrong password, too
many attempts): the same status, the same body and about the same time, so the answer tells
nobody which usernames exist. A failure never ends a session and never locks an account
(bot/console/ratelimit.py slows guessing down instead).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time

import anyio
from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

from bot.console.deps import DB, Config, Staff, StaffWrite, same_origin
from bot.console.ratelimit import LoginThrottle, address_key
from bot.console.schemas import LoginIn, Me
from bot.console.security import (
    HASHING_AT_ONCE,
    burn_time,
    csrf_token_for,
    dummy_hash,
    hash_password,
    needs_rehash,
    new_session_token,
    token_hash,
    verify_password,
)
from bot.store import counsellors, sessions
from bot.store.db import session as open_session
from bot.store.handoffs import audit

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/console/api", tags=["auth"])

REFUSED = "Wrong username or password, or too many attempts: wait a minute, then try again."


class _Pace:
    """How long a password check takes here (a moving average), so that an attempt refused
    before any check can take as long without spending 128 MiB and a core on scrypt."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._average: float | None = None

    def record(self, seconds: float) -> None:
        with self._lock:
            self._average = seconds if self._average is None else (
                0.8 * self._average + 0.2 * seconds)  # fmt: skip

    def typical(self) -> float:
        with self._lock:
            return self._average if self._average is not None else 0.5


_pace = _Pace()


def _check_limiter(request: Request) -> anyio.CapacityLimiter:
    """Password checks wait for one of these in the event loop, not in a worker thread: a
    burst of logins cannot take every thread of the pool the other routes need."""
    limiter = getattr(request.app.state, "login_checks", None)
    if limiter is None:
        limiter = request.app.state.login_checks = anyio.CapacityLimiter(HASHING_AT_ONCE)
    return limiter


def _set_cookie(response: Response, name: str, token: str) -> None:
    response.set_cookie(
        name, token, httponly=True, secure=True, samesite="strict", path="/console",
    )  # fmt: skip


def _audit_failure(database_url: str, username: str, detail: str | None) -> None:
    """After the answer is sent (its timing must not depend on it): an existing account's
    failed login goes into the audit log. Unknown names are not written anywhere."""
    with open_session(database_url) as db:
        if counsellors.get_by_username(db, username=username) is None:
            return
        audit(db, actor=username, action="login_failed", detail=detail)
        db.commit()


def _refused(request: Request, username: str, detail: str | None) -> JSONResponse:
    url = request.app.state.settings.database_url
    return JSONResponse(
        {"detail": REFUSED}, status_code=status.HTTP_401_UNAUTHORIZED,
        background=BackgroundTask(_audit_failure, url, username, detail),
    )  # fmt: skip


@router.post("/login", response_model=Me)
async def login(
    body: LoginIn, request: Request, response: Response, db: DB, config: Config
) -> Me | JSONResponse:
    """Check the password; on success a new session (never reusing one the browser brought)."""
    if not same_origin(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Cross-origin request refused")
    throttle: LoginThrottle = request.app.state.login_throttle
    address = address_key(request.client.host if request.client else None)
    username = body.username
    if not throttle.allowed(username, address):
        logger.info("Login attempt throttled")
        await asyncio.sleep(_pace.typical() * random.uniform(0.9, 1.1))
        return _refused(request, username, "throttled")

    def check() -> tuple[int, str, str] | None:
        """(id, username, role) of the account when the password is right, else None."""
        dummy_hash()  # made once, before the clock starts: its making is not a check's time
        started = time.monotonic()
        account = counsellors.get_by_username(db, username=username)
        if account is None:
            burn_time(body.password)
            right = False
        else:
            right = verify_password(body.password, account.password_hash)
        db.commit()  # end the read transaction before the (long) hashing is timed
        _pace.record(time.monotonic() - started)
        if account is None or not right:
            return None
        if needs_rehash(account.password_hash):  # made at a lower cost: today's from now on
            counsellors.set_password(
                db, counsellor_id=account.id, password_hash=hash_password(body.password)
            )
            logger.info("Password hash of account %s renewed at today's cost", account.id)
        return account.id, account.username, account.role

    found = await anyio.to_thread.run_sync(check, limiter=_check_limiter(request))
    if found is None:
        throttle.failed(username, address)
        logger.info("Login failed")
        return _refused(request, username, None)
    account_id, name, role = found
    throttle.succeeded(username, address)

    def open_session_for_account() -> str:
        old = request.cookies.get(config.cookie_name)
        if old:
            sessions.delete_session(db, token_hash=token_hash(old))
        token = new_session_token()
        sessions.create_session(
            db, counsellor_id=account_id, token_hash=token_hash(token), idle=config.session_idle
        )
        audit(db, actor=name, action="login")
        db.commit()
        return token

    token = await run_in_threadpool(open_session_for_account)
    _set_cookie(response, config.cookie_name, token)
    logger.info("Login: account %s", account_id)
    return Me(username=name, role=role, csrf_token=csrf_token_for(token))


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
