"""A real browser: JupyterLab on localhost, Debian Chromium driven by Playwright. Opens the
temperature notebook and the attention notebook, runs them, moves a slider with the keyboard and
checks that the figure changed. Screenshots go to test-output/browser/.

Chromium comes from Debian (`apt-get install chromium`, done by .ci/run); Playwright never
downloads a browser. Outside CI the test is skipped when Chromium is missing.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO / "test-output" / "browser"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                                reason="Debian chromium not installed (CI installs it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Notebook 06 leaves notebook 08 two students and their attention recordings; untrained stand-ins
# here (the browser test checks the page, not the numbers).
PREPARE_08 = """
from tinybert_lab import headsim, models, training, tutorial
plan = tutorial.plan()
_, dev = tutorial.load_data(plan)
tokenizer, teacher = models.load_tokenizer(), models.load_teacher(num_labels=2)
for seed, name, track in ((0, "kd_student", "kd"), (1, "labels_teacher_init_student", "labels_teacher_init")):
    student = models.build_student("tinybert4", seed=seed)
    tutorial.save_student(student, name)
    recorder, history = headsim.AttentionRecorder(student, teacher, dev, tokenizer, every=1), training.History()
    recorder(1, history)
    recorder.track(history).save(plan.artifacts / f"attention_track_{track}.json")
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a copy of the notebooks (autosave must not touch the repo), in fast
    mode, with a saved student so the attention notebook has something to compare."""
    root = tmp_path_factory.mktemp("lab")
    for path in (REPO / "notebooks").glob("0[18]_*.ipynb"):
        shutil.copy(path, root / path.name)
    env = {**os.environ, "TINYBERT_LAB_FAST": "1", "TINYBERT_LAB_CACHE": str(root / "cache"),
           "TINYBERT_LAB_OUT": str(root / "out")}
    prepare = PREPARE_08  # what notebook 06 leaves for notebook 08
    subprocess.run([sys.executable, "-c", prepare], env=env, check=True, capture_output=True)
    port, token = _free_port(), "tinybert-lab-test"
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", f"--IdentityProvider.token={token}",
         "--ServerApp.allow_root=True", f"--ServerApp.root_dir={root}", "--ServerApp.ip=127.0.0.1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    else:
        server.kill()
        pytest.fail("JupyterLab did not start")
    yield base, token
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        yield instance
        instance.close()


def _run_all_and_wait(page, widget_selector: str):
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_selector(widget_selector, timeout=240_000)


def _figure_src(page, output_area) -> str:
    image = output_area.locator("img").last
    image.wait_for(timeout=60_000)
    return image.get_attribute("src")


def _open(page, base, token, name):
    page.goto(f"{base}/lab/tree/{name}?token={token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    try:  # JupyterLab may ask which kernel to start
        page.get_by_role("button", name="Select", exact=True).click(timeout=15_000)
    except Exception:
        pass
    page.get_by_text("Kernel status: Idle").first.wait_for(state="attached", timeout=120_000)  # kernel ready


@pytest.mark.parametrize("name,slider_label", [
    ("01_soft_targets_and_temperature.ipynb", "temperature T"),
    ("08_attention_comparison.ipynb", "head"),
])
def test_notebook_runs_and_a_slider_redraws_the_figure(lab, browser, name, slider_label):
    base, token = lab
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open(page, base, token, name)
        _run_all_and_wait(page, ".widget-interact")
        widget = page.locator(".widget-interact").last
        widget.scroll_into_view_if_needed()
        before = _figure_src(page, widget)
        page.screenshot(path=str(SHOTS / f"{name[:2]}_before.png"))
        slider = widget.locator(".widget-slider", has=page.get_by_text(slider_label, exact=True)).locator(".noUi-handle")
        slider.focus()
        for _ in range(2):
            page.keyboard.press("ArrowRight")
        page.wait_for_function(
            "([old]) => { const imgs = document.querySelectorAll('.widget-interact img');"
            " return imgs.length && imgs[imgs.length - 1].src !== old; }", arg=[before], timeout=120_000)
        after = _figure_src(page, widget)
        page.screenshot(path=str(SHOTS / f"{name[:2]}_after.png"))
        assert after != before
        assert page.locator(".jp-RenderedText", has_text="Traceback").count() == 0
    finally:
        page.screenshot(path=str(SHOTS / f"{name[:2]}_final.png"))
        page.close()
