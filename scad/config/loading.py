"""Loading a project's config: its YAML read into the Structs of :mod:`.schema`.

A config is decoded in two steps so that every error names the exact field: the
YAML is walked against the Structs' annotations (:mod:`._shape`: unknown fields get
a "did you mean", missing ones a hint), then the rules that span fields are checked
(:mod:`._rules`). Paths are made absolute relative to the config file's directory.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from ..errors import ConfigError
from ._rules import check_rules
from ._shape import check_shape
from .schema import Config

__all__ = ["load_config", "parse_config"]


def load_config(path: Path) -> Config:
    """Read, validate and return the config at ``path``; raises :class:`ConfigError`."""
    label = path.name
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(label, "file not found") from None
    except OSError as exc:
        raise ConfigError(label, f"cannot read: {exc.strerror}") from None
    return parse_config(text, label=label, base_dir=path.resolve().parent)


def parse_config(text: str, *, label: str, base_dir: Path) -> Config:
    """Validate YAML ``text``; relative paths are taken from ``base_dir``."""
    import yaml  # only a config's text needs it, not every importer of this module

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(label, f"invalid YAML: {problem}", field=where) from None
    if raw is None:
        raise ConfigError(label, "the file is empty; start from `scad config new NAME`")
    check_shape(raw, Config, label)
    config = msgspec.convert(raw, Config)
    config = _absolute_paths(config, base_dir)
    check_rules(config, label)
    return config


def _absolute(raw: str, base_dir: Path) -> str:
    return str((base_dir / Path(raw).expanduser()).resolve())


def _absolute_paths(config: Config, base_dir: Path) -> Config:
    replace = msgspec.structs.replace
    repos = {k: replace(r, path=_absolute(r.path, base_dir)) for k, r in config.repos.items()}
    mounts = [
        replace(
            m,
            host=_absolute(m.host, base_dir),
            container=m.container or _absolute(m.host, base_dir),
        )
        for m in config.mounts
    ]
    marketplaces = {
        k: replace(m, path=_absolute(m.path, base_dir)) if m.path else m
        for k, m in config.claude.marketplaces.items()
    }
    claude_md = _absolute(config.claude.claude_md, base_dir) if config.claude.claude_md else None
    claude = replace(config.claude, marketplaces=marketplaces, claude_md=claude_md)
    certs = [_absolute(c, base_dir) for c in config.ca_certificates]
    return replace(config, repos=repos, mounts=mounts, claude=claude, ca_certificates=certs)
