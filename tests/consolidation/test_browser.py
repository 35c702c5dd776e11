"""A real browser: headless Chromium (Debian's, installed by .ci/chromium.sh) renders the Prefect
UI's pages for a consolidation run and the printable HTML bulletin; screenshots go to
./var/screenshots/ for a person to look at. The artifact's is the README's picture: with
TASKFORCE_UPDATE_GOLDEN=1 it is also written to README-ui.png (not on every run, which would leave
every checkout that ran the tests with a modified file).

Whether a table fits is asked of the browser's own layout (getBoundingClientRect over the
DevTools protocol): ``--dump-dom`` gives the markup, not where the UI's CSS put a column, and
guessing widths from the markdown would test the guess, not what the office sees."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from config.settings import Settings
from tests.consolidation_fixture import load_month, record_month
from tests.helpers import ROOT, UPDATE_GOLDEN, free_port, load_seeds, taskforce

SCREENSHOTS = ROOT / "var" / "screenshots"
README_SCREENSHOT = ROOT / "README-ui.png"  # README.md shows it: the bulletin artifact in the UI
# Without the background-networking flags Chromium keeps trying Google's hosts (no internet
# here); without a virtual-time budget the single-page UI is shot before it has rendered.
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--virtual-time-budget=15000", "--window-size=1400,1000",
]  # fmt: skip
# Driven over the DevTools protocol the page runs in real time: no virtual-time budget.
DEVTOOLS_FLAGS = [f for f in FLAGS if not f.startswith("--virtual-time-budget")]

# Once the single-page UI has drawn the artifact: the right edge of each table's last header
# cell and of each file path, against what shows it (the window, or an ancestor that clips or
# scrolls: the UI's table box scrolls sideways with its scroll bar hidden).
RIGHT_EDGES = """
(async () => {
  const drawn = () => (document.body ? document.body.innerText : '').includes('措施推进情况');
  for (let i = 0; i < 300 && !drawn(); i++) {
    await new Promise(r => setTimeout(r, 100));
  }
  await new Promise(r => setTimeout(r, 500));
  const edge = (element) => {
    let limit = document.documentElement.clientWidth;
    for (let el = element.parentElement; el; el = el.parentElement) {
      if (getComputedStyle(el).overflowX !== 'visible') {
        limit = Math.min(limit, el.getBoundingClientRect().right);
      }
    }
    const text = element.textContent.trim();
    return {text, right: element.getBoundingClientRect().right, limit};
  };
  const all = (selector, root = document) => [...root.querySelectorAll(selector)];
  const lasts = all('table').map(table => all('th', table).pop());
  const paths = all('code').filter(code => /[.](xlsx|pdf)$/.test(code.textContent));
  return {columns: lasts.map(edge), paths: paths.map(edge)};
})()
"""


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("TASKFORCE_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium is required (TASKFORCE_REQUIRE_BROWSER=1): run .ci/chromium.sh")
        pytest.skip("chromium not installed: .ci/chromium.sh installs it (make test runs it)")
    return path


def browse(url: str, screenshot: Path) -> str:
    """The page's DOM after its scripts ran, and a screenshot of it."""
    binary = chromium()
    with tempfile.TemporaryDirectory() as profile:
        args = [binary, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url]
        dom = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True).stdout
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={screenshot}",
                        url], capture_output=True, timeout=120, check=True)  # fmt: skip
    assert screenshot.stat().st_size > 10_000  # a blank page is a few kB
    return dom


class DevTools:
    """One page of a headless Chromium, driven over the DevTools protocol's websocket."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.calls = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command; its answer (the page's events in between are not ours)."""
        self.calls += 1
        self.socket.send(json.dumps({"id": self.calls, "method": method, "params": params}))
        while (reply := json.loads(self.socket.recv(timeout=120))).get("id") != self.calls:
            pass
        return dict(reply)

    def evaluate(self, expression: str) -> Any:
        """The value of a script run in the page (awaited)."""
        # Asked while the page is still loading, the script's context can go with the document
        # it started in ("Execution context was destroyed"): ask again.
        for _ in range(5):
            reply = self.call(
                "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
            )
            if "result" in reply:
                break
            time.sleep(1)
        assert "exceptionDetails" not in reply.get("result", {"error": reply}), reply
        return reply["result"]["result"]["value"]

    def screenshot(self, path: Path) -> None:
        """The window as it shows now, as a PNG."""
        data = self.call("Page.captureScreenshot", format="png")["result"]["data"]
        path.write_bytes(base64.b64decode(data))


