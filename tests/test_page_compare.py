"""AppTest: the compare page (views, opens on the precomputed result, extreme and nonsense links, live training,
walkthrough)."""
import numpy as np
import pytest

from tests.pagetest import assert_ok, captions, link, notices, open_page, open_views, shown, views, widget, widget_in
from tests.pagetest import view_switch as switch

PAGE = "pages/compare.py"
TABLE, CURVES = "Samples and table", "Training curves"
VIEW_CHARTS = {TABLE: 1, CURVES: 2}  # samples (and the table, a dataframe); sample quality over time, own losses

pytestmark = pytest.mark.usefixtures("one_torch_thread")






def test_defaults_open_on_the_precomputed_result():
    ats = open_views(PAGE)
    assert list(ats) == list(VIEW_CHARTS)
    for label, at in ats.items():
        assert_ok(at)
        assert len(at.get("plotly_chart")) == VIEW_CHARTS[label], label
        assert widget(at, "data").value == "moons" and widget(at, "budget").value == 10
        assert "Precomputed, by `python -m core compare --data moons --budget 10" in captions(at)
        assert (f"view={label.replace(' ', '+')}" in link(at)) == (label != TABLE), (label, link(at))
    at = ats[TABLE]
    assert [c.key for c in at.get("plotly_chart")] == ["samples"]
    table, cost = at.dataframe[0].value, at.dataframe[1].value  # quality; what it can do and what it costs
    assert list(table["model"][:4]) == ["GAN", "VAE", "Flow", "Diffusion"] and list(cost["model"]) == list(table["model"])
    assert table["test NLL"][0] == "—" and table["test NLL"][3].startswith("<= ")
    assert table["MMD^2"][4] == "≈ 0 (within noise)"  # KDE's unbiased estimate comes out below 0 on the moons
    assert cost["can do"][2] == "sample; exact ln p"
    reading = " ".join(m.value for m in at.markdown if m.value.startswith("- "))
    assert "sliced Wasserstein" in reading and "KDE" in reading
    at = ats[CURVES]
    assert [c.key for c in at.get("plotly_chart")] == ["curves", "losses"]
    assert not at.dataframe and not [t for t in at.toggle if t.key == "kde"]  # the table and its toggle are elsewhere


@pytest.mark.parametrize("query", [
    {"data": "Ring of 8 Gaussians", "budget": 30, "seed": 2147483647, "kde": "true"},
    {"data": "Checkerboard", "budget": 2},
    {"data": "5x5 grid of Gaussians", "budget": 10},
])
def test_extreme_values_in_the_link_are_shown(query):
    ats = open_views(PAGE, query)
    links = set()
    for label, at in ats.items():
        assert_ok(at, min_charts=VIEW_CHARTS[label])
        assert not notices(at), (label, notices(at))
        if query["budget"] != 10 or "seed" in query:
            assert "until you click **Train again**" in captions(at)  # shows the precomputed one and says so
        # defaults stay out of the link; the rest is in it, whichever view is shown
        assert all((f"{k}=" in link(at)) == (str(v) != "10" or k != "budget") for k, v in query.items()), (label, link(at))
        links.add(frozenset(p for p in link(at).lstrip("?").split("&") if not p.startswith("view=")))
    assert len(links) == 1, links
    for key, value in query.items():
        w = widget_in(ats, key)
        assert str(shown(w)).lower() == str(value).lower(), (key, shown(w), value)
    if query.get("kde"):
        assert "KDE (reference)" in ats[TABLE].get("plotly_chart")[0].proto.spec  # KDE's samples get a panel


def test_nonsense_link_parameters_fall_back_with_a_notice():
    ats = open_views(PAGE, {"data": "Klein bottle", "budget": "999", "seed": "-1", "kde": "maybe", "zz": "1"})
    for label, at in ats.items():
        assert_ok(at, min_charts=VIEW_CHARTS[label])
        text = notices(at)
        for key in ("data=Klein bottle", "budget=999", "seed=-1", "`zz`") + (("kde=maybe",) if label == TABLE else ()):
            assert key in text, (label, key, text)
        assert widget(at, "data").value == "moons" and widget(at, "budget").value == 10
    assert "kde=maybe" not in notices(ats[CURVES])  # checked where its toggle is drawn
    at = open_page(PAGE, {"view": "Nowhere"})
    assert_ok(at, min_charts=VIEW_CHARTS[TABLE])
    assert "view=Nowhere" in notices(at) and switch(at).value == TABLE


def test_my_points_need_enough_points_then_train_live():
    at = open_page(PAGE, {"data": "My points (click or CSV)", "budget": 2})
    assert_ok(at)
    assert any("at least 20" in i.value for i in at.info)
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.normal((-1.5, 0), 0.3, (40, 2)), rng.normal((1.5, 0.5), 0.3, (40, 2))])
    at.session_state["_compare_points"] = pts.tolist()
    at.run()
    assert_ok(at)
    assert any("Nothing trained" in i.value for i in at.info)
    at.button(key="train").click().run(timeout=240)
    assert_ok(at, min_charts=VIEW_CHARTS[TABLE])
    assert "Trained on this server: 2 s per family" in captions(at)
    table = at.dataframe[1].value  # what it can do and what it costs
    assert len(table) == 6 and all(float(s) >= 2.0 for s in table["train s"][:4])
    switch(at).set_value(CURVES).run()  # another view (any session, same points, budget and seed): no training
    assert_ok(at, min_charts=VIEW_CHARTS[CURVES])
    assert "Trained on this server" in captions(at) and not at.status
    assert "view=Training+curves" in link(at) and "data=My+points" in link(at)


def test_walkthrough_steps_through_the_lecture():
    at = open_page(PAGE, {"walkthrough": "true"})
    assert_ok(at)
    assert not views(at)  # no view switch in the walkthrough: one step's section at a time
    headings = lambda: [m.value for m in at.markdown if m.value.startswith("#### Step")]  # noqa: E731
    charts = [1, 0, 0, 0, 2]  # samples; the table (three steps); the curves
    seen = []
    for i in range(6):
        seen.append(headings()[0])
        assert len(at.get("plotly_chart")) == charts[min(i, 4)], seen[-1]
        assert bool(at.dataframe) == (1 <= i <= 3), seen[-1]
        [b for b in at.button if b.label == "Next"][0].click().run()
        assert_ok(at)
    assert len(set(seen)) == 5 and seen[0] == "#### Step 1. Generative vs discriminative"
    assert seen[-1] == "#### Step 5. What each family trades"


def test_the_lesson_link_opens_its_step_with_the_code_hidden():
    at = open_page(PAGE, {"walkthrough": "true", "step": 5, "hide": "code"})
    assert_ok(at, min_charts=2)
    assert not notices(at), notices(at)
    assert [m.value for m in at.markdown if m.value.startswith("#### Step")] == ["#### Step 5. What each family trades"]
