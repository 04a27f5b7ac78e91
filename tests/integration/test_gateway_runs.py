"""Sessions through the home's gateway, with the real engine, the real Claude Code and the
offline model behind the gateway: a container holds its run's token and nothing of the
host's credential, the model sees only the host's, and the gateway measures what it
answered."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from scad.gateway import events_path, gateway_usage, load_registration
from scad.home import Home
from tests.integration.test_gateway import RecordingModel, recording_model

from .conftest import project_config, session_settings
from .sessions_support import GATE, Project, open_gate, pane, run, wait_for_exit, wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.claude]

SECRET = "host-SECRET-never-in-a-run-5c1f"


@pytest.fixture
async def model(project: Project) -> AsyncIterator[RecordingModel]:
    """The offline model, noting what credential reached it, as the config's upstream."""
    async with recording_model() as recording:
        config = project.home / "configs" / "scadtest.yml"
        config.write_text(project_config("scadtest", project.repo, session_settings(recording.url)))
        yield recording


def host_credential(project: Project, kind: str) -> str:
    """Give the host a secret credential of ``kind``; what the model should see."""
    if kind == "api-key":
        project.env["ANTHROPIC_API_KEY"] = f"sk-ant-{SECRET}"
        return f"sk-ant-{SECRET}"
    project.env.pop("ANTHROPIC_API_KEY")
    login = project.root / "host-home" / ".claude" / ".credentials.json"
    login.parent.mkdir(parents=True)
    login.write_text(json.dumps({"claudeAiOauth": {
        "accessToken": f"at-{SECRET}", "refreshToken": f"rt-{SECRET}",
        "expiresAt": 4_000_000_000_000, "scopes": ["user:inference"],
    }}))  # fmt: skip
    login.chmod(0o600)
    return f"Bearer at-{SECRET}"


async def in_container(run_id: str, script: str) -> str:
    return (await run("docker", "exec", f"scad-{run_id}", "sh", "-c", script, check=False)).stdout


@pytest.mark.parametrize("kind", ["api-key", "oauth-login"])
async def test_runs_reach_the_model_through_the_gateway_holding_no_host_secret(
    project: Project, model: RecordingModel, kind: str
) -> None:
    seen_by_model = host_credential(project, kind)
    # Interactive: Claude starts with no screen to answer, and the run is kept going
    # at its gate while everything the container can read is searched.
    run_id = await project.start("--tag", "tty", "--prompt", f"{GATE}\nSAY: gated")
    token = load_registration(Home(project.home), run_id)
    assert token is not None and token.secret is not None
    await wait_until(lambda: (project.clone(run_id) / ".git").exists())
    await wait_until(lambda: model.requests >= 1, timeout=90)
    found = await in_container(
        run_id, f"grep -rlsF --exclude-dir=proc --exclude-dir=sys '{SECRET}' / ; echo end"
    )
    assert found.strip() == "end", found
    environ = await in_container(run_id, "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'")
    assert SECRET not in environ
    assert f"ANTHROPIC_AUTH_TOKEN={token.token}" in environ.splitlines()
    inspect = (await run("docker", "inspect", f"scad-{run_id}")).stdout
    assert SECRET not in inspect and token.secret not in inspect
    open_gate(project, run_id)
    await wait_until(lambda: _pane_has(run_id, "gated"), timeout=90)

    # Headless: usage as the gateway measured it is what the model answered.
    headless = await project.start(
        "--tag", "head", "--headless", "--prompt", "TOKENS: 1234 56\nRUN: echo hi\nSAY: done"
    )
    assert (await wait_for_exit(headless))["ExitCode"] == 0
    await project.scad("session", "logs", headless)  # its log caught up
    result = [e["data"] for e in project.envelopes(headless) if e["src"] == "claude"][-1]
    assert result["type"] == "result" and result["result"] == "done"
    usage = gateway_usage([events_path(Home(project.home), headless)])
    assert (usage.input_tokens, usage.output_tokens) == (2 * 1234, 2 * 56)
    assert (usage.input_tokens, usage.output_tokens) == (
        result["usage"]["input_tokens"], result["usage"]["output_tokens"],
    )  # fmt: skip
    assert set(model.credentials) == {seen_by_model}

    refresh = await project.scad("code", "refresh", headless)
    assert "nothing to refresh" in refresh.stdout
    await project.scad("session", "clean", run_id, "--force")
    revoked = load_registration(Home(project.home), run_id)
    assert revoked is not None and revoked.secret is None


async def _pane_has(run_id: str, text: str) -> bool:
    return text in await pane(run_id)
