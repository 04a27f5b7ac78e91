"""`scad code fetch`: a run's branches into the host repo, read through scad's store."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from scad.code.clones import create_clone, unfetched_work
from scad.code.fetch import MAX_BRANCHES, BranchFetch, fetch_run
from scad.errors import SessionError
from scad.home import Home
from scad.runs.logread import read_all_events
from scad.runs.records import RunPaths, RunRecord, save_run

pytestmark = pytest.mark.anyio

AGENT = (1000, 1000) if os.getuid() == 0 else None
RUN = "r"
BRANCH = "scad-r"


def git(repo: Path, *args: str, check: bool = True) -> str:
    """git as a user or an agent runs it in its own repository (a test may; scad never
    runs git in a clone)."""
    return subprocess.run(
        ["git", "-c", "safe.directory=*", "-c", "user.name=a", "-c", "user.email=a@a",
         "-C", str(repo), *args],
        check=check, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def commit(repo: Path, name: str, text: str = "x\n") -> str:
    (repo / name).parent.mkdir(parents=True, exist_ok=True)
    (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"add {name}")
    return git(repo, "rev-parse", "HEAD")


async def make_run(tmp_path: Path, repos: dict[str, Path]) -> tuple[Home, RunRecord]:
    home = Home(tmp_path / "home")
    paths = RunPaths(home, RUN)
    paths.worktrees.mkdir(parents=True)
    for key, repo in repos.items():
        await create_clone(repo, paths.clone(key), BRANCH, owner=AGENT)
    record = RunRecord(run_id=RUN, config="p", tag="t", mode="headless", image="i",
                       branch=BRANCH, created="2026-11-27T00:00:00.000Z",
                       repos={k: str(v) for k, v in repos.items()})  # fmt: skip
    save_run(home, record)
    return home, record


def by_branch(result_branches: list[BranchFetch]) -> dict[str, tuple[str, str | None, int]]:
    return {b.branch: (b.action, b.target, b.ahead) for b in result_branches}


async def test_new_branches_keep_their_names_and_the_checked_out_branch_never_moves(
    tmp_path: Path, repo: Path
) -> None:
    home, record = await make_run(tmp_path, {"code": repo})
    clone = RunPaths(home, RUN).clone("code")
    first = commit(clone, "src/a.py")
    second = commit(clone, "src/b.py")
    git(clone, "checkout", "-q", "-b", "side")
    side = commit(clone, "docs/side.md")
    git(clone, "checkout", "-q", "main")
    theirs = commit(clone, "main.txt")  # the agent moves its main; the host's is checked out
    host_main, host_status = git(repo, "rev-parse", "main"), git(repo, "status", "--porcelain")

    fetched = await fetch_run(home, record)
    assert fetched.note == f"{RUN}: 3 branches fetched"
    (result,) = fetched.repos
    assert result.problem is None and result.default_branch == "main"
    assert by_branch(result.branches) == {
        "main": ("checked-out", f"scad/{RUN}/main", 1),
        BRANCH: ("new", BRANCH, 2),
        "side": ("new", "side", 3),
    }
    assert git(repo, "rev-parse", BRANCH, "side", f"scad/{RUN}/main").split() == [
        second,
        side,
        theirs,
    ]
    assert git(repo, "rev-parse", "main") == host_main
    assert git(repo, "status", "--porcelain") == host_status
    files = {b.branch: (b.files_changed, b.files) for b in result.branches}
    assert files[BRANCH] == (2, ["src/a.py", "src/b.py"])
    assert files["side"] == (3, ["docs/side.md", "src/a.py", "src/b.py"])
    assert first in git(repo, "rev-list", BRANCH)
    work = await unfetched_work(clone, RunPaths(home, RUN).store("code"), repo)
    assert work.total == 0


async def test_a_branch_the_host_has_is_fast_forwarded_and_a_diverged_one_lands_apart(
    tmp_path: Path, repo: Path
) -> None:
    git(repo, "branch", "ff")
    git(repo, "branch", "split")
    home, record = await make_run(tmp_path, {"code": repo})
    clone = RunPaths(home, RUN).clone("code")
    git(clone, "checkout", "-q", "ff")
    ahead = commit(clone, "ff.txt")
    git(clone, "checkout", "-q", "split")
    agent_split = commit(clone, "split-agent.txt")
    git(repo, "checkout", "-q", "split")
    host_split = commit(repo, "split-host.txt")
    git(repo, "checkout", "-q", "main")

    (result,) = (await fetch_run(home, record)).repos
    assert by_branch(result.branches)["ff"] == ("updated", "ff", 1)
    assert by_branch(result.branches)["split"] == ("diverged", f"scad/{RUN}/split", 1)
    assert git(repo, "rev-parse", "ff", "split", f"scad/{RUN}/split").split() == [
        ahead,
        host_split,
        agent_split,
    ]

    # The agent rewrites its branch: what landed before is not overwritten either.
    git(clone, "reset", "-q", "--hard", "main")
    rewritten = commit(clone, "split-again.txt")
    (again,) = (await fetch_run(home, record)).repos
    landed = f"scad/{RUN}/split-{rewritten[:8]}"
    assert by_branch(again.branches)["split"] == ("diverged", landed, 1)
    assert git(repo, "rev-parse", f"scad/{RUN}/split", landed).split() == [agent_split, rewritten]
    assert by_branch(again.branches)["ff"] == ("current", None, 1)


async def test_a_detached_head_with_work_of_its_own_lands_as_detached(
    tmp_path: Path, repo: Path
) -> None:
    home, record = await make_run(tmp_path, {"code": repo})
    clone = RunPaths(home, RUN).clone("code")
    git(clone, "checkout", "-q", "--detach")
    loose = commit(clone, "loose.txt")
    (result,) = (await fetch_run(home, record)).repos
    assert by_branch(result.branches)["HEAD"] == ("diverged", f"scad/{RUN}/detached", 1)
    assert git(repo, "rev-parse", f"scad/{RUN}/detached") == loose

    git(clone, "checkout", "-q", BRANCH)  # HEAD on a branch again: nothing detached to bring
    git(clone, "checkout", "-q", "--detach")
    (again,) = (await fetch_run(home, record)).repos
    assert "HEAD" not in by_branch(again.branches)


async def test_a_second_fetch_finds_everything_current_and_both_are_logged(
    tmp_path: Path, repo: Path
) -> None:
    home, record = await make_run(tmp_path, {"code": repo})
    commit(RunPaths(home, RUN).clone("code"), "a.txt")
    await fetch_run(home, record)
    (again,) = (await fetch_run(home, record)).repos
    assert {b.action for b in again.branches} == {"current"}
    fetched = [e.detail for e in await read_all_events(RunPaths(home, RUN)) if e.kind == "fetched"]
    assert fetched == [f"code:{BRANCH}->{BRANCH} (new)", "nothing new"]


async def test_an_unreadable_clone_is_reported_and_the_others_are_still_fetched(
    tmp_path: Path, repo: Path
) -> None:
    from tests.conftest import make_repo

    other = make_repo(tmp_path / "other")
    home, record = await make_run(tmp_path, {"code": repo, "docs": other})
    paths = RunPaths(home, RUN)
    commit(paths.clone("code"), "a.txt")
    work = commit(paths.clone("docs"), "b.txt")
    (paths.clone("code") / ".git" / "HEAD").unlink()
    (paths.clone("code") / ".git" / "HEAD").symlink_to("/etc/passwd")

    result = await fetch_run(home, record)
    code, docs = result.repos
    assert docs.problem is None
    assert code.branches == [] and code.problem is not None
    assert "cannot be read safely" in code.problem and "symbolic link" in code.problem
    assert result.problems == [f"{RUN}: code: {code.problem}"]
    assert git(other, "rev-parse", BRANCH) == work
    assert BRANCH not in git(repo, "branch", "--list")


async def test_a_clone_with_too_many_branches_is_not_fetched(tmp_path: Path, repo: Path) -> None:
    home, record = await make_run(tmp_path, {"code": repo})
    clone = RunPaths(home, RUN).clone("code")
    head = git(clone, "rev-parse", "HEAD")
    (clone / ".git" / "packed-refs").write_text(
        "".join(f"{head} refs/heads/b{n}\n" for n in range(MAX_BRANCHES + 1))
    )
    (result,) = (await fetch_run(home, record)).repos
    assert result.problem == f"holds {MAX_BRANCHES + 3} branches, more than the 256 fetched at once"
    assert git(repo, "branch", "--list", "b*") == ""


async def test_a_cleaned_run_has_nothing_to_fetch(tmp_path: Path, repo: Path) -> None:
    home, record = await make_run(tmp_path, {"code": repo})
    record.cleaned = "2026-11-27T01:00:00.000Z"
    with pytest.raises(SessionError, match=f"^{RUN} was cleaned; its clones are gone$"):
        await fetch_run(home, record)


async def test_file_names_from_the_agent_are_shown_escaped(tmp_path: Path, repo: Path) -> None:
    home, record = await make_run(tmp_path, {"code": repo})
    commit(RunPaths(home, RUN).clone("code"), "evil\x1b]52;c;aGk=\x07.txt")
    (result,) = (await fetch_run(home, record)).repos
    (branch,) = [b for b in result.branches if b.branch == BRANCH]
    assert branch.files == ["evil\\x1b]52;c;aGk=\\x07.txt"]


async def test_a_new_branch_named_like_another_ref_lands_apart(tmp_path: Path, repo: Path) -> None:
    git(repo, "remote", "add", "origin", "https://example.invalid/x.git")
    git(repo, "tag", "v1.0")
    home, record = await make_run(tmp_path, {"code": repo})
    clone = RunPaths(home, RUN).clone("code")
    work = commit(clone, "a.txt")
    names = [
        "origin/main", "scad/other-run/main", "tags/v1", "refs/x", "v1.0",
        "ORIG_HEAD", "FETCH_HEAD", "deadbeef", "scad-p-other-Nov27-1000",
        "upstream/main", "fix/one",
    ]  # fmt: skip
    for name in names:
        git(clone, "branch", name)
    (result,) = (await fetch_run(home, record)).repos
    landed = {b.branch: (b.action, b.target) for b in result.branches}
    for name in names[:-2]:
        assert landed[name] == ("misleading", f"scad/{RUN}/{name}")
    # No remote is called upstream here, and fix/ is no namespace of git's.
    assert landed["upstream/main"] == ("new", "upstream/main")
    assert landed["fix/one"] == ("new", "fix/one")
    assert git(repo, "for-each-ref", "--format=%(refname)", "refs/heads/origin") == ""
    assert git(repo, "rev-parse", f"scad/{RUN}/origin/main") == work


async def test_another_run_branch_on_the_host_is_never_moved_by_this_run(
    tmp_path: Path, repo: Path
) -> None:
    git(repo, "branch", "scad-other")
    home, record = await make_run(tmp_path, {"code": repo})
    clone = RunPaths(home, RUN).clone("code")
    git(clone, "checkout", "-q", "-b", "scad-other", "main")
    mine = commit(clone, "mine.txt")
    (result,) = (await fetch_run(home, record)).repos
    assert by_branch(result.branches)["scad-other"] == ("misleading", f"scad/{RUN}/scad-other", 1)
    assert git(repo, "rev-parse", "scad-other") == git(repo, "rev-parse", "main")
    assert git(repo, "rev-parse", f"scad/{RUN}/scad-other") == mine


async def test_a_branch_git_will_not_update_lands_apart_and_the_rest_still_come(
    tmp_path: Path, repo: Path
) -> None:
    git(repo, "branch", "busy")
    home, record = await make_run(tmp_path, {"code": repo})
    clone = RunPaths(home, RUN).clone("code")
    git(clone, "checkout", "-q", "-b", "busy", "main")
    busy = commit(clone, "busy.txt")
    git(clone, "checkout", "-q", BRANCH)
    work = commit(clone, "work.txt")
    (repo / ".git" / "refs" / "heads" / "busy.lock").write_text("held\n")  # git holds it
    (result,) = (await fetch_run(home, record)).repos
    assert result.problem is None
    assert by_branch(result.branches)["busy"] == ("refused", f"scad/{RUN}/busy", 1)
    assert git(repo, "rev-parse", f"scad/{RUN}/busy", BRANCH).split() == [busy, work]


async def test_a_detached_head_naming_nothing_costs_the_other_clones_nothing(
    tmp_path: Path, repo: Path
) -> None:
    from tests.conftest import make_repo

    other = make_repo(tmp_path / "other")
    home, record = await make_run(tmp_path, {"code": repo, "docs": other})
    paths = RunPaths(home, RUN)
    (paths.clone("code") / ".git" / "HEAD").write_text("1" * 40 + "\n")
    work = commit(paths.clone("docs"), "b.txt")
    code, docs = (await fetch_run(home, record)).repos
    assert code.problem is not None and docs.problem is None
    assert git(other, "rev-parse", BRANCH) == work


async def test_a_branch_named_after_a_remote_lands_apart(tmp_path: Path, repo: Path) -> None:
    git(repo, "remote", "add", "upstream", "https://example.invalid/x.git")
    home, record = await make_run(tmp_path, {"code": repo})
    clone = RunPaths(home, RUN).clone("code")
    commit(clone, "a.txt")
    git(clone, "branch", "upstream")  # `git rebase upstream` on the host would take it
    (result,) = (await fetch_run(home, record)).repos
    assert by_branch(result.branches)["upstream"] == ("misleading", f"scad/{RUN}/upstream", 1)


def test_a_relative_scad_home_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scad.home import scad_home

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCAD_HOME", "relative/home")
    assert scad_home().root == tmp_path / "relative" / "home"


async def test_a_branch_that_lands_nowhere_is_named(tmp_path: Path, repo: Path) -> None:
    git(repo, "branch", "busy")
    home, record = await make_run(tmp_path, {"code": repo})
    clone = RunPaths(home, RUN).clone("code")
    git(clone, "checkout", "-q", "-b", "busy", "main")
    commit(clone, "busy.txt")
    heads = repo / ".git" / "refs" / "heads"
    (heads / "busy.lock").write_text("held\n")
    (heads / "scad" / RUN).mkdir(parents=True)
    (heads / "scad" / RUN / "busy.lock").write_text("held\n")
    (result,) = (await fetch_run(home, record)).repos
    assert result.problem == "not fetched: busy"
    assert "busy" not in by_branch(result.branches)
    assert BRANCH in by_branch(result.branches)


async def agent_branch(home: Home, name: str, start: str = "main") -> str:
    """The agent's commit on a branch ``name`` of its clone, which it leaves."""
    clone = RunPaths(home, RUN).clone("code")
    git(clone, "checkout", "-q", "-b", name, start)
    tip = commit(clone, f"{name.replace('/', '-')}.txt")
    git(clone, "checkout", "-q", BRANCH)
    return tip


