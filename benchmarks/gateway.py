"""The model gateway's cost on the path to the model.

Run: .venv/bin/python benchmarks/gateway.py [--samples N] [--streams N] [--requests N]

1. Time to the first SSE byte of a streamed answer, the offline model asked directly
   and through the gateway, taking turns (default 300 each): p50 and p99, and what
   the gateway adds.
2. 50 streams at once through one gateway (default 3,000 answers): the gateway's
   CPU seconds per 1,000 SSE events passed, against the offline model's own CPU for
   making them, measured in the same run.
3. The gateway's resident memory after that (now and peak).

Both servers are processes of their own: `scad offline serve` and the gateway as
`ensure_gateway` starts it; the client is this process.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import anyio
from _bench import arguments

from scad.gateway import ensure_gateway, register_run, stop_gateway
from scad.home import Home

SCAD = str(Path(sys.executable).parent / "scad")
BODY = {
    "model": "claude-sonnet-4-5",
    "stream": True,
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "TOKENS: 1000 50\nSAY: a short answer"}],
}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> tuple[float, float]:
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) / 1024
    return found["VmRSS"], found["VmHWM"]


async def first_byte(client: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    async with client.post(f"{url}/v1/messages?beta=true", json=BODY, headers=headers) as answer:
        await answer.content.readany()
        elapsed = time.perf_counter() - started
        await answer.read()
    return elapsed


async def one_stream(client: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> int:
    async with client.post(f"{url}/v1/messages?beta=true", json=BODY, headers=headers) as answer:
        body = await answer.read()
        if answer.status != 200:
            raise RuntimeError(f"answer {answer.status}: {body[:200]!r}")
        return body.count(b"event: ")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def bench(
    home: Home, model_url: str, model_pid: int, samples: int, streams: int, requests: int
) -> None:
    try:
        home.run_dir("bench").mkdir(parents=True)
        token = register_run(home, "bench", upstream=model_url).token
        info = await ensure_gateway(home, environ={**os.environ, "ANTHROPIC_API_KEY": "bench"})
        direct = {"x-api-key": "bench"}
        through = {"authorization": f"Bearer {token}"}
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as client:
            times: dict[str, list[float]] = {"direct": [], "gateway": []}
            for _ in range(10):  # warm both
                await first_byte(client, model_url, direct)
                await first_byte(client, info.url(), through)
            for _ in range(samples):
                times["direct"].append(await first_byte(client, model_url, direct))
                times["gateway"].append(await first_byte(client, info.url(), through))
            print(f"first SSE byte, {samples} each, ms:")
            print(f"{'':10} {'p50':>8} {'p99':>8}")
            for name, values in times.items():
                print(
                    f"{name:10} {percentile(values, 0.5) * 1000:>8.2f} "
                    f"{percentile(values, 0.99) * 1000:>8.2f}"
                )
            for label, fraction in (("p50", 0.5), ("p99", 0.99)):
                added = percentile(times["gateway"], fraction) - percentile(
                    times["direct"], fraction
                )
                ratio = percentile(times["gateway"], fraction) / percentile(
                    times["direct"], fraction
                )
                print(f"added {label}: {added * 1000:.2f} ms ({ratio:.2f}x direct)")

            limiter = anyio.CapacityLimiter(streams)
            events = 0

            async def worker() -> None:
                nonlocal events
                async with limiter:
                    answered = await one_stream(client, info.url(), through)
                events += answered

            gateway_cpu, model_cpu = cpu_seconds(info.pid), cpu_seconds(model_pid)
            started = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for _ in range(requests):
                    tg.start_soon(worker)
            wall = time.perf_counter() - started
            gateway_cpu = cpu_seconds(info.pid) - gateway_cpu
            model_cpu = cpu_seconds(model_pid) - model_cpu
        print(f"\n{requests} answers, {streams} at once, {events} SSE events in {wall:.1f} s:")
        print(f"gateway CPU-s per 1,000 events: {gateway_cpu / events * 1000:.3f}")
        print(f"offline model CPU-s per 1,000 events: {model_cpu / events * 1000:.3f}")
        print(f"gateway / model CPU: {gateway_cpu / model_cpu:.2f}x")
        rss, peak = memory_mb(info.pid)
        print(f"\ngateway RSS: {rss:.1f} MB (peak {peak:.1f} MB)")
    finally:
        await stop_gateway(home)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--requests", type=int, default=3000)
    args = arguments(parser, samples=30, streams=5, requests=200)
    root = Path(tempfile.mkdtemp(prefix="scad-bench-gateway-"))
    offline = subprocess.Popen(
        [SCAD, "offline", "serve", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert offline.stdout is not None
        model_url = offline.stdout.readline().removeprefix("offline model listening on ").strip()
        anyio.run(
            bench,
            Home(root / "home"),
            model_url,
            offline.pid,
            args.samples,
            args.streams,
            args.requests,
            backend="asyncio",
        )
    finally:
        offline.send_signal(signal.SIGTERM)
        offline.wait(10)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
