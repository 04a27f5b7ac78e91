"""`scad batch` end to end: real engine, real image, real Claude Code, the offline model."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from scad.batch.store import BatchPaths, supervisor_pid
from scad.home import Home
from tests.conftest import in_ci

from .conftest import SCAD, project_config, session_settings
from .sessions_support import GATE, Project, git_log, open_gate, run, wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.claude]

#: Claude gives up on a rate limit after one retry of its own, so a scripted 429
#: ends a run as rate-limited in seconds instead of minutes.
QUICK_RATE_LIMITS = '  CLAUDE_CODE_MAX_RETRIES: "1"\n'


@pytest.fixture
def batch_project(project: Project) -> Iterator[Project]:
    config = project.home / "configs" / "scadtest.yml"
    settings = session_settings(project.model.url).replace(
        'CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1"}',
        'CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1", CLAUDE_CODE_MAX_RETRIES: "1"}',
    )
    config.write_text(project_config("scadtest", project.repo, settings))
    yield project
    for batch in (project.home / "batches").glob("*"):
        pid = supervisor_pid(BatchPaths(Home(project.home), batch.name))
        if pid and pid > 0:
            os.kill(pid, signal.SIGKILL)  # a supervisor this test started and left


class Spawned:
    """A scad command run in the background, its output going to files (read at the end)."""

    def __init__(self, process: anyio.abc.Process, out: Path, err: Path) -> None:
        self.process = process
        self.out_file, self.err_file = out, err

    @classmethod
    async def start(cls, project: Project, tmp_path: Path, name: str, *args: str) -> Spawned:
        out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = await anyio.open_process(
                [SCAD, *args], env=project.env, stdout=stdout, stderr=stderr
            )
        return cls(process, out, err)

    async def wait(self, timeout: float) -> int:
        try:
            with anyio.fail_after(timeout):
                return await self.process.wait()
        finally:
            if self.process.returncode is None:
                self.process.kill()

    @property
    def out(self) -> str:
        return self.out_file.read_text()

    @property
    def err(self) -> str:
        return self.err_file.read_text()


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting for its parent does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def batch_id_of(project: Project) -> str:
    (batch,) = (project.home / "batches").iterdir()
    return batch.name


def batch_events(project: Project, batch_id: str) -> list[dict[str, Any]]:
    text = (project.home / "batches" / batch_id / "events.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


async def open_gates(project: Project, batch_id: str) -> None:
    """Open the gate of every run of the batch, as each comes, until cancelled."""
    while True:
        for run_id in runs_of(project, batch_id).values():
            if project.clone(run_id).is_dir():
                open_gate(project, run_id)
        await anyio.sleep(0.2)


def runs_of(project: Project, batch_id: str) -> dict[int, str]:
    """Item -> run id, from the run records."""
    found = {}
    for record in (project.home / "runs").glob("*/run.json"):
        data = json.loads(record.read_text())
        if data.get("batch_id") == batch_id:
            found[data["item"]] = data["run_id"]
    return found


async def running_containers(tag: str) -> list[str]:
    out = await run(
        "docker", "ps", "--filter", "label=scad.run", "--format", '{{.Label "scad.run"}}'
    )
    return [name for name in out.stdout.split() if f"-{tag}-" in name]


async def containers_made(tag: str) -> dict[str, str]:
    """Run id -> state of every container of the runs tagged ``tag``, whatever its state."""
    out = await run(
        "docker", "ps", "-a", "--filter", "label=scad.run",
        "--format", '{{.Label "scad.run"}} {{.State}}',
    )  # fmt: skip
    made = dict(line.split() for line in out.stdout.splitlines())
    return {run_id: state for run_id, state in made.items() if f"-{tag}-" in run_id}


def commit(n: int) -> str:
    return f"RUN: sleep 2 && echo {n} > f{n}.txt && git add f{n}.txt && git commit -qm 'item {n}'\nSAY: committed {n}"


@pytest.mark.timeout(900)  # beyond its waits' own bounds
async def test_a_batch_of_twelve(batch_project: Project, tmp_path: Path) -> None:
    """Mixed prompts at --parallel 4: the right outcome for each, the rate-limited one
    retried to success, the hung one stopped, never more than 4 running; Ctrl-C in
    the view leaves the batch (queued prompts too) going, and `logs -f --batch`
    then shows every event once."""
    project = batch_project
    prompts = [commit(n) for n in range(1, 7)]
    prompts += [f"SLEEP: 3\nSAY: slept {n}" for n in range(7, 10)]
    prompts += ["FAIL: 429 x2\nSAY: through at last", "HANG", "SAY: quick"]
    (tmp_path / "prompts.txt").write_text("\n---\n".join(prompts) + "\n")
    view = await Spawned.start(
        project, tmp_path, "view", "batch", "scadtest", "--tag", "mix",
        "-f", str(tmp_path / "prompts.txt"), "--parallel", "4", "--retries", "1",
        "--backoff", "1s", "--idle-timeout", "20s",
    )  # fmt: skip
    most = 0

    async def some_started() -> bool:
        nonlocal most
        most = max(most, len(await running_containers("mix")))
        return most >= 2

    # The view shows the batch while it runs; then it is interrupted.
    await wait_until(some_started, timeout=120)
    view.process.send_signal(signal.SIGINT)
    assert await view.wait(30) == 130, view.err
    batch_id = batch_id_of(project)
    assert f"scad batch watch {batch_id}" in view.err
    assert f"scad logs -f --batch {batch_id}" in view.err
    assert view.out.startswith(f"batch {batch_id}: 12 prompts, 4 at once")
    pid = supervisor_pid(BatchPaths(Home(project.home), batch_id))
    assert pid is not None  # the batch goes on without its view

    # Following the batch's logs to its end, while sampling how many run at once.
    logs = await Spawned.start(
        project, tmp_path, "logs", "logs", "-f", "--batch", batch_id, "--json"
    )
    with anyio.fail_after(300):
        while logs.process.returncode is None:
            most = max(most, len(await running_containers("mix")))
            await anyio.sleep(0.3)
    assert await logs.wait(30) == 0, logs.err
    shown = logs.out
    assert 2 <= most <= 4
    assert supervisor_pid(BatchPaths(Home(project.home), batch_id)) is None
    await wait_until(lambda: not alive(pid), timeout=30)  # the supervisor left with its batch

    status = await project.scad("batch", "status", batch_id, "--json", check=False)
    assert status.returncode == 1  # one run hung
    rows = {row["item"]: row for row in json.loads(status.stdout)["rows"]}
    assert {n: (r["outcome"], r["attempts"]) for n, r in rows.items()} == {
        **{n: ("succeeded", 1) for n in range(1, 10)},
        10: ("succeeded", 2),  # rate-limited, then retried
        11: ("hung", 2),  # the watchdog stopped it, twice
        12: ("succeeded", 1),
    }
    runs = runs_of(project, batch_id)
    assert sorted(runs) == list(range(1, 13))
    for n in range(1, 7):
        assert git_log(project.clone(runs[n])) == [f"item {n}", "init"]

    # Every event of every run is in its log, and `logs -f --batch` showed each once.
    seen = [(line["run_id"], line["seq"]) for line in map(json.loads, shown.splitlines())]
    assert len(seen) == len(set(seen))
    logged = {(run_id, e["seq"]) for run_id in runs.values() for e in project.envelopes(run_id)}
    assert set(seen) == logged
    for n, run_id in runs.items():
        envelopes = project.envelopes(run_id)
        lives = [e["cid"] for e in envelopes if e.get("event") in ("started", "resumed")]
        assert len(lives) == rows[n]["attempts"]
        for cid in lives:
            lines = [e["n"] for e in envelopes if e["src"] == "claude" and e["cid"] == cid]
            assert lines == list(range(len(lines)))
            assert any(e.get("event") == "exited" and e["cid"] == cid for e in envelopes)
        kept = (await run("docker", "logs", f"scad-{run_id}")).stdout.splitlines()
        last = [e for e in envelopes if e["src"] == "claude" and e["cid"] == lives[-1]]
        assert [json.loads(line) for line in kept if line.strip()] == [e["data"] for e in last]
    retried = project.envelopes(runs[10])
    assert [e["event"] for e in retried if e["src"] == "scad"] == [
        "created", "started", "exited", "retry", "resumed", "exited",
    ]  # fmt: skip
    assert any(e["src"] == "claude" and e["data"].get("subtype") == "api_retry" for e in retried)
    notes = [
        e.get("detail") for e in batch_events(project, batch_id) if e["event"] == "concurrency"
    ]
    assert any("the API answered 429" in (note or "") for note in notes)


async def test_a_killed_supervisor_is_picked_up_and_nothing_runs_twice(
    batch_project: Project, tmp_path: Path
) -> None:
    project = batch_project
    (tmp_path / "p.jsonl").write_text(
        "".join(json.dumps({"prompt": f"{GATE}\nSAY: item {n}"}) + "\n" for n in range(1, 7))
    )
    view = await Spawned.start(
        project, tmp_path, "view", "batch", "scadtest", "--tag", "kill",
        "-f", str(tmp_path / "p.jsonl"), "-j", "3",
    )  # fmt: skip

    async def three_running() -> bool:
        return len(await running_containers("kill")) == 3

    await wait_until(three_running, timeout=120)
    batch_id = batch_id_of(project)
    pid = supervisor_pid(BatchPaths(Home(project.home), batch_id))
    assert pid is not None and pid > 0
    os.kill(pid, signal.SIGKILL)
    assert await view.wait(30) == 1  # the view saw its supervisor die
    status = await project.scad("batch", "status", batch_id, check=False)
    assert (
        f"the batch's supervisor is not running; pick it up with:\n  scad batch resume {batch_id}"
        in status.stdout
    )
    assert len(await running_containers("kill")) == 3  # the runs go on without it
    async with anyio.create_task_group() as tg:
        tg.start_soon(open_gates, project, batch_id)
        resumed = await project.scad("batch", "resume", batch_id, "--foreground", "--json")
        tg.cancel_scope.cancel()
    view_json = json.loads(resumed.stdout)
    assert [row["outcome"] for row in view_json["rows"]] == ["succeeded"] * 6
    runs = runs_of(project, batch_id)
    assert sorted(runs) == list(range(1, 7))  # one run a prompt
    for n, run_id in runs.items():
        envelopes = project.envelopes(run_id)
        # One life each: made, started once (in the run it had, for one its supervisor
        # had made but not started when it was killed), ended.
        made, life, ended = [e.get("event") for e in envelopes if e["src"] == "scad"]
        assert (made, ended) == ("created", "exited") and life in ("started", "resumed")
        results = [e for e in envelopes if e["src"] == "claude" and e["data"]["type"] == "result"]
        assert [r["data"]["result"] for r in results] == [f"item {n}"]  # ran once, logged once


async def test_a_budget_stops_the_batch(batch_project: Project) -> None:
    """The first prompt spends more than the budget: the one running beside it is
    stopped, and the rest never start."""
    project = batch_project
    prompts = ["TOKENS: 400000 2000\nSAY: expensive"] + ["SLEEP: 60\nSAY: slow"] * 4
    result = await project.scad(
        "batch", "scadtest", "--tag", "cost", *[arg for p in prompts for arg in ("-p", p)],
        "-j", "2", "--budget-usd", "0.2", "--foreground", "--json", check=False,
    )  # fmt: skip
    assert result.returncode == 1
    view = json.loads(result.stdout)
    statuses = [row["outcome"] for row in view["rows"]]
    # The expensive one may be stopped too, if the budget ran out before it exited.
    # The one beside it is stopped, or refused by the gateway (budget); the rest are
    # stopped or never start.
    assert statuses[0] in ("succeeded", "cancelled")
    assert statuses[1] in ("cancelled", "budget", "succeeded"), view["rows"][1]
    # The third may start before the monitor reads the spend: the gateway refuses it.
    assert statuses[2] in ("cancelled", "budget"), view["rows"][2]
    assert set(statuses[3:]) == {"cancelled"}
    assert view["budget_spent"] and view["totals"]["cost_usd"] >= 0.2
    started = [e for e in batch_events(project, view["batch_id"]) if e["event"] == "started"]
    assert len(started) <= 3  # no start once the budget was seen spent
    assert [r["detail"] for r in view["rows"][3:]] == ["not started: the budget is spent"] * 2
    assert any("budget spent" in note for note in view["notes"])
    assert await running_containers("cost") == []


async def test_runs_are_made_ahead_of_a_free_slot_and_started_in_order(
    batch_project: Project, tmp_path: Path
) -> None:
    """More prompts than --parallel: while the first runs, the next is made (its
    container created) and waits for the slot, and no more than that; each starts
    in its turn, and every prompt has one container and one result."""
    project = batch_project
    prompts = [f"{GATE}\nSAY: item 1"] + [f"SAY: item {n}" for n in range(2, 5)]
    batch = await Spawned.start(
        project, tmp_path, "ahead", "batch", "scadtest", "--tag", "ahead",
        *[arg for p in prompts for arg in ("-p", p)], "-j", "1", "--foreground", "--json",
    )  # fmt: skip

    async def second_made_ahead() -> bool:
        states = sorted((await containers_made("ahead")).values())
        return states == ["created", "running"]

    await wait_until(second_made_ahead, timeout=120)
    batch_id = batch_id_of(project)
    runs = runs_of(project, batch_id)
    assert sorted(runs) == [1, 2]  # one made ahead (--parallel 1), no more
    made = await containers_made("ahead")
    assert (made[runs[1]], made[runs[2]]) == ("running", "created")
    open_gate(project, runs[1])
    assert await batch.wait(180) == 0, batch.err
    view = json.loads(batch.out)
    assert [row["outcome"] for row in view["rows"]] == ["succeeded"] * 4
    events = batch_events(project, batch_id)
    assert [e["item"] for e in events if e["event"] == "started"] == [1, 2, 3, 4]
    runs = runs_of(project, batch_id)
    assert sorted(runs) == [1, 2, 3, 4]
    assert await containers_made("ahead") == {runs[n]: "exited" for n in range(1, 5)}
    for n, run_id in runs.items():
        envelopes = project.envelopes(run_id)
        assert [e["event"] for e in envelopes if e["src"] == "scad"] == [
            "created", "started", "exited",
        ]  # fmt: skip
        results = [e for e in envelopes if e["src"] == "claude" and e["data"]["type"] == "result"]
        assert [r["data"]["result"] for r in results] == [f"item {n}"]


async def test_a_bad_prompt_file_starts_nothing(batch_project: Project, tmp_path: Path) -> None:
    project = batch_project
    (tmp_path / "p.jsonl").write_text('{"prompt": "SAY: fine"}\n{"prompt": "x", "tag": "a b"}\n')
    before = (await run("docker", "ps", "-aq")).stdout
    result = await project.scad(
        "batch", "scadtest", "-t", "bad", "-f", str(tmp_path / "p.jsonl"), check=False
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"scad: error: {tmp_path / 'p.jsonl'}:2: invalid tag")
    assert (await run("docker", "ps", "-aq")).stdout == before
    assert not (project.home / "batches").exists()


async def test_ctrl_c_in_the_foreground_stops_the_runs(
    batch_project: Project, tmp_path: Path
) -> None:
    project = batch_project
    process = await Spawned.start(
        project, tmp_path, "fg", "batch", "scadtest", "--tag", "fg", "-p", "HANG", "-p", "HANG",
        "-p", "SAY: later", "-j", "2", "--foreground",
    )  # fmt: skip

    async def both_running() -> bool:
        return len(await running_containers("fg")) == 2

    await wait_until(both_running, timeout=120)
    process.process.send_signal(signal.SIGINT)
    assert await process.wait(60) == 1, process.err
    assert "3 cancelled" in process.out, process.err
    assert await containers_made("fg") == {}  # the third, made ahead of a slot, too
    batch_id = batch_id_of(project)
    runs = runs_of(project, batch_id)
    assert sorted(runs) == [1, 2]  # the third never started
    for run_id in runs.values():
        events = [e.get("event") for e in project.envelopes(run_id) if e["src"] == "scad"]
        assert events[-1] == "cancelled"


class SecondEngine:
    """A `dockerd` of the test's own (socket, data and exec roots, and bridge), to
    restart at will without disturbing the engine the other tests use. (With
    `--bridge none` a dockerd deletes `docker0`, the other engine's bridge.)"""

    def __init__(self, root: Path, *, live_restore: bool = False) -> None:
        self.root = root
        self.live_restore = live_restore
        self.socket = f"unix://{root}/docker.sock"
        self.bridge = f"scadbr{os.getpid() % 100000}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.root / "dockerd.log").open("ab") as log:
            self.process = subprocess.Popen(
                ["dockerd", "--host", self.socket, "--data-root", f"{self.root}/data",
                 "--exec-root", f"{self.root}/exec", "--pidfile", f"{self.root}/docker.pid",
                 "--bridge", self.bridge, "--iptables=false", "--ip6tables=false",
                 *(["--live-restore"] if self.live_restore else [])],
                stdout=log, stderr=log,
            )  # fmt: skip

    async def ready(self) -> None:
        async def answers() -> bool:
            return (await run("docker", "-H", self.socket, "info", check=False)).returncode == 0

        await wait_until(answers, timeout=60)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # as a restart does: its containers are stopped
            self.process.wait(timeout=60)


@pytest.fixture
async def second_engine(built_image: Any) -> Any:
    async for engine in _second_engine(built_image, live_restore=False):
        yield engine


@pytest.fixture
async def live_restore_engine(built_image: Any) -> Any:
    """A second engine whose restarts leave its containers running."""
    async for engine in _second_engine(built_image, live_restore=True):
        yield engine


async def _second_engine(built_image: Any, *, live_restore: bool) -> Any:
    if shutil.which("dockerd") is None:
        if in_ci():
            pytest.fail("CI needs dockerd to restart an engine of its own")
        pytest.skip("NO DOCKERD: the engine-restart test is skipped")
    if shutil.which("ip") is None:
        if in_ci():
            pytest.fail("CI needs ip (iproute2) to give the second engine a bridge")
        pytest.skip("NO ip COMMAND: the engine-restart test is skipped")
    root = Path(tempfile.mkdtemp(prefix="scad-d2-", dir="/tmp"))  # a socket path must be short
    engine = SecondEngine(root, live_restore=live_restore)
    await run("ip", "link", "add", engine.bridge, "type", "bridge")
    engine.start()
    try:
        await engine.ready()
        image = built_image.tag  # repository:tag
        with anyio.fail_after(600):
            await run("sh", "-c", f"docker save {image} | docker -H {engine.socket} load")
        yield engine
    finally:
        engine.stop()
        with anyio.move_on_after(60):
            # dockerd leaves its network namespace mounted under the exec root.
            await run("umount", f"{root}/exec/netns/default", check=False)
            await run("ip", "link", "delete", engine.bridge, check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.timeout(600)  # beyond its waits' own bounds
async def test_an_engine_restart_mid_batch(
    batch_project: Project, second_engine: SecondEngine, tmp_path: Path
) -> None:
    """No live-restore: the restart kills the running containers. Their runs end
    crashed, are retried once the engine is back, and every prompt runs once to success."""
    project = batch_project
    project.env["DOCKER_HOST"] = second_engine.socket
    batch = await Spawned.start(
        project, tmp_path, "batch", "batch", "scadtest", "--tag", "restart",
        *[arg for n in (1, 2, 3) for arg in ("-p", f"{GATE}\nSAY: done {n}")],
        "-j", "3", "--retries", "3", "--backoff", "2s", "--foreground", "--json",
    )  # fmt: skip

    async def three_running() -> bool:
        out = await run("docker", "-H", second_engine.socket, "ps", "-q", check=False)
        return len(out.stdout.split()) == 3

    await wait_until(three_running, timeout=120)
    second_engine.stop()
    second_engine.start()
    await second_engine.ready()
    for run_id in runs_of(project, batch_id_of(project)).values():
        open_gate(project, run_id)  # the retries go through
    assert await batch.wait(240) == 0, batch.out + batch.err
    view = json.loads(batch.out)
    assert [row["outcome"] for row in view["rows"]] == ["succeeded"] * 3
    ends = [e for e in batch_events(project, view["batch_id"]) if e["event"] == "attempt"]
    for n in (1, 2, 3):
        mine = [e["status"] for e in ends if e["item"] == n]
        assert mine[0] == "crashed" and mine[-1] == "succeeded", mine
        assert set(mine[1:-1]) <= {"crashed"}
        run_id = view["rows"][n - 1]["run_id"]
        results = [
            e
            for e in project.envelopes(run_id)
            if e["src"] == "claude" and e["data"]["type"] == "result"
        ]
        assert [r["data"]["result"] for r in results] == [f"done {n}"]  # once, to success


@pytest.mark.timeout(600)  # beyond its waits' own bounds
async def test_a_run_whose_engine_restarts_under_it_is_followed_never_retried_beside_itself(
    batch_project: Project, live_restore_engine: SecondEngine, tmp_path: Path
) -> None:
    """With live-restore a restart leaves the container running while the supervisor
    loses the engine: it waits for the engine, follows the same container to its real
    exit, and never starts a second attempt of the prompt beside it."""
    project = batch_project
    engine = live_restore_engine
    project.env["DOCKER_HOST"] = engine.socket
    batch = await Spawned.start(
        project, tmp_path, "batch", "batch", "scadtest", "--tag", "live",
        "-p", f"{GATE}\nSAY: done once", "--retries", "3", "--backoff", "1s",
        "--foreground", "--json",
    )  # fmt: skip

    async def running() -> list[str]:
        out = await run("docker", "-H", engine.socket, "ps", "-q", "--no-trunc", check=False)
        return out.stdout.split()

    async def one_running() -> bool:
        return len(await running()) == 1

    await wait_until(one_running, timeout=120)
    before = await running()
    engine.stop()
    engine.start()
    await engine.ready()
    assert await running() == before  # the container lived on through the restart
    (run_id,) = runs_of(project, batch_id_of(project)).values()
    open_gate(project, run_id)
    assert await batch.wait(300) == 0, batch.err
    view = json.loads(batch.out)
    assert [row["outcome"] for row in view["rows"]] == ["succeeded"]
    ends = [e for e in batch_events(project, view["batch_id"]) if e["event"] == "attempt"]
    assert [e["status"] for e in ends] == ["succeeded"]  # one attempt, from its real exit
    envelopes = project.envelopes(run_id)
    starts = [e for e in envelopes if e["src"] == "scad" and e.get("event") == "started"]
    assert [e["cid"] for e in starts] == [before[0][:12]]  # one container ever ran it
    results = [
        e["data"]["result"]
        for e in envelopes
        if e["src"] == "claude" and e["data"]["type"] == "result"
    ]
    assert results == ["done once"]
    exits = [e for e in envelopes if e["src"] == "scad" and e.get("event") == "exited"]
    assert [e["exit_code"] for e in exits] == [0]


async def test_stopping_a_batch_in_the_background(batch_project: Project, tmp_path: Path) -> None:
    """`batch stop` asks the background supervisor to stop: its runs are stopped and
    kept (their logs too), the queued prompt never starts, and nothing stays behind."""
    project = batch_project
    view = await Spawned.start(
        project, tmp_path, "view", "batch", "scadtest", "--tag", "stop",
        "-p", "HANG", "-p", "HANG", "-p", "SAY: never", "-j", "2",
    )  # fmt: skip

    async def both_running() -> bool:
        return len(await running_containers("stop")) == 2

    await wait_until(both_running, timeout=120)
    batch_id = batch_id_of(project)

    def both_talking() -> bool:  # each Claude has said something (and now hangs)
        found = runs_of(project, batch_id)  # (the third's run is made ahead of a slot)
        runs = [found[n] for n in (1, 2) if n in found]
        return len(runs) == 2 and all(
            any(e["src"] == "claude" for e in project.envelopes(run_id)) for run_id in runs
        )

    await wait_until(both_talking, timeout=60)
    pid = supervisor_pid(BatchPaths(Home(project.home), batch_id))
    assert pid is not None and pid > 0
    await project.scad("batch", "stop", batch_id)
    assert await view.wait(60) == 1
    await wait_until(lambda: not alive(pid), timeout=30)  # it exits once its lock is let go
    assert await containers_made("stop") == {}  # the third, made ahead of a slot, too
    status = json.loads(
        (await project.scad("batch", "status", batch_id, "--json", check=False)).stdout
    )
    assert [row["outcome"] for row in status["rows"]] == ["cancelled"] * 3
    assert status["rows"][2]["detail"] == "not started: the batch was stopped"
    assert status["supervisor"] == "ended"
    assert sorted(runs_of(project, batch_id)) == [1, 2]  # the third left no run
    for run_id in runs_of(project, batch_id).values():
        envelopes = project.envelopes(run_id)
        assert envelopes[-1]["event"] == "cancelled"
        kinds = [e["data"].get("subtype") for e in envelopes if e["src"] == "claude"]
        assert kinds[:1] == ["init"]  # what it printed before it was stopped is kept


async def test_a_batch_started_beside_a_folder_named_scad(
    batch_project: Project, tmp_path: Path
) -> None:
    """The background supervisor imports scad from where it is installed: a folder
    named ``scad`` where the command was typed is neither imported nor run."""
    project = batch_project
    here, marker = tmp_path / "checkouts", tmp_path / "planted-code-ran"
    (here / "scad").mkdir(parents=True)
    (here / "scad" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    result = await anyio.run_process(
        [SCAD, "batch", "scadtest", "--tag", "here", "-p", "SAY: from here", "--json"],
        cwd=here, env=project.env, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    batch_id = batch_id_of(project)
    status = json.loads((await project.scad("batch", "status", batch_id, "--json")).stdout)
    assert [row["outcome"] for row in status["rows"]] == ["succeeded"]
    assert not marker.exists()


async def test_a_background_batch_is_made_without_the_engine_client_and_handed_to_its_standby(
    batch_project: Project,
) -> None:
    """The command looks its built image up on the engine's socket, and never imports
    the engine's client; the supervisor it started while it made the batch (its
    standby) is the one that supervises it."""
    project = batch_project
    result = await project.scad(
        "batch", "scadtest", "--tag", "lean", "-p", "SAY: lean", "--json",
        env={"PYTHONPROFILEIMPORTTIME": "1"},
    )  # fmt: skip
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "scad.batch.run" not in imported and "scad.batch.standby" in imported
    assert not {"aiodocker", "aiohttp"} & imported
    batch_id = batch_id_of(project)
    status = json.loads((await project.scad("batch", "status", batch_id, "--json")).stdout)
    assert [row["outcome"] for row in status["rows"]] == ["succeeded"]
    supervisor_log = project.home / "batches" / batch_id / "supervisor.log"
    # The command ends as the batch's log does; its supervisor says so a moment later.
    ended = f"batch {batch_id} ended: 1/1 succeeded"
    await wait_until(lambda: ended in supervisor_log.read_text(), timeout=30)
    log = supervisor_log.read_text()
    # The standby imported all that supervising takes (its event loop up) before it
    # had a log: a supervisor started after the batch was made would have listed its
    # imports there, as would one that imported the engine's client to supervise.
    assert log.strip() == ended
