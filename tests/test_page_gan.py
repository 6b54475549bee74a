"""AppTest: the GAN page (defaults, extreme values, nonsense links, the train/step/reset/play controls,
presets, the timeline, the conditional GANs and the walkthrough)."""
import pytest

from tests.pagetest import assert_ok, notices, open_page, captions, widget

GAN = "pages/gan.py"
CHARTS = 6  # overview, plane, curves, mode bars, ring cGAN, digit grid


def _metrics(at):
    return {m.label: m.value for m in at.metric}


def _iteration(at):
    """The iteration the overview caption reports."""
    text = next(c.value for c in at.caption if c.value.startswith("Iteration **"))
    return int(text.split("**")[1].replace(",", ""))


def _chart(at, key):
    return next(c for c in at.get("plotly_chart") if c.proto.id and key in c.proto.id or False)


def test_gan_defaults_open_trained():
    at = open_page(GAN)
    assert_ok(at, min_charts=CHARTS)
    assert at.selectbox(key="data").value == "ring8"
    assert "Opened trained: shipped checkpoint `gan_ring8`, made by `python -m core.gan train" in captions(at)
    m = _metrics(at)
    assert m["modes captured"] == "8 / 8"
    assert 0.35 < float(m["mean D(fake)"]) < 0.65 and 0.35 < float(m["mean D(real)"]) < 0.65
    assert float(m["JS of grid histograms"]) < 0.3
    assert _iteration(at) >= 1000
    assert any("no likelihood" in c.value for c in at.caption) or "no **likelihood**" in " ".join(
        x.value for x in at.markdown)


