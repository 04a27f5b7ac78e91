"""The pure parts of a run on a swarm: its service's body, the node-loss decision, the
image's name in the registry."""

from __future__ import annotations

import pytest

from scad.engine import Limits, NodeState, SecretFile, Security, ServiceSpec, TaskState
from scad.engine._swarmwire import service_body, task_state
from scad.swarm import node_loss, registry_name


def spec(**changes: object) -> ServiceSpec:
    base = ServiceSpec(
        name="scad-r1-k", image="127.0.0.1:5000/scad-x@sha256:ab", labels={"scad.run": "r1"},
        command=["scad-remote-run", "-p"], user="1000:1000", env={"TZ": "UTC"},
        limits=Limits(cpus=1.5, memory=2 << 30, pids=512),
        reservations=Limits(cpus=1.5, memory=2 << 30),
        constraints=["node.labels.gpu==true"], security=Security(cap_drop_all=True),
        secrets=[SecretFile(secret_id="s1", secret_name="n1", file="scad-token", uid="1000", gid="1000")],
    )  # fmt: skip
    return ServiceSpec(**{**{f: getattr(base, f) for f in base.__struct_fields__}, **changes})  # type: ignore[arg-type]


def test_a_run_is_one_job_of_one_task_never_restarted_by_the_swarm() -> None:
    body = service_body(spec())
    assert body["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}}
    template = body["TaskTemplate"]
    assert template["RestartPolicy"]["Condition"] == "none"
    assert template["Resources"]["Limits"] == {
        "NanoCPUs": 1_500_000_000, "MemoryBytes": 2 << 30, "Pids": 512,
    }  # fmt: skip
    assert template["Resources"]["Reservations"] == {
        "NanoCPUs": 1_500_000_000, "MemoryBytes": 2 << 30,
    }  # fmt: skip
    assert template["Placement"] == {"Constraints": ["node.labels.gpu==true"]}
    container = template["ContainerSpec"]
    assert container["CapabilityDrop"] == ["ALL"]
    assert container["User"] == "1000:1000"
    assert "Dir" not in container
    assert container["Secrets"][0]["File"] == {
        "Name": "scad-token", "UID": "1000", "GID": "1000", "Mode": 0o400,
    }  # fmt: skip
    assert body["Labels"] == {"scad.run": "r1"} == container["Labels"]


def test_no_secret_reaches_the_spec_s_env_or_labels() -> None:
    body = service_body(spec())
    text = repr(body["TaskTemplate"]["ContainerSpec"]["Env"]) + repr(body["Labels"])
    assert "TOKEN=" not in text and "AUTH" not in text


def task(
    state: str = "running", node: str | None = "n1", exit_code: int | None = None
) -> TaskState:
    return TaskState(id="t1", node_id=node, state=state, exit_code=exit_code)


def node(state: str = "ready", availability: str = "active") -> NodeState:
    return NodeState(
        id="n1", hostname="w2", state=state, availability=availability, message="heartbeat failure"
    )


@pytest.mark.parametrize(
    ("the_task", "the_node", "lost"),
    [
        (task(), node(), None),
        (task(), node("down"), "node w2 is down (heartbeat failure)"),
        (task(), node("disconnected"), "node w2 is disconnected (heartbeat failure)"),
        (task(), node(availability="drain"), "node w2 was drained"),
        (task(), node(availability="pause"), None),
        (task(), None, "node n1 left the swarm under it"),
        (task("pending", None), None, None),
        (task("complete", exit_code=0), node("down"), None),  # ended before: its exit stands
        (task("starting"), node("down"), "node w2 is down (heartbeat failure)"),
        # Given up when its node went down: no exit of its own.
        (task("shutdown"), node("down"), "node w2 is down (heartbeat failure)"),
        (task("orphaned"), None, "node n1 left the swarm under it"),
        (task("shutdown"), node(), "node w2 lost it (the swarm ended its task shutdown, no exit)"),
        # Failed by the swarm when the node died, with no exit code: lost.
        (task("failed"), node("down"), "node w2 is down (heartbeat failure)"),
        (task("failed"), node(), "node w2 lost it (the swarm ended its task failed, no exit)"),
        # Failed by itself, with its exit code: its end stands, whatever the node did since.
        (task("failed", exit_code=3), node("down"), None),
        (task("rejected"), node(), None),
    ],
)
def test_a_task_loses_its_node_when_the_node_is_not_ready_or_is_drained(
    the_task: TaskState, the_node: NodeState | None, lost: str | None
) -> None:
    assert node_loss(the_task, the_node) == lost


def test_the_image_is_tagged_by_its_content_hash_in_the_registry() -> None:
    assert registry_name("127.0.0.1:5000/", "scad-x-abc:0123") == (
        "127.0.0.1:5000/scad-x-abc",
        "0123",
    )


def test_a_task_s_exit_code_and_node_are_read_from_its_status() -> None:
    read = task_state({
        "ID": "t1", "NodeID": "n1", "DesiredState": "complete",
        "Status": {"State": "failed", "Err": "task: non-zero exit (3)", "ContainerStatus": {"ExitCode": 3}},
    })  # fmt: skip
    assert (read.state, read.exit_code, read.node_id, read.over) == ("failed", 3, "n1", True)


def test_a_task_the_swarm_gave_up_on_has_no_exit_code() -> None:
    read = task_state({
        "ID": "t1", "NodeID": "n1", "DesiredState": "shutdown",
        "Status": {"State": "shutdown", "ContainerStatus": {"ExitCode": 0}},
    })  # fmt: skip
    assert (read.state, read.exit_code, read.over) == ("shutdown", None, True)
