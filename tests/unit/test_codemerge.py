"""Runs' commits merged into one host branch in the object store: nothing checked out moves."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tracemalloc
from pathlib import Path

import msgspec
import pytest

from scad.code.clones import create_clone
from scad.code.merge import MAX_FILES, MergeSource, merge_branch, write_branch
from scad.code.snapshot import snapshot_clone
from scad.errors import BranchRefused
from tests.unit.test_codefetch import commit, git

pytestmark = pytest.mark.anyio

AGENT = (1000, 1000) if os.getuid() == 0 else None


async def run_clone(tmp_path: Path, host: Path, name: str) -> Path:
    clone = tmp_path / "runs" / name / "clone"
    clone.parent.mkdir(parents=True)
    await create_clone(host, clone, f"scad-{name}", owner=AGENT)
    return clone


async def source(host: Path, clone: Path) -> MergeSource:
    """The run's branch as scad reads it: through a store, never git in the clone."""
    store = clone.parent / "store"
    snapshot = await snapshot_clone(clone, store, host)
    name = clone.parent.name
    return MergeSource(label=name, commit=snapshot.branches[f"scad-{name}"], store=str(store))


def host_state(host: Path) -> dict[str, bytes]:
    """Everything checked out in the host: HEAD, the index, and every file of the
    working tree (tracked, modified and untracked), byte for byte."""
    state = {".git/HEAD": (host / ".git/HEAD").read_bytes()}
    state[".git/index"] = hashlib.sha256((host / ".git/index").read_bytes()).digest()
    for folder, dirs, files in os.walk(host):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            path = Path(folder, name)
            state[str(path.relative_to(host))] = path.read_bytes()
    state["refs/heads/main"] = git(host, "rev-parse", "main").encode()
    return state


@pytest.fixture
def host(tmp_path: Path) -> Path:
    from tests.conftest import make_repo

    repo = make_repo(tmp_path / "host", {"README.md": "hello\n", "shared.txt": "one\ntwo\n"})
    # The user is mid-work: a staged change, a modified file, an untracked one.
    (repo / "staged.txt").write_text("staged\n")
    git(repo, "add", "staged.txt")
    (repo / "README.md").write_text("hello, edited\n")
    (repo / "notes.txt").write_text("untracked\n")
    return repo


async def test_three_runs_merge_and_a_conflicting_one_is_left_out_naming_its_files(
    tmp_path: Path, host: Path
) -> None:
    clones = [await run_clone(tmp_path, host, f"r{n}") for n in range(4)]
    commit(clones[0], "a.txt")
    commit(clones[1], "b.txt")
    commit(clones[1], "shared.txt", "one\nTWO from r1\n")
    commit(clones[2], "c.txt")
    commit(clones[3], "shared.txt", "one\nTWO from r3\n")
    sources = [await source(host, clone) for clone in clones]
    base = git(host, "rev-parse", "main")
    before = host_state(host)

    merged = await merge_branch(host, "integration", sources)
    assert [(r.label, r.action) for r in merged.runs] == [
        ("r0", "merged"),
        ("r1", "merged"),
        ("r2", "merged"),
        ("r3", "conflicted"),
    ]
    assert (merged.runs[3].conflicts, merged.runs[3].files) == (1, ["shared.txt"])
    assert merged.previous is None and merged.start == base
    assert git(host, "rev-parse", "--verify", "--quiet", "integration", check=False) == ""

    await write_branch(host, merged, "scad code merge b")
    assert git(host, "rev-parse", "integration") == merged.tip
    first_parents = git(host, "log", "--first-parent", "--format=%s", "integration").splitlines()
    assert first_parents[:3] == [
        "Merge r2 into integration",
        "Merge r1 into integration",
        "Merge r0 into integration",
    ]
    assert git(host, "rev-parse", "integration~3") == base
    assert git(host, "ls-tree", "--name-only", "integration").split() == [
        "README.md", "a.txt", "b.txt", "c.txt", "shared.txt"
    ]  # fmt: skip
    assert git(host, "show", "integration:shared.txt") == "one\nTWO from r1"
    assert host_state(host) == before


