"""AppTest: the VAE page, opened through the router as a browser following a link would: its views, each
drawing only its own figures, links with extreme or nonsense values, the picked image shared by the views
that use it, live training and the walkthrough."""
import json

import pytest

from core import vae
from tests.pagetest import assert_ok, notices, open_page, open_views, shown, step_headings, views, walk, widget, widget_in

PAGE = "pages/vae.py"
AE, LATENT, ELBO, REPARAM, GENERATE, BETA = "AE vs VAE", "Latent map", "ELBO", "Reparameterization", "Generate", "Beta"
# the plotly charts (by key) and images each view draws; the latent map itself is a Vega-Lite chart
CHARTS = {AE: ["ae_vae_maps"], LATENT: ["post_fig"], ELBO: ["elbo_curves", "iwae"], REPARAM: ["reparam"],
          GENERATE: ["manifold"], BETA: ["beta_maps", "beta_bars"]}
IMAGES = {AE: 3, LATENT: 1, ELBO: 0, REPARAM: 1, GENERATE: 4, BETA: 3}
# the URL keys of the controls each view draws (beyond the page's top controls)
KEYS = {AE: {"noise"}, LATENT: {"img", "zoom", "window"}, ELBO: set(), REPARAM: {"img", "eps"},
        GENERATE: {"grid", "span", "spacing", "nsamp", "from", "to", "isteps"}, BETA: set()}


def _show(at, label):
    at.button_group(key="view").set_value(label).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _assert_view(at, label, charts=None):
    """No exception or error, and exactly the plotly charts of view ``label`` (by their keys)."""
    assert_ok(at)
    keys = CHARTS[label] if charts is None else charts
    ids = [c.proto.id for c in at.get("plotly_chart")]
    assert len(ids) == len(keys), (label, ids)
    for k in keys:
        assert any(i.endswith("-" + k) for i in ids), (label, k, ids)


def _keys_drawn(at):
    kinds = ("selectbox", "slider", "number_input", "radio", "toggle")
    return {w.key for kind in kinds for w in getattr(at, kind)}


def test_views_open_trained_each_with_its_own_figures():
    ats = open_views(PAGE)
    assert list(ats) == list(CHARTS)
    assert views(ats[AE]) == list(CHARTS)
    top = {"model", "seed", "walkthrough"}
    for label, at in ats.items():
        _assert_view(at, label)
        assert len(at.get("image")) == IMAGES[label], label
        assert bool(at.get("vega_lite_chart")) == (label == LATENT), label  # the latent map (altair)
        assert at.selectbox(key="model").value == "beta1"
        assert "Seed of this view: **0**" in " ".join(c.value for c in at.sidebar.caption)
        assert ("view=" in at.sidebar.code[0].value) == (label != AE)
        drawn = _keys_drawn(at) - {"view"}
        assert drawn - top == KEYS[label], (label, drawn)  # only its own controls (and the shared ones)
    metrics = {m.label: m.value for m in ats[ELBO].metric}
    shipped = vae.load_shipped("vae_mnist_z2_beta1", device="cpu")
    assert metrics["test ELBO (nats)"] == f"{shipped.history_[-1]['test/elbo']:.1f}"
    assert float(metrics["test ln p(x), IWAE K=50"]) > float(metrics["test ELBO (nats)"])
    assert any("gap = KL" in m.label for m in ats[LATENT].metric)
    assert any("denoising AE" in m.label for m in ats[AE].metric)
    assert [b.key for b in ats[LATENT].button] == [b.key for b in ats[REPARAM].button] == ["good_fit", "poor_fit"]


def _title_text(chart) -> str:
    """A plotly chart's title as one line (titles are wrapped to the narrowest figure's width with <br>)."""
    title = json.loads(chart.proto.spec)["layout"].get("title", {}).get("text", "")
    return title.replace("<br>", " ") + " "


