"""The CONNECT proxy tunnels to allowed hosts and answers everything else at once;
the fenced network is made once per home. Everything here talks to 127.0.0.1 only."""

from __future__ import annotations

import base64
import errno
import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import anyio
import pytest
from anyio.abc import SocketListener, SocketStream

from scad.engine import labels
from scad.errors import EngineError, UsageError
from scad.gateway import _accept
from scad.gateway._connect_proxy import MAX_HEAD, open_connect_proxy
from scad.gateway._egress import IPAddress, egress_policy, token_admission
from scad.gateway._network import EgressNetwork, egress_network_name, ensure_egress_network
from scad.gateway._registry import register_run, revoke_run
from scad.home import Home
from tests.fakes import FakeEngine

pytestmark = pytest.mark.anyio


async def _echo(stream: SocketStream) -> None:
    async with stream:
        async for chunk in stream:
            await stream.send(chunk)


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    """A TCP echo server on 127.0.0.1: the allowed upstream."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, _echo)
        yield listener.extra(anyio.abc.SocketAttribute.local_port)
        tg.cancel_scope.cancel()


@pytest.fixture
async def other_port() -> AsyncIterator[int]:
    """A second local service, not in any allowlist: it must never see a connection."""
    accepted: list[SocketStream] = []
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, accepted.append)
        yield listener.extra(anyio.abc.SocketAttribute.local_port)
        tg.cancel_scope.cancel()
    assert accepted == []


class Resolver:
    """Names resolved from a table, each lookup noted."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.asked.append(host)
        if host not in self.table:
            raise OSError("name not known")
        return [ipaddress.ip_address(a) for a in self.table[host]]


async def connect(port: int, request: bytes) -> tuple[SocketStream, bytes]:
    """Open a connection to the proxy, send ``request``, and read the answer's head."""
    stream = await anyio.connect_tcp("127.0.0.1", port)
    await stream.send(request)
    answer = b""
    with anyio.fail_after(10):
        while b"\r\n\r\n" not in answer:
            answer += await stream.receive()
    return stream, answer


async def refusal(port: int, request: bytes) -> str:
    stream, answer = await connect(port, request)
    async with stream:
        with anyio.fail_after(10):
            try:
                while True:
                    answer += await stream.receive()
            except anyio.EndOfStream:
                pass  # the proxy closed after answering
    head, _, body = answer.partition(b"\r\n\r\n")
    status = head.split(b"\r\n")[0].decode()
    return f"{status} | {body.decode().strip()}"


async def test_an_allowed_host_is_tunnelled_both_ways(echo_port: int) -> None:
    policy = egress_policy([f"127.0.0.1:{echo_port}"])
    async with open_connect_proxy(policy, hosts=["127.0.0.1"]) as proxy:
        # The first bytes travel with the request's head, as a TLS hello often does.
        stream, answer = await connect(
            proxy.port, f"CONNECT 127.0.0.1:{echo_port} HTTP/1.1\r\nHost: x\r\n\r\nhello".encode()
        )
        assert answer.startswith(b"HTTP/1.1 200 Connection established\r\n\r\n")
        received = answer.partition(b"\r\n\r\n")[2]
        payload = bytes(range(256)) * 8192  # 2 MiB: more than any buffer on the way holds
        async with stream, anyio.create_task_group() as tg:

            async def send() -> None:
                await stream.send(payload)
                await stream.send_eof()

            tg.start_soon(send)
            with anyio.fail_after(30):
                async for chunk in stream:  # ends when the echo's close comes back through
                    received += chunk
        assert received == b"hello" + payload


