"""How an interactive session says it waits for its user.

Claude Code's own ``Notification`` hook, not its screen: Claude Code 2.1.332 (measured
with the real binary against the offline model) runs the hooks of
``hooks.Notification`` whose ``matcher`` is ``idle_prompt`` once its prompt has waited
``messageIdleNotifThresholdMs`` (``~/.claude.json``; 60 s when unset), with a small JSON
payload on stdin (``notification_type: "idle_prompt"``). Reading the tmux screen
instead would mean polling every session's pane and guessing at a drawing that changes
with every release.

The hook runs in the container, so everything about it is the agent's to forge: it
carries nothing but the run's own gateway token to the one host endpoint a run talks
to, the gateway (:data:`IDLE_PATH`), which takes it to mean only "this run says it is
idle", bounds how often it listens, and has the host build and deliver the notice. The
payload Claude Code hands the hook is never read. Node is in every scad image, and its
``http`` module ignores the proxy variables a fenced run has: the gateway is reached
directly.
"""

from __future__ import annotations

from typing import Any

__all__ = ["IDLE_PATH", "IDLE_SCRIPT", "idle_hook_settings"]

#: The gateway's endpoint for "this run waits for its user" (POST, the run's token).
IDLE_PATH = "/scad/idle"

#: The hook's command: one POST to the gateway with the run's token, at most 5 s, its
#: answer and any error ignored (a notice is never worth failing Claude's turn over).
IDLE_SCRIPT = (
    "node -e 'const e=process.env,u=new URL(e.ANTHROPIC_BASE_URL+\""
    + IDLE_PATH
    + '");const r=require(u.protocol==="https:"?"https":"http").request(u,'
    '{method:"POST",timeout:5000,headers:{authorization:"Bearer "+e.ANTHROPIC_AUTH_TOKEN}},'
    's=>s.resume());r.on("error",()=>{});r.on("timeout",()=>r.destroy());r.end()\''
    " </dev/null >/dev/null 2>&1 || true"
)


def idle_hook_settings() -> dict[str, Any]:
    """The ``hooks`` entry of a run's ``settings.json`` that reports an idle prompt."""
    return {
        "Notification": [
            {"matcher": "idle_prompt", "hooks": [{"type": "command", "command": IDLE_SCRIPT}]}
        ]
    }
