"""The hostile-clone matrix: every way a clone can make git run or read something.

Each case plants one mechanism in a run's clone as an agent could (its config,
an included file, attributes, hooks, a signed commit, a replaced ``.git``,
alternates, links, FIFOs). A mechanism that git consults runs a script that
leaves a marker on the host, or blocks on a FIFO outside the run. Then every
scad call that touches clones runs over it: no marker may appear, nothing may
hang, and work that can be read is still reported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from scad.checks import check_run
from scad.code.clones import create_clone
from scad.code.fetch import RepoFetch, fetch_run
from scad.code.sync import RepoSync, sync_run
from scad.config.loading import parse_config
from scad.errors import UnfetchedWork
from scad.gc import plan_gc
from scad.home import Home
from scad.reports.project import ProjectRow, project_status
from scad.runs.records import RunPaths, RunRecord, save_run
from scad.sessions import SessionInfo, clean_session, session_info, session_status
from tests.fakes import FakeEngine
from tests.unit.planted_nodes import NODES, Opens, PlantNode

pytestmark = pytest.mark.anyio

AGENT = (1000, 1000) if os.getuid() == 0 else None
BRANCH = "scad-r"


class Trap:
    """Where a planted mechanism reports that it ran, and the paths it may use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.markers = root / "markers"
        self.markers.mkdir(parents=True)
        self.fifo = root / "fifo"
        os.mkfifo(self.fifo)

    def command(self, name: str) -> str:
        """A program that leaves marker ``name``: a file of its own, as some keys run
        their value as a program and others through the shell."""
        script = self.root / f"evil-{name}"
        script.write_text(f'#!/bin/sh\ntouch "{self.markers}/{name}"\ncat >/dev/null\n')
        script.chmod(0o755)
        return str(script)

    def fired(self) -> list[str]:
        return sorted(p.name for p in self.markers.iterdir())


def agent_git(clone: Path, *args: str, input: str | None = None) -> str:
    return subprocess.run(
        ["git", "-c", "safe.directory=*", "-c", "core.hooksPath=/dev/null",
         "-c", "user.name=a", "-c", "user.email=a@a", "-C", str(clone), *args],
        check=True, capture_output=True, text=True, input=input,
    ).stdout  # fmt: skip


def add_config(clone: Path, text: str) -> None:
    """Append to the clone's config as a file write: no git runs while planting."""
    with open(clone / ".git" / "config", "a") as f:
        f.write(text)


CONFIG_KEYS = {
    "fsmonitor": "[core]\n\tfsmonitor = {cmd}\n",
    "pager": "[core]\n\tpager = {cmd}\n[pager]\n\tlog = true\n\tstatus = true\n",
    "diff-external": "[diff]\n\texternal = {cmd}\n",
    "alternate-refs": "[core]\n\talternateRefsCommand = {cmd}\n",
    "askpass": "[core]\n\taskPass = {cmd}\n",
    "credential": "[credential]\n\thelper = !{cmd}\n",
    "ssh-command": "[core]\n\tsshCommand = {cmd}\n",
    "editor": "[core]\n\teditor = {cmd}\n[sequence]\n\teditor = {cmd}\n",
    "pack-objects-hook": "[uploadpack]\n\tpackObjectsHook = {cmd}\n",
    "gpg-ssh": '[gpg]\n\tformat = ssh\n[gpg "ssh"]\n\tprogram = {cmd}\n[log]\n\tshowSignature = true\n',
}


def plant_config_key(name: str) -> Callable[[Path, Trap], None]:
    def plant(clone: Path, trap: Trap) -> None:
        add_config(clone, CONFIG_KEYS[name].format(cmd=trap.command(name)))

    return plant


def plant_include(clone: Path, trap: Trap) -> None:
    included = clone / ".git" / "more.cfg"
    included.write_text(f"[core]\n\tfsmonitor = {trap.command('include')}\n")
    add_config(
        clone, f'[include]\n\tpath = {included}\n[includeIf "gitdir:/"]\n\tpath = {included}\n'
    )


