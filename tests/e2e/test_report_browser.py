"""The report and `dvc plots` in a real browser, offline: headless Chromium (Debian's package,
installed by scripts/setup.sh) driven by Playwright. Each page is opened with the network cut
off; every chart must have rendered (drawn pixels, a sensible size), no request may leave the
machine, and a screenshot of each page is kept under test-artifacts/ (EVOKD_TEST_ARTIFACTS)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, make_project, run
from evokd import report
from stages.report import report as report_stage
from report_rounds import write_rounds

ARTIFACTS = Path(os.environ.get("EVOKD_TEST_ARTIFACTS", ROOT / "test-artifacts"))


def _chromium() -> str | None:
    env = os.environ.get("EVOKD_CHROMIUM")
    if env:
        return env
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium. Without one (or without playwright) the test skips, saying so; where
    CI is set it fails instead, since CI must run it (scripts/setup.sh installs chromium)."""
    path = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        path, why = None, "playwright is not installed (pip install -e '.[test]')"
    else:
        why = "no chromium on PATH (scripts/setup.sh installs Debian's `chromium` as root; or set EVOKD_CHROMIUM)"
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test, but {why}")
        pytest.skip(f"BROWSER TEST NOT RUN: {why}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path)
        yield b
        b.close()


def _open_offline(browser, page_path: Path):
    """The page, opened from disk with the network cut off; `leaks` lists any request that is
    not for a file: or data: URL, `errors` the page's uncaught errors."""
    context = browser.new_context(offline=True, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.leaks, page.errors = [], []
    page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else page.leaks.append(r.url))
    page.on("requestfailed", lambda r: page.leaks.append(f"failed: {r.url}"))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(page_path.resolve().as_uri())
    return page


def _keep(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / name
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    return shot


# Per image, canvas or inline SVG: its drawn size, and how many of its pixels are not (near)
# white once drawn onto a canvas (an inline SVG through an image of its markup).
_INK = """async (el) => {
  if (el instanceof SVGElement) {
    const img = new Image();
    img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(new XMLSerializer().serializeToString(el));
    await img.decode();
    img.box = el.getBoundingClientRect();
    el = img;
  }
  const w = el.naturalWidth || el.width, h = el.naturalHeight || el.height;
  const c = document.createElement('canvas'); c.width = w; c.height = h;
  const ctx = c.getContext('2d'); ctx.drawImage(el, 0, 0);
  const px = ctx.getImageData(0, 0, w, h).data; let ink = 0;
  for (let i = 0; i < px.length; i += 4)
    if (px[i + 3] > 0 && (px[i] < 230 || px[i + 1] < 230 || px[i + 2] < 230)) ink++;
  const box = el.box || el.getBoundingClientRect();
  return {width: Math.round(box.width), height: Math.round(box.height), ink: ink, share: ink / (w * h)};
}"""


def _assert_drawn(name: str, info: dict) -> None:
    assert info["width"] >= 200 and info["height"] >= 80, f"{name} is too small: {info}"
    # A chart with axes and marks inks a few percent of its area; a blank one none.
    assert info["ink"] > 500 and 0.01 < info["share"] < 0.9, f"{name} looks blank: {info}"


def test_report_html_renders_offline(browser, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report_stage(write_rounds(tmp_path))
    page = _open_offline(browser, tmp_path / "reports/report.html")
    page.wait_for_load_state("load")
    charts = page.locator("img.chart")
    assert charts.count() == 5
    for i in range(charts.count()):
        img = charts.nth(i)
        name = img.get_attribute("id")
        assert img.evaluate("el => el.complete && el.naturalWidth > 0"), f"{name} did not load"
        _assert_drawn(name, img.evaluate(_INK))
    assert page.locator("h3").all_inner_texts() == ["Round 0", "Round 1", "Round 2"]
    assert "Where is <script>alert(1)</script> Paris ?" in page.locator("table").nth(2).inner_text()
    _keep(page, "report.png")
    assert page.leaks == [] and page.errors == []


def test_dvc_plots_show_and_diff_render_offline(browser, tmp_path, monkeypatch):
    """`dvc plots show` and `dvc plots diff` with the project's .dvc/config: the page inlines
    the Vega scripts, loads nothing from the network, and draws all four plots of dvc.yaml."""
    root = make_project(tmp_path / "project", slots=2)
    monkeypatch.chdir(root)
    report_stage(write_rounds(root))
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "a run"], root)
    report_stage(write_rounds(root, {0: 0.25, 1: 0.375, 2: 0.625}))  # a second run, in the workspace

    for cmd, out in ((["dvc", "plots", "show", "-o", "show"], "show"),
                     (["dvc", "plots", "diff", "HEAD", "-o", "diff"], "diff")):
        run(cmd, root)
        html = (root / out / "index.html").read_text()
        assert not re.search(r"""<script[^>]*\ssrc\s*=\s*["']?(https?:)?//""", html), "a script loads from the network"
        assert "window.vegaEmbed=" in html
        page = _open_offline(browser, root / out / "index.html")
        # DVC asks vega-embed for SVG output: one svg.marks per plot once Vega has drawn it.
        page.wait_for_function(
            "document.querySelectorAll('.vega-embed .chart-wrapper svg.marks').length === 4", timeout=30_000)
        divs = page.locator(".vega-embed").all()
        assert [d.get_attribute("id") for d in divs] == [
            "score_per_round", "score_against_spend", "per_label_f1", "confusion"]
        for div in divs:
            _assert_drawn(div.get_attribute("id"), div.locator("svg.marks").evaluate(_INK))
        # The revisions compared: the workspace alone, then the workspace and HEAD.
        legend = page.locator("#per_label_f1 svg.marks").evaluate("el => el.textContent")
        assert ("HEAD" in legend) == (out == "diff") and "workspace" in legend
        _keep(page, f"dvc_plots_{out}.png")
        assert page.leaks == [] and page.errors == [], (page.leaks, page.errors)


def test_shipped_plots_template_is_offline():
    """.dvc/config points `dvc plots` at the committed template; it has DVC's plot placeholder,
    not its scripts placeholder (which DVC fills with CDN script tags), and no external script."""
    config = (ROOT / ".dvc/config").read_text()
    assert re.search(r"\[plots\]\s*\n\s*html_template = offline_plots.html", config)
    page = (ROOT / ".dvc/offline_plots.html").read_text()
    assert "{plot_divs}" in page and "{scripts}" not in page
    assert not re.search(r"""<script[^>]*\ssrc\s*=""", page)
    assert "window.vegaEmbed=" in page
