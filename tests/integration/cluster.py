"""A real multi-node Docker Swarm on one machine, for the tests.

The host's engine is the manager. Each worker is a `dockerd` of its own (socket, data
and exec roots, its own managed containerd) in network, mount, PID and UTS namespaces
of its own: the host's bridges, mounts and processes stay untouched, and killing the
worker's `dockerd` by its pid takes down everything it ran, as a machine that dies
would. The nodes meet on a bridge inside a namespace of its own (so the host's
firewall, whose FORWARD policy the engine sets to DROP, never sees their traffic),
reached from the host through one veth pair.

A registry (Debian's `docker-registry`) serves the image to every node under one
name, 127.0.0.1:<port>/…, a name every engine trusts over plain HTTP by default: the
host pushes to an instance on its loopback; each worker's loopback port is forwarded
(DNAT in the worker's own namespace) to a second instance on the bridge that reads
the same storage. Leaving restores the host engine as found: it leaves the swarm, its
`docker_gwbridge` and the pushed tag are removed, the workers are killed by pid, the
namespaces (and with them the veths and bridge) deleted, the folder removed.

Run as a script (`python -m tests.integration.cluster`) it forms the swarm, prints
how to reach it, and holds it until interrupted. Hold /tmp/scad-engine.lock meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiodocker
import anyio
from anyio.abc import Process

#: The nodes' network: the host's end of the veth is .1, worker n is .(10+n).
SUBNET_PREFIX = "10.213.77"
MANAGER_ADDRESS = f"{SUBNET_PREFIX}.1"
REPOSITORY = "scad-swarm-test"
NODE_LABEL = "scad.test.node"


class ClusterError(RuntimeError):
    """The test swarm could not be formed (or the engine is already in a swarm)."""


@dataclass
class Worker:
    """One worker node: a dockerd in namespaces of its own."""

    name: str  # also its hostname and its `scad.test.node` label
    address: str
    root: Path
    namespace: str
    process: Process | None = None
    init_pid: int = 0  # the host pid of the PID namespace's init (tini)
    dockerd_pid: int = 0  # the host pid of its dockerd
    node_id: str = ""

    @property
    def socket(self) -> str:
        return f"unix://{self.root}/docker.sock"

    def kill(self) -> None:
        """SIGKILL the node's dockerd: its namespace's init follows it, and the kernel
        kills what it ran (containerd, shims, the tasks' processes)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.dockerd_pid, signal.SIGKILL)


@dataclass
class Swarm:
    manager_id: str
    registry: str  # host:port, the same on every node
    image: str  # repository@digest, pushed to the registry
    workers: list[Worker]
    timings: dict[str, float] = field(default_factory=dict)

    def worker(self, name: str) -> Worker:
        return next(w for w in self.workers if w.name == name)


async def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    result = await anyio.run_process(list(argv), check=False)
    if check and result.returncode != 0:
        raise ClusterError(f"{' '.join(argv)}: {result.stderr.decode(errors='replace')}")
    return result


def child_pids(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(p) for p in text.split()]


async def poll(check: Any, *, timeout: float, what: str, interval: float = 0.2) -> Any:
    """The first truthy result of ``check()``, polled; ClusterError after ``timeout``."""
    with anyio.move_on_after(timeout):
        while True:
            result = await check()
            if result:
                return result
            await anyio.sleep(interval)
    raise ClusterError(f"timed out after {timeout:.0f} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def registry_config(storage: Path, address: str) -> str:
    return (
        "version: 0.1\n"
        "log: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {storage}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: '{address}'}}\n"
    )


class _Cluster:
    """The steps of forming the swarm, each registering its own undoing."""

    def __init__(self, stack: contextlib.AsyncExitStack, root: Path, tag: str) -> None:
        self.stack = stack
        self.root = root
        self.tag = tag  # short and unique: names of namespaces and links
        self.lan = f"scsw{tag}lan"
        self.host_link = f"scsw{tag}"

    async def lan_up(self) -> None:
        self.stack.push_async_callback(run, "ip", "netns", "delete", self.lan, check=False)
        await run("ip", "netns", "add", self.lan)
        await run("ip", "-n", self.lan, "link", "add", "br0", "type", "bridge")
        await run("ip", "-n", self.lan, "link", "set", "dev", "br0", "up")
        # The host's end stays on the host; deleting the namespace deletes the pair.
        await run("ip", "link", "add", self.host_link, "type", "veth",
                  "peer", "name", "up", "netns", self.lan)  # fmt: skip
        await run("ip", "-n", self.lan, "link", "set", "dev", "up", "master", "br0", "up")
        await run("ip", "addr", "add", f"{MANAGER_ADDRESS}/24", "dev", self.host_link)
        await run("ip", "link", "set", "dev", self.host_link, "up")

    async def registry_up(self, port: int) -> None:
        storage = self.root / "registry"
        storage.mkdir()
        for name, address in (("host", "127.0.0.1"), ("lan", MANAGER_ADDRESS)):
            config = self.root / f"registry-{name}.yml"
            config.write_text(registry_config(storage, f"{address}:{port}"))
            log = (self.root / f"registry-{name}.log").open("ab")
            self.stack.callback(log.close)
            process = await anyio.open_process(
                ["docker-registry", "serve", str(config)], stdout=log, stderr=log
            )
            self.stack.push_async_callback(stop_process, process)

            async def answers(address: str = address) -> bool:
                with contextlib.suppress(OSError):
                    stream = await anyio.connect_tcp(address, port)
                    await stream.aclose()
                    return True
                return False

            await poll(answers, timeout=30, what=f"the registry on {address}:{port}")

    async def worker_up(self, n: int, port: int) -> Worker:
        name = f"w{n}"
        worker = Worker(
            name=name,
            address=f"{SUBNET_PREFIX}.{10 + n}",
            root=self.root / name,
            namespace=f"scsw{self.tag}{name}",
        )
        worker.root.mkdir()
        ns = worker.namespace
        self.stack.push_async_callback(run, "ip", "netns", "delete", ns, check=False)
        await run("ip", "netns", "add", ns)
        await run("ip", "-n", ns, "link", "set", "dev", "lo", "up")
        await run("ip", "-n", self.lan, "link", "add", name, "type", "veth",
                  "peer", "name", "eth0", "netns", ns)  # fmt: skip
        await run("ip", "-n", self.lan, "link", "set", "dev", name, "master", "br0", "up")
        await run("ip", "-n", ns, "addr", "add", f"{worker.address}/24", "dev", "eth0")
        await run("ip", "-n", ns, "link", "set", "dev", "eth0", "up")
        # The registry's name is 127.0.0.1:<port> everywhere: forward the worker's
        # loopback port to the registry on the bridge.
        in_ns = ("ip", "netns", "exec", ns)
        await run(*in_ns, "sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1")
        await run(*in_ns, "iptables", "-t", "nat", "-A", "OUTPUT", "-d", "127.0.0.1/32",
                  "-p", "tcp", "--dport", str(port),
                  "-j", "DNAT", "--to-destination", f"{MANAGER_ADDRESS}:{port}")  # fmt: skip
        await run(*in_ns, "iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "127.0.0.1/32",
                  "-j", "SNAT", "--to-source", worker.address)  # fmt: skip
        log = (worker.root / "dockerd.log").open("ab")
        self.stack.callback(log.close)
        dockerd = [
            "dockerd", "--host", worker.socket, "--data-root", f"{worker.root}/data",
            "--exec-root", f"{worker.root}/exec", "--pidfile", f"{worker.root}/docker.pid",
        ]  # fmt: skip
        # nsenter (not `ip netns exec`, which remounts /sys and so hides the cgroups);
        # tini as the PID namespace's init reaps what the shims leave.
        worker.process = await anyio.open_process(
            ["nsenter", f"--net=/run/netns/{ns}",
             "unshare", "--pid", "--fork", "--kill-child", "--mount", "--propagation", "private",
             "--mount-proc", "--uts", "--",
             "sh", "-c", 'hostname "$0" && exec tini -- "$@"', name, *dockerd],
            stdout=log, stderr=log,
        )  # fmt: skip
        self.stack.push_async_callback(stop_worker, worker)

        async def pids_known() -> bool:
            assert worker.process is not None
            inits = child_pids(worker.process.pid)
            daemons = child_pids(inits[0]) if inits else []
            try:  # the init's first child may still be `hostname`, or gone
                started = bool(daemons) and os.readlink(f"/proc/{daemons[0]}/exe").endswith(
                    "/dockerd"
                )
            except OSError:
                return False
            if started:
                worker.init_pid, worker.dockerd_pid = inits[0], daemons[0]
            return started

        await poll(pids_known, timeout=30, what=f"{name}'s dockerd to start")

        async def answers() -> bool:
            result = await run("docker", "-H", worker.socket, "version", check=False)
            return result.returncode == 0

        await poll(answers, timeout=60, what=f"{name}'s dockerd to answer")
        return worker


async def stop_process(process: Process) -> None:
    with anyio.CancelScope(shield=True):
        if process.returncode is None:
            process.terminate()
            with anyio.move_on_after(10):
                await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()


async def stop_worker(worker: Worker) -> None:
    """Kill the worker's PID namespace by its init's pid: the kernel kills the rest."""
    if worker.init_pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.init_pid, signal.SIGKILL)
    if worker.process is not None:
        # The init's parent sees it exit once the namespace is empty.
        await stop_process(worker.process)


async def leave_swarm(docker: aiodocker.Docker, networks_before: set[str]) -> None:
    with anyio.move_on_after(60, shield=True), contextlib.suppress(aiodocker.DockerError):
        await docker.swarm.leave(force=True)
    # Leaving keeps the bridge that joining made.
    if "docker_gwbridge" not in networks_before:
        await remove_network(docker, "docker_gwbridge")


async def network_names(docker: aiodocker.Docker) -> set[str]:
    return {network["Name"] for network in await docker.networks.list()}


async def remove_network(docker: aiodocker.Docker, name: str) -> None:
    with anyio.move_on_after(60, shield=True), contextlib.suppress(aiodocker.DockerError):
        network = await docker.networks.get(name)
        await network.delete()


async def set_availability(docker: aiodocker.Docker, node_id: str, availability: str) -> None:
    """Make the node ``active``, ``pause`` or ``drain``."""
    node = await docker.nodes.inspect(node_id=node_id)
    spec = dict(node["Spec"], Availability=availability)
    await docker.nodes.update(node_id=node_id, version=node["Version"]["Index"], spec=spec)


async def label_node(docker: aiodocker.Docker, node_id: str, labels: Mapping[str, str]) -> None:
    node = await docker.nodes.inspect(node_id=node_id)
    spec = dict(node["Spec"])
    spec["Labels"] = {**spec.get("Labels", {}), **labels}
    await docker.nodes.update(node_id=node_id, version=node["Version"]["Index"], spec=spec)


async def push(docker: aiodocker.Docker, source: str, target: str) -> str:
    """Push ``source`` as ``target`` (repository:tag); its repository@digest."""
    repository, tag = target.rsplit(":", 1)
    await docker.images.tag(source, repository, tag=tag)
    digest = ""
    async for progress in docker.images.push(repository, tag=tag, stream=True):
        if "error" in progress:
            raise ClusterError(f"push of {target}: {progress['error']}")
        digest = progress.get("aux", {}).get("Digest", digest)
    if not digest:
        raise ClusterError(f"push of {target} reported no digest")
    return f"{repository}@{digest}"


@contextlib.asynccontextmanager
async def swarm_cluster(image: str, workers: int = 2) -> AsyncIterator[Swarm]:
    """The host engine as manager plus ``workers`` nodes, labelled
    `scad.test.node=<name>` (the manager `manager`), and ``image`` pushed to the
    registry. Everything is undone on exit, also when the body fails."""
    root = Path(tempfile.mkdtemp(prefix="scsw-", dir="/tmp"))  # socket paths must be short
    tag = f"{os.getpid() % 10000}"
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(_remove_tree, root)
        docker = await stack.enter_async_context(aiodocker.Docker())
        state = (await docker.system.info())["Swarm"]["LocalNodeState"]
        if state != "inactive":
            raise ClusterError(f"the engine is already in a swarm ({state}): leaving it alone")
        networks_before = await network_names(docker)
        timings: dict[str, float] = {}
        began = time.monotonic()
        cluster = _Cluster(stack, root, tag)
        port = free_port()
        await cluster.lan_up()
        await cluster.registry_up(port)
        nodes: list[Worker] = []
        async with anyio.create_task_group() as group:

            async def start(n: int) -> None:
                nodes.append(await cluster.worker_up(n, port))

            for n in range(1, workers + 1):
                group.start_soon(start, n)
        nodes.sort(key=lambda w: w.name)
        timings["workers_started"] = time.monotonic() - began

        began = time.monotonic()
        stack.push_async_callback(leave_swarm, docker, networks_before)
        manager_id = await docker.swarm.init(
            advertise_addr=MANAGER_ADDRESS, listen_addr=f"{MANAGER_ADDRESS}:2377"
        )
        token = (await docker.swarm.inspect())["JoinTokens"]["Worker"]
        for worker in nodes:
            async with aiodocker.Docker(url=worker.socket) as node:
                await node.swarm.join(
                    remote_addrs=[f"{MANAGER_ADDRESS}:2377"],
                    join_token=token,
                    advertise_addr=worker.address,
                    listen_addr=f"{worker.address}:2377",
                )
                worker.node_id = (await node.system.info())["Swarm"]["NodeID"]

        async def all_ready() -> bool:
            listed = await docker.nodes.list()
            return len(listed) == workers + 1 and all(
                n["Status"]["State"] == "ready" for n in listed
            )

        await poll(all_ready, timeout=60, what="every node to be ready")
        timings["swarm_formed"] = time.monotonic() - began
        await label_node(docker, manager_id, {NODE_LABEL: "manager"})
        for worker in nodes:
            await label_node(docker, worker.node_id, {NODE_LABEL: worker.name})

        began = time.monotonic()
        target = f"127.0.0.1:{port}/{REPOSITORY}:{tag}"
        # What was pushed to the registry (by this fixture and by scad) is tagged
        # under its address on the host engine too: every such tag goes at the end.
        stack.push_async_callback(_untag_registry, docker, f"127.0.0.1:{port}/")
        pushed = await push(docker, image, target)
        timings["image_pushed"] = time.monotonic() - began
        yield Swarm(manager_id, f"127.0.0.1:{port}", pushed, nodes, timings)


async def _untag_registry(docker: aiodocker.Docker, prefix: str) -> None:
    with anyio.move_on_after(60, shield=True), contextlib.suppress(aiodocker.DockerError):
        for image in await docker.images.list():
            for name in image.get("RepoTags") or []:
                if name.startswith(prefix):
                    with contextlib.suppress(aiodocker.DockerError):
                        await docker.images.delete(name)


def _remove_tree(root: Path) -> None:
    subprocess.run(["rm", "-rf", "--one-file-system", str(root)], check=False)


async def _hold(image: str) -> None:
    async with swarm_cluster(image) as swarm:
        print(f"swarm formed: {swarm.timings}")
        print(f"image: {swarm.image}")
        for worker in swarm.workers:
            print(f"{worker.name}: DOCKER_HOST={worker.socket} dockerd pid {worker.dockerd_pid}")
        print("holding until interrupted")
        await anyio.sleep_forever()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(_hold, os.environ.get("SCAD_TEST_BASE_IMAGE", "python:3.11-slim"))
