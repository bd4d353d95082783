"""``python -m bot.console serve``, ``create-user`` and ``audit-verify``."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from types import FrameType

from bot.console.security import USERNAME, hash_password, password_problem
from bot.settings import SettingsError, get_settings
from bot.store import counsellors
from bot.store.counsellors import ROLES, CounsellorExists
from bot.store.db import init_db
from bot.store.db import session as open_session

logger = logging.getLogger(__name__)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from bot.console.app import create_app

    settings = get_settings()
    try:
        app = create_app(settings)
    except SettingsError as exc:
        print(f"Console not started: {exc}", file=sys.stderr)
        return 2
    app_state = app.state

    class Server(uvicorn.Server):
        """Tells open event streams to end when a stop is requested (Ctrl-C, SIGTERM)."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            app_state.stopping.set()
            super().handle_exit(sig, frame)

    # proxy_headers=False: the app itself reads X-Forwarded-For, from CONSOLE_TRUSTED_PROXIES
    # only (bot/console/app.py); uvicorn's own would also trust FORWARDED_ALLOW_IPS.
    config = uvicorn.Config(
        app, host=args.host or settings.host, port=args.port or settings.console_port,
        log_level="info", access_log=False, proxy_headers=False, server_header=False,
        timeout_graceful_shutdown=3,
    )  # fmt: skip
    Server(config).run()
    return 0


def _read_password(from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    second = getpass.getpass("Password again: ")
    if first != second:
        print("The passwords differ.", file=sys.stderr)
        return None
    return first


def create_user(args: argparse.Namespace) -> int:
    if not USERNAME.match(args.username):
        print("Username: 2-64 letters, digits, '.', '_' or '-'.", file=sys.stderr)
        return 2
    password = _read_password(args.password_stdin)
    if password is None:
        return 2
    problem = password_problem(password)
    if problem:
        print(f"Refused: {problem}.", file=sys.stderr)
        return 2
    settings = get_settings()
    init_db(settings.database_url)
    with open_session(settings.database_url) as db:
        try:
            counsellors.create_counsellor(
                db, username=args.username, password_hash=hash_password(password), role=args.role
            )
        except CounsellorExists:
            print(f"An account named {args.username} exists already.", file=sys.stderr)
            return 1
    print(f"Created {args.role} account {args.username}.")
    return 0


def audit_verify(args: argparse.Namespace) -> int:
    """Walk the audit log's hash chain: 0 when intact (the head hash printed, to be noted
    elsewhere), 1 with the first broken row, 2 when the database cannot be read."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.store.audit import verify

    try:
        settings = get_settings()
        init_db(settings.database_url)
        with open_session(settings.database_url) as db:
            report = verify(db)
    except (SettingsError, SQLAlchemyError) as exc:
        print(f"Audit log not verified: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(report.summary(), file=sys.stdout if report.ok else sys.stderr)
    if report.ok and not report.append_only and report.rows:
        return 1  # intact, but nothing stops the next change
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    parser = argparse.ArgumentParser(prog="python -m bot.console")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="run the console (settings from the environment)")
    run.add_argument("--host", default=None)
    run.add_argument("--port", type=int, default=None)
    run.set_defaults(func=serve)
    add = commands.add_parser("create-user", help="add a counsellor or admin account")
    add.add_argument("--username", required=True)
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from one line of stdin instead of a prompt",
    )
    add.set_defaults(func=create_user)
    check = commands.add_parser(
        "audit-verify", help="check the audit log's hash chain (exit 1 at the first broken row)"
    )
    check.set_defaults(func=audit_verify)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
