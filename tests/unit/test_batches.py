"""A batch on disk: its state folded from its log, what views show, and the
supervisor's process (stop, resume, retry) when it is not running."""

from __future__ import annotations

import json
import os
from pathlib import Path

import anyio
import pytest

from scad.batch.events import SupervisorTook
from scad.batch.process import open_batch_engine, requeue, stop_batch
from scad.batch.prompts import BatchPrompt
from scad.batch.state import batch_state
from scad.batch.store import (
    BatchItem,
    BatchManifest,
    BatchOptions,
    BatchPaths,
    SupervisorLock,
    append_batch_event,
    item_tags,
    load_manifest,
    read_batch_events,
    save_manifest,
    supervisor_pid,
)
from scad.batch.view import BatchWatcher
from scad.errors import NotFound, SessionError, UsageError
from scad.home import Home
from scad.runs.envelopes import Started
from scad.runs.events import LogLine, append_event, ingest
from scad.runs.records import RunPaths, RunRecord, save_run
from tests.fakes import FakeEngine, batch_event
from tests.unit.test_dispatch import drain

pytestmark = pytest.mark.anyio

BATCH = "p-b-Nov27-1000"


def manifest(count: int = 3, **options: object) -> BatchManifest:
    items = [BatchItem(index=n, tag=f"b-{n:02d}", prompt=f"p{n}") for n in range(1, count + 1)]
    return BatchManifest(batch_id=BATCH, config="p", tag="b", created="2026-11-27T10:00:00.000Z",
                         image="scad-p:x", source="t", items=items,
                         options=BatchOptions(**options))  # type: ignore[arg-type]  # fmt: skip


@pytest.fixture
def home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "home")
    paths = BatchPaths(home, BATCH)
    paths.root.mkdir(parents=True)
    save_manifest(paths, manifest())
    return home


def event(home: Home, name: str, **fields: object) -> None:
    append_batch_event(BatchPaths(home, BATCH), batch_event(name, **fields))


def test_the_state_follows_attempts_retries_and_requeues(home: Home) -> None:
    event(home, "supervisor", pid=5)
    event(home, "started", item=1, run_id="r1", attempt=1)
    event(home, "started", item=2, run_id="r2", attempt=1)
    event(home, "attempt", item=1, run_id="r1", attempt=1, status="rate-limited", final=False)
    state = batch_state(manifest(), read_batch_events(BatchPaths(home, BATCH)))
    assert [(i.status, i.run_id, i.attempts) for i in state.items] == [
        ("retrying", "r1", 1), ("running", "r2", 0), ("queued", None, 0),
    ]  # fmt: skip
    event(home, "started", item=1, run_id="r1", attempt=2)
    event(home, "attempt", item=1, run_id="r1", attempt=2, status="succeeded", final=True)
    event(home, "attempt", item=2, run_id="r2", attempt=1, status="failed", final=True, detail="no")
    event(home, "attempt", item=3, attempt=1, status="cancelled", final=True)
    event(home, "concurrency", limit=2, detail="concurrency 4 -> 2: the API answered 429")
    event(home, "ended")
    state = batch_state(manifest(), read_batch_events(BatchPaths(home, BATCH)))
    assert [(i.status, i.attempts, i.final) for i in state.items] == [
        ("succeeded", 2, True), ("failed", 1, True), ("cancelled", 1, True),
    ]  # fmt: skip
    assert state.ended and not state.succeeded and state.limit == 2
    assert state.notes == ["concurrency 4 -> 2: the API answered 429"]
    assert state.items[0].started and state.items[0].finished
    assert requeue(home, BATCH, failed_only=True) == [2, 3]
    state = batch_state(manifest(), read_batch_events(BatchPaths(home, BATCH)))
    assert [(i.status, i.final) for i in state.items] == [
        ("succeeded", True), ("retrying", False), ("queued", False),
    ]  # fmt: skip
    assert not state.ended


