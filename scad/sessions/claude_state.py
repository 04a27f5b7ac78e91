"""Writing a run's Claude state (settings, ``claude.json``, its way to the model) into its folders.

``claude/`` and ``claude.json`` belong to the agent, so nothing here trusts
what is there: every file is put in place by :func:`scad.agentfs.replace_file`
(a new file renamed over whatever the agent left, link or not), and what scad
reads back (``claude.json``, the run's credentials) is read bounded, without
following links, and taken as "unknown" when malformed.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from .. import agentfs
from ..config.schema import Config
from ..errors import AgentFileError, AgentFileMissing
from ..gateway import oauth_expiry
from ..runs.records import RunPaths
from .claude_setup import claude_json, settings_json
from .credentials import CREDENTIALS_LIMIT, HostCredentials, credentials_env_file
from .gateway_access import FENCED_RESOLV_CONF, RESOLV_CONF, ModelAccess, model_env_file

__all__ = ["Refreshed", "refresh_credentials", "write_claude_state"]

#: Decoded untyped, so every byte may become a Python object: kept small.
CLAUDE_JSON_LIMIT = 4 << 20
#: Where a run made before the gateway kept its copy of the host's OAuth login.
LOGIN_COPY = ".credentials.json"


def write_claude_state(
    config: Config, paths: RunPaths, access: ModelAccess, owner: tuple[int, int] | None
) -> list[str]:
    """Settings, seeded ``claude.json``, CLAUDE.md and the run's way to the model (the
    gateway's address and the run's token; a copy of the host's login that a run made
    before the gateway holds is removed).

    Idempotent; run while no container of the run is up. Returns notes on what
    the agent had left that scad could not use (and what it did instead).
    """
    notes: list[str] = []
    for folder in (paths.claude_dir, paths.inputs):
        try:
            folder.mkdir(mode=0o755)
        except FileExistsError:
            continue
        if owner is not None:
            os.chown(folder, *owner, follow_symlinks=False)  # just made by scad

    def put(path: Path, data: bytes, mode: int) -> None:
        aside = agentfs.replace_file(path, data, staging=paths.root, mode=mode, owner=owner)
        if aside:
            notes.append(f"{path.name} was a folder; moved aside to {aside}")

    put(paths.claude_dir / "settings.json", _json(settings_json(config)), 0o644)
    if config.claude.claude_md:
        put(paths.claude_dir / "CLAUDE.md", Path(config.claude.claude_md).read_bytes(), 0o644)
    existing = _existing_claude_json(paths.claude_json, notes)
    put(paths.claude_json, _json(claude_json(config, existing)), 0o600)
    put(paths.inputs / "credentials.env", model_env_file(access).encode(), 0o600)
    if access.proxy is not None:
        put(paths.inputs / RESOLV_CONF, FENCED_RESOLV_CONF.encode(), 0o644)
    notes += _remove_login_copy(paths)
    return notes


def _remove_login_copy(paths: RunPaths) -> list[str]:
    """Remove the copy of the host's OAuth login a run made before the gateway holds
    (never following a link the agent put there)."""
    try:
        with agentfs.open_folder(paths.claude_dir) as folder:
            os.unlink(LOGIN_COPY, dir_fd=folder)
    except FileNotFoundError:
        return []
    except (OSError, AgentFileError) as exc:
        return [f"could not remove {LOGIN_COPY}: {exc}"]
    return []


class Refreshed(msgspec.Struct, frozen=True, kw_only=True):
    """What a run's credentials are after :func:`refresh_credentials`."""

    method: str
    #: When the run's OAuth credentials expire (None for a key or token).
    expires_at: datetime | None = None
    #: The run kept its own credentials file (see ``notes``).
    kept: bool = False
    notes: list[str] = []


def refresh_credentials(
    paths: RunPaths, credentials: HostCredentials, owner: tuple[int, int] | None
) -> Refreshed:
    """Put the host's current credentials into a run made before the gateway, also
    while its container runs:
    ``claude/`` and ``inputs/`` are mounted as folders, so a file renamed into them is
    what the container sees next. The host's file is read afresh, so a host that
    replaced it (a new login) hands over the new one."""
    notes: list[str] = []
    agentfs.replace_file(
        paths.inputs / "credentials.env",
        credentials_env_file(credentials).encode(),
        staging=paths.root,
        mode=0o600,
        owner=owner,
    )
    if not credentials.credentials_file:
        return Refreshed(method=credentials.method)
    host = Path(credentials.credentials_file).read_bytes()
    run_copy = paths.claude_dir / LOGIN_COPY
    current = _read_agent(run_copy, CREDENTIALS_LIMIT, notes)
    if _newer(current, than=host):
        assert current is not None
        notes.append(
            "kept the run's own OAuth credentials: they were refreshed inside the run "
            "and are newer than the host's"
        )
        return Refreshed(
            method=credentials.method, expires_at=oauth_expiry(current), kept=True, notes=notes
        )
    aside = agentfs.replace_file(run_copy, host, staging=paths.root, mode=0o600, owner=owner)
    if aside:
        notes.append(f"{run_copy.name} was a folder; moved aside to {aside}")
    return Refreshed(method=credentials.method, expires_at=oauth_expiry(host), notes=notes)


def _json(value: Any) -> bytes:
    return msgspec.json.format(msgspec.json.encode(value), indent=2)


def _read_agent(path: Path, limit: int, notes: list[str]) -> bytes | None:
    """An agent file's bytes; None (with a note unless simply absent) when unreadable."""
    try:
        return agentfs.read_file(path, limit=limit)
    except AgentFileMissing:
        return None
    except AgentFileError as exc:
        notes.append(f"could not read {path.name}: {exc.problem}")
        return None


def _existing_claude_json(path: Path, notes: list[str]) -> dict[str, Any]:
    data = _read_agent(path, CLAUDE_JSON_LIMIT, notes)
    if data is None:
        return {}
    try:
        value = msgspec.json.decode(data)
    except agentfs.JSON_ERRORS:
        value = None
    if isinstance(value, dict):
        return value
    notes.append(f"{path.name} held no JSON object; replaced with a fresh one")
    return {}


def _newer(run_copy: bytes | None, *, than: bytes) -> bool:
    """Whether the run's credentials expire later than the host's: the run refreshed
    them, which rotated the refresh token; the host's copy would log it out."""
    if run_copy is None:
        return False
    run_expiry, host_expiry = oauth_expiry(run_copy), oauth_expiry(than)
    return run_expiry is not None and (host_expiry is None or run_expiry > host_expiry)
