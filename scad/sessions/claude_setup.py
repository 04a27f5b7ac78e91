"""What Claude finds in a run's container: settings, seeded state, arguments. Pure.

Paths here are the container's. The run's ``claude/`` folder is the agent's
``~/.claude`` and ``claude.json`` its ``~/.claude.json``, so Claude's history
and settings persist with the run across stop and resume.
"""

from __future__ import annotations

from typing import Any

from ..config.schema import Config
from ..layout import MARKETPLACES, WORKSPACE
from ..notify.hook import idle_hook_settings

__all__ = [
    "claude_arguments",
    "claude_json",
    "container_workdir",
    "repo_path",
    "settings_json",
]


def repo_path(config: Config, key: str) -> str:
    """Where repo ``key`` is seen by Claude: its clone, or the focus folder in it."""
    path = WORKSPACE / key
    focus = config.repos[key].focus
    return str(path / focus) if focus else str(path)


def container_workdir(config: Config) -> str:
    return repo_path(config, config.workdir_key)


def settings_json(config: Config) -> dict[str, Any]:
    """``~/.claude/settings.json`` for every run of ``config``."""
    claude = config.claude
    settings: dict[str, Any] = {
        "permissions": {
            "allow": list(claude.permissions.allow),
            "deny": list(claude.permissions.deny),
        },
        # Commits are the user's: no co-author lines.
        "attribution": {"commit": "", "pr": ""},
    }
    if claude.dangerously_skip_permissions:
        settings["skipDangerousModePermissionPrompt"] = True
    if claude.plugins:
        settings["enabledPlugins"] = dict.fromkeys(claude.plugins, True)
    if config.notify.command or config.notify.url:
        settings["hooks"] = idle_hook_settings()
    if claude.marketplaces:
        settings["extraKnownMarketplaces"] = {
            name: {"source": _marketplace_source(name, m.path, m.github, m.git)}
            for name, m in claude.marketplaces.items()
        }
    return settings


def _marketplace_source(
    name: str, path: str | None, github: str | None, git: str | None
) -> dict[str, str]:
    if path:
        return {"source": "directory", "path": str(MARKETPLACES / name)}
    if github:
        return {"source": "github", "repo": github}
    return {"source": "git", "url": str(git)}


def claude_json(config: Config, existing: dict[str, Any]) -> dict[str, Any]:
    """``~/.claude.json`` with onboarding done and the workspace trusted.

    ``existing`` is the run's current file (Claude, or the agent, writes to it):
    its content is kept and only the keys that skip first-run screens are set,
    whatever shape the agent left them in. Claude reaches the model with the run's
    gateway token, which it takes without asking; the answers a run made before the
    gateway kept for the host's API key (the key's last characters) go.
    """
    state = dict(existing)
    state["hasCompletedOnboarding"] = True
    projects = _object(state.get("projects"))
    for key in config.repos:
        path = repo_path(config, key)
        projects[path] = {
            **_object(projects.get(path)),
            "hasTrustDialogAccepted": True,
            "hasCompletedProjectOnboarding": True,
        }
    state["projects"] = projects
    state.pop("customApiKeyResponses", None)
    # How long a prompt waits before Claude Code runs its idle hook (scad's notice).
    state["messageIdleNotifThresholdMs"] = int(config.notify.idle_seconds * 1000)
    return state


def _object(value: Any) -> dict[str, Any]:
    """A copy of ``value`` when it is a JSON object; the agent may have written anything."""
    return dict(value) if isinstance(value, dict) else {}


def claude_arguments(config: Config, *, headless: bool, resume: bool) -> list[str]:
    """Claude's arguments, the prompt excepted (it is passed as a file)."""
    args: list[str] = []
    if headless:
        args += ["-p", "--output-format", "stream-json", "--verbose"]
    if resume:
        args.append("--continue")
    if config.claude.dangerously_skip_permissions:
        args.append("--dangerously-skip-permissions")
    if config.claude.model:
        args += ["--model", config.claude.model]
    if headless and config.claude.max_turns:
        args += ["--max-turns", str(config.claude.max_turns)]
    for key, repo in config.repos.items():
        if repo.add_dir:
            args += ["--add-dir", repo_path(config, key)]
    return args
