"""scad: scoped agent dispatch.

Runs Claude Code agents in isolated Docker containers, each with its own clones
of the project's repos on its own branch. The package is a library first; the
``scad`` command line in :mod:`scad.cli` is one front end over it.

The names here are the way in: open an engine, load a config, start a session or
run a batch, and the errors all of it raises. Each layer's package (``engine``,
``runs``, ``code``, ``config``, ``image``, ``sessions``, ``batch``, ``reports``)
exports the rest of what it offers. They are imported when first used, so that
``import scad`` costs nothing a command does not need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._faces import lazy_face

if TYPE_CHECKING:
    from .batch import create_batch, run_batch, spawn_supervisor
    from .config import Config, load_config, load_registered
    from .engine import Engine, open_engine
    from .errors import (
        AgentFileError,
        BaseImageMissing,
        BuildFailed,
        ConfigError,
        CostCheckError,
        CredentialsError,
        EngineError,
        EngineUnavailable,
        GitError,
        ImageError,
        NotFound,
        ScadError,
        SessionError,
        TooManyEntries,
        UnfetchedWork,
        UnreadableClone,
        UsageError,
    )
    from .home import Home, scad_home
    from .image import build_image
    from .sessions import run_session, start_session

__version__ = "0.1.0"

__all__ = [
    "AgentFileError",
    "BaseImageMissing",
    "BuildFailed",
    "Config",
    "ConfigError",
    "CostCheckError",
    "CredentialsError",
    "Engine",
    "EngineError",
    "EngineUnavailable",
    "GitError",
    "Home",
    "ImageError",
    "NotFound",
    "ScadError",
    "SessionError",
    "TooManyEntries",
    "UnfetchedWork",
    "UnreadableClone",
    "UsageError",
    "__version__",
    "build_image",
    "create_batch",
    "load_config",
    "load_registered",
    "open_engine",
    "run_batch",
    "run_session",
    "scad_home",
    "spawn_supervisor",
    "start_session",
]


_ERRORS = (
    "AgentFileError",
    "BaseImageMissing",
    "BuildFailed",
    "ConfigError",
    "CostCheckError",
    "CredentialsError",
    "EngineError",
    "EngineUnavailable",
    "GitError",
    "ImageError",
    "NotFound",
    "ScadError",
    "SessionError",
    "TooManyEntries",
    "UnfetchedWork",
    "UnreadableClone",
    "UsageError",
)
#: Each name loaded on first use, and the module that defines it (`scad --version`
#: imports this face and nothing else).
__getattr__, _ = lazy_face(
    __name__,
    {
        **dict.fromkeys(_ERRORS, "errors"),
        "Config": "config",
        "Engine": "engine",
        "build_image": "image",
        "Home": "home",
        "create_batch": "batch",
        "load_config": "config",
        "load_registered": "config",
        "open_engine": "engine",
        "run_batch": "batch",
        "run_session": "sessions",
        "scad_home": "home",
        "spawn_supervisor": "batch",
        "start_session": "sessions",
    },
)


def __dir__() -> list[str]:
    return sorted(__all__)
