"""`scad ui` in a real browser (Debian's chromium, headless) against a real batch:
the real engine, the real image, the real Claude Code and the offline model."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from scad.ui import launch_page

from .browser import SCREENSHOTS, Browser, browser
from .sessions_support import GATE, Project, container_state, open_gate, wait_until
from .test_batch import Spawned, batch_id_of, batch_project, runs_of

__all__ = ["batch_project", "browser"]  # the fixtures, used by name

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.claude]

PWN_SCRIPT = "<script>window.__pwned=1</script>"
PWN_IMG = '<img src=x onerror="window.__pwned=1">'
#: Git refuses spaces in a branch name, but not <, >, =, " or /: a slash stands in
#: for the space HTML would want, and the tag still parses as one with a handler.
PWN_BRANCH_IMG = "<img/src/onerror=window.__pwned=1>"
#: No double quote in a file name: git would quote the whole name in a diff.
PWN_FILE = "<img src=x onerror=window.__pwned=1>.txt"
HOSTILE = (
    f"RUN: git branch '{PWN_SCRIPT}' && git branch '{PWN_BRANCH_IMG}'"
    f" && echo x > '{PWN_FILE}' && git add -A && git commit -qm '{PWN_SCRIPT} {PWN_IMG}'"
    f" && echo '{PWN_SCRIPT}' && echo '{PWN_IMG}'\n"
    f"SAY: {PWN_SCRIPT} {PWN_IMG}"
)
PROMPTS = {
    1: f"{GATE}\nSAY: past the gate, for the log",
    2: f"{GATE}\nSAY: past the gate, for the table",
    3: "FAIL: 429 x2\nSAY: through at last",
    4: HOSTILE,
    5: "HANG",  # the model never answers: the run goes on until stopped
}
ATTEMPTS = {1: 1, 2: 1, 3: 2, 4: 1}
ROWS = "return [...document.querySelectorAll(arguments[0] + ' tbody tr')].map(r => [...r.cells].map(c => c.textContent))"


async def started_ui(project: Project, tmp_path: Path) -> tuple[Spawned, str]:
    """`scad ui` on a free port, and the address it printed."""
    ui = await Spawned.start(project, tmp_path, "ui", "ui", "--port", "0")
    await wait_until(lambda: "scad ui: " in ui.out, timeout=30)
    (line,) = [line for line in ui.out.splitlines() if line.startswith("scad ui: ")]
    return ui, line.removeprefix("scad ui: ")


def item_states(browser: Browser) -> dict[str, str]:
    """The items table as the page shows it now: item number -> STATE."""
    return {row[0]: row[3] for row in browser.js(ROWS, "#items")}


def envelopes_now(project: Project, run_id: str) -> list[dict[str, Any]]:
    """The run's log as far as it is written: none before it exists, whole lines only."""
    try:
        data = (project.run_dir(run_id) / "events.jsonl").read_bytes()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]


def envelope_time(project: Project, run_id: str, text: str) -> float:
    """When scad wrote the log line that holds ``text`` (epoch seconds)."""
    for envelope in envelopes_now(project, run_id):
        if envelope["src"] == "claude" and text in json.dumps(envelope["data"]):
            return datetime.fromisoformat(envelope["ts"].replace("Z", "+00:00")).timestamp()
    raise AssertionError(f"no line of {run_id} holds {text!r}")


def request(
    origin: str, path: str, *, method: str = "GET", headers: dict[str, str] | None = None
) -> int:
    """The status a plain HTTP client gets (no redirect followed)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    asked = urllib.request.Request(origin + path, method=method, headers=headers or {})
    try:
        with opener.open(asked, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def attempts_drawn(browser: Browser) -> dict[int, list[str]]:
    """The timeline the page loaded, read back: each lane's attempts, by outcome."""
    svg = browser.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(document.getElementById('timeline-image').src).then(r => r.text()).then(done)"
    )
    root = ElementTree.fromstring(svg)
    drawn: dict[int, list[str]] = {}
    for group in root.iter("{http://www.w3.org/2000/svg}g"):
        if group.get("class") == "attempt":
            drawn.setdefault(int(group.get("data-item", "0")), []).append(
                group.get("data-status", "")
            )
    return drawn


def pwned(browser: Browser) -> object:
    return browser.js("return window.__pwned")


