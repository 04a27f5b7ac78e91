"""Images: a config's Dockerfile rendered (:mod:`.render`), built and kept up to date
by content (:mod:`.build`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._faces import lazy_face

if TYPE_CHECKING:
    from .build import BuildProgress, BuildResult, build_context, build_image
    from .render import BuildContext, render_dockerfile

__all__ = [
    "BuildContext",
    "BuildProgress",
    "BuildResult",
    "build_context",
    "build_image",
    "render_dockerfile",
]

__getattr__, __dir__ = lazy_face(
    __name__,
    {
        "BuildContext": "render",
        "BuildProgress": "build",
        "BuildResult": "build",
        "build_context": "build",
        "build_image": "build",
        "render_dockerfile": "render",
    },
)
