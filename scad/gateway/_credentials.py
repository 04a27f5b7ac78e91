"""The host's credential, as the gateway puts it on a request on its way out.

A source is anything with ``async current() -> OutgoingAuth``: the key or token
to send now. Sources that can go stale (an OAuth login) are told when the API
rejected what they gave (``rejected``), so they can refresh once for everyone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import msgspec

__all__ = [
    "OAUTH_BETA",
    "ApiKey",
    "CredentialSource",
    "OAuthToken",
    "OutgoingAuth",
    "credential_from_env",
]

#: The beta the Messages API wants beside an OAuth access token.
OAUTH_BETA = "oauth-2025-04-20"


class OutgoingAuth(msgspec.Struct, frozen=True):
    """Headers that carry the credential, and betas to add to ``anthropic-beta``."""

    headers: dict[str, str]
    betas: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never print a secret by accident
        return f"OutgoingAuth(headers={sorted(self.headers)!r}, betas={self.betas!r})"


class CredentialSource(Protocol):
    """Where the gateway gets the credential it swaps in."""

    method: str

    async def current(self) -> OutgoingAuth:
        """The credential to send now."""
        ...

    async def rejected(self, auth: OutgoingAuth) -> None:
        """The API answered 401 to ``auth``: a source that can refresh does so."""
        ...


class ApiKey:
    """An API key, sent as ``x-api-key``."""

    method = "api-key"

    def __init__(self, key: str) -> None:
        self._auth = OutgoingAuth({"x-api-key": key})

    async def current(self) -> OutgoingAuth:
        return self._auth

    async def rejected(self, auth: OutgoingAuth) -> None:
        pass  # a key does not change by itself

    def __repr__(self) -> str:
        return "ApiKey(...)"


class OAuthToken:
    """An OAuth access token (``CLAUDE_CODE_OAUTH_TOKEN``), sent as a Bearer token."""

    method = "oauth-token"

    def __init__(self, token: str) -> None:
        self._auth = OutgoingAuth({"authorization": f"Bearer {token}"}, (OAUTH_BETA,))

    async def current(self) -> OutgoingAuth:
        return self._auth

    async def rejected(self, auth: OutgoingAuth) -> None:
        pass  # a long-lived token from `claude setup-token` has no refresh

    def __repr__(self) -> str:
        return "OAuthToken(...)"


def credential_from_env(environ: Mapping[str, str]) -> CredentialSource | None:
    """The credential in the gateway's environment, in Claude Code's precedence."""
    if key := environ.get("ANTHROPIC_API_KEY"):
        return ApiKey(key)
    if token := environ.get("CLAUDE_CODE_OAUTH_TOKEN"):
        return OAuthToken(token)
    return None
