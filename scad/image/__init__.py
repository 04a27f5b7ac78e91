"""Images: a config's Dockerfile rendered (:mod:`.render`), built and kept up to date
by content (:mod:`.build`).
"""

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
