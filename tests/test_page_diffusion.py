"""AppTest: the diffusion page (views, defaults, extreme and nonsense link parameters, live training, walkthrough)."""
import pytest

from tests.pagetest import assert_ok, notices, open_page, open_views, shown, views, widget, widget_in
from tests.pagetest import switch_view as switch

PAGE = "pages/diffusion.py"

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# (plotly charts, static pictures) each view draws with a trained 2-D model
VIEW_FIGURES = {"Forward process": (2, 4),     # schedule + chain strip; x_0 / x_t / noise panels + point cloud
                "2-D model": (3, 0),           # trajectories; loss + samples
                "Denoising digits": (1, 4),    # reverse animation + original / continued; noised / denoised
                "DDPM vs DDIM": (2, 0),        # quality against steps + one sampler's cloud
                "Latent diffusion": (0, 2)}    # pixel and latent samples
FORWARD, TWO_D, DIGITS, SAMPLERS, LATENT = VIEW_FIGURES  # the labels
# without a 2-D model for the settings, its views say so instead of drawing
UNTRAINED = {**VIEW_FIGURES, TWO_D: (0, 0), SAMPLERS: (0, 0)}


def figures(at) -> tuple[int, int]:
    return len(at.get("plotly_chart")), len(at.get("image"))




def test_defaults_open_trained_on_the_forward_process():
    at = open_page(PAGE)
    assert_ok(at)
    assert views(at) == list(VIEW_FIGURES)
    assert figures(at) == VIEW_FIGURES[FORWARD]  # the page opens with its headline only
    assert not at.warning, [w.value for w in at.warning]
    assert widget(at, "data").value == "swiss_roll" and widget(at, "t").value == 250
    assert any("shipped checkpoint" in c.value for c in at.caption)  # the 2-D model opened trained
    assert "Seed of this view: **0**" in " ".join(c.value for c in at.sidebar.caption)
    assert "view=" not in at.sidebar.code[0].value
    with pytest.raises(KeyError):
        widget(at, "sampler")  # the digits view's widgets are not drawn


def test_each_view_draws_only_its_own_figures():
    ats = open_views(PAGE, code=True)
    assert list(ats) == list(VIEW_FIGURES)
    for label, at in ats.items():
        assert_ok(at)
        assert figures(at) == VIEW_FIGURES[label], (label, figures(at))
        assert not at.warning, (label, [w.value for w in at.warning])  # every shipped checkpoint loaded
        assert ("view=" in at.sidebar.code[0].value) == (label != FORWARD)
        assert widget(at, "data").value == "swiss_roll" and at.button(key="train").label == "Retrain"  # shared
        assert any("images = model.sample(8, seed=0, sampler='ddim', steps=20)" in c.value for c in at.code)
    assert [b.label for b in ats[DIGITS].get("download_button") if "PNG" in b.label] == ["Download the final digits (PNG)"]
    assert widget(ats[DIGITS], "k").max == 20 and widget(ats[TWO_D], "k2").value == 50
    assert any("speed-up" in c.value for c in ats[LATENT].caption)
    assert len(ats[SAMPLERS].dataframe) == 1  # the quality table


@pytest.mark.parametrize("query,expect", [
    ({"t": 1000, "k2": 1000, "s2": "DDPM", "seed": 2147483647, "cloud": "DDPM 1000"}, VIEW_FIGURES),
    ({"t": 0, "data": "Two moons", "steps": 10, "k": 10, "sampler": "DDPM", "sampler2": "DDIM", "steps2": 10, "n": 4,
      "lsteps": 10}, VIEW_FIGURES),
    ({"sched": "cosine", "lr": 1, "tsteps": 4000, "data": "Checkerboard"}, UNTRAINED),  # nothing trained: 2-D views wait
])
def test_extreme_values_in_the_link_are_shown(query, expect):
    ats = open_views(PAGE, query)
    for label, at in ats.items():
        assert_ok(at)
        assert figures(at) == expect[label], (label, figures(at))
        assert not notices(at), (label, notices(at))  # every parameter understood, in every view
        link = at.sidebar.code[0].value
        assert all(f"{k}=" in link for k in query), (label, link)  # the link carries them all, whichever view is shown
        if expect[label] != VIEW_FIGURES[label]:
            assert any("Train" in i.value for i in at.info), label
    for key, value in query.items():
        assert str(shown(widget_in(ats, key))) == str(value), (key, shown(widget_in(ats, key)), value)


