"""The host never runs, follows or trusts what an agent wrote: real engine, real Claude Code.

An agent run by the offline model plants traps from inside its container; the
host's scad commands then run over its run directory.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import anyio
import pytest

from .sessions_support import Project, run, wait_for_exit

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.claude]

#: Run inside the container (cwd: the clone). Every trap runs .git/evil.sh, which
#: leaves a marker only where the run's inputs are not mounted: on the host.
PLANT = (
    'printf \'#!/bin/sh\\n[ -e /run/scad/prompt.txt ] || touch "$(dirname "$0")/HOST-RAN-$1"\\ncat >/dev/null\\n\' > .git/evil.sh',
    "chmod +x .git/evil.sh",
    'for k in gpg fsmonitor pager diff clean textconv hook; do printf \'#!/bin/sh\\nexec "$(dirname "$0")/evil.sh" %s\\n\' $k > .git/evil-$k; chmod +x .git/evil-$k; done',
    "git commit -q --allow-empty -m 'agent work'",
    # A commit with a signature header, and signatures shown by every git log.
    "{ git cat-file commit HEAD | sed '/^committer/a gpgsig -----BEGIN PGP SIGNATURE-----\\n \\n iQEz\\n -----END PGP SIGNATURE-----'; } > .git/signed",
    "git update-ref HEAD $(git hash-object -t commit -w .git/signed)",
    "git config log.showSignature true && git config gpg.program .git/evil-gpg",
    "printf '[core]\\n\\tfsmonitor = .git/evil-fsmonitor\\n\\tpager = .git/evil-pager\\n' > .git/extra.cfg",
    "git config include.path extra.cfg",
    "git config diff.external .git/evil-diff",
    "echo '* filter=evil diff=evil' > .git/info/attributes",
    "git config filter.evil.clean .git/evil-clean && git config diff.evil.textconv .git/evil-textconv",
    "mkdir -p .git/evil-hooks && for h in post-checkout reference-transaction pre-auto-gc; do cp .git/evil-hook .git/evil-hooks/$h; done",
    "git config core.hooksPath .git/evil-hooks",
)


def markers(clone: Path) -> list[str]:
    return sorted(p.name for p in (clone / ".git").glob("HOST-RAN-*"))


async def test_an_agent_planting_git_traps_never_runs_code_on_the_host(project: Project) -> None:
    prompt = "\n".join(f"RUN: {line}" for line in PLANT) + "\nSAY: planted"
    run_id = await project.start("--tag", "traps", "--headless", "--prompt", prompt)
    await wait_for_exit(run_id)
    clone = project.clone(run_id)
    assert (clone / ".git" / "evil.sh").exists() and markers(clone) == []

    # The traps are armed: git on the host, trusting the clone, would run them.
    await run("git", "-c", "safe.directory=*", "-C", str(clone), "log", "-1", check=False)
    assert markers(clone) == ["HOST-RAN-gpg"]
    (clone / ".git" / "HOST-RAN-gpg").unlink()

    with anyio.fail_after(120):
        info = await project.scad("session", "info", run_id)
        await project.scad("session", "status", "--all")
        refused = await project.scad("session", "clean", run_id, check=False)
    assert markers(clone) == []
    assert "agent work" in info.stdout  # the signed commit is still seen as work
    # The commit before it was signed is the agent's too: its reflog keeps it.
    assert refused.returncode == 1 and "2 commit(s) not in" in refused.stderr

    # Code flow reads the clone through scad's store and writes into it as data only.
    with anyio.fail_after(120):
        await project.scad("code", "fetch", run_id)
        await project.scad("code", "sync", run_id)
    assert markers(clone) == []
    assert (await project.scad("session", "clean", run_id)).stdout == f"cleaned {run_id}\n"


async def test_a_hostile_claude_folder_is_replaced_not_followed(project: Project) -> None:
    """Links, a FIFO, a sparse gigabyte and malformed JSON under resume, info, status, clean."""
    host_claude = project.root / "host-home" / ".claude"
    host_claude.mkdir(parents=True)
    expires = int((time.time() + 86400) * 1000)
    (host_claude / ".credentials.json").write_text(
        json.dumps(
            {"claudeAiOauth": {"accessToken": "a", "refreshToken": "r", "expiresAt": expires}}
        )
    )
    logged_in = {"ANTHROPIC_API_KEY": ""}
    outside = project.root / "host-only.txt"
    outside.write_text("host file\n")
    outside_folder = project.root / "host-folder"
    outside_folder.mkdir()

    run_id = await project.start("--tag", "claude", "--headless", "--prompt", "SAY: first")
    await wait_for_exit(run_id)
    run_dir = project.run_dir(run_id)
    claude = run_dir / "claude"
    transcripts = claude / "projects" / "-workspace-code"
    events_before = (run_dir / "events.jsonl").read_bytes()
    before = os.stat(outside)

    for name, target in ((".credentials.json", outside), ("settings.json", run_dir / "events.jsonl"),
                         ("CLAUDE.md", outside_folder)):  # fmt: skip
        (claude / name).unlink(missing_ok=True)
        (claude / name).symlink_to(target)
    os.mkfifo(transcripts / "fifo.jsonl")
    (transcripts / "huge.jsonl").touch()
    os.truncate(transcripts / "huge.jsonl", 1 << 30)  # sparse: costs no disk
    (transcripts / "link.jsonl").symlink_to(outside)
    (run_dir / "claude.json").write_text("{ not json")

    with anyio.fail_after(120):
        info = await project.scad("session", "info", run_id, env=logged_in)
        await project.scad("session", "status", "--all", env=logged_in)
        resumed = await project.scad(
            "session", "resume", run_id, "--prompt", "SAY: second", env=logged_in
        )
    assert "transcript fifo: not read: is not a regular file\n" in info.stdout
    assert "transcript link: not read: is a symbolic link; not followed\n" in info.stdout
    assert f"transcript huge: not read: is {1 << 30} bytes" in info.stdout
    # The link where a copy of the login once was is removed, not read: the gateway
    # holds the login now.
    assert resumed.stderr.splitlines() == [
        f"warning: {run_id}: claude.json held no JSON object; replaced with a fresh one",
    ]
    await wait_for_exit(run_id)
    await project.scad("session", "logs", run_id)  # catches the log up from the engine

    after = os.stat(outside)
    assert outside.read_text() == "host file\n"
    assert (after.st_uid, after.st_mode, after.st_mtime_ns) == (
        before.st_uid, before.st_mode, before.st_mtime_ns,
    )  # fmt: skip
    assert list(outside_folder.iterdir()) == []
    assert (run_dir / "events.jsonl").read_bytes().startswith(events_before)
    # Claude started again on the state scad rewrote.
    kinds = [e["data"]["type"] for e in project.envelopes(run_id) if e["src"] == "claude"]
    assert kinds.count("result") == 2
    assert not os.path.lexists(claude / ".credentials.json")

    with anyio.fail_after(60):
        await project.scad("session", "clean", run_id, "--force")
    assert outside.read_text() == "host file\n" and outside_folder.is_dir()
