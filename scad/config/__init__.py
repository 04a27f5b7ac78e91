"""Configs: a project described once in YAML, validated into typed Structs.

:mod:`.schema` is the config, :mod:`.loading` reads it from YAML, :mod:`.registry` the
configs a scad home knows, :mod:`.repos` the check that a config's repos are there to
clone, :mod:`.hosts` the host patterns of an egress allowlist, :mod:`.certificates` the
extra CA certificates this host trusts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._faces import lazy_face

if TYPE_CHECKING:
    from .certificates import host_certificates
    from .hosts import HostPattern, allows, normal_host, parse_host_pattern
    from .loading import load_config, parse_config
    from .registry import (
        ConfigEntry,
        add_config,
        list_configs,
        load_registered,
        new_config,
        registered_file,
        remove_config,
    )
    from .repos import check_repos
    from .schema import CLAUDE_CODE_VERSION, Config, EgressSettings

__all__ = [
    "CLAUDE_CODE_VERSION",
    "Config",
    "ConfigEntry",
    "EgressSettings",
    "HostPattern",
    "add_config",
    "allows",
    "check_repos",
    "host_certificates",
    "list_configs",
    "load_config",
    "load_registered",
    "new_config",
    "normal_host",
    "parse_config",
    "parse_host_pattern",
    "registered_file",
    "remove_config",
]

__getattr__, __dir__ = lazy_face(
    __name__,
    {
        "CLAUDE_CODE_VERSION": "schema",
        "Config": "schema",
        "ConfigEntry": "registry",
        "EgressSettings": "schema",
        "HostPattern": "hosts",
        "add_config": "registry",
        "allows": "hosts",
        "check_repos": "repos",
        "host_certificates": "certificates",
        "list_configs": "registry",
        "load_config": "loading",
        "load_registered": "registry",
        "new_config": "registry",
        "normal_host": "hosts",
        "parse_config": "loading",
        "parse_host_pattern": "hosts",
        "registered_file": "registry",
        "remove_config": "registry",
    },
)
