"""Reports: what a config's runs did and cost side by side (:mod:`.project`, with
:mod:`.ccusage`'s count of Claude's transcripts), and a config's state (:mod:`.configinfo`).
"""

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
