"""The one place scad runs git.

git runs in two kinds of repository only, never in an agent's clone:

- the user's host repos (:func:`git`), with the user's own configuration; a
  repo another user owns is named safe by its own path, never by ``*``;
- repositories scad made (:func:`store_git`, see :mod:`scad.code.snapshot`), with no
  configuration but the one scad wrote: neither the system's nor the user's.

Variables such as ``GIT_DIR`` or ``GIT_CONFIG_PARAMETERS`` in scad's own
environment are dropped, so nothing outside these arguments steers git.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import IO, TypeVar

import anyio
import msgspec

from ..errors import GitError

__all__ = [
    "branch_tips",
    "checked_out_branches",
    "commits_named",
    "count_commits",
    "current_branch",
    "default_tip",
    "git",
    "git_status",
    "git_status_bounded",
    "heads",
    "host_identity",
    "host_service",
    "is_dirty",
    "is_repository",
    "missing_objects",
    "objects_folder",
    "refs",
    "revisions",
    "store_command",
    "store_environment",
    "store_git",
    "store_git_bounded",
    "store_git_bytes",
    "symbolic_branches",
    "top_level",
    "uncommitted_files",
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
    returncode, stdout, stderr = await _completed(command, env, input)
    if check and returncode != 0:
        message = stderr.decode(errors="replace").strip().splitlines()
        detail = message[-1] if message else f"exit code {returncode}"
        raise GitError(f"git {verb} in {where} failed: {detail}")
    return stdout


T = TypeVar("T")

#: How long a cancelled git has to end on SIGTERM before it is killed.
END_SECONDS = 5.0


async def _completed(
    command: Sequence[str], env: dict[str, str], input: bytes | None
) -> tuple[int, bytes, bytes]:
    """Run ``command`` to its end in worker threads: spawning a process (a fork of a
    big interpreter) and reaping it would otherwise hold the event loop. Cancelled,
    the process is asked to end (SIGTERM: git then removes its lock files, as a
    killed one cannot, and a host branch stays writable), killed if it has not within
    :data:`END_SECONDS`, and reaped before the cancellation goes on."""
    process = await anyio.to_thread.run_sync(_spawn, command, env, input is not None)
    pipes = _Pipes(process)
    try:
        stdout, stderr = await anyio.to_thread.run_sync(
            pipes.talk, partial(process.communicate, input), abandon_on_cancel=True
        )
    except BaseException:
        process.terminate()
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(END_SECONDS):
                await anyio.to_thread.run_sync(process.wait, abandon_on_cancel=True)
            process.kill()
            await anyio.to_thread.run_sync(process.wait)
        pipes.close_unread()
        raise
    return process.returncode, stdout, stderr


class _Pipes:
    """A process's pipes, read to their end by the worker thread that talks to it, or
    closed here when that thread never began: a cancellation can come before a
    worker thread starts, and the pipes would be left open."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        self._taken = threading.Lock()  # by whichever comes first

    def talk(self, read: Callable[[], T]) -> T:
        """``read()`` the process's output, in the worker thread."""
        if not self._taken.acquire(blocking=False):  # the caller was cancelled and has gone
            raise RuntimeError("the process's pipes were closed unread")
        return read()

    def close_unread(self) -> None:
        """Close the pipes when no thread began to read them (one that did closes them
        as its read ends)."""
        if self._taken.acquire(blocking=False):
            for pipe in (self._process.stdin, self._process.stdout, self._process.stderr):
                if pipe is not None:
                    pipe.close()


