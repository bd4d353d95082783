"""The action server, accepting only Rasa: ``python -m bot.action_server --actions actions --port N``.

rasa_sdk 3.6's server runs any action for any local caller: a POST of ``action_delete_data``
with someone's conversation id deletes that conversation, other actions open handoffs in
anyone's name. Here rasa_sdk's own app gets a middleware that lets through only requests
carrying the shared secret ``ACTION_SERVER_TOKEN`` (``Authorization: Bearer <token>``; Rasa sends
it from the action endpoint's ``headers`` in endpoints.yml), compared in constant time, before
anything of the request is read. ``/health`` stays open (it says nothing).

Also, unlike ``python -m rasa_sdk``:
- it listens on 127.0.0.1 unless SANIC_HOST says otherwise (rasa_sdk's default is 0.0.0.0);
- no CORS headers (no browser has any business here; rasa_sdk allows every origin);
- an error is logged as its type only and answered without the request: rasa_sdk logs the
  exception with the request and answers with the request body, which holds the whole
  conversation (what the person wrote).
"""

from __future__ import annotations

import hmac
import logging
import os
import sys
from typing import Any

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.settings import SettingsError, get_settings

logger = logging.getLogger(__name__)

TOKEN_ENV = "ACTION_SERVER_TOKEN"
OPEN_PATHS = frozenset({"/health"})


def require_token() -> str:
    """The shared secret: required, long and random (bot.run generates one in dev)."""
    value = os.environ.get(TOKEN_ENV)
    return get_settings().require_secret(TOKEN_ENV, value)


def authorised(request: Request, token: bytes) -> bool:
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode("utf-8", "replace"), token)


def protect(app: Sanic, token: str) -> Sanic:
    """Add the token check and the text-free error handler to rasa_sdk's ``app``."""
    secret = token.encode("utf-8")

    @app.middleware("request")
    async def only_rasa(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS and request.method == "GET":
            return None
        if not authorised(request, secret):
            return response.json({"error": "unauthorised"}, status=401)
        return None

    @app.exception(Exception)
    async def without_the_request(request: Request, exception: Exception) -> HTTPResponse:
        status = getattr(exception, "status_code", 500)
        if not isinstance(status, int) or status < 400:
            status = 500
        if status >= 500:
            logger.error("Action server error (%s)", type(exception).__name__)
        return response.json({"error": type(exception).__name__}, status=status)

    return app


def create_app(actions: str, token: str) -> Sanic:
    from rasa_sdk.endpoint import create_app as sdk_app

    return protect(sdk_app(actions, cors_origins=None), token)


def main(argv: list[str] | None = None) -> None:
    from rasa_sdk import utils
    from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME
    from rasa_sdk.endpoint import create_argument_parser
    from rasa_sdk.plugin import plugin_manager

    args = create_argument_parser().parse_args(argv)
    try:
        token = require_token()
    except SettingsError as error:
        sys.exit(f"Action server not started: {error}")
    logging.getLogger("matplotlib").setLevel(logging.WARN)
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(
        logging.getLogger(APPLICATION_ROOT_LOGGER_NAME), args.log_file, args.loglevel,
        args.logging_config_file,
    )  # fmt: skip
    utils.update_sanic_log_level()
    app = create_app(args.actions, token)
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    host = os.environ.get("SANIC_HOST") or "127.0.0.1"
    logger.info("Action server on http://%s:%s (Rasa's token required)", host, args.port)
    kwargs: dict[str, Any] = {"workers": utils.number_of_sanic_workers()}
    app.run(host, args.port, **kwargs)


if __name__ == "__main__":
    main()
