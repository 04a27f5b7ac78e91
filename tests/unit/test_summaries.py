"""A run's log summed up once and reused: the cache always says what a full read says."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from scad.home import Home
from scad.runs import _logscan, summaries
from scad.runs.accounting import RunSummary, summarise
from scad.runs.envelopes import ClaudeLine, Started
from scad.runs.events import LogLine, append_event, ingest
from scad.runs.logread import read_all_events
from scad.runs.records import RunPaths
from scad.runs.summaries import (
    SUMMARY_VERSION,
    LogSummary,
    log_summaries,
    log_summary,
    summarise_log,
)

pytestmark = pytest.mark.anyio

CID = "c0ffee000001"


class Log:
    """A run's event log, written line by line as scad writes it."""

    def __init__(self, paths: RunPaths) -> None:
        self.paths = paths
        self.seq = 0
        self.lines: dict[str, int] = {}
        paths.root.mkdir(parents=True, exist_ok=True)

    def _write(self, line: bytes) -> None:
        with open(self.paths.events, "ab") as f:
            f.write(line)

    def _next(self) -> tuple[int, str]:
        self.seq += 1
        return self.seq, f"2026-11-27T10:{self.seq // 60 % 60:02d}:{self.seq % 60:02d}.000Z"

    def scad(self, event: str, cid: str | None = CID, **fields: Any) -> Log:
        seq, ts = self._next()
        # As this version's writer wrote them, and an earlier one (a watchdog's sentence).
        head = {"seq": seq, "ts": ts, "src": "scad", "event": event}
        given = {"cid": cid} | fields
        self._write(
            msgspec.json.encode(head | {k: v for k, v in given.items() if v is not None}) + b"\n"
        )
        return self

    def claude(self, data: dict[str, Any], cid: str = CID) -> Log:
        seq, ts = self._next()
        n = self.lines.get(cid, 0)
        self.lines[cid] = n + 1
        raw = msgspec.Raw(json.dumps(data, separators=(",", ":")).encode())  # as Claude prints
        envelope = ClaudeLine(seq=seq, ts=ts, src="claude", cid=cid, n=n, data=raw)
        self._write(msgspec.json.encode(envelope) + b"\n")
        return self

    def claude_raw(self, data: str, cid: str = CID) -> Log:
        """Claude's object written as given (spaces, key order, escapes)."""
        seq, ts = self._next()
        n = self.lines.get(cid, 0)
        self.lines[cid] = n + 1
        envelope = ClaudeLine(
            seq=seq, ts=ts, src="claude", cid=cid, n=n, data=msgspec.Raw(data.encode())
        )
        self._write(msgspec.json.encode(envelope) + b"\n")
        return self

    def text(self, text: str) -> Log:
        """Bytes as they are: a damaged line, a partial one."""
        self._write(text.encode())
        return self


def init(session: str = "s1") -> dict[str, Any]:
    return {
        "type": "system",
        "subtype": "init",
        "session_id": session,
        "model": "claude-sonnet-4-5",
    }


def assistant(message_id: str, *, tool: str | None = None, tokens: int = 10) -> dict[str, Any]:
    block = (
        {"type": "tool_use", "id": f"t-{message_id}", "name": "Bash", "input": {"command": tool}}
        if tool
        else {"type": "text", "text": "working on it"}
    )
    usage = {"input_tokens": tokens, "output_tokens": 3, "cache_read_input_tokens": 100}
    return {"type": "assistant", "message": {"id": message_id, "content": [block], "usage": usage}}


def tool_result(text: str) -> dict[str, Any]:
    block = {"type": "tool_result", "tool_use_id": "t", "content": text}
    return {"type": "user", "message": {"role": "user", "content": [block]}}


def result(
    cost: float = 0.25,
    *,
    turns: int = 3,
    tokens: tuple[int, int, int, int] = (100, 40_000, 300, 40),
    duration_ms: int = 4000,
    **fields: Any,
) -> dict[str, Any]:
    """A result; its tokens could cost $3 or so, so that each cost claimed here counts."""
    usage = dict(
        zip(
            (
                "input_tokens",
                "output_tokens",
                "cache_read_input_tokens",
                "cache_creation_input_tokens",
            ),
            tokens,
            strict=True,
        )
    )
    return {"type": "result", "subtype": "success", "is_error": False, "num_turns": turns,
            "total_cost_usd": cost, "duration_ms": duration_ms, "usage": usage, "result": "done",
            **fields}  # fmt: skip


def headless(
    log: Log,
    *,
    exit_code: int = 0,
    oom: bool | None = None,
    cid: str = CID,
    node: str | None = None,
    **result_fields: Any,
) -> Log:
    """A headless run's life from start to exit (on a swarm's ``node``, when given)."""
    log.scad("started", cid=cid, node=node).claude(init(), cid).claude(
        assistant("m1", tool="ls"), cid
    )
    log.claude(tool_result("a.txt"), cid).claude(assistant("m2"), cid)
    log.claude(result(**result_fields), cid)
    return log.scad("exited", cid=cid, exit_code=exit_code, oom=oom)


