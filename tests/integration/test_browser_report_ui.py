"""A real headless Chromium opens the HTML comparison report and the MLflow UI page of an eval run.

Screenshots land in `test-artifacts/`. Skipped (with the reason) only when Debian's Chromium is not
installed at /usr/bin/chromium.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from compare_fixtures import log_eval_run, make_results, random_values

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Chromium is not installed at /usr/bin/chromium (apt-get install chromium chromium-driver)"),
]

CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROME_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
]  # fmt: skip
UI_START_TIMEOUT_S = 120
PAGE_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two eval runs (GIF previews; mp4 only) and a logged comparison with its HTML report."""
    from msvg_bench.comparison.pipeline import run_compare

    tmp = tmp_path_factory.mktemp("browser_store")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    ids = {
        "plain": log_eval_run(uri, tmp, "browser-plain", make_results("plain", random_values(1)), media="gif", seed=0),
        "msvg": log_eval_run(uri, tmp, "browser-msvg", make_results("msvg", random_values(2, 1.0)), media="mp4", seed=1),
    }
    outcome = run_compare([ids["plain"], ids["msvg"]], tracking_uri=uri, n_boot=200)
    assert outcome.report_path is not None and outcome.report_path.is_file()
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    return {
        "uri": uri, "tmp": tmp, "ids": ids, "report": outcome.report_path,
        "experiment_id": client.get_run(ids["plain"]).info.experiment_id,
        "compare_run": outcome.run_id, "compare_experiment_id": client.get_run(outcome.run_id).info.experiment_id,
    }  # fmt: skip


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A headless Chromium driven through Debian's chromedriver, with a fresh profile."""
    if not Path(CHROMEDRIVER).exists():
        pytest.fail(f"{CHROMEDRIVER} is missing although /usr/bin/chromium exists (install chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium_profile')}")
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(PAGE_TIMEOUT_S)
    ARTIFACTS.mkdir(exist_ok=True)
    yield browser
    browser.quit()


def wait_for(driver: object, condition: object, what: str, timeout: float = PAGE_TIMEOUT_S) -> object:
    """Poll `condition(driver)` until it is truthy; fail naming `what` and saving a screenshot otherwise."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.5).until(condition)
    except TimeoutException:
        name = ARTIFACTS / f"browser_timeout_{what.replace(' ', '_')}.png"
        driver.save_screenshot(str(name))  # type: ignore[attr-defined]
        pytest.fail(f"timed out after {timeout}s waiting for {what} (screenshot {name})")


def test_html_report_renders_table_plots_and_videos(driver, store: dict) -> None:
    driver.get(store["report"].as_uri())
    rows = driver.execute_script("return document.querySelectorAll('#comparison-table tbody tr').length")
    assert rows == 4 * 2  # four metrics, reference + one run each
    plots = driver.execute_script(
        "return [...document.querySelectorAll('img.plot')].map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
    )
    assert len(plots) == 2 and all(ok and w > 200 and h > 100 for ok, w, h in plots)
    gifs = driver.execute_script(
        "return [...document.querySelectorAll('img.video-preview')].map(i => i.complete && i.naturalWidth > 0)"
    )
    assert len(gifs) == 8 and all(gifs)  # the plain run's GIF for each story
    scenes = driver.execute_script(
        "return [...document.querySelectorAll('img.scene-preview')].map(i => i.complete && i.naturalWidth > 0)"
    )
    assert len(scenes) == 8 * 2 and all(scenes)  # and for each of its two scenes
    wait_for(
        driver,
        lambda d: d.execute_script(
            "const v = [...document.querySelectorAll('video.video-preview')];"
            "return v.length === 8 && v.every(x => x.readyState >= 2 && x.videoWidth > 0);"
        ),
        "inline H.264 videos to decode",
    )
    assert driver.execute_script("return document.querySelector('#comparison-table').getBoundingClientRect().height") > 100
    driver.save_screenshot(str(ARTIFACTS / "browser_report_top.png"))
    driver.execute_script("document.querySelector('#story-story00').scrollIntoView()")
    driver.save_screenshot(str(ARTIFACTS / "browser_report_story.png"))


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def ui_url(store: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`msvg-bench ui` on a free port, stopped (with its server processes) at the end."""
    port = free_port()
    log = tmp_path_factory.mktemp("ui") / "ui.log"
    with open(log, "w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "msvg_bench.cli", "ui", "--port", str(port), "--tracking-uri", store["uri"]],
            stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + UI_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"msvg-bench ui exited with {process.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the MLflow UI did not answer on {url} within {UI_START_TIMEOUT_S}s: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        deadline = time.monotonic() + 10
        while "MLflow UI: " + url not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "MLflow UI: " + url in log.read_text()  # the command prints the URL
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_mlflow_ui_shows_eval_metrics_and_video_preview(driver, store: dict, ui_url: str) -> None:
    run_id, experiment_id = store["ids"]["plain"], store["experiment_id"]
    driver.get(f"{ui_url}/#/experiments/{experiment_id}/runs/{run_id}")
    wait_for(driver, lambda d: "eval/prompt_alignment" in d.find_element("tag name", "body").text, "run page metrics")
    body = driver.find_element("tag name", "body").text
    assert "browser-plain" in body and "eval/mawe" in body and "msvg.non_semantic" in body
    cell = driver.find_element("xpath", "//*[normalize-space(text())='eval/prompt_alignment']")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", cell)
    assert cell.is_displayed()
    driver.save_screenshot(str(ARTIFACTS / "browser_mlflow_run.png"))

    driver.get(f"{ui_url}/#/experiments/{experiment_id}/runs/{run_id}/artifacts/videos/story00/story.gif")
    wait_for(
        driver,
        lambda d: d.execute_script(
            "return [...document.querySelectorAll('img')].some(i => i.src.startsWith('blob:') && i.complete && i.naturalWidth > 0)"
        ),
        "GIF preview in the artifact viewer",
    )
    assert "story.gif" in driver.find_element("tag name", "body").text
    driver.save_screenshot(str(ARTIFACTS / "browser_mlflow_gif_preview.png"))


def test_mlflow_ui_renders_logged_comparison_report(driver, store: dict, ui_url: str) -> None:
    run_id, experiment_id = store["compare_run"], store["compare_experiment_id"]
    driver.get(f"{ui_url}/#/experiments/{experiment_id}/runs/{run_id}/artifacts/report/report.html")
    frame = wait_for(driver, lambda d: d.find_elements("css selector", "iframe"), "the report's iframe")[0]
    driver.switch_to.frame(frame)
    try:
        wait_for(
            driver,
            lambda d: d.execute_script(
                "const t = document.querySelector('#comparison-table');"
                "const p = [...document.querySelectorAll('img.plot')];"
                "return t !== null && p.length === 2 && p.every(i => i.complete && i.naturalWidth > 0);"
            ),
            "the report inside the MLflow artifact viewer",
        )
    finally:
        driver.switch_to.default_content()
    driver.save_screenshot(str(ARTIFACTS / "browser_mlflow_compare_report.png"))
