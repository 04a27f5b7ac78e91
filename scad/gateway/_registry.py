"""Runs registered with the gateway: each one's token, upstream and budget.

A registration lives in the run's folder, in ``gateway/`` (mode 0700), a part of it
no container mounts: ``registration.json`` (0600) holds the run's token; the gateway
alone writes ``events.jsonl`` beside it. A run presents ``<run-id>.<secret>``: the
run id names the only registration the token can open (a token of one run never
opens another), the secret is compared in constant time. Revoking drops the secret
and keeps the rest, so what the run spent still counts towards its batch.

Nothing here follows a link: every open is relative to the runs folder, with
``O_NOFOLLOW`` at each step (:mod:`scad.agentfs`).
"""

from __future__ import annotations

import contextlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from ..agentfs import JSON_ERRORS, open_folder, read_file_at
from ..config.schema import NotifySettings
from ..errors import AgentFileError, NotFound, UsageError
from ..home import Home
from ..runs.gatewaylog import GATEWAY_DIR
from ..runs.records import RunPaths, now_iso

__all__ = [
    "DEFAULT_UPSTREAM",
    "REGISTRATION_FILE",
    "Registration",
    "check_token",
    "check_upstream",
    "events_path",
    "limit_run",
    "load_registration",
    "presented_token",
    "register_run",
    "registered_runs",
    "registration_of",
    "revoke_run",
    "upstream_of",
    "write_registration",
]

DEFAULT_UPSTREAM = "https://api.anthropic.com"
REGISTRATION_FILE = "registration.json"
#: A registration is a few hundred bytes; anything larger is not one.
_REGISTRATION_LIMIT = 64 * 1024
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,199}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{20,200}$")


class Registration(msgspec.Struct, kw_only=True, frozen=True):
    """A run as the gateway knows it."""

    run_id: str
    secret: str | None
    """None once revoked."""
    upstream: str
    max_usd: float | None = None
    batch: str | None = None
    batch_max_usd: float | None = None
    registered: str
    revoked: str | None = None
    address: str | None = None
    """Where the run's container reaches the gateway (the host's address on its network)."""
    egress: list[str] | None = None
    """A fenced run's allowlist (``host[:port]`` patterns) for the CONNECT proxy; None
    for a run on an open network, which the proxy refuses."""
    config: str | None = None
    """The config the run was made from, as its notices name it."""
    notify: NotifySettings | None = None
    """Who is told when the run says it waits for its user (an interactive session of a
    config with a notifier); None: nobody. Kept here, at registration, so the gateway
    never reads a user's config files on a run's word."""
    repos: dict[str, str] | None = None
    """A remote run's repos (key -> host repo), which it clones and pushes through the
    gateway (:mod:`._transport`); None for a run whose clones are mounted."""

    @property
    def token(self) -> str:
        """What the run sends (``ANTHROPIC_AUTH_TOKEN``); raises once revoked."""
        if self.secret is None:
            raise UsageError(f"the gateway token of run {self.run_id} was revoked")
        return f"{self.run_id}.{self.secret}"

    def __repr__(self) -> str:  # never print a secret by accident
        return f"Registration(run_id={self.run_id!r}, revoked={self.revoked!r})"


_decode = msgspec.json.Decoder(Registration).decode


def events_path(home: Home, run_id: str) -> Path:
    """The run's gateway events (written by the gateway alone)."""
    return RunPaths(home, run_id).gateway_events


def upstream_of(claude_env: Mapping[str, str]) -> str:
    """The model API a run's gateway requests go to: its config's ``claude.env``
    ``ANTHROPIC_BASE_URL`` when set (the offline model), else Anthropic's."""
    return check_upstream(claude_env.get("ANTHROPIC_BASE_URL") or DEFAULT_UPSTREAM)


