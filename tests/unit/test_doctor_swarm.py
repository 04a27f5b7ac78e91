"""`scad doctor`'s cluster checks: the manager, the nodes, the registry and a job on a
node, each verdict with its fix, against the engine fake and HTTP servers on 127.0.0.1."""

from __future__ import annotations

import http.server
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from scad.doctor import CHECKS, Check
from scad.doctor._cluster import SWARM_CHECKS, check_swarms
from scad.doctor._from_node import NO_CONNECTION, NO_TOOL
from scad.doctor._host import load_configs
from scad.engine import NodeState, ServiceSpec, TaskState
from scad.engine._types import Engine, ImageInfo
from scad.errors import EngineUnavailable
from scad.gateway import GatewayInfo
from scad.home import Home
from tests.conftest import make_repo
from tests.fakes import FakeEngine

pytestmark = pytest.mark.anyio

BASE = "python:3.11-slim"
ADDRESS = "10.0.0.1"
GATEWAY_PORT = 4555


def node(name: str, *, state: str = "ready", availability: str = "active",
         role: str = "worker", **labels: str) -> NodeState:  # fmt: skip
    return NodeState(id=f"id-{name}", hostname=name, role=role, state=state,
                    availability=availability, labels=labels, os="linux", arch="x86_64")  # fmt: skip


def serve(status: int) -> Iterator[str]:
    """host:port of a server answering every GET with ``status``."""

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def registry() -> Iterator[str]:
    yield from serve(200)


def closed_port() -> str:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"  # closed when the block ends


class Cluster:
    """A home with one config on a swarm whose manager is the engine fake."""

    def __init__(self, root: Path, tmp_path: Path, registry: str) -> None:
        self.home = Home(root)
        self.tmp = tmp_path
        self.registry = registry
        self.engine = FakeEngine(images=[ImageInfo(id="sha256:b", tags=[BASE,
                                 f"{registry}/python:3.11-slim"], labels={}, created="")])  # fmt: skip
        self.engine.swarm_state, self.engine.swarm_manager = "active", True
        self.engine.node_list = [node("manager", role="manager"), node("w1", gpu="true")]
        self.engine.job_task = self.complete
        self.opened: list[str | None] = []
        self.repo = make_repo(tmp_path / "repo")

    def complete(self, spec: ServiceSpec) -> TaskState:
        return TaskState(id="t", node_id="id-w1", state="complete", message="finished", exit_code=0)

    def config(self, swarm: str = "", runs_on: str = "swarm") -> None:
        self.home.configs.mkdir(parents=True, exist_ok=True)
        self.home.config_file("proj").write_text(
            f"name: proj\nrepos:\n  code: {{path: {self.repo}, workdir: true}}\n"
            f"runs_on: {runs_on}\n"
            f"gateway_address: {ADDRESS}\nswarm: {{registry: '{self.registry}'{swarm}}}\n"
        )

    def open_manager(self, manager: str | None) -> AbstractAsyncContextManager[Engine]:
        @asynccontextmanager
        async def opened() -> AsyncIterator[Engine]:
            self.opened.append(manager)
            yield self.engine

        return opened()

    async def checks(self) -> dict[str, Check]:
        found = await check_swarms(load_configs(self.home), self.home, {}, self.open_manager)
        assert all(len(lines) == 1 for lines in found.values()), found
        return {name: lines[0] for name, lines in found.items()}


@pytest.fixture
def cluster(
    scad_home: Path, tmp_path: Path, registry: str, monkeypatch: pytest.MonkeyPatch
) -> Cluster:
    asked: list[list[str]] = []

    async def fake_gateway(home: Home, *, addresses: list[str], environ: object) -> GatewayInfo:
        asked.append(addresses)
        return GatewayInfo(pid=1, port=GATEWAY_PORT, addresses=["127.0.0.1", *addresses],
                           started="", credential="api-key")  # fmt: skip

    monkeypatch.setattr("scad.doctor._from_node.ensure_gateway", fake_gateway)
    made = Cluster(scad_home, tmp_path, registry)
    made.config()
    return made


