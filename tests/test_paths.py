"""The teacher's path and the student's path, in a real browser (Debian's Chromium through Playwright).

A teacher opens the home page, clicks each lesson link in turn (plain same-tab links), steps through a walkthrough
with Next and Back, and hands out the sidebar's "Link to this view"; that link, opened in a fresh browser (another
session), must show the same view with the same settings. A student opens a few lesson links on a phone (390 x 844).

Every page on the way fails the test when it shows an exception, text meant for developers (a traceback, "Error:",
an environment variable such as GENLAB_...), or at 1400 and 1024 px an equation or a figure's text that does not fit
its column (:data:`OVERFLOW_JS`). One server for the whole file; about 2.5 minutes here.

``GENLAB_PATH_SHOTS=1`` also saves a full-page screenshot of every lesson at both widths and on the phone in
``artifacts/screenshots/paths/``, for looking at them.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from core.app_pages import PAGES
from core.lessons import LESSONS, lessons_for
from tests import browser

pytestmark = pytest.mark.skipif(browser.chromium_path() is None, reason="Chromium is not installed")

SHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots" / "paths"
WIDTHS = (1400, 1024)
PHONE = {"width": 390, "height": 844}
#: Text a student must never read: an exception, or a setting of the server (GENLAB_ALLOW_SD_DOWNLOAD...).
DEVELOPER_TEXT = re.compile(r"Traceback|Error:|GENLAB_[A-Z_]+")

#: What does not fit, on the page shown: a piece of an equation outside the element that holds it (or one that has
#: to be scrolled), a figure wider than its column, a figure's title, subplot title or legend entry outside the
#: figure or two of its titles on top of each other, and a page that scrolls sideways.
OVERFLOW_JS = r"""() => {
  const bad = [], tol = 2;
  const name = (el) => (el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 60);
  const column = (el) => el.closest('[data-testid="stColumn"]') || el.closest('[data-testid="stMain"]');
  const outside = (r, box) => r.width > 0 && (r.left < box.left - tol || r.right > box.right + tol);
  document.querySelectorAll('[data-testid="stMain"] .katex').forEach((k) => {
    const what = name(k.querySelector('.katex-mathml') || k);
    const box = (k.closest('[data-testid="stMarkdown"]') || column(k)).getBoundingClientRect();
    if ([...k.querySelectorAll('.katex-html > .base')].some((b) => outside(b.getBoundingClientRect(), box)))
      bad.push('equation wider than its column: ' + what);
    const d = k.closest('.katex-display');
    if (d && d.scrollWidth > d.clientWidth + tol) bad.push('equation to scroll: ' + what);
  });
  document.querySelectorAll('[data-testid="stMain"] [data-testid="stPlotlyChart"]').forEach((c) => {
    if (outside(c.getBoundingClientRect(), column(c).getBoundingClientRect())) bad.push('figure wider than its column');
    const svg = c.querySelector('.main-svg');
    if (!svg) return;
    const fr = svg.getBoundingClientRect();
    for (const t of c.querySelectorAll('.gtitle, .annotation-text, .legendtext')) {
      const r = t.getBoundingClientRect();
      if (outside(r, fr) || (r.height > 0 && r.top < fr.top - tol)) bad.push('figure text cut: ' + name(t));
    }
    const titles = [...c.querySelectorAll('.gtitle, .annotation-text')].filter((t) => name(t))
                     .map((t) => [name(t), t.getBoundingClientRect()]);
    for (let i = 0; i < titles.length; i++) for (let j = i + 1; j < titles.length; j++) {
      const [a, p] = titles[i], [b, q] = titles[j];
      if (p.left < q.right - tol && q.left < p.right - tol && p.top < q.bottom - tol && q.top < p.bottom - tol)
        bad.push('figure titles on top of each other: ' + a + ' / ' + b);
    }
  });
  return bad.concat(SIDEWAYS());
}"""
SIDEWAYS_JS = r"""() => {
  const main = document.querySelector('[data-testid="stMain"]'), doc = document.documentElement;
  const out = [];
  if (main && main.scrollWidth > main.clientWidth + 2) out.push('the page scrolls sideways: ' + main.scrollWidth + ' px');
  if (doc.scrollWidth > window.innerWidth + 2) out.push('the document scrolls sideways: ' + doc.scrollWidth + ' px');
  return out;
}"""
OVERFLOW_JS = OVERFLOW_JS.replace("SIDEWAYS()", f"({SIDEWAYS_JS})()")
#: Every figure drawn (plotly draws after the script run is over).
_FIGURES_DRAWN = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
                         .every((c) => c.querySelector('.main-svg'))"""


