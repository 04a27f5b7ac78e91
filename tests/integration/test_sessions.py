"""Sessions end to end: real engine, real image, real Claude Code, the offline model."""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import anyio
import pytest
from anyio.streams.text import TextReceiveStream

from .conftest import project_config, session_settings
from .sessions_support import (
    GATE,
    SCAD,
    Project,
    container_state,
    git_log,
    open_gate,
    pane,
    run,
    wait_for_exit,
    wait_until,
)

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.claude]

COMMIT = (
    "TOKENS: 1000 50\n"
    "RUN: echo agent > agent.txt && git add agent.txt && git commit -qm 'agent commit'\n"
    "SAY: committed it"
)


async def test_headless_run_commits_and_logs_everything(project: Project) -> None:
    run_id = await project.start("--tag", "head", "--headless", "--prompt", COMMIT)
    state = await wait_for_exit(run_id)
    assert state["ExitCode"] == 0
    assert git_log(project.clone(run_id)) == ["agent commit", "init"]
    assert git_log(project.clone(run_id), "--format=%D", "-1") == [f"HEAD -> scad-{run_id}"]
    assert git_log(project.repo) == ["init"]

    logs = await project.scad("session", "logs", run_id, "--json")
    # --json prints the stored lines as they are, Claude's bytes included, after the schema.
    stored = (project.run_dir(run_id) / "events.jsonl").read_text().splitlines()
    assert logs.stdout.splitlines() == ['{"schema":2,' + line[1:] for line in stored]
    envelopes = [json.loads(line) for line in logs.stdout.splitlines()]
    assert [e["seq"] for e in envelopes] == list(range(1, len(envelopes) + 1))
    assert [e["event"] for e in envelopes if e["src"] == "scad"] == ["created", "started", "exited"]
    claude = [e["data"] for e in envelopes if e["src"] == "claude"]
    kinds = [(d["type"], d.get("subtype")) for d in claude]
    assert kinds[0] == ("system", "init") and kinds[-1] == ("result", "success")
    blocks = [
        (d["type"], b["type"])
        for d in claude
        if d["type"] in ("assistant", "user")
        for b in d["message"]["content"]
    ]
    assert ("assistant", "tool_use") in blocks and ("user", "tool_result") in blocks
    result = claude[-1]

    info = json.loads((await project.scad("session", "info", run_id, "--json")).stdout)
    summary = info["summary"]
    assert summary["turns"] == result["num_turns"] == 2
    assert summary["cost_usd"] == pytest.approx(result["total_cost_usd"])
    assert summary["usage"]["input_tokens"] == result["usage"]["input_tokens"] == 2000
    assert summary["usage"]["output_tokens"] == result["usage"]["output_tokens"] == 100
    assert info["state"] == "exited" and info["exit_code"] == 0
    ahead = info["clones"][0]["work"]
    assert (ahead["branches"], ahead["total"]) == ([f"scad-{run_id}"], 1)
    assert [c["subject"] for c in ahead["commits"]] == ["agent commit"]

    readable = (await project.scad("session", "logs", run_id)).stdout
    assert (
        "→ Bash: echo agent > agent.txt && git add agent.txt && git commit -qm 'agent commit'"
        in readable
    )
    assert "[scad] exited with code 0" in readable
    dashboard = (await project.scad("session", "info", run_id)).stdout
    assert re.search(r"^  code: [0-9a-f]{8} agent commit$", dashboard, re.MULTILINE), dashboard
    assert f"  code: on scad-{run_id}\n" in dashboard
    last_two = (await project.scad("session", "logs", run_id, "-n", "2")).stdout
    assert last_two.splitlines() == readable.splitlines()[-2:]
    assert (await project.scad("session", "logs", run_id, "-n", "0")).stdout == ""


