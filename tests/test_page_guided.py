"""AppTest: the guided-diffusion page (views, defaults, extreme and nonsense link parameters, live measuring, walkthrough)."""
import pytest

from core import guided
from tests.pagetest import assert_ok, captions, image_captions, link, notices, open_each_view, open_page, open_views, shown, step_headings, views, walk, widget, widget_in
from tests.pagetest import view_switch as switch

PAGE = "pages/guided.py"

# what each view draws: plotly charts, and images (st.image elements)
VIEW_CHARTS = {"Samples": 0, "Classifier guidance": 0, "Classifier-free guidance": 0,
               "Guidance scale": 3}  # trade-off, frontier, temperature
VIEW_IMAGES = {"Samples": 1,                    # the 16 samples
               "Classifier guidance": 2,        # x0 and x_t, the ten gradients
               "Classifier-free guidance": 8,   # five predictions, three implied x0
               "Guidance scale": 1}             # the same noise at six scales
SCALE = "Guidance scale"

pytestmark = pytest.mark.usefixtures("one_torch_thread")








def test_defaults_open_on_the_samples_and_each_view_draws_only_its_own():
    ats = open_each_view(PAGE, VIEW_CHARTS, VIEW_IMAGES)
    at = ats["Samples"]
    assert widget(at, "digit").value == 7 and widget(at, "guidance").value == "cfg" and widget(at, "scale").value == 3.0
    assert "The evaluator reads" in captions(at) and "Classifier-free guidance, s = 3" in image_captions(at)
    assert "(columns)" not in image_captions(at)  # the scale rows wait for their view
    assert "Download these digits (PNG)" in [b.label for b in at.get("download_button")]
    assert "Sixteen 7s" in " ".join(h.value for h in at.subheader)
    assert "shipped table" in captions(ats[SCALE]) and "(columns), four starting noises" in image_captions(ats[SCALE])
    assert not any("No table yet" in i.value for i in ats[SCALE].info)


@pytest.mark.parametrize("query", [
    {"digit": 0, "guidance": "Classifier", "scale": 10.0, "sampler": "DDPM", "steps": 10, "seed": 2147483647,
     "tclf": 1000, "tcfg": 1},
    {"digit": 9, "guidance": "None", "scale": 0.0, "steps": 10, "tclf": 1, "tcfg": 1000, "per": 8, "csteps": 10},
])
def test_extreme_values_in_the_link_are_shown_in_every_view(query):
    ats = open_views(PAGE, query)
    links = set()
    for label, at in ats.items():
        assert_ok(at, min_charts=1 if label == SCALE else 0)
        assert len(at.get("image")) == VIEW_IMAGES[label], label
        assert not notices(at), (label, notices(at))
        assert all(f"{k}=" in link(at) for k in query), (label, link(at))  # a hidden view's settings stay in the link
        links.add(frozenset(p for p in link(at).lstrip("?").split("&") if not p.startswith("view=")))
    assert len(links) == 1, links  # the same settings, whichever view is shown
    for key, value in query.items():
        w = widget_in(ats, key)
        assert str(shown(w)) == str(value), (key, shown(w), value)


def test_nonsense_link_parameters_fall_back_with_a_notice():
    query = {"digit": "eleven", "guidance": "magic", "scale": "-3", "steps": "7", "seed": "x", "zz": "1",
             "tclf": "0", "tcfg": "lots", "per": "1000", "csteps": "7"}
    ats = open_views(PAGE, query)
    own = {"Classifier guidance": ["tclf=0"], "Classifier-free guidance": ["tcfg=lots"], SCALE: ["per=1000", "csteps=7"]}
    for label, at in ats.items():
        assert_ok(at, min_charts=VIEW_CHARTS[label])
        text = notices(at)
        for piece in ("digit=eleven", "guidance=magic", "scale=-3", "steps=7", "seed=x", "`zz`", *own.get(label, [])):
            assert piece in text, (label, piece, text)
        assert widget(at, "digit").value == 7 and widget(at, "scale").value == 3.0
    assert widget(ats["Classifier guidance"], "tclf").value == 400 and widget(ats[SCALE], "per").value == guided.DEFAULT_PER_CLASS
    at = open_page(PAGE, {"view": "Nowhere"})
    assert_ok(at)
    assert "view=Nowhere" in notices(at) and switch(at).value == "Samples"


def test_other_curve_settings_are_measured_live_on_request():
    query = {"per": 8, "csteps": 10, "steps": 10}
    at = open_page(PAGE, query)  # the samples view keeps the curve's settings but measures nothing
    assert_ok(at)
    assert not notices(at) and "per=8" in link(at) and "csteps=10" in link(at)
    assert not any("No table yet" in i.value for i in at.info) and not [b for b in at.button if b.key == "measure"]
    at = open_page(PAGE, {**query, "view": SCALE})
    assert_ok(at, min_charts=1)
    assert any("No table yet" in i.value for i in at.info)
    at.button(key="measure").click().run()
    assert_ok(at, min_charts=3)
    assert "measured just now" in captions(at) and "80 samples" in captions(at)


def test_slider_change_redraws_the_grid():
    at = open_page(PAGE, {"steps": 10})
    first = [i.proto.imgs[0].url for i in at.get("image")[:1]]
    at.slider(key="scale").set_value(0.0).run()
    assert_ok(at)
    assert "s = 0" in image_captions(at)
    assert [i.proto.imgs[0].url for i in at.get("image")[:1]] != first
    assert "scale=0" in link(at)


def test_switching_views_keeps_every_setting():
    """A top control set in one view and a view's own control both survive switching views (persist_state)."""
    at = open_page(PAGE, {"steps": 10})
    assert views(at) == list(VIEW_CHARTS)
    at.selectbox(key="digit").set_value(3).run()
    switch(at).set_value("Classifier guidance").run()
    assert_ok(at)
    assert len(at.get("image")) == VIEW_IMAGES["Classifier guidance"] and "a real 3" in image_captions(at)
    at.slider(key="tclf").set_value(900).run()
    switch(at).set_value("Samples").run()
    assert_ok(at)
    assert widget(at, "digit").value == 3 and "Sixteen 3s" in " ".join(h.value for h in at.subheader)
    assert "digit=3" in link(at) and "view=" not in link(at)
    switch(at).set_value("Classifier guidance").run()
    assert widget(at, "tclf").value == 900 and "tclf=900" in link(at) and "view=Classifier+guidance" in link(at)


def test_walkthrough_steps_through_the_lecture():
    at = open_page(PAGE, {"walkthrough": "true", "steps": 10})
    assert_ok(at)
    assert not views(at)  # no view switch in the walkthrough: one step's section at a time
    assert step_headings(at) == ["#### Step 1. Why condition?"]
    assert len(at.get("image")) == 1  # the samples
    seen, _ = walk(at, 6, no_errors=True)
    assert len(set(seen)) == 5 and seen[-1].startswith("#### Step 5. The guidance scale")
    assert len(at.get("plotly_chart")) == 3 and len(at.get("image")) == 1  # the curve's step: the scale rows too


def test_a_lesson_link_opens_its_step_with_the_code_hidden():
    at = open_page(PAGE, {"walkthrough": "true", "step": 4, "hide": "code", "steps": 10})
    assert_ok(at)
    assert not notices(at), notices(at)
    assert [m.value for m in at.markdown if m.value.startswith("#### Step")] == ["#### Step 4. Classifier-free guidance"]
    assert len(at.get("image")) == VIEW_IMAGES["Classifier-free guidance"]
