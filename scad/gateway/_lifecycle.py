"""One gateway per scad home: started on demand, found again, stopped.

The gateway is a process of its own (:mod:`.process`), started in ``/`` in a new
session so it outlives the command that started it. It holds ``gateway/lock`` for
its whole life and writes ``gateway/state.json`` (pid, port, addresses) once it
listens: a gateway is running when the lock is held and the state's pid is alive.
A new gateway takes the port of the one before, so runs that were given its address
reach it again (Claude Code retries a refused connection).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio
import msgspec

from ..detached import last_line, spawn
from ..errors import GatewayError
from ..home import Home
from ..threads import async_twin

__all__ = [
    "LOOPBACK",
    "GatewayInfo",
    "GatewayPaths",
    "ensure_gateway",
    "gateway_info",
    "read_state",
    "stop_gateway",
    "write_state",
]

#: Where a gateway always listens (the host's own clients, and runs on its network).
LOOPBACK = "127.0.0.1"
#: How long a new gateway may take to listen.
START_SECONDS = 30
#: How long a gateway may take to stop (answers in flight are cut short).
STOP_SECONDS = 15
#: How long a gateway that let go of its lock may take to end, when this process reaps it.
REAP_SECONDS = 5.0
#: How large the log may grow before a new gateway puts it aside (one older log kept).
LOG_LIMIT = 8 << 20
#: Gateways this process started: kept to be reaped when they end (a gateway outlives
#: its starter, so the starter cannot wait for it).
_STARTED: list[subprocess.Popen[bytes]] = []
_STARTED_LOCK = threading.Lock()  # started and reaped on worker threads


class GatewayInfo(msgspec.Struct, kw_only=True, frozen=True):
    """A running gateway."""

    pid: int
    port: int
    addresses: list[str]
    started: str
    credential: str | None
    """How it authenticates upstream (api-key, oauth-token), None without a credential."""
    proxy_port: int | None = None
    """Where its CONNECT proxy for fenced runs listens (None: a gateway from before it)."""

    def url(self, address: str = LOOPBACK) -> str:
        """What ``ANTHROPIC_BASE_URL`` is for a client that reaches it at ``address``."""
        return f"http://{address}:{self.port}"

    def proxy_url(self, token: str, address: str) -> str | None:
        """What ``HTTPS_PROXY`` is for the run of ``token`` that reaches it at ``address``."""
        if self.proxy_port is None:
            return None
        return f"http://run:{token}@{address}:{self.proxy_port}"


class GatewayPaths:
    def __init__(self, home: Home) -> None:
        self.root = home.root / "gateway"

    @property
    def lock(self) -> Path:
        return self.root / "lock"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def log(self) -> Path:
        return self.root / "gateway.log"


def read_state(paths: GatewayPaths) -> GatewayInfo | None:
    try:
        return msgspec.json.decode(paths.state.read_bytes(), type=GatewayInfo)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def write_state(paths: GatewayPaths, info: GatewayInfo) -> None:
    tmp = paths.state.with_name(f".state.{os.getpid()}")
    tmp.write_bytes(msgspec.json.encode(info))
    os.replace(tmp, paths.state)


def gateway_info(home: Home) -> GatewayInfo | None:
    """The home's running gateway; None when none runs."""
    paths = GatewayPaths(home)
    _reap()
    if not _lock_held(paths):
        return None
    info = read_state(paths)
    return info if info is not None and _alive(info.pid) else None


# Async code asks on a worker thread: the state's lock and read are file work.
_agateway_info = async_twin(gateway_info)


#: How many times a start lost to another caller's is looked at again.
_RACES = 3


