"""AppTest: the normalizing-flow page (views, defaults, extreme values, nonsense links, redraws, walkthrough, live
training, the user's own points)."""
import numpy as np
import pytest

from tests.pagetest import assert_ok, captions, link, notices, open_each_view, open_page, open_views, shown, step_headings, views, walk, widget, widget_in
from tests.pagetest import switch_view as switch

FLOW = "pages/flow.py"
# charts each view draws: data, density, samples | warp, log-det bars | NLL curves | anomaly map
VIEW_CHARTS = {"Density and samples": 3, "Layer by layer": 2, "Training and exact NLL": 1, "Anomaly detection": 1}
DENSITY, LAYERS, TRAINING, ANOMALY = VIEW_CHARTS  # the labels
MINE = "My points (click or CSV)"




def charts(at) -> int:
    return len(at.get("plotly_chart"))


def test_flow_defaults_open_trained_on_the_density_view():
    at = open_page(FLOW)
    assert_ok(at)
    assert views(at) == list(VIEW_CHARTS)
    assert charts(at) == VIEW_CHARTS[DENSITY]  # the page opens with its headline only
    assert at.selectbox(key="data").value == "moons"
    assert "Shipped checkpoint, trained by `python -m core train flow --data moons" in captions(at)
    metrics = {m.label: m.value for m in at.metric}
    assert abs(float(metrics["Probability mass in the picture"]) - 1) < 0.02
    assert float(metrics["Test NLL"].split()[0]) < 1.4  # the shipped moons flow is trained
    with pytest.raises(KeyError):
        widget(at, "k")  # the layer view's widgets are not drawn
    assert "view=" not in at.sidebar.code[0].value  # the default view is left out of the link


def test_flow_each_view_draws_only_its_own_figures():
    ats = open_each_view(FLOW, VIEW_CHARTS)
    for label, at in ats.items():
        # the controls are shared; the shipped flow has these very settings, so the button offers to retrain it
        assert at.selectbox(key="data").value == "moons" and at.button(key="train").label == "Retrain", label
        assert any("Reproduce" in e.label for e in at.expander), label
    assert ats[LAYERS].slider(key="k").value == 8 and ats[LAYERS].slider(key="k").max == 8
    assert "z8 = f8(z7) = x" in ats[LAYERS].get("plotly_chart")[0].proto.spec
    assert any("bound" in i.value for i in ats[TRAINING].info)  # VAE and diffusion give only bounds
    assert {m.label for m in ats[TRAINING].metric} >= {"Flow, test NLL (exact)", "KDE, test NLL"}
    assert any(m.label == "ln p(your point)" for m in ats[ANOMALY].metric)


@pytest.mark.parametrize("query", [
    {"data": "Ring of 8 Gaussians", "ns": 5000, "k": 0, "dir": "data to base (likelihood)", "q": 20, "out": 200,
     "px": -3.5, "py": 3.5, "logp": "true"},
    {"data": "Ring of 8 Gaussians", "base": "mixture of 16", "k": 0, "dir": "base to data (sampling)"},
    {"data": "Checkerboard", "ns": 100, "k": 8, "q": 0, "out": 0, "px": 3.5, "py": -3.5},
    {"data": "Concentric circles", "K": 16, "width": 16, "steps": 8000, "lr": "0.1", "seed": 2147483647, "k": 3},
    {"data": "Two spirals", "K": 2, "steps": 250, "lr": "0.0003", "dir": "base to data (sampling)", "k": 1},
])
def test_flow_extremes_and_link_restores_view(query):
    ats = open_views(FLOW, query, code=True)
    links = {}
    for label, at in ats.items():
        assert_ok(at)
        assert charts(at) == VIEW_CHARTS[label], (label, charts(at))
        assert not notices(at), (label, notices(at))  # every parameter was understood, in every view
        link = at.sidebar.code[0].value
        assert ("seed=2147483647" in link) == ("seed" in query)
        links[label] = {p for p in link.lstrip("?").split("&") if not p.startswith("view=")}
        if "K" in query:  # other settings than the shipped flow's: it says so and offers to train
            assert "until you click **Train live**" in captions(at)
    # the same settings in the link, whichever view is shown; only a view that draws a widget set to its default
    # (k=8, the base-to-data direction) leaves it out, while the other views hand the link's value on
    every = set().union(*links.values())
    for label, params in links.items():
        for p in every - params:
            widget(ats[label], p.split("=")[0])
    for key, value in query.items():
        w = widget_in(ats, key)
        got = shown(w)
        ok = str(got) == str(value) or (isinstance(w.value, (int, float)) and not isinstance(w.value, bool)
                                        and float(value) == float(w.value)) or str(w.value).lower() == str(value)
        assert ok, (key, got, value)
    if "ns" in query:  # the reproduce script draws the link's number of samples, in every view
        assert all(f"model.sample({query['ns']}," in " ".join(c.value for c in at.code) for at in ats.values())