async def test_a_run_nobody_watched_is_caught_up_once(project: Project) -> None:
    run_id = await project.start(
        "--tag", "quiet", "--headless", "--prompt", "RUN: echo one\nRUN: echo two\nSAY: bye"
    )
    finished = await wait_for_exit(run_id)
    await anyio.sleep(1.1)  # so that noticing the exit later is a different instant
    # Nobody has read it yet: the log holds only what `start` wrote.
    assert [e["event"] for e in project.envelopes(run_id)] == ["created", "started"]
    docker_logs = (await run("docker", "logs", f"scad-{run_id}")).stdout
    stdout_lines = [line for line in docker_logs.splitlines() if line.strip()]
    async with anyio.create_task_group() as tg:
        for _ in range(3):  # concurrent readers must not duplicate lines
            tg.start_soon(project.scad, "session", "logs", run_id, "--json")
    envelopes = project.envelopes(run_id)
    claude = [e["data"] for e in envelopes if e["src"] == "claude"]
    assert claude == [json.loads(line) for line in stdout_lines]
    assert [e["seq"] for e in envelopes] == list(range(1, len(envelopes) + 1))
    assert [e["event"] for e in envelopes if e["src"] == "scad"] == ["created", "started", "exited"]
    # The exit is stamped when the container ended, not when a reader noticed it.
    assert envelopes[-1]["ts"] == finished["FinishedAt"][:23] + "Z"
    before = (project.run_dir(run_id) / "events.jsonl").read_bytes()
    await project.scad("session", "status", "--all")
    assert (project.run_dir(run_id) / "events.jsonl").read_bytes() == before


async def test_logs_follow_prints_a_live_run_and_ends_with_it(project: Project) -> None:
    run_id = await project.start(
        "--tag", "live", "--headless", "--prompt", f"RUN: echo step-one\n{GATE}\nSAY: finished"
    )
    seen_running = False
    lines: list[str] = []
    async with await anyio.open_process(
        [SCAD, "session", "logs", run_id, "-f"], env=project.env
    ) as process:
        assert process.stdout is not None
        buffer = ""
        with anyio.fail_after(90):
            async for chunk in TextReceiveStream(process.stdout):
                buffer += chunk
                *complete, buffer = buffer.split("\n")
                for line in complete:
                    lines.append(line)
                    if "→ Bash: echo step-one" in line:
                        seen_running = container_state(run_id)["Running"]
                        open_gate(project, run_id)
            code = await process.wait()
    assert code == 0
    assert seen_running, "the tool call was printed only after the run had ended"
    assert any(line.endswith(" finished") for line in lines)
    assert lines[-1].endswith("[scad] exited with code 0")


async def pane_shows(run_id: str, text: str) -> bool:
    return text in await pane(run_id)


#: A tmux server of this test process's own (see tests/unit/cli/test_screens.py).
TMUX_SERVER = f"scad-sessions-{os.getpid()}"


def tmux(*args: str) -> str:
    command = ["tmux", "-L", TMUX_SERVER, *args]
    return subprocess.run(command, capture_output=True, text=True, check=False).stdout


async def attach_and_read(project: Project, run_id: str, name: str, *expect: str) -> str:
    """Attach through a real terminal (tmux on the host) and return the screen once all of ``expect`` shows."""
    return await terminal_screen(project, ["session", "attach", run_id], name, *expect)


async def terminal_screen(project: Project, args: list[str], name: str, *expect: str) -> str:
    """Run scad with ``args`` in a real terminal (tmux on the host); the screen once all
    of ``expect`` shows (a screen read mid-redraw may lack a line that comes back)."""
    env = " ".join(
        f"{k}={v}"
        for k, v in (
            ("SCAD_HOME", project.home),
            ("HOME", project.root / "host-home"),
            ("ANTHROPIC_API_KEY", project.api_key),
        )
    )
    tmux(
        "new-session",
        "-d",
        "-s",
        name,
        "-x",
        "160",
        "-y",
        "45",
        f"env {env} {SCAD} {' '.join(args)}",
    )
    try:
        screen = ""

        def shows() -> bool:
            nonlocal screen
            screen = tmux("capture-pane", "-p", "-t", name)
            return all(text in screen for text in expect)

        try:
            await wait_until(shows, timeout=60)
        except TimeoutError:
            missing = [text for text in expect if text not in screen]
            raise AssertionError(f"the screen never showed {missing}:\n{screen}") from None
        return screen
    finally:
        tmux("kill-session", "-t", name)


