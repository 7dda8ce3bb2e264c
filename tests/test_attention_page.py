"""The shareable attention page: one self-contained HTML file (no external script), opened in
Chromium with every network request blocked; the figure renders and the head slider and the
layer menu change it. Skipped outside CI when Debian's chromium is missing."""

import os
import re
from pathlib import Path

import pytest

from tinybert_lab import attention_page, models
from tinybert_lab.core.errors import TinyBertLabError

CHROMIUM = Path("/usr/bin/chromium")
SENTENCES = ["the movie is not bad at all , and often very funny , says everyone who saw it twice .",
             "a dull , lifeless film that never finds its feet , however hard its cast tries .",
             "it 's a charming and often affecting journey through a life that was anything but ordinary ."]


@pytest.fixture(scope="module")
def page(tmp_path_factory, tokenizer):
    teacher = models.load_teacher(num_labels=2)
    student = models.build_student("tinybert4", tokenizer=tokenizer, seed=0)
    return attention_page.write_attention_page(teacher, student, SENTENCES, tokenizer,
                                               tmp_path_factory.mktemp("page") / "attention.html")


def test_the_page_is_one_file_with_no_external_script_and_under_10_mb(page):
    text = page.read_text(encoding="utf-8")
    assert page.stat().st_size < 10e6
    assert not re.search(r"<script[^>]+src=", text)  # plotly.js is inline
    assert "student layer 4" in text and "teacher layer 6" in text and "head: " in text


def test_bad_input_is_refused(tokenizer, tmp_path):
    teacher = models.build_student("bert_tiny", tokenizer=tokenizer)
    student = models.build_student("tinybert4", tokenizer=tokenizer)
    with pytest.raises(TinyBertLabError, match="1 to 3 non-empty sentences"):
        attention_page.write_attention_page(teacher, teacher, ["a"] * 4, tokenizer, tmp_path / "x.html")
    with pytest.raises(TinyBertLabError, match="the teacher has 2 heads, the student 12"):
        attention_page.write_attention_page(teacher, student, "a b", tokenizer, tmp_path / "x.html")
    with pytest.raises(TinyBertLabError, match="ending in .html"):
        attention_page.write_attention_page(teacher, teacher, "a b", tokenizer, tmp_path / "x.png")


@pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"), reason="Debian chromium not installed (CI installs it)")
def test_the_page_renders_offline_and_its_controls_change_the_figure(page):
    from playwright.sync_api import sync_playwright

    blocked = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        tab = browser.new_page()
        tab.route(re.compile(r"^(?!file:).*"), lambda route: (blocked.append(route.request.url), route.abort()))
        tab.goto(page.as_uri())
        tab.wait_for_selector(".main-svg", timeout=30_000)

        def shown():
            return tab.evaluate("() => { const g = document.querySelector('.js-plotly-plot');"
                                " const v = g.data.find(t => t.visible !== false); return JSON.stringify(v.z); }")

        first = shown()
        tab.evaluate("() => { const g = document.querySelector('.js-plotly-plot');"
                     " return Plotly.restyle(g, g.layout.sliders[0].steps[0].args[0]); }")  # head 1
        after_head = shown()
        tab.click(".updatemenu-header-group")  # open the layer menu, pick its second entry
        tab.locator(".updatemenu-item-text", has_text="student layer 2").first.click()
        tab.wait_for_timeout(300)
        after_layer = shown()
        tab.screenshot(path=str(page.with_suffix(".png")))
        browser.close()
    assert not blocked, f"the page asked the network for {blocked[:3]}"
    assert first != after_head, "the head slider did not change the figure"
    assert after_head != after_layer, "the layer menu did not change the figure"