def plant_attributes(clone: Path, trap: Trap) -> None:
    attributes = "* filter=evil diff=evil merge=evil\n"
    (clone / ".gitattributes").write_text(attributes)
    (clone / ".git" / "info").mkdir(exist_ok=True)
    (clone / ".git" / "info" / "attributes").write_text(attributes)
    add_config(
        clone,
        f'[filter "evil"]\n\tclean = {trap.command("clean")}\n\tsmudge = {trap.command("smudge")}\n'
        f"\tprocess = {trap.command('process')}\n\trequired = true\n"
        f'[diff "evil"]\n\ttextconv = {trap.command("textconv")}\n\tcommand = {trap.command("diff")}\n'
        f'[merge "evil"]\n\tdriver = {trap.command("merge")}\n',
    )
    (clone / "README.md").write_text("changed, so a status or diff would filter it\n")


def plant_hooks(clone: Path, trap: Trap) -> None:
    names = ["post-checkout", "reference-transaction", "pre-auto-gc", "post-index-change",
             "fsmonitor-watchman", "post-merge", "pre-push", "post-rewrite", "push-to-checkout"]  # fmt: skip
    for folder in (clone / ".git" / "hooks", clone / ".git" / "evil-hooks"):
        folder.mkdir(exist_ok=True)
        for name in names:
            hook = folder / name
            hook.write_text(f"#!/bin/sh\n{trap.command('hook-' + name)}\n")
            hook.chmod(0o755)
    add_config(clone, f"[core]\n\thooksPath = {clone / '.git' / 'evil-hooks'}\n")


def plant_signed_commit(clone: Path, trap: Trap) -> None:
    """A commit with a gpgsig header, shown with signatures: git would call gpg.program."""
    tree = agent_git(clone, "rev-parse", "HEAD^{tree}").strip()
    parent = agent_git(clone, "rev-parse", "HEAD").strip()
    body = (
        f"tree {tree}\nparent {parent}\n"
        "author a <a@a> 1700000000 +0000\ncommitter a <a@a> 1700000000 +0000\n"
        "gpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEE\n -----END PGP SIGNATURE-----\n"
        "\nsigned work\n"
    )
    signed = agent_git(clone, "hash-object", "-t", "commit", "-w", "--stdin", input=body).strip()
    agent_git(clone, "update-ref", f"refs/heads/{BRANCH}", signed)
    add_config(clone, f"[log]\n\tshowSignature = true\n[gpg]\n\tprogram = {trap.command('gpg')}\n")


def evil_repo(trap: Trap) -> Path:
    """A repository outside the run whose own config would run the trap."""
    outside = trap.root / "outside-repo"
    subprocess.run(["git", "init", "-q", str(outside)], check=True)
    (outside / ".git" / "config").write_text(
        f"[core]\n\trepositoryformatversion = 0\n\tfsmonitor = {trap.command('outside-config')}\n"
    )
    return outside


def plant_gitdir_file(clone: Path, trap: Trap) -> None:
    outside = evil_repo(trap)
    shutil.rmtree(clone / ".git")
    (clone / ".git").write_text(f"gitdir: {outside / '.git'}\n")


def plant_git_link(clone: Path, trap: Trap) -> None:
    outside = evil_repo(trap)
    shutil.rmtree(clone / ".git")
    (clone / ".git").symlink_to(outside / ".git")


def plant_alternates(clone: Path, trap: Trap) -> None:
    """Objects borrowed from outside the run; reading their own alternates blocks."""
    objects = trap.root / "outside-objects"
    (objects / "info").mkdir(parents=True)
    os.mkfifo(objects / "info" / "alternates")
    (clone / ".git" / "objects" / "info" / "alternates").write_text(f"{objects}\n")


def plant_links(clone: Path, trap: Trap) -> None:
    """Links where git keeps refs and objects, all to a FIFO outside the run."""
    git = clone / ".git"
    (git / "objects" / "pack" / ("pack-" + "a" * 40 + ".pack")).symlink_to(trap.fifo)
    (git / "objects" / "ab").mkdir(exist_ok=True)
    (git / "objects" / "ab" / ("c" * 38)).symlink_to(trap.fifo)
    (git / "refs" / "heads" / "linked").symlink_to(trap.fifo)


def plant_fifo_head(clone: Path, trap: Trap) -> None:
    (clone / ".git" / "HEAD").unlink()
    os.mkfifo(clone / ".git" / "HEAD")


def plant_fifo_packed_refs(clone: Path, trap: Trap) -> None:
    (clone / ".git" / "packed-refs").unlink(missing_ok=True)
    os.mkfifo(clone / ".git" / "packed-refs")


