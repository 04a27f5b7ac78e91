"""The faces: the package and each layer's package say what they export, export what
they say, and the package's own face is the way in."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys

import pytest

import scad

FACES = [
    "scad",
    "scad.batch",
    "scad.code",
    "scad.config",
    "scad.doctor",
    "scad.engine",
    "scad.gateway",
    "scad.gc",
    "scad.image",
    "scad.offline",
    "scad.reports",
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
    assert out.stdout.strip() == "['scad._faces', 'scad.errors', 'scad.home', 'scad.text']"


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
