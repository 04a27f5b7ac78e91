"""The rules a config keeps that its types cannot say: a valid name, one workdir
repo, mounts that exist and do not collide, versions and package names as their
tools write them, Claude's settings, resources Docker accepts, an egress allowlist
that applies, a notifier that can be reached. Each rule broken is one ConfigError
naming its field. A config's checks keep :mod:`.checkrules`, its swarm :mod:`.swarm`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from ..errors import ConfigError
from ..names import NAME_RE, reserved_config_name
from .checkrules import check_checks
from .hosts import parse_host_pattern
from .notifying import command_problem, url_problem
from .schema import (
    CLAUDE_CODE_VERSION,
    ClaudeSettings,
    Config,
    NotifySettings,
    ResourceSettings,
    size_bytes,
)
from .swarm import check_swarm

__all__ = ["REPO_KEY_RE", "check_rules"]

#: Docker refuses a memory limit below 6 MiB.
MIN_MEMORY = 6 * 1024**2
#: Fewer CPUs is below the kernel's smallest CFS quota (1 ms per 100 ms period).
#: The most Docker accepts is the engine's CPU count, which a config cannot know.
MIN_CPUS = 0.01
MAX_CPUS = 1024

REPO_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
# Debian policy: lowercase alphanumerics, '+', '-', '.', at least two characters.
APT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECRET_ENV_RE = re.compile(r"(API_KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)", re.IGNORECASE)
PYTHON_VERSION_RE = re.compile(r"^3\.\d{1,2}$")
CLAUDE_VERSION_RE = re.compile(r"^(latest|stable|\d+\.\d+\.\d+)$")
PLUGIN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*@[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_rules(config: Config, label: str) -> None:
    """Rules that a type cannot express; each raises one precise ConfigError."""

    def fail(field: str, problem: str) -> NoReturn:
        raise ConfigError(label, problem, field=field)

    if not NAME_RE.match(config.name):
        fail(
            "name",
            f'"{config.name}" is not a valid name; use lowercase letters, digits, "-" and "_"',
        )
    if reserved := reserved_config_name(config.name):
        fail("name", f'"{config.name}" is {reserved}')
    if not config.repos:
        fail("repos", "no repos; add at least one with `path:` and `workdir: true`")
    for key, repo in config.repos.items():
        if not REPO_KEY_RE.match(key) or ".." in key:
            fail(f"repos.{key}", 'not a safe folder name; use letters, digits, ".", "-" and "_"')
        if repo.focus is not None and (
            Path(repo.focus).is_absolute() or ".." in Path(repo.focus).parts
        ):
            fail(f"repos.{key}.focus", "must be a subfolder inside the repo (relative, no '..')")
    workdirs = [key for key, repo in config.repos.items() if repo.workdir]
    if not workdirs:
        fail("repos", "no repo has `workdir: true`; mark the one Claude starts in")
    if len(workdirs) > 1:
        fail("repos", f"only one repo may have `workdir: true`, found {', '.join(workdirs)}")
    seen: set[str] = set()
    for index, mount in enumerate(config.mounts):
        if not Path(mount.host).exists():
            fail(f"mounts[{index}].host", f"{mount.host} does not exist; create it or fix the path")
        assert mount.container is not None
        if not mount.container.startswith("/"):
            fail(f"mounts[{index}].container", "must be an absolute path in the container")
        if mount.container in seen:
            fail(f"mounts[{index}].container", f"{mount.container} is mounted twice")
        seen.add(mount.container)
    if not PYTHON_VERSION_RE.match(config.python.version):
        fail("python.version", f'"{config.python.version}" is not a Python version like "3.11"')
    if config.python.requirements and Path(config.python.requirements).is_absolute():
        fail("python.requirements", "must be relative to the workdir repo")
    for index, package in enumerate(config.apt_packages):
        if not APT_NAME_RE.match(package):
            fail(f"apt_packages[{index}]", f'"{package}" is not a Debian package name')
    for index, cert in enumerate(config.ca_certificates):
        _check_certificate(cert, f"ca_certificates[{index}]", fail)
    _check_claude(config.claude, fail)
    _check_resources(config.resources, fail)
    _check_egress(config, fail)
    check_checks(config.checks, fail)
    _check_notify(config.notify, fail)
    check_swarm(config, fail)


#: How a rule reports a field that breaks it: (field, problem), never returning.
_Fail = Callable[[str, str], NoReturn]


def _check_notify(notify: NotifySettings, fail: _Fail) -> None:
    if notify.url is not None and (problem := url_problem(notify.url)):
        fail("notify.url", problem)
    if notify.command is not None and (problem := command_problem(notify.command)):
        fail("notify.command", problem)
    if not 0 < notify.timeout <= 3600:
        fail("notify.timeout", f"{notify.timeout:g} is not a number of seconds from 0 to 3600")
    if not 0 < notify.idle_seconds <= 86400:
        fail(
            "notify.idle_seconds",
            f"{notify.idle_seconds:g} is not a number of seconds from 0 to 86400",
        )


def _check_certificate(path: str, field: str, fail: _Fail) -> None:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        fail(field, f"{path} cannot be read; point it at a PEM certificate file")
    if "-----BEGIN CERTIFICATE-----" not in text:
        fail(field, f"{path} is not a PEM certificate (no BEGIN CERTIFICATE line)")


def _check_claude(claude: ClaudeSettings, fail: _Fail) -> None:
    if not CLAUDE_VERSION_RE.match(claude.version):
        fail(
            "claude.version",
            f'"{claude.version}" is not a version like "{CLAUDE_CODE_VERSION}" or "latest"',
        )
    for name in claude.env:
        if not ENV_NAME_RE.match(name):
            fail(f"claude.env.{name}", "not a valid environment variable name")
        if SECRET_ENV_RE.search(name):
            fail(
                f"claude.env.{name}",
                "looks like a secret; scad passes credentials from the host's environment, never from configs",
            )
    if claude.max_turns is not None and claude.max_turns < 1:
        fail("claude.max_turns", "must be a whole number of at least 1, or null for no limit")
    for index, plugin in enumerate(claude.plugins):
        if not PLUGIN_RE.match(plugin):
            fail(f"claude.plugins[{index}]", f'"{plugin}" must be written as name@marketplace')
    for key, market in claude.marketplaces.items():
        sources = [s for s in (market.path, market.github, market.git) if s]
        if len(sources) != 1:
            fail(f"claude.marketplaces.{key}", "give exactly one of path, github or git")
        if market.path and not Path(market.path, ".claude-plugin", "marketplace.json").is_file():
            fail(
                f"claude.marketplaces.{key}.path",
                f"{market.path} has no .claude-plugin/marketplace.json",
            )
    if claude.claude_md and not Path(claude.claude_md).is_file():
        fail("claude.claude_md", f"{claude.claude_md} does not exist")


def _check_resources(resources: ResourceSettings, fail: _Fail) -> None:
    # Written as "not in range" so that NaN fails too.
    if resources.cpus is not None and not MIN_CPUS <= resources.cpus <= MAX_CPUS:
        fail("resources.cpus", f"must be a number from {MIN_CPUS} to {MAX_CPUS}, like 1.5")
    if resources.memory is not None:
        size = size_bytes(resources.memory)
        shown = (
            f"{resources.memory} bytes"
            if isinstance(resources.memory, int)
            else f'"{resources.memory}"'
        )
        if size is None:
            fail(
                "resources.memory",
                f'{shown} is not a size; write it like "512m", "2g" or "1.5g", or give bytes',
            )
        if size < MIN_MEMORY:
            fail(
                "resources.memory",
                f'{shown} is below Docker\'s minimum of 6 MiB; give at least "6m"',
            )
        if size >= 2**63:
            fail("resources.memory", f"{shown} is too large")
    if resources.pids is not None and resources.pids < 1:
        fail("resources.pids", "must be a whole number of at least 1, or null for no limit")


def _check_egress(config: Config, fail: _Fail) -> None:
    egress = config.egress
    for index, entry in enumerate(egress.allow):
        if parse_host_pattern(entry) is None:
            fail(
                f"egress.allow[{index}]",
                f'"{entry}" is not a host like "pypi.org", "*.pythonhosted.org" or "git.example.com:8443"',
            )
    if egress.mode == "open" and egress.allow:
        fail(
            "egress.allow",
            "has no effect while egress.mode is open (every host is reachable); set egress.mode: gateway",
        )
    if egress.mode == "gateway" and config.network != "bridge":
        fail(
            "egress.mode",
            f"gateway puts runs on a network of its own; remove network: {config.network} or set egress.mode: open",
        )
