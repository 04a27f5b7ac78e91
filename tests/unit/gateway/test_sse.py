"""The stream meter: usage read from SSE bytes however they are split."""

from __future__ import annotations

import json

import pytest

from scad.gateway._sse import MAX_LINE, StreamMeter, StreamUsage


def sse(name: str, data: dict[str, object]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


START = sse(
    "message_start",
    {
        "type": "message_start",
        "message": {
            "model": "claude-sonnet-4-5",
            "usage": {
                "input_tokens": 1200,
                "output_tokens": 1,
                "cache_read_input_tokens": 300,
                "cache_creation_input_tokens": 40,
            },
        },
    },
)
TEXT = sse(
    "content_block_delta",
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "héllo"}},
)
DELTA_1 = sse(
    "message_delta", {"type": "message_delta", "delta": {}, "usage": {"output_tokens": 20}}
)
DELTA_2 = sse(
    "message_delta", {"type": "message_delta", "delta": {}, "usage": {"output_tokens": 57}}
)
STOP = sse("message_stop", {"type": "message_stop"})
STREAM = START + b": ping\n\n" + TEXT + DELTA_1 + TEXT + DELTA_2 + STOP
EXPECTED = StreamUsage(
    model="claude-sonnet-4-5",
    input_tokens=1200,
    output_tokens=57,
    cache_read_tokens=300,
    cache_creation_tokens=40,
    stopped=True,
)


def metered(*chunks: bytes) -> StreamUsage:
    meter = StreamMeter()
    for chunk in chunks:
        meter.feed(chunk)
    return meter.usage


def test_the_last_message_delta_counts_not_the_sum() -> None:
    assert metered(STREAM) == EXPECTED


def test_split_at_every_byte_boundary() -> None:
    for cut in range(len(STREAM) + 1):
        assert metered(STREAM[:cut], STREAM[cut:]) == EXPECTED, cut


def test_split_into_single_bytes_and_crlf_lines() -> None:
    crlf = STREAM.replace(b"\n", b"\r\n")
    assert metered(*(crlf[i : i + 1] for i in range(len(crlf)))) == EXPECTED
    for cut in range(len(crlf) + 1):
        assert metered(crlf[:cut], crlf[cut:]) == EXPECTED, cut


def test_a_stream_cut_short_keeps_what_it_said() -> None:
    usage = metered(START + DELTA_1 + DELTA_2[:20])
    assert (usage.input_tokens, usage.output_tokens, usage.stopped) == (1200, 20, False)


def test_a_delta_reporting_input_replaces_it() -> None:
    late = sse(
        "message_delta",
        {"type": "message_delta", "usage": {"input_tokens": 1500, "output_tokens": 9}},
    )
    usage = metered(START + late)
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens) == (1500, 9, 300)


def test_an_error_event_is_kept() -> None:
    error = sse("error", {"type": "error", "error": {"type": "overloaded_error", "message": "x"}})
    assert metered(START + error).error == "overloaded_error"


@pytest.mark.parametrize(
    "noise",
    [
        pytest.param(b"event: message_delta\ndata: {not json\n\n", id="malformed"),
        pytest.param(b"event: message_delta\ndata: [1, 2]\n\n", id="not-an-object"),
        pytest.param(b"event: message_delta\ndata: " + b"[" * 100_000 + b"\n\n", id="deep"),
        pytest.param(
            b'event: message_delta\ndata: {"usage": {"output_tokens": "many"}}\n\n',
            id="typed-wrong",
        ),
        pytest.param(b"data: \xff\xfe\n\n", id="not-utf8"),
    ],
)
def test_noise_changes_nothing(noise: bytes) -> None:
    assert metered(START + noise + DELTA_2 + STOP) == EXPECTED


def test_a_huge_skipped_event_is_not_held() -> None:
    big = sse(
        "content_block_delta", {"type": "content_block_delta", "delta": {"text": "x" * 5_000_000}}
    )
    meter = StreamMeter()
    meter.feed(START)
    for start in range(0, len(big), 4096):
        meter.feed(big[start : start + 4096])
        assert len(meter._pending) <= 64
    meter.feed(DELTA_2 + STOP)
    assert meter.usage == EXPECTED


def test_an_over_long_wanted_line_is_dropped_not_held() -> None:
    line = b"event: message_delta\ndata: " + b" " * (MAX_LINE + 10) + b"\n\n"
    meter = StreamMeter()
    meter.feed(START)
    for start in range(0, len(line), 65536):
        meter.feed(line[start : start + 65536])
        assert len(meter._pending) <= MAX_LINE
    meter.feed(DELTA_2 + STOP)
    assert meter.usage == EXPECTED