async def test_a_second_merge_adds_to_the_branch_and_finds_merged_runs_current(
    tmp_path: Path, host: Path
) -> None:
    first, second = await run_clone(tmp_path, host, "r1"), await run_clone(tmp_path, host, "r2")
    commit(first, "a.txt")
    one = await merge_branch(host, "integration", [await source(host, first)])
    await write_branch(host, one, "merge")
    commit(second, "b.txt")
    sources = [await source(host, first), await source(host, second)]

    two = await merge_branch(host, "integration", sources)
    assert two.previous == one.tip == two.start
    assert [r.action for r in two.runs] == ["current", "merged"]


@pytest.mark.parametrize("spelling", ["main", "MAIN", "Main"])
async def test_a_branch_checked_out_in_any_spelling_is_refused(
    tmp_path: Path, host: Path, spelling: str
) -> None:
    clone = await run_clone(tmp_path, host, "r1")
    commit(clone, "a.txt")
    before = host_state(host)
    with pytest.raises(BranchRefused, match="is checked out in a worktree"):
        await merge_branch(host, spelling, [await source(host, clone)])
    assert host_state(host) == before


async def test_a_branch_checked_out_in_a_linked_worktree_is_refused(
    tmp_path: Path, host: Path
) -> None:
    git(host, "worktree", "add", "-q", "-b", "integration", str(tmp_path / "linked"))
    with pytest.raises(BranchRefused, match="checked out"):
        await merge_branch(host, "integration", [])


async def test_a_symbolic_branch_is_refused(tmp_path: Path, host: Path) -> None:
    git(host, "branch", "target")
    git(host, "symbolic-ref", "refs/heads/alias", "refs/heads/target")
    with pytest.raises(BranchRefused, match="symbolic ref to refs/heads/target"):
        await merge_branch(host, "alias", [])


@pytest.mark.parametrize(
    "name", ["-f", "a..b", "has space", "x\nrefs/heads/main", "HEAD", "ends.lock", "a\x1b[31m"]
)
async def test_a_name_git_refuses_is_refused_in_one_line(host: Path, name: str) -> None:
    with pytest.raises(BranchRefused) as caught:
        await merge_branch(host, name, [])
    assert "\n" not in str(caught.value) and "\x1b" not in str(caught.value)


async def test_a_branch_moved_meanwhile_is_refused_not_overwritten(
    tmp_path: Path, host: Path
) -> None:
    clone = await run_clone(tmp_path, host, "r1")
    commit(clone, "a.txt")
    merged = await merge_branch(host, "integration", [await source(host, clone)])
    git(host, "branch", "integration", "main")  # someone else made it meanwhile
    with pytest.raises(BranchRefused, match="moved while the runs were merged"):
        await write_branch(host, merged, "merge")
    assert git(host, "rev-parse", "integration") == git(host, "rev-parse", "main")

    again = await merge_branch(host, "integration", [await source(host, clone)])
    git(host, "update-ref", "refs/heads/integration", again.runs[0].commit)
    with pytest.raises(BranchRefused, match="moved"):
        await write_branch(host, again, "merge")
    assert git(host, "rev-parse", "integration") == again.runs[0].commit


async def test_a_branch_checked_out_meanwhile_is_not_written(tmp_path: Path, host: Path) -> None:
    clone = await run_clone(tmp_path, host, "r1")
    commit(clone, "a.txt")
    merged = await merge_branch(host, "integration", [await source(host, clone)])
    git(host, "worktree", "add", "-q", "-b", "INTEGRATION", str(tmp_path / "linked"))
    with pytest.raises(BranchRefused, match="checked out"):
        await write_branch(host, merged, "merge")
    assert git(host, "rev-parse", "--verify", "--quiet", "integration", check=False) == ""


