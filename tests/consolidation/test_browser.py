"""A real browser: headless Chromium (Debian's, installed by .ci/chromium.sh) renders the Prefect
UI's pages for a consolidation run and the printable HTML bulletin; screenshots go to
./var/screenshots/ for a person to look at."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx
import pytest

from config.settings import Settings
from tests.consolidation_fixture import load_month
from tests.helpers import ROOT, free_port, load_seeds, taskforce

SCREENSHOTS = ROOT / "var" / "screenshots"
# Without the background-networking flags Chromium keeps trying Google's hosts (no internet
# here); without a virtual-time budget the single-page UI is shot before it has rendered.
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--virtual-time-budget=15000", "--window-size=1400,1000",
]  # fmt: skip


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


def test_the_office_sees_the_run_and_the_bulletin_in_a_browser(tmp_path: Path) -> None:
    chromium()
    var = tmp_path / "var"
    settings = Settings(var_dir=var)
    load_seeds(settings, "lingchuan-2023")
    load_month(settings, "lingchuan-2023-02")
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

        page = browse(f"{ui}/runs/flow-run/{run['id']}", SCREENSHOTS / "flow-run.png")
        assert run["name"] in page and "monthly-consolidation" in page
        page = browse(f"{ui}/artifacts/artifact/{bulletin['id']}", SCREENSHOTS / "artifact.png")
        assert "陵川县工作专班 2023年2月进展情况通报" in page
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
