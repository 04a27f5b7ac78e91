"""A remote engine over TLS: a dockerd this test starts on 127.0.0.1 with certificates it
makes, reached through DOCKER_HOST + DOCKER_TLS_VERIFY + DOCKER_CERT_PATH and through a
Docker context made by the docker CLI; a wrong CA is one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from scad.engine import endpoint_of, open_engine
from scad.errors import EngineUnavailable
from tests.conftest import in_ci

from .cluster import free_port, poll, stop_process

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