def test_the_state_counts_fix_attempts_apart_until_a_requeue(home: Home) -> None:
    """A fix attempt follows each checks-failed end that is not final: counted, as
    the failures that called for it are kept, until the item is put back in the queue."""
    failure = {"name": "tests", "exit_code": 1, "output": "1 failed"}
    event(home, "supervisor", pid=5)
    event(home, "started", item=1, run_id="r1", attempt=1)
    event(home, "checked", item=1, run_id="r1", attempt=1, passed=["lint"], failed=[failure])
    event(home, "attempt", item=1, run_id="r1", attempt=1, status="checks-failed", final=False)
    event(home, "started", item=1, run_id="r1", attempt=2)
    event(home, "attempt", item=1, run_id="r1", attempt=2, status="crashed", final=False)
    item = batch_state(manifest(), read_batch_events(BatchPaths(home, BATCH))).items[0]
    assert (item.status, item.tries, item.fixes) == ("retrying", 2, 1)
    assert [f.name for f in item.failing] == ["tests"]
    event(home, "started", item=1, run_id="r1", attempt=3)
    event(home, "checked", item=1, run_id="r1", attempt=3, failed=[failure])
    event(home, "attempt", item=1, run_id="r1", attempt=3, status="checks-failed", final=True)
    for other in (2, 3):
        event(home, "attempt", item=other, attempt=1, status="succeeded", final=True)
    event(home, "ended")
    item = batch_state(manifest(), read_batch_events(BatchPaths(home, BATCH))).items[0]
    assert (item.status, item.final, item.fixes, item.attempts) == ("checks-failed", True, 1, 3)
    assert requeue(home, BATCH, failed_only=True) == [1]
    item = batch_state(manifest(), read_batch_events(BatchPaths(home, BATCH))).items[0]
    assert (item.status, item.tries, item.fixes, item.failing) == ("retrying", 0, 0, [])


def test_a_partial_last_line_is_left_for_later(home: Home) -> None:
    event(home, "supervisor", pid=5)
    with open(BatchPaths(home, BATCH).events, "ab") as log:
        log.write(b'{"ts":"2026-11-27T10:00:00.000Z","event":"ended"')  # a writer killed mid-line
    assert [type(e) for e in read_batch_events(BatchPaths(home, BATCH))] == [SupervisorTook]


def test_item_tags_number_or_name_each_prompt() -> None:
    prompts = [BatchPrompt(prompt="a"), BatchPrompt(prompt="b", tag="login")]
    assert item_tags("fix", prompts) == ["fix-01", "fix-login"]
    assert item_tags("f", [BatchPrompt(prompt="x")] * 120)[-1] == "f-120"
    with pytest.raises(UsageError, match=r"line 3: the run tag .* is longer than 40"):
        item_tags("t" * 30, [BatchPrompt(prompt="x", tag="y" * 12, line=3)])


def test_resume_and_retry_say_what_they_cannot_do(home: Home) -> None:
    with pytest.raises(SessionError, match=r"has not ended .* `scad batch resume"):
        requeue(home, BATCH, failed_only=True)
    assert requeue(home, BATCH, failed_only=False) == [1, 2, 3]
    for index in (1, 2, 3):
        event(
            home,
            "attempt",
            item=index,
            run_id=f"r{index}",
            attempt=1,
            status="succeeded",
            final=True,
        )
    event(home, "ended")
    with pytest.raises(SessionError, match=r"has ended; .* `scad batch retry"):
        requeue(home, BATCH, failed_only=False)
    with pytest.raises(SessionError, match=r"every prompt .* succeeded; nothing to retry"):
        requeue(home, BATCH, failed_only=True)


