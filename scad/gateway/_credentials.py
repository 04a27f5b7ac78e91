"""The host's Claude credential, as the gateway swaps it in on the way out.

Three sources, in Claude Code's precedence: ``ANTHROPIC_API_KEY`` and
``CLAUDE_CODE_OAUTH_TOKEN`` (both used as they are, never refreshed), and the OAuth
login in Claude Code's credentials file, which :class:`OAuthLogin` refreshes when it
expires. Refresh tokens rotate: a refresh token sent twice logs the login out, so
one refresh happens at a time across this process (an asyncio lock), other gateways
(an ``flock`` beside the file) and ``claude`` on the host (its own lock folder), and
the file is read again under the locks, since someone else may have refreshed it.
The rotated tokens are written back atomically where Claude Code keeps them.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import stat
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, Literal, Protocol

import aiohttp
import anyio
import msgspec

from ..errors import CredentialsError
from ..locks import hold_flock
from ..text import printable
from ._login_file import MAX_BYTES as _MAX_BYTES
from ._login_file import credentials_path, oauth_fields

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
    "credentials_path",
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
#: The one fix for a login that cannot be refreshed.
RELOGIN = "run `claude` on the host to log in again"

#: How long a lock held by someone else is waited for, and how often it is tried.
_LOCK_WAIT = 90.0
_LOCK_POLL = 0.05
#: Claude Code takes its lock folder over once it is this old (proper-lockfile's stale).
_CLAUDE_LOCK_STALE = 60.0
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


class _Login(msgspec.Struct, frozen=True, kw_only=True):
    """The OAuth login in a credentials file, and the whole file to write it back into."""

    access_token: str
    refresh_token: str
    #: UNIX seconds.
    expires_at: float
    scopes: tuple[str, ...]
    document: dict[str, Any]


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
        self._login: _Login | None = None
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
                login = await anyio.to_thread.run_sync(_read_login, self._path)
                if self._stale(login, rejected):
                    login = await self._refresh(rejected)
                self._login = login
        return Credential(kind="oauth", secret=login.access_token)

    def _stale(self, login: _Login, rejected: Credential | None) -> bool:
        if (
            rejected is not None
            and rejected.secret == login.access_token
            and _digest(rejected.secret) not in self._given_on_rejection
        ):
            return True
        return login.expires_at - self._margin <= self._clock()

    async def _refresh(self, rejected: Credential | None) -> _Login:
        async with (
            _flock(self._path.with_name(f"{self._path.name}.lock")),
            _claude_lock(self._path.parent / ".oauth_refresh.lock"),
        ):
            login = await anyio.to_thread.run_sync(_read_login, self._path)
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
            await anyio.to_thread.run_sync(_write_login, self._path, fresh)
            if rejected is not None:
                self._given_on_rejection.add(_digest(fresh.access_token))
            return fresh

    async def _post(self, login: _Login) -> _TokenAnswer:
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


def _refreshed(login: _Login, answer: _TokenAnswer, now: float) -> _Login:
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
    return _Login(
        access_token=answer.access_token,
        refresh_token=refresh_token,
        expires_at=expires_at,
        scopes=scopes,
        document={**login.document, "claudeAiOauth": oauth},
    )


def _read_login(path: Path) -> _Login:
    """The login in the credentials file at ``path`` (blocking). A link or anything
    but a regular file is refused: the login is rewritten in place."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise CredentialsError(f"{path} does not exist; {RELOGIN}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CredentialsError(
                f"{path} is a symbolic link; scad refreshes the Claude login only in a "
                "regular file: replace the link with the file it points to"
            ) from None
        raise CredentialsError(f"cannot read {path}: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CredentialsError(
                f"{path} is not a regular file; {RELOGIN} so that it writes the file afresh"
            )
        data = os.read(fd, _MAX_BYTES + 1)
    finally:
        os.close(fd)
    return _parse_login(path, data)


def _parse_login(path: Path, data: bytes) -> _Login:
    if len(data) > _MAX_BYTES:
        raise CredentialsError(f"{path} is larger than {_MAX_BYTES} bytes; {RELOGIN}")
    oauth = oauth_fields(data)
    if oauth is None or not oauth.accessToken or not oauth.refreshToken or oauth.expiresAt is None:
        raise CredentialsError(f"{path} holds no Claude OAuth login; {RELOGIN}")
    scopes = oauth.scopes
    if not (isinstance(scopes, list) and all(isinstance(s, str) for s in scopes)):
        scopes = []
    return _Login(
        access_token=oauth.accessToken,
        refresh_token=oauth.refreshToken,
        expires_at=oauth.expiresAt / 1000,
        scopes=tuple(scopes),
        document=msgspec.json.decode(data),  # all of it, to be written back with its other keys
    )


def _write_login(path: Path, login: _Login) -> None:
    """Replace the file at ``path`` with ``login`` (blocking): a new file of mode 0600
    beside it, flushed, then renamed over it, so a reader sees the old file or the
    new one, never half of one."""
    data = msgspec.json.encode(login.document)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(temporary, flags, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise CredentialsError(
            f"the Claude login was refreshed but cannot be written to {path} "
            f"({exc.strerror}); {RELOGIN}"
        ) from None
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(folder)  # the rename itself survives a crash
    finally:
        os.close(folder)


@asynccontextmanager
async def _flock(path: Path) -> AsyncIterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (made if absent): gateways exclude each
    other, and a holder that dies releases it."""
    async with AsyncExitStack() as stack:
        try:
            await stack.enter_async_context(hold_flock(path, wait=_LOCK_WAIT, poll=_LOCK_POLL))
        except TimeoutError:
            raise CredentialsError(
                f"{path} stayed locked for {_LOCK_WAIT:.0f} s; try again"
            ) from None
        except OSError as exc:
            raise CredentialsError(f"cannot lock {path}: {exc.strerror}") from None
        yield


@asynccontextmanager
async def _claude_lock(folder: Path) -> AsyncIterator[None]:
    """Hold the lock Claude Code takes to refresh (a folder made with ``mkdir``, taken
    over once :data:`_CLAUDE_LOCK_STALE` old), so ``claude`` on the host waits for us
    and we for it."""
    deadline = anyio.current_time() + _LOCK_WAIT
    while not await anyio.to_thread.run_sync(_try_mkdir_lock, folder):
        if anyio.current_time() > deadline:
            raise CredentialsError(
                f"{folder} stayed locked for {_LOCK_WAIT:.0f} s (claude on the host is "
                "refreshing); try again"
            )
        await anyio.sleep(_LOCK_POLL)
    try:
        yield
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_remove_lock, folder)


def _try_mkdir_lock(folder: Path) -> bool:
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        try:
            age = time.time() - folder.lstat().st_mtime
        except FileNotFoundError:
            return False  # released meanwhile: the next try takes it
        if age > _CLAUDE_LOCK_STALE:
            _remove_lock(folder)  # its holder died
        return False
    except OSError as exc:
        raise CredentialsError(f"cannot lock {folder}: {exc.strerror}") from None
    return True


def _remove_lock(folder: Path) -> None:
    try:
        folder.rmdir()
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno != errno.ENOTDIR:
            raise CredentialsError(f"cannot unlock {folder}: {exc.strerror}") from None
