"""The config registry: the files under ``$SCAD_HOME/configs``.

A config is either owned by scad (a file made by ``scad config new``) or
registered (a symlink made by ``scad config add`` to a file that lives elsewhere).
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import msgspec
import yaml

from ..errors import ConfigError, NotFound, UsageError
from ..home import Home
from ..names import NAME_RE, reserved_config_name
from ..threads import async_twin
from ._rules import REPO_KEY_RE
from .loading import load_config
from .schema import Config

__all__ = [
    "ConfigEntry",
    "add_config",
    "aload_registered",
    "list_configs",
    "load_registered",
    "new_config",
    "registered_file",
    "remove_config",
]


class ConfigEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One registered config and whether it is valid."""

    name: str
    path: str
    #: The file a registered symlink points to; None for a file scad owns.
    target: str | None
    problem: str | None = None

    @property
    def owned(self) -> bool:
        return self.target is None


TEMPLATE = """\
# scad config for {name}. Reference: the README's "Config reference".
name: {name}

# Git repositories the agents work on. Each run clones every repo on its own branch.
repos:
  {key}:
    path: {path}{path_note}
    workdir: true               # Claude starts here (exactly one repo)
    # focus: src                # a subfolder to work in
  # docs:
  #   path: ~/src/{name}-docs
  #   add_dir: true             # also reachable by Claude (--add-dir)

# Host folders mounted read-write into every container.
# mounts:
#   - host: ~/data/{name}
#     container: /data

python:
  version: "3.11"
  # requirements: requirements.txt   # relative to the workdir repo

# apt_packages: [ripgrep, jq]

claude:
  dangerously_skip_permissions: false
  # model: claude-sonnet-4-5
  # max_turns: 50              # headless runs stop after this many turns
  # permissions: {{allow: ["Bash(git:*)"], deny: []}}
  # plugins: [hello@local]
  # marketplaces:
  #   local: {{path: ~/claude-plugins}}
  # claude_md: ~/notes/CLAUDE.md
  # env: {{ANTHROPIC_BASE_URL: "http://127.0.0.1:8080"}}

# PEM files the image must trust (a proxy that intercepts TLS).
{certificates}

network: bridge                 # bridge, host or none

# Where headless runs go: local (this engine) or swarm (`--on` overrides it per command).
# runs_on: local
# swarm:
#   manager: context:lab        # unix:///path, tcp://host:port or context:NAME; default: this engine
#   registry: registry.lan:5000 # every node pulls the run image from here (needed for swarm)
#   placement: [node.labels.scad==true, node.role!=manager]
# gateway_address: 192.168.1.10 # this host, as a swarm's or a remote engine's containers reach it
"""


def _entry(home: Home, path: Path) -> ConfigEntry:
    target = str(path.resolve()) if path.is_symlink() else None
    try:
        load_registered(home, path.stem)
    except ConfigError as exc:
        return ConfigEntry(name=path.stem, path=str(path), target=target, problem=exc.problem)
    return ConfigEntry(name=path.stem, path=str(path), target=target)


def list_configs(home: Home) -> list[ConfigEntry]:
    """Every registered config, invalid ones marked rather than failing."""
    return [_entry(home, home.config_file(name)) for name in home.config_names()]


def registered_file(home: Home, name: str) -> Path:
    """The file (or link) of the registered config ``name``; raises NotFound with close names."""
    path = home.config_file(name)
    if not path.exists() and not path.is_symlink():
        raise NotFound(_unknown_config_message(home, name))
    return path


def load_registered(home: Home, name: str) -> Config:
    """Load the registered config ``name``; raises NotFound or ConfigError."""
    path = registered_file(home, name)
    config = load_config(path)
    if config.name != name:
        raise ConfigError(
            path.name,
            f'"{config.name}" does not match the file name; set it to "{name}"',
            field="name",
        )
    return config


def _unknown_config_message(home: Home, name: str) -> str:
    names = home.config_names()
    close = difflib.get_close_matches(name, names, n=3)
    if close:
        return f'no config named "{name}"; did you mean {", ".join(close)}?'
    if names:
        return f'no config named "{name}"; known: {", ".join(names)}'
    return f'no config named "{name}"; create one with `scad config new {name}`'


def new_config(
    home: Home, name: str, *, repo: Path | None = None, certificates: Sequence[str] = ()
) -> Path:
    """Write a commented template for ``name``; refuses to overwrite.

    ``repo`` (the repository the user stands in) is its workdir repo, keyed by its
    folder's name; ``certificates`` (the host's extra CA certificates) its image trusts.
    """
    if not NAME_RE.match(name):
        raise UsageError(
            f'invalid config name "{name}": use lowercase letters, digits, "-" and "_"'
        )
    if reserved := reserved_config_name(name):
        raise UsageError(f'invalid config name "{name}": {reserved}')
    path = home.config_file(name)
    if path.exists() or path.is_symlink():
        raise UsageError(
            f'config "{name}" already exists at {path}; edit it with `scad config edit {name}`'
        )
    home.configs.mkdir(parents=True, exist_ok=True)
    with path.open("x") as f:
        f.write(_template(name, repo, certificates))
    return path


def _template(name: str, repo: Path | None, certificates: Sequence[str]) -> str:
    if repo is None:
        key, where, note = "code", f"~/src/{name}", "          # a git repository on this machine"
    else:
        key = repo.name if REPO_KEY_RE.match(repo.name) and ".." not in repo.name else "code"
        where, note = _yaml_string(str(repo)), ""
    if certificates:
        listed = ", ".join(_yaml_string(c) for c in certificates)
        trusted = f"ca_certificates: [{listed}]   # this host's extra CA certificates"
    else:
        trusted = "# ca_certificates: [/usr/local/share/ca-certificates/corp.crt]"
    return TEMPLATE.format(name=name, key=key, path=where, path_note=note, certificates=trusted)


def _yaml_string(text: str) -> str:
    """``text`` as a YAML flow scalar: plain when YAML reads it back unchanged, else quoted."""
    try:
        plain = yaml.safe_load(f"[{text}]") == [text]
    except yaml.YAMLError:
        plain = False
    return text if plain else json.dumps(text)


def add_config(home: Home, source: Path) -> ConfigEntry:
    """Validate the config at ``source`` and register it under its name; its repos
    must exist (a config is added to be used)."""
    config = load_config(source)
    for key, repo in config.repos.items():
        if not Path(repo.path).is_dir():
            raise ConfigError(
                source.name,
                f"{repo.path} does not exist; fix the path",
                field=f"repos.{key}.path",
            )
    path = home.config_file(config.name)
    if path.exists() or path.is_symlink():
        raise UsageError(
            f'a config named "{config.name}" is already registered ({path}); '
            f"remove it first with `scad config remove {config.name}`"
        )
    home.configs.mkdir(parents=True, exist_ok=True)
    target = source.resolve()
    os.symlink(target, path)
    return ConfigEntry(name=config.name, path=str(path), target=str(target))


def remove_config(home: Home, name: str) -> ConfigEntry:
    """Unregister ``name``: a symlink goes, the file it points to stays."""
    path = registered_file(home, name)
    entry = ConfigEntry(
        name=name, path=str(path), target=str(path.resolve()) if path.is_symlink() else None
    )
    path.unlink()
    return entry


#: Loading reads the config and every file it names (certificates, ...).
aload_registered = async_twin(load_registered)
