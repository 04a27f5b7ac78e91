"""A swarm's nodes, services and tasks: what scad asks of a manager, and its answers as
scad's Structs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._types import JobSpec, JobTask, NodeInfo

__all__ = ["job_service", "node_info", "task_state"]


def node_info(data: Mapping[str, Any]) -> NodeInfo:
    spec = data.get("Spec") or {}
    description = data.get("Description") or {}
    platform = description.get("Platform") or {}
    status = data.get("Status") or {}
    return NodeInfo(
        id=str(data.get("ID", "")),
        hostname=str(description.get("Hostname", "")),
        role=str(spec.get("Role", "")),
        state=str(status.get("State", "unknown")),
        availability=str(spec.get("Availability", "")),
        labels=dict(spec.get("Labels") or {}),
        engine_labels=dict((description.get("Engine") or {}).get("Labels") or {}),
        os=str(platform.get("OS", "")),
        arch=str(platform.get("Architecture", "")),
    )


def job_service(spec: JobSpec) -> dict[str, Any]:
    """The arguments of ``POST /services/create`` for ``spec``: one task, run once, never
    restarted (scad keeps its own retries)."""
    template: dict[str, Any] = {
        "ContainerSpec": {"Image": spec.image, "Command": list(spec.command)},
        "RestartPolicy": {"Condition": "none"},
    }
    if spec.constraints:
        template["Placement"] = {"Constraints": list(spec.constraints)}
    return {
        "task_template": template,
        "name": spec.name,
        "labels": dict(spec.labels),
        "mode": {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}},
    }


def task_state(data: Mapping[str, Any]) -> JobTask:
    status = data.get("Status") or {}
    exit_code = (status.get("ContainerStatus") or {}).get("ExitCode")
    node = data.get("NodeID")
    return JobTask(
        id=str(data.get("ID", "")),
        node_id=str(node) if node else None,
        state=str(status.get("State", "")),
        message=str(status.get("Err") or status.get("Message") or ""),
        exit_code=exit_code if isinstance(exit_code, int) else None,
    )