@pytest.mark.parametrize("query", [
    {"lrd": "0", "lrg": "0", "n": 100},
    {"data": "5x5 grid of Gaussians", "k": 10, "gw": 8, "dw": 256, "gd": 1, "dd": 4, "nz": 16, "batch": 512,
     "noise": "uniform", "act": "relu", "seed": 2147483647},
    {"data": "Two spirals", "loss": "WGAN-GP (critic + gradient penalty)", "b1": "0.9", "b2": "0.9", "nz": 1, "n": 100},
    {"data": "Swiss roll", "loss": "minimax (lecture): G min ln(1 - D(G(z)))", "lrd": "0.1", "gw": 256, "gd": 4,
     "n": 100},
])
def test_gan_extremes_and_link_restores_view(query):
    at = open_page(GAN, query)
    assert_ok(at, min_charts=CHARTS - 1)  # no mode bars without known modes
    assert not notices(at), notices(at)
    for key, value in query.items():
        w = widget(at, key)
        shown = w.format_func(w.value) if getattr(w, "format_func", None) else w.value
        ok = str(shown) == str(value) or (isinstance(w.value, (int, float)) and not isinstance(w.value, bool)
                                          and float(value) == float(w.value))
        assert ok, (key, shown, value)
    assert "Untrained" in captions(at)  # settings other than a shipped model's start untrained
    if "n" not in query:  # the largest networks are only drawn here (training them takes long on 2 cores)
        return
    before = _iteration(at)
    at.button(key="train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert _iteration(at) == before + int(query["n"])


def test_gan_zero_learning_rate_trains_without_moving():
    at = open_page(GAN, {"lrd": "0", "lrg": "0", "n": 100})
    plane = lambda: next(c for c in at.get("plotly_chart") if "Iteration" in c.proto.spec and "now" in c.proto.spec)
    js = _metrics(at)["JS of grid histograms"]
    at.button(key="train").click().run()
    assert_ok(at, min_charts=CHARTS)
    assert _iteration(at) == 100
    assert _metrics(at)["JS of grid histograms"] == js  # nothing learned, nothing moved


def test_gan_huge_learning_rate_diverges_with_a_clear_message():
    at = open_page(GAN, {"lrd": "10", "lrg": "10", "act": "relu", "n": 100})
    at.button(key="train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    errors = " ".join(e.value for e in at.error)
    assert "diverged" in errors and "learning rate" in errors, errors
    assert at.button(key="train").disabled
    at.button(key="reset").click().run()  # reset recovers
    assert_ok(at, min_charts=CHARTS)
    assert _iteration(at) == 0


def test_gan_nonsense_url_parameters_fall_back_with_a_notice():
    at = open_page(GAN, {"data": "Nope", "lrd": "fast", "k": "99", "gw": "7", "nz": "-1", "loss": "hinge",
                         "play": "maybe", "seed": "abc", "digit": "12", "zz": "1"})
    assert_ok(at, min_charts=CHARTS)
    text = notices(at)
    for key in ("data=Nope", "lrd=fast", "k=99", "gw=7", "nz=-1", "loss=hinge", "play=maybe", "seed=abc",
                "digit=12", "`zz`"):
        assert key in text, (key, text)
    assert at.selectbox(key="data").value == "ring8" and widget(at, "k").value == 1
    assert "Opened trained" in captions(at)


def test_gan_step_buttons_move_one_player_and_reset_starts_over():
    at = open_page(GAN)
    start = _iteration(at)
    at.button(key="step_d").click().run()
    assert_ok(at, min_charts=CHARTS)
    cap = next(c.value for c in at.caption if c.value.startswith("Iteration **"))
    assert _iteration(at) == start + 10
    at.button(key="step_g").click().run()
    assert _iteration(at) == start + 20
    at.button(key="reset").click().run()
    assert_ok(at, min_charts=CHARTS)
    assert _iteration(at) == 0 and "Untrained" in captions(at)
    assert "D updates" in cap


def test_gan_play_trains_while_drawing():
    at = open_page(GAN, {"play": "true"})
    assert_ok(at, min_charts=CHARTS)
    first = _iteration(at)
    at.run()
    assert _iteration(at) > first  # every run (tick) trains a little more


def test_gan_presets_set_the_controls_and_say_why():
    at = open_page(GAN)
    at.button(key="preset_mode_collapse").click().run()
    assert_ok(at, min_charts=CHARTS)
    assert widget(at, "k").value == 3 and widget(at, "lrd").value == 0.003
    assert any("Mode collapse" in i.value for i in at.info)
    assert "k=3" in at.sidebar.code[0].value
    at.button(key="preset_saturating").click().run()
    assert_ok(at, min_charts=CHARTS)
    assert widget(at, "loss").value == "minimax" and widget(at, "k").value == 10
    at.button(key="preset_converges").click().run()
    assert "Opened trained" in captions(at)  # back to the shipped settings
    at.button(key="preset_grid25").click().run()  # brings its data set along, and opens trained too
    assert_ok(at, min_charts=CHARTS)
    assert at.selectbox(key="data").value == "grid25" and widget(at, "gw").value == 128
    assert "shipped checkpoint `gan_grid25`" in captions(at)
    assert _metrics(at)["modes captured"].endswith("/ 25")


def test_gan_timeline_scrubs_back():
    at = open_page(GAN)
    plane = lambda: next(c for c in at.get("plotly_chart") if "Iteration" in c.proto.spec)
    assert "(now)" in plane().proto.spec
    timeline = next(s for s in at.slider if s.key and s.key.startswith("timeline_"))
    timeline.set_value(1).run()
    assert_ok(at, min_charts=CHARTS)
    assert "(snapshot)" in plane().proto.spec
    assert any("Showing the snapshot at iteration" in c.value for c in at.caption)


def test_gan_conditional_label_and_digit_change_the_samples():
    at = open_page(GAN)
    spec = lambda k: next(c.proto.spec for c in at.get("plotly_chart") if f"y={k}" in c.proto.spec)
    ring0 = spec(0)
    at.selectbox(key="y").set_value(5).run()
    assert_ok(at, min_charts=CHARTS)
    assert spec(5) != ring0
    on_mode = float(_metrics(at)["samples on mode 5"].rstrip("%"))
    assert on_mode > 80
    at.selectbox(key="digit").set_value(7).run()
    assert_ok(at, min_charts=CHARTS)
    assert any("G(z | y=7)" in c.proto.spec for c in at.get("plotly_chart"))


def test_gan_user_points_need_enough_and_then_train():
    at = open_page(GAN, {"data": "My points (click or CSV)"})
    assert not at.exception
    assert any("Add at least" in i.value for i in at.info)
    at.session_state["_gan_points"] = [[float(i % 7), float(i // 7)] for i in range(40)]
    at.run()
    assert_ok(at, min_charts=4)
    at.button(key="train").click().run()
    assert not at.exception and _iteration(at) == 1000


def test_gan_walkthrough_steps_through_the_lecture():
    at = open_page(GAN, {"walkthrough": "true"})
    assert_ok(at, min_charts=1)
    headings = lambda: [m.value for m in at.markdown if m.value.startswith("#### Step")]
    assert headings() == ["#### Step 1. Two networks, one zero-sum game"]
    seen = []
    for _ in range(8):
        seen.append(headings()[0])
        next(b for b in at.button if b.label == "Next").click().run()
        assert not at.exception, [e.value for e in at.exception]
    assert len(set(seen)) == 7 and seen[-1].startswith("#### Step 7")
    assert any("D(x|y)" in l.value or "D(\\mathbf x\\mid y)" in l.value for l in at.latex)
