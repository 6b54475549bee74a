"""AppTest: the normalizing-flow page (defaults, extreme values, nonsense links, redraws, walkthrough, live training)."""
import numpy as np
import pytest

from tests.pagetest import assert_ok, notices, open_page, captions, widget

FLOW = "pages/flow.py"
CHARTS = 7  # data, density, samples, warp, log-det bars, NLL curves, anomaly map


def test_flow_defaults_open_trained():
    at = open_page(FLOW)
    assert_ok(at, min_charts=CHARTS)
    assert at.selectbox(key="data").value == "moons"
    assert "Shipped checkpoint, trained by `python -m core.flow train --data moons" in captions(at)
    metrics = {m.label: m.value for m in at.metric}
    assert abs(float(metrics["Probability mass in the picture"]) - 1) < 0.02
    assert float(metrics["Test NLL"].split()[0]) < 1.4  # the shipped moons flow is trained
    assert any("bound" in i.value for i in at.info)  # VAE and diffusion give only bounds
    assert at.slider(key="k").value == 8 and at.slider(key="k").max == 8


@pytest.mark.parametrize("query", [
    {"data": "Ring of 8 Gaussians", "ns": 5000, "k": 0, "dir": "data to base (likelihood)", "q": 20, "out": 200,
     "px": -3.5, "py": 3.5, "logp": "true"},
    {"data": "Checkerboard", "ns": 100, "k": 8, "q": 0, "out": 0, "px": 3.5, "py": -3.5},
    {"data": "Concentric circles", "K": 16, "width": 16, "steps": 8000, "lr": "0.1", "seed": 2147483647, "k": 3},
    {"data": "Two spirals", "K": 2, "steps": 250, "lr": "0.0003", "dir": "base to data (sampling)", "k": 1},
])
def test_flow_extremes_and_link_restores_view(query):
    at = open_page(FLOW, query)
    assert_ok(at, min_charts=CHARTS)
    assert not notices(at), notices(at)
    for key, value in query.items():
        w = widget(at, key)
        shown = w.format_func(w.value) if getattr(w, "format_func", None) else w.value
        ok = str(shown) == str(value) or (isinstance(w.value, (int, float)) and not isinstance(w.value, bool)
                                          and float(value) == float(w.value)) or str(w.value).lower() == str(value)
        assert ok, (key, shown, value)
    link = at.sidebar.code[0].value
    assert ("seed=2147483647" in link) == ("seed" in query)
    if "K" in query:  # other settings than the shipped flow's: it says so and offers to train
        assert "until you click **Train live**" in captions(at)


def test_flow_nonsense_url_parameters_fall_back_with_a_notice():
    at = open_page(FLOW, {"data": "Nope", "k": "99", "q": "-5", "px": "abc", "dir": "sideways", "K": "1.5",
                          "lr": "fast", "zz": "1"})
    assert_ok(at, min_charts=CHARTS)
    text = notices(at)
    for key in ("data=Nope", "k=99", "q=-5", "px=abc", "dir=sideways", "K=1.5", "lr=fast", "`zz`"):
        assert key in text, (key, text)
    assert at.selectbox(key="data").value == "moons" and at.slider(key="k").value == 8


def test_flow_layer_slider_redraws_the_warp():
    at = open_page(FLOW)
    warp = lambda: next(c for c in at.get("plotly_chart") if "z8 = f8" in c.proto.spec or "z3 = f3" in c.proto.spec)
    before = warp().proto.spec
    at.slider(key="k").set_value(3).run()
    assert_ok(at, min_charts=CHARTS)
    after = warp().proto.spec
    assert after != before and "z3 = f3(z2)" in after
    assert "k=3" in at.sidebar.code[0].value
    at.radio(key="dir").set_value("data to base (likelihood)").run()
    assert_ok(at, min_charts=CHARTS)
    assert any("after 3 inverse layers" in c.proto.spec for c in at.get("plotly_chart"))


def test_flow_anomaly_threshold_flags_more_points():
    at = open_page(FLOW, {"q": 0.5, "px": 3.0, "py": 3.0})
    assert_ok(at, min_charts=CHARTS)
    flagged = lambda: int(next(m.value for m in at.markdown if m.value.startswith("Flagged:")).split("**")[1])
    few = flagged()
    assert any(m.label == "ln p(your point)" and m.delta == "flagged" for m in at.metric)  # far from the moons
    at.slider(key="q").set_value(10.0).run()
    assert_ok(at, min_charts=CHARTS)
    assert flagged() > few