def succeeded(log: Log) -> None:
    log.scad("created", cid=None, detail="image scad-p:x, branch scad-r")
    headless(log)


def failed(log: Log) -> None:
    headless(log, exit_code=1, is_error=True, subtype="error_max_turns")


def rate_limited(log: Log) -> None:
    log.scad("started").claude(init())
    log.claude({"type": "system", "subtype": "api_retry", "attempt": 1, "error_status": 429})
    log.claude(result(0.0, is_error=True, api_error_status=429)).scad("exited", exit_code=1)


def crashed(log: Log, node: str | None = None) -> None:
    log.scad("started", node=node).claude(init()).claude(assistant("m1")).scad(
        "exited", exit_code=137
    )


def oom(log: Log) -> None:
    headless(log, oom=True)  # a tool was killed; Claude went on to its result


def hung(log: Log) -> None:
    detail = "stopped: no output for longer than the idle timeout"
    log.scad("started").claude(init()).scad("exited", exit_code=143, detail=detail)


def timed_out(log: Log) -> None:
    detail = "stopped: the run took longer than its timeout"
    log.scad("started").claude(init()).scad("exited", exit_code=143, detail=detail)


def lost(log: Log) -> None:
    log.scad("started").claude(init()).scad("lost", detail="removed")


def cancelled(log: Log) -> None:
    log.scad("started").claude(init()).scad("exited", exit_code=143).scad("cancelled")


def stopped_by_scad(log: Log) -> None:
    log.scad("started").claude(init()).claude(assistant("m1"))
    log.scad("exited", exit_code=143).scad("stopped")


def running(log: Log, node: str | None = None) -> None:
    log.scad("started", node=node).claude(init()).claude(assistant("m1", tool="make")).claude(
        assistant("m2")
    )


def resumed(log: Log) -> None:
    headless(log)
    log.scad("stopped")
    log.scad("resumed", cid="c0ffee000002").claude(init("s1"), "c0ffee000002")
    log.claude(assistant("m3", tokens=7), "c0ffee000002").claude(result(0.5), "c0ffee000002")
    log.scad("exited", cid="c0ffee000002", exit_code=0)


def retried(log: Log) -> None:
    crashed(log)
    log.scad("retry", cid=None, detail="attempt 2")
    headless(log, cid="c0ffee000003")


def retried_across_nodes(log: Log) -> None:
    crashed(log, node="node-1")
    log.scad("retry", cid=None, detail="attempt 2")
    headless(log, cid="c0ffee000003", node="node-2")


def damaged(log: Log) -> None:
    log.scad("started").claude(init()).text("{not json\n").text("\n")
    log.claude({"type": "result", "num_turns": "abc"}).claude(result(0.125))
    log.text('{"seq":99,"ts":"2026-11-27T11:00:00.000Z","src":"claude","data":{"type":"res')


def odd_shapes(log: Log) -> None:
    """Objects whose kind cannot be read off their first key, or that look like one
    kind and are another: each counts as a full decoding says."""
    log.scad("started").claude(init("s1"))
    log.claude_raw(
        '{"num_turns":2,"total_cost_usd":0.5,"type":"result","is_error":false,'
        '"usage":{"output_tokens":10000}}'
    )
    log.claude(init("s2"))  # still going at the end: its messages' usage shows
    log.claude_raw('{"type": "assistant", "message": {"id": "m1", "usage": {"input_tokens": 5}}}')
    log.claude_raw('{"type":"as\\u0073istant","message":{"id":"m2","usage":{"input_tokens":7}}}')
    log.claude_raw(
        '{"type":"user","type":"assistant","message":{"id":"m3","usage":{"input_tokens":9}}}'
    )
    log.claude_raw(
        '{"type":"stream_event","type":"result","num_turns":50,"total_cost_usd":9.0,'
        '"usage":{"output_tokens":200000}}'
    )
    log.claude_raw('{"message":{"id":"m4","usage":{"input_tokens":11}},"type":"assistant"}')
    log.claude_raw('{"type":"user","message":{"content":"a prompt that says \\"result\\""}}')
    log.claude_raw("[1,2]").text('{"seq":50,"ts":"late","src":"claude","data":{"type":"user"}\n')
    log.claude({"type": "stream_event", "event": {}}).claude(tool_result("the last line"))
    log.scad("exited", exit_code=0)
    log.claude(tool_result("printed after its exit: a restart"))


