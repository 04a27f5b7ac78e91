"""Project configs: the YAML schema, as the msgspec Structs a config is loaded into.

Every Struct is strict (an unknown field is an error), keyword-only and immutable;
:mod:`.loading` reads a config's YAML into them and checks the rules that span
fields. Sizes are read as Docker reads them (:func:`size_bytes`).
"""

from __future__ import annotations

import re
from typing import Literal

import msgspec

from .swarm import Target

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
    "size_bytes",
]

#: The Claude Code release scad installs unless a config pins another.
CLAUDE_CODE_VERSION = "2.1.332"
#: Processes and threads a run's container may hold at once unless its config says
#: otherwise. An agent running a parallel build or test suite stays within a few
#: hundred (Claude Code itself ~10 threads, a JVM or `make -j` dozens to a couple of
#: hundred), so this is ample headroom, while a runaway fork loop stops long before it
#: exhausts the host's pid space (kernel.pid_max may be 32768, shared by all containers).
DEFAULT_PIDS_LIMIT = 4096
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
        return None if self.memory is None else size_bytes(self.memory)


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


def size_bytes(value: int | str) -> int | None:
    """Bytes in a Docker-style size (``int`` is bytes already), or None if it is not one."""
    if isinstance(value, int):
        return value
    match = SIZE_RE.match(value.strip())
    if not match:
        return None
    from fractions import Fraction  # exact: "1.1g" is a whole number of bytes

    return int(Fraction(match[1]) * SIZE_UNITS[match[2].lower()])
