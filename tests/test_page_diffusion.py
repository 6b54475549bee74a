"""AppTest: the diffusion page (defaults, extreme and nonsense link parameters, live training, walkthrough)."""
import pytest

from tests.pagetest import assert_ok, notices, open_page, shown, widget

PAGE = "pages/diffusion.py"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_defaults_open_trained():
    at = open_page(PAGE)
    assert_ok(at, min_charts=8)
    assert len(at.get("image")) >= 6  # the digit mosaics are static pictures
    assert not at.warning, [w.value for w in at.warning]  # every shipped checkpoint loaded
    assert widget(at, "data").value == "swiss_roll" and widget(at, "t").value == 250
    assert any("shipped checkpoint" in c.value for c in at.caption)  # the 2-D model opened trained
    assert "Seed of this view: **0**" in " ".join(c.value for c in at.sidebar.caption)


@pytest.mark.parametrize("query,charts", [
    ({"t": 1000, "k2": 1000, "s2": "DDPM", "seed": 2147483647}, 8),
    ({"t": 0, "data": "Two moons", "steps": 10, "k": 10, "sampler": "DDPM", "sampler2": "DDIM", "steps2": 10, "n": 4}, 8),
    ({"sched": "cosine", "lr": 1, "tsteps": 4000, "data": "Checkerboard"}, 3),  # nothing trained for these: 2-D views wait
])
def test_extreme_values_in_the_link_are_shown(query, charts):
    at = open_page(PAGE, query)
    assert_ok(at, min_charts=charts)
    if charts < 8:
        assert any("Train live" in i.value for i in at.info)
    assert not notices(at), notices(at)
    for key, value in query.items():
        assert str(shown(widget(at, key))) == str(value), (key, shown(widget(at, key)), value)
    assert all(f"{k}=" in at.sidebar.code[0].value for k in query)  # the link carries the view


def test_nonsense_link_parameters_fall_back_with_a_notice():
    at = open_page(PAGE, {"data": "Klein bottle", "t": "-5", "steps": "7", "sampler": "euler", "seed": "x", "zz": "1"})
    assert_ok(at, min_charts=8)
    text = notices(at)
    for piece in ("data=Klein bottle", "t=-5", "steps=7", "sampler=euler", "seed=x", "`zz`"):
        assert piece in text, (piece, text)
    assert widget(at, "data").value == "swiss_roll" and widget(at, "t").value == 250


def test_untrained_settings_offer_live_training_which_then_draws():
    at = open_page(PAGE, {"data": "Ring of 8 Gaussians", "tsteps": 250})
    assert_ok(at, min_charts=3)
    assert any("Train live" in i.value for i in at.info)
    before = len(at.get("plotly_chart"))
    at.button(key="train").click().run()
    assert_ok(at, min_charts=before + 3)
    assert any("trained here" in c.value for c in at.caption)
    assert not any("No 2-D model" in i.value for i in at.info)


def test_slider_change_redraws():
    at = open_page(PAGE)
    spec = at.get("plotly_chart")[1].proto.spec  # the point cloud at t
    at.slider(key="t").set_value(600).run()
    assert_ok(at, min_charts=8)
    assert at.get("plotly_chart")[1].proto.spec != spec
    assert "t=600" in at.sidebar.code[0].value


def test_walkthrough_steps_through_the_lecture():
    at = open_page(PAGE, {"walkthrough": "true"})
    assert_ok(at, min_charts=1)
    headings = lambda: [m.value for m in at.markdown if m.value.startswith("#### Step")]
    assert headings() == ["#### Step 1. The forward Markov chain and its variance schedule"]
    assert "q(\\mathbf x_t|\\mathbf x_{t-1})" in at.latex[0].value
    seen = []
    for _ in range(9):
        seen.append(headings()[0])
        assert at.get("plotly_chart") or at.get("image"), seen[-1]
        at.button[1].click().run()  # Next
        assert not at.exception
    assert len(set(seen)) == 8 and seen[-1].startswith("#### Step 8. Latent diffusion")
