"""Package faces that load what they export on first use: importing one module of a
package then costs that module, not every module its face names."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_face"]


def lazy_face(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A face's ``__getattr__`` and ``__dir__``: ``exports`` maps each name to the
    module of ``package`` that defines it (a module exported by its own name is the
    module itself)."""

    def get(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        found = importlib.import_module(f"{package}.{module}")
        return found if module == name else getattr(found, name)

    def names() -> list[str]:
        return sorted(exports)

    return get, names