@pytest.mark.parametrize("query", [
    {"model": "beta 4 (shipped)", "img": 999, "grid": 30, "span": 5, "spacing": "quantile", "nsamp": 64, "noise": 1.5,
     "eps": 10000, "from": 0, "to": 9, "isteps": 20, "zoom": "true", "window": "whole plane", "seed": 2147483647},
    {"model": "beta 0.25 (shipped)", "img": 1, "grid": 3, "span": 0.5, "nsamp": 4, "noise": 0, "isteps": 2,
     "from": 7, "to": 7, "eps": 1},
])
def test_extreme_values_from_the_link(query):
    ats = open_views(PAGE, query)
    assert list(ats) == list(CHARTS)
    links = set()
    for label, at in ats.items():
        _assert_view(at, label)
        assert not notices(at), (label, notices(at))
        link = at.sidebar.code[0].value
        assert f"grid={query['grid']}" in link and f"nsamp={query['nsamp']}" in link  # the link reopens this view
        links.add(frozenset(p for p in link.lstrip("?").split("&") if not p.startswith("view=")))
    assert len(links) == 1, links  # the same settings in the link, whichever view is shown
    for key, value in query.items():
        seen = shown(widget_in(ats, key))
        assert str(seen).lower() == str(value).lower() or float(seen) == float(value), (key, seen, value)
    assert f"test image #{query['img']}" in " ".join(s.value for s in ats[REPARAM].subheader)
    assert f"test image #{query['img']} " in _title_text(ats[LATENT].get("plotly_chart")[0])  # the posterior's title


def test_nonsense_url_parameters_fall_back_with_a_notice():
    query = {"model": "gan", "img": "-5", "grid": "abc", "span": "nan", "noise": "1e9", "spacing": "log",
             "eps": "x", "zz": "1"}
    everywhere = ("model=gan", "`zz`")
    where = {"img=-5": {LATENT, REPARAM}, "grid=abc": {GENERATE}, "span=nan": {GENERATE}, "spacing=log": {GENERATE},
             "noise=1e9": {AE}, "eps=x": {REPARAM}}
    ats = open_views(PAGE, query)
    assert list(ats) == list(CHARTS)
    for label, at in ats.items():
        _assert_view(at, label)
        text = notices(at)
        for key in everywhere:
            assert key in text, (label, key, text)
        for key, shown_in in where.items():  # checked where its control is drawn, kept quietly elsewhere
            assert (key in text) == (label in shown_in), (label, key, text)
            assert (f"`{key.split('=')[0]}" in text) == (label in shown_in), (label, key, text)  # nor as unknown
        assert at.selectbox(key="model").value == "beta1"
    assert ats[GENERATE].slider(key="grid").value == 15 and ats[GENERATE].slider(key="span").value == 2.5
    assert ats[LATENT].number_input(key="img").value == 0 and ats[AE].slider(key="noise").value == 0.5
    at = open_page(PAGE, {"view": "Everything"})
    _assert_view(at, AE)
    assert "view=Everything" in notices(at)


def test_a_hidden_views_setting_survives_in_the_link():
    at = open_page(PAGE, {"grid": "7", "eps": "5", "img": "42"})
    _assert_view(at, AE)
    assert not notices(at), notices(at)
    link = at.sidebar.code[0].value
    assert all(p in link for p in ("grid=7", "eps=5", "img=42")), link
    at = open_page(PAGE, {"grid": "7", "eps": "5", "img": "42", "view": REPARAM})
    assert at.number_input(key="eps").value == 5 and "test image #42" in at.subheader[0].value
    assert "grid=7" in at.sidebar.code[0].value
    at = open_page(PAGE, {"grid": "7", "view": GENERATE})
    assert at.slider(key="grid").value == 7


def test_widget_change_redraws():
    at = open_page(PAGE, {"view": GENERATE})
    before = at.get("plotly_chart")[0].proto.spec
    images = [i.proto.SerializeToString() for i in at.get("image")]
    at.slider(key="grid").set_value(7).run()
    _assert_view(at, GENERATE)
    assert at.get("plotly_chart")[0].proto.spec != before  # the manifold changed
    assert [i.proto.SerializeToString() for i in at.get("image")] == images  # the samples did not
    assert "grid=7" in at.sidebar.code[0].value


def test_the_picked_image_is_shared_by_its_views():
    at = open_page(PAGE, {"view": LATENT})
    at.number_input(key="img").set_value(42).run()
    _assert_view(at, LATENT)
    assert "test image #42 " in _title_text(at.get("plotly_chart")[0])  # the posterior's title
    _show(at, GENERATE)  # a view without the control keeps the choice
    _assert_view(at, GENERATE)
    _show(at, REPARAM)
    _assert_view(at, REPARAM)
    assert at.number_input(key="img").value == 42
    assert "test image #42" in " ".join(s.value for s in at.subheader)


def test_good_and_poor_fit_buttons_pick_images():
    at = open_page(PAGE, {"view": LATENT})
    next(b for b in at.button if b.key == "poor_fit").click().run()
    _assert_view(at, LATENT)
    poor = at.number_input(key="img").value
    next(b for b in at.button if b.key == "good_fit").click().run()
    good = at.number_input(key="img").value
    assert poor != good
    gap = float(next(m.value for m in at.metric if m.label.startswith("gap")).split()[0])
    assert gap < 5  # the best-fitting digit's posterior is close to Gaussian