#: How the interactive test's prompt shows on Claude's screen.
ASKED = "❯ RUN: echo hi > hi.txt"


async def test_interactive_prompt_in_a_real_terminal_then_stop_and_resume(project: Project) -> None:
    prompt = "RUN: echo hi > hi.txt && git add hi.txt && git commit -qm 'interactive commit'\nSAY: interactive done"
    run_id = await project.start("--tag", "tty", "--prompt", prompt)
    await wait_until(lambda: git_log(project.clone(run_id))[0] == "interactive commit")
    # Each look waits for every line it needs: a screen read mid-redraw may lack one.
    # A line that never shows fails the wait.
    screen = await attach_and_read(
        project, run_id, f"t-{run_id}", "interactive done", "bypass permissions on", ASKED
    )
    for first_run_screen in (
        "trust this folder",
        "Choose the text style",
        "Bypass Permissions mode",
    ):
        assert first_run_screen not in screen

    await project.scad("session", "stop", run_id)
    status = json.loads((await project.scad("session", "status", "--all", "--json")).stdout)
    assert [(s["run_id"], s["state"]) for s in status["sessions"]] == [(run_id, "stopped")]

    await project.scad("session", "resume", run_id)
    # Claude starts with --continue: the earlier conversation is on screen again.
    await attach_and_read(project, run_id, f"r-{run_id}", "interactive done", ASKED)
    pane = (await project.scad("session", "logs", run_id)).stdout
    assert "[scad] resumed" in pane and "--- tmux pane ---" in pane


async def test_headless_resume_continues_the_same_claude_session(project: Project) -> None:
    run_id = await project.start("--tag", "again", "--headless", "--prompt", "SAY: first answer")
    await wait_for_exit(run_id)
    stopped = await project.scad("session", "stop", run_id)
    assert stopped.stdout == f"{run_id} was not running\n"
    resumed = await project.scad(
        "session", "resume", run_id, "--prompt", "SAY: second answer", "--json"
    )
    shown = json.loads(resumed.stdout)
    assert (shown["run_id"], resumed.stderr) == (run_id, "")
    assert shown["container_id"]
    await wait_for_exit(run_id)
    await project.scad("session", "logs", run_id)
    claude = [e["data"] for e in project.envelopes(run_id) if e["src"] == "claude"]
    inits = [d["session_id"] for d in claude if d.get("subtype") == "init"]
    results = [d["result"] for d in claude if d["type"] == "result"]
    assert len(inits) == 2 and inits[0] == inits[1]
    assert results == ["first answer", "second answer"]
    transcripts = list((project.run_dir(run_id) / "claude" / "projects").glob("*/*.jsonl"))
    assert [t.stem for t in transcripts] == [inits[0]]


