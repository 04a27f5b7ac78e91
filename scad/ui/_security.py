"""Who may use the web view, and what a page may do: the token in the printed URL
and the cookie it becomes, the checks that keep other sites and other host names
out, and the headers every response carries."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

__all__ = [
    "CSRF_HEADER",
    "HEADERS",
    "Bound",
    "Secrets",
    "guard",
    "set_headers",
]

#: Scripts and styles from the server's own files only: nothing inline, nothing an
#: agent's text could inject, nothing from the network.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
#: What the token's request is answered with, beside its cookie: a refresh to the
#: index (no script: the CSP allows none inline).
COOKIE_PAGE = (
    '<!doctype html>\n<meta charset="utf-8">\n<meta http-equiv="refresh" content="0; url=/">\n'
    '<title>scad ui</title>\n<p><a href="/">Open the web view</a></p>\n'
)
#: The header a page's script sends its server's CSRF token in, for every POST.
CSRF_HEADER = "X-Scad-Csrf"
#: What a page's methods may be: POST changes something, the others only read.
READING = frozenset({"GET", "HEAD"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Secrets:
    """One server's random values: the token its URL carries, the session its cookie
    holds, and the token its pages send with each action."""

    token: str
    session: str
    csrf: str

    @classmethod
    def create(cls) -> Secrets:
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(32))


@dataclass(frozen=True)
class Bound:
    """Where the server listens: the only ``Host`` it answers and its pages' origin."""

    host: str
    port: int

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def origin(self) -> str:
        return f"http://{self.netloc}"

    @property
    def cookie(self) -> str:
        """The cookie's name: cookies are shared by every port of a host, so each
        server's is its own."""
        return f"scad-ui-{self.port}"


def _same(given: str | None, expected: str) -> bool:
    # A header's bytes that were not UTF-8 arrive as lone surrogates: replaced, they
    # are ``?``, which no token holds.
    return given is not None and secrets.compare_digest(
        given.encode(errors="replace"), expected.encode()
    )


def _forbidden(why: str) -> web.HTTPForbidden:
    return web.HTTPForbidden(text=f"forbidden: {why}\n")


def _from_own_origin(request: web.Request, bound: Bound) -> bool:
    """A POST's ``Origin`` (else its ``Referer``) is the server's own; one with
    neither is refused."""
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin == bound.origin
    referer = request.headers.get("Referer")
    if referer is None:
        return False
    parts = urlsplit(referer)
    return f"{parts.scheme}://{parts.netloc}" == bound.origin


def guard(secrets_: Secrets, bound: Bound) -> Middleware:
    """The middleware every request passes: the right ``Host`` (a rebound DNS name is
    another host), then the token (once, turned into the cookie) or the cookie, then
    for a POST its origin and CSRF token."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.headers.get("Host") != bound.netloc:
            raise _forbidden("unknown host")
        token = request.query.get("token")
        if token is not None and request.method in READING:
            if not _same(token, secrets_.token):
                raise _forbidden("wrong token")
            # The token leaves the address bar (and the history) for the cookie. A
            # page, not a redirect: a browser sent here from a file (``scad ui --open``)
            # is on a cross-site navigation, and would not send a strict cookie on a
            # redirect's follow-up; the page's own refresh is same-site. It always
            # goes to the index: no address taken from the request, none elsewhere.
            response = web.Response(text=COOKIE_PAGE, content_type="text/html")
            response.headers["Cache-Control"] = "no-store"
            response.set_cookie(
                bound.cookie, secrets_.session, httponly=True, samesite="Strict", path="/"
            )
            return response
        if not _same(request.cookies.get(bound.cookie), secrets_.session):
            raise _forbidden("open the address `scad ui` printed")
        if request.method not in READING:
            if not _from_own_origin(request, bound):
                raise _forbidden("from another origin")
            if not _same(request.headers.get(CSRF_HEADER), secrets_.csrf):
                raise _forbidden("no CSRF token")
        return await handler(request)

    return middleware


async def set_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every response's security headers, errors and static files included."""
    response.headers.update(HEADERS)
