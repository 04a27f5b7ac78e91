"""Every table scad prints, in a real terminal (tmux) 80 and 200 columns wide: no row
wraps, and no number or id is cut; ``-o wide`` shows the rest."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import msgspec
import pytest

from scad.batch.store import BatchPaths, append_batch_event, save_manifest
from scad.cli.project import status_table
from scad.gateway._events import Exchange, encode_event
from scad.gateway._registry import events_path, register_run
from scad.home import Home
from scad.names import ids_named, short_run_id
from scad.reports.project import ProjectRow, ProjectStatus, ProjectTotals
from scad.runs.records import RunPaths
from tests.fakes import batch_event
from tests.unit.test_batches import manifest
from tests.unit.test_gc import make_run
from tests.unit.test_projects import add_run, register
from tests.unit.test_summaries import Log, crashed, failed, headless, rate_limited, running

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

ROOT = Path(__file__).resolve().parents[3]
SCAD = Path(sys.executable).with_name("scad")
BATCH = "calc-day1-Nov27-1030"
IDS = [f"calc-day1-{n:02d}-Nov27-1030" for n in range(1, 4)]
#: Runs out of the batch: one killed, its id as long as a long tag makes; one rate-limited.
MORE_IDS = ["calc-day1-with-a-longer-tag-Nov27-1030", "calc-day1-04-Nov27-1031"]
#: The gc screen needs an engine: this one, a fake with long image tags, in the real CLI.
GC_WITH_A_FAKE_ENGINE = """
import sys
from pathlib import Path
from scad.cli import cli
from scad.cli._app import Application
from scad.cli.project import status_table
from scad.home import Home
from scad.names import ids_named, short_run_id
from scad.reports.project import ProjectRow, ProjectStatus, ProjectTotals
from tests.conftest import opening
from tests.fakes import FakeEngine
from tests.unit.test_gc import image

engine = FakeEngine(images=[
    image(f"{n:03d}", f"scad-calc-0123abcd:20261127-10{n:02d}00-build", created=n, config="calc")
    for n in range(1, 4)
] + [
    # Tagged many times over, by this home (named as before homes had their own) and by
    # another home: one tag is shown, and how many more.
    image("many", *(f"scad-calc:20261127-09{n:02d}00-build" for n in range(40)),
          "scad-calc-89abcdef:again", created=0, config="calc"),
])
home = Home(Path(sys.argv.pop(1)))
cli(sys.argv[1:], prog_name="scad", obj=Application.with_engine(home, opening(engine)),
    _anyio_backend="asyncio")
