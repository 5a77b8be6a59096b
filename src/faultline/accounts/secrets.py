"""Credentials: project tokens, personal API keys and password hashes.

Personal API keys are 256-bit random strings, so a single SHA-256 is a sufficient (and constant-time-lookup) digest;
passwords are low-entropy and get argon2id.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

PROJECT_TOKEN_PREFIX = "phc_"
PERSONAL_API_KEY_PREFIX = "phx_"

_hasher = PasswordHasher()


def new_project_token() -> str:
    return PROJECT_TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_personal_api_key() -> str:
    return PERSONAL_API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def mask_api_key(value: str) -> str:
    """What the UI shows after creation, e.g. ``phx_…Xy3q`` (PostHog shows the last four characters)."""
    return f"{value[:4]}…{value[-4:]}"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_password() -> str:
    return secrets.token_urlsafe(12)
