"""The gateway's process: ``python -P -m scad.gateway.process [--listen ADDR]...``.

It takes the home's gateway lock (a second gateway of the same home ends at once),
serves until SIGTERM or SIGINT, and keeps the lock until it ends. ``-P`` keeps the
folder it was started from off the import path. Its output is ``gateway/gateway.log``.

``SCAD_GATEWAY_OAUTH_TOKEN_ENDPOINT`` in its environment replaces Claude's OAuth token
endpoint (where an expiring login is refreshed): for tests, which stand one up on
127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import resource
import signal
import sys
import time

import anyio

from ..home import Home, scad_home
from ..interrupts import open_signal_receiver
from ..runs.records import now_iso
from ._credentials import TOKEN_ENDPOINT, credential_source
from ._lifecycle import GatewayInfo, GatewayPaths, read_state, write_state
from ._server import serve_gateway

__all__ = ["TOKEN_ENDPOINT_VARIABLE", "main"]

#: Replaces Claude's OAuth token endpoint; for tests.
TOKEN_ENDPOINT_VARIABLE = "SCAD_GATEWAY_OAUTH_TOKEN_ENDPOINT"

#: How long a new gateway waits for the lock (others look at it for an instant).
_LOCK_SECONDS = 2.0
#: What asyncio says, with a traceback, each time a listener cannot accept.
_ACCEPT_SHORTAGE = "socket.accept() out of system resource"
#: How often that is said in the log at most.
_ACCEPT_REPORT_SECONDS = 60.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="scad.gateway.process")
    parser.add_argument("--listen", action="append", default=[], metavar="ADDRESS")
    args = parser.parse_args(argv)
    home = scad_home()
    paths = GatewayPaths(home)
    paths.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not _take_lock(paths):
        sys.stderr.write("scad gateway: another gateway serves this home\n")
        return
    raise_descriptor_limit()
    anyio.run(_serve, home, paths, args.listen, backend="asyncio")


def raise_descriptor_limit() -> None:
    """Every connection the gateway holds is a descriptor: take as many as it may."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):  # an unlimited hard limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class AcceptShortageReport:
    """asyncio's exception handler, saying a failed accept in one line a minute at most:
    a flood of connections makes one traceback per attempt, and fills the log."""

    def __init__(self) -> None:
        self._said: float | None = None

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        if context.get("message") != _ACCEPT_SHORTAGE:
            loop.default_exception_handler(context)
            return
        now = time.monotonic()
        if self._said is None or now - self._said >= _ACCEPT_REPORT_SECONDS:
            self._said = now
            sys.stderr.write(
                f"scad gateway: cannot accept connections ({context.get('exception')}) "
                f"at {now_iso()}\n"
            )


def _take_lock(paths: GatewayPaths) -> bool:
    """Hold the home's gateway lock for the life of this process. A look at whether a
    gateway runs holds it shared for an instant: that is waited out, a gateway is not."""
    lock = os.open(paths.lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + _LOCK_SECONDS
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True  # the descriptor stays open, and the lock with it
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(lock)
                return False
            time.sleep(0.01)


async def _serve(home: Home, paths: GatewayPaths, addresses: list[str]) -> None:
    asyncio.get_running_loop().set_exception_handler(AcceptShortageReport())
    credential = credential_source(
        os.environ, token_endpoint=os.environ.get(TOKEN_ENDPOINT_VARIABLE) or TOKEN_ENDPOINT
    )
    previous = read_state(paths)
    with open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with serve_gateway(
            home,
            credential,
            addresses=addresses,
            port=previous.port if previous else 0,
            proxy_port=previous.proxy_port or 0 if previous else 0,
        ) as listening:
            write_state(
                paths,
                GatewayInfo(
                    pid=os.getpid(),
                    port=listening.port,
                    addresses=listening.addresses,
                    proxy_port=listening.proxy_port,
                    started=now_iso(),
                    credential=credential.method if credential else None,
                ),
            )
            sys.stderr.write(
                f"scad gateway {os.getpid()} listening on port {listening.port} "
                f"(CONNECT proxy {listening.proxy_port}) "
                f"({', '.join(listening.addresses)}) at {now_iso()}\n"
            )
            async for received in signals:
                sys.stderr.write(f"scad gateway {os.getpid()} stopping on signal {received}\n")
                break


if __name__ == "__main__":
    main()
