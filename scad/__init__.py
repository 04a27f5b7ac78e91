"""scad: scoped agent dispatch.

Runs Claude Code agents in isolated Docker containers, each with its own clones
of the project's repos on its own branch. The package is a library first; the
``scad`` command line in :mod:`scad.cli` is one front end over it.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
