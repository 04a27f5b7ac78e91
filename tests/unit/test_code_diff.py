"""What a run changed, read in scad's store: diffstat, commits and the diff, bounded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scad.code import diff as diffs
from scad.code.diff import FileChange, diff_run, parse_numstat
from scad.code.git import store_git_bounded
from scad.home import Home
from scad.runs.records import RunPaths, RunRecord
from tests.unit.test_codefetch import RUN, commit, git, make_run

pytestmark = pytest.mark.anyio


def clone_of(home: Home) -> Path:
    return RunPaths(home, RUN).clone("code")


async def test_the_diffstat_commits_and_diff_of_what_the_run_committed(
    tmp_path: Path, repo: Path
) -> None:
    home, record = await make_run(tmp_path, {"code": repo})
    clone = clone_of(home)
    commit(clone, "src/a.py", "one\ntwo\n")
    (clone / "README.md").write_text("hello\nagain\n")
    git(clone, "commit", "-qam", "say it again")
    store = RunPaths(home, RUN).store("code")
    assert not store.exists()  # no store yet: the review makes it

    (found,) = await diff_run(home, record, detail=True)
    assert found.problem is None and store.is_dir()
    assert (found.ahead, found.files_changed, found.insertions, found.deletions) == (2, 2, 3, 0)
    assert [c.subject for c in found.commits] == ["say it again", "add src/a.py"]
    assert found.changes == [
        FileChange(path="README.md", insertions=1, deletions=0),
        FileChange(path="src/a.py", insertions=2, deletions=0),
    ]
    assert found.diff is not None and "+++ b/src/a.py\n@@ -0,0 +1,2 @@\n+one\n+two\n" in found.diff
    assert found.tip == git(clone, "rev-parse", "HEAD")
    assert found.base == git(repo, "rev-parse", "main") and not found.diff_cut
    (bare,) = await diff_run(home, record, detail=False)
    assert (bare.ahead, bare.files_changed, bare.commits, bare.diff) == (2, 2, [], None)


async def test_the_base_is_where_the_run_left_the_host_not_the_host_now(
    tmp_path: Path, repo: Path
) -> None:
    home, record = await make_run(tmp_path, {"code": repo})
    commit(clone_of(home), "mine.txt")
    commit(repo, "theirs.txt")  # the host moves on after the run began
    (found,) = await diff_run(home, record, detail=True)
    assert (found.ahead, [c.path for c in found.changes]) == (1, ["mine.txt"])
    assert found.diff is not None and "theirs.txt" not in found.diff


async def test_binary_renamed_mode_changed_and_oddly_named_files(
    tmp_path: Path, repo: Path
) -> None:
    commit(repo, "run.sh", "echo hi\n")
    home, record = await make_run(tmp_path, {"code": repo})
    clone = clone_of(home)
    (clone / "blob.bin").write_bytes(bytes(range(256)) * 4)
    (clone / "-x").write_text("an option, were it on a command line\n")
    (clone / "new\nline").write_text("x\n")
    (clone / "\x1b[2J\x1b]0;owned\x07").write_text("x\n")
    (clone / "evil\u202egpj.exe").write_text("x\n")
    git(clone, "mv", "README.md", "READ.md")
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "odd \x1b[31mred\x1b[0m")
    (clone / "run.sh").chmod(0o755)
    git(clone, "commit", "-qam", "make -x run")

    (found,) = await diff_run(home, record, detail=True)
    assert found.problem is None and found.files_changed == 7
    by_path = {c.path: c for c in found.changes}
    assert by_path["blob.bin"].insertions is None and by_path["blob.bin"].deletions is None
    assert by_path["READ.md"].old_path == "README.md"
    assert {"-x", "new\\x0aline", "\\x1b[2J\\x1b]0;owned\\x07", "evil\\u202egpj.exe"} <= set(
        by_path
    )
    assert [c.subject for c in found.commits] == ["make -x run", "odd \\x1b[31mred\\x1b[0m"]
    text = found.diff
    assert text is not None
    assert "Binary files /dev/null and b/blob.bin differ" in text
    assert "rename from README.md\nrename to READ.md" in text
    assert "diff --git a/run.sh b/run.sh\nold mode 100644\nnew mode 100755" in text
    assert by_path["run.sh"] == FileChange(path="run.sh", insertions=0, deletions=0)
    assert '"b/new\\nline"' in text and '"b/\\033[2J\\033]0;owned\\a"' in text  # git quotes them


async def test_attributes_the_agent_commits_hide_nothing(tmp_path: Path, repo: Path) -> None:
    home, record = await make_run(tmp_path, {"code": repo})
    clone = clone_of(home)
    commit(clone, ".gitattributes", "* -diff\n")
    commit(clone, "hidden.py", "print('seen')\n")
    (found,) = await diff_run(home, record, detail=True)
    assert found.diff is not None and "+print('seen')" in found.diff


async def test_a_huge_diff_is_cut_at_a_whole_line_and_says_so(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(diffs, "MAX_DIFF_BYTES", 10_000)
    monkeypatch.setattr(diffs, "MAX_COMMITS", 3)
    monkeypatch.setattr(diffs, "MAX_FILES", 2)
    home, record = await make_run(tmp_path, {"code": repo})
    clone = clone_of(home)
    for n in range(5):
        commit(clone, f"big{n}.txt", "".join(f"line {i}\n" for i in range(2000)))
    (found,) = await diff_run(home, record, detail=True)
    assert found.diff_cut and found.diff is not None
    assert len(found.diff.encode()) <= 10_000 and found.diff.endswith("\n")
    assert (found.ahead, len(found.commits)) == (5, 3)
    assert (found.files_changed, found.insertions, len(found.changes)) == (5, 10_000, 2)


async def test_store_output_past_its_bound_ends_at_a_whole_line(tmp_path: Path) -> None:
    store = tmp_path / "store.git"
    git(tmp_path, "init", "-q", "--bare", str(store))
    whole = await store_git_bounded(store, "help", "-a", limit=1 << 20)
    cut = await store_git_bounded(store, "help", "-a", limit=100)
    assert not whole.cut and cut.cut
    assert whole.text.startswith(cut.text) and cut.text.endswith("\n") and len(cut.text) <= 100


@pytest.mark.parametrize(
    ("text", "changes"),
    [
        pytest.param("", [], id="nothing"),
        pytest.param("1\t2\ta\0", [FileChange(path="a", insertions=1, deletions=2)], id="plain"),
        pytest.param(
            "-\t-\tb\0", [FileChange(path="b", insertions=None, deletions=None)], id="binary"
        ),
        pytest.param(
            "0\t0\t\0old\0new\0",
            [FileChange(path="new", old_path="old", insertions=0, deletions=0)],
            id="renamed",
        ),
        pytest.param("3\t0\t\0old\0", [], id="rename-cut-short"),
        pytest.param(
            "1\t1\ta\tb\0", [FileChange(path="a\\x09b", insertions=1, deletions=1)], id="tab"
        ),
    ],
)
def test_numstat_listings(text: str, changes: list[FileChange]) -> None:
    assert parse_numstat(text) == changes


async def test_clones_that_are_gone_or_never_made_are_said_so(tmp_path: Path, repo: Path) -> None:
    home, record = await make_run(tmp_path, {"code": repo})
    record = RunRecord(**{**{f: getattr(record, f) for f in record.__struct_fields__}})
    record.repos["other"] = str(repo)
    (_, missing) = await diff_run(home, record, detail=True)
    assert missing.problem == "the run has no clone of it"
    record.cleaned = "2026-11-27T00:00:00.000Z"
    assert {d.problem for d in await diff_run(home, record, detail=False)} == {
        "the run was cleaned; its clone is gone"
    }


async def test_a_host_repo_that_is_gone_is_said_so(tmp_path: Path, repo: Path) -> None:
    home, record = await make_run(tmp_path, {"code": repo})
    os.rename(repo, tmp_path / "moved")
    (found,) = await diff_run(home, record, detail=False)
    assert found.problem == f"{repo} is not a git repository any more"
