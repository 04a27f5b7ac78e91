"""Project configs: the YAML schema, and loading it into validated Structs.

A config is decoded in two steps so that every error names the exact field: the
YAML is walked against the Structs' annotations (:mod:`scad.config._shape`: unknown
fields get a "did you mean", missing ones a hint), then semantic rules that span
fields are checked.
Paths are made absolute relative to the config file's directory.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Literal, NoReturn

import msgspec

from ..errors import ConfigError
from ..names import NAME_RE, reserved_config_name
from ._shape import check_shape
from .checkrules import check_checks
from .hosts import parse_host_pattern
from .notifying import command_problem, url_problem
from .swarm import Target, check_swarm

__all__ = [
    "CLAUDE_CODE_VERSION",
    "DEFAULT_PIDS_LIMIT",
    "Check",
    "ClaudeSettings",
    "Config",
    "EgressSettings",
    "ImageSettings",
    "Marketplace",
    "Mount",
    "NotifySettings",
    "Permissions",
    "PythonEnv",
    "Repo",
    "ResourceSettings",
    "SecuritySettings",
    "SwarmSettings",
    "load_config",
    "parse_config",
]

#: The Claude Code release scad installs unless a config pins another.
CLAUDE_CODE_VERSION = "2.1.332"
#: Processes and threads a run's container may hold at once unless its config says
#: otherwise. An agent running a parallel build or test suite stays within a few
#: hundred (Claude Code itself ~10 threads, a JVM or `make -j` dozens to a couple of
#: hundred), so this is ample headroom, while a runaway fork loop stops long before it
#: exhausts the host's pid space (kernel.pid_max may be 32768, shared by all containers).
DEFAULT_PIDS_LIMIT = 4096
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
# Docker's own size syntax (binary units): "512m", "1.5g", "2GiB", "1024 kb", "100000000".
SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?) ?([kmgt]?)i?b?$", re.IGNORECASE)
SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


class _Schema(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Base of every config Struct: strict, keyword-only, immutable."""


class Repo(_Schema, frozen=True):
    """A git repository the agents work on; cloned per run."""

    path: str
    #: Claude starts in this repo (exactly one repo has it).
    workdir: bool = False
    #: Passed to Claude with --add-dir so it may work there too.
    add_dir: bool = False
    #: A subfolder to work in, relative to the repo.
    focus: str | None = None


class Mount(_Schema, frozen=True):
    """A host folder mounted read-write into every container."""

    host: str
    #: Where it appears in the container; defaults to the host path.
    container: str | None = None


class PythonEnv(_Schema, frozen=True):
    version: str = "3.11"
    #: A requirements file, relative to the workdir repo, installed into /opt/venv.
    requirements: str | None = None


class Marketplace(_Schema, frozen=True):
    """Where Claude finds plugins: exactly one of a local folder, GitHub repo or git URL."""

    path: str | None = None
    github: str | None = None
    git: str | None = None


class Permissions(_Schema, frozen=True):
    allow: list[str] = []
    deny: list[str] = []


class ClaudeSettings(_Schema, frozen=True):
    version: str = CLAUDE_CODE_VERSION
    model: str | None = None
    #: Headless runs end after this many turns (``--max-turns``).
    max_turns: int | None = None
    dangerously_skip_permissions: bool = False
    permissions: Permissions = Permissions()
    #: Plugins to enable, as ``name@marketplace``.
    plugins: list[str] = []
    marketplaces: dict[str, Marketplace] = {}
    #: A file installed as the agents' CLAUDE.md.
    claude_md: str | None = None
    #: Extra environment for Claude (a gateway URL, say); never secrets.
    env: dict[str, str] = {}


class ImageSettings(_Schema, frozen=True):
    #: Base image; defaults to ``python:{python.version}-slim``.
    base: str | None = None


class ResourceSettings(_Schema, frozen=True):
    """What each run's container may use; null means no limit."""

    #: CPUs, e.g. 1.5.
    cpus: float | None = None
    #: A size like "512m" or "2g", or bytes; no swap is allowed beyond it.
    memory: int | str | None = None
    #: Processes and threads at once.
    pids: int | None = DEFAULT_PIDS_LIMIT

    @property
    def memory_bytes(self) -> int | None:
        """``memory`` in bytes (a loaded config's ``memory`` always parses)."""
        return None if self.memory is None else _size(self.memory)


class SecuritySettings(_Schema, frozen=True):
    """Hardening of each run's container; both are on unless switched off."""

    #: Nothing in the container gains privileges (setuid binaries, file capabilities).
    no_new_privileges: bool = True
    #: Drop every Linux capability: the agent runs as a plain user and needs none.
    cap_drop_all: bool = True


class EgressSettings(_Schema, frozen=True):
    """Where a run's container may connect.

    ``open``: the engine's network as configured by ``network`` (today's default).
    ``gateway``: a network with no route out but the host's gateway, which carries
    the model API and tunnels to the hosts in ``allow`` (``host[:port]``,
    ``*.domain`` for its subdomains; port 443 unless given); everything else is
    refused at once.
    """

    mode: Literal["open", "gateway"] = "open"
    allow: list[str] = []


class Check(_Schema, frozen=True):
    """A command that judges what a run committed. It runs in a fresh container from
    the config's image, in a clean checkout of the run's branches (never in the run's
    own container), with the workdir repo as its working directory; it passes when
    it exits 0."""

    name: str
    run: str
    #: Paths of the workdir repo set back to the base commit's version before the
    #: check runs: the tests the task set, not the ones the agent rewrote.
    pin: list[str] = []
    #: Seconds it may take before it is stopped and reported.
    timeout: float = 600.0


