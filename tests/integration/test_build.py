"""`scad build` against the real engine, with the image reused across tests."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from scad.engine import ContainerSpec, Engine
from scad.engine.labels import home_label
from scad.home import Home
from scad.names import image_repository
from tests.conftest import host_certificates, make_repo

from .conftest import BASE_IMAGE, BuiltImage, project_config, scad

pytestmark = [pytest.mark.anyio, pytest.mark.docker]


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def scad_containers() -> set[str]:
    return set(docker("ps", "-aq").split())


async def run_in_image(
    engine: Engine, image: str, command: list[str], label: str
) -> tuple[int, str]:
    """Run ``command`` in a fresh container of ``image`` as its default (agent) user."""
    spec = ContainerSpec(
        image=image, name=f"scad-{label}", labels={"scad.test": label}, command=["sleep", "600"]
    )
    container_id = await engine.create_container(spec)
    try:
        await engine.start(container_id)
        result = await engine.exec(container_id, command)
        return result.exit_code, result.output
    finally:
        await engine.remove(container_id, force=True)


def test_build_shows_steps_and_is_then_up_to_date(built_image: BuiltImage) -> None:
    if "is up to date" not in built_image.build_output:
        steps = re.findall(r"^step (\d+)/(\d+): ", built_image.build_output, re.MULTILINE)
        assert steps and steps[0][0] == "1" and steps[-1][0] == steps[-1][1]
    again = scad(built_image.home, "build", "scadtest")
    assert again.stdout == f"{built_image.tag} is up to date\n"
    labels = json.loads(
        docker("image", "inspect", "--format", "{{json .Config.Labels}}", built_image.tag)
    )
    assert labels["scad.config"] == "scadtest"
    latest = built_image.tag.rsplit(":", 1)[0] + ":latest"
    assert docker("image", "inspect", "--format", "{{.Id}}", latest) == docker(
        "image", "inspect", "--format", "{{.Id}}", built_image.tag
    )


async def test_claude_runs_as_the_agent_user(
    engine: Engine, built_image: BuiltImage, test_label: str
) -> None:
    code, output = await run_in_image(
        engine,
        built_image.tag,
        ["sh", "-c", "id -un; id -u; claude --version; /opt/venv/bin/python -c 'import six'"],
        test_label,
    )
    assert code == 0, output
    user, uid, version = output.splitlines()[:3]
    assert user == "agent" and uid != "0"
    assert version.startswith("2.1.332")


async def test_pip_and_npm_reach_their_registries(
    engine: Engine, built_image: BuiltImage, test_label: str
) -> None:
    command = [
        "sh",
        "-c",
        "pip download --no-deps --quiet -d /tmp/dl six==1.16.0 && ls /tmp/dl && npm view is-number@7.0.0 version",
    ]
    code, output = await run_in_image(engine, built_image.tag, command, test_label)
    assert code == 0, output
    assert "six-1.16.0" in output
    assert output.strip().endswith("7.0.0")


def test_no_secret_or_repo_in_the_image(built_image: BuiltImage) -> None:
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", built_image.tag)
    assert str(built_image.repo) not in history
    assert "ANTHROPIC_API_KEY" not in history and "OAUTH" not in history.upper()


def test_failing_package_shows_the_step_and_leaves_no_container(
    tmp_path: Path, built_image: BuiltImage
) -> None:
    home = tmp_path / "home"
    (home / "configs").mkdir(parents=True)
    repo = make_repo(tmp_path / "repo")
    (home / "configs" / "broken.yml").write_text(
        project_config("broken", repo, "apt_packages: [scad-no-such-package]\n")
    )
    before = scad_containers()
    result = scad(home, "build", "broken", check=False, timeout=600)
    assert result.returncode == 1
    error = result.stderr.strip().splitlines()
    repository = image_repository("broken", home_label(Home(home)))
    assert error[-1].startswith(f"scad: error: build of {repository}:")
    assert "failed at step" in error[-1] and "RUN apt-get update" in error[-1]
    assert any("Unable to locate package scad-no-such-package" in line for line in error)
    assert scad_containers() == before
    assert docker("images", "-q", repository) == ""


def test_missing_base_image_is_one_clear_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "configs").mkdir(parents=True)
    repo = make_repo(tmp_path / "repo")
    (home / "configs" / "nobase.yml").write_text(
        project_config("nobase", repo, "image: {base: scad-missing/base:1}\n")
    )
    result = scad(home, "build", "nobase", check=False)
    assert result.returncode == 1
    assert result.stderr == (
        "scad: error: base image scad-missing/base:1 is not present and cannot be pulled; load or tag it "
        "locally (docker load / docker tag ... scad-missing/base:1) or set image.base in the config\n"
    )


def test_engine_unreachable_is_one_clear_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "configs").mkdir(parents=True)
    repo = make_repo(tmp_path / "repo")
    (home / "configs" / "p.yml").write_text(project_config("p", repo))
    sock = f"unix://{tmp_path}/none.sock"
    result = scad(home, "build", "p", check=False, env={"DOCKER_HOST": sock})
    assert result.returncode == 1
    assert result.stderr == (
        f"scad: error: cannot reach the Docker engine at {sock}; start dockerd (or Docker Desktop) "
        "or point DOCKER_HOST (or a Docker context) at a running engine\n"
    )


async def test_prune_keeps_images_in_use(
    engine: Engine, built_image: BuiltImage, test_label: str
) -> None:
    """Three builds differing only in requirements: an image a container uses survives."""
    home = built_image.home.parent / f"prune-{test_label}"
    (home / "configs").mkdir(parents=True)
    repo = make_repo(home.parent / f"prune-repo-{test_label}", {"requirements.txt": "# one\n"})
    (home / "configs" / "prune.yml").write_text(
        project_config("prune", repo, "python: {requirements: requirements.txt}\n")
    )

    repository = image_repository("prune", home_label(Home(home)))

    def build(requirements: str) -> str:
        (repo / "requirements.txt").write_text(requirements)
        scad(home, "build", "prune", timeout=900)
        return docker("image", "inspect", "--format", "{{.Id}}", f"{repository}:latest").strip()

    first = build("# one\n")
    spec = ContainerSpec(image=first, name=f"scad-{test_label}", labels={"scad.test": test_label})
    container_id = await engine.create_container(spec)
    try:
        second = build("# two\n")
        assert set(docker("images", "--no-trunc", "-q", repository).split()) == {first, second}
    finally:
        await engine.remove(container_id, force=True)
    third = build("# three\n")
    assert set(docker("images", "--no-trunc", "-q", repository).split()) == {third}
    docker("rmi", "--force", third)


TLS_SERVER = """\
import os, socket, ssl
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain("/srv/tls/cert.pem", "/srv/tls/key.pem")
server = socket.create_server(("127.0.0.1", 8443))
if os.fork():
    os._exit(0)  # listening: apt may connect