async def ensure_gateway(
    home: Home, *, addresses: Sequence[str] = (), environ: Mapping[str, str] | None = None
) -> GatewayInfo:
    """The home's gateway, started when none runs, listening on 127.0.0.1 and ``addresses``.

    A running gateway that lacks one of ``addresses`` is restarted on all of them, on
    its port. A new gateway takes its credential from ``environ`` (default: this
    process's environment).
    """
    wanted = [a for a in dict.fromkeys([LOOPBACK, *addresses])]
    # Callers in one process may race (doctor's checks ask for their addresses at
    # once): one that loses to the other's gateway looks at that one again.
    for _ in range(_RACES):
        info = await _agateway_info(home)
        if info is not None:
            if set(wanted) <= set(info.addresses) and info.proxy_port is not None:
                return info
            wanted = list(dict.fromkeys([*info.addresses, *wanted]))
            await stop_gateway(home)
        started = await _start(home, wanted, environ)
        if started is not None:
            return started
    raise GatewayError(f"the gateway was started by another caller {_RACES} times over; try again")


async def _start(
    home: Home, wanted: list[str], environ: Mapping[str, str] | None
) -> GatewayInfo | None:
    """A new gateway on ``wanted``; None when another one took the home first."""
    paths = GatewayPaths(home)
    process = await anyio.to_thread.run_sync(_start_process, home, paths, wanted, environ)
    with anyio.move_on_after(START_SECONDS):
        while True:
            info = await _agateway_info(home)
            if info is not None and set(wanted) <= set(info.addresses):
                return info
            if process.poll() is not None:
                if await _alock_held(paths):
                    return None  # it found the home's lock taken: another gateway runs
                break
            await anyio.sleep(0.05)
    if process.poll() is None:
        raise GatewayError(
            f"the gateway (pid {process.pid}) is not listening after {START_SECONDS} s; see {paths.log}"
        )
    said = await anyio.to_thread.run_sync(last_line, paths.log)
    raise GatewayError(f"the gateway ended at once: {said}")


async def stop_gateway(home: Home) -> bool:
    """Stop the home's gateway; False when none ran."""
    info = await _agateway_info(home)
    if info is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(info.pid, signal.SIGTERM)
    with anyio.move_on_after(STOP_SECONDS) as waited:
        while await _alock_held(GatewayPaths(home)):  # noqa: ASYNC110 (another process)
            await anyio.sleep(0.05)
    if waited.cancelled_caught:
        raise GatewayError(f"the gateway (pid {info.pid}) did not stop in time")
    # A Ctrl-C need not wait for it: the thread reaps on by itself.
    await anyio.to_thread.run_sync(_reap_ended, info.pid, abandon_on_cancel=True)
    return True


def _start_process(
    home: Home, paths: GatewayPaths, addresses: list[str], environ: Mapping[str, str] | None
) -> subprocess.Popen[bytes]:
    paths.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {**(os.environ if environ is None else environ), "SCAD_HOME": str(home.root)}
    set_log_aside(paths.log)
    listen = [word for address in addresses for word in ("--listen", address)]
    process = spawn("scad.gateway.process", listen, paths.log, env)
    with _STARTED_LOCK:
        _STARTED.append(process)
    return process


def set_log_aside(log: Path) -> None:
    """Keep ``log`` within :data:`LOG_LIMIT` across gateways: a large one becomes the
    one older log, replacing the one before."""
    with contextlib.suppress(OSError):
        if log.stat().st_size > LOG_LIMIT:
            os.replace(log, log.with_name(log.name + ".1"))


def _reap() -> None:
    with _STARTED_LOCK:
        _STARTED[:] = [process for process in _STARTED if process.poll() is None]


def _reap_ended(pid: int) -> None:
    """Reap the gateway ``pid`` if this process started it: it let go of its lock as
    it ended, and is gone a moment later (else it would stay a zombie)."""
    with _STARTED_LOCK:
        ours = [process for process in _STARTED if process.pid == pid]
    for process in ours:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=REAP_SECONDS)
    _reap()


def _lock_held(paths: GatewayPaths) -> bool:
    try:
        fd = os.open(paths.lock, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock taken just now
    return False


async def _alock_held(paths: GatewayPaths) -> bool:
    return await anyio.to_thread.run_sync(_lock_held, paths)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether ``pid`` has ended and waits for its parent to reap it (a gateway killed
    under the process that started it)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[:1] == [b"Z"]
    except OSError:
        return False
