"""Who may use the web view: the printed token once, then its cookie; POSTs from its
own pages only; its own host name only; and the headers every response carries."""

from __future__ import annotations

import aiohttp
import anyio
import pytest

from scad.home import Home
from scad.runs.records import load_run
from scad.ui import Serving
from tests.fakes import FakeEngine
from tests.unit.ui.conftest import BATCH, RUN, log_in, origin

pytestmark = pytest.mark.anyio

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
REFRESH_TO_INDEX = '<meta http-equiv="refresh" content="0; url=/">'
PATHS = [
    "/",
    "/index.json",
    f"/run/{RUN}",
    f"/run/{RUN}/events",
    f"/batch/{BATCH}",
    f"/batch/{BATCH}/view.json",
    "/static/ui.js",
    "/no-such-page",
]


async def test_the_token_becomes_a_strict_http_only_cookie_and_leaves_the_address(
    serving: Serving, http: aiohttp.ClientSession
) -> None:
    async with http.get(serving.url, allow_redirects=False) as response:
        # A page, not a redirect: a browser sent here from a file (``--open``) is on a
        # cross-site navigation, and would not send a strict cookie on a redirect's
        # follow-up; the page's own refresh is same-site.
        assert response.status == 200
        assert "Location" not in response.headers
        assert response.headers["Cache-Control"] == "no-store"
        page = await response.text()
        cookie = response.cookies[serving.bound.cookie]
        assert cookie["httponly"] is True and cookie["samesite"] == "Strict"
        assert cookie["path"] == "/"
    assert REFRESH_TO_INDEX in page
    assert "<script" not in page and "token" not in page
    async with http.get(f"{serving.bound.origin}/") as response:
        assert response.status == 200


@pytest.mark.parametrize(
    "path", ["//evil.example/", "/\\evil.example/", "/run/x?a=%22%3E%3Cscript%3E"]
)
async def test_the_token_page_refreshes_to_the_index_whatever_its_address(
    serving: Serving, http: aiohttp.ClientSession, path: str
) -> None:
    token = serving.url.split("?token=", 1)[1]
    separator = "&" if "?" in path else "?"
    url = f"{serving.bound.origin}{path}{separator}token={token}"
    async with http.get(url, allow_redirects=False) as response:
        assert response.status == 200
        page = await response.text()
    assert REFRESH_TO_INDEX in page and "evil" not in page and "script" not in page


@pytest.mark.parametrize("path", PATHS)
async def test_without_the_token_or_its_cookie_everything_is_forbidden(
    serving: Serving, http: aiohttp.ClientSession, path: str
) -> None:
    async with http.get(serving.bound.origin + path) as response:
        assert response.status == 403
    async with http.get(serving.bound.origin + path + "?token=guessed") as response:
        assert response.status == 403
    async with http.get(serving.bound.origin + "/", cookies={serving.bound.cookie: "x"}) as answer:
        assert answer.status == 403


@pytest.mark.parametrize("path", [*PATHS, "/static/ui.css"])
async def test_every_response_carries_the_security_headers(
    serving: Serving, http: aiohttp.ClientSession, path: str
) -> None:
    async with http.get(serving.bound.origin + path) as refused:
        assert refused.headers.items() >= SECURITY_HEADERS.items()
    async with http.get(serving.url, allow_redirects=False) as token_page:
        assert token_page.headers.items() >= SECURITY_HEADERS.items()
    await log_in(http, serving)
    async with http.get(serving.bound.origin + path) as response:
        assert response.status in (200, 404)
        assert response.headers.items() >= SECURITY_HEADERS.items()
    async with http.post(f"{serving.bound.origin}/run/{RUN}/stop") as refused_post:
        assert refused_post.status == 403
        assert refused_post.headers.items() >= SECURITY_HEADERS.items()


