"""Real-browser smoke test: every page in headless Chromium against a real `streamlit run`."""
import contextlib
import re
from pathlib import Path

import pytest

from core.app_pages import HOME, PAGES
from tests import browser

SHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"

pytestmark = pytest.mark.skipif(browser.chromium_path() is None, reason="Chromium is not installed")


def test_every_page_renders_in_a_real_browser():
    SHOTS.mkdir(parents=True, exist_ok=True)
    # Deep link first, on a fresh server: the page must still come up inside the router.
    order = PAGES + [HOME]
    with browser.streamlit_server() as (base, _), browser.chromium() as chromium:
        page = chromium.new_page(viewport={"width": 1400, "height": 1000})
        for spec in order:
            browser.open_and_time(page, f"{base}/{spec.url_path}", timeout_s=120)
            name = spec.url_path or "home"
            browser.screenshot_full(page, str(SHOTS / f"{name}.png"))
            assert browser.exceptions_on(page) == [], f"{name}: exception on the page"
            sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
            assert "Walkthrough" in sidebar and "Device" in sidebar, f"{name}: page ran outside the router"
            for other in PAGES:
                assert other.title in sidebar, f"{name}: navigation lacks {other.title}"
            if spec is not HOME:
                # every page's default view draws a figure: a plotly chart or a picture (guided opens on its samples)
                figures = (page.locator('[data-testid="stPlotlyChart"]').count()
                           + page.locator('[data-testid="stImage"] img').count())
                assert figures >= 1, f"{name}: no figure drawn"
        # In-app navigation in one tab, as a student moves through the lecture: pages share short widget keys
        # (the GAN's "noise" distribution, the VAE's "noise" level), and a value left by one page must not
        # reach the next page's widget of the same key. Walkthrough mode stays on from page to page.
        tab = chromium.new_page(viewport={"width": 1400, "height": 1000})
        browser.open_and_time(tab, f"{base}/gan?noise=uniform&n=100", timeout_s=120)
        for spec in PAGES:
            browser.navigate_and_time(tab, spec.url_path, timeout_s=120)
            assert browser.exceptions_on(tab) == [], f"{spec.url_path} after in-app navigation: exception on the page"
        # walkthrough on (waiting for the rerun the click starts, not just for the page to be idle before it)
        browser.change_and_time(tab, tab.locator('[data-testid="stSidebar"] [data-testid="stCheckbox"]').first.click, 60)
        browser.navigate_and_time(tab, "bayes", timeout_s=120)
        step_list = tab.get_by_text("Walkthrough step (of 8)")
        with contextlib.suppress(Exception):  # the count below says what is wrong if it never shows
            step_list.first.wait_for(timeout=30_000)
        assert step_list.count() == 1, "walkthrough mode lost on page switch"
        assert browser.exceptions_on(tab) == []
        # A copied link reopens the same view in a new session.
        fresh = chromium.new_page(viewport={"width": 1400, "height": 1000})
        scripts = []
        fresh.on("request", lambda r: scripts.append(r.url) if r.url.endswith(".js") else None)
        browser.open_and_time(fresh, f"{base}/bayes?data=Two+moons&seed=7&n=50", timeout_s=120)
        assert fresh.locator('[data-testid="stSelectbox"] input').first.input_value() == "Two moons"
        assert "Seed of this view: 7" in fresh.locator('[data-testid="stSidebar"]').inner_text()
        # st.code's 1.5 MB syntax highlighter loads only once code is asked for (the link's popover, a code expander)
        assert not [u for u in scripts if "SyntaxHighlighter" in u], "the first view loaded the syntax highlighter"
        fresh.locator('[data-testid="stSidebar"]').get_by_role("button", name=re.compile("Link to this view")).click()
        link = fresh.locator('[data-testid="stPopoverBody"] [data-testid="stCode"]')
        link.wait_for(timeout=30_000)
        assert "seed=7" in link.inner_text() and "data=Two+moons" in link.inner_text()