def unmoved(repo: Path, branches: dict[str, str]) -> None:
    assert {b: git(repo, "rev-parse", f"refs/heads/{b}") for b in branches} == branches
    assert git(repo, "status", "--porcelain") == ""


async def test_a_branch_the_host_names_by_a_symbolic_ref_is_not_written_through(
    tmp_path: Path, repo: Path
) -> None:
    git(repo, "symbolic-ref", "refs/heads/master", "refs/heads/main")  # main was renamed
    home, record = await make_run(tmp_path, {"code": repo})
    before = {"main": git(repo, "rev-parse", "main")}
    mine = await agent_branch(home, "master")
    work = commit(RunPaths(home, RUN).clone("code"), "work.txt")
    (result,) = (await fetch_run(home, record)).repos
    unmoved(repo, before)
    assert git(repo, "symbolic-ref", "refs/heads/master") == "refs/heads/main"
    (master,) = [b for b in result.branches if b.branch == "master"]
    assert (master.action, master.target, master.alias_of) == (
        "aliased",
        f"scad/{RUN}/master",
        "refs/heads/main",
    )
    assert git(repo, "rev-parse", f"scad/{RUN}/master", BRANCH).split() == [mine, work]


@pytest.mark.parametrize(
    "aliases",
    [
        pytest.param({"a": "refs/heads/b", "b": "refs/heads/main"}, id="a-chain"),
        pytest.param({"a": "refs/heads/nowhere"}, id="dangling"),
        pytest.param({"a": "refs/remotes/origin/main"}, id="outside-the-branches"),
        pytest.param({"a": "refs/heads/side"}, id="to-a-branch-of-another-worktree"),
    ],
)
async def test_no_symbolic_ref_of_the_host_is_written_through(
    tmp_path: Path, repo: Path, aliases: dict[str, str]
) -> None:
    git(repo, "branch", "side")
    git(repo, "worktree", "add", "-q", str(tmp_path / "side"), "side")
    git(repo, "update-ref", "refs/remotes/origin/main", "main")
    for name, target in aliases.items():
        git(repo, "symbolic-ref", f"refs/heads/{name}", target)
    home, record = await make_run(tmp_path, {"code": repo})
    before = {b: git(repo, "rev-parse", b) for b in ("main", "side")}
    origin = git(repo, "rev-parse", "refs/remotes/origin/main")
    mine = await agent_branch(home, "a")
    (result,) = (await fetch_run(home, record)).repos
    unmoved(repo, before)
    assert git(repo, "rev-parse", "refs/remotes/origin/main") == origin
    assert git(repo, "rev-parse", "--verify", "--quiet", "nowhere", check=False) == ""
    heads = repo / ".git" / "refs" / "heads"
    assert {n: (heads / n).read_text() for n in aliases} == {
        n: f"ref: {t}\n" for n, t in aliases.items()
    }
    (a,) = [b for b in result.branches if b.branch == "a"]
    assert (a.action, a.target, a.alias_of) == (
        "aliased",
        f"scad/{RUN}/a",
        git(repo, "symbolic-ref", "refs/heads/a"),
    )
    assert git(repo, "rev-parse", f"scad/{RUN}/a") == mine


