"""Starting runs from a repo with uncommitted changes says the clones will not have them."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from tests.conftest import Cli, make_repo

pytestmark = pytest.mark.anyio

START = [
    pytest.param(["session", "start", "proj", "--tag", "t"], id="session start"),
    pytest.param(["batch", "proj", "--tag", "t", "--prompt", "p"], id="batch"),
]


@pytest.fixture
def project(scad_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config of two host repos, on a host without Claude credentials (so a start
    stops before it makes anything)."""
    code = make_repo(tmp_path / "code", {"app.py": "one\n", ".gitignore": "*.log\n"})
    docs = make_repo(tmp_path / "docs")
    (scad_home / "configs").mkdir(parents=True)
    (scad_home / "configs" / "proj.yml").write_text(
        f"name: proj\nrepos:\n  code: {{path: {code}, workdir: true}}\n  docs: {{path: {docs}}}\n"
    )
    for name in ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "CLAUDE_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "host-home"))
    return code


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning: ")]


@pytest.mark.parametrize("args", START)
async def test_a_repo_with_uncommitted_files_is_named_with_their_count(
    run_cli: Cli, project: Path, args: list[str]
) -> None:
    (project / "app.py").write_text("two\n")  # changed
    (project / "new.py").write_text("")
    await anyio.run_process(["git", "-C", str(project), "add", "new.py"])  # staged
    (project / "pkg" / "deep").mkdir(parents=True)
    (project / "pkg" / "deep" / "a.py").write_text("")  # untracked, in new folders
    (project / "pkg" / "b.py").write_text("")
    (project / "debug.log").write_text("")  # ignored: nothing to tell

    result = await run_cli(*args)

    assert warnings(result.stderr) == [
        f"warning: repo code ({project}) has 4 uncommitted files; the agent's clone starts "
        "from the last commit without them (commit them first to include them)"
    ]


@pytest.mark.parametrize("args", START)
async def test_committed_repos_start_without_a_warning(
    run_cli: Cli, project: Path, args: list[str]
) -> None:
    (project / "debug.log").write_text("")

    result = await run_cli(*args)

    assert warnings(result.stderr) == []
    assert "no Claude credentials" in result.stderr  # it went on to start
