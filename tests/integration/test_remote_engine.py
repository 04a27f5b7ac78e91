"""A remote engine over TLS: a dockerd this test starts on 127.0.0.1 with certificates it
makes, reached through DOCKER_HOST + DOCKER_TLS_VERIFY + DOCKER_CERT_PATH and through a
Docker context made by the docker CLI; a wrong CA is one line. Runs on it are made as
runs on another host: nothing mounted, their files through the gateway, their token
in no field the engine shows."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from scad.config.loading import load_config
from scad.engine import endpoint_of, open_engine
from scad.errors import EngineUnavailable
from scad.home import Home
from scad.image.build import build_context
from tests.conftest import in_ci

from .cluster import free_port, poll, stop_process
from .sessions_support import Project, git_log, run

pytestmark = [pytest.mark.anyio, pytest.mark.docker]


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(folder: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
            "-keyout", f"{name}-key.pem", "-out", f"{name}.pem", cwd=folder)  # fmt: skip


def make_signed(folder: Path, name: str, ca: str, extensions: str) -> None:
    (folder / f"{name}.ext").write_text(extensions)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", f"{name}-key.pem", "-out", f"{name}.csr", cwd=folder)  # fmt: skip
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}-key.pem",
            "-CAcreateserial", "-days", "1", "-extfile", f"{name}.ext",
            "-out", f"{name}.pem", cwd=folder)  # fmt: skip


class TlsEngine:
    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.host = f"tcp://127.0.0.1:{port}"
        self.client = root / "client"  # ca.pem, cert.pem, key.pem as DOCKER_CERT_PATH wants
        self.wrong = root / "wrong"


@pytest.fixture
async def tls_engine() -> AsyncIterator[TlsEngine]:
    if shutil.which("dockerd") is None or shutil.which("openssl") is None or os.geteuid() != 0:
        if in_ci():
            pytest.fail("CI needs dockerd, openssl and root for a TLS engine")
        pytest.skip("NO DOCKERD, remote engine test skipped")
    root = Path(tempfile.mkdtemp(prefix="sctls-", dir="/tmp"))  # socket paths must be short
    try:
        make_ca(root, "ca")
        make_signed(
            root, "server", "ca", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
        )
        make_signed(root, "client", "ca", "extendedKeyUsage=clientAuth\n")
        make_ca(root, "other")
        engine = TlsEngine(root, free_port())
        for folder, ca in ((engine.client, "ca"), (engine.wrong, "other")):
            folder.mkdir()
            shutil.copy(root / f"{ca}.pem", folder / "ca.pem")
            shutil.copy(root / "client.pem", folder / "cert.pem")
            shutil.copy(root / "client-key.pem", folder / "key.pem")
        # A bridge of its own: with `--bridge none` a dockerd deletes `docker0`, the
        # bridge of the engine every other test uses.
        bridge = f"sctls{os.getpid() % 100000}"
        await anyio.run_process(["ip", "link", "add", bridge, "type", "bridge"])
        log = (root / "dockerd.log").open("ab")
        process = await anyio.open_process(
            ["dockerd", "--host", engine.host, "--tlsverify",
             "--tlscacert", str(root / "ca.pem"), "--tlscert", str(root / "server.pem"),
             "--tlskey", str(root / "server-key.pem"),
             "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
             "--pidfile", str(root / "docker.pid"), "--bridge", bridge, "--iptables=false",
             "--ip-masq=false"],
            stdout=log, stderr=log,
        )  # fmt: skip
        try:

            async def answers() -> bool:
                result = await anyio.run_process(
                    ["docker", "--tlsverify", "-H", engine.host, "version"],
                    env={**os.environ, "DOCKER_CERT_PATH": str(engine.client)},
                    check=False,
                )
                return result.returncode == 0

            await poll(answers, timeout=60, what="the TLS dockerd to answer")
            yield engine
        finally:
            await stop_process(process)
            log.close()
            await anyio.run_process(["ip", "link", "delete", bridge], check=False)
            # A dockerd that ran containers leaves its network namespace mounted.
            await anyio.run_process(["umount", f"{root}/exec/netns/default"], check=False)
    finally:
        await anyio.run_process(["rm", "-rf", "--one-file-system", str(root)], check=False)


async def version_through(environ: dict[str, str]) -> str:
    async with open_engine(endpoint=endpoint_of(environ)) as engine:
        return await engine.version()


async def test_docker_host_with_tls_reaches_the_engine(tls_engine: TlsEngine) -> None:
    environ = {"DOCKER_HOST": tls_engine.host, "DOCKER_TLS_VERIFY": "1",
               "DOCKER_CERT_PATH": str(tls_engine.client)}  # fmt: skip
    assert await version_through(environ)
    without_tls = {"DOCKER_HOST": tls_engine.host}
    with pytest.raises(EngineUnavailable) as caught:
        await version_through(without_tls)
    assert str(caught.value) == (
        f"the Docker engine at {tls_engine.host} (DOCKER_HOST) refused scad: engine version: "
        "Client sent an HTTP request to an HTTPS server; "
        "over TLS, set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH"
    )


async def test_a_context_made_by_the_docker_cli_reaches_the_engine(
    tls_engine: TlsEngine, tmp_path: Path
) -> None:
    config_dir = tmp_path / "docker-config"
    client = tls_engine.client
    await anyio.run_process(
        ["docker", "context", "create", "lab", "--docker",
         f"host={tls_engine.host},ca={client}/ca.pem,cert={client}/cert.pem,key={client}/key.pem"],
        env={**os.environ, "DOCKER_CONFIG": str(config_dir)},
    )  # fmt: skip
    assert await version_through({"DOCKER_CONFIG": str(config_dir), "DOCKER_CONTEXT": "lab"})
    manager = endpoint_of({"DOCKER_CONFIG": str(config_dir)}, "context:lab")
    async with open_engine(endpoint=manager) as engine:
        assert await engine.version()


async def test_a_wrong_ca_is_one_line(tls_engine: TlsEngine) -> None:
    environ = {"DOCKER_HOST": tls_engine.host, "DOCKER_TLS_VERIFY": "1",
               "DOCKER_CERT_PATH": str(tls_engine.wrong)}  # fmt: skip
    with pytest.raises(EngineUnavailable) as caught:
        await version_through(environ)
    message = str(caught.value)
    assert message.startswith(
        f"the Docker engine at {tls_engine.host} (DOCKER_HOST): its TLS certificate is not trusted ("
    )
    assert message.endswith("); the CA file must be the one that signed it")
    assert "\n" not in message and "PRIVATE" not in message


PROMPT = (
    "RUN: echo remote > work.txt && git add work.txt && git commit -qm 'agent work'\nSAY: done\n"
)


async def on_tls_engine(project: Project, engine: TlsEngine) -> list[str]:
    """Send the project's runs to ``engine`` (its image loaded there, as `scad build`
    there would leave it); returns the docker CLI's arguments that reach it."""
    docker = ["docker", "--tlsverify", "-H", engine.host]
    project.env.update(
        DOCKER_HOST=engine.host, DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH=str(engine.client)
    )
    config = project.home / "configs" / "scadtest.yml"
    # The test's containers share the host's network: the gateway is on its loopback.
    config.write_text(config.read_text() + "gateway_address: 127.0.0.1\n")
    context = build_context(Home(project.home), load_config(config))
    loader = " ".join([*docker, "load"])
    with anyio.fail_after(600):
        await run("sh", "-c", f"docker save {context.tag} {context.latest} | "
                  f"DOCKER_CERT_PATH={engine.client} {loader}")  # fmt: skip
    return docker