def test_a_live_supervisor_keeps_others_off(home: Home) -> None:
    import fcntl
    import os

    paths = BatchPaths(home, BATCH)
    fd = os.open(paths.supervisor, os.O_RDWR | os.O_CREAT)
    os.write(fd, b"4242")
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(SessionError, match=r"being supervised \(pid 4242\)"):
            requeue(home, BATCH, failed_only=False)
    finally:
        os.close(fd)
    assert requeue(home, BATCH, failed_only=False) == [1, 2, 3]  # the lock died with it


async def test_stopping_a_batch_whose_supervisor_died(home: Home) -> None:
    """What the dead supervisor left running is stopped, caught up and removed, as a
    supervisor stops its runs; the rest is cancelled."""
    engine = FakeEngine()
    record = RunRecord(run_id="p-b-01-Nov27-1000", config="p", tag="b-01", mode="headless",
                       image="scad-p:x", branch="scad-p-b-01-Nov27-1000",
                       created="2026-11-27T10:00:00.000Z", repos={}, batch_id=BATCH, item=1)  # fmt: skip
    RunPaths(home, record.run_id).root.mkdir(parents=True)
    from scad.engine._types import ContainerSpec
    from tests.fakes import Script

    engine.script = lambda spec: Script([(1, b'{"type":"system","subtype":"init"}\n')], hang=True)
    record.container_id = await engine.create_container(
        ContainerSpec(image="scad-p:x", name="scad-x", labels={"scad.run": record.run_id})
    )
    save_run(home, record)
    await append_event(RunPaths(home, record.run_id), Started(cid=record.container_id))
    await engine.start(record.container_id)
    event(home, "supervisor", pid=5)
    event(home, "started", item=1, run_id=record.run_id, attempt=1)
    async with anyio.create_task_group() as tg:
        tg.start_soon(drain, engine, record.container_id)  # it runs, with nobody watching
        while not engine.made[record.container_id].printed:
            await anyio.sleep(0.01)
        await stop_batch(engine, home, BATCH)
    state = batch_state(manifest(), read_batch_events(BatchPaths(home, BATCH)))
    assert [i.status for i in state.items] == ["cancelled"] * 3 and state.ended
    assert record.container_id in engine.removed and engine.made == {}
    logged = [
        json.loads(line) for line in RunPaths(home, record.run_id).events.read_text().splitlines()
    ]
    assert [e.get("event") for e in logged] == ["started", None, "exited", "cancelled"]
    assert logged[1]["data"]["subtype"] == "init"  # what it printed was caught up first


async def test_the_view_sums_up_the_runs_logs(home: Home) -> None:
    record = RunRecord(run_id="r1", config="p", tag="b-01", mode="headless", image="x",
                       branch="scad-r1", created="2026-11-27T10:00:00.000Z", repos={})  # fmt: skip
    paths = RunPaths(home, "r1")
    paths.root.mkdir(parents=True)
    save_run(home, record)
    lines = [
        {"type": "system", "subtype": "init", "session_id": "s", "model": "claude-sonnet-4-5"},
        {"type": "assistant", "message": {"id": "m1", "content": [
            {"type": "tool_use", "name": "Bash", "input": {"command": "make test"}}],
            "usage": {"input_tokens": 1000000, "output_tokens": 0}}},
    ]  # fmt: skip
    await ingest(
        paths,
        "c" * 64,
        0,
        [LogLine("2026-11-27T10:00:01.000Z", json.dumps(x).encode()) for x in lines],
    )
    event(home, "supervisor", pid=5)
    event(home, "started", item=1, run_id="r1", attempt=1)
    view = await BatchWatcher(home, BATCH).look()
    row = view.rows[0]
    assert (row.outcome, row.last_tool, row.input_tokens) == ("running", "Bash: make test", 1000000)
    # A conversation still going is priced by its model: a million input tokens of Sonnet.
    assert row.cost_usd == pytest.approx(3.0) and row.cost_estimated
    assert view.supervisor == "dead"  # it said it started, and holds no lock
    assert view.totals.outcomes == {"running": 1, "queued": 2}


