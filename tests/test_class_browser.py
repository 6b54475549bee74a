"""Class mode in a real browser: the teacher's presenter view at 1400 px and a student's phone (390 x 844) side by side.

The teacher opens a class on the home page and shows the join code; the student opens the join link; the teacher
opens a lesson step in the presenter view (a plain link: a new session, still the teacher's); the student's phone
follows; the teacher asks the step's question, the student picks on the figure and sends, the teacher's chart shows
the answer, the reveal reaches the phone; the student explores, then catches up; the teacher downloads the answers as CSV and ends the class.

``GENLAB_PATH_SHOTS=1`` saves the screenshots in ``artifacts/screenshots/class/`` for looking at them.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from core import questions as qs
from tests import browser

pytestmark = pytest.mark.skipif(browser.chromium_path() is None, reason="Chromium is not installed")

SHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots" / "class"
DEVELOPER_TEXT = re.compile(r"Traceback|Error:|GENLAB_[A-Z_]+")
PICK = next(q for q in qs.QUESTIONS if q.kind == "pick")


def shot(page, name: str) -> None:
    if os.environ.get("GENLAB_PATH_SHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"))


def until(page, text: str, timeout_s: float = 15) -> float:
    """Seconds until ``text`` shows on the page (fails after ``timeout_s``)."""
    t0 = time.perf_counter()
    page.get_by_text(text, exact=False).first.wait_for(state="visible", timeout=timeout_s * 1000)
    return time.perf_counter() - t0


def healthy(page) -> None:
    assert not browser.exceptions_on(page)
    body = page.inner_text("body")
    assert not DEVELOPER_TEXT.search(body), DEVELOPER_TEXT.search(body).group(0)
    assert page.evaluate("() => document.scrollingElement.scrollWidth <= window.innerWidth + 2"), "scrolls sideways"


def test_a_teacher_leads_and_a_phone_follows_and_answers():
    with browser.streamlit_server() as (base, _proc), browser.chromium() as chrome:
        t = chrome.new_context(viewport={"width": 1400, "height": 900}).new_page()
        t.goto(base + "/", wait_until="commit")
        browser.wait_rendered(t)
        t.get_by_role("button", name="Open a class").click()
        until(t, "Join at")
        code = t.evaluate("() => new URL(location.href).searchParams.get('class')")
        assert re.fullmatch(r"[a-z2-7]{4}(-[a-z2-7]{4}){3}", code)
        t.locator('[data-testid="stMain"] img[src*="/media/"]').first.wait_for(timeout=10_000)  # the QR code
        assert "lead=" not in t.url
        shot(t, "teacher-1-join-code")

        s = chrome.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True).new_page()
        s.goto(f"{base}/?class={code}", wait_until="commit")
        until(s, "Following your teacher")
        healthy(s)
        shot(s, "student-1-joined")
        until(t, "1 following now", 10)  # the teacher's count refreshes on its own

        # a lesson step in the presenter view, opened as a plain link: a new session, still the teacher's
        t.goto(f"{base}/{PICK.page}?walkthrough=true&step={PICK.step}&present=true", wait_until="commit")
        browser.wait_rendered(t)
        assert "You lead class" in t.inner_text("body")
        delay = until(s, f"Step {PICK.step}.", 15)
        print(f"student followed the teacher's step in {delay:.2f} s")
        healthy(s)
        shot(t, "teacher-2-step")
        shot(s, "student-2-step")

        t.get_by_role("button", name="Ask the class").click()
        until(s, "Question:", 15)
        for i in sorted(PICK.answer):
            s.locator('[data-testid="stButtonGroup"] button').nth(i).click()
            time.sleep(0.3)
        s.get_by_role("button", name="Send").click()
        until(s, "Your answer:")
        shot(s, "student-3-answered")
        until(t, "1 answered", 10)
        # the count is text, the chart draws after it (Vega renders on its own tick): wait for the chart itself
        t.locator('[data-testid="stVegaLiteChart"]').first.wait_for(state="visible", timeout=15_000)
        shot(t, "teacher-3-chart")
        t.get_by_role("button", name="Reveal the answer").click()
        until(t, "1 right")
        until(s, "Your answer was right", 15)
        healthy(s)
        shot(t, "teacher-4-revealed")
        shot(s, "student-4-revealed")

        s.get_by_role("button", name="Explore on my own").click()
        until(s, "Exploring on your own")
        t.get_by_role("button", name="Back").click()
        browser.wait_rendered(t)
        time.sleep(2.5)  # two of the student's polls: an explorer stays where they are
        assert f"Step {PICK.step}." in s.inner_text("body")
        s.get_by_role("button", name="Catch up").click()
        until(s, f"Step {PICK.step - 1}.", 15)
        healthy(s)

        with t.expect_download(timeout=15_000) as dl:  # the CSV is made when the button is clicked
            t.get_by_role("button", name="Answers (CSV)").click()
        csv_text = Path(dl.value.path()).read_text()
        assert csv_text.splitlines()[0].startswith("question_id,") and f"{PICK.id}," in csv_text
        assert "student 1" in csv_text and ",yes" in csv_text

        t.get_by_role("button", name="End the class").click()
        until(s, "The class has ended", 15)
        healthy(t)
