"""Per-run limits and hardening on the real engine: a fork bomb stays inside its own run."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import project_config, session_settings
from .sessions_support import Project, container_state, git_log, run, wait_for_exit, wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.claude]

PIDS = 64
GIB = 1024**3
RESOURCES = f"resources: {{pids: {PIDS}, memory: 1g, cpus: 1}}\n"

# Far more processes than the limit, yet over by itself: once the container is full,
# bash retries the failing fork for ~15 s and then gives up, so two rounds hold the
# run at its limit for ~30 s; the sleeps would end after 40 s anyway.
BOMB = (
    "RUN: for round in 1 2; do bash -c 'for i in $(seq 200); do sleep 40 & done; wait'; done\n"
    "SAY: bomb over"
)
SIBLING = (
    "RUN: grep -E '^(CapBnd|NoNewPrivs)' /proc/self/status\n"
    "RUN: echo agent > agent.txt && git add agent.txt && git commit -qm 'agent commit'\n"
    "SAY: committed it"
)


async def pids(run_id: str) -> int:
    """Processes and threads in the run's container, as the engine counts them from outside
    (an exec inside would need a pid of its own)."""
    out = await run("docker", "stats", "--no-stream", "--format", "{{.PIDs}}", f"scad-{run_id}")
    return int(out.stdout.strip())


async def host_config(run_id: str) -> dict[str, Any]:
    inspect = (await run("docker", "inspect", f"scad-{run_id}")).stdout
    return dict(json.loads(inspect)[0]["HostConfig"])


def tool_results(project: Project, run_id: str) -> list[str]:
    """The text of every tool result in the run's event log, in order."""
    texts = []
    for envelope in project.envelopes(run_id):
        data = envelope.get("data") or {}
        if envelope["src"] != "claude" or data.get("type") != "user":
            continue
        for block in data["message"]["content"]:
            if block.get("type") == "tool_result":
                content = block["content"]
                if not isinstance(content, str):
                    content = "".join(part.get("text", "") for part in content)
                texts.append(content)
    return texts


async def test_a_fork_bomb_hits_its_own_pids_limit_while_a_sibling_commits(
    project: Project,
) -> None:
    config = project.home / "configs" / "scadtest.yml"
    config.write_text(
        project_config("scadtest", project.repo, session_settings(project.model.url) + RESOURCES)
    )

    bomb = await project.start("--tag", "bomb", "--headless", "--prompt", BOMB)

    async def bomb_is_full() -> bool:
        return await pids(bomb) >= PIDS

    await wait_until(bomb_is_full, timeout=60)
    # Still exactly at the limit a moment later: without one, 200 sleeps would show.
    assert await pids(bomb) == PIDS

    sibling = await project.start("--tag", "sibling", "--headless", "--prompt", SIBLING)
    finished = await wait_for_exit(sibling)
    assert finished["ExitCode"] == 0
    assert git_log(project.clone(sibling)) == ["agent commit", "init"]
    # The sibling did all that while the bomb was pinned at its limit.
    assert container_state(bomb)["Running"], "the bomb ended before the sibling did"
    assert await pids(bomb) == PIDS

    # The bomb ends by itself, and Claude in it saw the forks fail and carried on.
    ended = await wait_for_exit(bomb, timeout=120)
    assert ended["ExitCode"] == 0 and not ended["OOMKilled"]
    for run_id in (bomb, sibling):
        await project.scad("session", "logs", run_id)  # catch the event logs up
    (bombed,) = tool_results(project, bomb)
    assert "fork: retry: Resource temporarily unavailable" in bombed
    status, _ = tool_results(project, sibling)
    # Hardened: no capability can be had, nothing gains privileges.
    assert "CapBnd:\t0000000000000000" in status
    assert "NoNewPrivs:\t1" in status

    for run_id in (bomb, sibling):
        host = await host_config(run_id)
        assert {
            key: host.get(key)
            for key in ("PidsLimit", "Memory", "MemorySwap", "NanoCpus", "SecurityOpt", "CapDrop")
        } == {
            "PidsLimit": PIDS,
            "Memory": GIB,
            "MemorySwap": GIB,  # no swap beyond the memory limit
            "NanoCpus": 10**9,
            "SecurityOpt": ["no-new-privileges"],
            "CapDrop": ["ALL"],
        }, run_id