async def test_what_an_agent_prints_cannot_lower_the_spend_or_reach_the_terminal(
    home: Home,
) -> None:
    from scad.cli.batch._view import summary

    paths = RunPaths(home, "r1")
    paths.root.mkdir(parents=True)
    forged = [
        {"type": "system", "subtype": "init", "session_id": "s", "model": "claude-sonnet-4-5"},
        {"type": "assistant", "message": {"id": "m1", "content": [
            {"type": "tool_use", "name": "Bash\x1b]0;owned\x07", "input": {"command": "\x1b[2J"}}],
            "usage": {"input_tokens": 1000000, "output_tokens": 0}}},
        {"type": "result", "is_error": True, "num_turns": 1, "total_cost_usd": -1000.0,
         "result": "\x1b[31mred\x1b[0m"},
    ]  # fmt: skip
    lines = [LogLine("2026-11-27T10:00:01.000Z", json.dumps(x).encode()) for x in forged]
    await ingest(paths, "c" * 64, 0, lines)
    event(home, "supervisor", pid=5)
    event(home, "started", item=1, run_id="r1", attempt=1)
    event(home, "attempt", item=1, run_id="r1", attempt=1, status="failed", final=True,
          detail="\x1b[31mred\x1b[0m")  # fmt: skip
    view = await BatchWatcher(home, BATCH).look()
    # The negative result is refused: the conversation is priced by its usage instead.
    assert view.rows[0].cost_usd == pytest.approx(3.0)
    assert view.totals.cost_usd >= 0
    shown = summary(view)
    assert "\x1b" not in shown and "\x07" not in shown


async def test_the_view_counts_what_the_gateway_measured_not_what_a_run_printed(
    home: Home,
) -> None:
    """A run registered with the gateway costs what the gateway measured (a forged
    result counts for nothing); a run made before it, what its log says (a result
    counted for no more than what its tokens cost at the dearest price)."""
    from scad.gateway import register_run
    from scad.runs.gatewaylog import Exchange, encode_event

    INIT = {"type": "system", "subtype": "init", "session_id": "s", "model": "claude-sonnet-4-5"}
    forged = {"type": "result", "is_error": False, "num_turns": 1, "total_cost_usd": 999999.0,
              "result": "done", "usage": {"input_tokens": 1000000, "output_tokens": 0}}  # fmt: skip
    for run_id in ("r1", "r2"):
        paths = RunPaths(home, run_id)
        paths.root.mkdir(parents=True)
        lines = [
            LogLine("2026-11-27T10:00:01.000Z", json.dumps(x).encode()) for x in (INIT, forged)
        ]
        await ingest(paths, "c" * 64, 0, lines)
    register_run(home, "r1", upstream="http://127.0.0.1:1")
    answer = Exchange(ts="t", method="POST", path="/v1/messages", status=200, cost_usd=0.125)
    RunPaths(home, "r1").gateway_events.write_bytes(encode_event(answer) * 2)
    event(home, "supervisor", pid=5)
    event(home, "started", item=1, run_id="r1", attempt=1)
    event(home, "started", item=2, run_id="r2", attempt=1)
    watcher = BatchWatcher(home, BATCH)
    view = await watcher.look()
    measured, printed = view.rows[0], view.rows[1]
    assert (measured.cost_usd, measured.cost_measured) == (0.25, True)
    assert (printed.cost_usd, printed.cost_measured) == (15.0, False)
    assert view.totals.cost_usd == 15.25
    events = RunPaths(home, "r1").gateway_events
    events.write_bytes(events.read_bytes() + encode_event(answer))  # read on from the last look
    assert (await watcher.look()).rows[0].cost_usd == 0.375