def check_upstream(url: str) -> str:
    """``url`` as an upstream (``http(s)://host[:port][/path]``), without a trailing slash."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise UsageError(f"the model API address {url!r} is not an http(s) URL")
    return url.rstrip("/")


def register_run(
    home: Home,
    run_id: str,
    *,
    upstream: str = DEFAULT_UPSTREAM,
    max_usd: float | None = None,
    batch: str | None = None,
    batch_max_usd: float | None = None,
    address: str | None = None,
    egress: list[str] | None = None,
    config: str | None = None,
    notify: NotifySettings | None = None,
) -> Registration:
    """Give run ``run_id`` (its folder must exist) a new token for the gateway.

    Registering again replaces the token (the old one stops working) and the limits.
    """
    registration = Registration(
        run_id=run_id,
        secret=secrets.token_urlsafe(32),
        upstream=check_upstream(upstream),
        max_usd=max_usd,
        batch=batch,
        batch_max_usd=batch_max_usd,
        registered=now_iso(),
        address=address,
        egress=egress,
        config=config,
        notify=notify,
    )
    _write(home, registration)
    return registration


def limit_run(
    home: Home,
    run_id: str,
    *,
    max_usd: float | None,
    batch: str | None = None,
    batch_max_usd: float | None = None,
) -> Registration | None:
    """Give run ``run_id``'s registration its budget (``max_usd``) and its batch's
    (``batch``, ``batch_max_usd``), its token kept; registering again keeps them.
    None when the run has no registration (made before the gateway)."""
    current = load_registration(home, run_id)
    if current is None:
        return None
    limited = msgspec.structs.replace(
        current, max_usd=max_usd, batch=batch, batch_max_usd=batch_max_usd
    )
    _write(home, limited)
    return limited


def revoke_run(home: Home, run_id: str) -> None:
    """Stop the run's token from working; what it spent stays. No registration: nothing."""
    current = load_registration(home, run_id)
    if current is not None and current.secret is not None:
        _write(home, msgspec.structs.replace(current, secret=None, revoked=now_iso()))


def load_registration(home: Home, run_id: str) -> Registration | None:
    """The run's registration; None when it has none (or it is not one scad wrote)."""
    if not _RUN_ID_RE.match(run_id):
        return None
    try:
        with (
            open_folder(home.runs) as runs,
            open_folder(Path(run_id, GATEWAY_DIR), dir_fd=runs) as folder,
        ):
            data = read_file_at(folder, REGISTRATION_FILE, limit=_REGISTRATION_LIMIT)
        registration = _decode(data)
    except (AgentFileError, *JSON_ERRORS, msgspec.ValidationError):
        return None
    return registration if registration.run_id == run_id else None


def check_token(home: Home, presented: str) -> Registration | None:
    """The live registration ``presented`` opens; None for anything else."""
    run_id, dot, secret = presented.partition(".")
    if not dot or not _SECRET_RE.match(secret):
        return None
    registration = load_registration(home, run_id)
    if registration is None or registration.secret is None:
        return None
    if not hmac.compare_digest(secret.encode(), registration.secret.encode()):
        return None
    return registration


def presented_token(headers: Mapping[str, str]) -> str:
    """The token a request carries (``Authorization: Bearer``, else ``x-api-key``)."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else headers.get("x-api-key", "")


def registration_of(home: Home, headers: Mapping[str, str]) -> Registration | None:
    """The live run whose token a request carries."""
    presented = presented_token(headers)
    return check_token(home, presented) if presented else None


def registered_runs(home: Home) -> list[Registration]:
    """Every run with a registration, live or revoked, by run id."""
    found = (load_registration(home, run_id) for run_id in home.run_ids())
    return [registration for registration in found if registration is not None]


def write_registration(home: Home, registration: Registration) -> None:
    """Write ``registration`` over the run's (its folder must exist)."""
    _write(home, registration)


def _write(home: Home, registration: Registration) -> None:
    data = msgspec.json.encode(registration)
    try:
        with open_folder(home.runs) as runs, open_folder(registration.run_id, dir_fd=runs) as run:
            with contextlib.suppress(FileExistsError):
                os.mkdir(GATEWAY_DIR, 0o700, dir_fd=run)
            with open_folder(GATEWAY_DIR, dir_fd=run) as folder:
                _replace(folder, REGISTRATION_FILE, data)
    except AgentFileError as exc:
        raise NotFound(f"run {registration.run_id} cannot be registered: {exc}") from None


def _replace(folder: int, name: str, data: bytes) -> None:
    """Write ``name`` in ``folder`` whole (a temporary file renamed over it), mode 0600."""
    tmp = f".{name}.{secrets.token_hex(8)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=folder)
    try:
        try:
            os.write(fd, data)
            os.fchmod(fd, 0o600)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=folder)
        raise
