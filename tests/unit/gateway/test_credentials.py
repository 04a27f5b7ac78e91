"""One OAuth refresher: however many ask while the login expires, one refresh, written
back where Claude Code keeps it; a login someone else refreshed is used as it is."""

from __future__ import annotations

import json
import os
import socket
import stat
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from scad.errors import CredentialsError
from scad.gateway._credentials import (
    CLIENT_ID,
    Credential,
    OAuthLogin,
    StaticCredential,
    credential_source,
)
from tests.unit.test_locks import is_free

from .oauth_support import NOW, TokenEndpoint, write_login

pytestmark = pytest.mark.anyio

RELOGIN = "run `claude` on the host to log in again"


@pytest.fixture
def credentials(tmp_path: Path) -> Path:
    path = tmp_path / "claude" / ".credentials.json"
    write_login(path, access="access-0", refresh="refresh-0", expires_at=NOW - 1)
    return path


def login(
    path: Path, endpoint: TokenEndpoint, clock: Callable[[], float] = lambda: NOW
) -> OAuthLogin:
    return OAuthLogin(path, token_endpoint=endpoint.url, clock=clock)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


async def test_many_callers_while_it_expires_one_refresh(
    credentials: Path, endpoint: TokenEndpoint
) -> None:
    endpoint.gate = anyio.Event()
    source = login(credentials, endpoint)
    got: list[Credential] = []

    async def ask() -> None:
        got.append(await source.credential())

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(ask)
        await endpoint.received.wait()
        await anyio.wait_all_tasks_blocked()  # every other caller is waiting by now
        endpoint.gate.set()

    assert got == [Credential(kind="oauth", secret="access-1")] * 20
    assert endpoint.bodies == [
        {"grant_type": "refresh_token", "refresh_token": "refresh-0", "client_id": CLIENT_ID,
         "scope": "user:inference user:profile"}
    ]  # fmt: skip
    written = json.loads(credentials.read_text())
    assert written == {
        "claudeAiOauth": {
            "accessToken": "access-1", "refreshToken": "refresh-1",
            "expiresAt": int(NOW * 1000) + 3_600_000, "scopes": ["user:inference", "user:profile"],
            "subscriptionType": "max",
        },
        "mcpOAuth": {"server": {"accessToken": "kept"}},
    }  # fmt: skip
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert leftovers(credentials.parent) == []
    assert not (credentials.parent / ".oauth_refresh.lock").exists()  # claude's lock released


async def test_two_gateways_on_one_login_one_refresh(
    credentials: Path, endpoint: TokenEndpoint
) -> None:
    """Two refreshers (two processes' worth: each its own flock) ask at once."""
    endpoint.gate = anyio.Event()
    first, second = login(credentials, endpoint), login(credentials, endpoint)
    got: dict[str, str] = {}

    async def ask(name: str, source: OAuthLogin) -> None:
        got[name] = (await source.credential()).secret

    async with anyio.create_task_group() as tg:
        tg.start_soon(ask, "first", first)
        tg.start_soon(ask, "second", second)
        await endpoint.received.wait()
        await anyio.wait_all_tasks_blocked()
        endpoint.gate.set()

    assert got == {"first": "access-1", "second": "access-1"}
    assert len(endpoint.bodies) == 1


async def test_a_login_refreshed_elsewhere_is_used_as_it_is(
    credentials: Path, endpoint: TokenEndpoint
) -> None:
    now = [NOW - 7200]
    source = login(credentials, endpoint, clock=lambda: now[0])
    write_login(credentials, access="access-a", refresh="refresh-a", expires_at=NOW - 60)
    assert (await source.credential()).secret == "access-a"  # cached: valid an hour yet

    now[0] = NOW  # it expired; meanwhile claude on the host refreshed the file
    write_login(credentials, access="access-b", refresh="refresh-b", expires_at=NOW + 3600)
    assert (await source.credential()).secret == "access-b"
    assert endpoint.bodies == []


async def test_claude_on_the_host_refreshing_is_waited_for(
    credentials: Path, endpoint: TokenEndpoint
) -> None:
    """Claude Code's own lock folder is held: the refresher waits, then finds the file
    refreshed by its holder and sends nothing."""
    claude_lock = credentials.parent / ".oauth_refresh.lock"
    claude_lock.mkdir()
    source = login(credentials, endpoint)
    got: list[str] = []

    async def ask() -> None:
        got.append((await source.credential()).secret)

    async with anyio.create_task_group() as tg:
        tg.start_soon(ask)
        with anyio.fail_after(10):
            while not _locked(credentials.with_name(".credentials.json.lock")):
                await anyio.sleep(
                    0.01
                )  # the refresher holds the gateways' lock: it waits on claude's
        assert endpoint.bodies == []
        write_login(
            credentials, access="access-host", refresh="refresh-host", expires_at=NOW + 3600
        )
        claude_lock.rmdir()

    assert got == ["access-host"]
    assert endpoint.bodies == []


def _locked(path: Path) -> bool:
    return path.exists() and not is_free(path)


