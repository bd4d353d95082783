"""One typed settings object, read from the environment.

Secrets have no default. In the production profile a missing or placeholder secret stops the
process at start; in the default (dev) profile `bot.run` generates a random token into var/.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDERS = {"", "changeme", "change-me", "secret", "token", "xxx", "placeholder", "todo"}
LANGUAGES = ("sv", "en", "ar", "fa", "so", "ti", "ru")
RTL_LANGUAGES = ("ar", "fa")


class SettingsError(RuntimeError):
    """A setting is missing or unusable."""


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number") from exc


@dataclass(frozen=True)
class Settings:
    profile: str = "dev"
    host: str = "127.0.0.1"
    rasa_port: int = 5005
    action_port: int = 5055
    console_port: int = 8000
    database_url: str = f"sqlite:///{ROOT / 'var' / 'rasa.db'}"
    # Secret that signs the JWTs of Rasa's HTTP API (header auth, never ?token= in URLs).
    rasa_jwt_secret: str | None = None
    # Optional: the key REST clients send as a bearer token. Without it REST is off in the
    # production profile and open to this machine only in dev (bot/channels/rest.py).
    rest_api_key: str | None = None
    default_language: str = "sv"
    retention_days: int = 30
    # Counsellors' opening hours: days and a time range, in Swedish time.
    office_hours: str = "mon-fri 09:00-17:00"
    timezone: str = "Europe/Stockholm"
    handoff_wait_minutes: int = 30
    content_dir: Path = field(default=ROOT / "content")
    var_dir: Path = field(default=ROOT / "var")
    # Console (issue 20). Proxies whose X-Forwarded-For names the client (comma-separated;
    # nginx on this host in production; CONSOLE_TRUSTED_PROXIES, else TRUSTED_PROXIES, which
    # the Rasa servers read too). How long after a handoff closes its counsellor may still read
    # it. Audit log: its key for conversation pseudonyms, how long rows are kept.
    console_trusted_proxies: str = "127.0.0.1,::1"
    console_read_hours: int = 24
    audit_key: str | None = None
    audit_retention_days: int = 365

    @property
    def rasa_url(self) -> str:
        return f"http://{self.host}:{self.rasa_port}"

    @property
    def action_endpoint_url(self) -> str:
        return f"http://{self.host}:{self.action_port}/webhook"

    @classmethod
    def from_env(cls) -> Settings:
        default = cls()
        settings = cls(
            profile=os.environ.get("PROFILE", default.profile),
            host=os.environ.get("BIND_HOST", default.host),
            rasa_port=_int("RASA_PORT", default.rasa_port),
            action_port=_int("ACTION_PORT", default.action_port),
            console_port=_int("CONSOLE_PORT", default.console_port),
            database_url=os.environ.get("DATABASE_URL") or default.database_url,
            rasa_jwt_secret=os.environ.get("RASA_JWT_SECRET") or None,
            rest_api_key=(os.environ.get("REST_API_KEY") or "").strip() or None,
            default_language=os.environ.get("DEFAULT_LANGUAGE", default.default_language),
            retention_days=_int("RETENTION_DAYS", default.retention_days),
            office_hours=os.environ.get("OFFICE_HOURS", default.office_hours),
            timezone=os.environ.get("TIMEZONE", default.timezone),
            handoff_wait_minutes=_int("HANDOFF_WAIT_MINUTES", default.handoff_wait_minutes),
            content_dir=Path(os.environ.get("CONTENT_DIR", default.content_dir)),
            var_dir=Path(os.environ.get("VAR_DIR", default.var_dir)),
            console_trusted_proxies=os.environ.get("CONSOLE_TRUSTED_PROXIES")
            or os.environ.get("TRUSTED_PROXIES") or default.console_trusted_proxies,
            console_read_hours=_int("CONSOLE_READ_HOURS", default.console_read_hours),
            audit_key=os.environ.get("AUDIT_KEY") or None,
            audit_retention_days=_int("AUDIT_RETENTION_DAYS", default.audit_retention_days),
        )
        if settings.default_language not in LANGUAGES:
            raise SettingsError(f"DEFAULT_LANGUAGE must be one of {', '.join(LANGUAGES)}")
        if settings.profile not in ("dev", "production"):
            raise SettingsError("PROFILE must be dev or production")
        if settings.console_read_hours < 0 or settings.audit_retention_days < 1:
            raise SettingsError("CONSOLE_READ_HOURS must be >= 0, AUDIT_RETENTION_DAYS >= 1")
        return settings

    def require_secret(self, name: str, value: str | None) -> str:
        """Return a secret, refusing a missing or placeholder value."""
        if value is None or value.strip().lower() in PLACEHOLDERS or len(value.strip()) < 16:
            raise SettingsError(f"{name} is missing or a placeholder; set a long random value")
        return value


def get_settings() -> Settings:
    return Settings.from_env()