@pytest.fixture(scope="module")
def server():
    with browser.streamlit_server() as (base, _):
        yield base


@pytest.fixture(scope="module")
def chromium():
    with browser.chromium() as b:
        yield b


def _settle(page, timeout_s: float = 120) -> None:
    browser.wait_rendered(page, timeout_s)
    try:
        page.wait_for_function(_FIGURES_DRAWN, timeout=15_000, polling=100)
    except Exception:  # noqa: BLE001 - a figure that never draws shows up in the checks, not as a timeout here
        pass
    page.wait_for_timeout(400)  # plotly's relayout and the equations' fit (core/ui/walkthrough.py) after the last change


def _problems(page, where: str, layout: bool = True) -> list[str]:
    """What a student must not see on the page now: exceptions, developer text and (``layout``) overflow."""
    found = [f"{where}: exception on the page" for _ in browser.exceptions_on(page)]
    text = page.locator("body").inner_text()
    found += [f"{where}: developer text {m.group(0)!r} on the page" for m in DEVELOPER_TEXT.finditer(text)]
    found += [f"{where}: {p}" for p in (page.evaluate(OVERFLOW_JS) if layout else page.evaluate(SIDEWAYS_JS))]
    return found


def _shot(page, name: str) -> None:
    if os.environ.get("GENLAB_PATH_SHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        browser.screenshot_full(page, str(SHOTS / f"{name}.png"))


def _step_shown(page) -> str:
    """The walkthrough step the page shows ("3. The title"), from its step list."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Walkthrough step").first
    return box.locator("input").input_value()


def _expect_step(page, prefix: str, timeout_s: float = 30) -> str:
    """The step shown, once it starts with ``prefix`` (fails after ``timeout_s`` with the step it shows instead): a
    click's rerun reaches the server a moment after the click, so the step list changes after ``_settle`` may return."""
    deadline = time.monotonic() + timeout_s
    while not _step_shown(page).startswith(prefix) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    _settle(page)
    step = _step_shown(page)
    assert step.startswith(prefix), f"expected step {prefix!r}, the page shows {step!r}"
    return step


def _click(page, button) -> None:
    """Click a button and wait for the rerun it starts to be over (not just for the page to be idle before it)."""
    browser.change_and_time(page, button.click, timeout_s=120)
    _settle(page)


def _sidebar_link(page) -> str:
    page.locator('[data-testid="stSidebar"]').get_by_role("button", name=re.compile("Link to this view")).click()
    code = page.locator('[data-testid="stPopoverBody"] [data-testid="stCode"]')
    code.wait_for(timeout=30_000)
    link = code.inner_text().strip()
    page.keyboard.press("Escape")
    return link


def test_the_teachers_path(server, chromium):
    lessons = lessons_for({p.url_path for p in PAGES})
    ctx = chromium.new_context(viewport={"width": WIDTHS[0], "height": 900})
    page = ctx.new_page()
    problems: list[str] = []
    browser.open_and_time(page, server + "/", timeout_s=120)
    problems += _problems(page, "home")
    links = page.locator('[data-testid="stMain"] a[href*="walkthrough=true"]:not([href*="present=true"])')
    assert links.count() == len(lessons), "the home page does not list every lesson once"
    for i, lesson in enumerate(lessons):
        href = links.nth(i).get_attribute("href")
        assert parse_qs(urlsplit(href).query)["step"] == [str(lesson.step)] and lesson.page in href
        links.nth(i).click()  # a plain same-tab link: a full page load, as the same link pasted would be
        page.wait_for_url(re.compile(rf"/{lesson.page}\?"), wait_until="commit", timeout=30_000)
        _settle(page)
        where = f"lesson {lesson.page} step {lesson.step}"
        assert _step_shown(page).startswith(f"{lesson.step}. "), f"{where}: opened on {_step_shown(page)!r}"
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            _settle(page)
            problems += _problems(page, f"{where} at {width} px")
            _shot(page, f"{lesson.page}_{lesson.step}_{width}")
        page.set_viewport_size({"width": WIDTHS[0], "height": 900})
        browser.open_and_time(page, server + "/", timeout_s=60)  # back to the list (Streamlit's own history
        # entries make the browser's Back step through the lesson's URLs first)
    assert not problems, "\n".join(problems)

    # Next and Back in a walkthrough, a setting changed, and the sidebar's link to this view
    first = lessons[0]
    browser.open_and_time(page, server + first.link(), timeout_s=120)
    n_steps = int(re.search(r"of (\d+)", page.get_by_text(re.compile(r"Walkthrough step \(of \d+\)")).inner_text())[1])
    main = page.locator('[data-testid="stMain"]')
    _click(page, main.get_by_role("button", name=re.compile("Next")))
    _expect_step(page, f"{first.step + 1}. ")
    _click(page, main.get_by_role("button", name=re.compile("Back")))
    _expect_step(page, f"{first.step}. ")
    _click(page, main.get_by_role("button", name=re.compile("Next")))
    _expect_step(page, f"{first.step + 1}. ")
    _click(page, main.get_by_role("button", name=re.compile("Next")))
    step = _expect_step(page, f"{min(first.step + 2, n_steps)}. ")
    data = page.locator('[data-testid="stSelectbox"]').filter(has_text="Data set").first
    data.click()
    _click(page, page.get_by_role("option", name="Two moons", exact=True))
    problems += _problems(page, f"{first.page} after Next, Next and another data set")
    link = _sidebar_link(page)
    query = parse_qs(urlsplit(link).query)
    assert query.get("walkthrough") == ["true"] and query.get("data") == ["Two moons"], link
    assert query.get("step") == [step], link

    # the link in a fresh browser: another session, the same view and the same settings
    fresh = chromium.new_context(viewport={"width": WIDTHS[1], "height": 900}).new_page()
    browser.open_and_time(fresh, link, timeout_s=120)
    _settle(fresh)
    assert _step_shown(fresh) == step
    assert fresh.locator('[data-testid="stSelectbox"]').filter(has_text="Data set").first.locator("input") \
        .input_value() == "Two moons"
    assert _sidebar_link(fresh) == link  # it hands on the very same link
    problems += _problems(fresh, "the shared link in a fresh browser")
    assert not problems, "\n".join(problems)


#: A student's phone: the first lesson of a few pages, opened from the link the teacher handed out.
PHONE_LESSONS = [next(x for x in LESSONS if x.page == page) for page in ("bayes", "gan", "flow", "diffusion")]


@pytest.mark.parametrize("lesson", [pytest.param(x, id=f"{x.page}-{x.step}") for x in PHONE_LESSONS])
def test_the_students_path_on_a_phone(server, chromium, lesson):
    ctx = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    try:
        browser.open_and_time(page, server + lesson.link(), timeout_s=120)
        _settle(page)
        where = f"phone, lesson {lesson.page} step {lesson.step}"
        problems = _problems(page, where, layout=False)
        assert not problems, "\n".join(problems)
        assert _step_shown(page).startswith(f"{lesson.step}. ")
        heading = page.get_by_text(re.compile(rf"^Step {lesson.step}\. ")).first
        assert heading.is_visible(), f"{where}: the step's text is not shown"
        nxt = page.locator('[data-testid="stMain"]').get_by_role("button", name=re.compile("Next"))
        box = nxt.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], f"{where}: Next is off the screen"
        _shot(page, f"phone_{lesson.page}_{lesson.step}")
    finally:
        ctx.close()