@pytest.mark.parametrize(
    ("request_line", "answer"),
    [
        pytest.param("CONNECT 127.0.0.1:{other} HTTP/1.1", "HTTP/1.1 403 Forbidden | scad egress: 127.0.0.1:{other} is not in the egress allowlist", id="other-port"),
        pytest.param("CONNECT localhost:{echo} HTTP/1.1", "HTTP/1.1 403 Forbidden | scad egress: localhost:{echo} is not in the egress allowlist", id="a-name"),
        pytest.param("CONNECT [::1]:{echo} HTTP/1.1", "HTTP/1.1 403 Forbidden | scad egress: [::1]:{echo} is not in the egress allowlist", id="ipv6-loopback"),
        pytest.param("GET http://127.0.0.1:{echo}/ HTTP/1.1", "HTTP/1.1 405 Method Not Allowed | scad egress: only CONNECT is served; use https", id="plain-http"),
        pytest.param("CONNECT 127.0.0.1 HTTP/1.1", "HTTP/1.1 400 Bad Request | scad egress: CONNECT wants host:port", id="no-port"),
        pytest.param("CONNECT a_b:443 HTTP/1.1", "HTTP/1.1 400 Bad Request | scad egress: CONNECT wants host:port", id="bad-name"),
        pytest.param("CONNECT 127.0.0.1:{echo}", "HTTP/1.1 400 Bad Request | scad egress: not an HTTP/1 request", id="no-version"),
    ],
)  # fmt: skip
async def test_anything_else_is_answered_at_once(
    echo_port: int, other_port: int, request_line: str, answer: str
) -> None:
    resolver = Resolver({})
    policy = egress_policy([f"127.0.0.1:{echo_port}"])
    async with open_connect_proxy(policy, hosts=["127.0.0.1"], resolve=resolver) as proxy:
        line = request_line.format(echo=echo_port, other=other_port)
        assert await refusal(proxy.port, f"{line}\r\n\r\n".encode()) == answer.format(
            echo=echo_port, other=other_port
        )
    assert resolver.asked == []  # a name not allowed is not even looked up


async def test_a_name_is_checked_by_the_address_it_resolves_to(
    echo_port: int, other_port: int
) -> None:
    resolver = Resolver({
        "registry.test": ["127.0.0.1"], "git.test": ["10.1.2.3"], "mixed.test": ["8.8.8.8", "127.0.0.1"],
        "mapped.test": ["::ffff:127.0.0.1"], "gone.test": [],
    })  # fmt: skip
    policy = egress_policy(
        [f"{name}:{port}" for name in resolver.table for port in (echo_port, other_port)]
        + [f"127.0.0.1:{echo_port}"]
    )
    async with open_connect_proxy(policy, hosts=["127.0.0.1"], resolve=resolver) as proxy:

        async def ask(target: str) -> str:
            return await refusal(proxy.port, f"CONNECT {target} HTTP/1.1\r\n\r\n".encode())

        refused = "HTTP/1.1 403 Forbidden | scad egress: {} resolves to {}, which the allowlist does not name"
        assert await ask(f"registry.test:{other_port}") == refused.format(
            "registry.test", "127.0.0.1"
        )
        assert await ask(f"git.test:{echo_port}") == refused.format("git.test", "10.1.2.3")
        assert await ask(f"mixed.test:{other_port}") == refused.format("mixed.test", "127.0.0.1")
        assert await ask(f"mapped.test:{other_port}") == refused.format(
            "mapped.test", "::ffff:7f00:1"
        )
        assert (
            await ask(f"gone.test:{echo_port}")
            == "HTTP/1.1 502 Bad Gateway | scad egress: gone.test does not resolve"
        )
        # Its address named too, the name leads there.
        stream, answer = await connect(
            proxy.port, f"CONNECT registry.test:{echo_port} HTTP/1.1\r\n\r\n".encode()
        )
        async with stream:
            assert answer == b"HTTP/1.1 200 Connection established\r\n\r\n"
            await stream.send(b"ping")
            assert await stream.receive() == b"ping"


async def test_an_unanswering_upstream_is_a_502(other_port: int) -> None:
    with_nobody = anyio.create_tcp_listener  # a port bound and closed: nobody listens there
    listener = await with_nobody(local_host="127.0.0.1", local_port=0)
    closed = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()
    policy = egress_policy([f"127.0.0.1:{closed}"])
    async with open_connect_proxy(policy, hosts=["127.0.0.1"]) as proxy:
        assert await refusal(
            proxy.port, f"CONNECT 127.0.0.1:{closed} HTTP/1.1\r\n\r\n".encode()
        ) == (
            f"HTTP/1.1 502 Bad Gateway | scad egress: 127.0.0.1:{closed} did not accept a connection"
        )


async def test_the_request_head_is_bounded(echo_port: int) -> None:
    policy = egress_policy([f"127.0.0.1:{echo_port}"])
    async with open_connect_proxy(policy, hosts=["127.0.0.1"]) as proxy:
        request = f"CONNECT 127.0.0.1:{echo_port} HTTP/1.1\r\nX: {'a' * MAX_HEAD}\r\n\r\n"
        assert await refusal(proxy.port, request.encode()) == (
            "HTTP/1.1 431 Request Header Fields Too Large | scad egress: request head too large"
        )


def test_a_bad_pattern_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r'^"http://x" is not a host pattern like "pypi.org:443"$'):
        egress_policy(["http://x"])


