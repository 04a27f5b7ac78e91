"""The layer contract: each layer imports only those below it, checked on the code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(where: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(where)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=where, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def test_the_code_keeps_the_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout


def test_an_import_that_climbs_a_layer_breaks_it(tmp_path: Path) -> None:
    """The engine, at the bottom, importing the command line at the top."""
    shutil.copytree(ROOT / "scad", tmp_path / "scad")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / "scad" / "engine" / "_types.py").open("a") as module:
        module.write("\nfrom scad.cli import main  # noqa: E402\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "scad.engine is not allowed to import scad.cli" in result.stdout
    assert "scad.engine._types -> scad.cli" in result.stdout