async def test_a_healthy_swarm_passes_every_cluster_check(cluster: Cluster) -> None:
    found = await cluster.checks()

    assert {name: (c.status, c.detail) for name, c in found.items()} == {
        "swarm manager": ("pass", "the local engine manages a swarm"),
        "swarm nodes": ("pass", "2 of 2 nodes ready"),
        "registry": ("pass", f"{cluster.registry} answers GET /v2/ (200)"),
        "from a node": (
            "pass",
            f"a task on w1 pulled {cluster.registry}/python:3.11-slim and reached the gateway "
            f"at {ADDRESS}:{GATEWAY_PORT}",
        ),
    }
    assert all(c.config == "proj" for c in found.values())
    assert cluster.opened == [None]
    # The job: the image from the registry, the probe given the gateway's address and port,
    # and it is removed after.
    assert cluster.engine.jobs == {}


async def test_the_job_probes_the_gateway_on_a_node_the_placement_allows(
    cluster: Cluster,
) -> None:
    cluster.config(", placement: ['node.labels.gpu==true']")
    specs: list[ServiceSpec] = []

    def seen(spec: ServiceSpec) -> TaskState:
        specs.append(spec)
        return cluster.complete(spec)

    cluster.engine.job_task = seen

    found = await cluster.checks()

    assert found["swarm nodes"].detail == (
        "2 of 2 nodes ready, 1 of them match the placement node.labels.gpu==true"
    )
    assert found["from a node"].status == "pass"
    spec = specs[0]
    assert spec.image == f"{cluster.registry}/python:3.11-slim"
    assert spec.constraints == ["node.labels.gpu==true"]
    assert spec.command[-2:] == [ADDRESS, str(GATEWAY_PORT)]


async def test_configs_that_do_not_run_on_a_swarm_give_no_cluster_lines(
    cluster: Cluster,
) -> None:
    cluster.config(runs_on="local")

    found = await check_swarms(load_configs(cluster.home), cluster.home, {}, cluster.open_manager)

    assert found == {name: [] for name in SWARM_CHECKS}
    assert cluster.opened == []
    assert CHECKS[-len(SWARM_CHECKS) :] == SWARM_CHECKS


@pytest.mark.parametrize(
    ("state", "manager", "detail", "fix"),
    [
        ("inactive", False, "the local engine is not in a swarm", "`docker swarm init` on it"),
        ("active", False, "the local engine is a worker of a swarm, not a manager",
         "point swarm.manager at a manager"),
        ("locked", False, "the local engine is locked", "`docker swarm unlock` on it"),
        ("error", False, "the local engine is in a swarm that is error", "`docker info` on it"),
    ],
)  # fmt: skip
async def test_an_engine_that_is_no_manager_fails_and_skips_the_node_checks(
    cluster: Cluster, state: str, manager: bool, detail: str, fix: str
) -> None:
    cluster.engine.swarm_state, cluster.engine.swarm_manager = state, manager

    found = await cluster.checks()

    assert (found["swarm manager"].status, found["swarm manager"].detail) == ("fail", detail)
    assert found["swarm manager"].fix is not None and found["swarm manager"].fix.startswith(fix)
    assert found["swarm nodes"].status == "skip" and found["from a node"].status == "skip"
    assert found["registry"].status == "pass"


async def test_a_manager_that_does_not_answer_fails_with_where_it_is(cluster: Cluster) -> None:
    cluster.config(", manager: 'tcp://manager.lan:2376'")

    def unreachable(manager: str | None) -> AbstractAsyncContextManager[Engine]:
        @asynccontextmanager
        async def opened() -> AsyncIterator[Engine]:
            raise EngineUnavailable("cannot reach the Docker engine at tcp://manager.lan:2376")
            yield cluster.engine

        return opened()

    cluster.open_manager = unreachable  # type: ignore[method-assign]
    found = await cluster.checks()

    check = found["swarm manager"]
    assert check.status == "fail"
    assert check.detail == (
        "tcp://manager.lan:2376: cannot reach the Docker engine at tcp://manager.lan:2376"
    )
    assert check.fix is not None and check.fix.startswith(
        "start its engine, or point swarm.manager"
    )
    assert [found[n].status for n in ("swarm nodes", "from a node")] == ["skip", "skip"]


