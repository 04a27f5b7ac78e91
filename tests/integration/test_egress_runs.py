"""A fenced headless run with the real engine, the real Claude Code and the offline model
behind the gateway: it works, and from inside it the allowed local server is reached
through the gateway's proxy, another is refused, and an address or a name elsewhere
fails at once."""

from __future__ import annotations

import json

import anyio
import pytest
from anyio.abc import SocketStream

from .conftest import project_config, session_settings
from .sessions_support import Project, run, wait_for_exit

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.claude]

#: Run by the agent's Bash tool in its clone; each attempt may wait 60 s.
PROBE = r"""
import base64, errno, json, os, socket, sys, time
from urllib.parse import urlsplit

proxy = urlsplit(os.environ["HTTPS_PROXY"])
auth = base64.b64encode(f"{proxy.username}:{proxy.password}".encode()).decode()

def via(target):
    with socket.create_connection((proxy.hostname, proxy.port), timeout=60) as s:
        s.sendall(f"CONNECT {target} HTTP/1.1\r\nProxy-Authorization: Basic {auth}\r\n\r\n".encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += s.recv(4096)
        status = answer.split(b" ", 2)[1].decode()
        if status != "200":
            return status
        s.sendall(b"ping")
        return "200 " + s.recv(16).decode()

def timed(host, port):
    started = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=60):
            error = "connected"
    except socket.timeout:
        error = "timeout"
    except socket.gaierror as e:
        error = "EAI_AGAIN" if e.errno == socket.EAI_AGAIN else str(e)
    except OSError as e:
        error = errno.errorcode.get(e.errno, str(e))
    return [error, time.monotonic() - started]

allowed, other = sys.argv[1:3]
json.dump({
    "allowed": via(f"127.0.0.1:{allowed}"),
    "other": via(f"127.0.0.1:{other}"),
    "address": timed("192.0.2.1", 80),
    "name": timed("pypi.org", 443),
}, open("probe.json", "w"))
"""


async def _echo(stream: SocketStream) -> None:
    async with stream:
        async for chunk in stream:
            await stream.send(chunk)


async def test_a_fenced_run_works_and_reaches_only_its_allowlist(project: Project) -> None:
    listeners = [
        await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0) for _ in range(2)
    ]
    allowed, other = (s.extra(anyio.abc.SocketAttribute.local_port) for s in listeners)
    settings = session_settings(project.model.url).replace("network: host\n", "")
    (project.home / "configs" / "scadtest.yml").write_text(
        project_config(
            "scadtest",
            project.repo,
            settings + f"egress: {{mode: gateway, allow: ['127.0.0.1:{allowed}']}}\n",
        )
    )
    (project.repo / "probe.py").write_text(PROBE)
    await run("git", "-C", str(project.repo), "add", "probe.py")
    await run("git", "-C", str(project.repo), "commit", "-qm", "probe")
    async with anyio.create_task_group() as tg:
        for listener in listeners:
            tg.start_soon(listener.serve, _echo)
        run_id = await project.start(
            "--tag", "fenced", "--headless",
            "--prompt", f"RUN: python3 probe.py {allowed} {other}\nSAY: done",
        )  # fmt: skip
        with anyio.fail_after(300):
            exit = await wait_for_exit(run_id, timeout=240)
        tg.cancel_scope.cancel()
    for listener in listeners:
        await listener.aclose()
    assert exit["ExitCode"] == 0
    await project.scad("session", "logs", run_id)
    result = [e["data"] for e in project.envelopes(run_id) if e["src"] == "claude"][-1]
    assert result["type"] == "result" and result["result"] == "done"
    probe = json.loads((project.clone(run_id) / "probe.json").read_text())
    assert (probe["allowed"], probe["other"]) == ("200 ping", "403")
    assert (probe["address"][0], probe["name"][0]) == ("ENETUNREACH", "EAI_AGAIN")
    # Each attempt may wait 60 s: under 5 s is a refusal, never a timeout.
    assert probe["address"][1] < 5 and probe["name"][1] < 5, probe
