from __future__ import annotations

from pathlib import Path

from scad.config.loading import parse_config
from scad.config.schema import Config
from scad.sessions.claude_setup import (
    claude_arguments,
    claude_json,
    container_workdir,
    settings_json,
)


def make(tmp_path: Path, claude: str = "{}") -> Config:
    (tmp_path / "mkt" / ".claude-plugin").mkdir(parents=True)
    (tmp_path / "mkt" / ".claude-plugin" / "marketplace.json").write_text("{}")
    text = (
        "name: p\n"
        "repos:\n"
        "  code: {path: ., workdir: true, focus: src}\n"
        "  docs: {path: ., add_dir: true}\n"
        f"claude: {claude}\n"
    )
    return parse_config(text, label="p.yml", base_dir=tmp_path)


def test_settings_defaults(tmp_path: Path) -> None:
    assert settings_json(make(tmp_path)) == {
        "permissions": {"allow": [], "deny": []},
        "attribution": {"commit": "", "pr": ""},
    }


def test_settings_with_plugins_and_permissions(tmp_path: Path) -> None:
    config = make(
        tmp_path,
        "{dangerously_skip_permissions: true, plugins: [hello@local, x@gh], "
        "marketplaces: {local: {path: mkt}, gh: {github: o/r}, g: {git: 'https://example.invalid/m.git'}}, "
        "permissions: {allow: ['Bash(git:*)'], deny: ['WebFetch']}}",
    )
    assert settings_json(config) == {
        "permissions": {"allow": ["Bash(git:*)"], "deny": ["WebFetch"]},
        "attribution": {"commit": "", "pr": ""},
        "skipDangerousModePermissionPrompt": True,
        "enabledPlugins": {"hello@local": True, "x@gh": True},
        "extraKnownMarketplaces": {
            "local": {"source": {"source": "directory", "path": "/opt/scad/marketplaces/local"}},
            "gh": {"source": {"source": "github", "repo": "o/r"}},
            "g": {"source": {"source": "git", "url": "https://example.invalid/m.git"}},
        },
    }


def test_claude_json_skips_first_run_screens_and_keeps_claudes_own_state(tmp_path: Path) -> None:
    existing = {
        "numStartups": 3,
        "projects": {"/workspace/code/src": {"history": ["x"]}},
        "customApiKeyResponses": {"approved": ["k" * 20], "rejected": []},
    }
    state = claude_json(make(tmp_path), existing)
    assert state["hasCompletedOnboarding"] is True
    assert state["numStartups"] == 3
    assert state["projects"]["/workspace/code/src"] == {
        "history": ["x"],
        "hasTrustDialogAccepted": True,
        "hasCompletedProjectOnboarding": True,
    }
    assert state["projects"]["/workspace/docs"]["hasTrustDialogAccepted"] is True
    # A run made before the gateway approved the host's key by its last characters.
    assert "customApiKeyResponses" not in state


def test_arguments(tmp_path: Path) -> None:
    config = make(tmp_path, "{dangerously_skip_permissions: true, model: claude-x}")
    assert claude_arguments(config, headless=True, resume=False) == [
        "-p", "--output-format", "stream-json", "--verbose",
        "--dangerously-skip-permissions", "--model", "claude-x", "--add-dir", "/workspace/docs",
    ]  # fmt: skip
    assert claude_arguments(make(tmp_path / "b"), headless=False, resume=True) == [
        "--continue", "--add-dir", "/workspace/docs",
    ]  # fmt: skip
    assert container_workdir(config) == "/workspace/code/src"