def test_flow_a_hidden_views_settings_survive_in_the_link():
    """``k`` and ``q`` shape only the layer and anomaly views: a link holding them opens the density view without a
    notice, keeps them in its link, and the views then show them."""
    at = open_page(FLOW, {"k": 3, "q": 5, "dir": "data to base (likelihood)"})
    assert_ok(at)
    assert charts(at) == VIEW_CHARTS[DENSITY]
    assert not notices(at), notices(at)
    link = at.sidebar.code[0].value
    assert "k=3" in link and "q=5" in link and "dir=data+to+base" in link
    switch(at, LAYERS)
    assert at.slider(key="k").value == 3 and at.radio(key="dir").value.startswith("data to base")
    assert "after 3 inverse layers" in at.get("plotly_chart")[0].proto.spec
    switch(at, ANOMALY)
    assert at.slider(key="q").value == 5.0


def test_flow_nonsense_url_parameters_fall_back_with_a_notice():
    query = {"data": "Nope", "k": "99", "q": "-5", "px": "abc", "dir": "sideways", "K": "1.5", "lr": "fast", "zz": "1",
             "base": "3", "view": "Nowhere"}
    at = open_page(FLOW, query)
    assert_ok(at)
    assert charts(at) == VIEW_CHARTS[DENSITY]  # an unknown view: the default one
    text = notices(at)
    for key in ("data=Nope", "K=1.5", "lr=fast", "base=3", "`zz`", "view=Nowhere"):
        assert key in text, (key, text)
    assert at.selectbox(key="data").value == "moons"
    # the widgets of the other views check their own values when their view is shown
    for label, keys in ((LAYERS, ("k=99", "dir=sideways")), (ANOMALY, ("q=-5", "px=abc"))):
        at = open_page(FLOW, {**query, "view": label})
        assert_ok(at)
        assert charts(at) == VIEW_CHARTS[label]
        text = notices(at)
        for key in keys + ("data=Nope", "`zz`"):
            assert key in text, (label, key, text)
    assert at.slider(key="q").value == 1.0 and at.number_input(key="px").value == 0.0
    at = open_page(FLOW, {"k": "99", "view": LAYERS})
    assert at.slider(key="k").value == 8


def test_flow_layer_slider_redraws_the_warp():
    at = open_page(FLOW, {"view": LAYERS})
    assert_ok(at)
    warp = lambda: next(c for c in at.get("plotly_chart") if "z8 = f8" in c.proto.spec or "z3 = f3" in c.proto.spec)
    before = warp().proto.spec
    at.slider(key="k").set_value(3).run()
    assert_ok(at)
    assert charts(at) == VIEW_CHARTS[LAYERS]
    after = warp().proto.spec
    assert after != before and "z3 = f3(z2)" in after
    assert "k=3" in at.sidebar.code[0].value
    at.radio(key="dir").set_value("data to base (likelihood)").run()
    assert_ok(at)
    assert any("after 3 inverse layers" in c.proto.spec for c in at.get("plotly_chart"))


def test_flow_anomaly_threshold_flags_more_points():
    at = open_page(FLOW, {"q": 0.5, "px": 3.0, "py": 3.0, "view": ANOMALY})
    assert_ok(at)
    assert charts(at) == VIEW_CHARTS[ANOMALY]
    flagged = lambda: int(next(m.value for m in at.markdown if m.value.startswith("Flagged:")).split("**")[1])
    few = flagged()
    assert any(m.label == "ln p(your point)" and m.delta == "flagged" for m in at.metric)  # far from the moons
    at.slider(key="q").set_value(10.0).run()
    assert_ok(at)
    assert flagged() > few