async def test_hostile_names_in_a_conflict_are_counted_bounded_and_escaped(
    tmp_path: Path, host: Path
) -> None:
    hostile = ["-n\nevil", "--upload-pack=touch pwned", "\x1b[2Jclear", "a\u202egpj.exe"]
    many = [f"f{n:03d}" for n in range(MAX_FILES + 5)]
    first, second = await run_clone(tmp_path, host, "r1"), await run_clone(tmp_path, host, "r2")
    for clone, text in ((first, "1\n"), (second, "2\n")):
        for name in [*hostile, *many]:
            (clone / name).write_text(text)
        git(clone, "add", "-A")
        git(clone, "commit", "-q", "-m", "many")
    merged = await merge_branch(
        host, "integration", [await source(host, first), await source(host, second)]
    )
    left = merged.runs[1]
    assert (left.action, left.conflicts) == ("conflicted", len(hostile) + len(many))
    assert len(left.files) == MAX_FILES
    assert {"--upload-pack=touch pwned", "-n\\x0aevil", "\\x1b[2Jclear", "a\\u202egpj.exe"} <= set(
        left.files
    )
    assert not (host / "pwned").exists() and not Path("pwned").exists()


async def test_nothing_from_a_hostile_clone_runs_and_only_the_commit_comes(
    tmp_path: Path, host: Path
) -> None:
    clone = await run_clone(tmp_path, host, "r1")
    work = commit(clone, "a.txt")
    git(clone, "branch", "planted")  # a ref the host must not get
    marker = tmp_path / "ran"
    hook = f'#!/bin/sh\necho "$0" >> {marker}\n'
    git(clone, "config", "core.fsmonitor", f"echo fsmonitor >> {marker}")
    git(clone, "config", "core.hooksPath", str(clone / ".git/hooks"))
    git(clone, "config", "uploadpack.packObjectsHook", f"echo pack >> {marker}")
    for name in ("reference-transaction", "post-merge", "pre-auto-gc", "post-checkout"):
        (clone / ".git/hooks" / name).write_text(hook)
        (clone / ".git/hooks" / name).chmod(0o755)
    snapshot = source(host, clone)
    merged = await merge_branch(host, "integration", [await snapshot])
    await write_branch(host, merged, "merge")
    assert not marker.exists()
    assert git(host, "rev-parse", "integration^2") == work
    assert "planted" not in git(host, "for-each-ref", "--format=%(refname)")


async def test_a_run_sharing_no_history_is_left_out(tmp_path: Path, host: Path) -> None:
    clone = await run_clone(tmp_path, host, "r1")
    git(clone, "checkout", "-q", "--orphan", "new")
    git(clone, "rm", "-rq", "--cached", ".")
    orphan = commit(clone, "other.txt")
    git(clone, "branch", "-f", "scad-r1", orphan)
    merged = await merge_branch(host, "integration", [await source(host, clone)])
    assert [r.action for r in merged.runs] == ["unrelated"]
    assert merged.tip == merged.start == git(host, "rev-parse", "main")


async def test_a_run_with_no_commits_has_nothing_to_merge(tmp_path: Path, host: Path) -> None:
    clone = await run_clone(tmp_path, host, "r1")
    merged = await merge_branch(host, "integration", [await source(host, clone)])
    assert [r.action for r in merged.runs] == ["current"] and not merged.changed
    await write_branch(host, merged, "merge")
    assert git(host, "rev-parse", "--verify", "--quiet", "integration", check=False) == ""


def _adding(host: Path, files: int, content: bytes) -> str:
    """A commit on ``main`` adding ``files`` files of long names, each ``content``."""

    def run(*args: str, data: bytes = b"") -> str:
        return subprocess.run(
            ["git", "-C", str(host), "-c", "user.name=a", "-c", "user.email=a@a", *args],
            input=data, capture_output=True, check=True,
        ).stdout.decode().strip()  # fmt: skip

    blob = run("hash-object", "-w", "--stdin", data=content)
    names = (f"{i:06d}".ljust(250, "x") for i in range(files))
    big = run("mktree", "-z", data=b"".join(f"100644 blob {blob}\t{n}\0".encode() for n in names))
    top = run("ls-tree", "main") + f"\n040000 tree {big}\tbig\n"
    return run("commit-tree", run("mktree", data=top.encode()), "-p", "main", "-m", "add")