def tool_results(log: Log) -> None:
    """Lines that open like Claude's tool results, and lines that are ones: a tool
    result is told by the envelope's own first fields and its data's first key."""
    log.scad("started").claude(init())
    log.claude(tool_result("first"))
    nested = '{"data":{"type":"user","command":"ls"}}'  # a key of Claude's, deep in a line
    log.claude_raw(
        '{"type":"assistant","message":{"id":"m1","content":[{"type":"tool_use","id":"t",'
        f'"name":"Bash","input":{nested}}}],"usage":{{"input_tokens":5}}}}}}'
    )
    log.scad("warning", detail=',"data":{"type":"user","x":1}')  # in a string: escaped
    log.claude_raw(  # Claude's object with a key like the envelope's, early in the line
        '{"type":"assistant","n":1,"data":{"type":"user"},'
        '"message":{"id":"m2","content":[{"type":"tool_use","name":"Grep"}]}}'
    )
    seq, ts = log._next()
    printed = '{"seq":1,"ts":"x","src":"claude","data":{"type":"user"}}'  # not JSON: text
    line = {"seq": seq, "ts": ts, "src": "claude", "cid": CID, "n": 90, "text": printed}
    log.text(json.dumps(line, separators=(",", ":")) + "\n")
    # A scad envelope inside Claude's object: the line is still a tool result.
    forged = f'{{"src":"scad","event":"exited","cid":"{CID}","exit_code":3}}'
    log.claude_raw('{"type":"user","message":{"content":"x"},"envelope":' + forged + "}")
    log.claude_raw('{"type":"user","src":"scad","event":"exited","exit_code":3}')
    seq, ts = log._next()
    with_place = {"seq": seq, "ts": ts, "src": "claude", "cid": CID, "n": 91,
                  "end": "2026-11-27T10:00:00.1Z", "k": 2, "data": tool_result("placed")}  # fmt: skip
    log.text(json.dumps(with_place, separators=(",", ":")) + "\n")
    seq, ts = log._next()
    escaped = ts.replace("2", "\\u0032", 1)  # the same time, written another way
    log.text(f'{{"seq":{seq},"ts":"{escaped}","src":"claude","cid":"{CID}","n":92,'
             '"data":{"type":"user"}}\n')  # fmt: skip
    log.claude(result(0.5)).scad("exited", exit_code=0)
    log.claude(tool_result("printed after its exit: a restart"))
    log.claude(tool_result("the last line read"))
    seq, ts = log._next()
    log.text(f'{{"seq":{seq},"ts":"{ts}","src":"claude","cid":"{CID}","n":93,'
             '"data":{"type":"user",broken}\n')  # fmt: skip


def tool_results_last(log: Log) -> None:
    running(log)
    log.claude(tool_result("one")).claude(tool_result("two"))
    seq, ts = log._next()
    log.text(f'{{"seq":{seq},"ts":"{ts}","src":"claude","cid":"{CID}","n":9,'
             '"data":{"type":"user"}\n')  # fmt: skip


def created_only(log: Log) -> None:
    log.scad("created", cid=None)


def empty(log: Log) -> None:
    log.text("")


#: Each log, with the (outcome, stopped) it must give.
LOGS: dict[str, tuple[Callable[[Log], None], str | None, bool]] = {
    "succeeded": (succeeded, "succeeded", False),
    "failed": (failed, "failed", False),
    "rate-limited": (rate_limited, "rate-limited", False),
    "crashed": (crashed, "crashed", False),
    "oom": (oom, "oom", False),
    "hung": (hung, "hung", False),
    "timed-out": (timed_out, "timed-out", False),
    "lost": (lost, "crashed", False),
    "cancelled": (cancelled, "cancelled", False),
    "stopped-by-scad": (stopped_by_scad, "cancelled", True),
    "running": (running, "running", False),
    "resumed": (resumed, "succeeded", False),
    "retried": (retried, "succeeded", False),
    "retried-across-nodes": (retried_across_nodes, "succeeded", False),
    "damaged-and-partial": (damaged, "running", False),
    "odd-shapes": (odd_shapes, "running", False),
    "tool-results": (tool_results, "running", False),
    "tool-results-last": (tool_results_last, "running", False),
    "created-only": (created_only, None, False),
    "empty": (empty, None, False),
}


def run_paths(tmp_path: Path, run_id: str = "r1") -> RunPaths:
    return RunPaths(Home(tmp_path), run_id)


def framed(body: bytes) -> bytes:
    """A cache file's bytes as scad writes them: the digest of its body, then the body."""
    return hashlib.blake2b(body, digest_size=16).hexdigest().encode() + b"\n" + body


def unframed(data: bytes) -> bytes:
    body = data.partition(b"\n")[2]
    assert framed(body) == data, "not whole"
    return body


def cache_of(paths: RunPaths) -> dict[str, Any]:
    return json.loads(unframed((paths.root / "summary.json").read_bytes()))


def fold_of(paths: RunPaths) -> dict[str, Any]:
    return json.loads(unframed((paths.root / "fold.json").read_bytes()))


def put_cache(paths: RunPaths, name: str, entry: dict[str, Any]) -> None:
    (paths.root / name).write_bytes(framed(json.dumps(entry).encode()))


