"""Host patterns of an egress allowlist: what each entry names, and what it allows."""

from __future__ import annotations

import pytest

from scad.config.hosts import HostPattern, allows, normal_host, parse_host_pattern


@pytest.mark.parametrize(
    ("entry", "pattern"),
    [
        pytest.param("pypi.org", HostPattern(host="pypi.org", port=443), id="name"),
        pytest.param("PyPI.org.", HostPattern(host="pypi.org", port=443), id="case-and-dot"),
        pytest.param("git.corp:8443", HostPattern(host="git.corp", port=8443), id="port"),
        pytest.param(
            "*.pythonhosted.org",
            HostPattern(host="pythonhosted.org", port=443, subdomains=True),
            id="subdomains",
        ),
        pytest.param("127.0.0.1:8080", HostPattern(host="127.0.0.1", port=8080), id="ipv4"),
        pytest.param("[::1]:80", HostPattern(host="::1", port=80), id="ipv6-port"),
        pytest.param("[0:0::1]", HostPattern(host="::1", port=443), id="ipv6"),
        pytest.param("x.org:0", None, id="port-zero"),
        pytest.param("x.org:65536", None, id="port-too-big"),
        pytest.param("x.org:", None, id="port-empty"),
        pytest.param("https://x.org", None, id="url"),
        pytest.param("x.org/path", None, id="path"),
        pytest.param("-x.org", None, id="hyphen"),
        pytest.param("x..org", None, id="empty-label"),
        pytest.param("*", None, id="star"),
        pytest.param("*.1.2.3.4", None, id="star-ip"),
        pytest.param("[::1", None, id="open-bracket"),
        pytest.param("[::1]x", None, id="after-bracket"),
        pytest.param("[pypi.org]", None, id="bracketed-name"),
        pytest.param("bücher.de", None, id="not-ascii"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse(entry: str, pattern: HostPattern | None) -> None:
    assert parse_host_pattern(entry) == pattern


def test_subdomains_not_the_domain_nor_a_lookalike() -> None:
    pattern = parse_host_pattern("*.pythonhosted.org")
    assert pattern is not None
    assert allows(pattern, "files.pythonhosted.org", 443)
    assert allows(pattern, "a.b.pythonhosted.org", 443)
    assert not allows(pattern, "pythonhosted.org", 443)
    assert not allows(pattern, "evilpythonhosted.org", 443)
    assert not allows(pattern, "files.pythonhosted.org", 80)


def test_exact_name_and_port() -> None:
    pattern = parse_host_pattern("git.corp:8443")
    assert pattern is not None and str(pattern) == "git.corp:8443"
    assert allows(pattern, "git.corp", 8443)
    assert not allows(pattern, "git.corp", 443)
    assert not allows(pattern, "x.git.corp", 8443)


def test_addresses() -> None:
    assert normal_host("[::FFFF:1.2.3.4]") == "::ffff:102:304"
    assert normal_host("::1") == "::1"
    assert normal_host("[1.2.3.4]") is None
    pattern = parse_host_pattern("[::1]:8080")
    assert pattern is not None and str(pattern) == "[::1]:8080"
    assert str(pattern.address) == "::1"
    assert parse_host_pattern("*.x.org") is not None
    assert parse_host_pattern("*.x.org").address is None  # type: ignore[union-attr]
