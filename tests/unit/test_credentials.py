from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scad.gateway import oauth_expiry, refresh_token_fingerprint
from scad.sessions.credentials import credentials_env_file, discover_credentials, expiry_warning

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def credentials_file(home: Path, expires: datetime) -> Path:
    path = home / ".claude" / ".credentials.json"
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps(
            {"claudeAiOauth": {"accessToken": "a", "expiresAt": int(expires.timestamp() * 1000)}}
        )
    )
    return path


def test_precedence(tmp_path: Path) -> None:
    credentials_file(tmp_path, NOW)
    env = {"HOME": str(tmp_path), "ANTHROPIC_API_KEY": "k", "CLAUDE_CODE_OAUTH_TOKEN": "t"}
    assert discover_credentials(env).method == "api-key"  # type: ignore[union-attr]
    assert discover_credentials({**env, "ANTHROPIC_API_KEY": ""}).method == "oauth-token"  # type: ignore[union-attr]
    found = discover_credentials({"HOME": str(tmp_path)})
    assert found is not None and found.method == "credentials-file" and found.expires_at == NOW
    assert discover_credentials({"HOME": str(tmp_path / "nobody")}) is None


def test_secrets_are_not_in_repr() -> None:
    found = discover_credentials({"ANTHROPIC_API_KEY": "sk-secret-value"})
    assert "sk-secret-value" not in repr(found)


def test_expiry_warnings(tmp_path: Path) -> None:
    path = credentials_file(tmp_path, NOW + timedelta(minutes=45))
    found = discover_credentials({"HOME": str(tmp_path)})
    assert expiry_warning(found, NOW) == (
        f"the Claude OAuth credentials in {path} expire in 0 h 45 min; running sessions will stop working then"
    )
    assert expiry_warning(found, NOW + timedelta(hours=1)) == (
        f"the Claude OAuth credentials in {path} have expired; run `claude` on the host to log in again"
    )
    assert expiry_warning(found, NOW - timedelta(days=1)) is None
    assert expiry_warning(discover_credentials({"ANTHROPIC_API_KEY": "k"}), NOW) is None


def test_env_file_quotes_for_the_shell() -> None:
    found = discover_credentials({"ANTHROPIC_API_KEY": "a'b $c"})
    assert credentials_env_file(found) == "ANTHROPIC_API_KEY='a'\"'\"'b $c'\n"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{", id="malformed"),
        pytest.param(b'{"claudeAiOauth": "x"}', id="wrong-shape"),
        pytest.param(b'{"claudeAiOauth": {"expiresAt": "soon"}}', id="wrong-type"),
        pytest.param(b'{"claudeAiOauth": {"expiresAt": 1e300}}', id="out-of-range"),
    ],
)
def test_unreadable_credentials_have_no_expiry_or_fingerprint(data: bytes) -> None:
    assert oauth_expiry(data) is None
    assert refresh_token_fingerprint(data) is None


def test_a_fingerprint_tells_shared_refresh_tokens_apart_without_showing_them() -> None:
    def creds(token: str) -> bytes:
        return json.dumps({"claudeAiOauth": {"refreshToken": token, "expiresAt": 5}}).encode()

    first = refresh_token_fingerprint(creds("secret-one"))
    assert first == refresh_token_fingerprint(creds("secret-one"))
    assert first != refresh_token_fingerprint(creds("secret-two"))
    assert first is not None and "secret" not in first
    assert oauth_expiry(creds("x")) == datetime.fromtimestamp(0.005, tz=UTC)
