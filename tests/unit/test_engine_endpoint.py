"""Which engine scad talks to: the docker CLI's choice (DOCKER_HOST with its TLS
settings, DOCKER_CONTEXT, the current context, the local socket), or a swarm's manager."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from scad.engine._endpoint import Endpoint, TlsFiles, endpoint_of, tls_context
from scad.errors import EngineUnavailable


def make_context(config_dir: Path, name: str, host: str, *, tls: bool, skip: bool = False) -> Path:
    """A context as `docker context create NAME --docker host=...,ca=,cert=,key=` writes it."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config_dir / "contexts" / "meta" / digest
    meta.mkdir(parents=True)
    endpoint = {"Host": host, "SkipTLSVerify": skip}
    (meta / "meta.json").write_text(
        json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": endpoint}})
    )
    folder = config_dir / "contexts" / "tls" / digest / "docker"
    if tls:
        folder.mkdir(parents=True)
        for part in ("ca", "cert", "key"):
            (folder / f"{part}.pem").write_text("x")
    return folder


def test_without_settings_the_local_socket(tmp_path: Path) -> None:
    assert endpoint_of({"HOME": str(tmp_path)}) == Endpoint(host="unix:///var/run/docker.sock")


def test_docker_host_with_tls_verify_takes_the_cert_path(tmp_path: Path) -> None:
    for part in ("ca", "cert", "key"):
        (tmp_path / f"{part}.pem").write_text("x")
    environ = {
        "DOCKER_HOST": "tcp://10.0.0.5:2376",
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(tmp_path),
    }
    endpoint = endpoint_of(environ)
    assert endpoint.tls == TlsFiles(
        ca=tmp_path / "ca.pem", cert=tmp_path / "cert.pem", key=tmp_path / "key.pem"
    )
    assert endpoint.url == "https://10.0.0.5:2376" and endpoint.origin == "DOCKER_HOST"
    plain = endpoint_of({"DOCKER_HOST": "tcp://10.0.0.5:2375"})
    assert plain.tls is None and plain.url == "http://10.0.0.5:2375"


def test_a_context_by_name_env_and_current(tmp_path: Path) -> None:
    config_dir = tmp_path / ".docker"
    folder = make_context(config_dir, "lab", "tcp://10.0.0.5:2376", tls=True)
    expected = Endpoint(
        host="tcp://10.0.0.5:2376",
        tls=TlsFiles(ca=folder / "ca.pem", cert=folder / "cert.pem", key=folder / "key.pem"),
        origin="context lab",
    )
    assert endpoint_of({"HOME": str(tmp_path), "DOCKER_CONTEXT": "lab"}) == expected
    assert endpoint_of({"HOME": str(tmp_path)}, "context:lab") == expected
    (config_dir / "config.json").write_text(json.dumps({"currentContext": "lab"}))
    assert endpoint_of({"HOME": str(tmp_path)}) == expected
    # DOCKER_HOST wins over the current context, as with the docker CLI.
    assert endpoint_of({"HOME": str(tmp_path), "DOCKER_HOST": "unix:///x"}).host == "unix:///x"


def test_a_context_that_skips_verification(tmp_path: Path) -> None:
    make_context(tmp_path, "loose", "tcp://10.0.0.5:2376", tls=False, skip=True)
    endpoint = endpoint_of({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "loose"})
    assert endpoint.tls == TlsFiles(verify=False)


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        pytest.param(
            None, "no Docker context named lab (`docker context ls` lists them)", id="absent"
        ),
        pytest.param("{nope", "context lab: {meta} is not a context's meta.json", id="garbled"),
        pytest.param('{"Endpoints": {}}', "context lab names no Docker engine", id="no-docker"),
    ],
)
def test_a_context_that_cannot_be_used_is_one_line(
    tmp_path: Path, meta: str | None, message: str
) -> None:
    path = tmp_path / "contexts" / "meta" / hashlib.sha256(b"lab").hexdigest() / "meta.json"
    if meta is not None:
        path.parent.mkdir(parents=True)
        path.write_text(meta)
    with pytest.raises(EngineUnavailable) as caught:
        endpoint_of({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "lab"})
    assert str(caught.value) == message.format(meta=path)


def test_tls_files_that_are_not_pem_are_named_never_shown(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n-----END PRIVATE KEY-----\n")
    (tmp_path / "cert.pem").write_text("not a certificate")
    files = TlsFiles(cert=tmp_path / "cert.pem", key=key)
    with pytest.raises(EngineUnavailable) as caught:
        tls_context(files, "DOCKER_HOST")
    assert str(caught.value).startswith(
        f"DOCKER_HOST: cannot use the TLS files {tmp_path}/cert.pem, {key} ("
    )
    assert "SECRET" not in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("host", "socket"),
    [
        ("unix:///var/run/docker.sock", "/var/run/docker.sock"),
        ("unix:///tmp/a dir/d.sock", "/tmp/a dir/d.sock"),
        ("tcp://127.0.0.1:2376", None),
        ("ssh://user@box", None),
        ("npipe:////./pipe/docker_engine", None),
    ],
)
def test_only_a_unix_address_is_a_socket_on_this_host(host: str, socket: str | None) -> None:
    assert Endpoint(host=host).socket == socket
