"""The host's Claude credential, as the gateway swaps it in on the way out.

Three sources, in Claude Code's precedence: ``ANTHROPIC_API_KEY`` and
``CLAUDE_CODE_OAUTH_TOKEN`` (both used as they are, never refreshed), and the OAuth
login in Claude Code's credentials file, which :class:`OAuthLogin` refreshes when it
expires. Refresh tokens rotate: a refresh token sent twice logs the login out, so
one refresh happens at a time across this process (an asyncio lock), other gateways
(an ``flock`` beside the file) and ``claude`` on the host (its own lock folder; both
in :mod:`._refresh_locks`), and the file is read again under the locks, since
someone else may have refreshed it. The rotated tokens are written back atomically
where Claude Code keeps them (:mod:`._stored_login`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal, Protocol

import aiohttp
import anyio
import msgspec

from ..errors import CredentialsError
from ..text import printable
from ._login_file import MAX_BYTES as _MAX_BYTES
from ._login_file import credentials_path
from ._refresh_locks import claude_lock, flock
from ._stored_login import RELOGIN, Login, read_login, write_login

__all__ = [
    "CLIENT_ID",
    "DEFAULT_SCOPES",
    "OAUTH_BETA",
    "REFRESH_MARGIN",
    "TOKEN_ENDPOINT",
    "Credential",
    "CredentialSource",
    "OAuthLogin",
    "StaticCredential",
    "credential_source",
]

#: Claude Code's OAuth token endpoint and client id (read in Claude Code 2.1.332).
TOKEN_ENDPOINT = "https://platform.claude.com/v1/oauth/token"
CLIENT_ID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
#: The ``anthropic-beta`` value a request authorised by an OAuth token carries.
OAUTH_BETA = "oauth-2025-04-20"
#: The scopes asked for when the file names none (Claude Code's own).
DEFAULT_SCOPES = (
    "user:profile",
    "user:inference",
    "user:sessions:claude_code",
    "user:mcp_servers",
    "user:file_upload",
)
#: A token that expires sooner than this is refreshed first, so no request carries it
#: past its end.
REFRESH_MARGIN = 300.0

#: The bound on the refresh request.
_REFRESH_TIMEOUT = 30.0


class Credential(msgspec.Struct, frozen=True, kw_only=True):
    """What authorises a request to the API: an API key or an OAuth access token."""

    kind: Literal["api-key", "oauth"]
    secret: str

    def headers(self) -> dict[str, str]:
        """The headers that carry it (an OAuth request also needs :data:`OAUTH_BETA`
        among its ``anthropic-beta`` values)."""
        if self.kind == "api-key":
            return {"x-api-key": self.secret}
        return {"authorization": f"Bearer {self.secret}"}

    def __repr__(self) -> str:  # never print a secret by accident
        return f"Credential(kind={self.kind!r})"


class CredentialSource(Protocol):
    """Where the gateway gets the credential it swaps in for a run's token."""

    #: How it authenticates: ``api-key``, ``oauth-token`` or ``oauth-login``.
    method: str

    async def credential(self, *, rejected: Credential | None = None) -> Credential:
        """A credential valid now; ``rejected`` is one the API just refused, which a
        source that can renew does not hand out again."""
        ...


class StaticCredential:
    """An API key or a long-lived OAuth token: used as it is, never refreshed."""

    def __init__(self, credential: Credential) -> None:
        self._credential = credential
        self.method = "api-key" if credential.kind == "api-key" else "oauth-token"

    async def credential(self, *, rejected: Credential | None = None) -> Credential:
        return self._credential

    def __repr__(self) -> str:
        return f"StaticCredential({self.method})"


def credential_source(
    environ: Mapping[str, str], *, token_endpoint: str = TOKEN_ENDPOINT
) -> CredentialSource | None:
    """The host's credential, in Claude Code's precedence; None when it has none."""
    if key := environ.get("ANTHROPIC_API_KEY"):
        return StaticCredential(Credential(kind="api-key", secret=key))
    if token := environ.get("CLAUDE_CODE_OAUTH_TOKEN"):
        return StaticCredential(Credential(kind="oauth", secret=token))
    path = credentials_path(environ)
    if path.is_symlink() or path.exists():  # a link is refused when it is read, clearly
        return OAuthLogin(path, token_endpoint=token_endpoint)
    return None


class _TokenAnswer(msgspec.Struct, frozen=True):
    access_token: str
    expires_in: float
    #: Absent: the refresh token stays as it was.
    refresh_token: str | None = None
    scope: str | None = None


class _TokenError(msgspec.Struct, frozen=True):
    error: str = ""