@contextmanager
def devtools(url: str) -> Iterator[DevTools]:
    """Chromium showing ``url``, for scripts and screenshots while it runs."""
    binary = chromium()
    with tempfile.TemporaryDirectory() as profile:
        browser = subprocess.Popen(
            [binary, *DEVTOOLS_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
             url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            # Port 0: Chromium picks a free port and writes it to this file.
            active = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 60
            while not (active.exists() and active.read_text().strip()):
                assert time.monotonic() < deadline, "Chromium did not open its DevTools port"
                time.sleep(0.1)
            port = int(active.read_text().splitlines()[0])
            targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
            [page] = [t for t in targets if t["type"] == "page"]
            with connect(page["webSocketDebuggerUrl"], max_size=None) as socket:
                yield DevTools(socket)
        finally:
            # The whole group: Chromium's helpers still write to the profile after it exits.
            os.killpg(browser.pid, signal.SIGTERM)
            browser.wait(timeout=30)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    os.killpg(browser.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)


def _ui_environment(var: Path, tmp_path: Path) -> tuple[dict[str, str], int]:
    """A `taskforce up` of its own: free ports, its var/ and Prefect home; and the UI's port."""
    smtp_port, api_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TASKFORCE_", "PREFECT_"))},
        "TASKFORCE_VAR_DIR": str(var),
        "TASKFORCE_SMTP_PORT": str(smtp_port),
        "TASKFORCE_MAILCATCHER_PORT": str(smtp_port),
        "TASKFORCE_MAILCATCHER_DIRECTORY": str(var / "mail"),
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    return env, api_port


def test_the_office_sees_the_run_and_the_bulletin_in_a_browser(tmp_path: Path) -> None:
    chromium()
    var = tmp_path / "var"
    settings = Settings(var_dir=var)
    load_seeds(settings, "lingchuan-2023")
    load_month(settings, "lingchuan-2023-02")
    env, api_port = _ui_environment(var, tmp_path)
    started = taskforce(env, "up", "--port", str(api_port))
    assert started.returncode == 0, started.stderr
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        result = taskforce(env, "consolidate", "--policy", "lingchuan-2023", "--period", "2023-02",
                           "--as-of", "2023-03-08T09:00")  # fmt: skip
        assert result.returncode == 0, result.stderr
        ui = f"http://127.0.0.1:{api_port}"
        [run] = httpx.post(f"{ui}/api/flow_runs/filter", json={}, timeout=10).json()
        artifacts = httpx.post(f"{ui}/api/artifacts/filter", json={}, timeout=10).json()
        [bulletin] = [a for a in artifacts if a["key"] == "consolidation-lingchuan-2023-bulletin"]

        # Named by what it did and for when, not Prefect's random adjective-animal.
        assert run["name"] == "陵川2023 月度汇总 2023年2月 2023-03-08"
        assert bulletin["description"] == (
            "陵川县 2023年2月进展情况报告 通报（统计截至2023年3月8日 09:00）"
        )
        page = browse(f"{ui}/runs/flow-run/{run['id']}", SCREENSHOTS / "flow-run.png")
        assert run["name"] in page and "monthly-consolidation" in page
        artifact_url = f"{ui}/artifacts/artifact/{bulletin['id']}"
        page = browse(artifact_url, SCREENSHOTS / "artifact.png")
        assert "陵川县工作专班 2023年2月进展情况通报" in page
        assert bulletin["description"] in page
        # The rest of the tables' columns are in the files the artifact names.
        report = var / "reports" / "lingchuan-2023" / "2023-02" / "v1"
        workbook = next(report.glob("*.xlsx"))
        assert str(workbook) in page
        with devtools(artifact_url) as browser:
            # The tables fit the artifact's column: each last column is on screen, not cut off.
            edges = browser.evaluate(RIGHT_EDGES)
            assert [c["text"] for c in edges["columns"]][:2] == ["黄灯", "灯"], edges
            made = [*report.glob("*.xlsx"), *report.glob("*.pdf")]  # the PDF needs a CJK font
            assert sorted(e["text"] for e in edges["paths"]) == sorted(map(str, made)), edges
            for edge in edges["columns"] + edges["paths"]:
                assert edge["right"] <= edge["limit"] + 0.5, edges
            # The README's picture: the artifact's title down to its tables, in a taller window.
            browser.call("Emulation.setDeviceMetricsOverride", width=1400, height=1700,
                         deviceScaleFactor=1, mobile=False)  # fmt: skip
            browser.evaluate("new Promise(r => setTimeout(() => r(true), 1000))")
            browser.screenshot(SCREENSHOTS / "artifact-readme.png")
        assert (SCREENSHOTS / "artifact-readme.png").stat().st_size > 10_000
        if UPDATE_GOLDEN:
            shutil.copyfile(SCREENSHOTS / "artifact-readme.png", README_SCREENSHOT)
        assert "应报送单位41个，按时报送36个，逾期报送2个，未报送2个" in page
        for unit in ("县能源局", "县交通局", "县人社局"):  # red light, missing, late
            assert unit in page
    finally:
        taskforce(env, "down")
    [html] = (var / "reports" / "lingchuan-2023" / "2023-02" / "v1").glob("*通报.html")
    page = browse(html.as_uri(), SCREENSHOTS / "bulletin.png")
    assert "应报送单位41个" in page and "按时报送率87.8%" in page
    assert "县能源局" in page and "县交通局" in page
    # The charts are inline SVG the browser draws as it is (no script to run).
    assert page.count("<svg ") == 2 and "图2 各组按时报送率与措施灯色" in page


def test_the_deadline_table_fits_the_artifact_in_a_browser(tmp_path: Path) -> None:
    """陵川's May 2023 as of 9 June: measure 12 (due 30 June) is 临期 and the June policy
    windows of 31 and 32 end; the artifact's 临期和逾期事项 table fits the UI's column."""
    chromium()
    var = tmp_path / "var"
    settings = Settings(var_dir=var)
    load_seeds(settings, "lingchuan-2023")
    record_month(
        settings,
        {
            "policy": "lingchuan-2023", "obligation": "monthly-progress", "period": "2023-05",
            "as_of": "2023-06-09T09:00:00+08:00", "units": {},
            "default": {"received": "2023-06-02T09:00:00+08:00", "status": "推进中", "share": 0.4},
        },
    )  # fmt: skip
    env, api_port = _ui_environment(var, tmp_path)
    started = taskforce(env, "up", "--port", str(api_port))
    assert started.returncode == 0, started.stderr
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        result = taskforce(env, "consolidate", "--policy", "lingchuan-2023", "--period", "2023-05",
                           "--as-of", "2023-06-09T09:00")  # fmt: skip
        assert result.returncode == 0, result.stderr
        ui = f"http://127.0.0.1:{api_port}"
        artifacts = httpx.post(f"{ui}/api/artifacts/filter", json={}, timeout=10).json()
        [bulletin] = [a for a in artifacts if a["key"] == "consolidation-lingchuan-2023-bulletin"]
        artifact_url = f"{ui}/artifacts/artifact/{bulletin['id']}"
        page = browse(artifact_url, SCREENSHOTS / "artifact-deadlines.png")
        assert "临期和逾期事项" in page and "12 着力扩大文旅消费" in page
        with devtools(artifact_url) as browser:
            edges = browser.evaluate(RIGHT_EDGES)
            # 分组情况, 临期和逾期事项, 措施推进情况: each last column on screen.
            assert [c["text"] for c in edges["columns"]][:3] == ["黄灯", "报送进展", "灯"], edges
            for edge in edges["columns"] + edges["paths"]:
                assert edge["right"] <= edge["limit"] + 0.5, edges
            print({c["text"]: (round(c["right"]), round(c["limit"])) for c in edges["columns"]})
    finally:
        taskforce(env, "down")
