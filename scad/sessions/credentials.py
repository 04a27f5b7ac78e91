"""Finding the host's Claude credentials and handing them to a run.

Precedence follows Claude Code's: ``ANTHROPIC_API_KEY``, then
``CLAUDE_CODE_OAUTH_TOKEN``, then the OAuth credentials file. Secrets reach a
container only as files inside its run (mode 0600): never as container
environment, labels, image layers, logs or command-line arguments.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import msgspec

from ..gateway import credentials_path, oauth_expiry

__all__ = [
    "CREDENTIALS_LIMIT",
    "EXPIRY_WARNING",
    "HostCredentials",
    "credentials_env_file",
    "discover_credentials",
    "expiry_warning",
]

Method = Literal["api-key", "oauth-token", "credentials-file"]
#: The most of a Claude credentials file read (a run's own is the agent's to write).
CREDENTIALS_LIMIT = 1 << 20
#: Warn when OAuth credentials expire sooner than this.
EXPIRY_WARNING = timedelta(hours=4)


class HostCredentials(msgspec.Struct, frozen=True, kw_only=True):
    method: Method
    api_key: str | None = None
    oauth_token: str | None = None
    credentials_file: str | None = None
    expires_at: datetime | None = None

    def __repr__(self) -> str:  # never print a secret by accident
        return f"HostCredentials(method={self.method!r})"


def discover_credentials(environ: Mapping[str, str]) -> HostCredentials | None:
    """The credentials the host would give Claude, or None when it has none."""
    if key := environ.get("ANTHROPIC_API_KEY"):
        return HostCredentials(method="api-key", api_key=key)
    if token := environ.get("CLAUDE_CODE_OAUTH_TOKEN"):
        return HostCredentials(method="oauth-token", oauth_token=token)
    path = credentials_path(environ)
    if path.is_file():
        return HostCredentials(
            method="credentials-file", credentials_file=str(path), expires_at=_expiry(path)
        )
    return None


def _expiry(path: Path) -> datetime | None:
    try:
        return oauth_expiry(path.read_bytes())
    except OSError:
        return None


def expiry_warning(credentials: HostCredentials | None, now: datetime) -> str | None:
    """A one-line warning when OAuth credentials have expired or expire soon."""
    if credentials is None or credentials.expires_at is None:
        return None
    left = credentials.expires_at - now
    if left <= timedelta(0):
        return f"the Claude OAuth credentials in {credentials.credentials_file} have expired; run `claude` on the host to log in again"
    if left <= EXPIRY_WARNING:
        minutes = int(left.total_seconds() // 60)
        return (
            f"the Claude OAuth credentials in {credentials.credentials_file} expire in "
            f"{minutes // 60} h {minutes % 60} min; running sessions will stop working then"
        )
    return None


def credentials_env_file(credentials: HostCredentials) -> str:
    """Shell lines the container's entrypoint sources before it starts Claude."""
    if credentials.api_key:
        return f"ANTHROPIC_API_KEY={shlex.quote(credentials.api_key)}\n"
    if credentials.oauth_token:
        return f"CLAUDE_CODE_OAUTH_TOKEN={shlex.quote(credentials.oauth_token)}\n"
    return ""