async def test_a_conflict_listing_megabytes_long_is_read_only_in_part(host: Path) -> None:
    # Two runs that add the same 20,000 long names with different content: 5 MB of names.
    ours, theirs = _adding(host, 20_000, b"ours\n"), _adding(host, 20_000, b"theirs\n")
    tracemalloc.start()
    try:
        merged = await merge_branch(
            host,
            "integration",
            [MergeSource(label="a", commit=ours), MergeSource(label="b", commit=theirs)],
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [run.action for run in merged.runs] == ["merged", "conflicted"]
    assert len(merged.runs[1].files) == MAX_FILES
    assert peak < 1 << 20


async def test_a_conflict_listing_past_the_bound_is_cut_at_a_whole_name(
    tmp_path: Path, host: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scad.code import merge

    names = [f"{n:03d}-{'x' * 60}" for n in range(200)]  # some 13 kB of names
    first, second = await run_clone(tmp_path, host, "r1"), await run_clone(tmp_path, host, "r2")
    for clone, text in ((first, "1\n"), (second, "2\n")):
        for name in names:
            (clone / name).write_text(text)
        git(clone, "add", "-A")
        git(clone, "commit", "-q", "-m", "many")
    sources = [await source(host, first), await source(host, second)]
    monkeypatch.setattr(merge, "MERGE_TREE_BYTES", 4096, raising=False)

    left = (await merge_branch(host, "integration", sources)).runs[1]
    assert left.action == "conflicted"
    assert left.conflicts_cut
    assert 0 < left.conflicts < 4096 // 64  # whole names only, within the bound
    assert left.files == names[:MAX_FILES]


async def test_a_new_branch_starts_at_the_recorded_base_not_where_the_host_is_now(
    tmp_path: Path, host: Path
) -> None:
    base = git(host, "rev-parse", "main")
    clone = await run_clone(tmp_path, host, "r1")
    work = commit(clone, "a.txt")
    # The user moved on to a branch of its own history (a site, say) since.
    empty_tree = git(host, "hash-object", "-t", "tree", "-w", "/dev/null")
    empty = git(host, "commit-tree", "-m", "site", empty_tree)
    git(host, "update-ref", "refs/heads/site", empty)
    git(host, "symbolic-ref", "HEAD", "refs/heads/site")
    store = clone.parent / "store"
    await snapshot_clone(clone, store, host)
    recorded = MergeSource(label="r1", commit=work, store=str(store), base=base)

    merged = await merge_branch(host, "integration", [recorded])
    assert merged.start == base
    assert [r.action for r in merged.runs] == ["merged"]

    # A run recorded without its base: the guess from the host's branch finds none.
    guessed = MergeSource(label="r1", commit=work, store=str(store))
    merged = await merge_branch(host, "integration", [guessed])
    assert (merged.start, [r.action for r in merged.runs]) == (empty, ["unrelated"])


async def test_runs_that_started_apart_start_at_their_common_ancestor(
    tmp_path: Path, host: Path
) -> None:
    first_base = git(host, "rev-parse", "main")
    early = await run_clone(tmp_path, host, "r1")
    commit(host, "later.txt")  # the host moved on before the second run was cloned
    later = await run_clone(tmp_path, host, "r2")
    old = await run_clone(tmp_path, host, "r3")  # a run recorded without its base
    for clone in (early, later, old):
        commit(clone, f"{clone.parent.name}.txt")
    sources = [await source(host, clone) for clone in (early, later, old)]
    bases = [first_base, git(host, "rev-parse", "main"), None]
    sources = [msgspec.structs.replace(s, base=b) for s, b in zip(sources, bases, strict=True)]
    merged = await merge_branch(host, "integration", sources)
    assert merged.start == first_base
    assert [r.action for r in merged.runs] == ["merged"] * 3


async def test_a_store_read_again_is_left_as_it_is_until_its_clone_moves(
    tmp_path: Path, host: Path
) -> None:
    clone = await run_clone(tmp_path, host, "r1")
    commit(clone, "a.txt")
    store = clone.parent / "store"
    await snapshot_clone(clone, store, host)
    kept = ("config", "HEAD", "packed-refs", "objects/info/alternates")
    before = {name: (store / name).stat().st_ino for name in kept}
    await snapshot_clone(clone, store, host)
    assert {name: (store / name).stat().st_ino for name in kept} == before
    moved = commit(clone, "b.txt")
    snapshot = await snapshot_clone(clone, store, host)
    assert snapshot.branches["scad-r1"] == moved
    assert f"{moved} refs/heads/scad-r1" in (store / "packed-refs").read_text()
