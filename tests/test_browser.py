"""End to end in a real browser: Debian's headless Chromium (``make chromium`` installs it;
nothing is downloaded at run time), driven by playwright.

- The dashboard, started as ``make dashboard`` starts it, makes a prediction and takes a
  screenshot: to the test's own folder, or to ``$EDGE_RL_SCREENSHOT`` when set (``make
  screenshot`` sets it to docs/dashboard.png, the picture the README shows).
- The API's /docs page (Swagger UI served from local files, no CDN) runs its example request.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Playwright, sync_playwright

from edge_rl.config import EnvConfig
from edge_rl.serve.conversions import to_observation
from edge_rl.serve.dashboard import common
from edge_rl.serve.models import Predictor

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [  # no network of its own: no updates, sync, QUIC or background requests
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOT = os.environ.get("EDGE_RL_SCREENSHOT")  # else the test's tmp_path: no churn in docs/
TIMEOUT_MS = 120_000  # generous: the CPU may be shared with training jobs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(command: list[str], health: str, log: Path) -> Iterator[str]:
    """Run ``command`` (it gets the port as {port}) until ``health`` answers; yield its URL."""
    port = _free_port()
    with log.open("w") as output:
        server = subprocess.Popen([part.format(port=port) for part in command], cwd=ROOT, stdout=output,
                                  stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url + health, timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    server.kill()
                    pytest.fail(f"{' '.join(command)} did not start:\n{log.read_text()}")
                time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[str]:
    """``make dashboard``'s command, on a free loopback port."""
    yield from _serve([sys.executable, "-m", "streamlit", "run", "edge_rl/serve/dashboard/app.py",
                       "--server.address", "127.0.0.1", "--server.port", "{port}", "--server.headless", "true",
                       "--browser.gatherUsageStats", "false"], "/_stcore/health", tmp_path / "dashboard.log")


@pytest.fixture
def api(tmp_path: Path) -> Iterator[str]:
    """``make serve``'s command, on a free loopback port."""
    yield from _serve([sys.executable, "-m", "edge_rl.serve.api", "--port", "{port}"], "/health", tmp_path / "api.log")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: run `make chromium` (apt-get install chromium)"
    playwright: Playwright
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1600, "height": 1500},
        )
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


def test_the_dashboard_makes_a_prediction(dashboard: str, browser: BrowserContext, tmp_path: Path) -> None:
    state, task = common.generate(EnvConfig(), 0)  # the page's default network
    expected = Predictor().predict("hybrid", [to_observation(state, task)])[0]
    page = browser.new_page()
    page.goto(f"{dashboard}/predict")
    page.get_by_role("button", name="Predict").click()
    metric = page.get_by_test_id("stMetric").filter(has_text="Selected node")
    metric.wait_for()
    assert metric.get_by_test_id("stMetricValue").inner_text().strip() == str(expected.selected_node)
    page.get_by_test_id("stImage").first.wait_for()  # the topology with the node scores
    page.wait_for_timeout(1_000)  # let the figure finish fading in
    screenshot = Path(SCREENSHOT) if SCREENSHOT else tmp_path / "dashboard.png"
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 20_000


REPLAY_FIRST_CHART_S = 60
"""The replay page, opened on a fresh dashboard, draws its first chart within this bound (on a
loaded 2-core machine; the models are loaded as the page asks for them, not all first)."""


def test_the_replay_page_shows_its_first_chart_promptly(dashboard: str, browser: BrowserContext) -> None:
    page = browser.new_page()
    start = time.perf_counter()
    page.goto(f"{dashboard}/replay")
    page.get_by_test_id("stImage").first.wait_for(timeout=REPLAY_FIRST_CHART_S * 1_000)
    assert time.perf_counter() - start < REPLAY_FIRST_CHART_S
    page.get_by_test_id("stImage").nth(3).wait_for()  # all four charts
    page.get_by_test_id("stDataFrame").nth(1).wait_for()  # the summary, and where the tasks went


def test_the_api_docs_run_their_example(api: str, browser: BrowserContext) -> None:
    page = browser.new_page()
    page.goto(f"{api}/docs")
    page.locator("#operations-predict-predict_predict_post").click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    status = page.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"
    assert '"selected_node"' in page.locator(".live-responses-table .highlight-code").first.inner_text()
