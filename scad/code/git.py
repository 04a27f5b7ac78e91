"""The one place scad runs git.

git runs in two kinds of repository only, never in an agent's clone:

- the user's host repos (:func:`git`), with the user's own configuration; a
  repo another user owns is named safe by its own path, never by ``*``;
- repositories scad made (:func:`store_git`, see :mod:`scad.code.snapshot`), with no
  configuration but the one scad wrote: neither the system's nor the user's.

Variables such as ``GIT_DIR`` or ``GIT_CONFIG_PARAMETERS`` in scad's own
environment are dropped, so nothing outside these arguments steers git. The
process itself (off the event loop, ended when cancelled) is :mod:`._process`'s.
Beside the runners, the questions asked of a store: the commits tips reach or
name, and the objects a host repo lacks; those asked of a host repo are
:mod:`.hostrepo`'s.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ..errors import GitError
from ._process import Bounded, bounded, completed

__all__ = [
    "commits_named",
    "count_commits",
    "git",
    "git_status",
    "git_status_bounded",
    "host_service",
    "missing_objects",
    "revisions",
    "store_command",
    "store_environment",
    "store_git",
    "store_git_bounded",
    "store_git_bytes",
]


def _environment(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_NO_REPLACE_OBJECTS="1", LC_ALL="C", **extra)
    return env


def store_environment() -> dict[str, str]:
    """The environment of git in a repository scad made: its own config and nothing else."""
    return _environment(
        {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "HOME": os.devnull}
    )


async def _run(
    command: Sequence[str],
    verb: str,
    *,
    env: dict[str, str],
    where: Path,
    input: bytes | None,
    check: bool,
) -> str:
    return (await _run_bytes(command, verb, env=env, where=where, input=input, check=check)).decode(
        errors="replace"
    )


async def _run_bytes(
    command: Sequence[str],
    verb: str,
    *,
    env: dict[str, str],
    where: Path,
    input: bytes | None,
    check: bool,
) -> bytes:
    returncode, stdout, stderr = await completed(command, env, input)
    if check and returncode != 0:
        message = stderr.decode(errors="replace").strip().splitlines()
        detail = message[-1] if message else f"exit code {returncode}"
        raise GitError(f"git {verb} in {where} failed: {detail}")
    return stdout


async def git(
    repo: Path,
    *args: str,
    check: bool = True,
    input: bytes | None = None,
    config: Mapping[str, str] | None = None,
) -> str:
    """Run ``git -C repo args`` in a host repo (``input`` on stdin, ``config`` as
    ``-c`` settings); raises GitError."""
    return await _run(
        _host_command(repo, args, config), args[0], env=_environment({}), where=repo, input=input,
        check=check,
    )  # fmt: skip


def _host_command(repo: Path, args: Sequence[str], config: Mapping[str, str] | None) -> list[str]:
    # As root, git refuses a repo another user owns; this one the user named in a config.
    settings = {"safe.directory": os.path.realpath(repo), **(config or {})}
    options = [part for key, value in settings.items() for part in ("-c", f"{key}={value}")]
    return ["git", *options, "-C", str(repo), *args]


#: What git may not do in a host repo it serves to a remote run: run a hook or ask a
#: file-system monitor.
_SERVING = {"core.hooksPath": os.devnull, "core.fsmonitor": "false"}


def host_service(repo: Path, service: str, *, advertise: bool) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of ``git <service> --stateless-rpc`` (the
    ``upload-pack`` of git's smart HTTP; ``advertise``: its list of refs) serving the
    host repo ``repo``: the user's configuration, with hooks and the monitor off."""
    args = [service, "--stateless-rpc", *(["--advertise-refs"] if advertise else []), "."]
    return _host_command(repo, args, _SERVING), _environment({})


async def git_status(repo: Path, *args: str) -> tuple[int, str]:
    """Run ``git -C repo args`` in a host repo: its exit status and its output, for
    commands whose status is an answer (``merge-tree``: 1 is a conflict)."""
    returncode, stdout, _ = await completed(_host_command(repo, args, None), _environment({}), None)
    return returncode, stdout.decode(errors="replace")


#: Bounds on git in a store: its objects came from an agent, and a pack of a few
#: kilobytes can inflate to gigabytes or keep a core busy for minutes.
STORE_MEMORY_KIB = 4 << 20
STORE_CPU_SECONDS = 300


def store_command(store: Path, *args: str) -> list[str]:
    """The command line of git in a repository scad made, within bounds."""
    bounds = f'ulimit -v {STORE_MEMORY_KIB} && ulimit -t {STORE_CPU_SECONDS} && exec "$@"'
    return ["sh", "-c", bounds, "git", "git", "--git-dir", str(store), *args]