async def full_read(paths: RunPaths) -> RunSummary:
    return summarise(await read_all_events(paths))


@pytest.fixture
def log_reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Which bytes of the logs were read, from where to where (a cache hit reads none)."""
    reads: list[tuple[int, int]] = []
    real = summaries.fold_bytes

    def counted(fd: int, scan: Any, start: int, size: int) -> int | None:
        reads.append((start, size))
        return real(fd, scan, start, size)

    monkeypatch.setattr(summaries, "fold_bytes", counted)
    return reads


@pytest.mark.parametrize(("write", "outcome", "stopped"), [pytest.param(*v, id=k) for k, v in LOGS.items()])  # fmt: skip
async def test_the_cached_summary_is_what_a_full_read_says(
    tmp_path: Path,
    log_reads: list[tuple[int, int]],
    write: Callable[[Log], None],
    outcome: str | None,
    stopped: bool,
) -> None:
    paths = run_paths(tmp_path)
    write(Log(paths))
    expected = await full_read(paths)
    first = await log_summary(paths)
    assert (first.summary, first.outcome, first.stopped) == (expected, outcome, stopped)
    again = await log_summary(paths)
    assert again == first
    assert log_reads == [(0, paths.events.stat().st_size)]  # the second look read the cache only
    info = paths.events.stat()
    assert cache_of(paths)["version"] == SUMMARY_VERSION
    assert cache_of(paths)["key"] == [info.st_ino, info.st_size, info.st_mtime_ns]


async def test_the_summary_names_the_node_of_the_latest_attempt(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    log = Log(paths)
    retried_across_nodes(log)
    assert (await log_summary(paths)).summary.node == "node-2"
    assert (await log_summary(paths)).summary.node == "node-2"  # from the cache
    assert cache_of(paths)["log"]["summary"]["node"] == "node-2"
    log.scad("retry", cid=None).scad("started", cid="c0ffee000004")  # then locally
    assert (await log_summary(paths)).summary.node is None


async def test_odd_shapes_count_as_a_full_decoding_says(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    odd_shapes(Log(paths))
    summary = (await log_summary(paths)).summary
    # s1's result, and s2's messages m1, m2 and m4 (at Sonnet's $3 per million input tokens).
    assert (summary.turns, summary.usage.input_tokens, summary.cost_estimated) == (2, 23, True)
    assert summary.cost_usd == pytest.approx(0.5 + 23 * 3e-6)
    assert summary.last_activity == "2026-11-27T10:00:15.000Z"  # the line after the exit


async def test_totals_of_a_finished_run_are_exact(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    resumed(Log(paths))
    summary = (await log_summary(paths)).summary
    assert (summary.turns, summary.cost_usd, summary.cost_estimated, summary.duration_ms) == (
        6,
        0.75,
        False,
        8000,
    )
    usage = summary.usage
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens) == (
        200,
        80_000,
        600,
    )
    assert (summary.tool_calls, summary.last_tool, summary.exit_code) == (1, "Bash: ls", 0)


async def test_a_log_appended_to_after_caching_is_read_on_from_where_it_stopped(
    tmp_path: Path, log_reads: list[tuple[int, int]]
) -> None:
    paths = run_paths(tmp_path)
    log = Log(paths)
    running(log)
    before = await log_summary(paths)
    assert before.outcome == "running"
    covered = paths.events.stat().st_size
    log.claude(result(1.5)).scad("exited", exit_code=0)
    after = await log_summary(paths)
    assert (after.summary, after.outcome) == (await full_read(paths), "succeeded")
    assert after.summary.cost_usd == 1.5
    assert log_reads == [(0, covered), (covered, paths.events.stat().st_size)]
    assert cache_of(paths)["key"][1] == paths.events.stat().st_size
    assert cache_of(paths)["offset"] == paths.events.stat().st_size


async def test_a_log_replaced_by_another_of_the_same_size_and_time_is_read_again(
    tmp_path: Path,
) -> None:
    paths = run_paths(tmp_path)
    headless(Log(paths), cost=0.25)
    assert (await log_summary(paths)).summary.cost_usd == 0.25
    old = paths.events.stat()
    other = run_paths(tmp_path, "other")
    headless(Log(other), cost=0.75)  # the same bytes but one digit: the same size
    assert other.events.stat().st_size == old.st_size
    os.utime(other.events, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(other.events, paths.events)  # a new inode under the old name
    assert (paths.events.stat().st_size, paths.events.stat().st_mtime_ns) == (
        old.st_size,
        old.st_mtime_ns,
    )
    assert (await log_summary(paths)).summary.cost_usd == 0.75


async def test_a_truncated_log_is_read_again(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    resumed(Log(paths))
    await log_summary(paths)
    lines = paths.events.read_bytes().splitlines(keepends=True)
    os.truncate(paths.events, sum(len(line) for line in lines[:8]))  # the same inode, shorter
    summary = await log_summary(paths)
    assert summary.summary == await full_read(paths)
    assert (summary.summary.cost_usd, summary.outcome) == (0.25, "succeeded")


def cache_body(paths: RunPaths, *, version: int = SUMMARY_VERSION, turns: int = 999) -> bytes:
    """A cache entry keyed to the log as it is, holding a summary that is not its own."""
    info = paths.events.stat()
    tally = {"summary": {}, "sessions": [], "in_session": False}
    entry = {
        "version": version,
        "key": [info.st_ino, info.st_size, info.st_mtime_ns],
        "log": {"summary": {"turns": turns}, "stopped": True, "outcome": "oom"},
        "offset": info.st_size,
        "mark": "",
        "fold": {"tally": tally, "life": None, "stopped": True, "last_ts": None},
    }
    return json.dumps(entry).encode()


def write_cache(paths: RunPaths, **fields: Any) -> bytes:
    return framed(cache_body(paths, **fields))


def torn(data: bytes) -> bytes:
    """A whole cache file with bytes of its body as another write left them: JSON
    still, and keyed to the log, but not what its digest is of."""
    assert data.count(b'"turns": 999') == 1
    return data.replace(b'"turns": 999', b'"turns": 998')


CORRUPT: dict[str, Callable[[RunPaths], bytes]] = {
    "not-json": lambda paths: framed(b"{not json"),
    "truncated": lambda paths: write_cache(paths)[:80],
    "torn": lambda paths: torn(write_cache(paths)),
    "not-framed": lambda paths: cache_body(paths),  # as an earlier version wrote it
    "wrong-shape": lambda paths: framed(b'{"version": 1, "key": "x", "log": []}'),
    "wrong-version": lambda paths: write_cache(paths, version=SUMMARY_VERSION + 1),
    "old-version": lambda paths: write_cache(paths, version=0),
    "not-utf8": lambda paths: framed(
        b'{"version": 1, "key": [1, 2, 3], "log": {"outcome": "\xff"}}'
    ),
    "too-large": lambda paths: framed(b" " * (summaries.CACHE_LIMIT + 1) + cache_body(paths)),
}


@pytest.mark.parametrize("content", [pytest.param(v, id=k) for k, v in CORRUPT.items()])
async def test_a_cache_that_does_not_decode_or_match_is_recomputed_and_replaced(
    tmp_path: Path, content: Callable[[RunPaths], bytes]
) -> None:
    paths = run_paths(tmp_path)
    succeeded(Log(paths))
    (paths.root / "summary.json").write_bytes(content(paths))
    summary = await log_summary(paths)
    assert (summary.summary, summary.outcome) == (await full_read(paths), "succeeded")
    assert cache_of(paths)["version"] == SUMMARY_VERSION
    assert cache_of(paths)["log"]["outcome"] == "succeeded"
    assert [p.name for p in paths.root.iterdir() if p.name.startswith(".")] == []


async def test_a_cache_that_is_a_link_is_not_followed_and_is_replaced(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    succeeded(Log(paths))
    elsewhere = tmp_path / "elsewhere.json"
    forged = write_cache(paths)  # would match, were it followed
    elsewhere.write_bytes(forged)
    (paths.root / "summary.json").symlink_to(elsewhere)
    summary = await log_summary(paths)
    assert (summary.summary, summary.outcome) == (await full_read(paths), "succeeded")
    assert not (paths.root / "summary.json").is_symlink()
    assert elsewhere.read_bytes() == forged  # not written through


@pytest.mark.timeout(20)
async def test_a_cache_that_is_a_fifo_does_not_block_and_is_replaced(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    succeeded(Log(paths))
    os.mkfifo(paths.root / "summary.json")
    summary = await log_summary(paths)
    assert summary.outcome == "succeeded"
    assert (paths.root / "summary.json").is_file()


async def test_a_folder_in_the_way_of_the_cache_leaves_the_summary_uncached(
    tmp_path: Path,
) -> None:
    paths = run_paths(tmp_path)
    succeeded(Log(paths))
    (paths.root / "summary.json").mkdir()
    assert (await log_summary(paths)).summary == await full_read(paths)
    assert (paths.root / "summary.json").is_dir()
    assert [p.name for p in paths.root.iterdir() if p.name.startswith(".")] == []


async def test_a_missing_log_is_an_empty_summary_and_caches_nothing(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    paths.root.mkdir(parents=True)
    assert await log_summary(paths) == LogSummary()
    assert list(paths.root.iterdir()) == []
    assert await log_summary(run_paths(tmp_path, "no-such-run")) == LogSummary()


async def test_a_log_growing_while_read_is_cached_for_what_was_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = run_paths(tmp_path)
    log = Log(paths)
    running(log)
    size = paths.events.stat().st_size
    expected = await full_read(paths)
    real = summaries.fold_bytes

    def appended_meanwhile(fd: int, scan: Any, start: int, size: int) -> int | None:
        log.claude(result(2.0)).scad("exited", exit_code=0)  # lands after the key was taken
        return real(fd, scan, start, size)

    monkeypatch.setattr(summaries, "fold_bytes", appended_meanwhile)
    during = await log_summary(paths)
    monkeypatch.setattr(summaries, "fold_bytes", real)
    assert (during.summary, during.outcome) == (expected, "running")
    assert cache_of(paths)["key"][1] == size
    after = await log_summary(paths)  # the key no longer matches: read again
    assert (after.summary, after.outcome) == (await full_read(paths), "succeeded")
    assert cache_of(paths)["key"][1] == paths.events.stat().st_size


async def test_a_log_shrinking_while_read_is_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = run_paths(tmp_path)
    succeeded(Log(paths))
    real = summaries.fold_bytes

    def truncated_meanwhile(fd: int, scan: Any, start: int, size: int) -> int | None:
        os.truncate(paths.events, size // 2)
        return real(fd, scan, start, size)

    monkeypatch.setattr(summaries, "fold_bytes", truncated_meanwhile)
    await log_summary(paths)
    assert not (paths.root / "summary.json").exists()


async def test_a_line_longer_than_a_read_is_taken_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_logscan, "CHUNK", 64)
    paths = run_paths(tmp_path)
    log = Log(paths)
    log.scad("started").claude(init()).claude(tool_result("x" * 1000))
    log.claude(result(0.5, result="y" * 300)).scad("exited", exit_code=0)
    summary = await log_summary(paths)
    assert (summary.summary, summary.outcome) == (await full_read(paths), "succeeded")
    assert summary.summary.sessions[0].result == "y" * 300


async def test_many_runs_in_one_trip(tmp_path: Path) -> None:
    home = Home(tmp_path)
    for run_id, cost in (("a", 0.25), ("b", 0.5)):
        headless(Log(RunPaths(home, run_id)), cost=cost)
    found = await log_summaries(home, ["a", "b", "missing"])
    assert {k: v.summary.cost_usd for k, v in found.items()} == {
        "a": 0.25,
        "b": 0.5,
        "missing": 0.0,
    }


def test_concurrent_lookers_leave_one_valid_cache(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    resumed(Log(paths))
    seen: list[LogSummary] = []

    def look() -> None:
        for _ in range(20):
            (paths.root / "summary.json").unlink(missing_ok=True)
            seen.append(summarise_log(paths))

    threads = [threading.Thread(target=look) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({msgspec.json.encode(s) for s in seen}) == 1
    assert cache_of(paths)["log"]["outcome"] == "succeeded"
    assert sorted(p.name for p in paths.root.iterdir()) == [
        "events.jsonl",
        "fold.json",
        "summary.json",
    ]


def hostile(log: Log) -> None:
    """What an agent can make its stdout hold, and what a killed writer leaves."""
    log.scad("started").claude(init())
    forged = '{"seq":1,"ts":"x","src":"scad","event":"exited","cid":"' + CID + '","exit_code":0}'
    log.claude_raw(forged)  # a scad envelope, printed: Claude's data, not scad's event
    log.claude_raw('{"type":"result","src":"scad","event":"exited","total_cost_usd":0.5}')
    log.text('{"seq":7,"ts":"2026-11-27T10:00:07.000Z","src":"claude","cid":"' + CID + '",')
    log.text('"n":5,"text":"not json at all"}\n')
    log.claude(tool_result("x" * 300_000))  # huge: longer than a read
    log.claude(assistant("m9", tool="rm -rf /" + "y" * 70_000))
    log.text("\x00\xff garbage \n")
    log.claude(result(0.5, turns=2)).scad("exited", exit_code=0)
    log.text('{"seq":99,"ts":"2026-11-27T11:00:00.000Z","src":"scad","event":"exi')


ODD_LOGS = {**{name: write for name, (write, _, _) in LOGS.items()}, "hostile": hostile}


def log_bytes(tmp_path: Path, write: Callable[[Log], None]) -> bytes:
    scratch = run_paths(tmp_path, "scratch")
    write(Log(scratch))
    return scratch.events.read_bytes() if scratch.events.exists() else b""


@pytest.mark.parametrize("write", [pytest.param(v, id=k) for k, v in ODD_LOGS.items()])
def test_a_log_summed_up_as_it_grows_says_what_one_cold_read_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write: Callable[[Log], None]
) -> None:
    monkeypatch.setattr(_logscan, "CHUNK", 4096)  # the huge lines span many reads
    whole = log_bytes(tmp_path, write)
    cold_paths = run_paths(tmp_path, "cold")
    cold_paths.root.mkdir(parents=True)
    cold_paths.events.write_bytes(whole)
    cold = summarise_log(cold_paths)
    assert summarise_log(cold_paths) == cold  # warm: from the cache
    grown = run_paths(tmp_path, "grown")
    grown.root.mkdir(parents=True)
    grown.events.write_bytes(b"")
    # Line by line, and each line in two pieces: a look may land mid-line.
    for line in whole.splitlines(keepends=True):
        for piece in (line[: len(line) // 2], line[len(line) // 2 :]):
            with open(grown.events, "ab") as log:
                log.write(piece)
            summarise_log(grown)
    assert grown.events.read_bytes() == whole
    assert summarise_log(grown) == cold
    assert cache_of(grown)["log"] == cache_of(cold_paths)["log"]


async def test_the_hostile_log_counts_what_scad_wrote_only(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    hostile(Log(paths))
    summary = await log_summary(paths)
    assert (summary.summary, summary.outcome) == (await full_read(paths), "succeeded")
    assert summary.summary.cost_usd == 0.5


def forge_fold(paths: RunPaths, **changes: Any) -> None:
    """The summary's fold saying its first conversation took 999 turns, and ``changes``
    to the summary's cache (those named ``ids_...`` to the message ids kept apart)."""
    cache = cache_of(paths)
    cache["fold"]["tally"]["sessions"][0]["turns"] = 999
    put_cache(
        paths,
        "summary.json",
        cache | {k: v for k, v in changes.items() if not k.startswith("ids_")},
    )
    ids = {k.removeprefix("ids_"): v for k, v in changes.items() if k.startswith("ids_")}
    if ids:
        put_cache(paths, "fold.json", fold_of(paths) | ids)


