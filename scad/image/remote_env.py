"""How a container starts the image's bootstrap of a run with no mounts
(``scad-remote-run``, :mod:`.remote_run`): its command and the environment it reads.
Shared by a run on a swarm and a run on a remote engine. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from ..config.schema import Config

__all__ = ["PUSH_SECONDS", "REMOTE_RUN_COMMAND", "remote_command", "remote_env"]

#: The bootstrap, as the image installs it.
REMOTE_RUN_COMMAND = "scad-remote-run"
#: Seconds between pushes of a run's branches while it runs: a lost machine loses little.
PUSH_SECONDS = 30


def remote_command(local_command: Sequence[str] | None) -> list[str]:
    """The bootstrap with the Claude arguments of a local run's command (after the
    entrypoint's mode)."""
    return [REMOTE_RUN_COMMAND, *list(local_command or [])[1:]]


def remote_env(
    config: Config, *, gateway_url: str, branch: str, workdir: str, token_file: str
) -> dict[str, str]:
    """What the bootstrap needs to find its files; the token itself is in ``token_file``,
    never in the environment."""
    return {
        "SCAD_GATEWAY": gateway_url,
        "ANTHROPIC_BASE_URL": gateway_url,
        "SCAD_TOKEN_FILE": token_file,
        "SCAD_BRANCH": branch,
        "SCAD_REPOS": " ".join(config.repos),
        "SCAD_WORKDIR": workdir,
        "SCAD_PUSH_SECONDS": str(PUSH_SECONDS),
    }
