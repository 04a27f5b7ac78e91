"""Dockerfile rendering and the build context: pure, no Docker."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import msgspec
import pytest

from scad.config.loading import parse_config
from scad.config.schema import Config
from scad.errors import ImageError
from scad.image.render import create_build_context, render_dockerfile
from scad.layout import agent_ids

CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def make_config(tmp_path: Path, extra: str = "") -> Config:
    (tmp_path / "code").mkdir(exist_ok=True)
    text = f"name: proj\nrepos:\n  code: {{path: code, workdir: true}}\n{extra}"
    return parse_config(text, label="proj.yml", base_dir=tmp_path)


def test_dockerfile_minimal(tmp_path: Path) -> None:
    text = render_dockerfile(
        make_config(tmp_path), uid=1234, gid=99, certificates=[], requirements=False
    )
    lines = text.splitlines()
    assert lines[0] == "FROM python:3.11-slim"
    assert (
        " && apt-get install -y --no-install-recommends git tmux ca-certificates tzdata procps nodejs npm \\"
        in lines
    )
    assert "RUN groupadd -o -g 99 agent \\" in lines
    assert " && useradd -o -m -u 1234 -g 99 -d /home/agent -s /bin/bash agent \\" in lines
    assert (
        "RUN npm install --global --no-fund --no-audit @anthropic-ai/claude-code@2.1.332 \\"
        in lines
    )
    assert "DISABLE_AUTOUPDATER=1" in text
    assert "COPY ca/" not in text and "requirements" not in text
    # Claude's version check runs last, as the agent user.
    assert lines.index("USER agent") < lines.index("RUN claude --version")
    assert lines[-2:] == ['ENTRYPOINT ["/usr/local/bin/scad-entrypoint"]', 'CMD ["bash"]']


def test_dockerfile_with_everything(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        'python: {version: "3.12"}\napt_packages: [ripgrep, git]\nclaude: {version: latest}\nimage: {base: my/base:1}\n',
    )
    text = render_dockerfile(
        config, uid=1000, gid=1000, certificates=["ca/00-x.crt"], requirements=True
    )
    assert text.startswith("FROM my/base:1\n")
    # Packages appear once, in order.
    assert "procps nodejs npm ripgrep \\" in text
    assert "COPY ca/ /usr/local/share/ca-certificates/scad/" in text
    for variable in ("NODE_EXTRA_CA_CERTS", "PIP_CERT", "GIT_SSL_CAINFO"):
        assert f"{variable}=/etc/ssl/certs/ca-certificates.crt" in text
    assert text.index("COPY ca/") < text.index("apt-get update")
    assert "RUN /opt/venv/bin/pip install --no-cache-dir -r /opt/scad/requirements.txt" in text
    assert "@anthropic-ai/claude-code@latest" in text


@pytest.mark.parametrize(("host", "agent"), [((0, 0), (1000, 1000)), ((501, 20), (501, 20))])
def test_agent_ids(host: tuple[int, int], agent: tuple[int, int]) -> None:
    assert agent_ids(*host) == agent


def test_context_holds_only_what_the_build_needs(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text(CERT)
    config = make_config(tmp_path, "ca_certificates: [ca.pem]\npython: {requirements: req.txt}\n")
    (tmp_path / "code" / "req.txt").write_text("six\n")
    (tmp_path / "code" / "secret.txt").write_text("do not ship")
    context = create_build_context(config, repository="scad-proj-0123abcd", host_uid=0, host_gid=0)
    assert sorted(context.files) == [
        "Dockerfile",
        "ca/00-ca.crt",
        "entrypoint.sh",
        "remote-run.py",
        "requirements.txt",
        "session.sh",
        "tmux.conf",
    ]
    with tarfile.open(fileobj=io.BytesIO(context.tar())) as archive:
        assert sorted(archive.getnames()) == sorted(context.files)
        assert archive.extractfile("requirements.txt").read() == b"six\n"  # type: ignore[union-attr]
    assert context.tag == f"scad-proj-0123abcd:{context.content_hash}"
    assert context.latest == "scad-proj-0123abcd:latest"


def test_hash_is_stable_and_tracks_content(tmp_path: Path) -> None:
    config = make_config(tmp_path, "python: {requirements: req.txt}\n")
    (tmp_path / "code" / "req.txt").write_text("six\n")
    first = create_build_context(
        config, repository="scad-proj-0123abcd", host_uid=1000, host_gid=1000
    )
    assert (
        create_build_context(
            config, repository="scad-proj-0123abcd", host_uid=1000, host_gid=1000
        ).content_hash
        == first.content_hash
    )
    assert (
        create_build_context(
            config, repository="scad-proj-0123abcd", host_uid=0, host_gid=0
        ).content_hash
        == first.content_hash
    )
    (tmp_path / "code" / "req.txt").write_text("seven\n")
    assert (
        create_build_context(
            config, repository="scad-proj-0123abcd", host_uid=1000, host_gid=1000
        ).content_hash
        != first.content_hash
    )
    newer = msgspec.structs.replace(
        config, claude=msgspec.structs.replace(config.claude, version="9.9.9")
    )
    assert (
        create_build_context(
            newer, repository="scad-proj-0123abcd", host_uid=1000, host_gid=1000
        ).content_hash
        != first.content_hash
    )


def test_missing_requirements_file(tmp_path: Path) -> None:
    config = make_config(tmp_path, "python: {requirements: req.txt}\n")
    with pytest.raises(ImageError) as caught:
        create_build_context(config, repository="scad-proj-0123abcd", host_uid=1000, host_gid=1000)
    assert str(caught.value) == (
        f"python.requirements: {tmp_path}/code/req.txt not found; fix the path in the config"
    )
