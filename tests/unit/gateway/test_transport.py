"""A remote run's git and state through the gateway: the real git client against the
transport's handlers served on 127.0.0.1."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import aiohttp
import anyio
import pytest

from scad.code.borrowed import run_lender
from scad.code.clones import unfetched_run_work
from scad.code.diff import diff_run
from scad.code.fetch import fetch_run
from scad.gateway import TransportLimits, enable_transport
from scad.gateway._registry import revoke_run
from scad.gateway._statearchive import MAX_STATE_DEPTH
from scad.runs.records import RunPaths, RunRecord, save_run
from tests.conftest import make_repo

from .transport_support import RUN, Served, new_run, plain_git, pushed_branches, write_state

pytestmark = pytest.mark.anyio

OTHER = "proj-u-Jan01-0000"


def client_env(token: str) -> dict[str, str]:
    """git's client as a run's bootstrap runs it: the token in the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_TERMINAL_PROMPT="0",
        GIT_CONFIG_COUNT="3",
        GIT_CONFIG_KEY_0="http.extraHeader", GIT_CONFIG_VALUE_0=f"Authorization: Bearer {token}",
        GIT_CONFIG_KEY_1="user.name", GIT_CONFIG_VALUE_1="agent",
        GIT_CONFIG_KEY_2="user.email", GIT_CONFIG_VALUE_2="agent@example.invalid",
    )  # fmt: skip
    return env


async def run_git(token: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return await anyio.to_thread.run_sync(
        lambda: subprocess.run(
            ["git", *args], cwd=cwd, env=client_env(token), capture_output=True, text=True
        )
    )


async def cloned(served: Served) -> Path:
    done = await run_git(
        served.token, "clone", "-q", f"{served.url}/scad/git/code.git", "code", cwd=served.work
    )
    assert done.returncode == 0, done.stderr
    clone = served.work / "code"
    await run_git(served.token, "checkout", "-q", "-b", "scad-r", cwd=clone)
    return clone


async def commit(served: Served, clone: Path, name: str, data: bytes) -> str:
    (clone / name).write_bytes(data)
    await run_git(served.token, "add", name, cwd=clone)
    await run_git(served.token, "commit", "-qm", f"add {name}", cwd=clone)
    return (await run_git(served.token, "rev-parse", "HEAD", cwd=clone)).stdout.strip()


async def test_a_run_clones_its_repo_and_pushes_its_branch_home(served: Served) -> None:
    clone = await cloned(served)
    assert (clone / "README.md").read_text() == "hello\n"
    tip = await commit(served, clone, "work.txt", b"done\n")
    done = await run_git(served.token, "push", "-q", "origin", "scad-r", cwd=clone)
    assert done.returncode == 0, done.stderr
    assert await pushed_branches(served) == {"scad-r": tip}
    assert plain_git("-C", str(served.repo), "branch", "--list").split() == [
        "*",
        "main",
    ]  # the host repo was only read


async def test_a_push_sends_only_what_the_host_lacks(served: Served, tmp_path: Path) -> None:
    """The store borrows the host's objects: the host's history is not sent again."""
    for index in range(30):
        (served.repo / f"f{index}").write_bytes(os.urandom(4096))
        plain_git("-C", str(served.repo), "add", "-A")
        plain_git("-C", str(served.repo), "-c", "user.name=t", "-c", "user.email=t@t",
                  "commit", "-qm", f"c{index}")  # fmt: skip
    clone = await cloned(served)
    await commit(served, clone, "work.txt", b"done\n")
    assert (
        await run_git(served.token, "push", "-q", "origin", "scad-r", cwd=clone)
    ).returncode == 0
    store = RunPaths(served.home, RUN).pushed("code")
    sizes = sum(f.stat().st_size for f in (store / "objects").rglob("*") if f.is_file())
    assert sizes < 30 * 4096


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda s: "proj-t-Jan01-0000." + "x" * 43, id="wrong-secret"),
        pytest.param(lambda s: "", id="none"),
        pytest.param(lambda s: s.token.replace(RUN, "proj-z-Jan01-0000"), id="unknown-run"),
    ],
)
async def test_a_wrong_token_is_refused(served: Served, token: Callable[[Served], str]) -> None:
    done = await run_git(
        token(served), "clone", "-q", f"{served.url}/scad/git/code.git", "code", cwd=served.work
    )
    assert done.returncode != 0
    assert "could not read Username" in done.stderr  # git's answer to a 401
    assert not (served.work / "code").exists()


async def test_a_revoked_run_is_refused(served: Served) -> None:
    clone = await cloned(served)
    await commit(served, clone, "work.txt", b"done\n")
    revoke_run(served.home, RUN)
    done = await run_git(served.token, "push", "-q", "origin", "scad-r", cwd=clone)
    assert done.returncode != 0
    assert await pushed_branches(served) == {}


