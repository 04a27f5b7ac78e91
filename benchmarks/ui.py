"""The web view's server (`scad ui`), measured as a user meets it: a big batch's
page, many live logs followed at once, and a huge log.

Run: .venv/bin/python benchmarks/ui.py [--only a|b|c] [--runs N] [--clients N] [--seconds S] [--big-mb N]
Needs no engine (the server is pointed at none): every log is written on disk.
(a) a batch of 200 runs (benchmarks/batch_page.py's logs): the batch page and its
    timeline.svg, each asked of the real server to its full response,
    against `cat` of the same logs, in turns. The bar: under 1 s.
(b) 50 runs' logs appended to by a writer process (a line each per --period), each followed by one SSE client
    for S seconds: the server's CPU as a share of a core (the bar: under 5%) and its
    RSS, against `tail -F` following the same 50 logs in the same seconds.
(c) one run with a 10 MB log, then one with a 200 MB log: its page, then its whole
    log streamed by SSE from the start; the server's peak RSS against its RSS idle.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import msgspec
from _bench import arguments, print_ratios, timed
from batch_page import BATCH, make_batch

from scad.home import Home
from scad.runs.records import RunRecord, save_run

SCAD = str(Path(sys.executable).parent / "scad")
TICK = os.sysconf("SC_CLK_TCK")
#: Appends a Claude line to each log named, every PERIOD seconds, until killed.
WRITER = (
    "import sys, time\n"
    "logs = [open(p, 'ab', buffering=0) for p in sys.argv[2:]]\n"
    "period, seq = float(sys.argv[1]), 1000\n"
    "while True:\n"
    "    seq += 1\n"
    "    for log in logs:\n"
    '        log.write(b\'{"seq":%d,"ts":"2026-03-02T14:00:00.000Z","src":"claude",\'\n'
    '                  b\'"data":{"type":"assistant","message":{"content":\'\n'
    '                  b\'[{"type":"text","text":"line %d"}]}}}\\n\' % (seq, seq))\n'
    "    time.sleep(period)\n"
)


class Server:
    """`scad ui` on a free port over ``home``, engine-less; its pid, origin and cookie."""

    def __init__(self, home: Path) -> None:
        self.home = home
        env = {**os.environ, "SCAD_HOME": str(home), "DOCKER_HOST": "unix:///nonexistent"}
        self.process = subprocess.Popen(
            [SCAD, "ui", "--port", "0"], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        url = self.process.stdout.readline().removeprefix("scad ui: ").strip()
        self.origin = url.split("/?", 1)[0]
        self.cookie = _cookie(url)

    @property
    def pid(self) -> int:
        return self.process.pid

    def get(self, path: str) -> bytes:
        asked = urllib.request.Request(self.origin + path, headers={"Cookie": self.cookie})
        with urllib.request.urlopen(asked, timeout=60) as answer:
            return bytes(answer.read())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def _cookie(url: str) -> str:
    """The session cookie the server sets for its token (its answer to the token's
    page, which then sends the browser on)."""
    with urllib.request.urlopen(url, timeout=30) as answer:
        cookie = answer.headers["Set-Cookie"]
    if not cookie:
        raise AssertionError("the token did not become a cookie")
    return str(cookie).split(";", 1)[0]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def memory_mb(pid: int, field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (its peak), in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise AssertionError(field)


def add_run(home: Path, run_id: str) -> Path:
    """A run record of no engine's, and its (empty) log."""
    (home / "runs" / run_id).mkdir(parents=True)
    save_run(
        Home(home),
        RunRecord(
            run_id=run_id, config="bench", tag=run_id, mode="headless", image="i",
            branch=f"scad-{run_id}", created="2026-03-02T14:00:00.000Z", repos={},
        ),
    )  # fmt: skip
    log = home / "runs" / run_id / "events.jsonl"
    log.touch()
    return log


def page_of_200(runs: int, rounds: int) -> None:
    print(f"(a) the batch page and its timeline for {runs} runs, by the real server")
    with tempfile.TemporaryDirectory() as root:
        logs = make_batch(Home(Path(root)), runs, 200)
        size = sum(os.path.getsize(p) for p in logs)
        server = Server(Path(root))
        try:
            first = time.perf_counter()
            server.get(f"/batch/{BATCH}")
            cold = time.perf_counter() - first
            asked = {
                "batch page": f"/batch/{BATCH}",
                "timeline.svg": f"/batch/{BATCH}/timeline.svg?width=1280",
            }
            samples: dict[str, list[float]] = {
                "cat the logs (baseline)": [],
                **{n: [] for n in asked},
            }
            for _ in range(rounds):  # in turns, so that drift hits all alike
                samples["cat the logs (baseline)"].append(timed(["cat", *logs], dict(os.environ)))
                for name, path in asked.items():
                    started = time.perf_counter()
                    server.get(path)  # a new connection each time, read to its end
                    samples[name].append(time.perf_counter() - started)
        finally:
            server.stop()
    print(f"{size / 1e6:.1f} MB of logs; the page's first answer (every log read) {cold:.3f} s")
    print_ratios(samples, "cat the logs (baseline)")
    worst = max(statistics.median(samples[n]) for n in ("batch page", "timeline.svg"))
    print(f"slowest full response {worst:.3f} s (the bar: under 1 s)\n")


