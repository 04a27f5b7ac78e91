"""The run supervisor end to end: real engine, real image, real Claude Code, the offline model."""

from __future__ import annotations

import json
import shutil
import signal

import anyio
import pytest

from scad.config.loading import load_config
from scad.engine import open_engine
from scad.home import Home
from scad.runs.logread import read_all_events
from scad.runs.records import RunPaths, RunRecord
from scad.runs.supervisor import Outcome
from scad.sessions import run_session

from .conftest import SCAD
from .sessions_support import Project, git_log, run, wait_for_exit, wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.claude]


def commit_prompt(n: int) -> str:
    return (
        f"RUN: echo {n} > run{n}.txt && git add run{n}.txt && git commit -qm 'run {n}'\n"
        f"SAY: committed {n}"
    )


@pytest.fixture
def credentials(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """The library reads the host's credentials from the environment, as the CLI does."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", project.api_key)
    monkeypatch.setenv("HOME", project.env["HOME"])


async def test_eight_runs_supervised_at_once(project: Project, credentials: None) -> None:
    home = Home(project.home)
    config = load_config(project.home / "configs" / "scadtest.yml")
    outcomes: list[Outcome] = []
    async with open_engine() as engine, anyio.create_task_group() as tg:

        async def one(n: int) -> None:
            outcomes.append(
                await run_session(engine, home, config, tag=f"r{n}", prompt=commit_prompt(n))
            )

        for n in range(8):
            tg.start_soon(one, n)
    assert sorted(o.outcome for o in outcomes) == ["succeeded"] * 8
    for outcome in outcomes:
        n = int(outcome.run_id.split("-")[1][1:])
        assert outcome.result == f"committed {n}" and outcome.turns == 2
        assert git_log(project.clone(outcome.run_id)) == [f"run {n}", "init"]
        envelopes = await read_all_events(RunPaths(home, outcome.run_id))
        assert [e.kind for e in envelopes if e.src == "scad"] == ["created", "started", "exited"]
        claude = [e for e in envelopes if e.src == "claude"]
        assert [e.n for e in claude] == list(range(len(claude)))
        assert claude[0].payload()["subtype"] == "init" and claude[-1].payload()["type"] == "result"
        # Streamed live: what the engine kept is the same, line for line.
        kept = (await run("docker", "logs", f"scad-{outcome.run_id}")).stdout.splitlines()
        assert [json.loads(line) for line in kept if line.strip()] == [e.payload() for e in claude]


async def test_a_cancelled_group_leaves_no_container_and_consistent_logs(
    project: Project, credentials: None
) -> None:
    home = Home(project.home)
    config = load_config(project.home / "configs" / "scadtest.yml")
    started: list[RunRecord] = []
    async with open_engine() as engine, anyio.create_task_group() as tg:
        for n in range(3):
            started.append(await tg.start(lambda task_status, n=n: run_session(
                engine, home, config, tag=f"c{n}", prompt="HANG", task_status=task_status)))  # fmt: skip

        async def all_talking() -> bool:  # every Claude has said something (and now hangs)
            for record in started:
                events = await read_all_events(RunPaths(home, record.run_id))
                if not any(e.src == "claude" for e in events):
                    return False
            return True

        await wait_until(all_talking)
        tg.cancel_scope.cancel()
    for record in started:
        probe = await run("docker", "inspect", f"scad-{record.run_id}", check=False)
        assert probe.returncode != 0, record.run_id
        events = await read_all_events(RunPaths(home, record.run_id))
        scad_events = [e.kind for e in events if e.src == "scad"]
        assert scad_events[:2] == ["created", "started"] and scad_events[-1] == "cancelled"
        assert "exited" in scad_events
        claude = [e.n for e in events if e.src == "claude"]
        assert claude == list(range(len(claude))) and claude, record.run_id


async def test_start_wait_exits_with_the_outcome(project: Project) -> None:
    done = await project.scad("session", "start", "scadtest", "--tag", "w", "--headless",
                              "--wait", "--prompt", commit_prompt(1))  # fmt: skip
    lines = done.stdout.splitlines()
    assert lines[0].startswith("started scadtest-w-") and "(headless)" in lines[0]
    assert any("→ Bash: echo 1 > run1.txt" in line for line in lines)
    assert (
        lines[-1].endswith(": succeeded (exit 0), 2 turns, $0.0000")
        or ": succeeded (exit 0)" in lines[-1]
    )
    failed = await project.scad("session", "start", "scadtest", "--tag", "f", "--headless",
                                "--wait", "--json", "--prompt", "FAIL: 400 x20", check=False)  # fmt: skip
    assert failed.returncode == 1, failed.stdout
    outcome = json.loads(failed.stdout)
    assert outcome["outcome"] == "failed" and outcome["exit_code"] == 1
    interactive = await project.scad(
        "session", "start", "scadtest", "--tag", "i", "--wait", check=False
    )
    assert (interactive.returncode, interactive.stderr) == (
        2, "scad: error: --wait watches a headless run: add --headless\n",
    )  # fmt: skip


async def test_logs_follow_a_config_picks_up_runs_that_start_later(project: Project) -> None:
    first = await project.start("--tag", "early", "--headless", "--prompt", commit_prompt(1))
    await wait_for_exit(first)
    output = project.root / "follower.out"
    with output.open("wb") as sink:
        follower = await anyio.open_process(
            [SCAD, "logs", "-f", "--config", "scadtest", "--json"], env=project.env, stdout=sink
        )
        try:
            later = [
                await project.start(
                    "--tag", f"late{n}", "--headless", "--prompt", "SLEEP: 2\n" + commit_prompt(n)
                )
                for n in (2, 3)
            ]
            for run_id in later:
                await wait_for_exit(run_id)

            def followed_to_the_end() -> bool:
                logs = [(project.run_dir(r) / "events.jsonl").read_bytes() for r in (first, *later)]
                # The exits are logged (by the follower's catch-up) after the containers end.
                if not all(b'"event":"exited"' in log for log in logs):
                    return False
                stored = sum(len(log.splitlines()) for log in logs)
                return len(output.read_bytes().splitlines()) >= stored

            await wait_until(followed_to_the_end, timeout=60)
        finally:
            follower.send_signal(signal.SIGINT)
            with anyio.fail_after(30):
                await follower.wait()
    out = output.read_text()
    lines = [json.loads(line) for line in out.splitlines()]
    for run_id in (first, *later):
        stored = [
            json.loads(line)
            for line in (project.run_dir(run_id) / "events.jsonl").read_text().splitlines()
        ]
        shown = [
            {k: v for k, v in line.items() if k not in ("run_id", "schema")}
            for line in lines
            if line["run_id"] == run_id
        ]
        assert shown == stored, run_id  # every line, once, as stored


async def test_a_container_whose_id_was_never_saved_is_found_by_its_label(
    project: Project,
) -> None:
    run_id = await project.start("--tag", "orphan", "--headless", "--prompt", "SLEEP: 60")
    record = json.loads((project.run_dir(run_id) / "run.json").read_text())
    record["container_id"] = None  # as if scad was killed between create and save
    (project.run_dir(run_id) / "run.json").write_text(json.dumps(record))
    status = json.loads((await project.scad("session", "status", "--json")).stdout)
    assert [(s["run_id"], s["state"]) for s in status["sessions"]] == [(run_id, "running")]
    cleaned = await project.scad("session", "clean", run_id, "--force")
    assert cleaned.stdout.splitlines()[0] == f"cleaned {run_id}"
    assert (await run("docker", "inspect", f"scad-{run_id}", check=False)).returncode != 0


async def test_another_homes_container_of_the_same_run_id_is_never_adopted_or_removed(
    project: Project,
) -> None:
    run_id = await project.start("--tag", "twin", "--headless", "--prompt", "SLEEP: 60")
    # A second home on the engine holds a run of the same id whose container id
    # never reached its run.json: the engine's run label alone would name ours.
    other = project.root / "other-home"
    shutil.copytree(project.home / "configs", other / "configs", symlinks=True)
    record = json.loads((project.run_dir(run_id) / "run.json").read_text())
    record["container_id"] = None
    (other / "runs" / run_id).mkdir(parents=True)
    (other / "runs" / run_id / "run.json").write_text(json.dumps(record))
    there = {"SCAD_HOME": str(other)}
    listed = await project.scad("session", "status", "--all", "--json", env=there)
    status = json.loads(listed.stdout)
    assert [(s["run_id"], s["state"]) for s in status["sessions"]] == [(run_id, "missing")]
    await project.scad("session", "clean", run_id, "--force", env=there)
    assert not (other / "runs" / run_id / "worktrees").exists()
    assert json.loads((other / "runs" / run_id / "run.json").read_text())["container_id"] is None
    ours = await run("docker", "inspect", "-f", "{{.State.Running}}", f"scad-{run_id}")
    assert ours.stdout.strip() == "true"
    mine = json.loads((await project.scad("session", "status", "--json")).stdout)
    assert [(s["run_id"], s["state"]) for s in mine["sessions"]] == [(run_id, "running")]


async def test_a_restarted_container_and_a_flood_of_stdout_are_each_logged_once(
    project: Project,
) -> None:
    # The agent writes 3,000 lines of its own to the container's stdout, fast; its
    # first life then waits to be restarted, so everything runs twice.
    prompt = (
        "RUN: if [ -e /tmp/lived ]; then seq -f 'flood %g' 3000 > /proc/1/fd/1; "
        "else touch /tmp/lived; seq -f 'flood %g' 3000 > /proc/1/fd/1; sleep 100; fi\n"
        "SAY: flooded"
    )
    run_id = await project.start("--tag", "flood", "--headless", "--prompt", prompt)

    async def read_repeatedly() -> None:
        for _ in range(6):
            await project.scad("session", "status")
            await anyio.sleep(0.3)

    async with anyio.create_task_group() as tg:
        tg.start_soon(read_repeatedly)
        tg.start_soon(read_repeatedly)

        async def flooded() -> bool:
            logs = await run("docker", "logs", f"scad-{run_id}", check=False)
            return "flood 3000" in logs.stdout

        await wait_until(flooded, timeout=60)
        await run("docker", "restart", "-t", "0", f"scad-{run_id}")
    await wait_for_exit(run_id)
    await project.scad("session", "logs", run_id)
    envelopes = project.envelopes(run_id)
    claude = [e for e in envelopes if e["src"] == "claude"]
    assert [e["n"] for e in claude] == list(range(len(claude)))
    engine_lines = [
        line
        for line in (await run("docker", "logs", f"scad-{run_id}")).stdout.splitlines()
        if line.strip()
    ]
    assert len(claude) == len(engine_lines)
    texts = [e["text"] for e in claude if "text" in e]
    assert texts.count("flood 1") == 2 and texts.count("flood 3000") == 2  # both lives, once each
    assert sum(1 for e in claude if e.get("data", {}).get("subtype") == "init") == 2


async def test_logs_follow_of_named_runs_ends_when_they_have(project: Project) -> None:
    run_ids = [
        await project.start(
            "--tag", f"named{n}", "--headless", "--prompt", f"SLEEP: {n}\n" + commit_prompt(n)
        )
        for n in (1, 3)
    ]
    with anyio.fail_after(90):
        followed = await project.scad("logs", "-f", *run_ids, "--json")
    lines = [json.loads(line) for line in followed.stdout.splitlines()]
    for run_id in run_ids:
        stored = (project.run_dir(run_id) / "events.jsonl").read_text().splitlines()
        shown = [line for line in lines if line["run_id"] == run_id]
        assert len(shown) == len(stored) and shown[-1]["event"] == "exited", run_id