def test_flow_walkthrough_steps_through_the_lecture():
    at = open_page(FLOW, {"walkthrough": "true", "view": "Anomaly detection"})  # a view in the link changes nothing
    assert_ok(at, min_charts=1)
    assert views(at) == []  # no view switch in the walkthrough
    assert not notices(at), notices(at)
    assert step_headings(at) == ["#### Step 1. The change of variables"]
    assert charts(at) == VIEW_CHARTS[DENSITY]
    seen, drawn = walk(at, 9, charts)
    assert len(set(seen)) == 8 and seen[-1].startswith("#### Step 8")
    assert "A flow cannot tear space" in seen[4]
    # one section per step, its view's charts
    assert drawn == [VIEW_CHARTS[v] for v in (DENSITY, LAYERS, LAYERS, LAYERS, DENSITY, TRAINING, TRAINING, ANOMALY,
                                              ANOMALY)]
    assert at.latex and "\\ln p_\\theta" in at.latex[0].value  # step 8's threshold on ln p


def test_flow_train_live_small_config_from_another_view():
    at = open_page(FLOW, {"data": "Two moons", "K": 2, "width": 16, "steps": 250, "seed": 5, "view": LAYERS})
    assert_ok(at)
    assert "until you click **Train live**" in captions(at)
    assert at.slider(key="k").max == 8  # the shipped flow, until trained
    at.button(key="train").click().run()
    assert_ok(at)
    assert charts(at) == VIEW_CHARTS[LAYERS]
    assert "2 layers, seed 5." in captions(at)
    assert at.slider(key="k").max == 2
    switch(at, DENSITY)  # the trained flow is shown in every view
    assert_ok(at)
    assert "2 layers, seed 5." in captions(at) and charts(at) == VIEW_CHARTS[DENSITY]


def test_flow_the_same_live_model_is_trained_once_per_server():
    """Training is deterministic: another session asking for the same settings and seed gets the stored flow
    at once instead of a second run (a class opening the same settings), and its button offers to retrain it."""
    query = {"data": "Two moons", "K": 2, "width": 16, "steps": 250, "seed": 11}
    first = open_page(FLOW, query)
    assert first.button(key="train").label == "Train live"
    first.button(key="train").click().run()
    assert_ok(first)
    assert "2 layers, seed 11." in captions(first) and first.button(key="train").label == "Retrain"
    second = open_page(FLOW, query)
    assert_ok(second)
    assert "2 layers, seed 11." in captions(second) and second.button(key="train").label == "Retrain"
    assert not [e for e in second.main if type(e).__name__ == "Status"]  # nothing trained for it


def test_flow_a_kept_setting_follows_another_data_set():
    """A view's setting is kept while another view is shown; a data set with fewer layers brings it into range."""
    at = open_page(FLOW, {"data": "Two spirals", "view": LAYERS})
    assert at.slider(key="k").max == 16
    at.slider(key="k").set_value(12).run()
    switch(at, DENSITY)
    at.selectbox(key="data").set_value("moons").run()
    assert_ok(at)
    switch(at, LAYERS)
    assert_ok(at)
    assert at.slider(key="k").value == 8 and at.slider(key="k").max == 8


def test_flow_user_points_in_every_view():
    # a probe point set in the anomaly view, kept while the density view is shown; it lies outside the box of the
    # points added below, so that view brings it into its new range
    at = open_page(FLOW, {"view": ANOMALY})
    at.number_input(key="px").set_value(3.5).run()
    switch(at, DENSITY)
    at.selectbox(key="data").set_value("mine").run()
    assert not at.exception
    assert any("Add at least 10 points" in i.value for i in at.info)
    rng = np.random.default_rng(0)
    at.session_state["_flow_points"] = np.concatenate([rng.normal((100, 100), 5, (30, 2)),
                                                       rng.normal((140, 80), 5, (30, 2))]).tolist()
    at.slider(key="steps").set_value(250).run()
    assert not at.exception
    assert any("No flow for these points yet" in i.value for i in at.info)
    at.button(key="train").click().run()
    assert_ok(at)
    assert "Trained live on this server" in captions(at)
    assert charts(at) == VIEW_CHARTS[DENSITY] + 1  # and the click canvas
    # units far from [-3, 3] are handled: the density still holds its mass inside the picture
    mass = float(next(m.value for m in at.metric if m.label == "Probability mass in the picture"))
    assert 0.9 < mass < 1.02
    for label in VIEW_CHARTS:
        switch(at, label)
        assert_ok(at)
        assert charts(at) == VIEW_CHARTS[label] + 1, label  # the click canvas and the upload in every view
        assert at.file_uploader(key="csv") is not None and "Trained live on this server" in captions(at)
    assert 82 < at.number_input(key="px").value < 90  # the probe, brought into the new box