async def inspected(docker: list[str], engine: TlsEngine, container: str) -> str:
    env = {**os.environ, "DOCKER_CERT_PATH": str(engine.client)}
    done = await anyio.run_process([*docker, "inspect", container], env=env)
    return done.stdout.decode()


def run_token(project: Project, run_id: str) -> str:
    """The token the gateway gave the run, from the file scad keeps of it on the host."""
    lines = (project.run_dir(run_id) / "inputs" / "credentials.env").read_text().splitlines()
    token = next(line for line in lines if line.startswith("ANTHROPIC_AUTH_TOKEN="))
    return token.split("=", 1)[1].strip("'")


@pytest.mark.timeout(900)
async def test_a_run_on_the_remote_engine_commits_through_the_gateway_and_hides_its_token(
    project: Project, tls_engine: TlsEngine
) -> None:
    docker = await on_tls_engine(project, tls_engine)
    ran = await project.scad(
        "session", "start", "scadtest", "--tag", "far", "--headless", "--wait",
        "--prompt", PROMPT, "--json", check=False,
    )  # fmt: skip
    outcome = json.loads(ran.stdout)
    run_id = outcome["run_id"]
    log = (project.run_dir(run_id) / "events.jsonl").read_text()
    assert outcome["outcome"] == "succeeded", (outcome, ran.stderr, log[-3000:])
    record = json.loads((project.run_dir(run_id) / "run.json").read_text())
    assert record["runs_on"] == "remote"
    assert not (project.run_dir(run_id) / "worktrees").exists()  # no clone on this host

    shown = await inspected(docker, tls_engine, record["container_id"])
    container = json.loads(shown)[0]
    assert container["HostConfig"]["Binds"] in (None, [])
    assert container["Mounts"] == []
    token = run_token(project, run_id)
    assert len(token) > 16 and token not in shown
    env = {**os.environ, "DOCKER_CERT_PATH": str(tls_engine.client)}
    copied = await anyio.run_process(
        [*docker, "cp", f"{record['container_id']}:/run/scad-token", "-"], env=env
    )
    with tarfile.open(fileobj=io.BytesIO(copied.stdout)) as archive:
        entry = archive.getmember("scad-token")
        assert (entry.mode & 0o7777, entry.uid) == (
            0o400,
            int(container["Config"]["User"].split(":")[0]),
        )
        assert archive.extractfile(entry).read().decode() == token  # type: ignore[union-attr]

    await project.scad("code", "fetch", run_id)
    assert git_log(project.repo, f"scad-{run_id}", "-1") == ["agent work"]


@pytest.mark.timeout(900)
async def test_a_batch_on_the_remote_engine_succeeds(
    project: Project, tls_engine: TlsEngine
) -> None:
    await on_tls_engine(project, tls_engine)
    ran = await project.scad(
        "batch", "scadtest", "--tag", "pair", "-p", "SAY: one", "-p", "SAY: two",
        "-j", "2", "--foreground", "--json", check=False,
    )  # fmt: skip
    assert ran.returncode == 0, (ran.stdout[-2000:], ran.stderr)
    view = json.loads(ran.stdout)
    assert [row["outcome"] for row in view["rows"]] == ["succeeded", "succeeded"]
    for row in view["rows"]:
        record = json.loads((project.run_dir(row["run_id"]) / "run.json").read_text())
        assert record["runs_on"] == "remote"
