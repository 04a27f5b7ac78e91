"""Claude Code's credentials file: where it is, and the OAuth login's fields in it.

Read by the gateway, which refreshes the login, and by what reports on it (its
expiry, and whether two copies share a refresh token). Pure, and light to import.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

__all__ = [
    "MAX_BYTES",
    "credentials_path",
    "oauth_expiry",
    "oauth_fields",
    "refresh_token_fingerprint",
]

#: The most of a credentials file that is read.
MAX_BYTES = 1 << 20


def credentials_path(environ: Mapping[str, str]) -> Path:
    """Where Claude Code on the host keeps its OAuth login."""
    folder = environ.get("CLAUDE_CONFIG_DIR") or Path(environ.get("HOME", "~"), ".claude")
    return Path(folder).expanduser() / ".credentials.json"


class _OAuthFields(msgspec.Struct, frozen=True):
    accessToken: str | None = None
    refreshToken: str | None = None
    expiresAt: int | float | None = None
    scopes: Any = None


class _CredentialsFile(msgspec.Struct, frozen=True):
    claudeAiOauth: _OAuthFields | None = None


def oauth_fields(data: bytes) -> _OAuthFields | None:
    """The OAuth login's fields in a credentials file's ``data``; None when it holds
    none (a run's own copy may hold anything)."""
    if len(data) > MAX_BYTES:
        return None
    try:
        return msgspec.json.decode(data, type=_CredentialsFile).claudeAiOauth
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None


def oauth_expiry(data: bytes) -> datetime | None:
    """When the OAuth login in a credentials file's ``data`` expires; None if unknown."""
    oauth = oauth_fields(data)
    if oauth is None or oauth.expiresAt is None:
        return None
    try:
        return datetime.fromtimestamp(oauth.expiresAt / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def refresh_token_fingerprint(data: bytes) -> str | None:
    """A short hash that tells whether two credentials files share a refresh token
    (never the token itself); None when there is none."""
    oauth = oauth_fields(data)
    if oauth is None or not oauth.refreshToken:
        return None
    return hashlib.sha256(oauth.refreshToken.encode()).hexdigest()[:16]
