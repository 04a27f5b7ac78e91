"""Per-run limits and hardening on the real engine: a fork bomb stays inside its own run."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import project_config, session_settings
from .sessions_support import (
    GATE,
    Project,
    container_state,
    git_log,
    open_gate,
    run,
    wait_for_exit,
    wait_until,
)

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.claude]

PIDS = 64
GIB = 1024**3
RESOURCES = f"resources: {{pids: {PIDS}, memory: 1g, cpus: 1}}\n"

# Far more processes than the limit, each fork counted in a file of the clone. The run
# may not survive it (Claude Code aborts when it cannot make a thread): the point is
# that the limit holds inside this run and its sibling never notices.
BOMB = (
    "RUN: for i in $(seq 300); do sleep 20 & echo $i > /workspace/code/forked; done; wait\n"
    "SAY: bomb over"
)
SIBLING = (
    f"{GATE}; grep -E '^(CapBnd|NoNewPrivs)' /proc/self/status\n"
    "RUN: echo agent > agent.txt && git add agent.txt && git commit -qm 'agent commit'\n"
    "SAY: committed it"
)


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

    sibling = await project.start("--tag", "sibling", "--headless", "--prompt", SIBLING)
    bomb = await project.start("--tag", "bomb", "--headless", "--prompt", BOMB)
    await wait_until(lambda: (project.clone(bomb) / "forked").exists())
    # The bomb is at work while the sibling is mid-run (its first command waits for us).
    assert container_state(sibling)["Running"], "the sibling ended before the bomb began"
    open_gate(project, sibling)
    await wait_for_exit(bomb, timeout=120)
    forked = int((project.clone(bomb) / "forked").read_text())
    assert 0 < forked < PIDS, forked  # the limit stopped the bomb, not the end of its loop

    finished = await wait_for_exit(sibling)
    assert finished["ExitCode"] == 0
    assert git_log(project.clone(sibling)) == ["agent commit", "init"]
    await project.scad("session", "logs", sibling)  # catch the event log up
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


async def test_a_run_that_outgrows_its_memory_ends_as_oom(project: Project) -> None:
    """The agent's tool pushes the container past its limit: the run ends as `oom`."""
    config = project.home / "configs" / "scadtest.yml"
    config.write_text(
        project_config(
            "scadtest",
            project.repo,
            session_settings(project.model.url) + "resources: {memory: 320m}\n",
        )
    )
    grow = (
        'RUN: python3 -c \'import time; c = []; [c.append(b"x" * (10 << 20)) or '
        "time.sleep(0.05) for _ in range(40)]; time.sleep(20)'\nSAY: survived"
    )
    result = await project.scad(
        "session", "start", "scadtest", "--tag", "oom", "--headless", "--wait", "--json",
        "--prompt", grow, check=False,
    )  # fmt: skip
    outcome = json.loads(result.stdout)
    # The kernel kills the tool or Claude itself, whichever it judges larger.
    assert (result.returncode, outcome["outcome"]) == (1, "oom")
    assert outcome["exit_code"] in (0, 137)
    assert container_state(outcome["run_id"])["OOMKilled"] is True
    exited = project.envelopes(outcome["run_id"])[-1]
    assert (exited["event"], exited["exit_code"], exited["oom"]) == (
        "exited", outcome["exit_code"], True,
    )  # fmt: skip
