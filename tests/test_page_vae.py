"""AppTest: the VAE page, opened through the router as a browser following a link would."""
import pytest

from core import vae
from tests.pagetest import assert_ok, notices, open_page, shown, widget

PAGE = "pages/vae.py"
N_CHARTS = 8  # AE|VAE maps, posterior, ELBO curves, IWAE, reparameterization, manifold, beta maps, beta bars


def test_defaults_open_trained():
    at = open_page(PAGE)
    assert_ok(at, min_charts=N_CHARTS)
    assert at.selectbox(key="model").value == "beta1"
    assert at.get("vega_lite_chart"), "the latent map (altair) is missing"
    metrics = {m.label: m.value for m in at.metric}
    shipped = vae.load_shipped("vae_mnist_z2_beta1", device="cpu")
    assert metrics["test ELBO (nats)"] == f"{shipped.history_[-1]['test/elbo']:.1f}"
    assert float(metrics["test ln p(x), IWAE K=50"]) > float(metrics["test ELBO (nats)"])
    assert len(at.get("image")) >= 8  # sample strips, reconstructions, interpolation, denoising rows
    assert "Seed of this view: **0**" in " ".join(c.value for c in at.sidebar.caption)


@pytest.mark.parametrize("query", [
    {"model": "beta 4 (shipped)", "img": 999, "grid": 30, "span": 5, "spacing": "quantile", "nsamp": 64, "noise": 1.5,
     "eps": 10000, "from": 0, "to": 9, "isteps": 20, "zoom": "true", "window": "whole plane", "seed": 2147483647},
    {"model": "beta 0.25 (shipped)", "img": 0, "grid": 3, "span": 0.5, "nsamp": 4, "noise": 0, "isteps": 2,
     "from": 7, "to": 7, "eps": 0},
])
def test_extreme_values_from_the_link(query):
    at = open_page(PAGE, query)
    assert_ok(at, min_charts=N_CHARTS)
    assert not notices(at), notices(at)
    for key, value in query.items():
        seen = shown(widget(at, key))
        assert str(seen).lower() == str(value).lower() or float(seen) == float(value), (key, seen, value)
    link = at.sidebar.code[0].value
    assert f"grid={query['grid']}" in link and f"nsamp={query['nsamp']}" in link  # the link reopens this view


def test_nonsense_url_parameters_fall_back_with_a_notice():
    at = open_page(PAGE, {"model": "gan", "img": "-5", "grid": "abc", "span": "nan", "noise": "1e9",
                          "spacing": "log", "zz": "1"})
    assert_ok(at, min_charts=N_CHARTS)
    text = notices(at)
    for key in ("model=gan", "img=-5", "grid=abc", "span=nan", "noise=1e9", "spacing=log", "`zz`"):
        assert key in text, (key, text)
    assert at.selectbox(key="model").value == "beta1" and at.slider(key="grid").value == 15


def test_widget_change_redraws():
    at = open_page(PAGE)
    before = {c.key if hasattr(c, "key") else i: c.proto.spec for i, c in enumerate(at.get("plotly_chart"))}
    at.slider(key="grid").set_value(7).run()
    assert_ok(at, min_charts=N_CHARTS)
    after = [c.proto.spec for c in at.get("plotly_chart")]
    assert sum(a != b for a, b in zip(before.values(), after)) == 1  # only the manifold changed
    assert "grid=7" in at.sidebar.code[0].value
    at.number_input(key="img").set_value(42).run()
    assert_ok(at, min_charts=N_CHARTS)
    assert "test image #42" in " ".join(s.value for s in at.subheader)


def test_good_and_poor_fit_buttons_pick_images():
    at = open_page(PAGE)
    next(b for b in at.button if b.key == "poor_fit").click().run()
    assert_ok(at, min_charts=N_CHARTS)
    poor = at.number_input(key="img").value
    next(b for b in at.button if b.key == "good_fit").click().run()
    good = at.number_input(key="img").value
    assert poor != good
    gap = float(next(m.value for m in at.metric if m.label.startswith("gap")).split()[0])
    assert gap < 5  # the best-fitting digit's posterior is close to Gaussian


def test_train_live_on_small_digits_with_more_latent_dims():
    q = {"model": "train my own", "ldata": "sklearn digits 8x8", "ldim": 3, "lsteps": 100, "lwidth": 64, "seed": 3}
    at = open_page(PAGE, q)
    assert_ok(at, min_charts=8)
    assert any("Not trained yet" in c.value for c in at.caption)
    next(b for b in at.button if "Train" in b.label).click().run()
    assert_ok(at, min_charts=N_CHARTS - 1)  # no exact posterior grid for a 3-D latent space
    assert not any("Not trained yet" in c.value for c in at.caption)
    assert widget(at, "dx").value == 1 and widget(at, "dy").value == 2  # 3 latent dims: choose the pair shown
    assert any("only for a 2-D latent" in i.value or "2 latent" in i.value for i in at.info)  # no posterior grid in 3-D
    widget(at, "dy").set_value(1).run()  # the same dimension twice is caught
    assert_ok(at, min_charts=N_CHARTS - 1)
    assert any("two different latent dimensions" in w.value for w in at.warning)


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
    headings = lambda: [m.value for m in at.markdown if m.value.startswith("#### Step")]
    assert headings() == ["#### Step 1. Recap: the autoencoder"]
    seen = []
    for _ in range(11):
        seen.append(headings()[0])
        next(b for b in at.button if b.label == "Next").click().run()
        assert not at.exception and not at.error
    assert len(set(seen)) == 10 and seen[-1].startswith("#### Step 10")
    assert any("Step 7. Good and poor" in s for s in seen) and any("reparameterization" in s for s in seen)


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
        at = open_page(PAGE)  # beta 1 is there; the autoencoders' section says what is missing, the rest draws
        assert not at.exception and not at.error
        assert any("autoencoders could not be loaded" in w.value for w in at.warning)
        assert any("beta models could not be loaded" in w.value for w in at.warning)
    finally:
        st.cache_resource.clear()
