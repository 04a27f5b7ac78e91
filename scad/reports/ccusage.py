"""A second opinion on a run's cost: ccusage, run over the run's Claude transcripts.

The transcripts are the agent's files, so ccusage never reads them in place:
they are copied out of ``claude/projects`` the way scad reads any agent file
(no link followed, regular files only, bounded; see :mod:`scad.agentfs`) into a
folder of scad's, and ccusage runs there with a home of its own, offline (its
bundled prices), within a time limit. What it prints is decoded into a Struct
and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import anyio
import msgspec
from anyio.abc import ByteReceiveStream

from .. import agentfs
from ..errors import AgentFileError, CostCheckError, TooManyEntries
from ..names import CCUSAGE_PREFIX
from ..runs.accounting import Usage
from ..taskgroups import open_task_group

__all__ = ["CCUSAGE_VERSION", "CcusageReport", "ccusage_command", "ccusage_report"]

#: The version scad runs through npx when ccusage is not installed (measured: it reads
#: Claude Code 2.1 transcripts, and its tokens match the stream's result).
CCUSAGE_VERSION = "20.0.24"
#: Bounds on the transcripts copied for one run, and on ccusage itself.
TRANSCRIPT_LIMIT = 64 << 20
COPY_BUDGET = 256 << 20
MAX_DEPTH = 4
#: Transcripts and folders copied for one run (the agent decides how many there are).
MAX_ENTRIES = 10_000
OUTPUT_LIMIT = 16 << 20
TIME_LIMIT = 120.0
#: The system temp folders transcripts are copied into (``scad gc`` knows them).


class CcusageReport(msgspec.Struct, frozen=True, kw_only=True):
    """ccusage's totals for one run."""

    usage: Usage
    cost_usd: float
    #: Models ccusage has no price for: their cost counts as 0.
    unpriced_models: list[str] = []


def ccusage_command(environ: Mapping[str, str]) -> list[str]:
    """How to run ccusage here: ``$SCAD_CCUSAGE``, else ``ccusage`` on the PATH, else
    ``npx`` fetching the pinned version. Raises CostCheckError when none can."""
    if chosen := environ.get("SCAD_CCUSAGE"):
        return [chosen]
    if found := shutil.which("ccusage", path=environ.get("PATH")):
        return [found]
    if npx := shutil.which("npx", path=environ.get("PATH")):
        return [npx, "--yes", f"ccusage@{CCUSAGE_VERSION}"]
    raise CostCheckError(
        f"ccusage cannot run: neither ccusage nor npx is on the PATH; install it with "
        f"`npm install -g ccusage@{CCUSAGE_VERSION}`"
    )


async def ccusage_report(claude_dir: Path, command: list[str]) -> CcusageReport:
    """ccusage's view of the transcripts under ``claude_dir`` (a run's ``claude/``)."""
    with tempfile.TemporaryDirectory(prefix=CCUSAGE_PREFIX) as scratch:
        root = Path(scratch)
        await anyio.to_thread.run_sync(_copy_transcripts, claude_dir, root / "claude" / "projects")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(root),
            "CLAUDE_CONFIG_DIR": str(root / "claude"),
            "NO_COLOR": "1",
        }
        try:
            returncode, stdout, stderr = await _run(
                [*command, "session", "--json", "--offline"], env=env, cwd=root
            )
        except TimeoutError:
            raise CostCheckError(f"ccusage took longer than {TIME_LIMIT:.0f} s") from None
        except OSError as exc:
            raise CostCheckError(f"ccusage cannot run: {exc.strerror or exc}") from None
    if returncode != 0:
        lines = stderr.decode(errors="replace").strip().splitlines()
        raise CostCheckError(f"ccusage failed: {lines[-1] if lines else f'exit code {returncode}'}")
    return _report(stdout)


