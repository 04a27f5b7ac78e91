"""Every table scad prints, in a real terminal (tmux) 80 and 200 columns wide: no row
wraps, and no number or id is cut; ``-o wide`` shows the rest."""

from __future__ import annotations

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
from scad.gateway._events import Exchange, encode_event
from scad.gateway._registry import events_path, register_run
from scad.home import Home
from scad.runs.records import RunPaths
from tests.fakes import batch_event
from tests.unit.test_batches import manifest
from tests.unit.test_gc import make_run
from tests.unit.test_projects import add_run, register
from tests.unit.test_summaries import Log, failed, headless, running

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

ROOT = Path(__file__).resolve().parents[3]
SCAD = Path(sys.executable).with_name("scad")
BATCH = "calc-day1-Nov27-1030"
IDS = [f"calc-day1-{n:02d}-Nov27-1030" for n in range(1, 4)]
#: The gc screen needs an engine: this one, a fake with long image tags, in the real CLI.
GC_WITH_A_FAKE_ENGINE = """
import sys
from pathlib import Path
from scad.cli import cli
from scad.cli._app import Application
from scad.home import Home
from tests.conftest import opening
from tests.fakes import FakeEngine
from tests.unit.test_gc import image

engine = FakeEngine(images=[
    image(f"{n:03d}", f"scad-calc-0123abcd:20261127-10{n:02d}00-build", created=n, config="calc")
    for n in range(1, 4)
])
home = Home(Path(sys.argv.pop(1)))
cli(sys.argv[1:], prog_name="scad", obj=Application.with_engine(home, opening(engine)),
    _anyio_backend="asyncio")
"""


def a_day(home: Home, tmp_path: Path) -> None:
    """Runs, a batch, gateway spend and leftovers, with numbers as wide as a day makes."""
    register(home, "calc", tmp_path / "repo")
    big = {"tokens": (1_234_567, 9_876_543, 12_345_678, 98_765), "turns": 142}
    headless(Log(RunPaths(home, add_run(home, IDS[0], config="calc").run_id)),
             cost=123.4567, duration_ms=3_725_000, **big)  # fmt: skip
    failed(Log(RunPaths(home, add_run(home, IDS[1], config="calc", minute=2).run_id)))
    running(Log(RunPaths(home, add_run(home, IDS[2], config="calc", minute=3).run_id)))
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


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


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
        deadline = time.monotonic() + 60
        while done not in (shown := tmux("capture-pane", "-p", "-t", name)):
            assert time.monotonic() < deadline, shown
            time.sleep(0.1)
        joined = tmux("capture-pane", "-p", "-J", "-t", name)
    finally:
        tmux("kill-session", "-t", name)
    cut = lambda text: text[: text.index(done)].rstrip("\n").splitlines()  # noqa: E731
    return cut(shown), cut(joined)


#: A number or an id cut mid-way: an ellipsis right after a digit, `$`, `-` or `.`.
CUT = re.compile(r"[\d$.\-]\u2026")

SCREENS = {
    "project status": [str(SCAD), "project", "status", "calc"],
    "session status": [str(SCAD), "session", "status", "--all"],
    "batch status": [str(SCAD), "batch", "status", BATCH],
    "batch list": [str(SCAD), "batch", "status"],
    "batch watch": [str(SCAD), "batch", "watch", BATCH],
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
    assert not CUT.search(text), f"a number or id is cut at {width} columns:\n{text}"
    for run_id in IDS if name != "gc" else []:
        assert run_id in text or name == "batch list", text


def test_wide_shows_the_columns_the_default_leaves_out(tmp_path: Path) -> None:
    home = tmp_path / "home"
    a_day(Home(home), tmp_path)
    rows, _ = screen([str(SCAD), "project", "status", "calc", "-o", "wide"], home, 200)
    assert rows[0].split()[:8] == ["RUN", "ID", "STATE", "OUTCOME", "TURNS", "IN", "OUT", "CACHE"]
    assert f"scad-{IDS[0]}" in rows[1]
    rows, _ = screen([str(SCAD), "gateway", "status", "-o", "wide"], home, 200)
    assert rows[1].split() == [
        "RUN", "TOKEN", "BATCH", "REQUESTS", "IN", "OUT", "USD", "CAP", "USD", "429/529", "402",
    ]  # fmt: skip
