"""Fencing a run's container: once it starts, its routes are cut down to the host's
address on its network, before its entrypoint goes on.

A container's network namespace exists only once it runs, so the cut comes right
after the start: a short-lived helper container (the run's own image, root, only
``CAP_NET_ADMIN``) joins the run's namespace and runs :mod:`._cut_routes`. The run's
container itself keeps every capability dropped; its entrypoint holds Claude back
while a default route is left (:data:`FENCE_ENV`), and gives up when none is cut in
time, so nothing of the agent ever runs unfenced. A container carries
:data:`labels.FENCE` so whoever starts it (a first start, a resume, an adoption)
fences it.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec

from ..engine import ContainerSpec, Security, labels
from ..errors import EngineError, ScadError

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["FENCE_ENV", "fence_container", "fenced", "fenced_spec"]

#: Set in a fenced container's environment: its entrypoint waits for the cut.
FENCE_ENV = "SCAD_FENCE"
#: How long the cut may take (its container starts on a busy engine).
FENCE_SECONDS = 60
_SCRIPT = Path(__file__).with_name("_cut_routes.py")


@functools.cache
def _cut_routes_script() -> str:
    return _SCRIPT.read_text()


def fenced_spec(spec: ContainerSpec) -> ContainerSpec:
    """``spec`` as a container whose start is followed by the cut: labelled, its
    entrypoint told to wait for it, and no IPv6 (link-local addresses would reach the
    network's other containers without a route)."""
    return msgspec.structs.replace(
        spec,
        labels={**spec.labels, labels.FENCE: "routes"},
        env={**spec.env, FENCE_ENV: "1"},
        sysctls={**spec.sysctls, "net.ipv6.conf.all.disable_ipv6": "1"},
    )


def fenced(container_labels: Mapping[str, str]) -> bool:
    """Whether a container of these labels is fenced at each start."""
    return labels.FENCE in container_labels


async def fence_container(engine: Engine, container_id: str, image: str) -> None:
    """Cut the routes of the started container ``container_id`` (made from ``image``).

    Raises :class:`EngineError` when the cut fails; the container's entrypoint then
    never lets Claude start.
    """
    script = await anyio.to_thread.run_sync(_cut_routes_script)
    helper = ContainerSpec(
        image=image,
        name=f"scad-fence-{container_id[:12]}",
        labels={labels.FENCE: container_id},
        entrypoint=["python3", "-I", "-c", script],
        user="0:0",
        network=f"container:{container_id}",
        cap_add=["NET_ADMIN"],
        init=False,
        security=Security(no_new_privileges=True, cap_drop_all=True),
    )
    helper_id = await engine.create_container(helper)
    try:
        with anyio.fail_after(FENCE_SECONDS):
            await engine.start(helper_id)
            exit = await engine.wait(helper_id)
        if exit.exit_code != 0:
            said = await engine.logs(helper_id, stderr=True, tail=5)
            raise EngineError(
                f"could not fence container {container_id[:12]}: "
                + (" ".join(said).strip() or f"exit {exit.exit_code}")
            )
    except TimeoutError:
        raise EngineError(
            f"could not fence container {container_id[:12]} in {FENCE_SECONDS} s"
        ) from None
    finally:
        with (
            anyio.CancelScope(shield=True),
            anyio.move_on_after(30),
            contextlib.suppress(ScadError),
        ):
            await engine.remove(helper_id, force=True)
