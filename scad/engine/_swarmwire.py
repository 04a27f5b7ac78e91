"""Converting swarm Structs to and from the Engine API's JSON. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._swarmtypes import NodeState, ServiceSpec, TaskState

__all__ = ["node_state", "service_body", "task_state"]

_NANO = 1_000_000_000


def _resources(cpus: float | None, memory: int | None, pids: int | None = None) -> dict[str, int]:
    found = {}
    if cpus is not None:
        found["NanoCPUs"] = int(cpus * _NANO)
    if memory is not None:
        found["MemoryBytes"] = memory
    if pids is not None:
        found["Pids"] = pids
    return found


def service_body(spec: ServiceSpec) -> dict[str, Any]:
    """The body of ``POST /services/create`` for ``spec``: one task, run once, never
    restarted by the swarm."""
    container: dict[str, Any] = {
        "Image": spec.image,
        "Labels": dict(spec.labels),
        "Command": list(spec.command),
        "User": spec.user,
        "Env": [f"{key}={value}" for key, value in spec.env.items()],
        "Init": spec.init,
        "Secrets": [
            {
                "File": {"Name": s.file, "UID": s.uid, "GID": s.gid, "Mode": s.mode},
                "SecretID": s.secret_id,
                "SecretName": s.secret_name,
            }
            for s in spec.secrets
        ],
    }
    if spec.workdir:
        container["Dir"] = spec.workdir
    if spec.security.cap_drop_all:
        container["CapabilityDrop"] = ["ALL"]
    limits = spec.limits
    template: dict[str, Any] = {
        "ContainerSpec": container,
        # Condition none alone: with on-failure the swarm retries a failed task itself.
        "RestartPolicy": {"Condition": "none", "MaxAttempts": 0},
        "Resources": {
            "Limits": _resources(limits.cpus, limits.memory, limits.pids),
            "Reservations": _resources(spec.reservations.cpus, spec.reservations.memory),
        },
        "Placement": {"Constraints": list(spec.constraints)},
    }
    return {
        "Name": spec.name,
        "Labels": dict(spec.labels),
        "TaskTemplate": template,
        "Mode": {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}},
    }


def task_state(data: Mapping[str, Any]) -> TaskState:
    status = data.get("Status") or {}
    container = status.get("ContainerStatus") or {}
    # Only a task that ended by itself has an exit: one the swarm gave up on reads 0.
    exit_code = container.get("ExitCode") if status.get("State") in ("complete", "failed") else None
    return TaskState(
        id=str(data["ID"]),
        node_id=data.get("NodeID") or None,
        state=str(status.get("State", "")),
        desired_state=str(data.get("DesiredState", "")),
        exit_code=int(exit_code) if isinstance(exit_code, int) else None,
        error=status.get("Err") or None,
        message=str(status.get("Message") or ""),
        timestamp=status.get("Timestamp") or None,
    )


def node_state(data: Mapping[str, Any]) -> NodeState:
    status = data.get("Status") or {}
    spec = data.get("Spec") or {}
    description = data.get("Description") or {}
    platform = description.get("Platform") or {}
    return NodeState(
        id=str(data["ID"]),
        hostname=str(description.get("Hostname", "")),
        state=str(status.get("State", "unknown")),
        availability=str(spec.get("Availability", "active")),
        message=str(status.get("Message", "")),
        role=str(spec.get("Role", "")),
        labels=dict(spec.get("Labels") or {}),
        engine_labels=dict((description.get("Engine") or {}).get("Labels") or {}),
        os=str(platform.get("OS", "")),
        arch=str(platform.get("Architecture", "")),
    )
