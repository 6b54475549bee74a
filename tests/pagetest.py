"""Helpers for AppTest page tests: open a page through the router, as a browser would."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "streamlit_app.py")


def open_page(page: str, query: dict | None = None, timeout: float = 120, code: bool = False) -> AppTest:
    """Open ``page`` (e.g. ``"pages/bayes.py"``) as a fresh browser session following a link:
    the router runs with ``query`` in the URL and renders that page on its first run.
    ``code``: with the page's two code expanders open ("Show the code", "Reproduce this view in
    Python"); closed, they hold nothing (their content is made only when opened).

    (Pages' url_path equals their file name, so the page is found before the first run.)
    """
    at = AppTest.from_file(APP, default_timeout=timeout)
    if query:
        at.query_params.update({k: str(v) for k, v in query.items()})
    if code:
        from core import ui

        at.session_state[ui.SHOW_CODE_KEY] = at.session_state[ui.REPRODUCE_KEY] = True
    at.switch_page(page)
    at.run()
    return at


def assert_ok(at: AppTest, min_charts: int = 0) -> None:
    """No exception, no error box, the router's sidebar present, and at least ``min_charts`` plotly charts."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert [t.key for t in at.sidebar.toggle] == ["walkthrough"], "page did not run inside the router"
    charts = at.get("plotly_chart")
    assert len(charts) >= min_charts, f"expected >= {min_charts} plotly charts, found {len(charts)}"


def notices(at: AppTest) -> str:
    """The text of the router's notice about link parameters it could not use ("" if none)."""
    return " ".join(i.value for i in at.info if i.value.startswith("This link had settings"))


def widget(at: AppTest, key: str):
    """The input widget whose key (= URL parameter) is ``key``."""
    for kind in ("selectbox", "slider", "number_input", "radio", "toggle"):
        for w in getattr(at, kind):
            if w.key == key:
                return w
    raise KeyError(key)


def shown(w):
    """A widget's value as the user sees it (and as it appears in the link)."""
    return w.format_func(w.value) if getattr(w, "format_func", None) else w.value


def captions(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def views(at: AppTest) -> list[str]:
    """The labels of the page's view switch (``?view=...``), or [] for a page without views."""
    return next((list(b.options) for b in at.get("button_group") if b.key == "view"), [])


def open_views(page: str, query: dict | None = None, timeout: float = 120, code: bool = False) -> dict[str, AppTest]:
    """Open ``page`` once per view (the same ``query`` plus ``view=label``): label -> AppTest.
    A page without views gives ``{"": at}``. ``code`` as in :func:`open_page`."""
    first = open_page(page, query, timeout, code)
    labels = views(first)
    if not labels:
        return {"": first}
    out = {labels[0]: first} if (query or {}).get("view", labels[0]) == labels[0] else {}
    for label in labels:
        if label not in out:
            out[label] = open_page(page, {**(query or {}), "view": label}, timeout, code)
    return out


def widget_in(ats, key: str):
    """The widget ``key`` from whichever of the AppTests (e.g. one per view) draws it."""
    for at in (ats.values() if isinstance(ats, dict) else ats):
        try:
            return widget(at, key)
        except KeyError:
            continue
    raise KeyError(key)


def link(at: AppTest) -> str:
    """The sidebar's link to this view."""
    return at.sidebar.code[0].value


def image_captions(at: AppTest) -> str:
    return " ".join(img.caption for e in at.get("image") for img in e.proto.imgs)


def view_switch(at: AppTest):
    """The page's view switch (the segmented control bound to ``view``)."""
    return next(b for b in at.get("button_group") if b.key == "view")


def switch_view(at: AppTest, label: str) -> None:
    """Pick another view in the same session (as a click on the switch does)."""
    view_switch(at).set_value(label).run()
    assert not at.exception, [e.value for e in at.exception]


def open_each_view(page: str, charts: dict, images: dict | None = None, query: dict | None = None,
                   code: bool = False) -> dict[str, AppTest]:
    """Open ``page`` once per view and check each: the views are ``charts``' keys in order, no exception or
    warning, exactly ``charts[label]`` plotly charts (and ``images[label]`` images), and the link names the view
    unless it is the default. Returns label -> AppTest."""
    ats = open_views(page, query, code=code)
    assert list(ats) == list(charts)
    default = next(iter(charts))
    for label, at in ats.items():
        assert_ok(at)
        assert not at.warning, (label, [w.value for w in at.warning])
        assert len(at.get("plotly_chart")) == charts[label], label
        if images is not None:
            assert len(at.get("image")) == images[label], label
        assert (f"view={label.replace(' ', '+')}" in link(at)) == (label != default), (label, link(at))
    return ats


def step_headings(at: AppTest) -> list[str]:
    """The walkthrough's step headings drawn now ("#### Step 3. ...")."""
    return [m.value for m in at.markdown if m.value.startswith("#### Step")]


def walk(at: AppTest, clicks: int, measure=None, no_errors: bool = False) -> tuple[list[str], list]:
    """Press the walkthrough's *Next* ``clicks`` times from where ``at`` is: each step's heading and, with
    ``measure(at)``, what that step drew, both taken before its click. No exception on any step (nor an error box,
    with ``no_errors``)."""
    seen, drawn = [], []
    for _ in range(clicks):
        seen.append(step_headings(at)[0])
        if measure is not None:
            drawn.append(measure(at))
        next(b for b in at.button if b.label == "Next").click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert not (no_errors and at.error), [e.value for e in at.error]
    return seen, drawn