async def store_git(
    store: Path, *args: str, input: bytes | None = None, index: Path | None = None
) -> str:
    """Run git in a repository scad made (``--git-dir store``), with ``index`` as its
    index file when given; raises GitError. Its output is read as UTF-8 (what is not
    is replaced): file names that are written back want :func:`store_git_bytes`."""
    return (await store_git_bytes(store, *args, input=input, index=index)).decode(errors="replace")


async def store_git_bytes(
    store: Path, *args: str, input: bytes | None = None, index: Path | None = None
) -> bytes:
    """:func:`store_git`, its output as git wrote it: a file's name is bytes, and
    not always UTF-8."""
    command = store_command(store, *args)
    env = store_environment()
    if index is not None:
        env["GIT_INDEX_FILE"] = str(index)
    return await _run_bytes(command, args[0], env=env, where=store, input=input, check=True)


async def store_git_bounded(
    store: Path, *args: str, limit: int, line_end: bytes = b"\n"
) -> Bounded:
    """Run git in a repository scad made and keep no more than ``limit`` bytes of what
    it prints (its objects came from an agent: a diff of them can be any size). Past
    the bound git is ended, and what was kept ends at its last whole line (lines end
    at ``line_end``: ``\\0`` for ``-z`` output). Raises
    GitError when git fails before the bound."""
    status, head, detail = await bounded(
        store_command(store, *args), store_environment(), limit, line_end
    )
    if head.cut or status == 0:
        return head
    raise GitError(f"git {args[0]} in {store} failed: {detail}")


async def git_status_bounded(
    repo: Path, *args: str, limit: int, line_end: bytes = b"\n"
) -> tuple[int, Bounded]:
    """:func:`git_status` keeping no more than ``limit`` bytes of what git prints (it
    names what a run's commits hold: any number of files). Past the bound git is
    ended and the status is -1."""
    status, head, _ = await bounded(
        _host_command(repo, args, None), _environment({}), limit, line_end
    )
    return (-1 if head.cut else status), head


def revisions(tips: Iterable[str], excluded: Iterable[str] = ()) -> bytes:
    """``--stdin`` input for rev-list and friends: what ``tips`` reach but ``excluded`` do not."""
    return "".join([*(f"{t}\n" for t in set(tips)), *(f"^{e}\n" for e in set(excluded))]).encode()


async def count_commits(store: Path, tips: Iterable[str], excluded: Iterable[str] = ()) -> int:
    """How many commits ``tips`` reach that none of ``excluded`` does, in a store."""
    out = await store_git(store, "rev-list", "--count", "--stdin", input=revisions(tips, excluded))
    return int(out.strip() or 0)


async def commits_named(store: Path, oids: Iterable[str], *, all_there: bool = False) -> list[str]:
    """The commits ``oids`` name in a store (an annotated tag peeled to its commit);
    ids of other objects are left out, and so are ids of none the store has, unless
    ``all_there``: then such an id raises (work scad cannot see is not no work)."""
    oids = list(oids)
    wanted = "".join(f"{oid}\n" for oid in oids).encode()
    if not wanted:
        return []
    if all_there and (out := await store_git(store, "cat-file", "--batch-check", input=wanted)):
        missing = [line.split()[0] for line in out.splitlines() if line.endswith(" missing")]
        if missing:
            raise GitError(
                f"{len(missing)} commit(s) its refs or reflogs name are not among the objects "
                f"scad could read (first: {missing[0][:12]})"
            )
    peeled = "".join(f"{oid}^{{commit}}\n" for oid in oids).encode()
    out = await store_git(
        store, "cat-file", "--batch-check=%(objectname) %(objecttype)", input=peeled
    )
    return [line.split()[0] for line in out.splitlines() if line.endswith(" commit")]


async def missing_objects(store: Path, objects: Path, oids: Iterable[str]) -> set[str]:
    """Which of ``oids`` the object folder ``objects`` (a host repo's, through its own
    alternates) lacks. git runs as in the store, with the store's configuration:
    nothing of the host's (a promisor remote, say) is consulted."""
    wanted = "".join(f"{oid}\n" for oid in oids).encode()
    if not wanted:
        return set()
    env = store_environment() | {"GIT_OBJECT_DIRECTORY": str(objects)}
    command = store_command(store, "cat-file", "--batch-check=%(objectname)")
    out = await _run(command, "cat-file", env=env, where=objects, input=wanted, check=True)
    return {line.split()[0] for line in out.splitlines() if line.endswith(" missing")}
