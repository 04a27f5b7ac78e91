"""The checks that run throwaway containers of the built images: `claude --version`,
and a round trip through the offline model. Each container is bounded in time and
removed whatever happens."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec

from ..config.schema import Config
from ..engine import BindMount, ContainerSpec, labels
from ..errors import ScadError
from ..gateway import LOOPBACK, ensure_gateway, register_run, revoke_run
from ..home import Home
from ..layout import agent_ids
from ..names import DOCTOR_PREFIX, doctor_container_name
from ..runs.streamjson import Result, decode_event
from ..sessions.container import container_limits, container_security
from ..sessions.gateway_access import ModelAccess, model_env_file
from ..text import printable
from ._check import Check, failed, skipped
from ._engine import valid_configs
from ._host import LoadedConfig, for_each

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = [
    "CLEANUP_TIMEOUT",
    "PROBE_TIMEOUT",
    "ROUND_TRIP_TIMEOUT",
    "VERSION_TIMEOUT",
    "check_claude_versions",
    "check_round_trip",
    "probe_container",
]

#: Bounds on a throwaway container's whole life, and on removing it afterwards.
VERSION_TIMEOUT = 60.0
ROUND_TRIP_TIMEOUT = 90.0
PROBE_TIMEOUT = 60.0
CLEANUP_TIMEOUT = 30.0
#: Output of a throwaway container kept per stream.
MAX_OUTPUT = 64 * 1024
PROMPT = "SAY: doctor ok\n"
ANSWER = "doctor ok"
INPUTS = "/run/scad"
#: A ``HEAD /`` from a container (its image has Python): the status, or why none.
HEAD_PROBE = (
    "import http.client, sys\n"
    "c = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=10)\n"
    "try:\n"
    "    c.request('HEAD', '/')\n"
    "    print(c.getresponse().status)\n"
    "except OSError as e:\n"
    "    print(e)\n"
)


class _Ran(msgspec.Struct, frozen=True):
    exit_code: int
    stdout: str
    stderr: str


async def _run_container(engine: Engine, spec: ContainerSpec) -> _Ran:
    """Create, attach, start and read a throwaway container to its end; it is removed
    whatever happens. The caller bounds the time."""
    container_id = await engine.create_container(spec)
    try:
        output = {1: bytearray(), 2: bytearray()}
        # Attached before the start, as the supervisor does: nothing printed is missed.
        async with engine.attach(container_id) as stream:
            await engine.start(container_id)
            while (chunk := await stream.read()) is not None:
                kept = output.get(chunk.stream)
                if kept is not None:
                    kept += chunk.data[: MAX_OUTPUT - len(kept)]
        ended = await engine.wait(container_id)
    finally:
        with (
            anyio.CancelScope(shield=True),
            anyio.move_on_after(CLEANUP_TIMEOUT),
            contextlib.suppress(ScadError),
        ):
            await engine.remove(container_id, force=True)
    return _Ran(
        ended.exit_code,
        output[1].decode(errors="replace"),
        output[2].decode(errors="replace"),
    )


def _spec(
    config: Config,
    image: str,
    *,
    check: str,
    command: list[str],
    network: str = "none",
    env: dict[str, str] | None = None,
    mounts: Sequence[BindMount] = (),
) -> ContainerSpec:
    """A throwaway container run as a session's is: the agent's uid, the config's
    limits and hardening."""
    uid, gid = agent_ids(os.getuid(), os.getgid())
    return ContainerSpec(
        image=image,
        name=doctor_container_name(config.name, secrets.token_hex(4)),
        labels={labels.DOCTOR: check},
        command=command,
        user=f"{uid}:{gid}",
        env=env or {},
        mounts=list(mounts),
        network=network,
        limits=container_limits(config),
        security=container_security(config),
        # Read as it prints (attached): the engine need keep no more than is read.
        log_max_bytes=MAX_OUTPUT,
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return printable(lines[-1][:300]) if lines else "no output"


async def _built(engine: Engine, loaded: LoadedConfig) -> bool:
    return loaded.tag is not None and await engine.image(loaded.tag) is not None


def _rebuild(name: str) -> str:
    return f"rebuild the image: scad build {name} --rebuild"


async def check_claude_versions(engine: Engine, configs: Sequence[LoadedConfig]) -> list[Check]:
    """The image of each config that is built runs `claude --version`."""
    valid = [(c, config) for c, config in valid_configs(configs) if c.tag is not None]
    if not valid:
        return [skipped("claude --version", "no valid config")]
    return await for_each(valid, lambda item: _check_claude_version(engine, *item))


async def _check_claude_version(engine: Engine, loaded: LoadedConfig, config: Config) -> Check:
    name, tag = loaded.name, loaded.tag
    assert tag is not None
    if not await _built(engine, loaded):
        return Check(
            name="claude --version",
            status="skip",
            detail=f"not built; run `scad build {name}`",
            config=name,
        )
    spec = _spec(config, tag, check="claude-version", command=["claude", "--version"])
    try:
        with anyio.fail_after(VERSION_TIMEOUT):
            ran = await _run_container(engine, spec)
    except TimeoutError:
        return failed(
            "claude --version",
            f"no answer from {tag} within {VERSION_TIMEOUT:.0f} s",
            _rebuild(name),
            name,
        )
    except ScadError as exc:
        return failed("claude --version", f"cannot run {tag}: {exc}", _rebuild(name), name)
    if ran.exit_code != 0:
        return failed(
            "claude --version",
            f"exited {ran.exit_code} in {tag}: {_last_line(ran.stderr or ran.stdout)}",
            _rebuild(name),
            name,
        )
    return Check(
        name="claude --version",
        status="pass",
        detail=f"{_last_line(ran.stdout)} in {tag}",
        config=name,
    )


async def probe_container(
    engine: Engine, config: Config, image: str, *, network: str, address: str, port: int
) -> tuple[int, str]:
    """``HEAD /`` at ``address:port`` from a container of ``image`` on ``network``:
    its exit code and what it printed (the status). The caller bounds the time."""
    spec = _spec(
        config,
        image,
        check="gateway",
        command=["python3", "-c", HEAD_PROBE, address, str(port)],
        network=network,
    )
    ran = await _run_container(engine, spec)
    return ran.exit_code, _last_line(ran.stdout or ran.stderr)


async def _connect(
    home: Home, run_id: str, upstream: str, environ: Mapping[str, str]
) -> ModelAccess:
    """A run of the doctor's own, registered with the home's gateway (started if need
    be) with ``upstream`` as its model API: its token and the gateway's address."""

    def register() -> str:
        folder = home.run_dir(run_id)
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(mode=0o700)
        return register_run(home, run_id, upstream=upstream, address=LOOPBACK).token

    token = await anyio.to_thread.run_sync(register)
    gateway = await ensure_gateway(home, environ=environ)
    return ModelAccess(base_url=gateway.url(LOOPBACK), token=token)


