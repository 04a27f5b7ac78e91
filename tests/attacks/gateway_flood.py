# ruff: noqa
"""Floods a real gateway process from outside, as a run's container can: no token is
needed. Usage: python tests/attacks/gateway_flood.py memory|idle-api|idle-proxy [NOFILE]"""

import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from scad.gateway._registry import register_run
from scad.home import Home

tmp = tempfile.mkdtemp()
home = Home(Path(tmp))
home.runs.mkdir(parents=True)
home.run_dir("r1").mkdir()
reg = register_run(home, "r1", upstream="http://127.0.0.1:9", max_usd=1)
env = {**os.environ, "SCAD_HOME": tmp, "ANTHROPIC_API_KEY": "sk-HOST-SECRET"}
nofile = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
gw = subprocess.Popen(
    [
        "prlimit",
        f"--nofile={nofile}:{nofile}",
        "--",
        sys.executable,
        "-P",
        "-m",
        "scad.gateway.process",
    ],
    env=env,
    stderr=open(f"{tmp}/gw.log", "wb"),
    cwd="/",
)
state = Path(tmp, "gateway", "state.json")
while not state.exists():
    time.sleep(0.05)
st = json.loads(state.read_text())
port, pport = st["port"], st["proxy_port"]


def rss():
    return (
        int([l for l in open(f"/proc/{gw.pid}/status") if l.startswith("VmRSS")][0].split()[1])
        // 1024
    )


print("gateway pid", gw.pid, "port", port, "proxy", pport, "rss MB", rss())


async def legit():
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 3)
        w.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await w.drain()
        line = await asyncio.wait_for(r.readline(), 3)
        w.close()
        return line
    except Exception as e:
        return repr(e)


async def legit_proxy():
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", pport), 3)
        w.write(b"CONNECT a.b:443 HTTP/1.1\r\n\r\n")
        await w.drain()
        line = await asyncio.wait_for(r.readline(), 3)
        w.close()
        return line
    except Exception as e:
        return repr(e)


async def main(mode):
    held = []
    if mode == "memory":
        N = 8
        size = 60 << 20
        for i in range(N):
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(
                f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {reg.token}\r\nContent-Length: {size}\r\n\r\n".encode()
            )
            chunk = b"a" * (1 << 20)
            for _ in range(size // len(chunk) - 1):
                w.write(chunk)
                await w.drain()
            held.append(w)
        await asyncio.sleep(2)
        print(f"after {N} stalled ~60MiB bodies: gateway rss MB", rss())
    elif mode == "idle-api":
        for i in range(nofile + 100):
            try:
                r, w = await asyncio.open_connection("127.0.0.1", port)
                w.write(b"GET / HTTP/1.1\r\nX: ")
                held.append(w)
            except Exception as e:
                print("open", i, e)
                break
        await asyncio.sleep(1)
        print("legit probe while", len(held), "idle api connections:", await legit())
        print("legit proxy while idle api conns:", await legit_proxy())
    elif mode == "idle-proxy":
        for i in range(300):
            r, w = await asyncio.open_connection("127.0.0.1", pport)
            held.append(w)
        await asyncio.sleep(1)
        print(
            "proxy answer to a new client while 300 silent, unauthenticated connections:",
            await legit_proxy(),
        )
    for w in held:
        w.close()
    await asyncio.sleep(1)
    print(
        "gateway alive:", gw.poll() is None, "state:", Path(tmp, "gateway", "state.json").exists()
    )
    print("log bytes:", Path(tmp, "gw.log").stat().st_size, "after close, legit:", await legit())
    print(Path(tmp, "gw.log").read_text()[-2500:])


resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
try:
    asyncio.run(main(sys.argv[1]))
finally:
    gw.terminate()
    gw.wait()
