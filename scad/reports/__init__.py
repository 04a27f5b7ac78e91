"""Reports: what a config's runs did and cost side by side (:mod:`.project`, with
:mod:`.ccusage`'s count of Claude's transcripts), a config's state (:mod:`.configinfo`),
a batch's timeline (:mod:`.timeline`) and its report as one HTML file (:mod:`.batchreport`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._faces import lazy_face

if TYPE_CHECKING:
    from .ccusage import CcusageReport, ccusage_report
    from .configinfo import ConfigInfo, describe_config
    from .project import ProjectStatus, project_status

__all__ = [
    "CcusageReport",
    "ConfigInfo",
    "ProjectStatus",
    "ccusage_report",
    "describe_config",
    "project_status",
]

__getattr__, __dir__ = lazy_face(
    __name__,
    {
        "CcusageReport": "ccusage",
        "ConfigInfo": "configinfo",
        "ProjectStatus": "project",
        "ccusage_report": "ccusage",
        "describe_config": "configinfo",
        "project_status": "project",
    },
)