class OAuthLogin:
    """The OAuth login in Claude Code's credentials file at ``path``, refreshed once
    when it expires (or is within ``margin`` seconds of it) by a POST to
    ``token_endpoint``, and written back there."""

    method = "oauth-login"

    def __init__(
        self,
        path: Path,
        *,
        token_endpoint: str = TOKEN_ENDPOINT,
        margin: float = REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = path
        self._endpoint = token_endpoint
        self._margin = margin
        self._clock = clock
        self._login: Login | None = None
        self._lock = anyio.Lock()
        #: Hashes of the refresh tokens this process sent: never sent again.
        self._spent: set[str] = set()
        #: Hashes of the access tokens a refresh after a rejection gave: a rejection of
        #: one of these refreshes nothing (an API that refuses every login, or a call
        #: that answers 401 whatever the login, would rotate it on every request).
        self._given_on_rejection: set[str] = set()

    async def credential(self, *, rejected: Credential | None = None) -> Credential:
        async with self._lock:  # callers wait here and share one refresh
            login = self._login
            if login is None or self._stale(login, rejected):
                login = await anyio.to_thread.run_sync(read_login, self._path)
                if self._stale(login, rejected):
                    login = await self._refresh(rejected)
                self._login = login
        return Credential(kind="oauth", secret=login.access_token)

    def _stale(self, login: Login, rejected: Credential | None) -> bool:
        if (
            rejected is not None
            and rejected.secret == login.access_token
            and _digest(rejected.secret) not in self._given_on_rejection
        ):
            return True
        return login.expires_at - self._margin <= self._clock()

    async def _refresh(self, rejected: Credential | None) -> Login:
        async with (
            flock(self._path.with_name(f"{self._path.name}.lock")),
            claude_lock(self._path.parent / ".oauth_refresh.lock"),
        ):
            login = await anyio.to_thread.run_sync(read_login, self._path)
            if not self._stale(login, rejected):
                return login  # refreshed by someone else while we waited
            spent = _digest(login.refresh_token)
            if spent in self._spent:
                raise CredentialsError(
                    f"the Claude login in {self._path} could not be refreshed before; {RELOGIN}"
                )
            self._spent.add(spent)  # before it is sent: whatever happens, never twice
            answer = await self._post(login)
            fresh = _refreshed(login, answer, self._clock())
            await anyio.to_thread.run_sync(write_login, self._path, fresh)
            if rejected is not None:
                self._given_on_rejection.add(_digest(fresh.access_token))
            return fresh

    async def _post(self, login: Login) -> _TokenAnswer:
        body = {
            "grant_type": "refresh_token",
            "refresh_token": login.refresh_token,
            "client_id": CLIENT_ID,
            "scope": " ".join(login.scopes or DEFAULT_SCOPES),
        }
        failed = f"refreshing the Claude login at {self._endpoint} failed"
        try:
            with anyio.fail_after(_REFRESH_TIMEOUT):
                async with (
                    aiohttp.ClientSession(trust_env=True) as http,
                    http.post(self._endpoint, json=body, allow_redirects=False) as response,
                ):
                    data = await response.content.read(_MAX_BYTES)
                    status = response.status
        except TimeoutError:
            raise CredentialsError(
                f"{failed}: no answer within {_REFRESH_TIMEOUT:.0f} s; {RELOGIN}"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise CredentialsError(f"{failed}: {printable(str(exc))}; {RELOGIN}") from exc
        if status != 200:
            raise CredentialsError(f"{failed} (HTTP {status}{_oauth_error(data)}); {RELOGIN}")
        try:
            return msgspec.json.decode(data, type=_TokenAnswer)
        except msgspec.DecodeError:
            raise CredentialsError(f"{failed}: its answer holds no token; {RELOGIN}") from None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _oauth_error(data: bytes) -> str:
    try:
        error = msgspec.json.decode(data, type=_TokenError).error
    except msgspec.DecodeError:
        return ""
    return f": {printable(error)[:80]}" if error else ""


def _refreshed(login: Login, answer: _TokenAnswer, now: float) -> Login:
    """``login`` with the rotated tokens of ``answer``, its file's other keys kept."""
    expires_at = now + answer.expires_in
    refresh_token = answer.refresh_token or login.refresh_token
    scopes = tuple(answer.scope.split()) if answer.scope else login.scopes
    oauth = dict(login.document["claudeAiOauth"])
    oauth.update(
        accessToken=answer.access_token,
        refreshToken=refresh_token,
        expiresAt=int(expires_at * 1000),
    )
    if scopes:
        oauth["scopes"] = list(scopes)
    return Login(
        access_token=answer.access_token,
        refresh_token=refresh_token,
        expires_at=expires_at,
        scopes=scopes,
        document={**login.document, "claudeAiOauth": oauth},
    )