async def test_the_live_table_shows_each_run_and_the_totals(home: Home) -> None:
    import io

    from rich.console import Console

    from scad.cli.batch._view import live_screen

    event(home, "supervisor", pid=5)
    event(home, "concurrency", limit=2, detail="concurrency 4 -> 2: the API answered 429")
    event(home, "started", item=1, run_id="p-b-01-Nov27-1000", attempt=1)
    event(
        home, "attempt", item=1, run_id="p-b-01-Nov27-1000", attempt=1, status="hung", final=False
    )
    view = await BatchWatcher(home, BATCH).look()
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(live_screen(view, 200))
    text = out.getvalue()
    assert "p-b-01-Nov27-1000" in text and "retrying (try 2)" in text
    assert text.count("queued") == 3  # two rows, and the totals
    assert "NODE" not in text  # a batch on the local engine: no column for nodes
    assert "3 prompts: 2 queued, 1 retrying | at once 2/4" in text


async def test_a_supervisor_that_ends_at_once_says_why(home: Home) -> None:
    """The batch's config is gone: the background supervisor cannot start, and the
    command that spawned it shows its last word instead of waiting."""
    from scad.batch.process import spawn_supervisor

    with pytest.raises(SessionError) as raised:
        await spawn_supervisor(home, BATCH)
    message = str(raised.value)
    assert message.startswith(f"the supervisor of {BATCH} ended at once: scad: error: ")
    assert message.endswith('no config named "p"; create one with `scad config new p`')
    assert supervisor_pid(BatchPaths(home, BATCH)) is None


PLANTED = {"__init__.py": "open({marker!r}, 'w').write('ran')\n"}


@pytest.mark.parametrize(
    ("planted", "python_path"),
    [
        pytest.param({}, None, id="a-bare-folder"),
        pytest.param(PLANTED, None, id="a-package"),
        # An empty entry (`PYTHONPATH=$PYTHONPATH:/x` with none before) means the folder.
        pytest.param(PLANTED, ":/nonexistent", id="an-empty-python-path-entry"),
    ],
)
async def test_the_supervisor_imports_the_installed_scad_wherever_it_starts(
    home: Home,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    planted: dict[str, str],
    python_path: str | None,
) -> None:
    """Started from a folder that holds a folder named ``scad``, the background
    supervisor still runs the installed scad (it gets as far as finding the config
    gone), and nothing in that folder runs."""
    from scad.batch.process import spawn_supervisor

    here = tmp_path / "elsewhere"
    marker = tmp_path / "planted-code-ran"
    (here / "scad").mkdir(parents=True)
    for name, text in planted.items():
        (here / "scad" / name).write_text(text.format(marker=str(marker)))
    monkeypatch.chdir(here)
    if python_path is not None:
        monkeypatch.setenv("PYTHONPATH", python_path)
    with pytest.raises(SessionError) as raised:
        await spawn_supervisor(home, BATCH)
    assert str(raised.value).endswith('no config named "p"; create one with `scad config new p`')
    assert not marker.exists()


@pytest.mark.anyio
async def test_a_supervisor_cancelled_inside_its_lock_drops_it(tmp_path: Path) -> None:
    paths = BatchPaths(Home(tmp_path), "p-b-Dec06-1000")
    paths.root.mkdir(parents=True)
    with anyio.CancelScope() as scope:
        async with SupervisorLock(paths):
            assert supervisor_pid(paths) == os.getpid()
            scope.cancel()
            await anyio.sleep(1)  # cancelled here: the lock must still go
    assert scope.cancelled_caught
    assert supervisor_pid(paths) is None


#: A node its owner named to rewrite the screen, and at length.
EVIL_NODE = "evil\x1b[2J\x1b]52;c;Zm9v\x07" + "n" * 10_000


