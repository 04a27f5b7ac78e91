"""`scad.doctor`: every check's pass, warn, fail and skip, against the engine fake."""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from scad.config.registry import load_registered
from scad.doctor import CHECKS, DISK_FAIL_BYTES, DISK_WARN_BYTES, Check, run_checks
from scad.doctor import _containers as doctor_containers
from scad.doctor._cluster import SWARM_CHECKS
from scad.engine._endpoint import Endpoint
from scad.engine._types import ContainerSpec, Engine, ImageInfo
from scad.errors import EngineError, EngineUnavailable, GatewayError
from scad.gateway import GatewayInfo, Registration
from scad.home import Home
from scad.image.build import build_context
from scad.layout import agent_ids
from scad.sessions.container import unwritable_mounts
from tests.conftest import make_repo
from tests.fakes import FakeEngine, Script
from tests.unit.conftest import GIB, Disk

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
VERSION = b"2.1.332 (Claude Code)\n"
UNAVAILABLE = (
    "cannot reach the Docker engine at unix:///nonexistent; start dockerd (or Docker "
    "Desktop) or point DOCKER_HOST (or a Docker context) at a running engine"
)
ENGINE_FIX = (
    "start dockerd (or Docker Desktop), or point DOCKER_HOST (or a Docker context) at a running engine; "
    "`docker info` must answer"
)
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def result_line(text: str = "doctor ok", is_error: bool = False) -> bytes:
    result = {"type": "result", "subtype": "success", "is_error": is_error, "result": text}
    return (
        json.dumps({"type": "system", "subtype": "init"}).encode()
        + b"\n"
        + (json.dumps(result).encode() + b"\n")
    )


class Containers:
    """What the fake's containers do: `claude --version` and a headless Claude; and
    what the round trip's container found in its inputs when it was made."""

    def __init__(self) -> None:
        self.version = Script(chunks=[(1, VERSION)])
        self.headless = Script(chunks=[(1, result_line())])
        self.probe = Script(chunks=[(1, b"200\n")])
        self.specs: list[ContainerSpec] = []
        self.inputs: dict[str, str] = {}

    def __call__(self, spec: ContainerSpec) -> Script:
        self.specs.append(spec)
        if spec.command == ["claude", "--version"]:
            return self.version
        if spec.command[0] == "python3":
            return self.probe
        (inputs,) = [m.source for m in spec.mounts if m.target == "/run/scad"]
        self.inputs = {p.name: p.read_text() for p in Path(inputs).iterdir()}
        return self.headless


def image(*tags: str) -> ImageInfo:
    return ImageInfo(id=f"sha256:{tags[0]}", tags=list(tags), labels={}, created="")


class Host:
    """A scad home with configs, a fake engine with their images, and an environment."""

    def __init__(self, root: Path, tmp_path: Path) -> None:
        self.home = Home(root)
        self.tmp = tmp_path
        self.containers = Containers()
        self.engine = FakeEngine(images=[image("python:3.11-slim")], script=self.containers)
        self.engine.data_root = str(tmp_path / "docker")
        os.makedirs(self.engine.data_root, exist_ok=True)
        self.environ = {"HOME": str(tmp_path / "user"), "ANTHROPIC_API_KEY": "sk-test"}

    def config(self, name: str = "proj", extra: str = "", repo: Path | None = None) -> Path:
        repo = repo or make_repo(self.tmp / f"{name}-repo")
        self.home.configs.mkdir(parents=True, exist_ok=True)
        path = self.home.config_file(name)
        path.write_text(f"name: {name}\nrepos:\n  code: {{path: {repo}, workdir: true}}\n{extra}")
        return repo

    def tag(self, name: str = "proj") -> str:
        return build_context(self.home, load_registered(self.home, name)).tag

    def build(self, name: str = "proj") -> str:
        tag = self.tag(name)
        self.engine.image_list.append(image(tag))
        return tag

    def factory(self) -> Callable[[], AbstractAsyncContextManager[Engine]]:
        @asynccontextmanager
        async def open_fake() -> AsyncIterator[Engine]:
            yield self.engine

        return open_fake

    async def run(self, **options: object) -> dict[str, list[Check]]:
        options.setdefault("engine_factory", self.factory())
        options.setdefault("now", NOW)
        checks = await run_checks(self.home, self.environ, **options)  # type: ignore[arg-type]
        by_name: dict[str, list[Check]] = {}
        for check in checks:
            by_name.setdefault(check.name, []).append(check)
        return by_name