def test_a_hidden_views_settings_survive_in_the_link():
    """The digits view's settings in a link opened on another view: no notice, kept in the link, used by the
    reproduce script, and shown once that view is picked."""
    at = open_page(PAGE, {"sampler": "DDPM", "steps": 10, "n": 4, "lsteps": 10}, code=True)
    assert_ok(at)
    assert figures(at) == VIEW_FIGURES[FORWARD]
    assert not notices(at), notices(at)
    link = at.sidebar.code[0].value
    assert all(p in link for p in ("sampler=DDPM", "steps=10", "n=4", "lsteps=10")), link
    assert any("images = model.sample(4, seed=0, sampler='ddpm', steps=10)" in c.value for c in at.code)
    switch(at, DIGITS)
    assert_ok(at)
    assert shown(widget(at, "sampler")) == "DDPM" and widget(at, "steps").value == 10 and widget(at, "n").value == 4
    assert widget(at, "k").max == 10
    switch(at, LATENT)
    assert widget(at, "lsteps").value == 10


def test_nonsense_link_parameters_fall_back_with_a_notice():
    query = {"data": "Klein bottle", "t": "-5", "steps": "7", "sampler": "euler", "seed": "x", "zz": "1",
             "view": "Nowhere"}
    at = open_page(PAGE, query)
    assert_ok(at)
    assert figures(at) == VIEW_FIGURES[FORWARD]  # an unknown view: the default one
    text = notices(at)
    for piece in ("data=Klein bottle", "t=-5", "seed=x", "`zz`", "view=Nowhere"):
        assert piece in text, (piece, text)
    assert widget(at, "data").value == "swiss_roll" and widget(at, "t").value == 250
    # the digits view checks its own widgets when it is shown
    at = open_page(PAGE, {**query, "view": DIGITS})
    assert_ok(at)
    assert figures(at) == VIEW_FIGURES[DIGITS]
    text = notices(at)
    for piece in ("steps=7", "sampler=euler", "data=Klein bottle", "`zz`"):
        assert piece in text, (piece, text)
    assert widget(at, "steps").value == 20 and widget(at, "sampler").value == "ddim"


def test_untrained_settings_offer_live_training_which_then_draws():
    at = open_page(PAGE, {"data": "Ring of 8 Gaussians", "tsteps": 250, "view": TWO_D})
    assert_ok(at)
    assert figures(at) == (0, 0)
    assert any("Train live" in i.value for i in at.info)
    at.button(key="train").click().run()
    assert_ok(at)
    assert figures(at) == VIEW_FIGURES[TWO_D]
    assert any("trained here" in c.value for c in at.caption)
    assert not any("No 2-D model" in i.value for i in at.info)
    switch(at, SAMPLERS)  # the model trained in one view is used by the others
    assert_ok(at)
    assert figures(at) == VIEW_FIGURES[SAMPLERS] and any("trained here" in c.value for c in at.caption)


def test_slider_change_redraws():
    at = open_page(PAGE)
    specs = [c.proto.spec for c in at.get("plotly_chart")]  # the schedule, the point cloud at t
    at.slider(key="t").set_value(600).run()
    assert_ok(at)
    assert figures(at) == VIEW_FIGURES[FORWARD]
    assert all(c.proto.spec != s for c, s in zip(at.get("plotly_chart"), specs))  # both follow t
    assert "t=600" in at.sidebar.code[0].value


def test_walkthrough_steps_through_the_lecture():
    at = open_page(PAGE, {"walkthrough": "true", "view": "Latent diffusion"})  # a view in the link changes nothing
    assert_ok(at, min_charts=1)
    assert views(at) == [] and not notices(at), notices(at)
    headings = lambda: [m.value for m in at.markdown if m.value.startswith("#### Step")]
    assert headings() == ["#### Step 1. The forward Markov chain and its variance schedule"]
    assert "q(\\mathbf x_t|\\mathbf x_{t-1})" in at.latex[0].value
    seen, drawn = [], []
    for _ in range(9):
        seen.append(headings()[0])
        drawn.append(figures(at))
        if len(seen) == 2:
            assert widget(at, "t").value == 250  # the forward step draws its own t
        at.button[1].click().run()  # Next
        assert not at.exception
    assert len(set(seen)) == 8 and seen[-1].startswith("#### Step 8. Latent diffusion")
    # one section per step: schedule, forward, trajectories, train2d, reverse, denoise, samplers, latent
    assert drawn == [(1, 1), (1, 3), (1, 0), (2, 0), (1, 2), (0, 2), (2, 0), (0, 2), (0, 2)], drawn