async def test_clean_refuses_unfetched_commits_until_fetched_or_forced(project: Project) -> None:
    fetched = await project.start("--tag", "fetched", "--headless", "--prompt", COMMIT)
    # Another change, or both agents could make the very same commit in the same second.
    forced = await project.start(
        "--tag", "forced", "--headless", "--prompt", COMMIT.replace("echo agent", "echo other")
    )
    await wait_for_exit(fetched)
    await wait_for_exit(forced)

    refused = await project.scad("session", "clean", fetched, check=False)
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        f"scad: error: {fetched}: clone code has 1 commit(s) not in {project.repo}: "
    )
    assert "'agent commit'" in refused.stderr and "--force" in refused.stderr
    assert project.clone(fetched).is_dir() and container_state(fetched)

    # The command the refusal names brings the work home (as root, too).
    assert f"fetch them (`scad code fetch {fetched}`)" in refused.stderr
    brought = await project.scad("code", "fetch", fetched, "--json")
    (branch,) = [
        b
        for b in json.loads(brought.stdout)["runs"][0]["repos"][0]["branches"]
        if b["branch"] == f"scad-{fetched}"
    ]
    assert (branch["action"], branch["ahead"], branch["files"]) == ("new", 1, ["agent.txt"])
    assert (await project.scad("session", "clean", fetched)).stdout == f"cleaned {fetched}\n"

    done = await project.scad("session", "clean", forced, "--force")
    assert done.stdout.splitlines()[0] == f"cleaned {forced}"
    assert done.stdout.splitlines()[1].startswith("  discarded ") and done.stdout.endswith(
        " agent commit\n"
    )
    for run_id in (fetched, forced):
        run_dir = project.run_dir(run_id)
        # What stays: the log and its summary, the record, and the gateway's (its token
        # revoked).
        assert sorted(p.name for p in run_dir.iterdir() if not p.name.startswith(".")) == [
            "events.jsonl",
            "fold.json",
            "gateway",
            "run.json",
            "summary.json",
        ]
        assert (await run("docker", "inspect", f"scad-{run_id}", check=False)).returncode != 0
        assert project.envelopes(run_id)[-1]["event"] == "cleaned"
    status = json.loads((await project.scad("session", "status", "--all", "--json")).stdout)
    assert {s["run_id"]: s["state"] for s in status["sessions"]} == {
        fetched: "cleaned",
        forced: "cleaned",
    }


async def test_status_warns_when_oauth_credentials_expire_within_the_hour(project: Project) -> None:
    import time

    claude_dir = project.root / "host-home" / ".claude"
    claude_dir.mkdir(parents=True)
    expires = int((time.time() + 1800) * 1000)
    (claude_dir / ".credentials.json").write_text(
        json.dumps(
            {"claudeAiOauth": {"accessToken": "a", "refreshToken": "r", "expiresAt": expires}}
        )
    )
    result = await project.scad("session", "status", env={"ANTHROPIC_API_KEY": ""})
    assert result.stderr.startswith(
        f"warning: the Claude OAuth credentials in {claude_dir}/.credentials.json expire in 0 h 2"
    )
    assert result.stdout.splitlines()[-1] == "auth: credentials-file"


async def test_agent_planted_git_config_never_runs_on_the_host(
    project: Project, tmp_path: Path
) -> None:
    run_id = await project.start("--tag", "sec")
    marker = tmp_path / "host-only" / "pwned"
    marker.parent.mkdir()
    hooks = "/workspace/code/.git/evil-hooks"
    plant = (
        f"git config core.fsmonitor 'touch {marker}; false' && mkdir -p {hooks} && "
        f"printf '#!/bin/sh\\ntouch {marker}\\n' > {hooks}/post-checkout && chmod +x {hooks}/post-checkout && "
        f"git config core.hooksPath {hooks} && git commit -q --allow-empty -m planted"
    )
    await run("docker", "exec", "-w", "/workspace/code", f"scad-{run_id}", "sh", "-c", plant)
    # The trap is armed: plain git on the host would run it.
    await run(
        "git", "-c", "safe.directory=*", "-C", str(project.clone(run_id)), "status", check=False
    )
    assert marker.exists()
    marker.unlink()

    await project.scad("session", "info", run_id)
    await project.scad("session", "status")
    await project.scad("session", "clean", run_id, "--force")
    assert not marker.exists()


