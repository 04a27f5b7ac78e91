"""What scad asks the engine to create, from a spec: limits, hardening, and nothing unset."""

from __future__ import annotations

from typing import Any

import pytest

from scad.engine._types import BindMount, ContainerSpec, Limits, NetworkInfo, Security
from scad.engine._wire import (
    LISTED_CONTAINER_FIELDS,
    container_config,
    container_state,
    network_info,
)


def test_a_run_container_asks_for_its_limits_hardening_and_whole_log() -> None:
    spec = ContainerSpec(
        image="scad-p:abc", name="scad-r", labels={"scad.run": "r"}, command=["headless"],
        user="1000:1000", env={"TZ": "UTC"}, workdir="/workspace/code", network="host",
        mounts=[BindMount("/h/claude", "/home/agent/.claude"), BindMount("/h/in", "/in", read_only=True)],
        limits=Limits(cpus=1.5, memory=2 << 30, pids=512),
        security=Security(no_new_privileges=True, cap_drop_all=True),
    )  # fmt: skip
    config = container_config(spec)
    host = config.pop("HostConfig")
    assert config == {
        "Image": "scad-p:abc", "Labels": {"scad.run": "r"}, "Env": ["TZ=UTC"], "Tty": False,
        "OpenStdin": False, "Cmd": ["headless"], "User": "1000:1000", "WorkingDir": "/workspace/code",
    }  # fmt: skip
    assert host == {
        "Init": True, "NetworkMode": "host",
        "Mounts": [
            {"Type": "bind", "Source": "/h/claude", "Target": "/home/agent/.claude", "ReadOnly": False},
            {"Type": "bind", "Source": "/h/in", "Target": "/in", "ReadOnly": True},
        ],
        "LogConfig": {"Type": "json-file", "Config": {}},
        "NanoCpus": 1_500_000_000, "Memory": 2 << 30, "MemorySwap": 2 << 30, "PidsLimit": 512,
        "SecurityOpt": ["no-new-privileges"], "CapDrop": ["ALL"],
    }  # fmt: skip


def test_what_a_spec_leaves_unset_is_not_asked_for() -> None:
    config = container_config(ContainerSpec(image="i", name="n", labels={}, tty=True))
    assert set(config) == {"Image", "Labels", "Env", "Tty", "OpenStdin", "HostConfig"}
    assert config["Tty"] is config["OpenStdin"] is True
    assert set(config["HostConfig"]) == {"Init", "NetworkMode", "Mounts", "LogConfig"}


class Recording(dict[str, Any]):
    """A row that remembers which fields were read from it."""

    def __init__(self, row: dict[str, Any]) -> None:
        super().__init__(row)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)


@pytest.mark.parametrize(
    "row",
    [
        pytest.param(
            {"Id": "c", "Names": ["/n"], "Image": "i", "ImageID": "sha256:i", "State": "exited",
             "Labels": {"a": "b"}, "Created": 1},
            id="listed",
        ),
        pytest.param(
            {"Id": "c", "Name": "/n", "Image": "sha256:i", "Created": "t",
             "Config": {"Image": "i", "Labels": {"a": "b"}},
             "State": {"Status": "exited", "Running": False, "ExitCode": 3}},
            id="inspected",
        ),
    ],
)  # fmt: skip
def test_a_container_state_reads_only_the_fields_the_client_copies(row: dict[str, Any]) -> None:
    recording = Recording(row)
    container_state(recording)
    assert recording.read <= set(LISTED_CONTAINER_FIELDS)


def test_a_network_gives_its_ipv4_gateway() -> None:
    inspected = {
        "Id": "abc",
        "Name": "scad-egress-1",
        "Internal": True,
        "Labels": {"scad.home": "/h"},
        "IPAM": {"Config": [{"Subnet": "fd00::/64", "Gateway": "fd00::1"},
                            {"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]},
    }  # fmt: skip
    assert network_info(inspected) == NetworkInfo(
        id="abc", name="scad-egress-1", internal=True, gateway="172.18.0.1",
        labels={"scad.home": "/h"},
    )  # fmt: skip
    assert network_info({"Id": "d", "IPAM": {"Config": None}}).gateway is None
