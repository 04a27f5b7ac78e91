"""What tokens cost, per model: for the spend of a conversation still going. Pure.

A finished conversation's cost is what Claude Code reports in its result; one
still going has only its messages' usage, priced here. Prices are US dollars
per million tokens (Anthropic's list prices); a model this table does not know
is priced as the dearest family, so a budget errs on the side of stopping.
"""

from __future__ import annotations

import msgspec

__all__ = ["Price", "price_of", "usage_ceiling", "usage_cost"]


class Price(msgspec.Struct, frozen=True):
    input: float
    output: float

    @property
    def cache_read(self) -> float:
        return self.input * 0.1

    @property
    def cache_write(self) -> float:
        return self.input * 1.25


#: Model id prefixes, most specific first.
_PRICES: tuple[tuple[str, Price], ...] = (
    ("claude-opus-4-5", Price(5.0, 25.0)),
    ("claude-opus-4-6", Price(5.0, 25.0)),
    ("claude-opus", Price(15.0, 75.0)),
    ("claude-3-opus", Price(15.0, 75.0)),
    ("claude-sonnet", Price(3.0, 15.0)),
    ("claude-3-7-sonnet", Price(3.0, 15.0)),
    ("claude-3-5-sonnet", Price(3.0, 15.0)),
    ("claude-haiku-4", Price(1.0, 5.0)),
    ("claude-3-5-haiku", Price(0.8, 4.0)),
    ("claude-3-haiku", Price(0.25, 1.25)),
)
_DEAREST = Price(15.0, 75.0)


def price_of(model: str | None) -> Price:
    """The price of ``model`` (an id such as ``claude-sonnet-4-5-20250929``)."""
    name = (model or "").lower()
    for prefix, price in _PRICES:
        if name.startswith(prefix):
            return price
    return _DEAREST


def usage_cost(
    model: str | None,
    *,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_creation_tokens: int = 0,
) -> float:
    """US dollars for this much usage of ``model``."""
    return _cost(
        price_of(model), input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens
    )


def usage_ceiling(
    *,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_creation_tokens: int = 0,
) -> float:
    """The most this much usage could cost, whatever the model: at the dearest prices."""
    return _cost(_DEAREST, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens)


def _cost(
    price: Price,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int,
    cache_creation_tokens: int,
) -> float:
    return (
        input_tokens * price.input
        + output_tokens * price.output
        + cache_read_tokens * price.cache_read
        + cache_creation_tokens * price.cache_write
    ) / 1_000_000
