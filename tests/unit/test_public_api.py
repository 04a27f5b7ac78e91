"""The faces: the package and each layer's package say what they export, export what
they say, and the package's own face is the way in."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import scad

FACES = [
    "scad",
    "scad.batch",
    "scad.checks",
    "scad.code",
    "scad.config",
    "scad.doctor",
    "scad.engine",
    "scad.gateway",
    "scad.gc",
    "scad.image",
    "scad.notify",
    "scad.offline",
    "scad.reports",
    "scad.review",
    "scad.runs",
    "scad.sessions",
]


@pytest.mark.parametrize("name", FACES)
def test_a_face_declares_and_defines_its_exports(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert sorted(exported) == sorted(set(exported)), f"{name} exports a name twice"
    missing = [n for n in exported if not hasattr(module, n)]
    assert missing == [], f"{name} exports undefined names {missing}"


def test_the_way_in() -> None:
    """Open an engine, load a config, start a session, run a batch, and the errors."""
    assert {
        "open_engine", "load_config", "load_registered", "start_session", "run_session",
        "create_batch", "run_batch", "ScadError", "ConfigError", "EngineUnavailable",
    } <= set(scad.__all__)  # fmt: skip
    assert scad.start_session is importlib.import_module("scad.sessions").start_session
    assert all(issubclass(getattr(scad, n), scad.ScadError) for n in scad.__all__ if "Error" in n)
    with pytest.raises(AttributeError):
        _ = scad.no_such_name  # type: ignore[attr-defined]


def test_importing_the_package_imports_no_layer() -> None:
    """The face loads what it offers on first use: `import scad` (every command's first
    step) takes neither the Docker client nor any layer."""
    code = "import sys, scad; print(sorted(m for m in sys.modules if m.startswith(('scad.', 'aiodocker'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['scad._faces']"


def test_one_module_of_a_layer_costs_that_module() -> None:
    """A face loads what it exports on first use: a command that reads the configs
    imports no clone code, no run supervisor and no Docker client."""
    code = "import sys, scad.config.registry; print(sorted(m for m in sys.modules if m.startswith(('scad.', 'aiodocker'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = ast.literal_eval(out.stdout)
    assert "scad.config.registry" in loaded
    assert not [
        m for m in loaded if m.startswith(("scad.code", "scad.runs", "scad.engine", "aiodocker"))
    ]


def _private_reaches(path: Path) -> list[str]:
    """The imports in one module that name another package's private module
    (``_name``), whether at run time or for the type checker only."""
    here = path.relative_to(SCAD.parent).with_suffix("").parts[:-1]  # its package
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = here[: len(here) - node.level + 1]
            target = (*base, *(node.module.split(".") if node.module else ()))
        else:
            target = tuple((node.module or "").split("."))
        modules = [target, *((*target, alias.name) for alias in node.names)]
        for module in modules:
            if module[:1] != ("scad",):
                continue
            private = next((i for i, part in enumerate(module) if part.startswith("_")), None)
            if private is None or module[private] in ("__init__", "__main__"):
                continue
            if private == 1 or module[:2] == here[:2]:
                continue  # the ground's own helpers, or within one package
            found.append(f"{path.relative_to(SCAD.parent)}:{node.lineno} {'.'.join(module)}")
            break
    return found


SCAD = Path(scad.__file__).parent


def test_no_module_reaches_past_another_package_s_face() -> None:
    """A package's private modules are its own: every other package imports from its
    face, so what a package offers is what its face names."""
    reaches = [r for path in sorted(SCAD.rglob("*.py")) for r in _private_reaches(path)]
    assert reaches == []