async def test_nodes_down_or_drained_warn_and_are_named(cluster: Cluster) -> None:
    cluster.engine.node_list += [node("w2", state="down"), node("w3", availability="drain")]

    found = await cluster.checks()

    check = found["swarm nodes"]
    assert (check.status, check.detail) == (
        "warn",
        "3 of 4 nodes ready; not taking work: w2 (down), w3 (drained)",
    )
    assert check.fix is not None and "--availability active" in check.fix
    assert found["from a node"].status == "pass"


async def test_no_node_matching_the_placement_fails_with_how_to_label_one(
    cluster: Cluster,
) -> None:
    cluster.config(", placement: ['node.labels.gpu==false', 'node.role!=manager']")

    found = await cluster.checks()

    check = found["swarm nodes"]
    assert (check.status, check.detail) == (
        "fail",
        "2 of 2 nodes ready, 0 of them match the placement node.labels.gpu==false, "
        "node.role!=manager: no ready node matches",
    )
    assert check.fix is not None and check.fix.startswith("label a node to match")
    assert found["from a node"] == Check(
        name="from a node", status="skip", detail="no node could take the job", config="proj"
    )


async def test_no_node_ready_fails_with_how_to_bring_one_back(cluster: Cluster) -> None:
    cluster.engine.node_list = [node("w1", state="down"), node("w2", availability="drain")]

    found = await cluster.checks()

    check = found["swarm nodes"]
    assert (check.status, check.detail) == (
        "fail",
        "1 of 2 nodes ready: no ready node takes work; not ready: w1 (down)",
    )
    assert check.fix is not None and check.fix.startswith("`docker node ls` on the manager")


@pytest.mark.parametrize(
    ("constraint", "matched"),
    [
        ("node.labels.gpu==true", True),
        ("node.labels.gpu==TRUE", True),
        ("node.labels.gpu!=true", False),
        ("node.labels.disk==ssd", False),
        ("node.labels.disk!=ssd", True),
        ("node.role==worker", True),
        ("NODE.ROLE != manager", True),
        ("node.hostname==w1", True),
        ("node.platform.arch==x86_64", True),
        ("node.id==id-w2", False),
        ("engine.labels.zone==a", False),
    ],
)
def test_placement_is_matched_as_swarmkit_reads_it(constraint: str, matched: bool) -> None:
    from scad.doctor._swarm import matches

    assert matches([constraint], node("w1", gpu="true")) is matched


@pytest.mark.parametrize("status", [401, 500])
async def test_a_registry_answers_with_a_login_or_fails_as_not_one(
    cluster: Cluster, status: int
) -> None:
    for address in serve(status):
        cluster.registry = address
        cluster.config()
        found = await cluster.checks()
    check = found["registry"]
    if status == 401:
        assert (check.status, check.detail) == ("pass", f"{address} answers GET /v2/ (401)")
    else:
        assert (check.status, check.detail) == ("fail", f"GET http://{address}/v2/ answered 500")
        assert found["from a node"].detail == "the registry does not answer"


async def test_a_registry_nobody_listens_on_fails_with_how_to_start_one(cluster: Cluster) -> None:
    cluster.registry = closed_port()
    cluster.config()

    found = await cluster.checks()

    check = found["registry"]
    assert check.status == "fail"
    assert check.detail.startswith(f"GET http://{cluster.registry}/v2/ had no answer (")
    assert check.fix is not None and check.fix.startswith("start a registry there")
    assert found["from a node"].status == "skip"