def test_flow_csv_upload_good_and_bad_files():
    at = open_page(FLOW, {"data": MINE})
    assert not at.exception
    at.file_uploader(key="csv").upload("bad.csv", b"x,y\n1,2\n3,oops\n", "text/csv").run()
    assert not at.exception
    assert any("Could not use `bad.csv`" in e.value and "numbers" in e.value for e in at.error)
    at.file_uploader(key="csv").upload("few.csv", b"1,2\n3,4\n", "text/csv").run()
    assert any("at least 10 are needed" in e.value for e in at.error)
    rows = "\n".join(f"{x:.3f},{y:.3f}" for x, y in np.random.default_rng(1).normal(size=(25, 2)))
    at.file_uploader(key="csv").upload("good.csv", ("x,y\n" + rows).encode(), "text/csv").run()
    assert not at.exception and not at.error
    assert len(at.session_state["_flow_points"]) == 25
    assert any("No flow for these points yet" in i.value for i in at.info)


def test_flow_ring_of_8_ships_a_mixture_base_and_trains_the_normal_one_live():
    """The ring's shipped flow starts from a learned mixture of 8 Gaussians; the base setting shows it, the sampling
    warp starts from it, and the standard normal can be trained live beside it."""
    at = open_page(FLOW, {"data": "Ring of 8 Gaussians", "view": LAYERS, "k": 0})
    assert_ok(at)
    assert at.selectbox(key="base").value == 8
    assert "--base-components 8" in captions(at)
    assert "z0 ~ p0 (a mixture of 8)" in at.get("plotly_chart")[0].proto.spec
    switch(at, DENSITY)
    assert "learned mixture of 8 Gaussians, not from" in captions(at)
    at = open_page(FLOW, {"data": "Ring of 8 Gaussians", "base": "standard normal", "K": 2, "width": 16, "steps": 250, "seed": 3,
                          "view": LAYERS, "k": 0})
    assert "until you click **Train live**" in captions(at)
    at.button(key="train").click().run()
    assert_ok(at)
    assert "2 layers, seed 3." in captions(at)
    assert "z0 ~ N(0, I)" in at.get("plotly_chart")[0].proto.spec


def test_flow_deeper_shipped_flow_sets_the_settings():
    at = open_page(FLOW, {"data": "Two spirals", "view": LAYERS})
    assert_ok(at)
    assert charts(at) == VIEW_CHARTS[LAYERS]
    assert at.slider(key="K").value == 16 and at.slider(key="k").max == 16
    assert "Shipped checkpoint, trained by `python -m core train flow --data spirals --n-layers 16" in captions(at)
    # switching data sets within a session: the settings left at the shipped ones follow the new set's shipped
    # settings; one the user set stays, and the link carries it
    at.selectbox(key="data").set_value("moons").run()
    assert_ok(at)
    assert at.slider(key="K").value == 8 and at.slider(key="k").max == 8 and "--data moons" in captions(at)
    assert at.slider(key="steps").value == 4000 and "K=" not in link(at)
    at.slider(key="K").set_value(12).run()
    at.selectbox(key="data").set_value("spirals").run()
    assert_ok(at)
    assert at.slider(key="K").value == 12 and at.slider(key="steps").value == 8000
    assert "K=12" in link(at) and "steps=" not in link(at)


