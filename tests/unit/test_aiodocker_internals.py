"""aiodocker's internals are reached from one module only (its test against the real
engine is tests/integration/test_engine.py::test_the_log_response_is_the_engines_frames)."""

from __future__ import annotations

import ast
import inspect
import pkgutil
from pathlib import Path

import aiodocker

import scad

INTERNALS = Path(scad.__file__).parent / "engine" / "_internals.py"


def aiodocker_private_names() -> set[str]:
    """The private attributes (``_x``, not ``__x__``) of every class aiodocker defines."""
    names: set[str] = set()
    for info in pkgutil.walk_packages(aiodocker.__path__, "aiodocker."):
        module = __import__(info.name, fromlist=["_"])
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__.startswith("aiodocker"):
                names |= set(vars(cls)) | set(getattr(cls, "__annotations__", {}))
    return {n for n in names if n.startswith("_") and not n.endswith("__")}


def private_uses(path: Path, private: set[str]) -> list[str]:
    """``x._name`` in ``path`` for an aiodocker private name, ``x`` not ``self``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in private
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
        ):
            found.append(f"{path.name}:{node.lineno}: .{node.attr}")
    return found


def test_the_scan_knows_the_internals_scad_relies_on() -> None:
    assert {"_query", "_container"} <= aiodocker_private_names()
    assert private_uses(INTERNALS, aiodocker_private_names()) == [
        "_internals.py:32: ._query",
        "_internals.py:39: ._query",
        "_internals.py:48: ._query_json",
    ]


def test_no_other_module_reaches_into_aiodocker() -> None:
    private = aiodocker_private_names()
    modules = [p for p in Path(scad.__file__).parent.rglob("*.py") if p != INTERNALS]
    assert [use for path in modules for use in private_uses(path, private)] == []