async def test_a_run_reaches_its_own_repos_only(served: Served, tmp_path: Path) -> None:
    other = new_run(served.home, OTHER)
    await enable_transport(served.home, OTHER, {"lib": make_repo(tmp_path / "lib")})
    async with aiohttp.ClientSession() as client:
        for token, repo in ((other, "code"), (served.token, "lib")):
            async with client.get(
                f"{served.url}/scad/git/{repo}.git/info/refs?service=git-upload-pack",
                headers={"Authorization": f"Bearer {token}"},
            ) as answer:
                assert answer.status == 404


async def test_a_run_that_is_not_remote_gets_nothing(served: Served) -> None:
    local = new_run(served.home, OTHER)
    async with aiohttp.ClientSession() as client:
        for path in ("/scad/git/code.git/info/refs?service=git-upload-pack", "/scad/state"):
            async with client.get(
                served.url + path, headers={"Authorization": f"Bearer {local}"}
            ) as answer:
                assert answer.status == 401


@pytest.mark.parametrize(
    "ref",
    [
        pytest.param("refs/tags/v1", id="tag"),
        pytest.param("refs/notes/commits", id="notes"),
        pytest.param("refs/remotes/origin/x", id="remote"),
        pytest.param("HEAD", id="head"),
    ],
)
async def test_only_branches_are_taken(served: Served, ref: str) -> None:
    clone = await cloned(served)
    await commit(served, clone, "work.txt", b"done\n")
    done = await run_git(served.token, "push", "-q", "origin", f"HEAD:{ref}", cwd=clone)
    assert done.returncode != 0
    store = RunPaths(served.home, RUN).pushed("code")
    assert plain_git("--git-dir", str(store), "for-each-ref") == ""


async def test_a_branch_is_never_deleted(served: Served) -> None:
    clone = await cloned(served)
    tip = await commit(served, clone, "work.txt", b"done\n")
    assert (
        await run_git(served.token, "push", "-q", "origin", "scad-r", cwd=clone)
    ).returncode == 0
    done = await run_git(served.token, "push", "-q", "origin", ":scad-r", cwd=clone)
    assert done.returncode != 0
    assert await pushed_branches(served) == {"scad-r": tip}


@pytest.mark.parametrize("limits", [TransportLimits(pushed_branches=3)])
async def test_branches_are_bounded_in_count(served: Served) -> None:
    clone = await cloned(served)
    await commit(served, clone, "work.txt", b"done\n")
    refspecs = [f"HEAD:refs/heads/b{index}" for index in range(4)]
    done = await run_git(served.token, "push", "-q", "origin", *refspecs, cwd=clone)
    assert done.returncode != 0
    assert await pushed_branches(served) == {}


@pytest.mark.parametrize("limits", [TransportLimits(push_bytes=256 << 10)])
async def test_a_huge_pack_is_refused(served: Served) -> None:
    clone = await cloned(served)
    await commit(served, clone, "big.bin", os.urandom(2 << 20))
    done = await run_git(served.token, "push", "-q", "origin", "scad-r", cwd=clone)
    assert done.returncode != 0
    assert await pushed_branches(served) == {}


@pytest.mark.parametrize(
    "limits", [TransportLimits(push_bytes=1 << 20, pushed_store_bytes=3 << 20)]
)
async def test_a_store_stops_growing_at_its_bound(served: Served) -> None:
    """Each push within its bound, again and again (a branch forced over with new
    blobs each time): the store holds what they all sent, up to its own bound."""
    clone = await cloned(served)
    refused = None
    for index in range(8):
        await run_git(served.token, "rm", "-q", "--cached", "--ignore-unmatch", "blob", cwd=clone)
        await run_git(
            served.token, "commit", "-q", "--amend", "--allow-empty", "-m", "x", cwd=clone
        )
        await commit(served, clone, "blob", os.urandom(900 << 10))
        done = await run_git(served.token, "push", "-q", "-f", "origin", "scad-r", cwd=clone)
        if done.returncode != 0:
            refused = index
            break
    assert refused is not None
    store = RunPaths(served.home, RUN).pushed("code")
    held = sum(f.stat().st_size for f in (store / "objects").rglob("*") if f.is_file())
    assert held <= (3 << 20) + (1 << 20)


