"""A link with non-default settings reopens the same view on every page: the widgets show the link's
values, the sidebar shows its seed, nothing in it is ignored, and the sidebar hands on the same link."""
import pytest

from core.app_pages import PAGES
from tests.pagetest import assert_ok, notices, open_page, shown, widget

# the view-shaping keys changed on each page (chosen among its controls; cheap to compute)
CHANGED = {"bayes": ["n", "sep", "corr"], "gan": ["data", "loss", "n"], "vae": ["model", "grid", "span"],
           "flow": ["data", "ns", "logp"], "diffusion": ["t", "sched", "data"], "compare": ["data", "kde"],
           "guided": [], "text_to_image": []}
SEED = 7
# a non-default view for the link to reopen, where the changed keys live in one (``view`` is then checked too)
LINK_VIEW = {"vae": "Generate"}


def _other_value(w):
    """A value other than the widget's current one, as it appears in a link."""
    kind = type(w).__name__
    if kind in ("Selectbox", "Radio"):
        labels = list(w.options)  # AppTest holds the options as the labels the user sees
        return next(lbl for lbl in labels if lbl != shown(w))
    if kind == "Toggle":
        return str(not w.value).lower()
    if kind in ("Slider", "NumberInput"):
        v = w.min if w.value != w.min else w.max
        return str(int(v)) if float(v) == int(v) else str(v)
    raise TypeError(kind)


@pytest.mark.parametrize("spec", PAGES, ids=lambda s: s.url_path)
def test_a_link_reopens_the_same_view(spec, one_torch_thread):
    view = LINK_VIEW.get(spec.url_path)
    first = open_page(spec.path, {"view": view} if view else None)
    assert_ok(first)
    query = {"seed": str(SEED), **({"view": view} if view else {})}
    for key in CHANGED.get(spec.url_path, []):
        query[key] = _other_value(widget(first, key))
    at = open_page(spec.path, query)
    assert_ok(at)
    assert notices(at) == "", notices(at)
    for key, value in query.items():
        if key == "view":
            assert next(b.value for b in at.get("button_group") if b.key == "view") == value
            continue
        w = widget(at, key)
        got = shown(w)
        got = str(got).lower() if isinstance(got, bool) else got
        assert str(got) == value or (isinstance(got, float) and float(value) == got), (key, got, value)
    assert any(f"Seed of this view: **{SEED}**" in c.value for c in at.sidebar.caption)
    link = at.sidebar.code[0].value
    for key in query:
        assert f"{key}=" in link, (key, link)
