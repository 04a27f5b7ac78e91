"""The most a model call may cost, read from its request. Pure.

A ``POST /v1/messages`` names its model and its ``max_tokens``: the API makes (and
bills) no more output than that. The gateway holds this much of a budget while the
call runs, and charges it for an answer that ends without telling its usage.
"""

from __future__ import annotations

import msgspec

from ..runs.pricing import price_of, usage_cost
from ._sse import StreamUsage

__all__ = ["Ceiling", "ceiling_of", "unfinished_cost"]

#: More output than any model writes in one answer: a larger ``max_tokens`` is refused.
_MAX_TOKENS = 1_000_000


class Ceiling(msgspec.Struct, frozen=True):
    model: str | None = None
    max_tokens: int = 0

    @property
    def output_usd(self) -> float:
        """``max_tokens`` at the model's output price (the dearest for an unknown model)."""
        return self.max_tokens * price_of(self.model).output / 1_000_000


class _Request(msgspec.Struct):
    model: str | None = None
    max_tokens: int | None = None


_decode_request = msgspec.json.Decoder(_Request).decode


def ceiling_of(body: bytes) -> Ceiling:
    """The ceiling of a Messages request. One without a readable ``max_tokens`` is
    refused by the API before it makes anything: its ceiling is nothing."""
    try:
        request = _decode_request(body)
    except msgspec.DecodeError:
        return Ceiling()
    max_tokens = min(max(request.max_tokens or 0, 0), _MAX_TOKENS)
    return Ceiling(model=request.model, max_tokens=max_tokens)


def unfinished_cost(ceiling: Ceiling, usage: StreamUsage | None) -> float:
    """What an answer that ended before its final usage is charged: what it told so
    far, its output counted as ``max_tokens`` (the model may have made all of it)."""
    told = usage or StreamUsage()
    return usage_cost(
        told.model or ceiling.model,
        input_tokens=told.input_tokens,
        output_tokens=max(told.output_tokens, ceiling.max_tokens),
        cache_read_tokens=told.cache_read_tokens,
        cache_creation_tokens=told.cache_creation_tokens,
    )