async def test_a_bad_object_is_refused(served: Served) -> None:
    clone = await cloned(served)
    tree = (await run_git(served.token, "rev-parse", "HEAD^{tree}", cwd=clone)).stdout.strip()
    # A commit with no committer: git's fsck refuses it.
    bad = f"tree {tree}\nauthor a <a@a> 1 +0000\n\nbad\n".encode()
    made = await anyio.to_thread.run_sync(
        lambda: subprocess.run(
            ["git", "hash-object", "--literally", "-t", "commit", "-w", "--stdin"],
            cwd=clone, input=bad, capture_output=True, env=client_env(served.token),
        )
    )  # fmt: skip
    oid = made.stdout.decode().strip()
    await run_git(served.token, "update-ref", "refs/heads/bad", oid, cwd=clone)
    done = await run_git(served.token, "push", "-q", "origin", "bad", cwd=clone)
    assert done.returncode != 0
    assert await pushed_branches(served) == {}


def state_tar(entries: list[tarfile.TarInfo], data: bytes = b"{}") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for info in entries:
            archive.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


def entry(
    name: str, kind: bytes = tarfile.REGTYPE, size: int = 2, link: str = ""
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, size if kind == tarfile.REGTYPE else 0, link
    return info


async def put_state(served: Served, body: bytes) -> int:
    async with aiohttp.ClientSession() as client, client.put(
        served.url + "/scad/state", data=body,
        headers={"Authorization": f"Bearer {served.token}"},
    ) as answer:  # fmt: skip
        return answer.status


async def test_the_state_goes_out_as_a_tar(served: Served) -> None:
    write_state(served.home)
    os.symlink("/etc/passwd", RunPaths(served.home, RUN).claude_dir / "planted")
    async with (
        aiohttp.ClientSession() as client,
        client.get(
            served.url + "/scad/state", headers={"Authorization": f"Bearer {served.token}"}
        ) as answer,
    ):
        assert answer.status == 200
        data = await answer.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        names = {member.name: archive.extractfile(member) for member in archive}
        contents = {n: f.read() for n, f in names.items() if f is not None}
    assert set(names) == {
        "claude",
        "claude/projects",
        "claude/projects/t.jsonl",
        "claude.json",
        "prompt.txt",
    }
    assert contents["prompt.txt"] == b"do it"  # credentials.env stays home


async def test_the_state_comes_back_whole(served: Served) -> None:
    write_state(served.home)
    body = state_tar(
        [entry("claude", tarfile.DIRTYPE), entry("claude/new.json"), entry("claude.json")]
    )
    assert await put_state(served, body) == 200
    paths = RunPaths(served.home, RUN)
    assert sorted(p.name for p in paths.claude_dir.iterdir()) == ["new.json"]
    assert paths.claude_json.read_text() == "{}"
    assert sorted(p.name for p in paths.root.iterdir() if p.name.startswith(".state")) == []


@pytest.mark.parametrize(
    "entries",
    [
        pytest.param([entry("claude/x", tarfile.SYMTYPE, link="/etc/passwd")], id="symlink"),
        pytest.param([entry("claude/x", tarfile.LNKTYPE, link="claude.json")], id="hardlink"),
        pytest.param([entry("claude/../../x")], id="dotdot"),
        pytest.param([entry("/etc/x")], id="absolute"),
        pytest.param([entry("claude/dev", tarfile.CHRTYPE)], id="device"),
        pytest.param([entry("claude/fifo", tarfile.FIFOTYPE)], id="fifo"),
        pytest.param([entry("inputs/prompt.txt")], id="outside-state"),
        pytest.param([entry("claude")], id="claude-as-file"),
        pytest.param([entry(f"claude/f{i}") for i in range(6)], id="too-many-entries"),
        pytest.param([entry("claude/big", size=5000)], id="too-many-bytes"),
        pytest.param([entry("claude/" + "d/" * 8 + "f")], id="folders-made-on-the-way"),
    ],
)
@pytest.mark.parametrize("limits", [TransportLimits(state_entries=5, state_bytes=4096)])
async def test_a_hostile_state_is_refused_and_the_old_one_stays(
    served: Served, entries: list[tarfile.TarInfo]
) -> None:
    write_state(served.home)
    data = b"x" * max(2, *(info.size for info in entries))
    good = [entry("claude/new.json"), entry("claude.json")]
    assert await put_state(served, state_tar([*good[:1], *entries, good[1]], data)) in (413, 422)
    paths = RunPaths(served.home, RUN)
    assert (paths.claude_dir / "projects" / "t.jsonl").read_text() == "old\n"
    assert not (paths.claude_dir / "new.json").exists()
    assert paths.claude_json.read_text() == '{"old": true}'
    assert not (served.home.runs / "x").exists()


async def test_a_state_too_deep_is_refused(served: Served) -> None:
    """Folders in folders past any depth Claude makes: a tree that deep would break
    every recursive walk of the run's folder (its removal included)."""
    write_state(served.home)
    deep = entry("claude/" + "d/" * (MAX_STATE_DEPTH + 1) + "f")
    assert await put_state(served, state_tar([deep, entry("claude.json")])) == 422
    assert not (RunPaths(served.home, RUN).claude_dir / "d").exists()
    at_bound = entry("claude/" + "d/" * (MAX_STATE_DEPTH - 2) + "f")
    assert await put_state(served, state_tar([at_bound, entry("claude.json")])) == 200


async def test_a_cut_upload_leaves_the_old_state(served: Served) -> None:
    write_state(served.home)
    body = state_tar([entry("claude/new.json"), entry("claude.json")])
    assert await put_state(served, body[:700]) == 422
    assert RunPaths(served.home, RUN).claude_json.read_text() == '{"old": true}'


async def test_what_a_run_pushed_is_fetched_diffed_and_counted_as_a_clone_is(
    served: Served,
) -> None:
    clone = await cloned(served)
    tip = await commit(served, clone, "work.txt", b"done\n")
    assert (
        await run_git(served.token, "push", "-q", "origin", "scad-r", cwd=clone)
    ).returncode == 0
    record = RunRecord(run_id=RUN, config="p", tag="t", mode="headless", image="i",
                       branch="scad-r", created="2026-11-27T00:00:00.000Z",
                       repos={"code": str(served.repo)})  # fmt: skip
    save_run(served.home, record)
    paths = RunPaths(served.home, RUN)
    lender = run_lender(served.home, record, "code")
    work = await unfetched_run_work(paths, "code", served.repo, "scad-r", lender=lender)
    assert (work.branches, work.total) == (["scad-r"], 1)
    [diff] = await diff_run(served.home, record, detail=False)
    assert (diff.tip, diff.ahead, diff.problem) == (tip, 1, None)
    fetched = await fetch_run(served.home, record)
    assert fetched.problems == []
    assert plain_git("-C", str(served.repo), "rev-parse", "scad-r").strip() == tip
    assert (
        await unfetched_run_work(paths, "code", served.repo, "scad-r", lender=lender)
    ).total == 0


@pytest.mark.parametrize(
    "limits", [TransportLimits(concurrent=1, stall_seconds=1.0, git_seconds=600.0)]
)
async def test_a_client_that_stops_reading_gives_its_git_up(served: Served, tmp_path: Path) -> None:
    """A run whose fetch never reads its answer holds a git slot only until its answer
    stalls, not for as long as a git may take: the other runs' clones go on."""
    (served.repo / "big.bin").write_bytes(os.urandom(48 << 20))
    plain_git("-C", str(served.repo), "add", "big.bin")
    plain_git("-C", str(served.repo), "-c", "user.name=t", "-c", "user.email=t@t",
              "commit", "-qm", "big")  # fmt: skip
    tip = plain_git("-C", str(served.repo), "rev-parse", "HEAD").strip()
    other = new_run(served.home, OTHER)
    await enable_transport(served.home, OTHER, {"lib": make_repo(tmp_path / "lib")})
    host, port = served.url.removeprefix("http://").split(":")
    pkt = f"want {tip} ofs-delta\n".encode()
    body = f"{len(pkt) + 4:04x}".encode() + pkt + b"00000009done\n"
    head = (
        "POST /scad/git/code.git/git-upload-pack HTTP/1.1\r\nHost: gateway\r\n"
        f"Authorization: Bearer {served.token}\r\n"
        "Content-Type: application/x-git-upload-pack-request\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    async with await anyio.connect_tcp(host, int(port)) as stalled:
        await stalled.send(head + body)
        assert (await stalled.receive(12)).startswith(b"HTTP/1.1 200")  # its git runs
        done = await anyio.to_thread.run_sync(
            lambda: subprocess.run(
                ["git", "clone", "-q", f"{served.url}/scad/git/lib.git", "lib"],
                cwd=served.work, env=client_env(other), capture_output=True, text=True,
                timeout=60,
            )
        )  # fmt: skip
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("limits", [TransportLimits(stall_seconds=1.0)])
async def test_a_request_that_stops_sending_is_dropped(served: Served) -> None:
    """An upload that stops halfway holds its spool, and its run's turn, no longer
    than the stall bound: it is answered and its connection closed."""
    host, port = served.url.removeprefix("http://").split(":")
    head = (
        "PUT /scad/state HTTP/1.1\r\nHost: gateway\r\n"
        f"Authorization: Bearer {served.token}\r\nContent-Length: 100000\r\n\r\n"
    ).encode()
    async with await anyio.connect_tcp(host, int(port)) as stalled:
        await stalled.send(head + b"x" * 100)
        with anyio.fail_after(60):
            answer = await stalled.receive()
    assert answer.startswith(b"HTTP/1.1 408")