os.setsid()
while True:
    connection, _ = server.accept()
    try:
        with context.wrap_socket(connection, server_side=True) as tls:
            tls.recv(1)
    except OSError:
        pass
"""

# apt fetches its lists from a TLS server in the build's own container (only its
# loopback), started by apt itself before it updates: a proxy's certificate, as apt meets it.
TLS_BASE = f"""\
FROM {BASE_IMAGE}
COPY tls.py cert.pem key.pem /srv/tls/
RUN rm -f /etc/apt/sources.list.d/* \\
 && echo "deb https://127.0.0.1:8443/debian bookworm main" > /etc/apt/sources.list \\
 && echo 'APT::Update::Pre-Invoke {{"python3 /srv/tls/tls.py";}};' > /etc/apt/apt.conf.d/00tls
"""


@pytest.fixture
def untrusted_base(tmp_path: Path, test_label: str) -> Iterator[str]:
    """A base image whose apt meets a self-signed certificate."""
    folder = tmp_path / "tls-base"
    folder.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-keyout", str(folder / "key.pem"),
         "-out", str(folder / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    (folder / "tls.py").write_text(TLS_SERVER)
    (folder / "Dockerfile").write_text(TLS_BASE)
    tag = f"scad-{test_label}/untrusted:1"
    docker("build", "-q", "-t", tag, str(folder))
    yield tag
    docker("rmi", tag)


def test_a_build_that_does_not_trust_a_certificate_says_so_and_names_the_fix(
    tmp_path: Path, untrusted_base: str
) -> None:
    home = tmp_path / "home"
    (home / "configs").mkdir(parents=True)
    repo = make_repo(tmp_path / "repo")
    (home / "configs" / "proxied.yml").write_text(
        f"name: proxied\nrepos:\n  code: {{path: {repo}, workdir: true}}\n"
        f"image: {{base: {untrusted_base}}}\n"
    )
    before = scad_containers()

    result = scad(home, "build", "proxied", check=False, timeout=600)

    assert result.returncode == 1
    error = result.stderr.strip().splitlines()[-1]
    repository = image_repository("proxied", home_label(Home(home)))
    assert error.startswith(f"scad: error: build of {repository}:")
    assert "RUN apt-get update" in error
    assert ": it did not trust a TLS certificate, as behind a proxy that intercepts TLS (" in error
    assert "Certificate verification failed: The certificate is NOT trusted." in error
    host = ", ".join(host_certificates())
    if host:
        assert error.endswith(
            f"; add this host's CA certificates to the config (scad config edit proxied): "
            f"ca_certificates: [{host}]"
        )
    else:
        assert error.endswith("to the config (scad config edit proxied): ca_certificates: [PATH]")
    assert "SELF_SIGNED" not in error and scad_containers() == before
