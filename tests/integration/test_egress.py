"""A fenced run against the real engine: on its home's --internal network a container
reaches the host's address on that network and nothing else, and through the CONNECT
proxy served there it reaches an allowed local server and is refused another at once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from anyio.abc import SocketStream

from scad.engine import ContainerSpec, Engine
from scad.engine._types import BindMount, Security
from scad.gateway._connect_proxy import open_connect_proxy
from scad.gateway._egress import egress_policy
from scad.gateway._network import EgressNetwork, ensure_egress_network
from scad.home import Home
from scad.runs.fence import fence_container, fenced_spec
from scad.sessions.gateway_access import FENCED_RESOLV_CONF

from .conftest import BASE_IMAGE

pytestmark = [pytest.mark.anyio, pytest.mark.docker]

#: Run in the container: each probe says what happened, a timeout apart from a refusal.
PROBE = r"""
import errno, json, socket, sys, time

def direct(host, port):
    try:
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(b"ping")
            return "echo:" + s.recv(16).decode()
    except socket.timeout:
        return "timeout"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e))

def via(proxy, port, target):
    try:
        with socket.create_connection((proxy, int(port)), timeout=20) as s:
            s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = s.recv(4096)
                if not chunk:
                    break
                answer += chunk
            status = answer.split(b" ", 2)[1].decode()
            if status != "200":
                return status
            s.sendall(b"ping")
            return "200 echo:" + s.recv(16).decode()
    except socket.timeout:
        return "timeout"

def timed(host, port):
    started = time.monotonic()
    try:
        with socket.create_connection((host, int(port)), timeout=60):
            error = "connected"
    except socket.timeout:
        error = "timeout"
    except socket.gaierror as e:
        error = {socket.EAI_AGAIN: "EAI_AGAIN", socket.EAI_NONAME: "EAI_NONAME"}.get(e.errno, str(e))
    except OSError as e:
        error = errno.errorcode.get(e.errno, str(e))
    return [error, time.monotonic() - started]

probes = json.loads(sys.argv[1])
kinds = {"direct": direct, "via": via, "timed": timed}
print(json.dumps([kinds[kind](*args) for kind, *args in probes]))
"""


async def _echo(stream: SocketStream) -> None:
    async with stream:
        async for chunk in stream:
            await stream.send(chunk)


@pytest.fixture
async def fenced(engine: Engine, tmp_path: Path) -> AsyncIterator[EgressNetwork]:
    home = Home(tmp_path / "home")
    network = await ensure_egress_network(engine, home)
    try:
        assert await ensure_egress_network(engine, home) == network  # made once
        info = await engine.network(network.name)
        assert info is not None and info.internal
        yield network
    finally:
        await engine.remove_network(network.name)
    assert await engine.network(network.name) is None


async def test_a_fenced_container_reaches_the_gateway_and_allowed_hosts_only(
    engine: Engine, fenced: EgressNetwork, test_label: str
) -> None:
    spec = ContainerSpec(
        image=BASE_IMAGE,
        name=f"scad-{test_label}",
        labels={"scad.test": test_label},
        command=["sleep", "300"],
        network=fenced.name,
    )
    listeners = [
        await anyio.create_tcp_listener(local_host=host, local_port=0)
        for host in (fenced.gateway, "127.0.0.1", "127.0.0.1")
    ]
    at_gateway, allowed, other = (
        listener.extra(anyio.abc.SocketAttribute.local_port) for listener in listeners
    )
    policy = egress_policy([f"127.0.0.1:{allowed}"])
    container_id = await engine.create_container(spec)
    try:
        async with anyio.create_task_group() as tg:
            for listener in listeners:
                tg.start_soon(listener.serve, _echo)
            async with open_connect_proxy(policy, hosts=[fenced.gateway]) as proxy:
                await engine.start(container_id)
                probes = [
                    ["direct", fenced.gateway, at_gateway],
                    ["via", fenced.gateway, proxy.port, f"127.0.0.1:{allowed}"],
                    ["via", fenced.gateway, proxy.port, f"127.0.0.1:{other}"],
                    ["via", fenced.gateway, proxy.port, f"localhost:{allowed}"],
                    ["via", fenced.gateway, proxy.port, f"{fenced.gateway}:{at_gateway}"],
                ]
                result = await engine.exec(
                    container_id, ["python3", "-c", PROBE, json.dumps(probes)]
                )
            tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await engine.remove(container_id, force=True)
            for listener in listeners:
                await listener.aclose()
    assert result.exit_code == 0, result.output
    # Refusals come as answers, never as timeouts.
    assert json.loads(result.output) == ["echo:ping", "200 echo:ping", "403", "403", "403"]


async def test_a_fenced_container_fails_at_once_to_reach_anything_else(
    engine: Engine, fenced: EgressNetwork, test_label: str, tmp_path: Path
) -> None:
    """Its routes cut at its start and no name server: an address elsewhere (here the
    host's own, on another network, with a server listening) and a name fail with an
    error, not a timeout, while the gateway's address stays reachable."""
    other = f"scad-{test_label}"
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(FENCED_RESOLV_CONF)
    resolv.chmod(0o644)
    spec = fenced_spec(
        ContainerSpec(
            image=BASE_IMAGE,
            name=f"scad-{test_label}",
            labels={"scad.test": test_label},
            command=["sleep", "300"],
            network=fenced.name,
            mounts=[BindMount(str(resolv), "/etc/resolv.conf", read_only=True)],
            security=Security(no_new_privileges=True, cap_drop_all=True),
        )
    )
    elsewhere = await engine.create_network(other, labels={"scad.test": test_label})
    assert elsewhere.gateway is not None
    listeners = [
        await anyio.create_tcp_listener(local_host=host, local_port=0)
        for host in (fenced.gateway, elsewhere.gateway)
    ]
    at_gateway, at_elsewhere = (
        listener.extra(anyio.abc.SocketAttribute.local_port) for listener in listeners
    )
    container_id = await engine.create_container(spec)
    try:
        async with anyio.create_task_group() as tg:
            for listener in listeners:
                tg.start_soon(listener.serve, _echo)
            await engine.start(container_id)
            await fence_container(engine, container_id, BASE_IMAGE)
            probes = [
                ["direct", fenced.gateway, at_gateway],
                ["timed", elsewhere.gateway, at_elsewhere],
                ["timed", "192.0.2.1", 80],  # TEST-NET-1: never routed anywhere
                ["timed", "pypi.org", 443],
                ["timed", other, 80],
            ]
            result = await engine.exec(container_id, ["python3", "-c", PROBE, json.dumps(probes)])
            tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await engine.remove(container_id, force=True)
            await engine.remove_network(other)
            for listener in listeners:
                await listener.aclose()
    assert result.exit_code == 0, result.output
    outcomes = json.loads(result.output)
    assert outcomes[0] == "echo:ping"
    # Each attempt may wait 60 s; an answer in under 5 s is a refusal, never a timeout.
    assert [error for error, _ in outcomes[1:]] == ["ENETUNREACH"] * 2 + ["EAI_AGAIN"] * 2
    assert all(seconds < 5 for _, seconds in outcomes[1:]), outcomes