async def test_no_gateway_address_fails_the_job_check(cluster: Cluster) -> None:
    cluster.home.config_file("proj").write_text(
        f"name: proj\nrepos:\n  code: {{path: {cluster.repo}, workdir: true}}\n"
        f"runs_on: swarm\nswarm: {{registry: '{cluster.registry}'}}\n"
    )

    found = await cluster.checks()

    check = found["from a node"]
    assert (check.status, check.detail) == (
        "fail",
        "gateway_address is not set: runs on the nodes could not reach the gateway",
    )
    assert check.fix is not None and check.fix.startswith("set gateway_address")
    assert cluster.engine.jobs == {}


async def test_no_image_in_the_registry_warns_with_how_to_push_one(cluster: Cluster) -> None:
    cluster.engine.image_list = [ImageInfo(id="sha256:b", tags=[BASE], labels={}, created="")]

    found = await cluster.checks()

    check = found["from a node"]
    assert check.status == "warn"
    assert check.detail.endswith(f"nor {BASE} is in {cluster.registry}: nothing to try")
    assert check.fix == (
        f"docker tag {BASE} {cluster.registry}/python:3.11-slim && "
        f"docker push {cluster.registry}/python:3.11-slim"
    )


@pytest.mark.parametrize(
    ("task", "detail", "fix"),
    [
        (TaskState(id="t", node_id="id-w1", state="rejected",
                   error="No such image: reg/python:3.11-slim"),
         "w1 cannot pull {image} from the registry: No such image: reg/python:3.11-slim",
         "every node must reach {registry}"),
        (TaskState(id="t", node_id="id-w1", state="failed", error="non-zero exit (3)",
                   exit_code=NO_CONNECTION),
         f"a task on w1 cannot reach the gateway at {ADDRESS}:{GATEWAY_PORT}",
         f"the nodes must reach this host at {ADDRESS}: allow port {GATEWAY_PORT}/tcp"),
        (TaskState(id="t", node_id="id-w1", state="failed", error="non-zero exit (4)",
                   exit_code=NO_TOOL),
         "{image} has neither python3 nor bash to try the gateway with",
         "push the config's image to {registry}"),
        (TaskState(id="t", node_id="id-w1", state="failed", error="non-zero exit (137)",
                   exit_code=137),
         "the task on w1 ended failed: non-zero exit (137)",
         "`docker service logs`"),
    ],
)  # fmt: skip
async def test_a_job_that_fails_says_what_the_node_cannot_reach(
    cluster: Cluster, task: TaskState, detail: str, fix: str
) -> None:
    cluster.engine.job_task = lambda spec: task
    image = f"{cluster.registry}/python:3.11-slim"

    found = await cluster.checks()

    check = found["from a node"]
    assert (check.status, check.detail) == (
        "fail", detail.format(image=image, registry=cluster.registry)
    )  # fmt: skip
    assert check.fix is not None
    assert check.fix.startswith(fix.format(registry=cluster.registry))
    assert cluster.engine.jobs == {}


async def test_a_job_that_never_ends_is_given_up_on_and_removed(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("scad.doctor._from_node.JOB_TIMEOUT", 0.5)
    cluster.engine.job_task = lambda spec: TaskState(
        id="t", node_id=None, state="pending", message="no suitable node"
    )

    found = await cluster.checks()

    check = found["from a node"]
    assert (check.status, check.detail) == (
        "fail",
        "the job did not end within 0 s (its task pending: no suitable node)",
    )
    assert check.fix is not None and check.fix.startswith("`docker service ps --no-trunc`")
    assert cluster.engine.jobs == {}


async def test_a_job_the_manager_refuses_fails_the_job_check(cluster: Cluster) -> None:
    from scad.errors import EngineError

    cluster.engine.fail["create_service"] = EngineError("create service x: rpc error")

    found = await cluster.checks()

    assert (found["from a node"].status, found["from a node"].detail) == (
        "fail",
        "create service x: rpc error",
    )
    assert found["swarm manager"].status == "pass"
