"""``scad doctor``: whether this host can run sessions, one check at a time.

Each check gives a :class:`Check` (pass, warn, fail or skip; warnings and
failures say how to fix them); :func:`run_checks` runs them all, bounded in time,
and prints nothing. The checks, in order: the engine answers; each config's base
image is present; each config is valid and its repos exist; the credentials sessions
would use (and when OAuth ones expire); the configs' CA certificates; that scad can
write in ``$SCAD_HOME``; free disk there, and where the engine keeps images and
containers; mounts the agent's uid cannot write; the engine's live-restore; each built
image runs ``claude --version``; the home's model gateway starts (or runs), answers
``HEAD /`` and is reached from a container on the network runs use; and one headless
Claude in a built image answers the offline model through the gateway, with a run token
as a run has. For each config that runs on a swarm: its manager answers and is one, its
nodes are ready and some match its placement, its registry answers ``GET /v2/``, and a
one-task job on a node pulls an image from that registry and connects to the gateway.
"""

from ._check import Check, Status
from ._containers import ROUND_TRIP_TIMEOUT, VERSION_TIMEOUT
from ._host import DISK_FAIL_BYTES, DISK_WARN_BYTES
from ._run import CHECKS, ENGINE_TIMEOUT, EngineFactory, run_checks

__all__ = [
    "CHECKS",
    "DISK_FAIL_BYTES",
    "DISK_WARN_BYTES",
    "ENGINE_TIMEOUT",
    "ROUND_TRIP_TIMEOUT",
    "VERSION_TIMEOUT",
    "Check",
    "EngineFactory",
    "Status",
    "run_checks",
]