def test_flow_a_default_that_depends_on_the_data_set_follows_it():
    """Moons to the ring of 8 in one session: the base, never set, becomes the ring's mixture of 8 (what the ring
    opened fresh uses), the shipped ring flow is shown, and the link (no ``base``) reopens that same model. A base
    the user chose is kept across data sets, and the link then names it."""
    at = open_page(FLOW)
    assert at.selectbox(key="base").value == 0
    at.selectbox(key="data").set_value("ring8").run()
    assert_ok(at)
    assert at.selectbox(key="base").value == 8
    assert "Shipped checkpoint, trained by `python -m core train flow --data ring8" in captions(at)
    assert "base=" not in link(at)
    fresh = open_page(FLOW, {"data": "Ring of 8 Gaussians"})
    assert fresh.selectbox(key="base").value == 8
    at.selectbox(key="base").set_value(4).run()
    at.selectbox(key="data").set_value("moons").run()
    assert_ok(at)
    assert at.selectbox(key="base").value == 4 and "base=mixture+of+4" in link(at)
    at.selectbox(key="base").set_value(0).run()  # back to moons' own default: left out of the link
    assert "base=" not in link(at)
    at.selectbox(key="data").set_value("ring8").run()
    assert at.selectbox(key="base").value == 8


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


def test_flow_coupling_widget_default_spline_live_and_nonsense():
    """The coupling is a setting: it starts at the shipped flow's, a spline flow trains live and its layers warp
    in the layer view, and a nonsense value falls back with the page's notice."""
    at = open_page(FLOW, {"view": LAYERS})
    assert_ok(at)
    assert at.selectbox(key="coupling").value == "affine" and "coupling=" not in link(at)  # the moons flow's own
    assert "**affine** coupling" in captions(at)
    at = open_page(FLOW, {"data": "Two moons", "coupling": "rational-quadratic spline", "K": 2, "width": 16,
                          "steps": 250, "seed": 6, "view": LAYERS})
    assert_ok(at)
    assert at.selectbox(key="coupling").value == "spline" and "until you click **Train live**" in captions(at)
    at.button(key="train").click().run()
    assert_ok(at)
    assert "2 layers, seed 6." in captions(at) and "rational-quadratic spline" in captions(at)
    assert at.slider(key="k").max == 2 and charts(at) == VIEW_CHARTS[LAYERS]
    at.slider(key="k").set_value(1).run()  # the warp after one spline layer
    assert_ok(at)
    assert "z1 = f1(z0)" in at.get("plotly_chart")[0].proto.spec
    at.radio(key="dir").set_value("data to base (likelihood)").run()  # and its exact inverse
    assert_ok(at)
    assert "after 1 inverse layer" in at.get("plotly_chart")[0].proto.spec
    assert "coupling=rational-quadratic+spline" in link(at) or "coupling=rational-quadratic%20spline" in link(at)
    at = open_page(FLOW, {"coupling": "cubic", "view": LAYERS})
    assert_ok(at)
    assert "coupling=cubic" in notices(at) and at.selectbox(key="coupling").value == "affine"


def test_flow_training_view_quotes_the_shipped_benchmark():
    """The claim beside the exact NLL names its setting, seconds, seeds and command, with the numbers of the
    shipped bench JSON (checkpoints/flow_bench.json), never typed-in ones; the checkerboard ships a spline flow."""
    import json

    from core import checkpoints, flow

    record = json.loads((checkpoints.SHIPPED_DIR / flow.BENCH_FILE).read_text())
    at = open_page(FLOW, {"data": "Checkerboard", "view": TRAINING})
    assert_ok(at)
    assert at.selectbox(key="coupling").value == "spline" and "--coupling spline" in captions(at)
    claim = next(c for c in at.caption if c.value.startswith("Benchmark ("))
    i = record["marks"].index(record["claim_seconds"])
    rows = {r["model"]: r["mean"][i] for r in record["rows"] if r["data"] == "checkerboard"}
    assert "spline coupling, 8 layers" in claim.value and record["command"] in claim.value
    for who in ("GenLab spline", "zuko NSF x3"):
        assert f"{rows[who]:.3f}" in claim.value, who
    assert rows["GenLab spline"] <= min(v for k, v in rows.items() if k.startswith("zuko NSF"))
    at = open_page(FLOW, {"data": "Two moons", "view": TRAINING})  # not benchmarked against the peers: no claim
    assert not [c for c in at.caption if c.value.startswith("Benchmark (")]
