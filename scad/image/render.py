"""The image a config runs in: the Dockerfile and build context, rendered purely.

Nothing here touches Docker; :mod:`scad.image.build` feeds the context to the engine.
The content hash covers the rendered Dockerfile, every context file and the
Claude Code version, so an unchanged config maps to an existing tag.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import msgspec

from ..config.schema import Config
from ..errors import ImageError
from ..layout import AGENT_HOME, AGENT_USER, WORKSPACE, agent_ids
from .remote_run import REMOTE_RUN

__all__ = [
    "BuildContext",
    "create_build_context",
    "render_dockerfile",
]

SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
BASE_PACKAGES = ("git", "tmux", "ca-certificates", "tzdata", "procps", "nodejs", "npm")

TMUX_CONF = """\
# scad: Claude runs in session "main"; detach with Ctrl+b d.
set -g history-limit 50000
set -g mouse on
set -g status-right "scad #{session_name}"
"""


class BuildContext(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a build needs, decided before the engine is asked."""

    dockerfile: str
    #: Context files by their path in the context (Dockerfile included).
    files: dict[str, bytes]
    content_hash: str
    repository: str

    @property
    def tag(self) -> str:
        return f"{self.repository}:{self.content_hash}"

    @property
    def latest(self) -> str:
        return f"{self.repository}:latest"

    def tar(self) -> bytes:
        """The context as an uncompressed tar, built in memory, reproducibly."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            for name in sorted(self.files):
                info = tarfile.TarInfo(name)
                info.size = len(self.files[name])
                info.mode = 0o755 if name.endswith((".sh", ".py")) else 0o644
                archive.addfile(info, io.BytesIO(self.files[name]))
        return buffer.getvalue()


def render_dockerfile(
    config: Config, *, uid: int, gid: int, certificates: list[str], requirements: bool
) -> str:
    """The Dockerfile for ``config``; ``certificates`` are context paths of PEM files."""
    packages = " ".join(dict.fromkeys([*BASE_PACKAGES, *config.apt_packages]))
    lines = [
        f"FROM {config.base_image}",
        "ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 \\",
        "    DISABLE_AUTOUPDATER=1 \\",
        "    PATH=/opt/venv/bin:$PATH",
    ]
    if certificates:
        # Trusted system-wide, and by tools that bring their own bundle.
        lines += [
            "COPY ca/ /usr/local/share/ca-certificates/scad/",
            f"ENV NODE_EXTRA_CA_CERTS={SYSTEM_CA_BUNDLE} PIP_CERT={SYSTEM_CA_BUNDLE} \\",
            f"    REQUESTS_CA_BUNDLE={SYSTEM_CA_BUNDLE} SSL_CERT_FILE={SYSTEM_CA_BUNDLE} \\",
            f"    GIT_SSL_CAINFO={SYSTEM_CA_BUNDLE}",
        ]
    lines += [
        "RUN apt-get update \\",
        f" && apt-get install -y --no-install-recommends {packages} \\",
        " && update-ca-certificates \\",
        " && rm -rf /var/lib/apt/lists/*",
        f"RUN groupadd -o -g {gid} {AGENT_USER} \\",
        f" && useradd -o -m -u {uid} -g {gid} -d {AGENT_HOME} -s /bin/bash {AGENT_USER} \\",
        # Clones are bind-mounted from the host and may have another owner.
        " && git config --system safe.directory '*'",
        f"RUN npm install --global --no-fund --no-audit @anthropic-ai/claude-code@{config.claude.version} \\",
        " && npm cache clean --force",
        # The agent owns the virtualenv so it can install into it, and the workspace
        # a remote run clones into.
        f"RUN install -d -o {uid} -g {gid} /opt/venv {WORKSPACE}",
        f"USER {AGENT_USER}",
        "RUN python3 -m venv /opt/venv",
    ]
    if requirements:
        lines += [
            "COPY requirements.txt /opt/scad/requirements.txt",
            "RUN /opt/venv/bin/pip install --no-cache-dir -r /opt/scad/requirements.txt",
        ]
    lines += [
        "COPY tmux.conf /etc/tmux.conf",
        "COPY entrypoint.sh /usr/local/bin/scad-entrypoint",
        "COPY session.sh /usr/local/bin/scad-session",
        "COPY remote-run.py /usr/local/bin/scad-remote-run",
        f"WORKDIR {AGENT_HOME}",
        "RUN claude --version",
        'ENTRYPOINT ["/usr/local/bin/scad-entrypoint"]',
        'CMD ["bash"]',
    ]
    return "\n".join(lines) + "\n"


ENTRYPOINT = """\
#!/bin/sh
# scad-entrypoint MODE [CLAUDE ARGUMENTS...]
#   headless     Claude with the run's prompt on stdin; stream-json on stdout
#   interactive  Claude in tmux session "main" (a shell once it exits); the
#                container lives as long as that session
#   (nothing)    idle; anything else runs as given
# Credentials come from a file in the run, never from the container's environment.
# A fenced run (SCAD_FENCE set) goes on only once its default route is cut (scad
# cuts it from outside right after the start), and gives up when it is not.
set -e
if [ -n "${SCAD_FENCE:-}" ]; then
    tries=600
    while cut -f2 /proc/net/route | grep -qx 00000000; do
        tries=$((tries - 1))
        if [ "$tries" -le 0 ]; then
            echo "scad: this run's network was not fenced; not starting" >&2
            exit 70
        fi
        sleep 0.1
    done