async def test_no_secret_reaches_inspect_and_the_log_is_out_of_reach(project: Project) -> None:
    run_id = await project.start("--tag", "secret", "--prompt", "SAY: hello")
    await wait_until(lambda: pane_shows(run_id, "hello"))
    inspect = (await run("docker", "inspect", f"scad-{run_id}")).stdout
    image = (await run("docker", "image", "inspect", json.loads(inspect)[0]["Image"])).stdout
    processes = (await run("docker", "exec", f"scad-{run_id}", "ps", "-eo", "args")).stdout
    await project.scad("session", "logs", run_id)
    log = (project.run_dir(run_id) / "events.jsonl").read_text()
    for where, text in (
        ("inspect", inspect),
        ("image", image),
        ("processes", processes),
        ("event log", log),
    ):
        assert project.api_key not in text, where
    # Claude in the container did get the key (from the run's 0600 file).
    assert "claude" in processes

    mounts = json.loads(inspect)[0]["Mounts"]
    run_dir = str(project.run_dir(run_id))
    assert all(m["Source"] != run_dir and not m["Source"].endswith("events.jsonl") for m in mounts)
    inputs = next(m for m in mounts if m["Destination"] == "/run/scad")
    assert inputs["RW"] is False
    probe = "find / -name events.jsonl -not -path '/proc/*' 2>/dev/null; touch /run/scad/x 2>&1 || echo read-only"
    out = (await run("docker", "exec", f"scad-{run_id}", "sh", "-c", probe, check=False)).stdout
    assert out.strip().endswith("read-only") and "events.jsonl" not in out


async def test_plugins_claude_md_and_host_timezone_reach_claude(
    project: Project, tmp_path: Path
) -> None:
    market = tmp_path / "market"
    (market / ".claude-plugin").mkdir(parents=True)
    plugins = [{"name": "hello", "source": "./hello", "description": "d"}]
    (market / ".claude-plugin" / "marketplace.json").write_text(
        json.dumps({"name": "local", "owner": {"name": "t"}, "plugins": plugins})
    )
    (market / "hello" / ".claude-plugin").mkdir(parents=True)
    (market / "hello" / ".claude-plugin" / "plugin.json").write_text(
        json.dumps({"name": "hello", "version": "1.0.0", "description": "d"})
    )
    (market / "hello" / "commands").mkdir()
    (market / "hello" / "commands" / "greet.md").write_text(
        "---\ndescription: Greet\n---\nSay hello.\n"
    )
    notes = tmp_path / "notes.md"
    notes.write_text("Keep answers short. MARKER-7431\n")
    extra = f"  plugins: [hello@local]\n  marketplaces: {{local: {{path: {market}}}}}\n  claude_md: {notes}\n"
    config = project.home / "configs" / "scadtest.yml"
    config.write_text(
        project_config("scadtest", project.repo, session_settings(project.model.url, extra))
    )

    prompt = "RUN: git commit -q --allow-empty -m 'in paris'\nSAY: ok"
    args = (
        "session",
        "start",
        "scadtest",
        "--tag",
        "plug",
        "--headless",
        "--prompt",
        prompt,
        "--json",
    )
    run_id = json.loads((await project.scad(*args, env={"TZ": "Europe/Paris"})).stdout)["run_id"]
    await wait_for_exit(run_id)
    await project.scad("session", "logs", run_id)
    claude = [e["data"] for e in project.envelopes(run_id) if e["src"] == "claude"]
    init = next(d for d in claude if d.get("subtype") == "init")
    assert {"name": "hello", "source": "hello@local"} in [
        {k: p[k] for k in ("name", "source")} for p in init["plugins"]
    ]
    assert "hello:greet" in init["slash_commands"]
    assert (project.run_dir(run_id) / "claude" / "CLAUDE.md").read_text() == notes.read_text()
    # The agent's commit carries the host's zone: Paris's offset at the commit's instant.
    epoch, stamp = git_log(project.clone(run_id), "-1", "--format=%ct|%ci %s")[0].split("|")
    paris = datetime.fromtimestamp(int(epoch), ZoneInfo("Europe/Paris"))
    assert stamp == f"{paris:%Y-%m-%d %H:%M:%S %z} in paris"