async def _run(command: list[str], *, env: dict[str, str], cwd: Path) -> tuple[int, bytes, bytes]:
    """Run ccusage in a process group of its own, within ``TIME_LIMIT``: through npx
    it is npm's child, and the whole group goes when time is up."""
    process = await anyio.open_process(
        command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True
    )
    outputs: dict[str, bytes] = {}

    async def collect(name: str, stream: ByteReceiveStream | None) -> None:
        data = bytearray()
        if stream is not None:
            async for chunk in stream:
                if len(data) <= OUTPUT_LIMIT:
                    data += chunk  # past the bound it is read and dropped: ccusage never blocks
        outputs[name] = bytes(data)

    try:
        with anyio.fail_after(TIME_LIMIT):
            async with open_task_group() as tg:
                tg.start_soon(collect, "out", process.stdout)
                tg.start_soon(collect, "err", process.stderr)
            returncode = await process.wait()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with anyio.CancelScope(shield=True):
            await process.aclose()
    return returncode, outputs["out"], outputs["err"]


def _report(output: bytes) -> CcusageReport:
    if len(output) > OUTPUT_LIMIT:
        raise CostCheckError("ccusage printed more than scad reads")
    try:
        totals = msgspec.json.decode(output, type=_Output).totals
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise CostCheckError(f"ccusage printed something scad cannot read ({exc})") from None
    return CcusageReport(
        usage=Usage(
            input_tokens=totals.inputTokens,
            output_tokens=totals.outputTokens,
            cache_creation_tokens=totals.cacheCreationTokens,
            cache_read_tokens=totals.cacheReadTokens,
        ),
        cost_usd=totals.totalCost,
        unpriced_models=totals.unpricedModels,
    )


class _Totals(msgspec.Struct):
    inputTokens: int = 0
    outputTokens: int = 0
    cacheCreationTokens: int = 0
    cacheReadTokens: int = 0
    totalCost: float = 0.0
    unpricedModels: list[str] = []


class _Output(msgspec.Struct):
    totals: _Totals = msgspec.field(default_factory=_Totals)


def _copy_transcripts(claude_dir: Path, dest: Path) -> None:
    """Every ``*.jsonl`` under ``claude_dir/projects`` into ``dest``, read as hostile
    files: a link, a FIFO or a file over the bound is left out, as is all once the
    byte budget is spent. Names are scad's own (``d0/f1.jsonl``): the agent's name
    nothing. Raises CostCheckError when the agent made more files or folders there
    than scad copies: a count of only some of them would be a wrong one."""
    dest.mkdir(parents=True, mode=0o700)
    budget = _Budget()
    try:
        with (
            agentfs.open_folder(claude_dir) as claude,
            agentfs.open_folder("projects", dir_fd=claude) as projects,
        ):
            _copy_folder(projects, dest, 0, budget)
    except TooManyEntries as exc:
        raise CostCheckError(f"the run's transcripts cannot be counted: {exc}") from None
    except AgentFileError:
        pass  # no transcripts, or a folder the agent made a link: nothing to count


class _Budget:
    """What one copy may still take: bytes, and files and folders made."""

    def __init__(self) -> None:
        self.bytes_left = COPY_BUDGET
        self.entries_left = MAX_ENTRIES

    def entry(self) -> None:
        self.entries_left -= 1
        if self.entries_left < 0:
            raise CostCheckError(
                f"the run's transcripts cannot be counted: they are more than {MAX_ENTRIES} "
                "files and folders"
            )


def _copy_folder(folder: int, dest: Path, depth: int, budget: _Budget) -> None:
    listed = agentfs.list_dir(folder, label="claude/projects", limit=MAX_ENTRIES)
    for n, (name, kind) in enumerate(sorted(listed)):
        if kind == stat.S_IFDIR and depth < MAX_DEPTH:
            budget.entry()
            try:
                with agentfs.open_folder(name, dir_fd=folder) as sub:
                    (dest / f"d{n}").mkdir(mode=0o700)
                    _copy_folder(sub, dest / f"d{n}", depth + 1, budget)
            except TooManyEntries:
                raise
            except AgentFileError:
                continue  # replaced by a link meanwhile: left out
        elif kind == stat.S_IFREG and name.endswith(".jsonl") and budget.bytes_left > 0:
            budget.entry()
            try:
                data = agentfs.read_file_at(
                    folder, name, limit=min(TRANSCRIPT_LIMIT, budget.bytes_left)
                )
            except AgentFileError:
                continue
            budget.bytes_left -= len(data)
            (dest / f"f{n}.jsonl").write_bytes(data)
