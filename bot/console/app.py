"""The app factory. ``create_app(settings)`` builds the console; other parts of the project
add their pages by listing a module in ``EXTRA_ROUTER_MODULES`` (it needs a ``router``) or by
passing routers in. The console leaves ``GET /`` to the widget demo page.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import os
import re
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from bot.console.config import ConsoleConfig
from bot.console.headers import SecurityHeaders
from bot.console.live import BrokerFeed
from bot.console.rasa import PooledRasaAPI
from bot.console.ratelimit import LoginThrottle
from bot.console.routers import audit, auth, handoffs, pages, texts
from bot.rasa_api import RasaAPI, RasaAPIError
from bot.settings import Settings, SettingsError
from bot.store import retention, sessions
from bot.store.db import init_db
from bot.store.db import session as open_session
from bot.store.handoffs import audit as write_audit

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"

# httpx logs every request URL at INFO, and Rasa's URLs carry the conversation id (a Telegram
# chat id, for one): never in this process's logs.
QUIET_LOGGERS = ("httpx", "httpcore")

# Modules whose ``router`` is included when they exist (the widget page, later).
EXTRA_ROUTER_MODULES: list[str] = ["bot.console.widget"]


def rasa_from_env(settings: Settings) -> RasaAPI:
    """The Rasa HTTP API client: RASA_URL and RASA_JWT_SECRET as bot.run sets them.

    In dev without a secret in the environment, the one bot.run generated into var/ is used;
    in production a missing or placeholder secret stops the start.
    """
    url = os.environ.get("RASA_URL") or settings.rasa_url
    secret = settings.rasa_jwt_secret
    if secret is None and settings.profile == "dev":
        path = settings.var_dir / "rasa_jwt_secret"
        if path.exists():
            secret = path.read_text().strip()
    if secret is None:
        raise SettingsError("RASA_JWT_SECRET is not set (bot.run sets it; see README)")
    if settings.profile == "production":
        secret = settings.require_secret("RASA_JWT_SECRET", secret)
    return PooledRasaAPI(url, secret)


def _extra_routers() -> list[APIRouter]:
    found: list[APIRouter] = []
    for name in EXTRA_ROUTER_MODULES:
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:
            spec = None
        if spec is None:
            continue
        router = getattr(importlib.import_module(name), "router", None)
        if isinstance(router, APIRouter):
            found.append(router)
        else:
            logger.warning("%s has no APIRouter named router; not included", name)
    return found


def create_app(
    settings: Settings,
    *,
    rasa: RasaAPI | None = None,
    config: ConsoleConfig | None = None,
    extra_routers: Sequence[APIRouter] | None = None,
    live: BrokerFeed | None = None,
) -> FastAPI:
    """The console app. Tables are created at start (migrations come later)."""
    config = config or ConsoleConfig()
    rasa = rasa or rasa_from_env(settings)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    purge_every = retention.interval_minutes() * 60  # SettingsError before the start
    if live is None and settings.profile == "production":
        live = BrokerFeed.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with open_session(settings.database_url) as db:
            purged = sessions.purge_expired(db)
        logger.info("Console ready (%d expired sessions removed)", purged)
        # Conversations past the retention period, and audit rows past theirs: purged now and
        # every interval after.
        purge_job = asyncio.create_task(
            retention.retention_job(settings.database_url, settings.retention_days, purge_every,
                                    audit_days=settings.audit_retention_days)
        )  # fmt: skip
        if live is not None:  # the production profile: transcripts follow the event broker
            live.start()
        yield
        if live is not None:
            await live.stop()
        purge_job.cancel()
        await asyncio.gather(purge_job, return_exceptions=True)
        if isinstance(rasa, PooledRasaAPI):
            await rasa.aclose()

    init_db(settings.database_url)
    app = FastAPI(
        title="Counsellor console", lifespan=lifespan, docs_url=None, redoc_url=None,
        openapi_url=None,
    )  # fmt: skip
    app.state.settings = settings
    app.state.config = config
    app.state.rasa = rasa
    app.state.live = live
    app.state.login_throttle = LoginThrottle(config.login)
    # Set when the server is asked to stop: open event streams end instead of holding it up.
    app.state.stopping = threading.Event()

    @app.exception_handler(RasaAPIError)
    async def rasa_unreachable(request: Request, exc: RasaAPIError) -> JSONResponse:
        logger.warning("Rasa call failed: %s", exc)
        return JSONResponse(
            {"detail": {"message": "The assistant's server did not answer; try again."}},
            status_code=502,
        )

    @app.exception_handler(StarletteHTTPException)
    async def refused(request: Request, exc: StarletteHTTPException) -> Response:
        """Every 403 a logged-in counsellor gets is audited: who, which route, which handoff
        (never the body, never a conversation id)."""
        user = getattr(request.state, "console_user", None)
        if exc.status_code == 403 and user is not None:
            await run_in_threadpool(_audit_refusal, settings.database_url, request, user.username)
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler returns pydantic's error context, which for a body that is not
        # JSON holds the whole body (a password, say) and can hold a lone surrogate that no
        # UTF-8 response takes (a 500, found by hypothesis). Where and what only, never the input.
        detail = [
            {
                "loc": [str(part).encode("utf-8", "replace").decode("utf-8") for part in
                        error.get("loc", ())],
                "msg": str(error.get("msg", "")).encode("utf-8", "replace").decode("utf-8"),
                "type": str(error.get("type", "")),
            }
            for error in exc.errors()
        ]  # fmt: skip
        return JSONResponse({"detail": detail}, status_code=422)

    for module in (pages, auth, handoffs, texts, audit):
        app.include_router(module.router)
    for router in [*_extra_routers(), *(extra_routers or [])]:
        app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    app.add_middleware(SecurityHeaders)
    # The client's real address (the login limits count it): behind nginx every connection
    # comes from the proxy, which names the client in X-Forwarded-For (it overwrites, never
    # appends). Believed only from CONSOLE_TRUSTED_PROXIES (default: this machine's loopback
    # addresses); from anywhere else it is ignored.
    # In the app rather than in uvicorn's Config, so that it holds however the app is served.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted_proxies(settings))
    return app


HANDOFF_ID = re.compile(r"^[0-9a-f]{32}$")


def _audit_refusal(database_url: str, request: Request, actor: str) -> None:
    route = request.scope.get("route")
    where = getattr(route, "path", None) or "?"
    handoff_id = request.path_params.get("handoff_id")
    if not (isinstance(handoff_id, str) and HANDOFF_ID.match(handoff_id)):
        handoff_id = None
    try:
        with open_session(database_url) as db:
            write_audit(db, actor=actor, action="refused", handoff_id=handoff_id,
                        detail=f"{request.method} {where}"[:200])  # fmt: skip
            db.commit()
    except Exception as exc:  # the refusal stands even if it cannot be recorded
        logger.error("Could not audit a refused request (%s)", type(exc).__name__)


def trusted_proxies(settings: Settings) -> list[str]:
    """CONSOLE_TRUSTED_PROXIES as a list; '*' (trust anyone) is refused."""
    hosts = [h.strip() for h in settings.console_trusted_proxies.split(",") if h.strip()]
    if "*" in hosts:
        raise SettingsError("CONSOLE_TRUSTED_PROXIES: '*' would let any client choose its address")
    return hosts