async def test_each_refresh_sends_the_latest_refresh_token(
    credentials: Path, endpoint: TokenEndpoint
) -> None:
    now = [NOW]
    source = login(credentials, endpoint, clock=lambda: now[0])
    assert (await source.credential()).secret == "access-1"
    now[0] = NOW + 3600
    assert (await source.credential()).secret == "access-2"
    assert [b["refresh_token"] for b in endpoint.bodies] == ["refresh-0", "refresh-1"]


async def test_a_token_the_api_rejected_is_renewed_before_it_expires(
    credentials: Path, endpoint: TokenEndpoint
) -> None:
    write_login(credentials, access="access-0", refresh="refresh-0", expires_at=NOW + 3600)
    source = login(credentials, endpoint)
    held = await source.credential()
    assert held.secret == "access-0" and endpoint.bodies == []
    assert (await source.credential(rejected=held)).secret == "access-1"
    assert len(endpoint.bodies) == 1


async def test_a_token_given_after_a_rejection_is_not_renewed_on_its_own_rejection(
    credentials: Path, endpoint: TokenEndpoint
) -> None:
    """Rejected again, the token a rejection gave stays (an API refusing every login
    would rotate it on every call), until it nears its expiry."""
    now = [NOW]
    write_login(credentials, access="access-0", refresh="refresh-0", expires_at=NOW + 3600)
    source = login(credentials, endpoint, clock=lambda: now[0])
    given = await source.credential(rejected=await source.credential())
    assert given.secret == "access-1"
    assert (await source.credential(rejected=given)).secret == "access-1"
    assert len(endpoint.bodies) == 1
    now[0] = NOW + 7200
    assert (await source.credential(rejected=given)).secret == "access-2"


async def test_a_failed_refresh_is_clear_leaves_the_file_and_is_not_repeated(
    credentials: Path, endpoint: TokenEndpoint
) -> None:
    endpoint.status = 400
    before = credentials.read_bytes()
    source = login(credentials, endpoint)
    with pytest.raises(CredentialsError) as failed:
        await source.credential()
    assert str(failed.value) == (
        f"refreshing the Claude login at {endpoint.url} failed (HTTP 400: invalid_grant); {RELOGIN}"
    )
    assert credentials.read_bytes() == before
    assert leftovers(credentials.parent) == []
    # The refresh token may be spent: it is never sent again.
    with pytest.raises(CredentialsError, match="could not be refreshed before; run `claude`"):
        await source.credential()
    assert len(endpoint.bodies) == 1


async def test_an_endpoint_that_does_not_answer_is_clear(credentials: Path) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    source = OAuthLogin(credentials, token_endpoint=f"http://127.0.0.1:{port}/t", clock=lambda: NOW)
    with pytest.raises(CredentialsError, match=rf"^refreshing .* failed: .*; {RELOGIN}$"):
        await source.credential()


def _symlink(path: Path) -> None:
    real = path.with_name("real.json")
    path.rename(real)
    path.symlink_to(real)


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        pytest.param(_symlink, "is a symbolic link; scad refreshes the Claude login only in a regular file", id="symlink"),
        pytest.param(_fifo, f"is not a regular file; {RELOGIN}", id="fifo"),
        pytest.param(_folder, f"is not a regular file; {RELOGIN}", id="folder"),
    ],
)  # fmt: skip
async def test_not_a_regular_file_is_refused(
    credentials: Path, endpoint: TokenEndpoint, make: Callable[[Path], None], problem: str
) -> None:
    make(credentials)
    with pytest.raises(CredentialsError, match=f"^{credentials} {problem}"):
        await login(credentials, endpoint).credential()
    assert endpoint.bodies == []


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("{", id="not-json"),
        pytest.param("[]", id="not-an-object"),
        pytest.param('{"claudeAiOauth": {"accessToken": "a", "expiresAt": 1}}', id="no-refresh-token"),
        pytest.param('{"claudeAiOauth": {"accessToken": "a", "refreshToken": "r", "expiresAt": "soon"}}', id="bad-expiry"),
    ],
)  # fmt: skip
async def test_a_file_without_a_login_is_clear(
    credentials: Path, endpoint: TokenEndpoint, text: str
) -> None:
    credentials.write_text(text)
    with pytest.raises(
        CredentialsError, match=f"^{credentials} holds no Claude OAuth login; {RELOGIN}$"
    ):
        await login(credentials, endpoint).credential()


async def test_sources_in_claude_codes_precedence(tmp_path: Path) -> None:
    home = {"HOME": str(tmp_path)}
    key = credential_source({**home, "ANTHROPIC_API_KEY": "sk-1", "CLAUDE_CODE_OAUTH_TOKEN": "t"})
    assert isinstance(key, StaticCredential)
    assert (await key.credential()).headers() == {"x-api-key": "sk-1"}
    token = credential_source({**home, "CLAUDE_CODE_OAUTH_TOKEN": "t"})
    assert token is not None
    assert (await token.credential(rejected=Credential(kind="oauth", secret="t"))).headers() == {
        "authorization": "Bearer t"
    }
    assert credential_source(home) is None
    write_login(tmp_path / "cfg" / ".credentials.json", access="a", refresh="r", expires_at=NOW)
    assert isinstance(
        credential_source({**home, "CLAUDE_CONFIG_DIR": str(tmp_path / "cfg")}), OAuthLogin
    )
    assert "sk-1" not in repr(await key.credential())
