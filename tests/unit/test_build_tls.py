"""A build that fails because it does not trust a TLS certificate says so and names the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from scad.config import certificates
from scad.config.loading import parse_config
from scad.config.schema import Config
from scad.engine._types import BuildLine, ImageInfo
from scad.errors import BuildFailed, UntrustedCertificate
from scad.home import Home
from scad.image.build import build_context, build_image
from scad.image.tls import untrusted_certificate
from tests.fakes import FakeEngine

pytestmark = pytest.mark.anyio

BASE = ImageInfo(id="sha256:base", tags=["python:3.11-slim"], labels={}, created="")
HOME = Home(Path("/homes/one"))
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

NPM_URL = "https://registry.npmjs.org/@anthropic-ai%2fclaude-code"
PIP_LINE = (
    "WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) "
    "after connection broken by 'SSLError(SSLCertVerificationError(1, '[SSL: "
    "CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in "
    "certificate chain (_ssl.c:1006)'))': /simple/six/"
)


@pytest.mark.parametrize(
    ("output", "evidence"),
    [
        pytest.param(
            ["npm ERR! code SELF_SIGNED_CERT_IN_CHAIN", f"npm ERR! request to {NPM_URL} failed, "
             "reason: self signed certificate in certificate chain"],
            f"npm ERR! request to {NPM_URL} failed, reason: self signed certificate in certificate chain",
            id="npm 9",
        ),
        pytest.param(
            ["npm error code UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
             "npm error errno UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
             "npm error A complete log of this run can be found in: /root/.npm/_logs/x.log"],
            "npm error errno UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
            id="npm 10",
        ),
        pytest.param(
            ["curl: (60) SSL certificate problem: self-signed certificate",
             "More details here: https://curl.se/docs/sslcerts.html"],
            "curl: (60) SSL certificate problem: self-signed certificate",
            id="curl",
        ),
        pytest.param(
            ["curl: (60) SSL certificate problem: unable to get local issuer certificate"],
            "curl: (60) SSL certificate problem: unable to get local issuer certificate",
            id="curl, a proxy's chain",
        ),
        pytest.param(
            [PIP_LINE, "ERROR: Could not find a version that satisfies the requirement six "
             "(from versions: none)"],
            "…ct=None, status=None)) after connection broken by 'SSLError(SSLCertVerificationError"
            "(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed "
            "certificate in certificate chain (_ssl.…",
            id="pip",
        ),
        pytest.param(
            ["Err:1 https://deb.debian.org/debian bookworm InRelease",
             "  Certificate verification failed: The certificate is NOT trusted. The "
             "certificate issuer is unknown.  Could not handshake: Error in the certificate "
             "verification. [IP: 151.101.2.132 443]"],
            "Certificate verification failed: The certificate is NOT trusted. The certificate "
            "issuer is unknown.  Could not handshake: Error in the certificate verification. "
            "[IP: 151.101.2.132 443]",
            id="apt",
        ),
        pytest.param(
            ["fatal: unable to access 'https://github.com/x/y.git/': server certificate "
             "verification failed. CAfile: none CRLfile: none"],
            "fatal: unable to access 'https://github.com/x/y.git/': server certificate "
            "verification failed. CAfile: none CRLfile: none",
            id="git",
        ),
        pytest.param(
            ["ERROR: cannot verify deb.nodesource.com's certificate, issued by 'CN=Proxy CA':",
             "  Self-signed certificate encountered."],
            "Self-signed certificate encountered.",
            id="wget",
        ),
    ],
)  # fmt: skip
def test_each_tools_words_for_an_untrusted_certificate_are_recognised(
    output: list[str], evidence: str
) -> None:
    found = [e for line in output if (e := untrusted_certificate(line)) is not None]
    assert found[-1:] == [evidence]


@pytest.mark.parametrize(
    "line",
    [
        "E: Unable to locate package nope",
        "curl: (7) Failed to connect to 127.0.0.1 port 9: Connection refused",
        "npm ERR! code ENOTFOUND",
        "ERROR: Could not find a version that satisfies the requirement nope (from versions: none)",
        "Step 2/14 : COPY ca/ /usr/local/share/ca-certificates/scad/",
        "Updating certificates in /etc/ssl/certs...",
        "Setting up ca-certificates (20230311) ...",
        "The command '/bin/sh -c npm install' returned a non-zero code: 1",
    ],
)
def test_other_failures_are_not_taken_for_one(line: str) -> None:
    assert untrusted_certificate(line) is None


def test_control_characters_in_the_evidence_are_shown_not_obeyed() -> None:
    assert untrusted_certificate("\x1b[31mcurl: (60) SSL certificate problem\x1b[0m") == (
        "\\x1b[31mcurl: (60) SSL certificate problem\\x1b[0m"
    )


NPM_FAILURE = [
    BuildLine("Step 1/4 : FROM python:3.11-slim"),
    BuildLine("Step 2/4 : RUN npm install --global @anthropic-ai/claude-code@2.1.332"),
    BuildLine("npm error code SELF_SIGNED_CERT_IN_CHAIN"),
    BuildLine(f"npm error request to {NPM_URL} failed, reason: self-signed certificate in certificate chain"),
    BuildLine(
        "The command '/bin/sh -c npm install --global @anthropic-ai/claude-code@2.1.332' "
        "returned a non-zero code: 1",
        error=True,
    ),
]  # fmt: skip


def make_config(tmp_path: Path, extra: str = "") -> Config:
    (tmp_path / "code").mkdir(exist_ok=True)
    return parse_config(
        f"name: proj\nrepos: {{code: {{path: code, workdir: true}}}}\n{extra}",
        label="p.yml",
        base_dir=tmp_path,
    )


@pytest.fixture
def host_trust(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "host-ca"
    folder.mkdir()
    monkeypatch.setattr(certificates, "HOST_CERTIFICATES", folder)
    return folder


async def build_fails(config: Config, lines: list[BuildLine] = NPM_FAILURE) -> BuildFailed:
    engine = FakeEngine(images=[BASE], build_lines=lines)
    with pytest.raises(BuildFailed) as caught:
        await build_image(engine, HOME, config)  # type: ignore[arg-type]
    return caught.value


async def test_the_failure_names_the_hosts_certificate_to_add(
    tmp_path: Path, host_trust: Path
) -> None:
    (host_trust / "corp-proxy.crt").write_text(PEM)
    config = make_config(tmp_path)

    error = await build_fails(config)

    assert isinstance(error, UntrustedCertificate)
    tag = build_context(HOME, config).tag
    assert str(error) == (
        f"build of {tag} failed at step 2/4 (RUN npm install --global "
        "@anthropic-ai/claude-code@2.1.332): it did not trust a TLS certificate, as behind a "
        f"proxy that intercepts TLS (npm error request to {NPM_URL} failed, reason: self-signed "
        "certificate in certificate chain); add this host's CA certificates to the config "
        f"(scad config edit proj): ca_certificates: [{host_trust}/corp-proxy.crt]"
    )
    assert error.output == tuple(line.text for line in NPM_FAILURE[2:4])


@pytest.mark.parametrize(
    ("listed", "fix"),
    [
        pytest.param(
            False,
            "add the proxy's CA certificate (a PEM file) to the config (scad config edit proj): "
            "ca_certificates: [PATH]",
            id="none anywhere",
        ),
        pytest.param(
            True,
            "add the proxy's CA certificate (a PEM file) to the config's ca_certificates "
            "(scad config edit proj)",
            id="the host's already listed",
        ),
    ],
)
async def test_without_a_certificate_to_name_it_says_what_to_add(
    tmp_path: Path, host_trust: Path, listed: bool, fix: str
) -> None:
    extra = ""
    if listed:
        (host_trust / "corp.crt").write_text(PEM)
        extra = f"ca_certificates: [{host_trust}/corp.crt]\n"

    error = await build_fails(make_config(tmp_path, extra))

    assert str(error).endswith(f"certificate in certificate chain); {fix}")


async def test_apts_words_count_however_much_output_follows_them(tmp_path: Path) -> None:
    apt = "Certificate verification failed: The certificate is NOT trusted. [IP: 10.0.0.1 443]"
    lines = [
        BuildLine("Step 1/3 : FROM python:3.11-slim"),
        BuildLine("Step 2/3 : RUN apt-get update && apt-get install -y git"),
        BuildLine("Err:1 https://deb.debian.org/debian bookworm InRelease"),
        BuildLine(f"  {apt}"),
        *[BuildLine(f"E: Unable to locate package p{n}") for n in range(40)],
        BuildLine(
            "The command '/bin/sh -c apt-get update' returned a non-zero code: 100", error=True
        ),
    ]

    error = await build_fails(make_config(tmp_path), lines)

    assert isinstance(error, UntrustedCertificate) and error.evidence == apt


async def test_a_certificate_named_by_an_earlier_step_is_not_this_steps_evidence(
    tmp_path: Path,
) -> None:
    lines = [
        BuildLine("Step 1/3 : RUN curl -k https://example.invalid || true"),
        BuildLine("curl: (60) SSL certificate problem: self-signed certificate"),
        BuildLine("Step 2/3 : RUN apt-get install -y nope"),
        BuildLine("E: Unable to locate package nope"),
        BuildLine(
            "The command '/bin/sh -c apt-get install -y nope' returned a non-zero code: 100",
            error=True,
        ),
    ]

    error = await build_fails(make_config(tmp_path), lines)

    assert type(error) is BuildFailed