def test_train_live_on_small_digits_with_more_latent_dims():
    q = {"model": "train my own", "ldata": "sklearn digits 8x8", "ldim": 3, "lsteps": 100, "lwidth": 64, "seed": 3}
    at = open_page(PAGE, q)
    _assert_view(at, AE)
    assert any("Not trained yet" in c.value for c in at.caption)
    next(b for b in at.button if "Train" in b.label).click().run()
    _assert_view(at, AE)  # the autoencoders' comparison uses its own shipped models
    assert not any("Not trained yet" in c.value for c in at.caption)
    assert widget(at, "dx").value == 1 and widget(at, "dy").value == 2  # 3 latent dims: choose the pair shown
    _show(at, LATENT)
    _assert_view(at, LATENT, [])  # no exact posterior grid for a 3-D latent space
    assert any("2 latent" in i.value for i in at.info)
    assert len(at.get("vega_lite_chart")) == 1
    at.number_input(key="img").set_value(5).run()
    _show(at, GENERATE)
    _assert_view(at, GENERATE)
    before = at.get("plotly_chart")[0].proto.spec
    at.radio(key="slice").set_value("picked image's mu").run()  # slices through image #5's code
    _assert_view(at, GENERATE)
    assert at.get("plotly_chart")[0].proto.spec != before
    widget(at, "dy").set_value(1).run()  # the same dimension twice is caught
    _assert_view(at, GENERATE)
    assert any("two different latent dimensions" in w.value for w in at.warning)
    _show(at, ELBO)
    _assert_view(at, ELBO)


def test_divergence_is_reported_on_the_page(monkeypatch):
    def diverge(cfg, data, callback=None, **kw):
        raise vae.TrainingDiverged("the loss is nan (non-finite terms: recon)", 7)

    monkeypatch.setattr(vae, "train", diverge)
    at = open_page(PAGE, {"model": "train my own", "ldata": "sklearn digits 8x8", "lsteps": 200, "seed": 11})
    next(b for b in at.button if "Train" in b.label).click().run()
    assert not at.exception
    assert any("diverged at step 7" in e.value for e in at.error)


def test_walkthrough_steps_through_the_lecture():
    at = open_page(PAGE, {"walkthrough": "true"})
    assert_ok(at, min_charts=1)
    assert not views(at)  # no view switch in the walkthrough
    assert step_headings(at) == ["#### Step 1. Recap: the autoencoder"]
    seen, charts = walk(at, 11, lambda at: len(at.get("plotly_chart")) + len(at.get("vega_lite_chart")), no_errors=True)
    assert len(set(seen)) == 10 and seen[-1].startswith("#### Step 10")
    assert any("Step 7. Good and poor" in s for s in seen) and any("reparameterization" in s for s in seen)
    assert charts == [1, 1, 1, 1, 2, 1, 1, 1, 2, 1, 1]  # one section per step: ae, latent, posterior, ...


def test_missing_checkpoint_is_reported_and_offers_training(monkeypatch):
    import streamlit as st

    from core.checkpoints import CheckpointError

    real = vae.load_shipped

    def load(name, device=None):
        if name in ("vae_mnist_z2_beta4", "vae_mnist_ae_z2"):
            raise CheckpointError(f"Checkpoint weights {name}.safetensors are missing (looked in checkpoints).")
        return real(name, device)

    st.cache_resource.clear()  # the loaders are cached per process: forget what other tests loaded
    monkeypatch.setattr(vae, "load_shipped", load)
    try:
        at = open_page(PAGE, {"model": "beta 4 (shipped)"})
        assert not at.exception
        assert any("could not be loaded" in w.value and "beta4" in w.value for w in at.warning)
        assert any(b.label.startswith("Train the VAE") for b in at.button)
        # beta 1 is there; the autoencoders' and the beta views say what is missing, the rest draws
        ats = open_views(PAGE)
        for label, at in ats.items():
            assert not at.exception and not at.error, label
        assert any("autoencoders could not be loaded" in w.value for w in ats[AE].warning)
        assert any("beta models could not be loaded" in w.value for w in ats[BETA].warning)
        for label in (LATENT, ELBO, REPARAM, GENERATE):
            _assert_view(ats[label], label)
    finally:
        st.cache_resource.clear()
