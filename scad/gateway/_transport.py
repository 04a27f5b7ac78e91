"""A remote run's files through the gateway: its repos as git over HTTP, its Claude
state as a tar. A run reaches them with its own token, and only its own.

- ``GET /scad/git/<key>.git/info/refs?service=git-upload-pack`` and
  ``POST .../git-upload-pack``: a clone or fetch of the run's repo ``key``, served
  from the host repo by ``git upload-pack`` (the refs a local clone of it starts
  from); nothing is written there.
- ``GET .../info/refs?service=git-receive-pack`` and ``POST .../git-receive-pack``:
  a push into the run's pushed store (:mod:`scad.code.pushed`), only of branches,
  never deleting one, bounded in bytes and in refs.
- ``/scad/pushed/<key>.git/...``: ``upload-pack`` only, from the run's pushed
  store: what its last attempt pushed, so its next attempt goes on from there.
- ``GET /scad/state`` and ``PUT /scad/state``: Claude's state (:mod:`._statearchive`).

git runs as the gateway's own child, one process per request (``--stateless-rpc``,
what ``git http-backend`` would run): the gateway picks the repository from the
token, bounds the request before git reads a byte of it, and sets git's whole
environment, with no CGI variables a request could steer. A run has one request
served at a time (what a hostile one holds is one git and one request's spool), and
a client that stops sending or reading is dropped: it holds its git no longer. A run that is unknown,
revoked or not remote gets 401; a repo that is not its own, 404.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import zlib
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

import anyio
import msgspec
from aiohttp import web
from anyio.abc import Process

from ..code import git
from ..code.pushed import (
    MAX_PUSH_BYTES,
    MAX_PUSHED_BRANCHES,
    MAX_PUSHED_STORE_BYTES,
    create_pushed_store,
    stored_bytes,
)
from ..errors import NotFound
from ..home import Home
from ..runs.records import RunPaths
from ._gitwire import WireError, advertisement, read_commands, refused_push
from ._registry import Registration, check_token, load_registration, write_registration
from ._statearchive import (
    MAX_STATE_BYTES,
    MAX_STATE_ENTRIES,
    StateRefused,
    pack_state,
    unpack_state,
)

__all__ = ["Transport", "TransportLimits", "enable_transport"]

GIT_PREFIX = "/scad/git"
PUSHED_PREFIX = "/scad/pushed"
STATE_PATH = "/scad/state"
_SERVICES = ("git-upload-pack", "git-receive-pack")
_CHUNK = 64 << 10


class TransportLimits(msgspec.Struct, frozen=True, kw_only=True):
    """What the transport takes from one request, and how many run at once."""

    push_bytes: int = MAX_PUSH_BYTES
    pushed_branches: int = MAX_PUSHED_BRANCHES
    #: The most a run's pushed store may hold, all its pushes together.
    pushed_store_bytes: int = MAX_PUSHED_STORE_BYTES
    #: A clone's or fetch's request: the commits it wants and has.
    fetch_request_bytes: int = 16 << 20
    state_entries: int = MAX_STATE_ENTRIES
    state_bytes: int = MAX_STATE_BYTES
    concurrent: int = 4
    #: How long one request's git may take.
    git_seconds: float = 900.0
    #: How long a client may leave a piece of its answer unread, or of its request
    #: unsent, before its connection is dropped.
    stall_seconds: float = 60.0


async def enable_transport(home: Home, run_id: str, repos: Mapping[str, Path]) -> Registration:
    """Let registered run ``run_id`` clone ``repos`` (key -> host repo) and push back
    through the gateway, and fetch and upload its Claude state: its pushed stores
    are made, and its registration names the repos. Registering the run again
    drops this; call it after."""
    paths = RunPaths(home, run_id)
    for key, host_repo in repos.items():
        await create_pushed_store(paths.pushed(key), host_repo)
    current = await anyio.to_thread.run_sync(load_registration, home, run_id)
    if current is None:
        raise NotFound(f"run {run_id} has no gateway registration to carry its transport")
    enabled = msgspec.structs.replace(current, repos={k: str(v) for k, v in repos.items()})
    await anyio.to_thread.run_sync(write_registration, home, enabled)
    return enabled


class Transport:
    """The handlers, and the bound on how many gits run at once."""

    def __init__(self, home: Home, limits: TransportLimits | None = None) -> None:
        self._home = home
        self._limits = limits or TransportLimits()
        self._running = anyio.CapacityLimiter(self._limits.concurrent)
        #: The runs with a request being served, and the ones waiting for theirs.
        self._serving: dict[str, anyio.Lock] = {}

    def add_routes(self, app: web.Application) -> None:
        for prefix in (GIT_PREFIX, PUSHED_PREFIX):
            app.router.add_get(prefix + "/{repo}/info/refs", self.refs)
            app.router.add_post(prefix + "/{repo}/{service}", self.service)
        app.router.add_get(STATE_PATH, self.state_out)
        app.router.add_put(STATE_PATH, self.state_in)

    async def refs(self, request: web.Request) -> web.StreamResponse:
        service = request.query.get("service", "")
        found = await self._repo(request, service)
        if isinstance(found, web.Response):
            return found
        registration, key = found
        async with self._turn(registration.run_id):
            response = await self._open(request, f"application/x-{service}-advertisement")
            await response.write(advertisement(service))
            await self._git(
                request, response, registration, key, service, None,
                advertise=True, stored=_from_store(request),
            )  # fmt: skip
        return response

    async def service(self, request: web.Request) -> web.StreamResponse:
        service = request.match_info["service"]
        found = await self._repo(request, service)
        if isinstance(found, web.Response):
            return found
        registration, key = found
        pushing = service == "git-receive-pack"
        bound = self._limits.push_bytes if pushing else self._limits.fetch_request_bytes
        async with self._turn(registration.run_id):
            with tempfile.TemporaryFile() as body:
                refused = await _spool(request, body, bound, self._limits.stall_seconds)
                if refused is None and pushing:
                    refused = await self._refused_push(registration.run_id, key, body)
                if refused is not None:
                    return refused
                response = await self._open(request, f"application/x-{service}-result")
                await self._git(
                    request, response, registration, key, service, body,
                    advertise=False, stored=_from_store(request),
                )  # fmt: skip
        return response

    async def state_out(self, request: web.Request) -> web.StreamResponse:
        registration = self._remote_run(request)
        if registration is None:
            return _text(401, "this token opens no remote run")
        async with self._turn(registration.run_id):
            return await self._send_state(request, registration.run_id)

    async def _send_state(self, request: web.Request, run_id: str) -> web.StreamResponse:
        run_dir = self._home.run_dir(run_id)
        with tempfile.TemporaryFile() as packed:
            try:
                await anyio.to_thread.run_sync(
                    lambda: pack_state(
                        run_dir, packed,
                        max_entries=self._limits.state_entries, max_bytes=self._limits.state_bytes,
                    )
                )  # fmt: skip
            except (StateRefused, OSError) as exc:
                return _text(500, f"the run's state cannot be sent: {exc}")
            packed.seek(0)
            response = await self._open(request, "application/x-tar")
            while chunk := await anyio.to_thread.run_sync(packed.read, _CHUNK):
                if not await _sent(request, response.write(chunk), self._limits.stall_seconds):
                    return response
            await _sent(request, response.write_eof(), self._limits.stall_seconds)
        return response

    async def state_in(self, request: web.Request) -> web.Response:
        registration = self._remote_run(request)
        if registration is None:
            return _text(401, "this token opens no remote run")
        async with self._turn(registration.run_id):
            return await self._take_state(request, registration.run_id)

    async def _take_state(self, request: web.Request, run_id: str) -> web.Response:
        run_dir = self._home.run_dir(run_id)
        with tempfile.TemporaryFile() as body:
            # A tar's blocks add to what its files hold: a little room over the bound.
            bound = self._limits.state_bytes + (1 << 20)
            refused = await _spool(request, body, bound, self._limits.stall_seconds)
            if refused is not None:
                return refused
            body.seek(0)
            try:
                await anyio.to_thread.run_sync(
                    lambda: unpack_state(
                        run_dir, body,
                        max_entries=self._limits.state_entries, max_bytes=self._limits.state_bytes,
                    )
                )  # fmt: skip
            except StateRefused as exc:
                return _text(422, f"the state was refused: {exc}")
        return _text(200, "state stored")

    @asynccontextmanager
    async def _turn(self, run_id: str) -> AsyncIterator[None]:
        """The run's turn: one request of a run is served at a time."""
        lock = self._serving.setdefault(run_id, anyio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and not lock.statistics().tasks_waiting:
                self._serving.pop(run_id, None)

    def _remote_run(self, request: web.Request) -> Registration | None:
        """The live remote run whose token the request carries."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        registration = check_token(self._home, value.strip())
        return registration if registration is not None and registration.repos else None

    async def _repo(
        self, request: web.Request, service: str
    ) -> tuple[Registration, str] | web.Response:
        registration = self._remote_run(request)
        if registration is None:
            # git's client asks for credentials on a 401 with this header, and then
            # gives up: its token is given through http.extraHeader.
            answer = _text(401, "this token opens no remote run")
            answer.headers["WWW-Authenticate"] = 'Bearer realm="scad"'
            return answer
        repo = request.match_info["repo"]
        key = repo.removesuffix(".git")
        if service not in _SERVICES:
            return _text(403, "only git's smart HTTP services are served")
        if _from_store(request) and service != "git-upload-pack":
            return _text(403, "what a run pushed is only read from here")
        assert registration.repos is not None
        if not repo.endswith(".git") or key not in registration.repos:
            return _text(404, "no such repo for this run")
        return registration, key

    async def _refused_push(self, run_id: str, key: str, body: IO[bytes]) -> web.Response | None:
        limit = self._limits.pushed_branches
        body.seek(0)
        try:
            commands = await anyio.to_thread.run_sync(
                lambda: read_commands(body, limit=limit)  # type: ignore[arg-type]
            )
        except WireError as exc:
            return _text(400, f"push refused: {exc}")
        store = RunPaths(self._home, run_id).pushed(key)
        held = await git.store_git(store, "for-each-ref", "--format=%(refname)", "refs/heads/")
        why = refused_push(commands, len(held.splitlines()), limit)
        if why is None:
            bound = self._limits.pushed_store_bytes
            sent = os.fstat(body.fileno()).st_size
            stored = await anyio.to_thread.run_sync(lambda: stored_bytes(store, limit=bound))
            if stored + sent > bound:
                why = f"the run's store would hold more than its {bound} bytes"
        return None if why is None else _text(403, f"push refused: {why}")

    async def _open(self, request: web.Request, content_type: str) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": content_type, "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        return response

    async def _git(
        self,
        request: web.Request,
        response: web.StreamResponse,
        registration: Registration,
        key: str,
        service: str,
        body: IO[bytes] | None,
        *,
        advertise: bool,
        stored: bool,
    ) -> None:
        """Run the service's git with ``body`` on its stdin, its stdout to the client;
        ``stored``: a fetch from the run's pushed store, not from the host repo."""
        assert registration.repos is not None
        verb = service.removeprefix("git-")
        if verb == "upload-pack" and not stored:
            command, env = git.host_service(
                Path(registration.repos[key]), verb, advertise=advertise
            )
        else:
            store = RunPaths(self._home, registration.run_id).pushed(key)
            extra = ["--advertise-refs"] if advertise else []
            command = git.store_command(store, verb, "--stateless-rpc", *extra, str(store))
            env = git.store_environment()
        async with self._running:
            with tempfile.TemporaryFile() as errors:
                stdin = subprocess.DEVNULL if body is None else _rewound(body)
                process = await anyio.open_process(command, stdin=stdin, stderr=errors, env=env)
                whole = await _relay(request, process, response, self._limits)
        if whole:
            await _sent(request, response.write_eof(), self._limits.stall_seconds)


def _from_store(request: web.Request) -> bool:
    """Whether the request reads the run's pushed store (else its host repo)."""
    return request.path.startswith(PUSHED_PREFIX + "/")


def _rewound(file: IO[bytes]) -> int:
    """``file``'s descriptor at its start: a buffered file's ``seek`` within its buffer
    leaves the descriptor where it was, and git reads the descriptor."""
    file.flush()
    os.lseek(file.fileno(), 0, os.SEEK_SET)
    return file.fileno()


async def _relay(
    request: web.Request, process: Process, response: web.StreamResponse, limits: TransportLimits
) -> bool:
    """git's output to the client; git ended when the client leaves, stalls (False)
    or time is up."""
    try:
        with anyio.fail_after(limits.git_seconds):
            assert process.stdout is not None
            async for chunk in process.stdout:
                if not await _sent(request, response.write(chunk), limits.stall_seconds):
                    return False
            await process.wait()
    finally:
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                process.kill()
            await process.aclose()
    return True


async def _sent(request: web.Request, writing: Awaitable[None], seconds: float) -> bool:
    """Whether ``writing`` got through to the client within ``seconds``; a client
    that took none of it meanwhile is dropped."""
    with anyio.move_on_after(seconds) as waited:
        await writing
    if waited.cancelled_caught and request.transport is not None:
        request.transport.abort()
    return not waited.cancelled_caught


async def _spool(
    request: web.Request, into: IO[bytes], limit: int, stall: float
) -> web.Response | None:
    """Copy the request's body into ``into`` (gunzipped, as git's client may send it),
    at most ``limit`` bytes, each piece within ``stall`` seconds; the answer that
    refuses it otherwise."""
    encoding = request.headers.get("content-encoding", "").lower()
    inflate = zlib.decompressobj(wbits=31) if encoding in ("gzip", "x-gzip") else None
    written = 0
    try:
        while True:
            with anyio.move_on_after(stall) as waited:
                chunk = await request.content.read(_CHUNK)
            if waited.cancelled_caught:
                stalled = _text(408, f"the request sent nothing for {stall:.0f} seconds")
                stalled.force_close()
                return stalled
            if not chunk:
                break
            if inflate is not None:
                chunk = inflate.decompress(chunk, limit + 1 - written)
                if inflate.unconsumed_tail:
                    written = limit + 1
            written += len(chunk)
            if written > limit:
                too_large = _text(413, f"the request is over the {limit}-byte bound")
                too_large.force_close()
                return too_large
            into.write(chunk)
    except zlib.error:
        return _text(400, "the request's gzip is broken")
    return None


def _text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=f"scad gateway: {message}\n")
