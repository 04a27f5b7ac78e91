"""`scad batch` on a Docker Swarm against the raw swarm, and what its transport costs.

Run (as root, holding the engine lock; it forms a swarm of the host engine):
    flock -o /tmp/scad-engine.lock .venv/bin/python benchmarks/cluster.py [--runs 24] [--rounds 2]
(-o: the gateway it starts must not inherit the lock.)

The swarm is the test suite's (tests/integration/cluster.py): the host engine as
manager, three workers (dockerds in network namespaces), a registry every node names
127.0.0.1:PORT. Runs go to the workers only; the image is warm on every worker before
anything is timed. Everything runs against the offline model.

1. Dispatch: N headless runs of an instant prompt (`SAY: hi`) with
   `scad batch --on swarm --parallel N --foreground`, seconds from the command until
   all results, against N replicated-job services made at once with
   `docker service create --mode replicated-job --restart-condition none` of the same
   image (by the digest scad pushed), user, capabilities, placement and Claude
   command, awaited by polling `docker service ps`. The raw services omit what a
   scad run is for: the gateway between Claude and the model (the raw ones talk to
   the offline model directly), the transport (no Claude state fetched and stored,
   no clone of the repo through the gateway, no push of the branch back), the
   per-run secret, and the log follow that writes each line into the run's event
   log. The ratio is what all that costs a batch. Goal: at most 1.5x. Also: how
   scad's runs spread over the nodes (runs per node, from the run logs).
2. Transport: one swarm run on a repo of 1,000 commits over 300 files, that clones
   it through the gateway and pushes one commit back, against the same run on a
   repo of one commit: the difference is what the repo's history costs through the
   gateway, in seconds and in bytes over the nodes' only link to the host (both
   ways; the rest of a run's traffic is in both and cancels). The baseline is git's
   own work for the same clone and push on the host: `git clone --no-local` (git's
   pack transport through a pipe, not hard links: the same pack made and indexed as
   over HTTP, with no gateway, HTTP or network), and a push of one commit into a
   store that borrows the repo's objects, as a run's pushed store does. Goal: the
   gateway's clone at most 3x git's own.

Needs root, the Docker engine (not in a swarm), the tools setup.sh installs, the
base image and the test project's image (built when missing). The engine is left as
found: the swarm is left, the registry and workers are gone, the tags made here are
removed, the gateway this home started is stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import anyio
from _bench import arguments
from anyio.from_thread import start_blocking_portal
from batch import SCAD, make_project

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.integration

from scad.config.schema import DEFAULT_PIDS_LIMIT
from scad.engine.labels import home_label
from scad.gateway import stop_gateway
from scad.home import Home
from scad.layout import agent_ids
from scad.names import image_repository
from tests.integration.cluster import MANAGER_ADDRESS, Swarm, swarm_cluster
from tests.integration.sessions_support import remove_images

BASE_IMAGE = os.environ.get("SCAD_TEST_BASE_IMAGE", "python:3.11-slim")
TOOLS = ("dockerd", "ip", "nsenter", "unshare", "tini", "iptables", "docker-registry")
CLAUDE_ARGS = "-p --output-format stream-json --verbose --dangerously-skip-permissions"
COMMIT_PROMPT = (
    "RUN: echo bench > bench.txt && git add bench.txt && git commit -qm bench\nSAY: done\n"
)
#: Between two looks at the raw services' tasks.
POLL_SECONDS = 0.25


# --- the swarm and the project on it ---


def on_swarm(env: dict[str, str], registry: str) -> None:
    """The project's config, its runs on the swarm's workers through the gateway."""
    config = Path(env["SCAD_HOME"]) / "configs" / "scadtest.yml"
    config.write_text(
        config.read_text()
        + f"gateway_address: '{MANAGER_ADDRESS}'\n"
        + f"swarm: {{registry: '{registry}',\n"
        + "        placement: ['node.role==worker']}\n"
    )


def use_repo(env: dict[str, str], repo: Path) -> None:
    """Point the project's one repo at ``repo``."""
    config = Path(env["SCAD_HOME"]) / "configs" / "scadtest.yml"
    lines = config.read_text().splitlines(keepends=True)
    config.write_text(
        "".join(
            f"  code: {{path: {repo}, workdir: true}}\n" if line.startswith("  code:") else line
            for line in lines
        )
    )


