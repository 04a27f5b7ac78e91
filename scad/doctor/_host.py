"""The checks that need no engine: configs and their repos, credentials, CA
certificates, free disk and mounts."""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import msgspec

from ..config.registry import load_registered
from ..config.repos import check_repos
from ..config.schema import Config
from ..errors import ConfigError, HomeUnwritable, ScadError
from ..home import Home
from ..image.build import build_context
from ..sessions.container import unwritable_mounts
from ..sessions.credentials import discover_credentials, expiry_warning
from ..taskgroups import open_task_group
from ._check import Check, failed

__all__ = [
    "DISK_FAIL_BYTES",
    "DISK_WARN_BYTES",
    "LoadedConfig",
    "check_ca_certificates",
    "check_configs",
    "check_credentials",
    "check_disk",
    "check_home",
    "check_mounts",
    "for_each",
    "load_configs",
    "measure_disk",
]

T = TypeVar("T")

GIB = 1024**3
#: Free space under $SCAD_HOME below which doctor warns, and fails: each run holds
#: clones of its repos and Claude's transcripts.
DISK_WARN_BYTES = 5 * GIB
DISK_FAIL_BYTES = 1 * GIB

LOGIN_FIX = "set ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN, or run `claude` to log in"


class LoadedConfig(msgspec.Struct, frozen=True, kw_only=True):
    """A registered config as the checks see it."""

    name: str
    config: Config | None = None
    #: Why it does not load (the line `config list` marks it with) and the field at fault.
    error: str | None = None
    error_field: str = ""
    #: Its image's tag by content (what `scad build` makes); None when it cannot be rendered.
    tag: str | None = None
    image_error: str | None = None


def load_configs(home: Home) -> list[LoadedConfig]:
    """Every registered config, loaded as sessions load it, invalid ones marked. Blocking."""
    loaded = []
    for name in home.config_names():
        try:
            config = load_registered(home, name)
        except ConfigError as exc:
            loaded.append(LoadedConfig(name=name, error=str(exc), error_field=exc.field))
            continue
        except ScadError as exc:  # removed since the listing
            loaded.append(LoadedConfig(name=name, error=str(exc)))
            continue
        try:
            tag = build_context(home, config).tag  # reads its CA files and requirements
        except ScadError as exc:
            loaded.append(LoadedConfig(name=name, config=config, image_error=str(exc)))
            continue
        loaded.append(LoadedConfig(name=name, config=config, tag=tag))
    return loaded


async def for_each(items: Sequence[T], check: Callable[[T], Awaitable[Check]]) -> list[Check]:
    """``check`` of every item, concurrently; the results in the items' order. When
    checks raise, one error says what each of them said (each once)."""
    results: list[Check | None] = [None] * len(items)
    problems: dict[int, str] = {}

    async def one(index: int) -> None:
        try:
            results[index] = await check(items[index])
        except ScadError as exc:
            problems[index] = str(exc)

    async with open_task_group() as tg:
        for index in range(len(items)):
            tg.start_soon(one, index)
    if problems:
        raise ScadError("; ".join(dict.fromkeys(problems[i] for i in sorted(problems))))
    return [r for r in results if r is not None]


async def check_configs(configs: Sequence[LoadedConfig]) -> list[Check]:
    """Each config loads, its repos are git repositories and its image can be rendered."""
    if not configs:
        return [
            Check(
                name="config",
                status="warn",
                detail="no configs registered",
                fix="scad config new NAME (or scad config add PATH)",
            )
        ]
    return await for_each(configs, _check_config)


async def _check_config(loaded: LoadedConfig) -> Check:
    name, fix = loaded.name, f"scad config edit {loaded.name}"
    if loaded.config is None:
        return failed("config", loaded.error or "invalid", fix, name)
    try:
        await check_repos(loaded.config, f"{name}.yml")
    except ScadError as exc:
        return failed("config", str(exc), fix, name)
    if loaded.image_error is not None:
        return failed("config", f"its image cannot be made: {loaded.image_error}", fix, name)
    repos = ", ".join(loaded.config.repos)
    return Check(name="config", status="pass", detail=f"valid; repos: {repos}", config=name)


