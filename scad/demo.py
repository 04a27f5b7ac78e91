"""``scad demo``: the whole product on a throwaway project, against the offline model.

Everything the demo makes belongs to its config, ``demo``, and lives in scad's
own home: the repo ``$SCAD_HOME/demo/repo``, the config ``configs/demo.yml``
(marked as the demo's: a ``demo`` config of the user's is never touched), its
image, runs and batches. :func:`remove_demo` takes all of it away again.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec

from .batch.prompts import BatchPrompt
from .batch.store import BatchOptions, BatchPaths, list_batches, load_manifest
from .code import git
from .config.certificates import host_certificates
from .config.registry import load_registered
from .config.schema import Config
from .engine import labels
from .errors import NotFound, UsageError
from .home import Home
from .names import image_repository
from .runs.records import list_runs

if TYPE_CHECKING:
    from .engine import Engine

__all__ = [
    "DEMO_CONFIG",
    "DEMO_OPTIONS",
    "DEMO_PROMPTS",
    "DemoRemoved",
    "demo_config_text",
    "demo_repo",
    "prepare_demo",
    "remove_demo",
]

DEMO_CONFIG = "demo"
#: The first line of the config the demo writes: a config of that name without it
#: is the user's, and the demo leaves it alone.
MARK = "# written by `scad demo`; `scad demo --cleanup` removes it\n"
FILES = {
    "README.md": "# greeter\n\nA tiny project the scad demo's agents work on.\n",
    "greeter/__init__.py": "",
    "greeter/core.py": 'def greet(name):\n    return "hello " + name\n',
}

#: Each prompt is a script for the offline model (see the README): the agents make
#: real commits in their own clones, and one meets a rate limit on the way.
DEMO_PROMPTS = [
    BatchPrompt(
        tag="shout",
        prompt=(
            "Add a shout() helper.\nTOKENS: 5200 640\nSLEEP: 1\n"
            "RUN: printf 'def shout(name):\\n    return \"HELLO \" + name.upper()\\n'"
            " > greeter/shout.py && git add -A && git commit -qm 'Add shout()'\n"
            "SAY: Added greeter/shout.py with shout()."
        ),
    ),
    BatchPrompt(
        tag="tests",
        prompt=(
            "Write tests for greet().\nTOKENS: 8100 1250\nSLEEP: 2\n"
            "RUN: mkdir -p tests && printf 'from greeter.core import greet\\n\\n\\n"
            'def test_greet():\\n    assert greet("ada") == "hello ada"\\n\''
            " > tests/test_core.py && git add -A && git commit -qm 'Test greet()'\n"
            'RUN: python3 -c \'from greeter.core import greet; assert greet("ada") == "hello ada"\'\n'
            "SAY: Added tests/test_core.py; the check passes."
        ),
    ),
    BatchPrompt(
        tag="docs",
        prompt=(
            "Document the package.\nTOKENS: 3900 820\nSLEEP: 1\n"
            "RUN: printf '\\n## Use\\n\\n    from greeter.core import greet\\n' >> README.md"
            " && git commit -qam 'Document greet()'\n"
            "SAY: The README shows how to use greet()."
        ),
    ),
    BatchPrompt(
        tag="typed",
        prompt=(
            "Add type hints.\nFAIL: 429 x1\nTOKENS: 6400 900\nSLEEP: 1\n"
            "RUN: printf 'def greet(name: str) -> str:\\n    return \"hello \" + name\\n'"
            " > greeter/core.py && git commit -qam 'Type greet()'\n"
            "SAY: greet() is typed (after one rate limit)."
        ),
    ),
]

DEMO_OPTIONS = BatchOptions(
    parallel=4, timeout=600.0, idle_timeout=180.0, retries=1, backoff=2.0, fetch=True
)


def demo_config_text(repo: Path, model_url: str, certificates: list[str]) -> str:
    """The demo's config: its repo, the offline model, the host's extra CA certificates."""
    certs = f"ca_certificates: [{', '.join(certificates)}]\n" if certificates else ""
    return (
        f"{MARK}name: {DEMO_CONFIG}\n"
        f"repos:\n  code: {{path: {repo}, workdir: true}}\n"
        "network: host\n"
        f"{certs}"
        "claude:\n"
        "  model: claude-sonnet-4-5\n"
        "  dangerously_skip_permissions: true\n"
        f'  env: {{ANTHROPIC_BASE_URL: "{model_url}", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1"}}\n'
    )


def demo_repo(home: Home) -> Path:
    return home.root / "demo" / "repo"


async def prepare_demo(home: Home, model_url: str) -> Config:
    """The demo's repo (made once) and its config, pointing at ``model_url``.

    Refuses when a config named ``demo`` exists that the demo did not write.
    """
    config_file = home.config_file(DEMO_CONFIG)
    if config_file.is_symlink() or (config_file.exists() and not _ours(config_file)):
        raise UsageError(
            f"a config named {DEMO_CONFIG} exists that scad demo did not write ({config_file}); "
            "rename or remove it first"
        )
    repo = demo_repo(home)
    if not (repo / ".git").is_dir():
        await _make_repo(repo)
    # A TLS-intercepting proxy's certificates: the build reaches npm and Debian through it.
    certificates = await anyio.to_thread.run_sync(host_certificates)
    home.configs.mkdir(parents=True, exist_ok=True)
    text = demo_config_text(repo, model_url, certificates)
    await anyio.to_thread.run_sync(config_file.write_text, text)
    return load_registered(home, DEMO_CONFIG)


def _ours(config_file: Path) -> bool:
    with config_file.open() as f:
        return f.readline() == MARK


async def _make_repo(repo: Path) -> None:
    repo.mkdir(parents=True, exist_ok=True)
    await git.git(repo, "init", "--quiet", "--initial-branch", "main")
    for name, text in FILES.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    await git.git(repo, "add", "--all")
    await git.git(
        repo, "-c", "user.name=scad demo", "-c", "user.email=demo@scad.invalid",
        "commit", "--quiet", "--message", "A tiny greeter",
    )  # fmt: skip


class DemoRemoved(msgspec.Struct, frozen=True, kw_only=True):
    runs: list[str]
    batches: list[str]
    images: list[str]
    config: bool


async def remove_demo(engine: Engine, home: Home) -> DemoRemoved:
    """Everything the demo made: its runs (containers, clones, logs), batches,
    images, config and repo; nothing of another config's."""
    from .runs.containers import remove_containers

    config_file = home.config_file(DEMO_CONFIG)
    ours = config_file.is_file() and not config_file.is_symlink() and _ours(config_file)
    if config_file.exists() and not ours:
        raise UsageError(
            f"the config {DEMO_CONFIG} is not the demo's ({config_file}); "
            "nothing removed: clean its sessions with `scad session clean --config demo`"
        )
    runs = [r for r in list_runs(home) if r.config == DEMO_CONFIG]
    for record in runs:
        await remove_containers(engine, home, record)
        await anyio.to_thread.run_sync(shutil.rmtree, home.run_dir(record.run_id), True)
    batches = []
    for batch_id in list_batches(home):
        try:
            manifest = load_manifest(home, batch_id)
        except NotFound:
            continue
        if manifest.config == DEMO_CONFIG:
            batches.append(batch_id)
            await anyio.to_thread.run_sync(shutil.rmtree, BatchPaths(home, batch_id).root, True)
    repository = image_repository(DEMO_CONFIG, labels.home_label(home))
    # Only this home's tags: an image another home tagged too stays, with its tags.
    listed = await engine.images(repository)
    images = [t for i in listed for t in i.tags if t.startswith(f"{repository}:")]
    for reference in images:
        await engine.remove_image(reference)
    if ours:
        config_file.unlink()
    await anyio.to_thread.run_sync(shutil.rmtree, demo_repo(home).parent, True)
    return DemoRemoved(runs=[r.run_id for r in runs], batches=batches, images=images, config=ours)
