"""Passwords, session tokens and CSRF tokens. Standard library only.

Passwords: scrypt with a random salt, stored as one string that carries its parameters, so
they can be raised later without breaking old hashes (``needs_rehash``: the login rehashes a
hash made with weaker ones). Session tokens: random, stored only as a SHA-256 hash. CSRF token:
derived from the session token, so it needs no storage and dies with the session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading

# OWASP Password Storage Cheat Sheet: scrypt with N=2^17, r=8, p=1. That takes 128 MiB per hash
# (128 * r * N bytes), four times OpenSSL's default limit of 32 MiB, hence ``maxmem``; about
# 0.6 s of one core here.
SCRYPT_N = 2**17
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_DKLEN = 32
# At most this many hashes at once, whoever asks (the login, the account command): a burst of
# logins then waits its turn instead of taking 128 MiB each.
HASHING_AT_ONCE = 2
MIN_PASSWORD_LENGTH = 12
USERNAME = re.compile(r"^[A-Za-z0-9._-]{2,64}$")

_hashing = threading.BoundedSemaphore(HASHING_AT_ONCE)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def scrypt_memory(n: int, r: int, p: int) -> int:
    """The bytes OpenSSL's scrypt needs (its EVP_PBE_scrypt: 128*r*(N+2) + 128*r*p), plus 1 MiB."""
    return 128 * r * (n + p + 2) + 1024 * 1024


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    if not (1 < n <= 2**20 and 0 < r <= 32 and 0 < p <= 16):  # a stored hash sets these
        raise ValueError("scrypt parameters out of range")
    with _hashing:
        return hashlib.scrypt(
            password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=dklen,
            maxmem=scrypt_memory(n, r, p),
        )  # fmt: skip


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_DKLEN)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time comparison; a malformed stored hash never matches."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = _scrypt(password, _unb64(salt), int(n), int(r), int(p), len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def needs_rehash(stored: str) -> bool:
    """True for a hash made with other parameters than today's (or not one of ours)."""
    try:
        scheme, n, r, p, _salt, _digest = stored.split("$")
        return scheme != "scrypt" or (int(n), int(r), int(p)) != (SCRYPT_N, SCRYPT_R, SCRYPT_P)
    except ValueError:
        return True


# Verified against when the username is unknown, so a wrong name costs as long as a wrong
# password and response times do not tell which accounts exist. Made on first use: a hash at
# today's cost takes long enough that importing this module should not pay for it.
_dummy_hash: str | None = None
_dummy_lock = threading.Lock()


def dummy_hash() -> str:
    global _dummy_hash
    with _dummy_lock:
        if _dummy_hash is None:
            _dummy_hash = hash_password(secrets.token_urlsafe(16))
        return _dummy_hash


def burn_time(password: str) -> None:
    verify_password(password, dummy_hash())


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > 1024:
        return "the password is too long"
    return None


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_token_for(session_token: str) -> str:
    """The session's CSRF token: an HMAC of the session token (one-way, so it reveals nothing)."""
    return hmac.new(session_token.encode("utf-8"), b"console-csrf", hashlib.sha256).hexdigest()


def csrf_matches(session_token: str, presented: str | None) -> bool:
    """Constant time, on bytes: a header may hold any latin-1 character (Starlette decodes
    headers so), and ``compare_digest`` raises on a non-ASCII ``str``."""
    if not presented:
        return False
    expected = csrf_token_for(session_token).encode("ascii")
    return hmac.compare_digest(expected, presented.encode("utf-8", "surrogateescape"))