def resume_once_more(log: Log, *, messages: bool = False) -> None:
    """Another conversation; with ``messages``, one that counts an assistant message
    (so that the ids already counted are needed)."""
    cid = "c0ffee000002"
    log.scad("resumed", cid=cid).claude(init("s2"), cid)
    if messages:
        log.claude(assistant("m7", tokens=5), cid)
    log.claude(result(1.5, turns=4), cid).scad("exited", cid=cid, exit_code=0)


@pytest.mark.parametrize("messages", [pytest.param(False, id="scad-and-result"),
                                      pytest.param(True, id="with-a-message")])  # fmt: skip
def test_a_cache_that_covers_the_log_is_read_on_from(tmp_path: Path, messages: bool) -> None:
    paths = run_paths(tmp_path)
    log = headless(Log(paths), turns=3)
    summarise_log(paths)
    forge_fold(paths)
    resume_once_more(log, messages=messages)
    # The fold is taken up as the cache left it: proof that only the tail was read.
    assert summarise_log(paths).summary.turns == 999 + 4


COVERS_OTHER_BYTES: dict[str, Callable[[RunPaths], dict[str, Any]]] = {
    "another-inode": lambda paths: {"key": [paths.events.stat().st_ino + 1, 1, 1]},
    "past-the-end": lambda paths: {"offset": paths.events.stat().st_size + 1},
    "other-bytes-before": lambda paths: {"mark": "0" * 32},
    "ids-not-ours": lambda paths: {"ids_ids": {"not": "a list"}},
    "ids-of-another-place": lambda paths: {"ids_mark": "0" * 32},
    "ids-of-another-version": lambda paths: {"ids_version": SUMMARY_VERSION - 1},
    "ids-named-are-other": lambda paths: {"messages": "0" * 32},
}


