"""The calls the gateway passes on, in their one spelling."""

from __future__ import annotations

import pytest

from scad.gateway._paths import canonical_path


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("/v1/messages", "/v1/messages"),
        ("/v1/messages/", "/v1/messages"),
        ("/v1//messages", "/v1/messages"),
        ("//v1/messages", "/v1/messages"),
        ("/v1/./messages", "/v1/messages"),
        ("/v1/messages/.", "/v1/messages"),
        ("/", "/"),
    ],
)
def test_every_spelling_of_a_path_is_its_canonical_one(raw: str, canonical: str) -> None:
    assert canonical_path(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        "/v1/x/../messages",
        "/v1/%6dessages",
        "/v1/messages%2Fbatches",
        "v1/messages",
        "/v1\\messages",
    ],
)
def test_a_path_that_needs_decoding_or_climbing_has_none(raw: str) -> None:
    assert canonical_path(raw) is None
