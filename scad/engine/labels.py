"""The labels scad puts on the engine's containers and images, and what each says.

``scad.`` is scad's namespace. A container inherits its image's labels, so only
:data:`RUN` says a container is a run's; :data:`CONFIG` alone does not.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..home import Home

__all__ = [
    "CHECK",
    "CHECK_FOLDER",
    "CONFIG",
    "DOCTOR",
    "FENCE",
    "HASH",
    "HOME",
    "MODE",
    "RUN",
    "home_label",
    "made_by",
]

#: A container's run id.
RUN = "scad.run"
#: The scad home that made a run's container (see :func:`home_label`): with several
#: homes on one engine, each tells its own apart.
HOME = "scad.home"
#: An image's config (a run's container carries it too, by inheritance and by name).
CONFIG = "scad.config"
#: A run's mode: ``interactive`` or ``headless``.
MODE = "scad.mode"
#: The content hash of the build context an image was made from.
HASH = "scad.hash"
#: A container that runs one of a config's checks: the check's name.
CHECK = "scad.check"
#: A check's container: the folder of its checkouts, which the scad process running
#: the check holds locked while it goes.
CHECK_FOLDER = "scad.check.folder"
#: A throwaway container of ``scad doctor``: the check it runs.
DOCTOR = "scad.doctor"
#: A fenced run's container (its routes are cut at each start), or the helper that
#: cuts them: the id of the container it fences.
FENCE = "scad.fence"


def home_label(home: Home) -> str:
    """The value of :data:`HOME` for ``home``: its root with links resolved, so that
    two spellings of one home agree."""
    return os.path.realpath(home.root)


def made_by(container_labels: Mapping[str, str], home_value: str) -> bool:
    """Whether a run's container is the one of the home whose :func:`home_label` is
    ``home_value``: two homes on one engine may each have a run of the same id. One
    that names no home was made before containers named theirs, and is taken as ours."""
    return container_labels.get(HOME, home_value) == home_value