async def test_a_branch_checked_out_in_a_linked_worktree_never_moves(
    tmp_path: Path, repo: Path
) -> None:
    git(repo, "branch", "side")
    git(repo, "worktree", "add", "-q", str(tmp_path / "side"), "side")
    home, record = await make_run(tmp_path, {"code": repo})
    before = {"side": git(repo, "rev-parse", "side")}
    mine = await agent_branch(home, "side")
    (result,) = (await fetch_run(home, record)).repos
    unmoved(repo, before)
    assert git(tmp_path / "side", "status", "--porcelain") == ""
    assert by_branch(result.branches)["side"] == ("checked-out", f"scad/{RUN}/side", 1)
    assert git(repo, "rev-parse", f"scad/{RUN}/side") == mine


async def test_a_branch_whose_name_differs_from_a_checked_out_one_only_in_case_lands_apart(
    tmp_path: Path, repo: Path
) -> None:
    # On a file system that ignores case, refs/heads/MAIN is the file of refs/heads/main.
    home, record = await make_run(tmp_path, {"code": repo})
    before = {"main": git(repo, "rev-parse", "main")}
    await agent_branch(home, "MAIN")
    (result,) = (await fetch_run(home, record)).repos
    unmoved(repo, before)
    assert by_branch(result.branches)["MAIN"] == ("checked-out", f"scad/{RUN}/MAIN", 1)


