"""A config's `runs_on` and `swarm:`: every value the engine would refuse (or that no node
could ever match) is one line naming its field, before any run is made."""

from __future__ import annotations

from pathlib import Path

import pytest

from scad.config.loading import load_config
from scad.errors import ConfigError

BASE = "name: proj\nrepos:\n  code: {path: ., workdir: true}\n"
ROLE = '"node.role==boss": a node\'s role is manager or worker'
KEYS = "node.id, node.hostname, node.role, node.platform.os, node.platform.arch"


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "proj.yml"
    path.write_text(BASE + text)
    return load_config(path)


GOOD = [
    pytest.param("swarm: {manager: unix:///var/run/docker.sock}\n", id="manager-unix"),
    pytest.param("swarm: {manager: 'tcp://10.0.0.5:2376'}\n", id="manager-tcp-ip"),
    pytest.param("swarm: {manager: 'tcp://manager.lan:2376'}\n", id="manager-tcp-name"),
    pytest.param("swarm: {manager: 'tcp://[fd00::5]:2376'}\n", id="manager-tcp-v6"),
    pytest.param("swarm: {manager: 'context:lab-1'}\n", id="manager-context"),
    pytest.param("swarm: {registry: 'registry.lan:5000'}\n", id="registry"),
    pytest.param("swarm: {registry: '127.0.0.1:5000'}\n", id="registry-loopback"),
    pytest.param(
        "swarm:\n  placement:\n"
        "    - node.labels.gpu==true\n    - node.role!=manager\n"
        "    - node.hostname==w1\n    - 'node.platform.arch == x86_64'\n"
        "    - engine.labels.zone!=eu\n",
        id="placement",
    ),
    pytest.param("gateway_address: 10.0.0.1\n", id="gateway-v4"),
    pytest.param("gateway_address: 'fd00::1'\n", id="gateway-v6"),
    pytest.param("runs_on: swarm\nswarm: {registry: 'registry.lan:5000'}\n", id="runs-on-swarm"),
]


@pytest.mark.parametrize("text", GOOD)
def test_good_swarm_settings_load(tmp_path: Path, text: str) -> None:
    load(tmp_path, text)


BAD = [
    pytest.param(
        "swarm: {manager: 'ssh://me@box'}\n",
        'swarm.manager: "ssh://me@box" is not an engine address; write unix:///path, '
        "tcp://host:port or context:NAME (a Docker context)",
        id="manager-ssh",
    ),
    pytest.param(
        "swarm: {manager: 'tcp://manager.lan'}\n",
        'swarm.manager: "tcp://manager.lan" is not an engine address; write it like tcp://manager.lan:2376',
        id="manager-no-port",
    ),
    pytest.param(
        "swarm: {manager: 'tcp://manager.lan:70000'}\n",
        'swarm.manager: "tcp://manager.lan:70000" is not an engine address; write it like tcp://manager.lan:2376',
        id="manager-bad-port",
    ),
    pytest.param(
        "swarm: {manager: 'unix://docker.sock'}\n",
        'swarm.manager: "unix://docker.sock" is not a socket path; write it like unix:///var/run/docker.sock',
        id="manager-relative-socket",
    ),
    pytest.param(
        "swarm: {manager: 'context:'}\n",
        'swarm.manager: "context:" does not name a Docker context (`docker context ls` lists them)',
        id="manager-empty-context",
    ),
    pytest.param(
        "swarm: {manager: 'context:../x'}\n",
        'swarm.manager: "context:../x" does not name a Docker context (`docker context ls` lists them)',
        id="manager-context-path",
    ),
    pytest.param(
        "swarm: {registry: 'registry.lan'}\n",
        'swarm.registry: "registry.lan" is not a registry address; write it as host:port, like registry.lan:5000',
        id="registry-no-port",
    ),
    pytest.param(
        "swarm: {registry: 'https://registry.lan:5000'}\n",
        'swarm.registry: "https://registry.lan:5000" is not a registry address; write it as host:port, like registry.lan:5000',
        id="registry-url",
    ),
    pytest.param(
        "swarm: {placement: [node.labels.gpu=true]}\n",
        'swarm.placement[0]: "node.labels.gpu=true" has no == or !=; write a constraint '
        'like "node.labels.gpu==true" or "node.role!=manager"',
        id="placement-single-equals",
    ),
    pytest.param(
        "swarm: {placement: ['==true']}\n",
        'swarm.placement[0]: "==true": the key is not a constraint key; write one '
        'like "node.labels.gpu==true" or "node.role!=manager"',
        id="placement-no-key",
    ),
    pytest.param(
        "swarm: {placement: ['node.labels.gpu==']}\n",
        'swarm.placement[0]: "node.labels.gpu==": the value is not a constraint value; write one '
        'like "node.labels.gpu==true" or "node.role!=manager"',
        id="placement-no-value",
    ),
    pytest.param(
        "swarm: {placement: ['node.labels.gpu==a,b']}\n",
        'swarm.placement[0]: "node.labels.gpu==a,b": a,b is not a constraint value; write one '
        'like "node.labels.gpu==true" or "node.role!=manager"',
        id="placement-bad-value",
    ),
    pytest.param(
        "swarm: {placement: [node.role==worker, 'node.labels.==x']}\n",
        'swarm.placement[1]: "node.labels.==x" names no label after node.labels.',
        id="placement-no-label",
    ),
    pytest.param(
        "swarm: {placement: [node.zone==eu]}\n",
        f'swarm.placement[0]: "node.zone==eu": no node has node.zone; use node.labels.NAME or one of {KEYS}',
        id="placement-unknown-key",
    ),
    pytest.param(
        "swarm: {placement: [node.role==boss]}\n",
        f"swarm.placement[0]: {ROLE}",
        id="placement-bad-role",
    ),
    pytest.param(
        "gateway_address: gateway.lan\n",
        'gateway_address: "gateway.lan" is not an IP address; give the address the containers '
        "of a swarm or remote engine reach this host at",
        id="gateway-name",
    ),
    pytest.param(
        "gateway_address: 0.0.0.0\n",
        'gateway_address: "0.0.0.0" is not an address a container can connect to; give this host\'s own',
        id="gateway-unspecified",
    ),
    pytest.param(
        "swarm: {gateway_address: 10.0.0.1}\n",
        'swarm.gateway_address: unknown field; it moved: write it as the top-level "gateway_address"',
        id="gateway-moved",
    ),
    pytest.param(
        "runs_on: swarm\n",
        "swarm.registry: runs_on: swarm needs the registry every node pulls from, like registry.lan:5000",
        id="runs-on-swarm-no-registry",
    ),
    pytest.param(
        "runs_on: cluster\n",
        "runs_on: 'cluster' is not one of: local, swarm",
        id="runs-on-unknown",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_swarm_settings_are_one_line_naming_the_field(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert str(caught.value) == f"proj.yml: {message}"
