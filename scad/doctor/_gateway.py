"""The model gateway as runs reach it: it starts (or runs) for this home, answers
``HEAD /`` as Claude Code's probe expects, and a container on the network runs use
reaches it at the address runs are given (on an engine on another host: the config's
``gateway_address``, from a container there)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import anyio

from ..config.schema import Config
from ..errors import ScadError
from ..gateway import LOOPBACK, GatewayInfo, ensure_gateway
from ..home import Home
from ..sessions.gateway_access import gateway_address
from ._check import Check, failed
from ._containers import PROBE_TIMEOUT, probe_container
from ._engine import valid_configs
from ._host import LoadedConfig
from ._http import http_status

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["check_gateway"]

NAME = "gateway"
#: Bound on one ``HEAD /`` from the host.
HEAD_TIMEOUT = 10.0


async def check_gateway(
    engine: Engine, home: Home, configs: Sequence[LoadedConfig], environ: Mapping[str, str]
) -> list[Check]:
    """The home's gateway, started if none runs (with ``environ``'s credential), where
    the first valid config's containers reach it; one of its built images, if any,
    probes it from such a container."""
    valid = list(valid_configs(configs))
    loaded, config = valid[0] if valid else (None, None)
    log = home.root / "gateway" / "gateway.log"
    if config is not None and engine.endpoint.remote and config.gateway_address is None:
        assert loaded is not None
        return [
            failed(
                NAME,
                f"the engine at {engine.endpoint.shown} is on another host, and {loaded.name} "
                "sets no gateway_address: its runs there could not reach the gateway",
                f"set gateway_address to this host's address as that engine's containers "
                f"reach it (`scad config edit {loaded.name}`)",
                loaded.name,
            )
        ]
    try:
        address = await _address(engine, config)
        info = await ensure_gateway(home, addresses=[address], environ=environ)
    except (ScadError, OSError) as exc:  # OSError: a home scad cannot write in
        return [failed(NAME, f"cannot start for {home.root}: {exc}", f"see {log}")]
    where = f"pid {info.pid}, port {info.port}"
    answer = await anyio.to_thread.run_sync(_head, LOOPBACK, info.port, abandon_on_cancel=True)
    if answer != 200:
        return [
            failed(
                NAME,
                f"{where}: HEAD / on {LOOPBACK} answered {answer}",
                f"see {log}; stop the process ({info.pid}) and it starts again when needed",
            )
        ]
    if loaded is None or config is None or loaded.tag is None or not await engine.image(loaded.tag):
        detail = f"{where}: answers HEAD / (no image built to reach it from a container)"
        return [Check(name=NAME, status="pass", detail=detail)]
    return [await _from_a_container(engine, info, loaded, config, address)]


async def _from_a_container(
    engine: Engine, info: GatewayInfo, loaded: LoadedConfig, config: Config, address: str
) -> Check:
    assert loaded.tag is not None
    network = config.network
    fix = (
        f"a container on the {network} network must reach {address}:{info.port} on the host: "
        "allow that traffic in the host's firewall, or set network: host"
    )
    try:
        with anyio.fail_after(PROBE_TIMEOUT):
            status, output = await probe_container(
                engine, config, loaded.tag, network=network, address=address, port=info.port
            )
    except TimeoutError:
        detail = f"no answer to a container within {PROBE_TIMEOUT:.0f} s"
        return failed(NAME, detail, fix, loaded.name)
    except ScadError as exc:
        return failed(NAME, f"cannot run {loaded.tag}: {exc}", fix, loaded.name)
    if status != 0 or output.strip() != "200":
        return failed(
            NAME,
            f"a container on the {network} network does not reach it at "
            f"{address}:{info.port}: {output}",
            fix,
            loaded.name,
        )
    return Check(
        name=NAME,
        status="pass",
        detail=(
            f"pid {info.pid}, port {info.port}: answers HEAD /, and a container on the "
            f"{network} network reaches it at {address}"
        ),
        config=loaded.name,
    )


async def _address(engine: Engine, config: Config | None) -> str:
    """Where the config's containers reach the gateway: the address it gives when the
    engine is on another host, else where the engine's network says."""
    if config is None:
        return LOOPBACK
    if engine.endpoint.remote and config.gateway_address is not None:
        return config.gateway_address
    return await gateway_address(engine, config)


def _head(host: str, port: int) -> int | str:
    """The status of ``HEAD /`` at ``host:port``, or why there was none. Blocks."""
    answer = http_status(host, port, "HEAD", "/", timeout=HEAD_TIMEOUT)
    return answer if isinstance(answer, int) else f"nothing ({answer})"