def _forget(home: Home, run_id: str, inputs: Path | None) -> None:
    """The doctor's run goes: its token revoked, its folder and its inputs removed."""
    with contextlib.suppress(ScadError):
        revoke_run(home, run_id)
    shutil.rmtree(home.run_dir(run_id), ignore_errors=True)
    if inputs is not None:
        shutil.rmtree(inputs, ignore_errors=True)


def _make_inputs(access: ModelAccess) -> Path:
    """A folder laid out as a run's ``inputs/``: the prompt, and the gateway's address
    and a run token as the file the entrypoint sources (never container environment),
    as a run gets them."""
    folder = Path(tempfile.mkdtemp(prefix=DOCTOR_PREFIX))
    (folder / "prompt.txt").write_text(PROMPT)
    (folder / "credentials.env").write_text(model_env_file(access))
    # The agent's uid (another than scad's when scad runs as root) reads them; the
    # token opens nothing once the check is over (it is revoked with its run).
    for path in (folder, *folder.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


async def check_round_trip(
    engine: Engine, home: Home, configs: Sequence[LoadedConfig], environ: Mapping[str, str]
) -> list[Check]:
    """One headless Claude, in the first config's image that is built, answers the
    offline model (served here on 127.0.0.1) through the home's gateway with a run
    token of its own, as a run does (the container uses the host's network)."""
    if engine.endpoint.remote:
        why = f"the engine at {engine.endpoint.shown} is on another host, where 127.0.0.1 is not this one"
        return [skipped("round trip", why)]
    for loaded, config in valid_configs(configs):
        if await _built(engine, loaded):
            return [await _round_trip(engine, home, loaded, config, environ)]
    return [skipped("round trip", "no config's image is built; run `scad build NAME`")]


async def _round_trip(
    engine: Engine, home: Home, loaded: LoadedConfig, config: Config, environ: Mapping[str, str]
) -> Check:
    from ..offline import serve_offline_model  # aiohttp's server: only for this check

    name, tag = loaded.name, loaded.tag
    assert tag is not None
    fix = (
        f"{_rebuild(name)}; the container must reach 127.0.0.1 on the host network "
        "(a remote or rootless engine cannot)"
    )
    started = time.monotonic()
    run_id = doctor_container_name(name, secrets.token_hex(4))
    inputs: Path | None = None
    try:
        async with serve_offline_model("127.0.0.1", 0) as model:
            access = await _connect(home, run_id, model.url, environ)
            inputs = await anyio.to_thread.run_sync(_make_inputs, access)
            spec = _spec(
                config,
                tag,
                check="round-trip",
                command=["headless", "-p", "--output-format", "stream-json", "--verbose"],
                network="host",
                env={"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"},
                mounts=[BindMount(str(inputs), INPUTS, read_only=True)],
            )
            with anyio.fail_after(ROUND_TRIP_TIMEOUT):
                ran = await _run_container(engine, spec)
    except TimeoutError:
        return failed(
            "round trip", f"no result from {tag} within {ROUND_TRIP_TIMEOUT:.0f} s", fix, name
        )
    except (ScadError, OSError) as exc:
        return failed("round trip", f"cannot run {tag}: {exc}", fix, name)
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_forget, home, run_id, inputs)
    seconds = time.monotonic() - started
    results = [
        event
        for event in map(decode_event, ran.stdout.encode().splitlines())
        if isinstance(event, Result)
    ]
    if not results:
        return failed(
            "round trip",
            f"no result from claude in {tag} (exit {ran.exit_code}): "
            f"{_last_line(ran.stderr or ran.stdout)}",
            fix,
            name,
        )
    answer = printable((results[-1].result or "")[:300])
    if results[-1].is_error or ran.exit_code != 0:
        return failed(
            "round trip",
            f"claude in {tag} reported an error (exit {ran.exit_code}): {answer}",
            fix,
            name,
        )
    if ANSWER not in answer:
        return failed(
            "round trip", f"claude in {tag} answered {answer!r}, not {ANSWER!r}", fix, name
        )
    return Check(
        name="round trip",
        status="pass",
        detail=f"claude in {tag} answered the offline model in {seconds:.1f} s",
        config=name,
    )