@pytest.mark.timeout(900)  # beyond its waits' own bounds
async def test_the_web_view_in_a_browser(
    batch_project: Project, browser: Browser, tmp_path: Path
) -> None:
    project = batch_project
    (tmp_path / "prompts.txt").write_text("\n---\n".join(PROMPTS.values()) + "\n")
    batch = await Spawned.start(
        project, tmp_path, "batch", "batch", "scadtest", "--tag", "web",
        "-f", str(tmp_path / "prompts.txt"), "-j", "5", "--retries", "1", "--backoff", "1s",
    )  # fmt: skip
    ui, url = await started_ui(project, tmp_path)
    origin = url.split("/?", 1)[0]
    await wait_until(lambda: (project.home / "batches").is_dir(), timeout=60)
    await wait_until(lambda: any((project.home / "batches").iterdir()), timeout=60)
    batch_id = batch_id_of(project)
    await wait_until(lambda: len(runs_of(project, batch_id)) == 5, timeout=120)
    runs = runs_of(project, batch_id)
    driver = browser.driver

    # The index shows every run (its live table catches up on its own).
    # Opened as `scad ui --open` opens it: from a private file, a cross-site start.
    with launch_page(url) as page:
        driver.get(page.as_uri())
        await wait_until(lambda: driver.current_url == origin + "/", timeout=30)
    # The token became the strict cookie, sent on the page's own refresh.
    assert "token" not in driver.current_url
    await wait_until(
        lambda: all(run_id in browser.js("return document.getElementById('runs').textContent")
                    for run_id in runs.values()),
        timeout=60,
    )  # fmt: skip
    browser.keep_console()

    # The run page's live log shows what lands in the event log after it loaded.
    def talking(run_id: str) -> bool:
        return any(e["src"] == "claude" for e in envelopes_now(project, run_id))

    await wait_until(lambda: talking(runs[1]), timeout=120)
    driver.get(f"{origin}/run/{runs[1]}")
    said = "past the gate, for the log"  # once more than the page shows now (its prompt)
    browser.js(
        "window.__loaded = 1; window.__seenAt = null;"
        "const log = document.getElementById('log'), said = arguments[0];"
        "const times = () => log.textContent.split(said).length;"
        "const before = times();"
        "new MutationObserver(() => { if (window.__seenAt === null && times() > before)"
        " window.__seenAt = Date.now(); })"
        ".observe(log, {childList: true, subtree: true, characterData: true});",
        said,
    )
    open_gate(project, runs[1])
    await wait_until(lambda: browser.js("return window.__seenAt") is not None, timeout=120)
    assert browser.js("return window.__loaded") == 1  # the same page: no reload
    latency = browser.js("return window.__seenAt") / 1000 - envelope_time(project, runs[1], said)
    print(f"live log: a line on the page {latency * 1000:.0f} ms after it reached the event log")
    browser.keep_console()

    # The batch page's items table changes a run's state as it finishes, no reload.
    driver.get(f"{origin}/batch/{batch_id}")
    browser.js("window.__loaded = 1")
    await wait_until(lambda: item_states(browser).get("2") == "running", timeout=120)
    open_gate(project, runs[2])
    await wait_until(lambda: item_states(browser).get("2") == "succeeded", timeout=120)
    assert browser.js("return window.__loaded") == 1
    browser.keep_console()

    # Without the token, from another origin, or without the CSRF token: refused,
    # and the slow run goes on.
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in driver.get_cookies())
    csrf = browser.js("return document.querySelector('meta[name=scad-csrf]').content")
    stop = f"/run/{runs[5]}/stop"
    assert request(origin, "/") == 403
    assert request(origin, f"/batch/{batch_id}") == 403
    assert request(origin, "/?token=not-the-token") == 403
    assert request(origin, "/", headers={"Cookie": cookie}) == 200
    foreign = {"Cookie": cookie, "X-Scad-Csrf": csrf, "Origin": "http://evil.example"}
    assert request(origin, stop, method="POST", headers=foreign) == 403
    assert request(origin, stop, method="POST", headers={"Cookie": cookie, "Origin": origin}) == 403
    assert (
        request(origin, stop, method="POST", headers={"X-Scad-Csrf": csrf, "Origin": origin}) == 403
    )
    assert container_state(runs[5])["Running"]

    # Stop from the page: click, confirm; the run ends cancelled, its container gone.
    driver.get(f"{origin}/run/{runs[5]}")
    driver.find_element("css selector", f'button[data-action="{stop}"]').click()
    driver.switch_to.alert.accept()
    await wait_until(
        lambda: browser.js("return document.getElementById('action-result').textContent")
        .startswith("done:"),
        timeout=120,
    )  # fmt: skip

    def stopped(run_id: str) -> bool:  # its container was stopped, as `session stop` does
        return any(e.get("event") == "stopped" for e in envelopes_now(project, run_id))

    await wait_until(lambda: stopped(runs[5]), timeout=60)
    exits = [e["exit_code"] for e in envelopes_now(project, runs[5]) if e.get("event") == "exited"]
    assert exits[:1] == [143]  # SIGTERM ended its container
    browser.keep_console()

    # The batch's supervisor takes a run stopped under it for a crash and retries it:
    # "Stop the batch" from its page ends it (its retried run with it).
    async def others_done() -> bool:
        status = await project.scad("batch", "status", batch_id, "--json", check=False)
        rows = json.loads(status.stdout)["rows"]
        return all(row["outcome"] == "succeeded" for row in rows if row["item"] != 5)

    await wait_until(others_done, timeout=300)
    driver.get(f"{origin}/batch/{batch_id}")
    stop_batch = f"/batch/{batch_id}/stop"
    driver.find_element("css selector", f'button[data-action="{stop_batch}"]').click()
    driver.switch_to.alert.accept()
    assert await batch.wait(300) == 1, batch.err  # not every run succeeded
    status = json.loads(
        (await project.scad("batch", "status", batch_id, "--json", check=False)).stdout
    )
    outcomes = {row["item"]: (row["outcome"], row["attempts"]) for row in status["rows"]}
    assert {item: outcome for item, (outcome, _) in outcomes.items()} == {
        1: "succeeded", 2: "succeeded", 3: "succeeded", 4: "succeeded", 5: "cancelled"
    }  # fmt: skip
    assert {item: n for item, (_, n) in outcomes.items() if item != 5} == ATTEMPTS
    print(f"the run stopped from its page: {outcomes[5][1]} attempts")

    # The timeline has one bar per attempt.
    driver.get(f"{origin}/batch/{batch_id}")
    await wait_until(
        lambda: browser.js("const i = document.getElementById('timeline-image');"
                           "return i.complete && i.naturalWidth > 0 && i.src.includes('width=')"),
        timeout=30,
    )  # fmt: skip
    drawn = attempts_drawn(browser)
    # The run stopped under its batch, then retried and stopped with it, can count an
    # attempt the status does not (a retry stopped before its container started).
    print(f"the stopped run: {drawn[5]} drawn, {outcomes[5][1]} attempts in its status")
    assert {item: len(statuses) for item, statuses in drawn.items() if item != 5} == ATTEMPTS
    assert drawn[3] == ["rate-limited", "succeeded"] and drawn[5][-1] == "cancelled"
    for width in (800, 1400):
        browser.screenshot("batch-page", width)
    browser.keep_console()

    # What the hostile agent wrote is on its pages as text, and runs nothing.
    driver.get(f"{origin}/run/{runs[4]}")
    fetch = f"/run/{runs[4]}/fetch"
    driver.find_element("css selector", f'button[data-action="{fetch}"]').click()
    driver.switch_to.alert.accept()
    await wait_until(
        lambda: browser.js("return document.getElementById('action-result').textContent") != "…"
        and browser.js("return document.getElementById('action-result').textContent") != "",
        timeout=60,
    )  # fmt: skip
    fetched = browser.js("return document.getElementById('action-result').textContent")
    assert PWN_BRANCH_IMG in fetched, fetched  # the branch names, as the action said them
    await wait_until(
        lambda: PWN_BRANCH_IMG in browser.js("return document.getElementById('log').textContent"),
        timeout=30,
    )  # fmt: skip
    text = browser.js("return document.body.textContent")
    assert PWN_SCRIPT in text and PWN_IMG in text and PWN_FILE in text
    seen_pages = [f"/run/{runs[4]}", f"/batch/{batch_id}", "/"]
    for path in seen_pages:
        if path != seen_pages[0]:
            driver.get(origin + path)
        assert pwned(browser) is None, path
        assert browser.js("return document.scripts.length") == 1, path  # ui.js alone
        assert browser.js("return document.querySelectorAll('[onerror], [onload]').length") == 0
        browser.keep_console()

    # The report: the same, with no server; and its screenshots.
    report = tmp_path / "report.html"
    await project.scad("batch", "report", batch_id, "-o", str(report))
    driver.get(report.as_uri())
    assert pwned(browser) is None
    assert PWN_SCRIPT in browser.js("return document.body.textContent")
    assert browser.js("return document.querySelectorAll('script, [onerror], [onload]').length") == 0
    for width in (800, 1400):
        browser.screenshot("batch-report", width)
    browser.keep_console()

    print(f"screenshots in {SCREENSHOTS}")
    for line in browser.console:
        print(f"console: {line['level']} {line['source']}: {line['message']}")
    # No script ran and failed: the only errors are refused loads, none from a script.
    assert not [line for line in browser.console if line["source"] == "javascript"]
    assert not [line for line in browser.console if "__pwned" in line["message"]
                and "Content Security Policy" not in line["message"]]  # fmt: skip

    ui.process.send_signal(2)
    assert await ui.wait(30) == 0, ui.err
