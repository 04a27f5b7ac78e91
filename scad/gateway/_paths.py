"""Which requests the gateway passes on: an allowlist of methods and exact paths.

Everything else a run sends is refused before the host's credential goes near it. A
path is matched in its one canonical spelling: doubled slashes, ``.`` segments and a
trailing slash are spelled away first (as the API would read them), so no other
spelling of a metered path slips past the budget; ``..`` and percent-encoding (no
allowed path needs either) are refused.
"""

from __future__ import annotations

from ..runs.gatewaylog import MODEL_CALL

__all__ = ["FORWARDED", "METERED", "canonical_path"]

#: The calls Claude Code makes of the Messages API, and nothing more.
FORWARDED = frozenset(
    {
        MODEL_CALL,
        ("POST", "/v1/messages/count_tokens"),
        ("GET", "/v1/models"),
    }
)
#: The calls that can cost money: each waits for the run's budget.
METERED = frozenset({MODEL_CALL})


def canonical_path(raw: str) -> str | None:
    """The canonical spelling of ``raw`` (a request target's path, without its query);
    None when it has none the gateway will pass on."""
    if not raw.startswith("/") or "%" in raw or "\\" in raw:
        return None
    segments = [segment for segment in raw.split("/") if segment not in ("", ".")]
    if ".." in segments:
        return None
    return "/" + "/".join(segments)
