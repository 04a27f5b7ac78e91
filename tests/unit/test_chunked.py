"""An HTTP/1.1 answer read off a socket: its head, and its chunked body cut anywhere."""

from __future__ import annotations

import pytest

from scad.engine._http import MAX_SIZE_LINE, ChunkedBody, HttpError, head_of


def chunked(*pieces: bytes, trailer: bytes = b"") -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces)
    return body + b"0\r\n" + trailer + b"\r\n"


BODY = chunked(b"one\n", b"\x01\x00\x00\x00\x00\x00\x00\x04two\n", b"x" * 300)
CONTENT = b"one\n\x01\x00\x00\x00\x00\x00\x00\x04two\n" + b"x" * 300


def decode(*feeds: bytes) -> tuple[bytes, bool]:
    body = ChunkedBody()
    content = b"".join(body.feed(data) for data in feeds)
    return content, body.done


def test_a_body_in_one_read() -> None:
    assert decode(BODY) == (CONTENT, True)


def test_a_body_cut_at_every_byte_boundary() -> None:
    for cut in range(len(BODY) + 1):
        assert decode(BODY[:cut], BODY[cut:]) == (CONTENT, True), cut


def test_a_body_a_byte_at_a_time() -> None:
    assert decode(*(BODY[i : i + 1] for i in range(len(BODY)))) == (CONTENT, True)


def test_extensions_and_trailers_are_skipped() -> None:
    body = b"4;name=value\r\nabcd\r\n0\r\nX-Trailer: 1\r\n\r\n"
    assert decode(body) == (b"abcd", True)


def test_a_body_not_ended_is_not_done() -> None:
    assert decode(BODY[:-2]) == (CONTENT, False)


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\nab\r\n",  # not hex
        b"-4\r\nabcd\r\n",  # a sign
        b"\r\nabcd\r\n",  # no size at all
        b"1" * 40 + b"\r\n",  # past any body
        b"2\r\nabcd\r\n",  # longer than its size
    ],
)
def test_a_malformed_chunk_is_an_error(body: bytes) -> None:
    with pytest.raises(HttpError):
        ChunkedBody().feed(body)


def test_a_size_line_without_end_is_refused_not_buffered() -> None:
    """A chunk-size line that never ends fails at its bound, fed in any pieces."""
    body = ChunkedBody()
    with pytest.raises(HttpError, match="longer than"):
        for _ in range(MAX_SIZE_LINE):
            body.feed(b"0" * 64)
    assert len(body._partial) < MAX_SIZE_LINE + 64


def test_bytes_after_the_end_are_an_error() -> None:
    body = ChunkedBody()
    with pytest.raises(HttpError, match="after the end"):
        body.feed(chunked(b"a") + b"more")
    assert body.done  # the error leaves it where it stopped: at its end


def test_the_head_says_how_the_body_comes() -> None:
    head = head_of(b"HTTP/1.1 200 OK\r\nContent-Type: x\r\nTransfer-Encoding: chunked")
    assert (head.status, head.reason, head.chunked, head.length) == (200, "OK", True, None)
    head = head_of(b"HTTP/1.1 404 Not Found\r\ncontent-length: 42")
    assert (head.status, head.chunked, head.length) == (404, False, 42)


@pytest.mark.parametrize(
    "data",
    [b"SSH-2.0-OpenSSH", b"HTTP/1.1 abc OK", b"HTTP/1.1 200 OK\r\nContent-Length: -1"],
)
def test_a_head_that_is_not_http_is_an_error(data: bytes) -> None:
    with pytest.raises(HttpError):
        head_of(data)