async def test_the_views_name_each_items_node_while_it_runs_and_after_it_ends(
    home: Home,
) -> None:
    """Item 1 moved from a node to another and succeeded there; item 2 runs on a node
    named to attack the terminal; item 3 crashed on a node and runs again locally."""
    import io

    from rich.console import Console

    from scad.cli.batch._view import live_screen, summary
    from tests.unit.test_summaries import Log, crashed, retried_across_nodes, running

    ids = [f"p-b-{n:02d}-Nov27-1000" for n in (1, 2, 3)]
    retried_across_nodes(Log(RunPaths(home, ids[0])))
    running(Log(RunPaths(home, ids[1])), node=EVIL_NODE)
    log = Log(RunPaths(home, ids[2]))
    crashed(log, node="node-1")
    running(log.scad("retry", cid=None, detail="attempt 2"))
    event(home, "supervisor", pid=5)
    for item, run_id in enumerate(ids, 1):
        event(home, "started", item=item, run_id=run_id, attempt=1)
    event(home, "attempt", item=1, run_id=ids[0], attempt=1, status="crashed", final=False)
    event(home, "attempt", item=3, run_id=ids[2], attempt=1, status="crashed", final=False)
    event(home, "started", item=1, run_id=ids[0], attempt=2)
    event(home, "started", item=3, run_id=ids[2], attempt=2)
    event(home, "attempt", item=1, run_id=ids[0], attempt=2, status="succeeded", final=True)

    view = await BatchWatcher(home, BATCH).look()
    assert [(r.outcome, r.node) for r in view.rows] == [
        ("succeeded", "node-2"), ("running", EVIL_NODE), ("running", None),
    ]  # fmt: skip
    out = io.StringIO()
    Console(file=out, width=80, color_system=None).print(live_screen(view, 80))
    for shown in (out.getvalue().splitlines(), summary(view, width=80).splitlines()):
        text = "\n".join(shown)
        assert max(len(line) for line in shown) <= 80, text
        assert "\x1b" not in text and "\x07" not in text, text
        header, first, second, third = shown[1:5] if shown[0].startswith("batch") else shown[:4]
        assert "NODE" in header.split()
        column = header.index("NODE")
        nodes = [line[column:].split()[0] for line in (first, second, third)]
        assert nodes[0] == "node-2" and nodes[1].startswith("evil") and nodes[2] == "-", text
    wide = summary(view, wide=True).splitlines()
    assert "\\x1b[2J\\x1b]52;c;Zm9v\\x07nnn" in wide[2] and len(wide[2]) < 200, wide[2]


def test_a_manifest_whose_burst_is_below_one_is_unreadable(home: Home) -> None:
    """Hand-edited or made by a scad to come: refused in one line, not a traceback."""
    path = Path(BatchPaths(home, BATCH).manifest)
    data = json.loads(path.read_text())
    data["options"]["burst"] = 0
    path.write_text(json.dumps(data))
    with pytest.raises(NotFound, match=rf"^batch {BATCH} has an unreadable manifest \(.*burst"):
        load_manifest(home, BATCH)


@pytest.mark.parametrize(
    ("host", "runs_on", "opened"),
    [
        ("unix:///var/run/docker.sock", "local", "socket"),
        ("unix:///var/run/docker.sock", "swarm", "client"),
        ("tcp://127.0.0.1:2375", "local", "client"),
        ("tcp://127.0.0.1:2375", "swarm", "client"),
    ],
)
def test_a_batch_is_supervised_through_the_socket_only_on_a_local_engine(
    monkeypatch: pytest.MonkeyPatch, host: str, runs_on: str, opened: str
) -> None:
    """A local engine's containers are asked for on its socket; a swarm's services and
    an engine elsewhere take the client, its pool sized for the batch's runs."""
    monkeypatch.setenv("DOCKER_HOST", host)
    asked: list[tuple[str, int | None]] = []

    def open_client(*, max_connections: int) -> str:
        asked.append(("client", max_connections))
        return "client"

    def open_socket() -> str:
        asked.append(("socket", None))
        return "socket"

    chosen = open_batch_engine(
        manifest(parallel=50, runs_on=runs_on),
        open_client,
        open_socket,  # type: ignore[arg-type]
    )
    assert chosen == opened
    assert asked == [("socket", None)] if opened == "socket" else [("client", 220)]