def plant_bad_ref_name(clone: Path, trap: Trap) -> None:
    sha = agent_git(clone, "rev-parse", "HEAD").strip()
    with open(clone / ".git" / "packed-refs", "a") as f:
        f.write(f"{sha} refs/heads/../../../../etc/passwd\n")


def plant_forged_object(clone: Path, trap: Trap) -> None:
    """A loose object named as the host's commit whose content names the agent's work
    as its parent: trusted, the host would seem to reach the work already."""
    host_tip = agent_git(clone, "rev-parse", "origin/main").strip()
    work = agent_git(clone, "rev-parse", "HEAD").strip()
    tree = agent_git(clone, "rev-parse", "HEAD^{tree}").strip()
    body = f"tree {tree}\nparent {work}\nauthor a <a@a> 1 +0000\ncommitter a <a@a> 1 +0000\n\nx\n"
    path = clone / ".git" / "objects" / host_tip[:2] / host_tip[2:]
    path.unlink(missing_ok=True)
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(zlib.compress(f"commit {len(body)}\0{body}".encode()))


def plant_branch_named_head(clone: Path, trap: Trap) -> None:
    """A branch called HEAD holding the work, and a detached HEAD at the host's commit."""
    work = agent_git(clone, "rev-parse", "HEAD").strip()
    (clone / ".git" / "refs" / "heads" / "HEAD").write_text(f"{work}\n")
    host_tip = agent_git(clone, "rev-parse", "origin/main").strip()
    (clone / ".git" / "HEAD").write_text(f"{host_tip}\n")


