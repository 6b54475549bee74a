"""AppTest: the router, the home page and the discriminative-vs-generative page."""
import pytest
from streamlit.testing.v1 import AppTest

from core.app_pages import PAGES
from tests.pagetest import APP, assert_ok, captions, notices, open_page, open_views, shown, step_headings, views, walk, widget_in

BAYES = "pages/bayes.py"


def test_home_lists_every_built_page_and_nothing_else():
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "GenLab"
    assert [t.key for t in at.sidebar.toggle] == ["walkthrough"]
    device = " ".join(c.value for c in at.sidebar.caption)
    assert "Device:" in device and any(d in device for d in ("cpu", "cuda", "mps"))
    assert len(PAGES) >= 1


def test_bayes_defaults():
    at = open_page(BAYES)
    assert_ok(at, min_charts=2)
    assert at.selectbox(key="data").value == "gaussians"
    assert "Seed of this view: **0**" in " ".join(c.value for c in at.sidebar.caption)
    assert views(at) == ["P(y | x)", "Generate", "NB as a linear model", "Learning curves", "Duplicated features"]


# charts each view draws
VIEW_CHARTS = {"P(y | x)": 2, "Generate": 1, "NB as a linear model": 1, "Learning curves": 1, "Duplicated features": 1}


def test_each_view_draws_only_its_own_figures():
    ats = open_views(BAYES)
    assert list(ats) == list(VIEW_CHARTS)
    for label, at in ats.items():
        assert_ok(at)
        assert len(at.get("plotly_chart")) == VIEW_CHARTS[label], label
        assert (f"view={label}" in at.sidebar.code[0].value.replace("+", " ").replace("%7C", "|")) == (label != "P(y | x)")


def test_a_hidden_views_setting_survives_in_the_link():
    """``gen`` shapes only the Generate view: a link holding it opens on another view without a
    notice, keeps it in the link, and the Generate view then shows it."""
    at = open_page(BAYES, {"gen": "1000"})
    assert_ok(at, min_charts=2)
    assert not notices(at), notices(at)
    assert "gen=1000" in at.sidebar.code[0].value
    at = open_page(BAYES, {"gen": "1000", "view": "Generate"})
    assert at.slider(key="gen").value == 1000


@pytest.mark.parametrize("query", [
    {"data": "Two moons", "n": 5, "seed": 99, "gen": 1000, "splits": 50},
    {"data": "Two Gaussian classes", "sep": 0, "corr": -0.95, "n": 500},
    {"data": "Two Gaussian classes", "sep": 6, "corr": 0.95, "var": "shared across classes"},
    {"data": "Iris (sklearn)", "f1": "petal length (cm)", "f2": "sepal width (cm)", "cls": "virginica vs setosa"},
    {"data": "Breast cancer (sklearn)", "curve": "All ten digits", "smooth": "0.01"},
    {"data": "Wine (sklearn)", "curve": "Digits 3 vs 8 (64 pixels)", "n": 500, "smooth": "1",
     "prep": "standardised on the training set", "lrc": "10000"},
    {"curve": "Digits 2 vs 3 (64 pixels)", "smooth": "0.1", "lrc": "0.01"},
])
def test_bayes_extremes_and_link_restores_view(query):
    ats = open_views(BAYES, query)
    links = set()
    for label, at in ats.items():
        assert_ok(at, min_charts=VIEW_CHARTS[label])
        assert not notices(at), (label, notices(at))  # every parameter was understood
        # the sidebar link carries the same settings, whichever view is shown
        link = at.sidebar.code[0].value
        assert "seed=99" in link if query.get("seed") else "seed=" not in link
        links.add(frozenset(p for p in link.lstrip("?").split("&") if not p.startswith("view=")))
    assert len(links) == 1, links  # the same settings in the link, whichever view is shown
    for key, value in query.items():
        w = widget_in(ats, key)
        assert str(shown(w)) == str(value) or (isinstance(w.value, float) and float(value) == w.value), (key, shown(w), value)


def test_bayes_learning_curves_default_says_what_it_measures():
    at = open_page(BAYES, {"view": "Learning curves"})
    assert_ok(at, min_charts=1)
    assert [shown(widget_in([at], k)) for k in ("curve", "smooth", "prep", "lrc", "splits")] == [
        "Digits 0 vs 1 (64 pixels)", "1e-09", "raw pixels in [0, 1]", "100", 20]
    text = " ".join(m.value for m in at.markdown)
    # computed numbers for the default setting (the paper's protocol), and the reasons next to the figure
    assert "Measured (20 splits, mean ± std): at **m = 2** per class: NB " in text
    assert "**NB is better at no m**" in text
    assert "Which settings make NB win" in text and "closest to the pair Ng & Jordan compare" in captions(at)
    assert [p for p in at.sidebar.code[0].value.lstrip("?").split("&") if not p.startswith("view=")] == []  # defaults