def test_flow_walkthrough_steps_through_the_lecture():
    at = open_page(FLOW, {"walkthrough": "true"})
    assert_ok(at, min_charts=1)
    headings = lambda: [m.value for m in at.markdown if m.value.startswith("#### Step")]
    assert headings() == ["#### Step 1. The change of variables"]
    seen = []
    for _ in range(8):
        seen.append(headings()[0])
        next(b for b in at.button if b.label == "Next").click().run()
        assert not at.exception
    assert len(set(seen)) == 7 and seen[-1].startswith("#### Step 7")
    assert at.latex and "\\ln p_\\theta" in at.latex[0].value  # step 7's threshold on ln p


def test_flow_train_live_small_config():
    at = open_page(FLOW, {"data": "Two moons", "K": 2, "width": 16, "steps": 250, "seed": 5})
    assert_ok(at, min_charts=CHARTS)
    assert "until you click **Train live**" in captions(at)
    at.button(key="train").click().run()
    assert_ok(at, min_charts=CHARTS)
    assert "2 layers, seed 5." in captions(at)
    assert at.slider(key="k").max == 2


def test_flow_user_points():
    at = open_page(FLOW, {"data": "My points (click or CSV)"})
    assert not at.exception
    assert any("Add at least 10 points" in i.value for i in at.info)
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.normal((100, 100), 5, (30, 2)), rng.normal((140, 80), 5, (30, 2))])
    at.session_state["_flow_points"] = pts.tolist()
    at.slider(key="steps").set_value(250).run()
    assert not at.exception
    assert any("No flow for these points yet" in i.value for i in at.info)
    at.button(key="train").click().run()
    assert_ok(at, min_charts=CHARTS + 1)  # and the click canvas
    assert "Trained live on this server" in captions(at)
    # units far from [-3, 3] are handled: the density still holds its mass inside the picture
    mass = float(next(m.value for m in at.metric if m.label == "Probability mass in the picture"))
    assert 0.9 < mass < 1.02


def test_flow_csv_upload_good_and_bad_files():
    at = open_page(FLOW, {"data": "My points (click or CSV)"})
    assert not at.exception
    at.file_uploader(key="csv").upload("bad.csv", b"x,y\n1,2\n3,oops\n", "text/csv").run()
    assert not at.exception
    assert any("Could not use **bad.csv**" in e.value and "numbers" in e.value for e in at.error)
    at.file_uploader(key="csv").upload("few.csv", b"1,2\n3,4\n", "text/csv").run()
    assert any("at least 10 are needed" in e.value for e in at.error)
    rows = "\n".join(f"{x:.3f},{y:.3f}" for x, y in np.random.default_rng(1).normal(size=(25, 2)))
    at.file_uploader(key="csv").upload("good.csv", ("x,y\n" + rows).encode(), "text/csv").run()
    assert not at.exception and not at.error
    assert len(at.session_state["_flow_points"]) == 25
    assert any("No flow for these points yet" in i.value for i in at.info)


def test_flow_deeper_shipped_flow_sets_the_settings():
    at = open_page(FLOW, {"data": "Two spirals"})
    assert_ok(at, min_charts=CHARTS)
    assert at.slider(key="K").value == 16 and at.slider(key="k").max == 16
    assert "Shipped checkpoint, trained by `python -m core.flow train --data spirals --n-layers 16" in captions(at)
    # switching data sets within a session starts from that set's shipped settings
    at.slider(key="K").set_value(12).run()
    at.selectbox(key="data").set_value("moons").run()
    assert_ok(at, min_charts=CHARTS)
    assert at.slider(key="K").value == 8 and "--data moons" in captions(at)


def test_flow_broken_checkpoint_is_reported_and_training_offered(monkeypatch):
    import streamlit as st

    from core import checkpoints, flow

    def broken(path, device=None):
        raise checkpoints.CheckpointError(f"Checkpoint weights {path.name}.safetensors are corrupt: test", path)

    st.cache_resource.clear()
    monkeypatch.setattr(flow, "load", broken)
    try:
        at = open_page(FLOW, {"data": "Ring of 8 Gaussians"})
        assert not at.exception and not at.error
        assert any("could not be loaded" in w.value and "corrupt" in w.value for w in at.warning)
        assert any("No flow for these points yet" in i.value for i in at.info)
        assert at.button(key="train").label == "Train live"
    finally:
        monkeypatch.undo()
        st.cache_resource.clear()