fi
if [ -r /run/scad/credentials.env ]; then
    set -a
    . /run/scad/credentials.env
    set +a
fi
case "${1:-}" in
headless)
    shift
    exec claude "$@" < /run/scad/prompt.txt
    ;;
interactive)
    shift
    tmux new-session -d -s main -x 200 -y 50 scad-session "$@"
    while tmux has-session -t main 2>/dev/null; do sleep 1; done
    ;;
"")
    exec sleep infinity
    ;;
*)
    exec "$@"
    ;;
esac
"""

SESSION = """\
#!/bin/bash
# scad-session [CLAUDE ARGUMENTS...]: Claude in the foreground, then a shell.
if [ -s /run/scad/prompt.txt ]; then
    claude "$@" "$(cat /run/scad/prompt.txt)"
else
    claude "$@"
fi
echo "Claude exited; this is a shell in the same container (exit to end the session)."
exec bash -l
"""


def create_build_context(
    config: Config, *, repository: str, host_uid: int, host_gid: int
) -> BuildContext:
    """Read the files a build needs (certificates, requirements) and render it all,
    for an image of ``repository``."""
    files: dict[str, bytes] = {}
    certificates = []
    for index, cert in enumerate(config.ca_certificates):
        name = f"ca/{index:02d}-{Path(cert).stem}.crt"
        files[name] = _read(Path(cert), f"ca_certificates[{index}]")
        certificates.append(name)
    if config.python.requirements:
        workdir = Path(config.repos[config.workdir_key].path)
        files["requirements.txt"] = _read(
            workdir / config.python.requirements, "python.requirements"
        )
    uid, gid = agent_ids(host_uid, host_gid)
    dockerfile = render_dockerfile(
        config,
        uid=uid,
        gid=gid,
        certificates=certificates,
        requirements="requirements.txt" in files,
    )
    files["Dockerfile"] = dockerfile.encode()
    files["tmux.conf"] = TMUX_CONF.encode()
    files["entrypoint.sh"] = ENTRYPOINT.encode()
    files["session.sh"] = SESSION.encode()
    files["remote-run.py"] = REMOTE_RUN.encode()
    return BuildContext(
        dockerfile=dockerfile,
        files=files,
        content_hash=content_hash(files, config.claude.version),
        repository=repository,
    )


def content_hash(files: dict[str, bytes], claude_version: str) -> str:
    digest = hashlib.sha256(f"claude-code {claude_version}\n".encode())
    for name in sorted(files):
        digest.update(f"{name} {len(files[name])}\n".encode())
        digest.update(files[name])
    return digest.hexdigest()[:16]


def _read(path: Path, field: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{field}: {path} not found; fix the path in the config") from None
    except OSError as exc:
        raise ImageError(f"{field}: cannot read {path}: {exc.strerror}") from None