HERE = socket.gethostname()


class FakeGateway:
    """The home's gateway without a process of its own: something on 127.0.0.1 that
    answers ``HEAD /`` (the offline model), and the addresses it was asked to add."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.asked: list[list[str]] = []
        self.environ: Mapping[str, str] | None = None

    async def __call__(
        self, home: Home, *, addresses: Sequence[str] = (), environ: Mapping[str, str] | None = None
    ) -> GatewayInfo:
        self.asked.append(list(addresses))
        self.environ = environ
        return GatewayInfo(pid=4321, port=self.port, addresses=["127.0.0.1", *addresses],
                           started="", credential="api-key")  # fmt: skip


@pytest.fixture
async def gateway(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeGateway]:
    from scad.offline import serve_offline_model

    async with serve_offline_model("127.0.0.1", 0) as model:
        fake = FakeGateway(int(model.url.rsplit(":", 1)[1]))
        monkeypatch.setattr("scad.doctor._gateway.ensure_gateway", fake)
        monkeypatch.setattr("scad.doctor._containers.ensure_gateway", fake)
        yield fake


@pytest.fixture
def host(
    scad_home: Path, tmp_path: Path, disk: Disk, monkeypatch: pytest.MonkeyPatch,
    gateway: FakeGateway,
) -> Host:  # fmt: skip
    monkeypatch.delenv("DOCKER_HOST", raising=False)  # the local engine
    return Host(scad_home, tmp_path)


def ok(name: str, detail: str, config: str | None = None) -> Check:
    return Check(name=name, status="pass", detail=detail, config=config)


async def test_a_healthy_host_passes_every_check(host: Host, gateway: FakeGateway) -> None:
    host.config()
    tag = host.build()
    seen: list[Check] = []

    checks = await run_checks(
        host.home, host.environ, engine_factory=host.factory(), now=NOW, on_check=seen.append
    )

    round_trip = checks[-1]
    assert round_trip.status == "pass", round_trip
    assert round_trip.detail.startswith(f"claude in {tag} answered the offline model in ")
    assert checks[:-1] == [
        ok("engine", "Docker fake at unix:///var/run/docker.sock (the local socket), on this host"),
        ok("base image", "python:3.11-slim is present", "proj"),
        ok("config", "valid; repos: code", "proj"),
        ok("credentials", "ANTHROPIC_API_KEY (an API key)"),
        ok("CA certificates", "none configured"),
        ok("home", f"{host.home.root} is writable"),
        ok("disk", f"100.0 GiB free at {host.home.root}"),
        ok("engine disk", f"100.0 GiB free at {host.tmp}/docker (images and containers)"),
        ok("mounts", "no config mounts a host folder"),
        ok("live-restore", "on: running sessions survive a restart of the engine"),
        ok("claude --version", f"2.1.332 (Claude Code) in {tag}", "proj"),
        ok(
            "gateway",
            f"pid 4321, port {gateway.port}: answers HEAD /, and a container on the bridge "
            "network reaches it at 172.17.0.1",
            "proj",
        ),
    ]
    assert [c.name for c in checks] == [n for n in CHECKS if n not in SWARM_CHECKS]
    assert seen == checks
    # The throwaway containers are gone, and the round trip's run with them.
    assert host.engine.made == {} and len(host.engine.removed) == 3
    assert host.home.run_ids() == []


FAR = Endpoint(host="tcp://far.lan:2376", origin="DOCKER_HOST")


async def test_on_a_remote_engine_a_container_there_tries_the_gateway_address(
    host: Host, gateway: FakeGateway
) -> None:
    host.engine.endpoint = FAR
    host.config(extra="gateway_address: 10.0.0.5\n")
    host.build()

    found = await host.run()

    assert found["engine"] == [
        ok(
            "engine",
            "Docker fake at tcp://far.lan:2376 (DOCKER_HOST), on another host: runs go there "
            "with nothing mounted, their files through the gateway",
        )
    ]
    assert gateway.asked == [["10.0.0.5"]]
    (probe,) = [spec for spec in host.containers.specs if spec.command[0] == "python3"]
    assert probe.command[-2:] == ["10.0.0.5", str(gateway.port)] and probe.mounts == []
    assert found["gateway"] == [
        ok(
            "gateway",
            f"pid 4321, port {gateway.port}: answers HEAD /, and a container on the bridge "
            "network reaches it at 10.0.0.5",
            "proj",
        )
    ]
    assert [(c.status, c.detail) for c in found["round trip"]] == [
        ("skip", "the engine at tcp://far.lan:2376 (DOCKER_HOST) is on another host, where "
         "127.0.0.1 is not this one"),
    ]  # fmt: skip


async def test_on_a_remote_engine_a_config_without_gateway_address_fails_the_gateway_check(
    host: Host, gateway: FakeGateway
) -> None:
    host.engine.endpoint = FAR
    host.config()

    found = await host.run()

    (check,) = found["gateway"]
    assert (check.status, check.detail, check.fix) == (
        "fail",
        "the engine at tcp://far.lan:2376 (DOCKER_HOST) is on another host, and proj sets no "
        "gateway_address: its runs there could not reach the gateway",
        "set gateway_address to this host's address as that engine's containers reach it "
        "(`scad config edit proj`)",
    )
    assert gateway.asked == []


async def test_the_round_trip_reaches_the_gateway_with_a_run_token_in_a_file(
    host: Host, gateway: FakeGateway
) -> None:
    host.config(extra="resources: {memory: 1g, pids: 100}\nnetwork: none\n")
    tag = host.build()
    tokens: list[str] = []
    real_register = doctor_containers.register_run

    def register(home: Home, run_id: str, **kw: object) -> Registration:
        registration = real_register(home, run_id, **kw)  # type: ignore[arg-type]
        tokens.append(registration.token)
        return registration

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(doctor_containers, "register_run", register)
        await host.run()

    version, headless, probe = sorted(host.containers.specs, key=lambda s: s.command[0])
    agent = agent_ids(os.getuid(), os.getgid())
    assert version.image == headless.image == tag
    assert version.network == "none" and version.labels == {"scad.doctor": "claude-version"}
    assert headless.command == ["headless", "-p", "--output-format", "stream-json", "--verbose"]
    assert headless.labels == {"scad.doctor": "round-trip"}
    assert headless.network == "host"  # the model listens on the host's loopback
    assert headless.user == version.user == f"{agent[0]}:{agent[1]}"
    assert headless.limits.memory == GIB and headless.limits.pids == 100
    assert headless.security.no_new_privileges and headless.security.cap_drop_all
    assert set(headless.env) == {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"}
    (mount,) = headless.mounts
    assert (mount.target, mount.read_only) == ("/run/scad", True)
    (token,) = tokens
    assert host.containers.inputs == {
        "credentials.env": f"ANTHROPIC_BASE_URL=http://127.0.0.1:{gateway.port}\n"
        f"ANTHROPIC_AUTH_TOKEN={token}\n",
        "prompt.txt": "SAY: doctor ok\n",
    }
    assert "sk-test" not in json.dumps([s.env for s in host.containers.specs])
    # Read as they print: the engine keeps no more of their output than scad reads.
    assert {s.log_max_bytes for s in host.containers.specs} == {doctor_containers.MAX_OUTPUT}
    assert gateway.environ == host.environ  # a gateway it starts holds the host's key
    assert not Path(mount.source).exists()  # removed afterwards, with the run
    assert host.home.run_ids() == []
    # The probe ran on the config's own network, towards the address runs are given.
    assert probe.network == "none" and probe.labels == {"scad.doctor": "gateway"}
    assert probe.command[-2:] == ["127.0.0.1", str(gateway.port)]


async def test_a_gateway_that_does_not_answer_or_cannot_be_reached_fails_with_a_fix(
    host: Host, gateway: FakeGateway
) -> None:
    host.config()
    host.build()
    host.containers.probe = Script(chunks=[(1, b"timed out\n")])
    (reached,) = (await host.run())["gateway"]
    assert reached.status == "fail" and reached.config == "proj"
    assert reached.detail == (
        f"a container on the bridge network does not reach it at 172.17.0.1:{gateway.port}: "
        "timed out"
    )
    assert reached.fix == (
        f"a container on the bridge network must reach 172.17.0.1:{gateway.port} on the host: "
        "allow that traffic in the host's firewall, or set network: host"
    )
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        gateway.port = unused.getsockname()[1]  # nothing listens there
        (silent,) = (await host.run())["gateway"]
    assert silent.status == "fail" and silent.detail.startswith(
        f"pid 4321, port {gateway.port}: HEAD / on 127.0.0.1 answered nothing ("
    )
    assert silent.fix is not None and "gateway.log" in silent.fix


@pytest.mark.parametrize(
    ("error", "why"),
    [
        (GatewayError("the gateway ended at once: address in use"),
         "the gateway ended at once: address in use"),
        (NotADirectoryError(20, "Not a directory"), "[Errno 20] Not a directory"),
    ],
)  # fmt: skip
async def test_a_gateway_that_cannot_start_fails_with_its_log(
    host: Host, monkeypatch: pytest.MonkeyPatch, error: Exception, why: str
) -> None:
    async def broken(home: Home, **_: object) -> GatewayInfo:
        raise error

    monkeypatch.setattr("scad.doctor._gateway.ensure_gateway", broken)
    host.config()
    (check,) = (await host.run())["gateway"]
    assert check == Check(
        name="gateway",
        status="fail",
        detail=f"cannot start for {host.home.root}: {why}",
        fix=f"see {host.home.root}/gateway/gateway.log",
    )


async def test_an_engine_that_does_not_answer_fails_and_skips_what_needs_it(host: Host) -> None:
    host.config()

    @asynccontextmanager
    async def unavailable() -> AsyncIterator[Engine]:
        raise EngineUnavailable(UNAVAILABLE)
        yield  # pragma: no cover

    checks = await run_checks(host.home, host.environ, engine_factory=unavailable, now=NOW)

    assert checks[0] == Check(name="engine", status="fail", detail=UNAVAILABLE, fix=ENGINE_FIX)
    skipped = [c for c in checks if c.status == "skip"]
    assert skipped == [
        Check(name=name, status="skip", detail="the engine did not answer")
        for name in (
            "base image", "engine disk", "live-restore", "claude --version", "gateway", "round trip"
        )
    ]  # fmt: skip
    # The checks that need no engine still ran.
    assert [c.status for c in checks if c.name in ("config", "credentials", "disk")] == ["pass"] * 3


async def test_an_engine_that_hangs_is_given_up_on(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("scad.doctor._run.ENGINE_TIMEOUT", 0.05)

    @asynccontextmanager
    async def hanging() -> AsyncIterator[Engine]:
        await anyio.sleep_forever()
        yield FakeEngine()  # pragma: no cover

    checks = await run_checks(host.home, host.environ, engine_factory=hanging, now=NOW)

    assert checks[0] == Check(
        name="engine", status="fail", detail="no answer within 0 s", fix=ENGINE_FIX
    )


async def test_a_missing_base_image_is_a_warning_with_the_ways_to_get_it(host: Host) -> None:
    host.config(extra="image: {base: 'corp/base:1'}\n")
    fix = (
        "docker pull corp/base:1 where a registry is reachable; else docker load (or docker "
        "tag) an image as corp/base:1, or set image.base in the config"
    )

    assert (await host.run())["base image"] == [
        Check(
            name="base image",
            status="warn",
            detail="corp/base:1 is absent; `scad build proj` will try to pull it",
            fix=fix,
            config="proj",
        )
    ]
    tag = host.build()
    (check,) = (await host.run())["base image"]
    assert check.detail == (
        "corp/base:1 is absent; `scad build proj` will try to pull it; "
        f"{tag} is built, so runs work until the config changes"
    )


async def test_an_invalid_config_and_a_gone_repo_fail(host: Host) -> None:
    host.config("bad", extra="netwrok: host\n")
    gone = host.config("gone")
    shutil.rmtree(gone)
    host.config("good")

    checks = await host.run()

    assert checks["config"] == [
        Check(
            name="config",
            status="fail",
            detail='bad.yml: netwrok: unknown field; did you mean "network"?',
            fix="scad config edit bad",
            config="bad",
        ),
        Check(
            name="config",
            status="fail",
            detail=f"gone.yml: repos.code.path: {gone} does not exist; fix the path or run "
            "`git init` there",
            fix="scad config edit gone",
            config="gone",
        ),
        ok("config", "valid; repos: code", "good"),
    ]
    # An invalid config has no image to look at; a gone repo does not stop one.
    assert [c.config for c in checks["base image"]] == ["gone", "good"]


async def test_no_configs_is_a_warning_and_skips_the_image_checks(host: Host) -> None:
    checks = await host.run()
    assert checks["config"] == [
        Check(
            name="config",
            status="warn",
            detail="no configs registered",
            fix="scad config new NAME (or scad config add PATH)",
        )
    ]
    assert checks["base image"] == [
        Check(name="base image", status="skip", detail="no valid config")
    ]
    assert checks["round trip"] == [
        Check(
            name="round trip",
            status="skip",
            detail="no config's image is built; run `scad build NAME`",
        )
    ]


def write_credentials(host: Host, expires: datetime) -> Path:
    path = Path(host.environ["HOME"]) / ".claude" / ".credentials.json"
    path.parent.mkdir(parents=True)
    oauth = {"accessToken": "a", "refreshToken": "r", "expiresAt": expires.timestamp() * 1000}
    path.write_text(json.dumps({"claudeAiOauth": oauth}))
    return path


async def test_no_credentials_fail_with_the_ways_to_log_in(host: Host) -> None:
    del host.environ["ANTHROPIC_API_KEY"]
    assert (await host.run())["credentials"] == [
        Check(
            name="credentials",
            status="fail",
            detail="no Claude credentials on this host",
            fix="set ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN, or run `claude` to log in",
        )
    ]


async def test_expired_oauth_credentials_fail(host: Host) -> None:
    del host.environ["ANTHROPIC_API_KEY"]
    path = write_credentials(host, NOW - timedelta(minutes=1))
    assert (await host.run())["credentials"] == [
        Check(
            name="credentials",
            status="fail",
            detail=f"the Claude OAuth credentials in {path} have expired; run `claude` on the "
            "host to log in again",
            fix="run `claude` on the host to log in again",
        )
    ]


async def test_oauth_credentials_expiring_soon_warn_and_later_pass(host: Host) -> None:
    del host.environ["ANTHROPIC_API_KEY"]
    path = write_credentials(host, NOW + timedelta(hours=1, minutes=30))
    (check,) = (await host.run())["credentials"]
    assert (check.status, check.detail) == (
        "warn",
        f"the Claude OAuth credentials in {path} expire in 1 h 30 min; running sessions "
        "will stop working then",
    )
    assert check.fix is not None and "claude setup-token" in check.fix

    (check,) = (await host.run(now=NOW - timedelta(days=1)))["credentials"]
    assert check == ok(
        "credentials", f"OAuth credentials in {path}, valid until 2026-11-27 11:30 UTC"
    )


async def test_an_oauth_token_in_the_environment_passes(host: Host) -> None:
    host.environ = {"HOME": host.environ["HOME"], "CLAUDE_CODE_OAUTH_TOKEN": "t"}
    assert (await host.run())["credentials"] == [ok("credentials", "CLAUDE_CODE_OAUTH_TOKEN")]


async def test_an_unreadable_ca_file_fails(host: Host, tmp_path: Path) -> None:
    folder, good = tmp_path / "not-a-file.crt", tmp_path / "corp.crt"
    folder.mkdir()  # unreadable as a file, even to root
    good.write_text(PEM)
    host.config("broken", extra=f"ca_certificates: [{folder}]\n")
    host.config("fine", extra=f"ca_certificates: [{good}]\n")

    assert (await host.run())["CA certificates"] == [
        Check(
            name="CA certificates",
            status="fail",
            detail=f"broken.yml: ca_certificates[0]: {folder} cannot be read; point it at a "
            "PEM certificate file",
            fix="point ca_certificates at a readable PEM file: scad config edit broken",
            config="broken",
        )
    ]
    folder.rmdir()
    folder.write_text(PEM)
    assert (await host.run())["CA certificates"] == [
        ok("CA certificates", "2 files (broken, fine) readable, each a PEM certificate")
    ]


async def test_a_mount_the_agent_cannot_write_warns(host: Host, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o500)  # nobody may write: neither its owner nor (as root) the agent's uid
    host.config(extra=f"mounts: [{{host: {data}, container: /data}}]\n")
    agent = agent_ids(os.getuid(), os.getgid())
    (warning,) = unwritable_mounts(load_registered(host.home, "proj"), agent)

    assert (await host.run())["mounts"] == [
        Check(
            name="mounts",
            status="warn",
            detail=warning,
            fix=f"chown the folder to {agent[0]}:{agent[1]}, or let its group or others write",
            config="proj",
        )
    ]
    data.chmod(0o777)
    assert (await host.run())["mounts"] == [
        ok("mounts", f"the agent (uid {agent[0]}) can write every mount (1)")
    ]


@pytest.mark.parametrize(
    ("free", "status", "suffix"),
    [
        pytest.param(DISK_WARN_BYTES, "pass", "", id="enough"),
        pytest.param(DISK_WARN_BYTES - 1, "warn", "; less than 5 GiB", id="low"),
        pytest.param(DISK_FAIL_BYTES - 1, "fail", "; less than 1 GiB", id="too-low"),
    ],
)
async def test_free_disk_under_the_home(
    host: Host, disk: Disk, free: int, status: str, suffix: str
) -> None:
    disk.free = free
    (check,) = (await host.run())["disk"]
    # The home does not exist yet: its nearest existing folder is measured.
    place = host.home.root.parent
    shown = f"{free / GIB:.1f} GiB free at {place} ({host.home.root} does not exist yet)"
    assert (check.status, check.detail) == (status, shown + suffix)
    assert (check.fix is None) == (status == "pass")
    assert sorted(disk.asked) == sorted([str(place), f"{host.tmp}/docker"])  # and the engine's


async def test_free_disk_where_the_engine_keeps_its_data(host: Host, disk: Disk) -> None:
    disk.free = DISK_FAIL_BYTES // 2
    (check,) = (await host.run())["engine disk"]
    assert (check.status, check.detail) == (
        "fail", f"0.5 GiB free at {host.tmp}/docker (images and containers); less than 1 GiB"
    )  # fmt: skip
    assert check.fix is not None and "scad gc --force" in check.fix
    assert f"{host.tmp}/docker" in disk.asked


@pytest.mark.parametrize(
    ("docker_host", "host_name", "data_root", "why"),
    [
        pytest.param("tcp://127.0.0.1:2375", HERE, "docker", f"the engine runs on another host ({HERE})", id="remote"),
        pytest.param("", "docker-desktop", "docker", "the engine runs on another host (docker-desktop)", id="in-a-vm"),
        pytest.param("", None, "docker", "the engine runs on another host", id="unnamed"),
        pytest.param("", HERE, None, "the engine did not say where it keeps its data", id="unsaid"),
        pytest.param("", HERE, "absent", "the engine's data root {root} is not on this host", id="elsewhere"),
    ],
)  # fmt: skip
async def test_an_engine_whose_data_is_not_here_skips_its_disk(
    host: Host, disk: Disk, monkeypatch: pytest.MonkeyPatch,
    docker_host: str, host_name: str | None, data_root: str | None, why: str,
) -> None:  # fmt: skip
    if docker_host:
        host.engine.endpoint = Endpoint(host=docker_host, origin="DOCKER_HOST")
    root = str(host.tmp / data_root) if data_root else None
    host.engine.data_root, host.engine.host_name = root, host_name
    assert (await host.run())["engine disk"] == [
        Check(name="engine disk", status="skip", detail=why.format(root=root))
    ]
    assert not any("docker" in place or "absent" in place for place in disk.asked)


async def test_live_restore_off_warns(host: Host) -> None:
    host.engine.live_restore_enabled = False
    assert (await host.run())["live-restore"] == [
        Check(
            name="live-restore",
            status="warn",
            detail="off: a restart of dockerd ends every running session (exit 143)",
            fix='set "live-restore": true in /etc/docker/daemon.json and reload dockerd '
            "(systemctl reload docker, or kill -HUP its pid)",
        )
    ]


async def test_an_image_that_is_not_built_skips_its_container_checks(host: Host) -> None:
    host.config()
    checks = await host.run()
    assert checks["claude --version"] == [
        Check(
            name="claude --version",
            status="skip",
            detail="not built; run `scad build proj`",
            config="proj",
        )
    ]
    assert checks["round trip"][0].status == "skip"
    assert host.engine.made == {} and host.containers.specs == []


async def test_claude_version_failing_fails(host: Host) -> None:
    host.config()
    tag = host.build()
    host.containers.version = Script(chunks=[(2, b"sh: 1: claude: not found\n")], exit_code=127)

    assert (await host.run())["claude --version"] == [
        Check(
            name="claude --version",
            status="fail",
            detail=f"exited 127 in {tag}: sh: 1: claude: not found",
            fix="rebuild the image: scad build proj --rebuild",
            config="proj",
        )
    ]
    assert host.engine.made == {}


async def test_a_container_that_cannot_run_is_removed(host: Host) -> None:
    host.config()
    tag = host.build()
    host.engine.fail["attach"] = EngineError("attach to 000000000001: conflict")

    checks = await host.run()

    (check,) = checks["claude --version"]
    assert (check.status, check.detail) == (
        "fail",
        f"cannot run {tag}: attach to 000000000001: conflict",
    )
    assert host.engine.made == {} and len(host.engine.removed) == 3


class Vanishing(FakeEngine):
    """An engine that goes away once the checks have begun."""

    async def image(self, reference: str) -> ImageInfo | None:
        raise EngineUnavailable("inspect image: the Docker engine did not answer")


async def test_an_engine_that_goes_away_fails_the_checks_that_needed_it(host: Host) -> None:
    host.config("one")
    host.config("two")
    host.engine = Vanishing(script=host.containers)

    checks = await host.run()

    lost = "inspect image: the Docker engine did not answer"
    for name in ("base image", "claude --version", "gateway", "round trip"):
        assert checks[name] == [Check(name=name, status="fail", detail=lost)]
    assert [c.status for c in checks["live-restore"]] == ["pass"]


ROUND_TRIP_FIX = (
    "rebuild the image: scad build proj --rebuild; the container must reach 127.0.0.1 on "
    "the host network (a remote or rootless engine cannot)"
)


@pytest.mark.parametrize(
    ("script", "detail"),
    [
        pytest.param(
            Script(chunks=[(1, result_line("API Error: Connection error.", is_error=True))]),
            "claude in {tag} reported an error (exit 0): API Error: Connection error.",
            id="is-error",
        ),
        pytest.param(
            Script(chunks=[(1, result_line("doctor ok", is_error=True))]),
            "claude in {tag} reported an error (exit 0): doctor ok",
            id="is-error-whatever-it-says",
        ),
        pytest.param(
            Script(chunks=[(1, result_line())], exit_code=1),
            "claude in {tag} reported an error (exit 1): doctor ok",
            id="exit-code",
        ),
        pytest.param(
            Script(chunks=[(1, result_line("You said: hi"))]),
            "claude in {tag} answered 'You said: hi', not 'doctor ok'",
            id="wrong-answer",
        ),
        pytest.param(
            Script(chunks=[(2, b"Invalid API key\n")], exit_code=1),
            "no result from claude in {tag} (exit 1): Invalid API key",
            id="no-result",
        ),
    ],
)
async def test_a_failed_round_trip_fails(host: Host, script: Script, detail: str) -> None:
    host.config()
    tag = host.build()
    host.containers.headless = script

    assert (await host.run())["round trip"] == [
        Check(
            name="round trip",
            status="fail",
            detail=detail.format(tag=tag),
            fix=ROUND_TRIP_FIX,
            config="proj",
        )
    ]
    assert host.engine.made == {}


async def test_a_round_trip_that_hangs_is_stopped_and_removed(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("scad.doctor._containers.ROUND_TRIP_TIMEOUT", 0.2)
    host.config()
    tag = host.build()
    host.containers.headless = Script(hang=True)

    assert (await host.run())["round trip"] == [
        Check(
            name="round trip",
            status="fail",
            detail=f"no result from {tag} within 0 s",
            fix=ROUND_TRIP_FIX,
            config="proj",
        )
    ]
    assert host.engine.made == {}


async def test_results_come_in_order_as_they_are_known(host: Host) -> None:
    host.config()
    host.build()
    opened = anyio.Event()
    seen: list[str] = []

    @asynccontextmanager
    async def slow() -> AsyncIterator[Engine]:
        await anyio.sleep(0.05)  # the host's checks are done by now, but wait for it
        opened.set()
        yield host.engine

    def on_check(check: Check) -> None:
        seen.append(check.name)
        if check.name == "engine":
            assert opened.is_set()

    checks = await run_checks(
        host.home, host.environ, engine_factory=slow, now=NOW, on_check=on_check
    )
    assert seen == [c.name for c in checks] == [n for n in CHECKS if n not in SWARM_CHECKS]


async def test_checks_made_per_config_that_fail_say_each_what_went_wrong() -> None:
    from scad.doctor._host import for_each
    from scad.errors import ScadError

    # Concurrent checks fail in any order; the message keeps the items' order.

    async def check(name: str) -> Check:
        await anyio.lowlevel.checkpoint()
        if name == "ok":
            return Check(name=name, status="pass", detail="fine")
        raise ScadError(f"{name} is broken")

    with pytest.raises(ScadError) as raised:
        await for_each(["a", "ok", "b", "b"], check)
    assert str(raised.value) == "a is broken; b is broken"
