"""Dependencies, declared once: database session, Rasa client, the logged-in counsellor,
role checks and CSRF. Routes ask for them through the ``Annotated`` aliases at the bottom."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.orm import Session

from bot.console.config import ConsoleConfig
from bot.console.security import csrf_matches, csrf_token_for, token_hash
from bot.rasa_api import RasaAPI
from bot.settings import Settings
from bot.store import sessions
from bot.store.db import session as open_session

logger = logging.getLogger(__name__)

STAFF_ROLES = ("counsellor", "admin")
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class CurrentCounsellor:
    """The logged-in account, as plain values (no ORM object outlives the request)."""

    id: int
    username: str
    role: str
    token_hash: str
    csrf_token: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_config(request: Request) -> ConsoleConfig:
    return request.app.state.config


def get_rasa(request: Request) -> RasaAPI:
    return request.app.state.rasa


def get_db(request: Request) -> Iterator[Session]:
    with open_session(request.app.state.settings.database_url) as db:
        yield db


def current_counsellor(
    request: Request, db: Annotated[Session, Depends(get_db)]
) -> CurrentCounsellor:
    """The account behind the session cookie; 401 without a live session."""
    config: ConsoleConfig = request.app.state.config
    token = request.cookies.get(config.cookie_name)
    if not token or len(token) > 256:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Not logged in")
    found = sessions.find_session(
        db, token_hash=token_hash(token), idle=config.session_idle,
        max_age=config.session_max_age,
    )  # fmt: skip
    if found is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Not logged in")
    row, counsellor = found
    user = CurrentCounsellor(
        id=counsellor.id, username=counsellor.username, role=counsellor.role,
        token_hash=row.token_hash, csrf_token=csrf_token_for(token),
    )  # fmt: skip
    db.commit()  # end the read transaction; nothing here is held for the rest of the request
    request.state.console_user = user  # for the audit entry of a refusal (app.py)
    return user


def require_roles(*roles: str):  # type: ignore[no-untyped-def]
    """A dependency that lets only the given roles through (403 for the others)."""

    def check(
        user: Annotated[CurrentCounsellor, Depends(current_counsellor)],
    ) -> CurrentCounsellor:
        if user.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "Not allowed for your role")
        return user

    return check


def same_origin(request: Request) -> bool:
    """A browser's Origin (when it sends one) must be this server: no cross-site writes."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin != "null" and urlsplit(origin).netloc == host


def check_csrf(request: Request, user: CurrentCounsellor) -> None:
    if not same_origin(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Cross-origin request refused")
    token = request.cookies.get(request.app.state.config.cookie_name) or ""
    if not csrf_matches(token, request.headers.get(CSRF_HEADER)):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Missing or wrong CSRF token")


_staff = require_roles(*STAFF_ROLES)
_admin = require_roles("admin")


def staff_write(
    request: Request, user: Annotated[CurrentCounsellor, Depends(_staff)]
) -> CurrentCounsellor:
    """Counsellor or admin, on a state-changing call: also the CSRF header."""
    check_csrf(request, user)
    return user


def admin_write(
    request: Request, user: Annotated[CurrentCounsellor, Depends(_admin)]
) -> CurrentCounsellor:
    check_csrf(request, user)
    return user


DB = Annotated[Session, Depends(get_db)]
Rasa = Annotated[RasaAPI, Depends(get_rasa)]
Config = Annotated[ConsoleConfig, Depends(get_config)]
AppSettings = Annotated[Settings, Depends(get_settings)]
Staff = Annotated[CurrentCounsellor, Depends(_staff)]
StaffWrite = Annotated[CurrentCounsellor, Depends(staff_write)]
Admin = Annotated[CurrentCounsellor, Depends(_admin)]
AdminWrite = Annotated[CurrentCounsellor, Depends(admin_write)]