async def running(engine: FakeEngine, home: Home) -> bool:
    container_id = load_run(home, RUN).container_id
    assert container_id is not None
    state = await engine.inspect(container_id)
    return state is not None and state.running


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda s, csrf: origin(s), id="no-csrf-header"),
        pytest.param(lambda s, csrf: {"X-Scad-Csrf": "guessed", **origin(s)}, id="wrong-csrf"),
        pytest.param(
            lambda s, csrf: {"X-Scad-Csrf": csrf, "Origin": "http://evil.example"},
            id="foreign-origin",
        ),
        pytest.param(
            lambda s, csrf: {"X-Scad-Csrf": csrf, "Referer": "http://evil.example/x"},
            id="foreign-referer",
        ),
        pytest.param(lambda s, csrf: {"X-Scad-Csrf": csrf}, id="no-origin-nor-referer"),
        pytest.param(
            lambda s, csrf: {"X-Scad-Csrf": csrf, **origin(s), "Host": "evil.example"},
            id="rebound-host",
        ),
        pytest.param(
            lambda s, csrf: {"X-Scad-Csrf": csrf, **origin(s), "Host": f"localhost:{s.bound.port}"},
            id="another-name-for-the-host",
        ),
    ],
)
async def test_an_action_from_elsewhere_is_refused_and_changes_nothing(
    serving: Serving, http: aiohttp.ClientSession, engine: FakeEngine, home: Home, headers: object
) -> None:
    csrf = await log_in(http, serving)
    given = headers(serving, csrf)  # type: ignore[operator]
    async with http.post(f"{serving.bound.origin}/run/{RUN}/stop", headers=given) as response:
        assert response.status == 403
    assert await running(engine, home)
    # The same request with the page's token, from its own origin, is heard.
    own = {"X-Scad-Csrf": csrf, **origin(serving)}
    async with http.post(f"{serving.bound.origin}/run/{RUN}/stop", headers=own) as response:
        assert response.status == 200
    assert not await running(engine, home)


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:{port}",
        "127.0.0.1:{port}.",
        "127.000.000.001:{port}",
        "[::1]:{port}",
        "[::ffff:127.0.0.1]:{port}",
        "127.0.0.1",
        "127.0.0.1:{port}:{port}",
    ],
)
async def test_a_page_from_a_rebound_host_name_is_refused(
    serving: Serving, http: aiohttp.ClientSession, host: str
) -> None:
    await log_in(http, serving)
    rebound = {"Host": host.format(port=serving.bound.port)}
    async with http.get(f"{serving.bound.origin}/", headers=rebound) as response:
        assert response.status == 403


async def test_an_action_is_a_post_only(serving: Serving, http: aiohttp.ClientSession) -> None:
    await log_in(http, serving)
    async with http.get(f"{serving.bound.origin}/run/{RUN}/stop") as response:
        assert response.status == 405


async def answer_status(serving: Serving, request: bytes) -> bytes:
    """The status line the server answers ``request`` (raw bytes, as any local
    process may send them) with."""
    async with await anyio.connect_tcp("127.0.0.1", serving.bound.port) as stream:
        await stream.send(request)
        received = b""
        with anyio.fail_after(10):
            while b"\r\n" not in received:
                received += await stream.receive()
    return received.split(b"\r\n")[0]


@pytest.mark.parametrize(
    "header",
    [b"X-Scad-Csrf: \xff\xfe", b"X-Scad-Csrf: \xed\xa0\x80", b"Origin: http://\xff"],
    ids=["csrf-not-utf8", "csrf-surrogate", "origin-not-utf8"],
)
async def test_a_header_of_bytes_that_are_not_text_is_refused_not_an_error(
    serving: Serving, http: aiohttp.ClientSession, engine: FakeEngine, home: Home, header: bytes
) -> None:
    await log_in(http, serving)
    (cookie,) = http.cookie_jar
    netloc = serving.bound.netloc.encode()
    request = (
        b"POST /run/%s/stop HTTP/1.1\r\nHost: %s\r\nCookie: %s=%s\r\nOrigin: http://%s\r\n"
        b"%s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    ) % (RUN.encode(), netloc, cookie.key.encode(), cookie.value.encode(), netloc, header)
    assert await answer_status(serving, request) == b"HTTP/1.1 403 Forbidden"
    assert await running(engine, home)
