"""Every bad config gets one exact line and exit code 2, and nothing is written."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from scad.config.loading import load_config
from scad.config.schema import CLAUDE_CODE_VERSION, DEFAULT_PIDS_LIMIT, EgressSettings
from tests.conftest import Cli

pytestmark = pytest.mark.anyio

CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "ca.pem").write_text(CERT)
    (tmp_path / "mkt" / ".claude-plugin").mkdir(parents=True, exist_ok=True)
    (tmp_path / "mkt" / ".claude-plugin" / "marketplace.json").write_text("{}")
    path = tmp_path / "proj.yml"
    path.write_text(textwrap.dedent(text))
    return path


VALID = """\
name: proj
repos:
  code: {path: ./code, workdir: true, focus: src}
  docs: {path: ~/docs, add_dir: true}
mounts:
  - host: data
    container: /data
python: {version: "3.12", requirements: requirements.txt}
apt_packages: [ripgrep, libssl-dev, g++]
claude:
  model: claude-sonnet-4-5
  dangerously_skip_permissions: true
  plugins: [hello@local]
  marketplaces: {local: {path: mkt}}
  env: {ANTHROPIC_BASE_URL: "http://127.0.0.1:9"}
  permissions: {allow: ["Bash(git:*)"]}
ca_certificates: [ca.pem]
network: host
"""


def test_valid_config_loads_with_absolute_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))
    assert config.repos["code"].path == str(tmp_path / "code")
    assert config.repos["docs"].path == str(Path("~/docs").expanduser())
    assert config.workdir_key == "code"
    assert config.mounts[0].host == str(tmp_path / "data")
    assert config.mounts[0].container == "/data"
    assert config.ca_certificates == [str(tmp_path / "ca.pem")]
    assert config.claude.marketplaces["local"].path == str(tmp_path / "mkt")
    assert config.claude.version == CLAUDE_CODE_VERSION
    assert config.base_image == "python:3.12-slim"
    assert config.network == "host"


def test_defaults(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, "name: p\nrepos: {c: {path: ., workdir: true}}\nmounts: [{host: data}]\n")
    )
    assert config.python.version == "3.11"
    assert config.network == "bridge"
    assert config.egress == EgressSettings(mode="open", allow=[])
    assert config.mounts[0].container == str(tmp_path / "data")
    assert config.claude.dangerously_skip_permissions is False
    # Safe container defaults: a pids limit, no new privileges, no capabilities.
    assert config.resources.pids == DEFAULT_PIDS_LIMIT == 4096
    assert config.resources.cpus is None and config.resources.memory_bytes is None
    assert config.security.no_new_privileges is True
    assert config.security.cap_drop_all is True


BASE = "name: proj\nrepos:\n  code: {path: ., workdir: true}\n"
CPUS = "proj.yml: resources.cpus: must be a number from 0.01 to 1024, like 1.5"
PIDS = "proj.yml: resources.pids: must be a whole number of at least 1, or null for no limit"

BAD = [
    pytest.param("", "proj.yml: the file is empty; start from `scad config new NAME`", id="empty"),
    pytest.param(
        "- a\n", "proj.yml: (top level): expected a mapping, got a list", id="not-a-mapping"
    ),
    pytest.param(
        "name: [\n",
        "proj.yml: line 2: invalid YAML: expected the node content, but found '<stream end>'",
        id="yaml-syntax",
    ),
    pytest.param(
        "repos: {c: {path: ., workdir: true}}\n",
        'proj.yml: (top level): missing required field "name"',
        id="missing-name",
    ),
    pytest.param(
        "name: proj\n", 'proj.yml: (top level): missing required field "repos"', id="missing-repos"
    ),
    pytest.param(
        BASE + "nmae: x\n", 'proj.yml: nmae: unknown field; did you mean "name"?', id="unknown-top"
    ),
    pytest.param(
        "name: proj\nrepos:\n  code: {path: ., workdir: true, wokdir: true}\n",
        'proj.yml: repos.code.wokdir: unknown field; did you mean "workdir"?',
        id="unknown-nested",
    ),
    pytest.param(
        BASE + "zzz: 1\n",
        "proj.yml: zzz: unknown field; known: name, repos, mounts, python, apt_packages, claude, ca_certificates, network, egress, image, resources, security, checks, notify, runs_on, swarm, gateway_address",
        id="unknown-no-hint",
    ),
    pytest.param(
        "name: Proj X\nrepos:\n  code: {path: ., workdir: true}\n",
        'proj.yml: name: "Proj X" is not a valid name; use lowercase letters, digits, "-" and "_"',
        id="bad-name",
    ),
    pytest.param(
        "name: status\nrepos:\n  code: {path: ., workdir: true}\n",
        'proj.yml: name: "status" is a command of `scad batch` (as are run, status, watch, '
        "stop, resume, retry and report); choose another name",
        id="reserved-name",
    ),
    pytest.param(
        "name: 12\nrepos:\n  code: {path: ., workdir: true}\n",
        "proj.yml: name: expected a string, got a number; put it in quotes",
        id="name-number",
    ),
    pytest.param(
        "name: proj\nrepos: {}\n",
        "proj.yml: repos: no repos; add at least one with `path:` and `workdir: true`",
        id="no-repos",
    ),
    pytest.param(
        "name: proj\nrepos: [a]\n",
        "proj.yml: repos: expected a mapping, got a list",
        id="repos-list",
    ),
    pytest.param(
        "name: proj\nrepos:\n  code: {workdir: true}\n",
        'proj.yml: repos.code: missing required field "path"',
        id="repo-no-path",
    ),
    pytest.param(
        "name: proj\nrepos:\n  code: {path: .}\n",
        "proj.yml: repos: no repo has `workdir: true`; mark the one Claude starts in",
        id="no-workdir",
    ),
    pytest.param(
        "name: proj\nrepos:\n  a: {path: ., workdir: true}\n  b: {path: ., workdir: true}\n",
        "proj.yml: repos: only one repo may have `workdir: true`, found a, b",
        id="two-workdirs",
    ),
    pytest.param(
        "name: proj\nrepos:\n  code: {path: ., workdir: yes please}\n",
        "proj.yml: repos.code.workdir: expected true or false, got a string",
        id="workdir-not-bool",
    ),
    pytest.param(
        "name: proj\nrepos:\n  ../x: {path: ., workdir: true}\n",
        'proj.yml: repos.../x: not a safe folder name; use letters, digits, ".", "-" and "_"',
        id="unsafe-key",
    ),
    pytest.param(
        "name: proj\nrepos:\n  code: {path: ., workdir: true, focus: ../up}\n",
        "proj.yml: repos.code.focus: must be a subfolder inside the repo (relative, no '..')",
        id="focus-escapes",
    ),
    pytest.param(
        BASE + "mounts: [{host: nowhere}]\n",
        "proj.yml: mounts[0].host: {tmp}/nowhere does not exist; create it or fix the path",
        id="mount-missing",
    ),
    pytest.param(
        BASE + "mounts: [{host: data, container: rel}]\n",
        "proj.yml: mounts[0].container: must be an absolute path in the container",
        id="mount-relative",
    ),
    pytest.param(
        BASE + "mounts: [{host: data, container: /d}, {host: data, container: /d}]\n",
        "proj.yml: mounts[1].container: /d is mounted twice",
        id="mount-twice",
    ),
    pytest.param(
        BASE + "mounts: [{container: /d}]\n",
        'proj.yml: mounts[0]: missing required field "host"',
        id="mount-no-host",
    ),
    pytest.param(
        BASE + "python: {version: 3.10}\n",
        "proj.yml: python.version: expected a string, got a number; put it in quotes",
        id="python-float",
    ),
    pytest.param(
        BASE + 'python: {version: "python3"}\n',
        'proj.yml: python.version: "python3" is not a Python version like "3.11"',
        id="python-version",
    ),
    pytest.param(
        BASE + "python: {requirements: /abs/req.txt}\n",
        "proj.yml: python.requirements: must be relative to the workdir repo",
        id="requirements-absolute",
    ),
    pytest.param(
        BASE + "apt_packages: [curl, 'curl; rm -rf /']\n",
        'proj.yml: apt_packages[1]: "curl; rm -rf /" is not a Debian package name',
        id="apt-injection",
    ),
    pytest.param(
        BASE + "apt_packages: curl\n",
        "proj.yml: apt_packages: expected a list, got a string",
        id="apt-not-list",
    ),
    pytest.param(
        BASE + "ca_certificates: [missing.pem]\n",
        "proj.yml: ca_certificates[0]: {tmp}/missing.pem cannot be read; point it at a PEM certificate file",
        id="ca-missing",
    ),
    pytest.param(
        BASE + "ca_certificates: [proj.yml]\n",
        "proj.yml: ca_certificates[0]: {tmp}/proj.yml is not a PEM certificate (no BEGIN CERTIFICATE line)",
        id="ca-not-pem",
    ),
    pytest.param(
        BASE + "network: wifi\n",
        "proj.yml: network: 'wifi' is not one of: bridge, host, none",
        id="network",
    ),
    pytest.param(
        BASE + "claude: {version: newest}\n",
        f'proj.yml: claude.version: "newest" is not a version like "{CLAUDE_CODE_VERSION}" or "latest"',
        id="claude-version",
    ),
    pytest.param(
        BASE + "claude: {env: {ANTHROPIC_API_KEY: sk-1}}\n",
        "proj.yml: claude.env.ANTHROPIC_API_KEY: looks like a secret; scad passes credentials from the host's environment, never from configs",
        id="env-secret",
    ),
    pytest.param(
        BASE + "claude: {env: {1X: a}}\n",
        "proj.yml: claude.env.1X: not a valid environment variable name",
        id="env-name",
    ),
    pytest.param(
        BASE + "claude: {env: {X: 1}}\n",
        "proj.yml: claude.env.X: expected a string, got a number; put it in quotes",
        id="env-value",
    ),
    pytest.param(
        BASE + "claude: {plugins: [hello]}\n",
        'proj.yml: claude.plugins[0]: "hello" must be written as name@marketplace',
        id="plugin-form",
    ),
    pytest.param(
        BASE + "claude: {marketplaces: {m: {path: mkt, github: a/b}}}\n",
        "proj.yml: claude.marketplaces.m: give exactly one of path, github or git",
        id="marketplace-two-sources",
    ),
    pytest.param(
        BASE + "claude: {marketplaces: {m: {path: data}}}\n",
        "proj.yml: claude.marketplaces.m.path: {tmp}/data has no .claude-plugin/marketplace.json",
        id="marketplace-not-one",
    ),
    pytest.param(
        BASE + "claude: {claude_md: nope.md}\n",
        "proj.yml: claude.claude_md: {tmp}/nope.md does not exist",
        id="claude-md-missing",
    ),
    pytest.param(
        BASE + "claude: {dangerously_skip_permission: true}\n",
        'proj.yml: claude.dangerously_skip_permission: unknown field; did you mean "dangerously_skip_permissions"?',
        id="claude-typo",
    ),
    pytest.param(
        BASE + "image: {base: 3}\n",
        "proj.yml: image.base: expected a string, got a number; put it in quotes",
        id="image-base",
    ),
    pytest.param(
        BASE + "resources: 4\n",
        "proj.yml: resources: expected a mapping, got a number",
        id="resources-not-mapping",
    ),
    pytest.param(
        BASE + "resources: {pid: 64}\n",
        'proj.yml: resources.pid: unknown field; did you mean "pids"?',
        id="resources-typo",
    ),
    pytest.param(BASE + "resources: {cpus: 0}\n", CPUS, id="cpus-zero"),
    pytest.param(BASE + "resources: {cpus: -1}\n", CPUS, id="cpus-negative"),
    pytest.param(BASE + "resources: {cpus: 0.001}\n", CPUS, id="cpus-too-few"),
    pytest.param(BASE + "resources: {cpus: 2000}\n", CPUS, id="cpus-too-many"),
    pytest.param(BASE + "resources: {cpus: .nan}\n", CPUS, id="cpus-nan"),
    pytest.param(
        BASE + 'resources: {cpus: "2"}\n',
        "proj.yml: resources.cpus: expected a number, got a string",
        id="cpus-string",
    ),
    pytest.param(
        BASE + "resources: {cpus: true}\n",
        "proj.yml: resources.cpus: expected a number, got a boolean",
        id="cpus-bool",
    ),
    pytest.param(
        BASE + "resources: {memory: lots}\n",
        'proj.yml: resources.memory: "lots" is not a size; write it like "512m", "2g" or "1.5g", or give bytes',
        id="memory-word",
    ),
    pytest.param(
        BASE + "resources: {memory: 2x}\n",
        'proj.yml: resources.memory: "2x" is not a size; write it like "512m", "2g" or "1.5g", or give bytes',
        id="memory-unit",
    ),
    pytest.param(
        BASE + "resources: {memory: -1g}\n",
        'proj.yml: resources.memory: "-1g" is not a size; write it like "512m", "2g" or "1.5g", or give bytes',
        id="memory-negative",
    ),
    pytest.param(
        BASE + "resources: {memory: 1e9}\n",
        'proj.yml: resources.memory: "1e9" is not a size; write it like "512m", "2g" or "1.5g", or give bytes',
        id="memory-exponent",
    ),
    pytest.param(
        BASE + "resources: {memory: 5m}\n",
        'proj.yml: resources.memory: "5m" is below Docker\'s minimum of 6 MiB; give at least "6m"',
        id="memory-below-docker-minimum",
    ),
    pytest.param(
        BASE + "resources: {memory: 1000}\n",
        'proj.yml: resources.memory: 1000 bytes is below Docker\'s minimum of 6 MiB; give at least "6m"',
        id="memory-bytes-too-few",
    ),
    pytest.param(
        BASE + "resources: {memory: 0}\n",
        'proj.yml: resources.memory: 0 bytes is below Docker\'s minimum of 6 MiB; give at least "6m"',
        id="memory-zero",
    ),
    pytest.param(
        BASE + "resources: {memory: 99999999t}\n",
        'proj.yml: resources.memory: "99999999t" is too large',
        id="memory-too-large",
    ),
    pytest.param(
        BASE + "resources: {memory: 1.5}\n",
        "proj.yml: resources.memory: expected a whole number or a string, got a number",
        id="memory-float",
    ),
    pytest.param(
        BASE + "resources: {memory: [1g]}\n",
        "proj.yml: resources.memory: expected a whole number or a string, got a list",
        id="memory-list",
    ),
    pytest.param(BASE + "resources: {pids: 0}\n", PIDS, id="pids-zero"),
    pytest.param(BASE + "resources: {pids: -1}\n", PIDS, id="pids-negative"),
    pytest.param(
        BASE + "resources: {pids: 1.5}\n",
        "proj.yml: resources.pids: expected a whole number, got a number",
        id="pids-float",
    ),
    pytest.param(
        BASE + "resources: {pids: many}\n",
        "proj.yml: resources.pids: expected a whole number, got a string",
        id="pids-string",
    ),
    pytest.param(
        BASE + 'security: {no_new_privileges: "off"}\n',
        "proj.yml: security.no_new_privileges: expected true or false, got a string",
        id="security-not-bool",
    ),
    pytest.param(
        BASE + "security: {cap_drop: true}\n",
        'proj.yml: security.cap_drop: unknown field; did you mean "cap_drop_all"?',
        id="security-typo",
    ),
    pytest.param(
        BASE + "egress: {mode: closed}\n",
        "proj.yml: egress.mode: 'closed' is not one of: open, gateway",
        id="egress-mode",
    ),
    pytest.param(
        BASE + "egress: {mode: gateway, allow: [pypi.org, 'http://x.org/']}\n",
        'proj.yml: egress.allow[1]: "http://x.org/" is not a host like "pypi.org", "*.pythonhosted.org" or "git.example.com:8443"',
        id="egress-url",
    ),
    pytest.param(
        BASE + "egress: {mode: gateway, allow: ['git.example.com:99999']}\n",
        'proj.yml: egress.allow[0]: "git.example.com:99999" is not a host like "pypi.org", "*.pythonhosted.org" or "git.example.com:8443"',
        id="egress-port",
    ),
    pytest.param(
        BASE + "egress: {mode: gateway, allow: ['*.10.0.0.1']}\n",
        'proj.yml: egress.allow[0]: "*.10.0.0.1" is not a host like "pypi.org", "*.pythonhosted.org" or "git.example.com:8443"',
        id="egress-wildcard-ip",
    ),
    pytest.param(
        BASE + "egress: {mode: gateway, allow: pypi.org}\n",
        "proj.yml: egress.allow: expected a list, got a string",
        id="egress-allow-not-list",
    ),
    pytest.param(
        BASE + "egress: {allow: [pypi.org]}\n",
        "proj.yml: egress.allow: has no effect while egress.mode is open (every host is reachable); set egress.mode: gateway",
        id="egress-allow-open",
    ),
    pytest.param(
        BASE + "network: host\negress: {mode: gateway}\n",
        "proj.yml: egress.mode: gateway puts runs on a network of its own; remove network: host or set egress.mode: open",
        id="egress-host-network",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD)
async def test_bad_config_is_one_line_exit_2(
    tmp_path: Path, run_cli: Cli, scad_home: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    result = await run_cli("config", "add", str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"scad: error: {message.format(tmp=tmp_path)}\n"
    assert not (scad_home / "configs" / "proj.yml").exists()


@pytest.mark.parametrize(
    ("memory", "size"),
    [
        pytest.param('"512m"', 512 * 1024**2, id="512m"),
        pytest.param("2g", 2 * 1024**3, id="2g"),
        pytest.param("1.5g", 3 * 512 * 1024**2, id="1.5g"),
        pytest.param("2GiB", 2 * 1024**3, id="2GiB"),
        pytest.param("6144k", 6 * 1024**2, id="docker-minimum"),
        pytest.param("1073741824", 1024**3, id="bytes"),
        pytest.param('"1073741824"', 1024**3, id="bytes-as-string"),
        pytest.param("1 tb", 1024**4, id="1 tb"),
    ],
)
def test_memory_sizes(tmp_path: Path, memory: str, size: int) -> None:
    config = load_config(write(tmp_path, BASE + f"resources: {{memory: {memory}}}\n"))
    assert config.resources.memory_bytes == size


def test_resources_and_security_override_the_defaults(tmp_path: Path) -> None:
    text = BASE + (
        "resources: {cpus: 1.5, memory: 2g, pids: null}\n"
        "security: {no_new_privileges: false, cap_drop_all: false}\n"
    )
    config = load_config(write(tmp_path, text))
    assert config.resources.cpus == 1.5
    assert config.resources.memory_bytes == 2 * 1024**3
    assert config.resources.pids is None
    assert config.security.no_new_privileges is False
    assert config.security.cap_drop_all is False
    whole = load_config(write(tmp_path, BASE + "resources: {cpus: 2, pids: 64}\n"))
    assert whole.resources.cpus == 2.0 and whole.resources.pids == 64


def test_egress_through_the_gateway(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            "name: p\nrepos: {c: {path: ., workdir: true}}\n"
            "egress:\n  mode: gateway\n  allow: [pypi.org, '*.pythonhosted.org', 'git.corp:8443']\n",
        )
    )
    assert config.egress == EgressSettings(
        mode="gateway", allow=["pypi.org", "*.pythonhosted.org", "git.corp:8443"]
    )
