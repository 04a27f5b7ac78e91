"""The internal network a home's fenced runs join: no route out, and the host's
address on it, where the gateway listens for them (see :mod:`._egress`)."""

from __future__ import annotations

import msgspec

from ..engine import Engine, labels
from ..errors import EngineError
from ..home import Home
from ..names import home_key

__all__ = ["EgressNetwork", "egress_network_name", "ensure_egress_network"]


class EgressNetwork(msgspec.Struct, frozen=True, kw_only=True):
    """The network a fenced run joins, and the host's address on it: where the gateway
    binds, the only address such a run can reach."""

    name: str
    gateway: str


def egress_network_name(home: Home) -> str:
    """The network of ``home``'s fenced runs: one per home, so homes stay apart."""
    return f"scad-egress-{home_key(labels.home_label(home))}"


async def ensure_egress_network(engine: Engine, home: Home) -> EgressNetwork:
    """Make ``home``'s internal network unless it is there (two callers at once make it
    once), and say where the host reaches it."""
    name = egress_network_name(home)
    network = await engine.network(name)
    if network is None:
        try:
            network = await engine.create_network(
                name, labels={labels.HOME: labels.home_label(home)}, internal=True
            )
        except EngineError as exc:
            if exc.status != 409:
                raise
            network = await engine.network(name)  # made meanwhile by another caller
    if network is None:
        raise EngineError(f"network {name} vanished while it was being made; try again")
    if not network.internal:
        raise EngineError(
            f"network {name} has a route out; remove it with `docker network rm {name}` "
            "and scad makes it again without one"
        )
    if network.gateway is None:
        raise EngineError(f"network {name} has no gateway address for the host to listen on")
    return EgressNetwork(name=name, gateway=network.gateway)
