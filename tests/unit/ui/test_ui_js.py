"""The page script's own rules, run under node against a stand-in document: a table
cell links only to the server's own pages."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urljoin

import pytest

from tests.conftest import in_ci

UI_JS = Path(__file__).parents[3] / "scad" / "ui" / "static" / "ui.js"
PAGE = "http://127.0.0.1:8765/batch/b"

#: Loads ui.js with a document that has nothing live on it, then asks ``cellNode``
#: for a link to each address given, printing the ``href`` each link was given.
HARNESS = """
const vm = require("vm"), fs = require("fs");
const element = () => ({});
const document = {
  querySelector: () => ({ content: "csrf" }),
  querySelectorAll: () => [],
  getElementById: () => null,
  createElement: element,
  createTextNode: (text) => ({ text }),
};
const context = vm.createContext({ document, location: new URL(process.argv[2]), URL });
vm.runInContext(fs.readFileSync(process.argv[1], "utf8"), context);
const hrefs = JSON.parse(process.argv[3]);
const links = hrefs.map((href) => vm.runInContext("cellNode", context)({ text: "t", href }));
console.log(JSON.stringify(links.map((link) => link.href ?? null)));
"""

OWN = ["/run/r", "/batch/b?x=1", "run/r", "./r", "../run/r", f"{PAGE}/x", "#top"]
ELSEWHERE = [
    "//evil.example/",
    "/\\evil.example/",
    "\\\\evil.example/",
    "/\t/evil.example/",
    "http://evil.example/",
    "https://127.0.0.1:8765/",
    "http://127.0.0.1:8766/",
    "javascript:alert(1)",
    " javascript:alert(1)",
    "data:text/html,x",
    "http://[",
]


def hrefs_linked(hrefs: list[str]) -> list[str | None]:
    node = shutil.which("node")
    if node is None:
        if in_ci():
            pytest.fail("CI needs node (run ./setup.sh)")
        pytest.skip("no node: the page script's rules are not run")
    ran = subprocess.run(
        [node, "-e", HARNESS, str(UI_JS), PAGE, json.dumps(hrefs)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return list(json.loads(ran.stdout))


def test_a_cell_links_to_the_servers_own_pages() -> None:
    assert hrefs_linked(OWN) == [urljoin(PAGE, href) for href in OWN]


def test_a_cell_never_links_elsewhere() -> None:
    assert hrefs_linked(ELSEWHERE) == [None] * len(ELSEWHERE)