def _spawn(command: Sequence[str], env: dict[str, str], piped: bool) -> subprocess.Popen[bytes]:
    stdin = subprocess.PIPE if piped else subprocess.DEVNULL
    return subprocess.Popen(
        command, env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


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
    returncode, stdout, _ = await _completed(
        _host_command(repo, args, None), _environment({}), None
    )
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


class Bounded(msgspec.Struct, frozen=True, kw_only=True):
    """What git printed, up to a bound: whole lines only when it was cut."""

    data: bytes
    cut: bool

    @property
    def text(self) -> str:
        return self.data.decode(errors="replace")


async def store_git_bounded(
    store: Path, *args: str, limit: int, line_end: bytes = b"\n"
) -> Bounded:
    """Run git in a repository scad made and keep no more than ``limit`` bytes of what
    it prints (its objects came from an agent: a diff of them can be any size). Past
    the bound git is ended, and what was kept ends at its last whole line (lines end
    at ``line_end``: ``\\0`` for ``-z`` output). Raises
    GitError when git fails before the bound."""
    status, head, detail = await _bounded(
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
    status, head, _ = await _bounded(
        _host_command(repo, args, None), _environment({}), limit, line_end
    )
    return (-1 if head.cut else status), head


async def _bounded(
    command: Sequence[str], env: dict[str, str], limit: int, line_end: bytes
) -> tuple[int, Bounded, str]:
    """Run ``command`` keeping up to ``limit`` bytes of its output: its exit status,
    what was kept, and the last line of its errors."""
    # stderr to a file: a pipe nobody drains while stdout is read could block git.
    with tempfile.TemporaryFile() as err:
        process = await anyio.to_thread.run_sync(_spawn_to, command, env, err)
        pipes = _Pipes(process)
        try:
            head = await anyio.to_thread.run_sync(
                pipes.talk, partial(_read_head, process, limit, line_end), abandon_on_cancel=True
            )
        except BaseException:
            process.kill()
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(process.wait)
            pipes.close_unread()
            raise
        if head.cut or process.returncode == 0:
            return process.returncode, head, ""
        err.seek(0)
        message = err.read(64 << 10).decode(errors="replace").strip().splitlines()
    detail = message[-1] if message else f"exit code {process.returncode}"
    return process.returncode, head, detail


def _spawn_to(
    command: Sequence[str], env: dict[str, str], err: IO[bytes]
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err
    )


def _read_head(process: subprocess.Popen[bytes], limit: int, line_end: bytes) -> Bounded:
    """Up to ``limit`` bytes of the process's output; past them it is killed."""
    assert process.stdout is not None
    with process.stdout:
        data = process.stdout.read(limit + 1)
        cut = len(data) > limit
        if cut:
            process.kill()
            data = data[: data.rfind(line_end, 0, limit) + 1]
    process.wait()
    return Bounded(data=data, cut=cut)


async def is_repository(path: Path) -> bool:
    if not path.is_dir():
        return False
    out = await git(path, "rev-parse", "--is-inside-work-tree", check=False)
    return out.strip() == "true"


async def top_level(path: Path) -> Path | None:
    """The top folder of the host work tree ``path`` is in; None outside any (or in a
    bare repository or a ``.git`` folder)."""
    if not path.is_dir():
        return None
    out = (await git(path, "rev-parse", "--show-toplevel", check=False)).strip()
    return Path(out) if out else None


async def current_branch(repo: Path) -> str:
    """The checked-out branch, or ``(detached)``."""
    out = (await git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)).strip()
    return out or "(detached)"


#: Who a clone's commits are by when the host repo's user has no name or email.
DEFAULT_IDENTITY = ("scad agent", "agent@scad.invalid")


async def host_identity(host_repo: Path) -> tuple[str, str]:
    """The name and email the host repo's user commits as (scad's own when unset)."""
    found = await git(host_repo, "config", "--get-regexp", r"^user\.(name|email)$", check=False)
    values = dict(line.split(" ", 1) for line in found.splitlines() if " " in line)
    return (
        values.get("user.name", "").strip() or DEFAULT_IDENTITY[0],
        values.get("user.email", "").strip() or DEFAULT_IDENTITY[1],
    )


async def is_dirty(repo: Path) -> bool:
    return bool((await git(repo, "status", "--porcelain", "--untracked-files=normal")).strip())


async def uncommitted_files(repo: Path) -> int:
    """How many files of the host work tree ``repo`` differ from its last commit:
    changed, staged or new (not ignored); 0 when git cannot tell."""
    out = await git(
        repo, "--no-optional-locks", "status", "--porcelain", "-z", "--untracked-files=all", "--no-renames",
        "--ignore-submodules=none", check=False,
    )  # fmt: skip
    return out.count("\0")


async def branch_tips(repo: Path) -> dict[str, str]:
    """The host repo's branches (name without ``refs/heads/``) and their commits."""
    return heads(await refs(repo, "refs/heads/"))


async def refs(repo: Path, *patterns: str) -> dict[str, str]:
    """The host repo's refs (full names) and their objects; those under ``patterns``
    when given."""
    out = await git(repo, "for-each-ref", "--format=%(objectname) %(refname)", *patterns)
    return {ref: oid for oid, _, ref in (line.partition(" ") for line in out.splitlines())}


def heads(all_refs: Mapping[str, str]) -> dict[str, str]:
    """The branches among ``all_refs`` (as :func:`refs` gives them), by short name."""
    prefix = "refs/heads/"
    return {
        ref.removeprefix(prefix): oid for ref, oid in all_refs.items() if ref.startswith(prefix)
    }


async def symbolic_branches(repo: Path) -> dict[str, str]:
    """The host repo's branches that are symbolic refs (``master -> main``), by short
    name, with the ref each ends at (git follows a chain to its end). One that names
    a missing ref is not listed: git skips it."""
    out = await git(repo, "for-each-ref", "--format=%(symref) %(refname)", "refs/heads/")
    found = (line.partition(" ") for line in out.splitlines())
    return {ref.removeprefix("refs/heads/"): target for target, _, ref in found if target}


async def checked_out_branches(repo: Path) -> set[str]:
    """Branches checked out in the repo or any of its linked worktrees: updating one
    would leave that working tree out of step with its branch."""
    out = await git(repo, "worktree", "list", "--porcelain")
    return {
        line.removeprefix("branch refs/heads/")
        for line in out.splitlines()
        if line.startswith("branch refs/heads/")
    }


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


async def objects_folder(repo: Path) -> Path:
    """The object folder of a host repo (a linked worktree's is its main repo's)."""
    out = await git(repo, "rev-parse", "--path-format=absolute", "--git-path", "objects")
    return Path(out.strip())


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


async def default_tip(repo: Path) -> str | None:
    """The commit of the branch HEAD names in the host repo, else of ``main`` or
    ``master``; None when there is none (no repository, an unborn branch)."""
    if not await is_repository(repo):
        return None
    head = (await git(repo, "symbolic-ref", "--quiet", "HEAD", check=False)).strip()
    for ref in dict.fromkeys([head, "refs/heads/main", "refs/heads/master"]):
        if ref and (tip := await _commit_of(repo, ref)):
            return tip
    return None


async def _commit_of(repo: Path, ref: str) -> str | None:
    out = await git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    return out.strip() or None