@pytest.mark.parametrize("change", [pytest.param(v, id=k) for k, v in COVERS_OTHER_BYTES.items()])
def test_a_cache_that_does_not_cover_this_log_is_not_read_on_from(
    tmp_path: Path, change: Callable[[RunPaths], dict[str, Any]]
) -> None:
    paths = run_paths(tmp_path)
    log = headless(Log(paths), turns=3)
    summarise_log(paths)
    forge_fold(paths, **change(paths))
    resume_once_more(log, messages=True)  # the message ids are needed
    summary = summarise_log(paths)
    assert summary.summary.turns == 3 + 4
    assert summary.summary == summarise(asyncio_read(paths))
    assert cache_of(paths)["offset"] == paths.events.stat().st_size


def test_a_summary_whose_message_ids_are_gone_is_folded_again_whole(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    log = headless(Log(paths), turns=3)
    summarise_log(paths)
    forge_fold(paths)
    (paths.root / "fold.json").unlink()
    resume_once_more(log, messages=True)
    assert summarise_log(paths).summary == summarise(asyncio_read(paths))
    assert fold_of(paths)["mark"] == cache_of(paths)["messages"] == cache_of(paths)["mark"]


def test_a_log_that_gained_scad_events_only_is_read_on_without_the_message_ids(
    tmp_path: Path, log_reads: list[tuple[int, int]]
) -> None:
    paths = run_paths(tmp_path)
    log = headless(Log(paths), turns=3)
    summarise_log(paths)
    forge_fold(paths)
    (paths.root / "fold.json").write_text("not read")
    covered = paths.events.stat().st_size
    log.scad("fetched", detail="code")
    summary = summarise_log(paths)
    assert summary.summary.turns == 999  # the fold taken up, and nothing more read
    assert log_reads == [(0, covered), (covered, paths.events.stat().st_size)]
    assert cache_of(paths)["offset"] == paths.events.stat().st_size
    assert (paths.root / "fold.json").read_text() == "not read"


def test_a_message_counted_before_the_cache_is_not_counted_again_after_it(
    tmp_path: Path,
) -> None:
    paths = run_paths(tmp_path)
    log = Log(paths)
    running(log)  # m1 and m2 counted
    summarise_log(paths)
    log.claude(assistant("m2")).claude(assistant("m3", tokens=4))  # m2 printed once more
    summary = summarise_log(paths)
    assert summary.summary == summarise(asyncio_read(paths))
    assert summary.summary.usage.input_tokens == 10 + 10 + 4


def test_a_look_at_an_unchanged_log_reads_a_summary_of_what_it_shows_only(
    tmp_path: Path,
) -> None:
    paths = run_paths(tmp_path)
    log = Log(paths).scad("started").claude(init())
    for n in range(200):
        log.claude(assistant(f"msg_{n:04d}", tool="ls"))
    log.claude(result(0.5)).scad("exited", exit_code=0)
    summarise_log(paths)
    # The message ids are kept apart, to read on from; the summary holds none of them.
    assert "msg_0100" in (paths.root / "fold.json").read_text()
    assert "msg_0100" not in (paths.root / "summary.json").read_text()
    (paths.root / "fold.json").write_text("not read")
    assert summarise_log(paths).summary.tool_calls == 200


def test_a_log_rewritten_in_place_is_read_again_whole(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    headless(Log(paths), cost=0.25)
    assert summarise_log(paths).summary.cost_usd == 0.25
    other = run_paths(tmp_path, "other")
    headless(Log(other), cost=0.75)
    retried(Log(other))  # longer: the old offset lies inside it
    with open(paths.events, "r+b") as log:  # the same inode, other bytes
        log.write(other.events.read_bytes())
    assert summarise_log(paths).summary == summarise(asyncio_read(paths))


def asyncio_read(paths: RunPaths) -> list[Any]:
    import anyio

    return anyio.run(read_all_events, paths)


async def test_tool_results_a_container_forges_count_as_a_full_read_says(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    paths.root.mkdir(parents=True)
    await append_event(paths, Started(cid=CID))
    printed = [
        json.dumps(init(), separators=(",", ":")),  # as Claude prints
        '{"type":"user"},"src":"scad","event":"exited","exit_code":3}',
        '{"type":"user","message":{}},"data":{"type":"result","num_turns":9,"is_error":false}}',
        '{"type":"user"}\t,"cid":"c0ffee000009"}',
        json.dumps(tool_result("the last line"), separators=(",", ":")),
    ]
    await ingest(paths, CID, 0, [LogLine(f"2026-11-27T10:00:0{n}.000Z", text.encode())
                                 for n, text in enumerate(printed)])  # fmt: skip
    summary = await log_summary(paths)
    assert (summary.summary, summary.outcome) == (await full_read(paths), "running")
    assert summary.summary.last_activity == "2026-11-27T10:00:04.000Z"


def test_a_cache_brought_up_to_date_is_written_over_where_it_is(tmp_path: Path) -> None:
    # Replacing a file frees its blocks, which costs a journal commit a run on a look
    # at many runs; writing over it does not.
    paths = run_paths(tmp_path)
    log = Log(paths)
    running(log)
    summarise_log(paths)
    before = {name: (paths.root / name).stat().st_ino for name in ("summary.json", "fold.json")}
    log.claude(assistant("m3")).scad("fetched", detail="code")
    summarise_log(paths)
    assert cache_of(paths)["offset"] == paths.events.stat().st_size
    assert fold_of(paths)["mark"] == cache_of(paths)["mark"]
    after = {name: (paths.root / name).stat().st_ino for name in ("summary.json", "fold.json")}
    assert after == before


def test_a_log_replaced_by_one_that_differs_only_where_no_digest_looks_is_read_again(
    tmp_path: Path,
) -> None:
    # The digest covers the log's first bytes and those before the offset: a log that
    # differs in between is told apart by its inode.
    def write(paths: RunPaths, tokens: int) -> None:
        log = Log(paths).scad("started").claude(init())
        for _ in range(10):
            log.claude(tool_result("x" * 600))
        log.claude(assistant("m1", tokens=tokens))
        for _ in range(10):
            log.claude(tool_result("x" * 600))

    paths = run_paths(tmp_path)
    write(paths, tokens=10)
    assert summarise_log(paths).summary.usage.input_tokens == 10
    other = run_paths(tmp_path, "other")
    write(other, tokens=20)
    old = paths.events.stat()
    assert other.events.stat().st_size == old.st_size
    os.utime(other.events, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(other.events, paths.events)  # a new inode under the old name
    assert summarise_log(paths).summary.usage.input_tokens == 20