def plant_twice_packed(clone: Path, trap: Trap) -> None:
    """packed-refs naming the work's branch twice: git reads the first, a dict the last."""
    work = agent_git(clone, "rev-parse", "HEAD").strip()
    host_tip = agent_git(clone, "rev-parse", "origin/main").strip()
    (clone / ".git" / "refs" / "heads" / BRANCH).unlink()
    (clone / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (clone / ".git" / "packed-refs").write_text(
        f"{work} refs/heads/w\n{host_tip} refs/heads/w\n{host_tip} refs/heads/main\n"
    )


def plant_symref_to_a_tag(clone: Path, trap: Trap) -> None:
    work = agent_git(clone, "rev-parse", "HEAD").strip()
    agent_git(clone, "tag", "wip", work)
    (clone / ".git" / "refs" / "heads" / "feature").write_text("ref: refs/tags/wip\n")
    agent_git(clone, "checkout", "-q", "--detach", "origin/main")
    agent_git(clone, "branch", "-f", BRANCH, "origin/main")


def plant_names_not_utf8(clone: Path, trap: Trap) -> None:
    work = agent_git(clone, "rev-parse", "HEAD").strip()
    heads = bytes(clone / ".git" / "refs" / "heads")
    with open(os.path.join(heads, b"w\xff"), "w") as f:
        f.write(f"{work}\n")


def plant_escapes_in_a_name(clone: Path, trap: Trap) -> None:
    """A FIFO whose name clears the screen and retitles the terminal when printed raw."""
    os.mkfifo(clone / ".git" / "refs" / "heads" / "\x1b[2J\x1b]0;owned\x07x")


#: Mechanisms whose clone stays readable: scad must still see the agent's work.
READABLE = {
    **{f"config-{name}": plant_config_key(name) for name in CONFIG_KEYS},
    "include-path": plant_include,
    "attributes": plant_attributes,
    "hooks": plant_hooks,
    "signed-commit": plant_signed_commit,
}
#: Mechanisms that make the clone unreadable without trusting it.
UNREADABLE = {
    "gitdir-file": plant_gitdir_file,
    "git-link": plant_git_link,
    "links": plant_links,
    "fifo-head": plant_fifo_head,
    "fifo-packed-refs": plant_fifo_packed_refs,
    "forged-object": plant_forged_object,
    "twice-packed": plant_twice_packed,
    "symref-to-a-tag": plant_symref_to_a_tag,
    "escapes-in-a-name": plant_escapes_in_a_name,
}
#: Branches named as git would not name one: never fetched, still the agent's work.
REFUSED_NAMES = {
    "bad-ref-name": (plant_bad_ref_name, "'../../../../etc/passwd'"),
    "branch-named-head": (plant_branch_named_head, "'HEAD'"),
    "names-not-utf8": (plant_names_not_utf8, "'w\\\\udcff'"),
}


async def make_run(tmp_path: Path, repo: Path) -> tuple[Home, RunRecord]:
    home = Home(tmp_path / "home")
    paths = RunPaths(home, "r")
    paths.worktrees.mkdir(parents=True)
    await create_clone(repo, paths.clone("code"), BRANCH, owner=AGENT)
    record = RunRecord(run_id="r", config="p", tag="t", mode="headless", image="i",
                       branch=BRANCH, created="2026-11-27T00:00:00.000Z",
                       repos={"code": str(repo)})  # fmt: skip
    save_run(home, record)
    agent_git(paths.clone("code"), "commit", "-q", "--allow-empty", "-m", "agent work")
    return home, record


class Seen:
    """What scad's calls made of a hostile clone."""

    def __init__(
        self,
        info: SessionInfo,
        refusal: str | None,
        fetched: RepoFetch,
        synced: RepoSync,
        row: ProjectRow,
    ) -> None:
        self.row = row
        self.info = info
        self.refusal = refusal
        self.fetched = fetched
        self.synced = synced

    @property
    def clone(self) -> str:
        (clone,) = self.info.clones
        if clone.work is None:
            return f"unreadable: {clone.problem}"
        return f"{' '.join(clone.work.branches)}:{clone.work.total}"


async def exercise(home: Home, record: RunRecord) -> Seen:
    """Every library call that reads clones, bounded in time."""
    with anyio.fail_after(30):  # a FIFO that git or scad opened would block here
        engine = FakeEngine()  # the run has no container: only its files matter here
        info = await session_info(engine, home, record)
        await session_status(None, home, include_all=True)
        (synced,) = (await sync_run(engine, home, record)).repos
        (row,) = (await project_status(engine, home, "p")).rows
        assert (row.ahead is None) == (row.problem is not None)
        collect = await plan_gc(engine, home)
        assert collect.items == [] and [k.name for k in collect.kept] == ["r"]
        try:
            await clean_session(engine, home, record, force=False)
            refusal = None
        except UnfetchedWork as exc:
            refusal = str(exc)
        (fetched,) = (await fetch_run(home, record)).repos
    return Seen(info, refusal, fetched, synced, row)


@pytest.mark.parametrize("plant", [pytest.param(p, id=n) for n, p in READABLE.items()])
async def test_readable_hostile_clone_runs_nothing_and_still_counts_work(
    tmp_path: Path, repo: Path, plant: Callable[[Path, Trap], None]
) -> None:
    home, record = await make_run(tmp_path, repo)
    trap = Trap(tmp_path / "trap-root")
    plant(RunPaths(home, "r").clone("code"), trap)
    seen = await exercise(home, record)
    assert trap.fired() == []
    assert seen.clone.startswith(f"{BRANCH}:") and seen.clone != f"{BRANCH}:0"
    assert seen.refusal is not None and "commit(s) not in" in seen.refusal
    assert seen.synced.problem is None and seen.synced.remote_branches == 1
    assert seen.row.problem is None and seen.row.ahead is not None and seen.row.ahead >= 1
    assert seen.fetched.problem is None
    clone = RunPaths(home, "r").clone("code")
    assert agent_git(repo, "rev-parse", BRANCH) == agent_git(clone, "rev-parse", BRANCH)
    assert trap.fired() == []


@pytest.mark.parametrize("plant", [pytest.param(p, id=n) for n, p in UNREADABLE.items()])
async def test_unreadable_hostile_clone_names_nothing_outside_and_is_kept(
    tmp_path: Path, repo: Path, plant: Callable[[Path, Trap], None]
) -> None:
    home, record = await make_run(tmp_path, repo)
    trap = Trap(tmp_path / "trap-root")
    plant(RunPaths(home, "r").clone("code"), trap)
    seen = await exercise(home, record)
    assert trap.fired() == []
    assert seen.clone.startswith("unreadable: ")
    assert seen.refusal is not None
    assert "cannot tell whether clone code holds commits" in seen.refusal
    assert "\x1b" not in seen.refusal and "\x1b" not in seen.clone
    assert RunPaths(home, "r").clone("code").exists()  # nothing destroyed unread
    for problem in (seen.fetched.problem, seen.synced.problem):
        assert problem is not None and "\x1b" not in problem
    assert seen.fetched.branches == []
    assert seen.row.ahead is None and seen.row.problem and "\x1b" not in seen.row.problem
    assert agent_git(repo, "branch", "--list", BRANCH) == ""


async def test_outside_alternates_are_never_read(tmp_path: Path, repo: Path) -> None:
    home, record = await make_run(tmp_path, repo)
    trap = Trap(tmp_path / "trap-root")
    plant_alternates(RunPaths(home, "r").clone("code"), trap)
    seen = await exercise(home, record)
    assert seen.clone == f"{BRANCH}:1"
    store = RunPaths(home, "r").store("code")
    assert (
        store / "objects" / "info" / "alternates"
    ).read_text() == f"{repo / '.git' / 'objects'}\n"


@pytest.mark.parametrize(
    ("plant", "shown"), [pytest.param(*p, id=n) for n, p in REFUSED_NAMES.items()]
)
async def test_a_branch_git_would_not_name_so_is_named_and_counted_not_fetched(
    tmp_path: Path, repo: Path, plant: Callable[[Path, Trap], None], shown: str
) -> None:
    home, record = await make_run(tmp_path, repo)
    trap = Trap(tmp_path / "trap-root")
    clone = RunPaths(home, "r").clone("code")
    plant(clone, trap)
    # The odd name alone holds the work: the run's branch is back at the host's.
    host_tip = agent_git(repo, "rev-parse", "main").strip()
    (clone / ".git" / "refs" / "heads" / BRANCH).write_text(f"{host_tip}\n")
    shutil.rmtree(clone / ".git" / "logs")
    seen = await exercise(home, record)
    assert trap.fired() == []
    assert seen.refusal is not None and "'agent work'" in seen.refusal
    assert seen.fetched.problem == f"not fetched: {shown} (not a branch name git accepts)"
    # Its commits come home under a name of scad's, as what only a reflog kept would.
    host_refs = agent_git(repo, "for-each-ref", "--format=%(refname)").split()
    (kept,) = [ref for ref in host_refs if ref.startswith("refs/heads/scad/r/kept/")]
    # The run's own branch holds nothing new: it makes no branch on the host.
    assert sorted(host_refs) == sorted(["refs/heads/main", kept])
    assert agent_git(repo, "log", "-1", "--format=%s", kept).strip() == "agent work"
    assert not (repo / ".git" / "refs" / "heads" / "HEAD").exists()


@pytest.mark.parametrize("plant", [pytest.param(p, id=n) for n, p in UNREADABLE.items()])
async def test_the_checks_of_an_unreadable_hostile_clone_fail_saying_why(
    tmp_path: Path, repo: Path, plant: Callable[[Path, Trap], None]
) -> None:
    home, record = await make_run(tmp_path, repo)
    trap = Trap(tmp_path / "trap-root")
    plant(RunPaths(home, "r").clone("code"), trap)
    config = parse_config(
        f"name: p\nrepos:\n  code: {{path: {repo}, workdir: true}}\n"
        "checks:\n  - {name: tests, run: pytest}\n  - {name: lint, run: ruff check .}\n",
        label="p.yml",
        base_dir=tmp_path,
    )
    engine = FakeEngine()
    with anyio.fail_after(30):
        report = await check_run(engine, home, config, record)
    assert trap.fired() == []
    assert report is not None and not report.passed
    assert [c.name for c in report.failing] == ["tests", "lint"]
    for checked in report.checks:
        assert checked.exit_code is None and checked.stop is None
        assert checked.output and checked.output.startswith("scad: clone code: ")
        assert "\x1b" not in checked.output
    assert engine.made == {}  # nothing was run on it
    logged = [
        json.loads(line)
        for line in RunPaths(home, "r").events.read_text().splitlines()
        if '"checked"' in line
    ]
    assert [(e["name"], e["output"]) for e in logged] == [(c.name, c.output) for c in report.checks]


@pytest.mark.parametrize("entry", ["HEAD", "packed-refs"])
@pytest.mark.parametrize("plant", NODES)
async def test_a_device_or_fifo_in_a_clone_is_reported_and_never_opened(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch, plant: PlantNode, entry: str
) -> None:
    home, record = await make_run(tmp_path, repo)
    node = RunPaths(home, "r").clone("code") / ".git" / entry
    node.unlink(missing_ok=True)
    opens = Opens(plant(node), monkeypatch)
    seen = await exercise(home, record)
    assert seen.clone == f"unreadable: .git/{entry} is not a regular file"
    assert seen.fetched.problem is not None and "is not a regular file" in seen.fetched.problem
    assert opens.flags and opens.for_io == []
