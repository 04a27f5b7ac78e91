"""The OAuth login as a refresh reads it from Claude Code's credentials file and
writes it back. Only a regular file is read (never through a link), and it is
replaced whole by a rename, so a reader sees the old login or the new one.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path
from typing import Any

import msgspec

from ..errors import CredentialsError
from ._login_file import MAX_BYTES as _MAX_BYTES
from ._login_file import oauth_fields

__all__ = ["RELOGIN", "Login", "read_login", "write_login"]

#: The one fix for a login that cannot be refreshed.
RELOGIN = "run `claude` on the host to log in again"


class Login(msgspec.Struct, frozen=True, kw_only=True):
    """The OAuth login in a credentials file, and the whole file to write it back into."""

    access_token: str
    refresh_token: str
    #: UNIX seconds.
    expires_at: float
    scopes: tuple[str, ...]
    document: dict[str, Any]


def read_login(path: Path) -> Login:
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


def _parse_login(path: Path, data: bytes) -> Login:
    if len(data) > _MAX_BYTES:
        raise CredentialsError(f"{path} is larger than {_MAX_BYTES} bytes; {RELOGIN}")
    oauth = oauth_fields(data)
    if oauth is None or not oauth.accessToken or not oauth.refreshToken or oauth.expiresAt is None:
        raise CredentialsError(f"{path} holds no Claude OAuth login; {RELOGIN}")
    scopes = oauth.scopes
    if not (isinstance(scopes, list) and all(isinstance(s, str) for s in scopes)):
        scopes = []
    return Login(
        access_token=oauth.accessToken,
        refresh_token=oauth.refreshToken,
        expires_at=oauth.expiresAt / 1000,
        scopes=tuple(scopes),
        document=msgspec.json.decode(data),  # all of it, to be written back with its other keys
    )


def write_login(path: Path, login: Login) -> None:
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
