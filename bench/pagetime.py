"""Page timing in a real browser: cold and warm first render, and slider-change redraws.

    from bench.pagetime import measure_pages
    rows = measure_pages(["bayes"], redraws=10)

Cold = the first visit after the server started (empty caches, imports not done).
Warm = a new browser session on the same server (what the next student sees).
Nav = the page opened from the sidebar of an open GenLab tab (in-app navigation, no reload: what a
student moving through the lecture sees), median of three, each from the home page.
Redraw = a slider in the page's main area nudged by one step with the keyboard, until the
rerun is over; median of ``redraws`` nudges. Peak RSS is the server's VmHWM.
"""
from __future__ import annotations

import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests import browser  # noqa: E402

VIEWPORT = {"width": 1400, "height": 1000}
# the first slider a user sees in the page's main area (not one inside a collapsed expander)
SLIDER = '[data-testid="stMain"] [data-testid="stSlider"] input[type=range] >> visible=true'


def _nudge(page, i: int):
    slider = page.locator(SLIDER).first
    def act():
        slider.focus()
        page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
    return act


def measure_pages(url_paths: list[str], redraws: int = 10, timeout_s: float = 180) -> list[dict]:
    rows = []
    with browser.streamlit_server() as (base, proc), browser.chromium() as chromium:
        for path in url_paths:
            cold_page = chromium.new_context(viewport=VIEWPORT).new_page()
            cold = browser.open_and_time(cold_page, f"{base}/{path}", timeout_s)
            warm_page = chromium.new_context(viewport=VIEWPORT).new_page()
            warm = browser.open_and_time(warm_page, f"{base}/{path}", timeout_s)
            navs = []
            if path:
                for _ in range(3):
                    browser.open_and_time(warm_page, base + "/", timeout_s)
                    navs.append(browser.navigate_and_time(warm_page, path, timeout_s))
            times = []
            if warm_page.locator(SLIDER).count():
                for i in range(redraws):
                    times.append(browser.change_and_time(warm_page, _nudge(warm_page, i), timeout_s))
            errors = browser.exceptions_on(warm_page)
            rows.append({"page": path or "home", "cold_s": cold, "warm_s": warm,
                         "nav_s": statistics.median(navs) if navs else float("nan"),
                         "redraw_median_s": statistics.median(times) if times else float("nan"),
                         "redraw_max_s": max(times) if times else float("nan"), "errors": len(errors)})
            cold_page.context.close()
            warm_page.context.close()
        rss = browser.peak_rss_mb(proc.pid)
    for r in rows:
        r["server_peak_rss_mb"] = rss
    return rows


def print_table(rows: list[dict], title: str) -> None:
    cols = list(rows[0])
    print(f"\n{title}")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in r.values()) + " |")