"""


def a_day(home: Home, tmp_path: Path) -> None:
    """Runs, a batch, gateway spend and leftovers, with numbers as wide as a day makes;
    two of its runs on swarm nodes, one named at length."""
    register(home, "calc", tmp_path / "repo")
    big = {"tokens": (1_234_567, 9_876_543, 12_345_678, 98_765), "turns": 142}
    headless(Log(RunPaths(home, add_run(home, IDS[0], config="calc").run_id)),
             cost=123.4567, duration_ms=3_725_000, node="worker-a", **big)  # fmt: skip
    failed(Log(RunPaths(home, add_run(home, IDS[1], config="calc", minute=2).run_id)))
    running(Log(RunPaths(home, add_run(home, IDS[2], config="calc", minute=3).run_id)),
            node="n" * 10_000)  # fmt: skip
    crashed(Log(RunPaths(home, add_run(home, MORE_IDS[0], config="calc", minute=4).run_id)))
    rate_limited(Log(RunPaths(home, add_run(home, MORE_IDS[1], config="calc", minute=5).run_id)))
    paths = BatchPaths(home, BATCH)
    paths.root.mkdir(parents=True)
    save_manifest(paths, msgspec.structs.replace(manifest(3), batch_id=BATCH, config="calc"))
    append_batch_event(paths, batch_event("supervisor", pid=2**22))
    for item, run_id in enumerate(IDS, 1):
        append_batch_event(paths, batch_event("started", item=item, run_id=run_id, attempt=1))
    append_batch_event(paths, batch_event(
        "attempt", item=2, run_id=IDS[1], attempt=1, status="failed", final=True,
        detail="the API answered 400 after 12 retries over 184.25 s: invalid_request_error",
    ))  # fmt: skip
    for run_id in IDS:
        register_run(home, run_id, upstream="http://127.0.0.1:1", max_usd=250.0, batch=BATCH)
    exchange = Exchange(
        ts="t", method="POST", path="/v1/messages", status=200, input_tokens=1_234_567,
        output_tokens=987_654, cost_usd=123.4567,
    )  # fmt: skip
    events_path(home, IDS[0]).write_bytes(encode_event(exchange) * 3)
    leftover = make_run(home, "calc-day1-cleaned-with-a-long-tag-Nov27-1030", cleaned=True)
    leftover.events.write_text(
        '{"seq":1,"ts":"2026-11-27T10:30:00.000Z","src":"scad","event":"created"}\n'
    )


#: A tmux server of this test process's own: another process's last session ending
#: takes the shared default server down under a session starting here.
SERVER = f"scad-screens-{os.getpid()}"


def tmux(*args: str) -> str:
    command = ["tmux", "-L", SERVER, *args]
    return subprocess.run(command, capture_output=True, text=True, check=False).stdout


def screen(command: list[str], home: Path, width: int) -> tuple[list[str], list[str]]:
    """``command`` run in a tmux pane ``width`` columns wide: the pane's rows as shown,
    and its lines with wrapped rows joined."""
    name = f"scad-screens-{uuid.uuid4().hex[:8]}"
    done = "screen-done"
    shell = " ".join(["env", f"SCAD_HOME={home}", f"DOCKER_HOST=unix://{home}/none.sock",
                      "NO_COLOR=1", f"PYTHONPATH={ROOT}", *command])  # fmt: skip
    tmux("new-session", "-d", "-s", name, "-x", str(width), "-y", "60", "-c", str(ROOT),
         f"{shell} 2>/dev/null; echo {done}; sleep 600")  # fmt: skip
    try:
        # A bound on a stuck pane, not on speed: a loaded machine starts scad slowly.
        deadline = time.monotonic() + 180
        while done not in (shown := tmux("capture-pane", "-p", "-t", name)):
            assert time.monotonic() < deadline, shown
            time.sleep(0.1)
        joined = tmux("capture-pane", "-p", "-J", "-t", name)
    finally:
        tmux("kill-session", "-t", name)
    cut = lambda text: text[: text.index(done)].rstrip("\n").splitlines()  # noqa: E731
    return cut(shown), cut(joined)


#: The screens too wide at 80 columns for whole ids (with the NODE column), and
#: the ids each shows as the beginnings that name them.
SHORTENED = {
    "project status": [*IDS, *MORE_IDS],
    "session status": [*IDS, *MORE_IDS],
    "batch status": IDS,
    "batch watch": IDS,  # its summary at the end; the live table fits whole ids
}

#: A number or an id cut mid-way: an ellipsis right after a digit, `$`, `-` or `.`.
CUT = re.compile(r"[\d$.\-]\u2026")

SCREENS = {
    "project status": [str(SCAD), "project", "status", "calc"],
    "session status": [str(SCAD), "session", "status", "--all"],
    "batch status": [str(SCAD), "batch", "status", BATCH],
    "batch list": [str(SCAD), "batch", "status"],
    "batch watch": [str(SCAD), "batch", "watch", BATCH],
    "review": [str(SCAD), "review", BATCH],
    "gateway status": [str(SCAD), "gateway", "status"],
    "gc": [sys.executable],
}


@pytest.mark.parametrize("width", [80, 200])
@pytest.mark.parametrize("name", SCREENS)
def test_each_screen_fits_the_terminal_and_cuts_no_number(
    name: str, width: int, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    a_day(Home(home), tmp_path)
    command = SCREENS[name]
    if name == "gc":
        launcher = tmp_path / "gc_with_a_fake_engine.py"
        launcher.write_text(GC_WITH_A_FAKE_ENGINE)
        command = [*command, str(launcher), str(home), "gc"]
    rows, lines = screen(command, home, width)
    text = "\n".join(rows)
    assert rows, "nothing shown"
    assert rows == lines, f"a row wraps at {width} columns:\n{text}"
    shortened = width == 80 and name in SHORTENED
    if shortened:
        # Too wide for whole ids: each is shown as the beginning that names it.
        known = [*IDS, *MORE_IDS, "calc-day1-cleaned-with-a-long-tag-Nov27-1030"]
        for run_id in SHORTENED[name]:
            short = short_run_id(run_id, known)
            assert short.endswith("\u2026") and short in text, text
            text = text.replace(short, "")
    assert not CUT.search(text), f"a number or id is cut at {width} columns:\n{text}"
    for run_id in IDS if name != "gc" and not shortened else []:
        assert run_id in text or name == "batch list", text
    if name in ("session status", "batch status", "batch watch"):
        assert "NODE" in text and "work" in text, text  # runs on swarm nodes say where


def test_a_long_id_and_an_exit_code_fit_80_columns_as_a_run_is_named() -> None:
    """With the engine's states: a killed run's exit code and a long id make the
    table too wide for 80 columns; it shows unique beginnings and no exit codes."""
    rows = [
        ProjectRow(run_id=MORE_IDS[0], created="c", state="exited", exit_code=137,
                   outcome="rate-limited", turns=142, cost_usd=123.4567, branch="b"),
        ProjectRow(run_id=IDS[0], created="c", state="collected", outcome="succeeded",
                   branch="b"),
    ]  # fmt: skip
    totals = ProjectTotals(runs=2, turns=142, cost_usd=123.4567, ahead=12)
    status = ProjectStatus(config="calc", rows=rows, totals=totals)
    known = [*IDS, *MORE_IDS]
    lines = status_table(status, cost=False, width=80, known=known).splitlines()
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    assert lines[1].split()[:3] == ["calc-day1-with-a-longer-tag\u2026", "exited", "rate-limited"]
    assert lines[2].split()[0] == "calc-day1-01\u2026"
    assert ids_named(lines[1].split()[0], known) == [MORE_IDS[0]]
    # Where there is room, and in -o wide, the whole id and the exit code.
    for wide, width in ((False, 200), (True, None)):
        lines = status_table(status, cost=False, wide=wide, width=width).splitlines()
        assert lines[1].split()[:4] == [MORE_IDS[0], "exited", "(137)", "rate-limited"]


def test_wide_shows_the_columns_the_default_leaves_out(tmp_path: Path) -> None:
    home = tmp_path / "home"
    a_day(Home(home), tmp_path)
    rows, _ = screen([str(SCAD), "project", "status", "calc", "-o", "wide"], home, 200)
    assert rows[0].split()[:8] == ["RUN", "ID", "STATE", "OUTCOME", "TURNS", "IN", "OUT", "CACHE"]
    assert f"scad-{IDS[0]}" in rows[1]
    rows, _ = screen([str(SCAD), "gateway", "status", "-o", "wide"], home, 200)
    assert rows[1].split() == [
        "RUN", "TOKEN", "BATCH", "REQUESTS", "IN", "OUT", "COST", "CAP", "429/529", "402",
    ]  # fmt: skip