class NotifySettings(_Schema, frozen=True):
    """Who is told when something needs a person: a command that reads one JSON
    document on stdin, and/or a URL that receives it by POST."""

    command: str | None = None
    url: str | None = None
    #: Seconds one delivery may take before it is given up (and logged).
    timeout: float = 10.0
    #: Seconds an interactive session's prompt waits for its user before they are told.
    idle_seconds: float = 60.0


class SwarmSettings(_Schema, frozen=True):
    """A Docker Swarm that runs this config's runs when they go ``runs_on: swarm``: each run
    one replicated-job service of one task, reaching the host only through its gateway."""

    #: The manager's engine: a ``DOCKER_HOST``-style address (``unix://``, ``tcp://``)
    #: or ``context:NAME``; None: the local engine, which must be a manager.
    manager: str | None = None
    #: The registry every node pulls the run image from (``host:port``).
    registry: str | None = None
    #: Placement constraints, as ``docker service create --constraint`` takes them.
    placement: list[str] = []


class Config(_Schema, frozen=True):
    """One project: what to clone, mount and install, and how to run Claude."""

    name: str
    repos: dict[str, Repo]
    mounts: list[Mount] = []
    python: PythonEnv = PythonEnv()
    apt_packages: list[str] = []
    claude: ClaudeSettings = ClaudeSettings()
    ca_certificates: list[str] = []
    network: Literal["bridge", "host", "none"] = "bridge"
    egress: EgressSettings = EgressSettings()
    image: ImageSettings = ImageSettings()
    resources: ResourceSettings = ResourceSettings()
    security: SecuritySettings = SecuritySettings()
    checks: list[Check] = []
    notify: NotifySettings = NotifySettings()
    #: Where runs go: ``local`` (this engine, with bind mounts) or ``swarm`` (YAML
    #: reads a bare ``on`` as true, hence the longer name; ``--on`` on the command line).
    runs_on: Target = "local"
    swarm: SwarmSettings = SwarmSettings()
    #: The address of this host that containers on another machine (a swarm's nodes, a
    #: remote engine's) reach its gateway at; a local run's engine says where it is.
    gateway_address: str | None = None

    @property
    def workdir_key(self) -> str:
        return next(key for key, repo in self.repos.items() if repo.workdir)

    @property
    def base_image(self) -> str:
        return self.image.base or f"python:{self.python.version}-slim"


def load_config(path: Path) -> Config:
    """Read, validate and return the config at ``path``; raises :class:`ConfigError`."""
    label = path.name
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(label, "file not found") from None
    except OSError as exc:
        raise ConfigError(label, f"cannot read: {exc.strerror}") from None
    return parse_config(text, label=label, base_dir=path.resolve().parent)


def parse_config(text: str, *, label: str, base_dir: Path) -> Config:
    """Validate YAML ``text``; relative paths are taken from ``base_dir``."""
    import yaml  # only a config's text needs it, not every user of these Structs

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(label, f"invalid YAML: {problem}", field=where) from None
    if raw is None:
        raise ConfigError(label, "the file is empty; start from `scad config new NAME`")
    check_shape(raw, Config, label)
    config = msgspec.convert(raw, Config)
    config = _absolute_paths(config, base_dir)
    _check_rules(config, label)
    return config


def _absolute(raw: str, base_dir: Path) -> str:
    return str((base_dir / Path(raw).expanduser()).resolve())


def _absolute_paths(config: Config, base_dir: Path) -> Config:
    replace = msgspec.structs.replace
    repos = {k: replace(r, path=_absolute(r.path, base_dir)) for k, r in config.repos.items()}
    mounts = [
        replace(
            m,
            host=_absolute(m.host, base_dir),
            container=m.container or _absolute(m.host, base_dir),
        )
        for m in config.mounts
    ]
    marketplaces = {
        k: replace(m, path=_absolute(m.path, base_dir)) if m.path else m
        for k, m in config.claude.marketplaces.items()
    }
    claude_md = _absolute(config.claude.claude_md, base_dir) if config.claude.claude_md else None
    claude = replace(config.claude, marketplaces=marketplaces, claude_md=claude_md)
    certs = [_absolute(c, base_dir) for c in config.ca_certificates]
    return replace(config, repos=repos, mounts=mounts, claude=claude, ca_certificates=certs)


def _check_rules(config: Config, label: str) -> None:
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


def _size(value: int | str) -> int | None:
    """Bytes in a Docker-style size (``int`` is bytes already), or None if it is not one."""
    if isinstance(value, int):
        return value
    match = SIZE_RE.match(value.strip())
    if not match:
        return None
    from fractions import Fraction  # exact: "1.1g" is a whole number of bytes

    return int(Fraction(match[1]) * SIZE_UNITS[match[2].lower()])


def _check_resources(resources: ResourceSettings, fail: _Fail) -> None:
    # Written as "not in range" so that NaN fails too.
    if resources.cpus is not None and not MIN_CPUS <= resources.cpus <= MAX_CPUS:
        fail("resources.cpus", f"must be a number from {MIN_CPUS} to {MAX_CPUS}, like 1.5")
    if resources.memory is not None:
        size = _size(resources.memory)
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