async def test_start_on_a_terminal_opens_the_session(project: Project) -> None:
    screen = await terminal_screen(
        project,
        ["session", "start", "scadtest", "--tag", "auto", "--prompt", "'SAY: hello from auto'"],
        "auto-start",
        "hello from auto",
    )
    assert "❯ SAY: hello from auto" in screen


async def test_reading_a_run_while_it_goes_ingests_each_line_once(project: Project) -> None:
    prompt = f"RUN: echo first\n{GATE}\nRUN: echo second\nSAY: end"
    run_id = await project.start("--tag", "reads", "--headless", "--prompt", prompt)
    reads = 0
    with anyio.fail_after(90):
        while container_state(run_id)["Running"]:
            # Each read catches up only what is new since the last one.
            await project.scad("session", "status")
            reads += 1
            if (
                reads >= 2
                and b"echo first" in (project.run_dir(run_id) / "events.jsonl").read_bytes()
            ):
                open_gate(project, run_id)  # two reads took part of the run: let the rest come
    await project.scad("session", "logs", run_id)
    assert reads > 1
    docker_logs = (await run("docker", "logs", f"scad-{run_id}")).stdout
    expected = [json.loads(line) for line in docker_logs.splitlines() if line.strip()]
    claude = [e["data"] for e in project.envelopes(run_id) if e["src"] == "claude"]
    assert claude == expected
    assert [e["seq"] for e in project.envelopes(run_id)] == list(
        range(1, len(project.envelopes(run_id)) + 1)
    )


def tmux_at(socket: str, *args: str) -> str:
    """tmux of the server at ``socket``; its output."""
    return subprocess.run(
        ["tmux", "-S", socket, *args], capture_output=True, text=True, check=False
    ).stdout


async def test_inside_tmux_the_detach_hint_names_keys_that_leave_only_the_session(
    project: Project, tmp_path: Path
) -> None:
    """The user's own tmux (tmux's defaults) runs `scad session attach`; the keys the hint
    names, typed into the user's terminal, detach the session and leave the user's tmux."""
    run_id = await project.start("--tag", "nest", "--prompt", "SAY: hello from inside")
    harness, user = str(tmp_path / "harness.sock"), str(tmp_path / "user.sock")
    output = tmp_path / "user-pane.log"
    env = " ".join(
        f"{k}={v}"
        for k, v in (
            ("SCAD_HOME", project.home),
            ("HOME", project.root / "host-home"),
            ("ANTHROPIC_API_KEY", project.api_key),
        )
    )
    script = tmp_path / "attach.sh"
    # Waits for a line first, so that everything the pane shows is logged.
    script.write_text(
        f"read go\nenv {env} {SCAD} session attach {run_id}\necho DETACHED-$?\nexec sleep 600\n"
    )

    def screen() -> str:
        return tmux_at(harness, "capture-pane", "-p", "-t", "h")

    tmux_at(
        harness, "-f", "/dev/null", "new-session", "-d", "-s", "h", "-x", "160", "-y", "45",
        f"env -u TMUX tmux -S {user} -f /dev/null new-session -s user sh {script}",
    )  # fmt: skip
    try:
        await wait_until(lambda: tmux_at(user, "list-clients").strip() != "")
        tmux_at(user, "pipe-pane", "-t", "user", f"cat >> {output}")
        tmux_at(harness, "send-keys", "-t", "h", "Enter")
        await wait_until(lambda: "hello from inside" in screen())
        hint = re.search(r"attaching \(detach: ([^)\r\n]+)\)", output.read_text(errors="replace"))
        assert hint is not None and hint[1] == "Ctrl+b Ctrl+b d"

        keys = hint[1].replace("Ctrl+", "C-").split()
        tmux_at(harness, "send-keys", "-t", "h", *keys)

        await wait_until(lambda: "DETACHED-0" in screen())
        assert tmux_at(user, "list-clients").strip() != ""  # the user's tmux is still attached
        assert container_state(run_id)["Running"] is True  # and the session goes on
    finally:
        for socket in (harness, user):
            tmux_at(socket, "kill-server")