async def test_the_fenced_network_is_made_once_per_home(tmp_path: Path) -> None:
    engine, home = FakeEngine(), Home(tmp_path / "home")
    made = await ensure_egress_network(engine, home)
    assert made == EgressNetwork(name=egress_network_name(home), gateway="172.18.0.1")
    assert await ensure_egress_network(engine, home) == made
    network = engine.networks[made.name]
    assert network.internal and network.labels == {labels.HOME: labels.home_label(home)}
    other = await ensure_egress_network(engine, Home(tmp_path / "other"))
    assert other.name != made.name and len(engine.networks) == 2


async def test_a_network_made_meanwhile_is_taken(tmp_path: Path) -> None:
    home = Home(tmp_path)

    class Racing(FakeEngine):
        async def create_network(self, name: str, **kwargs: object) -> object:  # type: ignore[override]
            await FakeEngine.create_network(self, name, labels={}, internal=True)
            raise EngineError(f"create network {name}: already exists", status=409)

    assert (await ensure_egress_network(Racing(), home)).name == egress_network_name(home)


async def test_a_network_with_a_route_out_is_refused(tmp_path: Path) -> None:
    engine, home = FakeEngine(), Home(tmp_path)
    name = egress_network_name(home)
    await engine.create_network(name, labels={})
    with pytest.raises(
        EngineError,
        match=rf"^network {name} has a route out; remove it with `docker network rm {name}`",
    ):
        await ensure_egress_network(engine, home)


def _basic(token: str) -> str:
    return "Basic " + base64.b64encode(f"run:{token}".encode()).decode()


async def test_each_run_gets_its_own_allowlist_by_its_token(
    tmp_path: Path, echo_port: int, other_port: int
) -> None:
    home = Home(tmp_path / "home")
    for run_id in ("fenced", "open", "revoked"):
        home.run_dir(run_id).mkdir(parents=True)
    fenced = register_run(home, "fenced", egress=[f"127.0.0.1:{echo_port}"])
    open_run = register_run(home, "open")
    revoked = register_run(home, "revoked", egress=[f"127.0.0.1:{other_port}"])
    revoke_run(home, "revoked")
    target = "CONNECT 127.0.0.1:{} HTTP/1.1\r\nHost: x\r\n{}\r\n"
    async with open_connect_proxy(token_admission(home), hosts=["127.0.0.1"]) as proxy:
        stream, answer = await connect(
            proxy.port,
            target.format(echo_port, f"Proxy-Authorization: {_basic(fenced.token)}\r\n").encode(),
        )
        await stream.aclose()
        assert answer.startswith(b"HTTP/1.1 200 ")
        answers = [
            await refusal(proxy.port, target.format(port, header).encode())
            for port, header in [
                (other_port, f"proxy-authorization: {_basic(fenced.token)}\r\n"),
                (echo_port, ""),
                (echo_port, f"Proxy-Authorization: {_basic(open_run.token)}\r\n"),
                (other_port, f"Proxy-Authorization: {_basic(revoked.token)}\r\n"),
                (echo_port, f"Proxy-Authorization: {_basic('fenced.' + 'x' * 43)}\r\n"),
                (echo_port, f"Proxy-Authorization: Bearer {fenced.token}\r\n"),
            ]
        ]
    unknown = (
        "HTTP/1.1 407 Proxy Authentication Required | "
        "scad egress: the proxy's password must be a fenced run's gateway token"
    )
    assert answers == [
        f"HTTP/1.1 403 Forbidden | scad egress: 127.0.0.1:{other_port} is not in the egress allowlist",
        *[unknown] * 5,
    ]


class _ShortOfDescriptors:
    """A listener whose process runs out of descriptors, then has one again."""

    def __init__(self, shortages: int) -> None:
        self.shortages = shortages
        self.accepted = 0

    async def accept(self) -> SocketStream:
        if self.shortages:
            self.shortages -= 1
            raise OSError(errno.EMFILE, "Too many open files")
        self.accepted += 1
        return cast(SocketStream, object())


async def test_a_listener_out_of_descriptors_accepts_again_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_accept, "ACCEPT_BACKOFF", 0)
    listener = _ShortOfDescriptors(shortages=3)
    handled = anyio.Event()

    async def handle(client: SocketStream) -> None:
        handled.set()
        await anyio.sleep_forever()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                _accept.serve_listener, cast(SocketListener, listener), handle, anyio.Semaphore(2)
            )
            await handled.wait()
            # The slots are full: the listener takes no third connection.
            await anyio.wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
    assert listener.shortages == 0 and listener.accepted == 2
