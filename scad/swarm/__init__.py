"""Runs on a Docker Swarm: a run as one replicated-job service of one task, its files
through the gateway (no mounts), its image pushed once to the swarm's registry, its
task's log followed into the run's event log exactly once, and its node watched.

:func:`publish_image` puts the run image where every node pulls it,
:func:`run_service_spec` makes a run's local container spec a service,
:func:`supervise_on_swarm` runs it to its end, and :func:`retire_services`
puts away what a supervisor that died left before the run starts again.
"""

from __future__ import annotations

from .nodeloss import node_loss
from .publish import publish_image, registry_name
from .retire import retire_services
from .run import supervise_on_swarm
from .service import TOKEN_PATH, run_service_spec, service_name

__all__ = [
    "TOKEN_PATH",
    "node_loss",
    "publish_image",
    "registry_name",
    "retire_services",
    "run_service_spec",
    "service_name",
    "supervise_on_swarm",
]