async def follow(server: Server, run_ids: list[str], seconds: float) -> int:
    """One SSE client per run for ``seconds``; the events they received in all."""
    received = 0

    async def client(session: aiohttp.ClientSession, run_id: str) -> None:
        nonlocal received
        size = os.path.getsize(server.home / "runs" / run_id / "events.jsonl")
        async with session.get(f"{server.origin}/run/{run_id}/events?offset={size}") as answer:
            async for line in answer.content:
                received += line.startswith(b"data:")

    headers = {"Cookie": server.cookie}
    async with aiohttp.ClientSession(headers=headers) as session:
        tasks = [asyncio.ensure_future(client(session, r)) for r in run_ids]
        await asyncio.sleep(seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return received


def fifty_live(clients: int, seconds: float, period: float) -> None:
    print(
        f"(b) {clients} live runs, a line each every {period:g} s, followed by SSE for {seconds:.0f} s"
    )
    with tempfile.TemporaryDirectory() as root:
        home = Path(root)
        run_ids = [f"bench-live-{n:02d}-Mar02-1400" for n in range(clients)]
        logs = [str(add_run(home, r)) for r in run_ids]
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(period), *logs])
        server = Server(home)
        tail = subprocess.Popen(
            ["tail", "-q", "-F", *logs], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            time.sleep(1)
            begin = {p: cpu_seconds(p) for p in (server.pid, tail.pid, writer.pid)}
            started = time.perf_counter()
            events = asyncio.run(follow(server, run_ids, seconds))
            wall = time.perf_counter() - started
            used = {p: cpu_seconds(p) - begin[p] for p in begin}
            rss = memory_mb(server.pid, "VmRSS")
        finally:
            for process in (tail, writer):
                process.kill()
                process.wait()
            server.stop()
    print(f"{'follower':<34} {'CPU-s':>7} {'% of a core':>12} {'x baseline':>11}")
    for name, pid in (
        ("tail -F the logs (baseline)", tail.pid),
        (f"scad ui, {clients} SSE clients", server.pid),
    ):
        print(
            f"{name:<34} {used[pid]:>7.2f} {used[pid] / wall * 100:>11.1f}% "
            f"{used[pid] / max(used[tail.pid], 1 / TICK):>11.2f}"
        )
    print(
        f"the writer appended about {seconds / period * clients:.0f} lines ({used[writer.pid]:.2f} CPU-s); "
        f"the clients received {events} events"
    )
    print(
        f"server RSS {rss:.0f} MB; CPU {used[server.pid] / wall * 100:.1f}% (the bar: under 5%)\n"
    )


async def stream_all(server: Server, run_id: str, size: int) -> None:
    """The run's log by SSE from its start, until the event that ends at ``size``."""
    async with (
        aiohttp.ClientSession(headers={"Cookie": server.cookie}) as session,
        session.get(f"{server.origin}/run/{run_id}/events?offset=0") as answer,
    ):
        async for line in answer.content:
            if line.startswith(b"id: ") and int(line[4:]) >= size:
                return


def huge_log(path: Path, megabytes: int) -> int:
    text = "working on it " * 140
    with path.open("wb") as log:
        seq = 0
        while log.tell() < megabytes * 1_000_000:
            block = []
            for _ in range(1000):
                seq += 1
                data = {
                    "type": "assistant",
                    "message": {"content": [{"type": "text", "text": f"{seq} {text}"}]},
                }
                block.append(
                    msgspec.json.encode(
                        {
                            "seq": seq,
                            "ts": "2026-03-02T14:00:00.000Z",
                            "src": "claude",
                            "data": data,
                        }
                    )
                )
            log.write(b"\n".join(block) + b"\n")
        return log.tell()


def flat_in_size(sizes: list[int]) -> None:
    print("(c) a run's page, then its whole log by SSE, for logs of growing size")
    print(f"{'log':>8} {'idle RSS MB':>12} {'peak RSS MB':>12} {'x idle':>7} {'stream s':>9}")
    for megabytes in sizes:
        with tempfile.TemporaryDirectory() as root:
            home = Path(root)
            run_id = f"bench-big-{megabytes}-Mar02-1400"
            size = huge_log(add_run(home, run_id), megabytes)
            server = Server(home)
            try:
                idle = memory_mb(server.pid, "VmRSS")
                assert run_id.encode() in server.get(f"/run/{run_id}")
                started = time.perf_counter()
                asyncio.run(stream_all(server, run_id, size))
                took = time.perf_counter() - started
                peak = memory_mb(server.pid, "VmHWM")
            finally:
                server.stop()
        print(f"{size / 1e6:>6.0f}MB {idle:>12.0f} {peak:>12.0f} {peak / idle:>7.2f} {took:>9.1f}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--period", type=float, default=1.0, help="seconds between a run's lines")
    parser.add_argument("--big-mb", type=int, default=200)
    parser.add_argument("--only", choices="abc", help="run only this part")
    args = arguments(parser, runs=20, rounds=2, clients=5, seconds=3.0, big_mb=10)
    if args.only in (None, "a"):
        page_of_200(args.runs, args.rounds)
    if args.only in (None, "b"):
        fifty_live(args.clients, args.seconds, args.period)
    if args.only in (None, "c"):
        flat_in_size([10, args.big_mb])


if __name__ == "__main__":
    main()
