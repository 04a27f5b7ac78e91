"""What an agent prints cannot blind a run's log nor swell the process reading it: real
engine, real image, real Claude Code, the offline model. The agent's commands write
straight to the container's stdout and stderr (``/proc/1/fd/1``), between Claude's lines."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import msgspec
import pytest

from scad.config.loading import load_config
from scad.engine import open_engine
from scad.home import Home
from scad.runs.catchup import catch_up
from scad.runs.envelopes import ClaudeLine, Exited, Started
from scad.runs.events import Envelope, append_event
from scad.runs.logread import read_all_events
from scad.runs.records import RunPaths, RunRecord
from scad.runs.summaries import log_summary
from scad.sessions import run_session

from .conftest import SCAD
from .sessions_support import Project, wait_for_exit

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.claude]

#: A model with a price, so the run's result carries a cost.
PRICED = "claude-sonnet-4-20250514"

#: Lines at the edges of what a JSON decoder reads: depths around its recursion limit
#: (which counts the reader's own stack), megabytes that reach the engine in 16 KiB
#: pieces, odd bytes, numbers past 64 bits, blank lines.
ODD_LINES = r"""
import sys
out = sys.stdout.buffer
def line(text): out.write(text + b"\n")
for depth in range(900, 1010, 3):
    line(b'{"type":"assistant","x":' + b"[" * depth + b"]" * depth + b"}")
line(b"[" * 2_000_000)
line(b'{"type":"user","pad":"' + b"y" * 3_000_000 + b'"}')
line(b"")
line(b"  \t ")
line(b'{"type":"user","x":"a\x00b"}')
line(b'{"type":"user","x":"\xff\xfe"}')
line(b'{"type":"user","x":"\\ud800"}')
line(b'{"type":"user",\r"x":1}\r')
line('{"type":"user","x":"\u2028\u2029"}'.encode())
line(b'{"type":"user","x":123456789012345678901234567890}')
line(b'{"type":"user","x":1e999}')
out.flush()
"""


def run_script(script: str, redirect: str) -> str:
    """A prompt line running a Python ``script`` in the container, its output sent on."""
    return f"RUN: python3 -c \"exec(bytes.fromhex('{script.encode().hex()}'))\" {redirect}"


@pytest.fixture
def credentials(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """The library reads the host's credentials from the environment, as the CLI does."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", project.api_key)
    monkeypatch.setenv("HOME", project.env["HOME"])


def as_printed(envelope: Envelope) -> str:
    """The line an envelope holds, as the container printed it (JSON kept as data loses
    only the blanks around it)."""
    return envelope.text if envelope.text is not None else bytes(envelope.data).decode()


async def test_odd_lines_leave_every_later_line_the_exit_and_the_cost_in_the_log(
    project: Project, credentials: None, tmp_path: Path
) -> None:
    home = Home(project.home)
    config = load_config(project.home / "configs" / "scadtest.yml")
    config = msgspec.structs.replace(
        config, claude=msgspec.structs.replace(config.claude, model=PRICED)
    )
    prompt = f"TOKENS: 3000 400\n{run_script(ODD_LINES, '> /proc/1/fd/1')}\nSAY: all printed"
    async with open_engine() as engine:
        outcome = await run_session(engine, home, config, tag="odd", prompt=prompt)
    assert (outcome.outcome, outcome.result) == ("succeeded", "all printed"), outcome.detail
    assert outcome.container_id is not None
    printed = (await anyio.run_process(["docker", "logs", outcome.container_id])).stdout
    lines = [line.decode(errors="replace") for line in printed.split(b"\n")[:-1]]
    result = json.loads(lines[-1])
    assert result["type"] == "result" and result["total_cost_usd"] > 0
    assert outcome.cost_usd == result["total_cost_usd"]

    live = RunPaths(home, outcome.run_id)
    caught_up_home = Home(tmp_path / "caught-up")
    caught_up = RunPaths(caught_up_home, outcome.run_id)
    caught_up.root.mkdir(parents=True)
    record = RunRecord(
        run_id=outcome.run_id, config="scadtest", tag="odd", mode="headless", image="i",
        branch="b", created="", repos={}, container_id=outcome.container_id,
    )  # fmt: skip
    # As a run nobody watched: its start is logged, its output is the engine's to give.
    await append_event(caught_up, Started(cid=outcome.container_id))
    async with open_engine() as engine:
        assert await catch_up(engine, caught_up_home, record) is False

    for paths in (live, caught_up):
        envelopes = await read_all_events(paths)
        claude = [e for e in envelopes if e.src == "claude"]
        assert [e.n for e in claude] == list(range(len(lines))), paths
        for envelope, line in zip(claude, lines, strict=True):
            assert as_printed(envelope) in (line, line.strip()), envelope.n
        assert claude[-1].payload() == result
        exited = [e for e in envelopes if e.kind == "exited"]
        assert [e.exit_code for e in exited] == [0]
        summary = await log_summary(paths)
        assert summary.outcome == "succeeded"
        assert summary.summary.cost_usd == result["total_cost_usd"]
        assert summary.summary.turns == result["num_turns"]


#: 300 MB on stdout and as much on stderr, in lines of 4 KiB (the last few numbered).
FLOOD = r"""
import os
line = b"x" * 4095 + b"\n"
for fd in (1, 2):
    block = line * 256
    for _ in range(300):
        os.write(fd, block)
    for n in range(5):
        os.write(fd, b"last %d\n" % n)
"""
#: What the reading process may take at its peak, whatever the run printed.
PEAK_RSS_MB = 150


async def peak_rss_mb(*command: str, env: dict[str, str]) -> tuple[float, str]:
    """Run ``command`` in a process of its own and measure the peak RSS of it alone."""
    measure = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stderr.write(done.stdout + done.stderr)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    done = await anyio.run_process([sys.executable, "-c", measure, *command], env=env)
    return int(done.stdout) / 1024, done.stderr.decode()


async def test_catching_up_hundreds_of_megabytes_keeps_memory_flat(project: Project) -> None:
    run_id = await project.start(
        "--tag", "flood", "--headless",
        "--prompt", f"{run_script(FLOOD, '> /proc/1/fd/1 2> /proc/1/fd/2')}\nFAIL: 402",
    )  # fmt: skip
    state = await wait_for_exit(run_id, timeout=300)
    assert state["ExitCode"] == 1
    env = {**project.env, "PATH": os.environ["PATH"]}
    peak, output = await peak_rss_mb(SCAD, "session", "status", "--all", "--json", env=env)
    assert peak < PEAK_RSS_MB, f"session status peaked at {peak:.0f} MB"
    assert run_id in output

    envelopes = await read_all_events(RunPaths(Home(project.home), run_id))
    claude = [e for e in envelopes if isinstance(e, ClaudeLine)]
    assert [e.n for e in claude] == list(range(len(claude)))
    texts = [e.text for e in claude if e.text is not None]
    assert len(texts) == 300 * 256 + 5 and texts[-5:] == [f"last {n}" for n in range(5)]
    (exited,) = [e for e in envelopes if isinstance(e, Exited)]
    assert exited.exit_code == 1
    assert exited.stderr is not None and exited.stderr.splitlines()[-3:] == [
        "last 2", "last 3", "last 4",
    ]  # fmt: skip