def test_bayes_learning_curves_follow_their_settings():
    at = open_page(BAYES, {"view": "Learning curves", "curve": "Digits 2 vs 3 (64 pixels)", "smooth": "0.1",
                           "prep": "standardised on the training set"})
    assert_ok(at, min_charts=1)
    assert not notices(at), notices(at)
    text = " ".join(m.value for m in at.markdown)
    assert "**NB is better up to m = " in text
    link = at.sidebar.code[0].value
    assert "smooth=0.1" in link and "prep=standardised" in link and "curve=Digits+2+vs+3" in link


def test_bayes_nonsense_learning_curve_settings_fall_back_with_a_notice():
    query = {"view": "Learning curves", "curve": "Wine (13 features)", "smooth": "0.5", "prep": "whitened",
             "lrc": "-1", "splits": "3"}
    at = open_page(BAYES, query)
    assert_ok(at, min_charts=1)
    text = notices(at)
    for key in ("curve=Wine", "smooth=0.5", "prep=whitened", "lrc=-1", "splits=3"):
        assert key in text, (key, text)
    assert [shown(widget_in([at], k)) for k in ("curve", "smooth", "prep", "lrc", "splits")] == [
        "Digits 0 vs 1 (64 pixels)", "1e-09", "raw pixels in [0, 1]", "100", 20]
    at = open_page(BAYES, {"view": "Learning curves", "splits": "nan", "lrc": "1e400"})
    assert_ok(at, min_charts=1)
    assert "splits=nan" in notices(at) and "lrc=1e400" in notices(at)


def test_same_features_are_caught():
    at = open_page(BAYES, {"data": "Wine (sklearn)", "f1": "alcohol", "f2": "alcohol"})
    assert_ok(at, min_charts=2)
    assert any("two different features" in w.value for w in at.warning)


def test_nonsense_url_parameters_fall_back_with_a_notice():
    at = open_page(BAYES, {"data": "Nonsense", "n": "99999", "seed": "abc", "sep": "nan", "walkthrough": "maybe", "zz": "1",
                           "view": "Nowhere"})
    assert_ok(at, min_charts=2)
    text = notices(at)
    for key in ("data=Nonsense", "n=99999", "seed=abc", "sep=nan", "walkthrough=maybe", "`zz`", "view=Nowhere"):
        assert key in text, (key, text)
    assert at.selectbox(key="data").value == "gaussians" and at.slider(key="n").value == 100


def test_widget_change_redraws():
    at = open_page(BAYES)
    before = at.get("plotly_chart")[0].proto.spec
    at.slider(key="sep").set_value(5.0).run()
    assert_ok(at, min_charts=2)
    assert at.get("plotly_chart")[0].proto.spec != before
    assert "sep=5" in at.sidebar.code[0].value


def test_walkthrough_steps_through_the_lecture():
    at = open_page(BAYES, {"walkthrough": "true"})
    assert_ok(at, min_charts=1)
    assert step_headings(at) == ["#### Step 1. Bayes' rule"]
    assert at.latex and "P(Y" in at.latex[0].value
    seen, _ = walk(at, 10)
    assert len(set(seen)) == 8 and seen[-1].startswith("#### Step 8")
    at.button[0].click().run()  # Back
    assert step_headings(at) == ["#### Step 7. Bias and variance: learning curves"]
    assert len(at.get("plotly_chart")) == 1


def test_home_with_nonsense_link_parameters_says_so():
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"junk": "1", "walkthrough": "perhaps"})
    at.run()
    assert not at.exception
    text = notices(at)
    assert "`junk`" in text and "walkthrough=perhaps" in text
    assert at.sidebar.toggle[0].value is False


def test_a_setting_made_in_another_view_stays_in_the_link():
    at = open_page(BAYES, {"view": "Generate"})
    at.slider(key="gen").set_value(500).run()
    assert "gen=500" in at.sidebar.code[0].value
    at.get("button_group")[0].set_value("P(y | x)").run()
    assert_ok(at, min_charts=2)
    assert "gen=500" in at.sidebar.code[0].value and "view=" not in at.sidebar.code[0].value


def test_a_lesson_link_can_hide_the_view_switch():
    at = open_page(BAYES, {"view": "Generate", "hide": "view"})
    assert_ok(at, min_charts=1)
    assert not notices(at), notices(at)
    assert at.slider(key="gen").value == 60
    assert "hide=view" in at.sidebar.code[0].value and "view=Generate" in at.sidebar.code[0].value