def scad(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCAD, *args], env=env, capture_output=True, text=True)


def swarm_run(env: dict[str, str], tag: str, prompt: str) -> tuple[float, dict[str, object]]:
    """One headless run on the swarm, waited for: (seconds, its outcome)."""
    started = time.perf_counter()
    done = scad(env, "session", "start", "scadtest", "--tag", tag, "--headless", "--wait",
                "--on", "swarm", "--prompt", prompt, "--json")  # fmt: skip
    seconds = time.perf_counter() - started
    outcome = json.loads(done.stdout) if done.stdout.strip() else {}
    if done.returncode != 0 or outcome.get("outcome") != "succeeded":
        raise SystemExit(f"a swarm run did not succeed: {outcome or done.stderr}")
    return seconds, outcome


def pushed_digest(env: dict[str, str], registry: str) -> str:
    """The digest scad pushed its image under, as the registry names it."""
    runs = sorted((Path(env["SCAD_HOME"]) / "runs").iterdir())
    image = json.loads((runs[0] / "run.json").read_text())["image"]
    found = subprocess.run(
        ["docker", "image", "inspect", "--format",
         "{{range .RepoDigests}}{{println .}}{{end}}", image],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    return next(d for d in found if d.startswith(f"{registry}/"))


def warm_workers(image: str) -> None:
    """Every worker pulls ``image`` (a global job that runs `true` on each)."""
    name = "bench-warm"
    subprocess.run(
        ["docker", "service", "create", "--detach", "--quiet", "--name", name,
         "--mode", "global-job", "--restart-condition", "none",
         "--constraint", "node.role==worker", image, "true"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await_tasks([name], expected=3, timeout=600)
    finally:
        subprocess.run(["docker", "service", "rm", name], stdout=subprocess.DEVNULL)


def await_tasks(services: list[str], *, expected: int, timeout: float) -> None:
    """Poll `docker service ps` until ``expected`` tasks of ``services`` are complete;
    SystemExit when one fails or time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = subprocess.run(
            ["docker", "service", "ps", "--format", "{{.CurrentState}}|{{.Error}}", *services],
            check=True, capture_output=True, text=True,
        ).stdout.splitlines()  # fmt: skip
        failed = [s for s in states if s.startswith(("Failed", "Rejected"))]
        if failed:
            raise SystemExit(f"a raw service failed: {failed[0]}")
        if sum(s.startswith("Complete") for s in states) >= expected:
            return
        time.sleep(POLL_SECONDS)
    raise SystemExit(f"the raw services did not complete in {timeout:.0f} s")


# --- 1. dispatch ---


def scad_batch(env: dict[str, str], n: int, tag: str) -> tuple[float, Counter[str]]:
    """A foreground batch of N `SAY: hi` on the swarm: (seconds to all results, runs per node)."""
    args = [SCAD, "batch", "scadtest", "--tag", tag, "--parallel", str(n), "--on", "swarm",
            "--foreground", "--json"]  # fmt: skip
    args += [arg for _ in range(n) for arg in ("-p", "SAY: hi")]
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the swarm batch did not succeed:\n{done.stdout[-3000:]}{done.stderr}")
    view = json.loads(done.stdout)
    return seconds, runs_per_node(env, [row["run_id"] for row in view["rows"]])


def runs_per_node(env: dict[str, str], run_ids: list[str]) -> Counter[str]:
    """Where each run's last attempt started, from its event log."""
    nodes: Counter[str] = Counter()
    for run_id in run_ids:
        log = Path(env["SCAD_HOME"]) / "runs" / run_id / "events.jsonl"
        started = [e for e in map(json.loads, log.read_text().splitlines())
                   if e.get("event") == "started"]  # fmt: skip
        nodes[started[-1].get("node", "?")] += 1
    return nodes


def raw_services(image: str, n: int, tag: str, model_url: str) -> float:
    """N replicated-job services made at once, polled to completion: seconds."""
    uid, gid = agent_ids(os.getuid(), os.getgid())
    names = [f"bench-raw-{tag}-{i:02d}" for i in range(n)]
    common = [
        "docker", "service", "create", "--detach", "--quiet",
        "--mode", "replicated-job", "--restart-condition", "none",
        "--constraint", "node.role==worker", "--user", f"{uid}:{gid}", "--cap-drop", "ALL",
        "--limit-pids", str(DEFAULT_PIDS_LIMIT),
        "--env", f"ANTHROPIC_BASE_URL={model_url}", "--env", "ANTHROPIC_AUTH_TOKEN=sk-ant-bench",
        "--env", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
    ]  # fmt: skip
    command = ["sh", "-c", f"echo 'SAY: hi' | exec claude {CLAUDE_ARGS}"]
    started = time.perf_counter()
    try:
        made = [subprocess.Popen([*common, "--name", name, image, *command],
                                 stdout=subprocess.DEVNULL) for name in names]  # fmt: skip
        if [process.wait() for process in made] != [0] * n:
            raise SystemExit("docker service create failed")
        await_tasks(names, expected=n, timeout=300)
        seconds = time.perf_counter() - started
        answered(names[0])
        return seconds
    finally:
        subprocess.run(["docker", "service", "rm", *names], capture_output=True)


def answered(service: str) -> None:
    """SystemExit unless ``service``'s Claude reached the model and got its result."""
    log = subprocess.run(["docker", "service", "logs", "--raw", service],
                         capture_output=True, text=True).stdout  # fmt: skip
    if '"type":"result"' not in log.replace(" ", ""):
        raise SystemExit(f"a raw service's Claude got no result:\n{log[-2000:]}")


# --- 2. transport ---


def make_history(root: Path, project_repo: Path, commits: int, files: int) -> Path:
    """The project's repo and ``commits`` small commits over ``files`` files after it
    (fast-import: the repo is made in about a second)."""
    repo = root / "history"
    subprocess.run(["git", "clone", "-q", str(project_repo), str(repo)], check=True)
    lines: list[str] = []
    contents: dict[int, str] = {}
    for n in range(commits):
        index = n % files
        contents[index] = contents.get(index, "") + f"change {n} of file {index}\n"
        message = f"change {n}"
        data = contents[index].encode()
        lines += [
            "commit refs/heads/main",
            f"committer bench <bench@example.invalid> {1_700_000_000 + n} +0000",
            f"data {len(message)}",
            message,
            *(["from refs/heads/main^0"] if n == 0 else []),
            f"M 644 inline src/f{index:03d}.txt",
            f"data {len(data)}",
        ]
        lines.append(data.decode().removesuffix("\n"))
    stream = "\n".join(lines) + "\n"
    subprocess.run(["git", "-C", str(repo), "fast-import", "--quiet"], input=stream.encode(),
                   check=True)  # fmt: skip
    subprocess.run(["git", "-C", str(repo), "reset", "-q", "--hard", "main"], check=True)
    return repo


def link_bytes() -> tuple[int, int]:
    """Bytes (to the nodes, from the nodes) over the host's one link to them."""
    link = subprocess.run(
        ["ip", "-o", "-4", "addr", "show", "to", f"{MANAGER_ADDRESS}/32"],
        check=True, capture_output=True, text=True,
    ).stdout.split()[1]  # fmt: skip
    stats = Path("/sys/class/net") / link / "statistics"
    return int((stats / "tx_bytes").read_text()), int((stats / "rx_bytes").read_text())


def store_bytes(store: Path) -> int:
    """Bytes of the objects a store holds itself (not those it borrows)."""
    objects = store / "objects"
    return sum(
        p.stat().st_size for p in objects.rglob("*") if p.is_file() and "info" not in p.parts
    )


def transport_run(env: dict[str, str], repo: Path, tag: str) -> tuple[float, int, int, int]:
    """A swarm run on ``repo`` that commits and pushes back: (seconds, bytes to the
    nodes, bytes back, bytes in its pushed store)."""
    use_repo(env, repo)
    out, back = link_bytes()
    seconds, outcome = swarm_run(env, tag, COMMIT_PROMPT)
    out_after, back_after = link_bytes()
    store = Path(env["SCAD_HOME"]) / "runs" / str(outcome["run_id"]) / "pushed" / "code.git"
    return seconds, out_after - out, back_after - back, store_bytes(store)


def host_clone_and_push(root: Path, repo: Path, tag: str) -> tuple[float, int, float, int]:
    """git's own clone (``--no-local``) and push of one commit on the host:
    (clone seconds, its pack's bytes, push seconds, bytes the push stored)."""
    clone, store = root / f"clone-{tag}", root / f"store-{tag}"
    started = time.perf_counter()
    subprocess.run(["git", "clone", "-q", "--no-local", str(repo), str(clone)], check=True)
    cloned = time.perf_counter() - started
    pack = sum(p.stat().st_size for p in (clone / ".git" / "objects" / "pack").glob("*.pack"))
    git = ["git", "-C", str(clone), "-c", "user.name=b", "-c", "user.email=b@b"]
    (clone / "bench.txt").write_text("bench\n")
    subprocess.run([*git, "add", "bench.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "bench"], check=True)
    subprocess.run(["git", "init", "-q", "--bare", str(store)], check=True)
    (store / "objects" / "info" / "alternates").write_text(f"{repo}/.git/objects\n")
    started = time.perf_counter()
    subprocess.run([*git, "push", "-q", f"file://{store}", "HEAD:refs/heads/bench"], check=True)
    pushed = time.perf_counter() - started
    stored = store_bytes(store)
    shutil.rmtree(clone)
    shutil.rmtree(store)
    return cloned, pack, pushed, stored


# --- the tables ---


def print_dispatch(n: int, rounds: int, ours: list[float], raw: list[float],
                   spread: Counter[str], nodes: list[str]) -> None:  # fmt: skip
    scad_s, raw_s = statistics.median(ours), statistics.median(raw)
    print(f"{n} runs of `SAY: hi` on 3 workers, --parallel {n} (medians of {rounds})")
    print(f"{'':24} {'scad batch s':>12} {'raw services s':>14} {'ratio':>6} {'goal':>6}")
    print(f"{'all results':24} {scad_s:>12.2f} {raw_s:>14.2f} {scad_s / raw_s:>6.2f} {'1.50':>6}")
    shown = ", ".join(f"{node} {spread[node]}" for node in nodes)
    print(f"scad's runs per node, all rounds: {shown}")
    print(
        f"per round, scad / raw s: {', '.join(f'{o:.1f}/{r:.1f}' for o, r in zip(ours, raw, strict=True))}"
    )


def print_transport(rounds: int, big: list[tuple[float, int, int, int]],
                    small: list[tuple[float, int, int, int]],
                    host: list[tuple[float, int, float, int]]) -> None:  # fmt: skip
    def med(rows: Sequence[tuple[float, ...]], i: int) -> float:
        return statistics.median(row[i] for row in rows)

    print(f"\nthe transport: a repo of 1,000 commits over 300 files (medians of {rounds})")
    print(f"{'':36} {'seconds':>8} {'KB to node':>11} {'KB back':>8} {'KB stored':>10}")
    rows = [("swarm run, 1,000-commit repo", big), ("swarm run, 1-commit repo", small)]
    for name, found in rows:
        print(f"{name:36} {med(found, 0):>8.2f} {med(found, 1) / 1024:>11.1f} "
              f"{med(found, 2) / 1024:>8.1f} {med(found, 3) / 1024:>10.1f}")  # fmt: skip
    cost = [b[0] - s[0] for b, s in zip(big, small, strict=True)]
    out = [b[1] - s[1] for b, s in zip(big, small, strict=True)]
    back = [b[2] - s[2] for b, s in zip(big, small, strict=True)]
    print(f"{'the history through the gateway':36} {statistics.median(cost):>8.2f} "
          f"{statistics.median(out) / 1024:>11.1f} {statistics.median(back) / 1024:>8.1f}")  # fmt: skip
    print(
        f"{'git clone --no-local on the host':36} {med(host, 0):>8.2f} {med(host, 1) / 1024:>11.1f}"
    )
    print(f"{'git push of one commit on the host':36} {med(host, 2):>8.2f} "
          f"{'':>11} {'':>8} {med(host, 3) / 1024:>10.1f}")  # fmt: skip
    ratio = statistics.median(cost) / med(host, 0)
    print(f"history through the gateway / git's own clone: {ratio:.2f}x (goal 3.00)")


# --- the run ---


@contextlib.contextmanager
def offline_model(*, host: str = "127.0.0.1") -> Iterator[str]:
    """`scad offline serve` on ``host``: its URL."""
    model = subprocess.Popen([SCAD, "offline", "serve", "--host", host, "--port", "0"],
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert model.stdout is not None
        yield model.stdout.readline().removeprefix("offline model listening on ").strip()
    finally:
        model.terminate()
        model.wait()


def leave_home(env: dict[str, str], registry: str) -> None:
    """Stop the home's gateway and remove the tags its image got here (the image's
    content stays for the other homes that tag it)."""
    home = Home(Path(env["SCAD_HOME"]))
    anyio.run(stop_gateway, home)
    repository = image_repository("scadtest", home_label(home))
    remove_images(repository)
    if registry:
        remove_images(f"{registry}/{repository}")


def measure(options: argparse.Namespace, env: dict[str, str], root: Path, swarm: Swarm) -> None:
    n, rounds = options.runs, options.rounds
    on_swarm(env, swarm.registry)
    print("warming: a first swarm run pushes the image, every worker pulls it", file=sys.stderr)
    swarm_run(env, "warm", "SAY: hi")
    image = pushed_digest(env, swarm.registry)
    warm_workers(image)
    ours: list[float] = []
    raw: list[float] = []
    spread: Counter[str] = Counter()
    with offline_model(host=MANAGER_ADDRESS) as direct_url:
        for round_ in range(rounds):
            print(f"dispatch round {round_ + 1}/{rounds}", file=sys.stderr)
            seconds, nodes = scad_batch(env, n, f"d{round_}")
            ours.append(seconds)
            spread += nodes
            raw.append(raw_services(image, n, f"r{round_}", direct_url))
    project_repo = root / "repo"  # make_project's
    history = make_history(root, project_repo, commits=1000, files=300)
    big: list[tuple[float, int, int, int]] = []
    small: list[tuple[float, int, int, int]] = []
    host: list[tuple[float, int, float, int]] = []
    for round_ in range(rounds):
        print(f"transport round {round_ + 1}/{rounds}", file=sys.stderr)
        big.append(transport_run(env, history, f"big{round_}"))
        small.append(transport_run(env, project_repo, f"small{round_}"))
        host.append(host_clone_and_push(root, history, f"h{round_}"))
    use_repo(env, project_repo)
    print_dispatch(n, rounds, ours, raw, spread, [w.name for w in swarm.workers])
    print_transport(rounds, big, small, host)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=24, help="runs dispatched at once")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of each")
    options = arguments(parser, runs=3, rounds=1)
    if options.runs < 1 or options.rounds < 1:
        parser.error("--runs and --rounds take 1 or more")
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing or os.geteuid() != 0:
        raise SystemExit(f"forming the swarm needs root and {', '.join(TOOLS)} (./setup.sh)")
    root = Path(tempfile.mkdtemp(prefix="scad-bench-cluster-"))
    env: dict[str, str] | None = None
    registry = ""
    try:
        with offline_model() as url:
            env = make_project(root, url)
            with (
                start_blocking_portal("asyncio") as portal,
                portal.wrap_async_context_manager(swarm_cluster(BASE_IMAGE, workers=3)) as swarm,
            ):
                registry = swarm.registry
                try:
                    measure(options, env, root, swarm)
                finally:
                    leave_home(env, registry)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