async def test_a_landing_place_that_is_a_symbolic_ref_is_not_written_through(
    tmp_path: Path, repo: Path
) -> None:
    git(repo, "symbolic-ref", f"refs/heads/scad/{RUN}/main", "refs/heads/main")
    home, record = await make_run(tmp_path, {"code": repo})
    before = {"main": git(repo, "rev-parse", "main")}
    clone = RunPaths(home, RUN).clone("code")
    git(clone, "checkout", "-q", "main")
    commit(clone, "main.txt")
    git(clone, "checkout", "-q", BRANCH)
    work = commit(clone, "work.txt")
    (result,) = (await fetch_run(home, record)).repos
    unmoved(repo, before)
    assert result.problem == (
        f"not fetched: main (scad/{RUN}/main is a symbolic ref to refs/heads/main on the host)"
    )
    assert git(repo, "rev-parse", BRANCH) == work


async def test_thousands_of_changed_files_are_counted_and_a_few_named(
    tmp_path: Path, repo: Path
) -> None:
    home, record = await make_run(tmp_path, {"code": repo})
    clone = RunPaths(home, RUN).clone("code")
    many = clone / "many"
    many.mkdir()
    for n in range(5000):
        (many / f"f{n:04}").touch()
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "many")
    (result,) = (await fetch_run(home, record)).repos
    (branch,) = [b for b in result.branches if b.branch == BRANCH]
    assert branch.files_changed == 5000
    assert branch.files == [f"many/f{n:04}" for n in range(20)]


