"""Every library module says what it exports, and exports what it says."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import scad

LIBRARY = sorted(
    info.name
    for info in pkgutil.walk_packages(scad.__path__, "scad.")
    if not info.name.startswith("scad.cli")
)


@pytest.mark.parametrize("name", [m for m in LIBRARY if m != "scad.__main__"])
def test_module_declares_and_defines_its_exports(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert sorted(exported) == sorted(set(exported)), f"{name} exports a name twice"
    missing = [n for n in exported if not hasattr(module, n)]
    assert missing == [], f"{name} exports undefined names {missing}"