def check_credentials(environ: Mapping[str, str], now: datetime) -> Check:
    """What sessions would give Claude, and whether OAuth credentials still hold. Blocking."""
    found = discover_credentials(environ)
    if found is None:
        return failed("credentials", "no Claude credentials on this host", LOGIN_FIX)
    if found.method == "api-key":
        return Check(name="credentials", status="pass", detail="ANTHROPIC_API_KEY (an API key)")
    if found.method == "oauth-token":
        return Check(name="credentials", status="pass", detail="CLAUDE_CODE_OAUTH_TOKEN")
    where = found.credentials_file
    if found.expires_at is None:
        return Check(
            name="credentials",
            status="warn",
            detail=f"OAuth credentials in {where}, but when they expire cannot be read",
            fix="run `claude` on the host to log in again",
        )
    if warning := expiry_warning(found, now):
        if found.expires_at <= now:
            return failed("credentials", warning, "run `claude` on the host to log in again")
        return Check(
            name="credentials",
            status="warn",
            detail=warning,
            fix="run `claude` on the host to refresh them; for long or many runs use "
            "CLAUDE_CODE_OAUTH_TOKEN (from `claude setup-token`) or ANTHROPIC_API_KEY",
        )
    until = found.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    return Check(
        name="credentials",
        status="pass",
        detail=f"OAuth credentials in {where}, valid until {until}",
    )


def check_ca_certificates(configs: Sequence[LoadedConfig]) -> list[Check]:
    """Every CA file a config lists exists, is readable and holds a PEM certificate.

    Loading a config checks exactly that (as `scad build` needs it), so a bad file
    makes its config invalid; this check names those configs.
    """
    problems = [
        failed(
            "CA certificates",
            loaded.error or "",
            f"point ca_certificates at a readable PEM file: scad config edit {loaded.name}",
            loaded.name,
        )
        for loaded in configs
        if loaded.config is None and loaded.error_field.startswith("ca_certificates")
    ]
    if problems:
        return problems
    listed = {
        loaded.name: len(loaded.config.ca_certificates)
        for loaded in configs
        if loaded.config is not None and loaded.config.ca_certificates
    }
    if not listed:
        return [Check(name="CA certificates", status="pass", detail="none configured")]
    files = sum(listed.values())
    return [
        Check(
            name="CA certificates",
            status="pass",
            detail=f"{files} file{'s' if files > 1 else ''} ({', '.join(listed)}) "
            "readable, each a PEM certificate",
        )
    ]


def check_home(home: Home) -> Check:
    """scad can write in its home (every other command refuses to start otherwise). Blocking."""
    if (problem := home.unwritable()) is not None:
        return failed("home", problem, HomeUnwritable.FIX)
    made = "" if home.root.is_dir() else " (made on first use)"
    return Check(name="home", status="pass", detail=f"{home.root} is writable{made}")


def check_disk(root: Path) -> Check:
    """Free space where runs will live: the nearest folder of ``root`` that exists. Blocking."""
    place = root
    while not place.exists() and place != place.parent:
        place = place.parent
    note = f" ({root} does not exist yet)" if place != root else ""
    fix = "free space there (`scad gc` lists what scad can remove), or set SCAD_HOME to a roomier disk"
    return measure_disk(place, name="disk", fix=fix, note=note)


def measure_disk(place: Path, *, name: str, fix: str, note: str = "") -> Check:
    """Check ``name``: the free space at ``place``, a warning or failure when low. Blocking."""
    try:
        free = shutil.disk_usage(place).free
    except OSError as exc:
        return failed(name, f"cannot measure free space at {place}: {exc.strerror}")
    detail = f"{free / GIB:.1f} GiB free at {place}{note}"
    if free < DISK_FAIL_BYTES:
        return failed(name, f"{detail}; less than {DISK_FAIL_BYTES // GIB} GiB", fix)
    if free < DISK_WARN_BYTES:
        return Check(
            name=name,
            status="warn",
            detail=f"{detail}; less than {DISK_WARN_BYTES // GIB} GiB",
            fix=fix,
        )
    return Check(name=name, status="pass", detail=detail)


def check_mounts(configs: Sequence[LoadedConfig], agent: tuple[int, int]) -> list[Check]:
    """The mounts the agent's uid cannot write (as `session start` warns of them). Blocking."""
    valid = [(c.name, c.config) for c in configs if c.config is not None]
    uid, gid = agent
    warnings = [
        Check(
            name="mounts",
            status="warn",
            detail=warning,
            fix=f"chown the folder to {uid}:{gid}, or let its group or others write",
            config=name,
        )
        for name, config in valid
        for warning in unwritable_mounts(config, agent)
    ]
    if warnings:
        return warnings
    count = sum(len(config.mounts) for _, config in valid)
    if count == 0:
        return [Check(name="mounts", status="pass", detail="no config mounts a host folder")]
    return [
        Check(
            name="mounts",
            status="pass",
            detail=f"the agent (uid {uid}) can write every mount ({count})",
        )
    ]