async def test_only_work_comes_home(tmp_path: Path, repo: Path) -> None:
    """Branches with no commit beyond the host's default branch make no host branch."""
    commit(repo, "later.txt")  # the host moves on after the clone
    home, record = await make_run(tmp_path, {"code": repo})
    clone = RunPaths(home, RUN).clone("code")
    git(clone, "branch", "idle")  # a branch the agent made and never committed to
    git(clone, "checkout", "-q", "--detach")  # a detached HEAD at the base
    before = git(repo, "for-each-ref", "--format=%(refname)")

    fetched = await fetch_run(home, record)
    assert fetched.note == f"{RUN}: no new commits"
    (result,) = fetched.repos
    assert by_branch(result.branches) == {
        BRANCH: ("current", None, 0),
        "idle": ("current", None, 0),
        "main": ("current", None, 0),
    }
    assert git(repo, "for-each-ref", "--format=%(refname)") == before


async def test_a_judged_run_brings_home_only_the_commits_its_checks_judged(
    tmp_path: Path, repo: Path
) -> None:
    git(repo, "branch", "release")
    home, record = await make_run(tmp_path, {"code": repo})
    clone = RunPaths(home, RUN).clone("code")
    judged = commit(clone, "src/a.py")
    git(clone, "checkout", "-q", "-b", "side")
    commit(clone, "side.txt")
    git(clone, "checkout", "-q", "release")  # the host's, not checked out there
    commit(clone, "unjudged.txt")
    git(clone, "tag", "kept", commit(clone, "kept.txt"))
    git(clone, "reset", "-q", "--hard", "HEAD~1")
    git(clone, "checkout", "-q", "--detach", BRANCH)
    commit(clone, "detached.txt")
    before = host_refs(repo)

    (result,) = (await fetch_run(home, record, judged={"code": judged})).repos
    assert by_branch(result.branches) == {BRANCH: ("new", BRANCH, 1)}
    assert host_refs(repo) == {**before, f"refs/heads/{BRANCH}": judged}

    # Nothing judged (it committed nothing on its branch): nothing comes home.
    git(repo, "branch", "-D", BRANCH)
    (nothing,) = (await fetch_run(home, record, judged={})).repos
    assert nothing.branches == [] and host_refs(repo) == before


def host_refs(repo: Path) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split() for line in out.splitlines())
