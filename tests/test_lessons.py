"""Lesson links: each opens its page in walkthrough mode at its step, hides what it names, and the
link it hands on keeps the lesson; the presenter view drops the code expanders."""
import pytest

from core.app_pages import PAGES
from core.lessons import LESSONS, lessons_for
from tests.pagetest import assert_ok, notices, open_page, widget

BY_PATH = {p.url_path: p for p in PAGES}
BUILT = lessons_for(set(BY_PATH))


def test_every_lesson_points_at_a_page_in_the_lecture_order():
    order = [p.url_path for p in PAGES]
    pages = [lesson.page for lesson in BUILT]
    assert pages == sorted(pages, key=order.index), "lessons must follow the lecture (page) order"
    assert len(BUILT) >= 10 and {p.url_path for p in PAGES[:5]} <= set(pages)
    assert all(lesson.step >= 1 for lesson in LESSONS)


@pytest.mark.parametrize("lesson", BUILT, ids=lambda lesson: f"{lesson.page}-{lesson.step}")
def test_lesson_opens_at_its_step_with_its_controls_hidden(lesson, one_torch_thread):
    at = open_page(BY_PATH[lesson.page].path, lesson.query())
    assert_ok(at)
    assert notices(at) == "", notices(at)  # every hidden key exists on that step, nothing in the link ignored
    step = widget(at, "step")
    assert step.value.startswith(f"{lesson.step}. "), step.value
    link = at.sidebar.code[0].value
    assert "walkthrough=true" in link and ("step=" in link) == (lesson.step > 1)  # step 1 is the default
    if lesson.hide:
        assert "hide=" in link
        for key in lesson.hide:
            if key != "code":
                widget(at, key)  # still there (bound to the link), only out of sight
    assert not at.expander or all("code" not in e.label.lower() for e in at.expander)


def test_presenter_view_and_bogus_hide_keys(one_torch_thread):
    at = open_page("pages/flow.py", {"present": "true", "hide": "K,nonsense"})
    assert_ok(at)
    assert "nonsense" in notices(at) and "`K`" not in notices(at)
    assert "present=true" in at.sidebar.code[0].value
    assert all("code" not in e.label.lower() for e in at.expander)  # no code expander in the presenter view
