"""The VAE page's app layer: Streamlit's caches over core.vae (the data, the shipped and the live-trained models,
each view's numbers and figures, keyed by the model and the widgets' values), live training with its progress box,
and the picked test image that the latent map, the posterior and the reparameterization share."""
from __future__ import annotations

import streamlit as st

from core import ui, vae
from core.checkpoints import config_hash
from core.viz import vae as fig

BETA_NAMES = [vae.SHIPPED_VAES[k] for k in vae.BETA_ORDER]


@st.cache_resource(max_entries=4, show_spinner="Loading the digits...")
def dataset(name: str, data_seed: int = 0):
    return vae.load_data(vae.VAEConfig(data=name, data_seed=data_seed))


@st.cache_resource(max_entries=8, show_spinner="Loading the trained model...")
def shipped(name: str):
    return vae.load_shipped(name)


def live_store() -> ui.ModelStore:
    """Live-trained models by config (shared by all sessions: training is deterministic per config)."""
    return ui.model_store("vae", 8)


def model_for(key: str):
    return live_store().get(key) if key.startswith("live:") else shipped(key)


def test_set(key: str):
    m = model_for(key)
    return m, dataset(m.config.data, m.config.data_seed)


@st.cache_data(max_entries=16, show_spinner=False)
def encoded(key: str):
    m, d = test_set(key)
    return vae.encode_sigma(m, d.x_test)


@st.cache_data(max_entries=4, show_spinner=False)
def tooltip_images(name: str, data_seed: int):
    d = dataset(name, data_seed)
    return fig.tooltip_images(d.x_test.numpy(), d.shape)


@st.cache_data(max_entries=16, show_spinner=False)
def per_image_gap(key: str, k: int = 50):
    m, d = test_set(key)
    return vae.per_image_gap(m, d.x_test, k)


@st.cache_data(max_entries=16, show_spinner="Importance sampling...")
def live_iwae(key: str, k: int = 50) -> float:
    m, d = test_set(key)
    return vae.iwae_log_prob(m, d.x_test, k=k, seed=m.config.seed).mean().item()


# Figures that depend only on a model and a few choices are built once and copied from the cache: building a
# plotly figure costs more than drawing it (about 0.2 s for three latent maps on a busy 2-core machine).

@st.cache_data(max_entries=4, show_spinner=False)
def ae_vae_figure():
    return fig.ae_vae_maps(encoded("vae_mnist_ae_z2")[0], encoded("vae_mnist_z2_beta1")[0], dataset("mnist").y_test)


@st.cache_data(max_entries=4, show_spinner=False)
def beta_figures():
    models = [shipped(n) for n in BETA_NAMES]
    return (fig.beta_maps([encoded(n)[0] for n in BETA_NAMES], [m.config.beta for m in models], dataset("mnist").y_test),
            fig.beta_bars(vae.beta_table(models)))


@st.cache_data(max_entries=16, show_spinner=False)
def elbo_figure(key: str):
    return fig.elbo_curves(model_for(key).history_)


@st.cache_data(max_entries=16, show_spinner="Importance sampling...")
def iwae_figure(key: str):
    m, d = test_set(key)
    ks, vals, elbo = vae.iwae_curve(m, d.x_test[:200])
    return fig.iwae_fig(ks, vals, elbo, title="ln p(x) >= IWAE_K >= ELBO (first 200 test digits)"), ks, vals


@st.cache_data(max_entries=64, show_spinner=False)
def manifold_figure(key: str, n: int, span: float, spacing: str, dims: tuple, base: tuple | None):
    m = model_for(key)
    mos, axis = vae.decode_grid(m, n=n, span=span, dims=dims, base=base, spacing=spacing)
    title = f"E[x | z] over a {n}x{n} grid of the latent plane" + (" (other dims fixed)" if m.config.latent_dim > 2 else "")
    return fig.manifold_fig(mos, axis, m.shape[0] + 1, dims, title)


@st.cache_data(max_entries=64, show_spinner=False)
def posterior_figure(key: str, idx: int, whole: bool):
    m, d = test_set(key)
    x = d.x_test[idx].numpy().reshape(d.shape)
    p = vae.posterior_grid(m, x, n=161, span=4.0, center=(0.0, 0.0)) if whole else vae.posterior_grid(m, x, n=81)
    title = f"{'ln ' if whole else ''}p(z | x) for test image #{idx} (blue) and q(z | x) (orange)"
    return fig.posterior_fig(p, title, log=whole), p


@st.cache_data(max_entries=64, show_spinner=False)
def latent_spec(key: str, idx: int, dims: tuple, zoom: bool) -> dict:
    """The latent map as a Vega-Lite spec (altair builds and validates it once; the page then sends the dict)."""
    m, d = test_set(key)
    tips = tooltip_images(m.config.data, m.config.data_seed)
    return fig.picked_latent_map(*encoded(key), d.y_test, tips, idx, dims, zoom).to_dict()


def train_live(cfg: vae.VAEConfig, again: bool = False, restoring: bool = False):
    """Train ``cfg`` with a progress box and keep it for every session (``again``: even if it is kept already).
    Returns the model or None. Sessions asking for the same model at once share one run (core.ui.live)."""

    def fit(progress):
        try:  # the chart carries the test terms (every eval_every steps) forward
            m = vae.train(cfg, dataset(cfg.data, cfg.data_seed), callback=vae.with_last_test(progress))
        except vae.TrainingDiverged as e:
            progress.done("Training diverged", ok=False)
            st.error(f"{e} The last good model is not kept; lower the learning rate and train again.", icon=":material/error:")
            return None
        progress.done(f"Trained {m.step_:,} steps in {m.train_seconds_:.1f} s: test ELBO {m.history_[-1]['test/elbo']:.1f} nats")
        return m

    return live_store().train(f"live:{config_hash(cfg)}", fit, steps=cfg.steps, every=100, again=again,
                              label=f"Training a VAE for {cfg.steps:,} steps", restoring=restoring,
                              chart_keys=["train/elbo", "test/elbo"], what="this exact VAE")


def train_if_asked(cfg: vae.VAEConfig, key: str) -> None:
    """Train ``cfg`` on a click of the train button (its on_click sets ``_vae_train``: a request made in a callback
    survives a rerun), or when the link says this model was trained and this server does not hold it
    (core.ui.live: the rule for every page)."""
    if st.session_state.pop("_vae_train", False):
        train_live(cfg, again=True)
    elif ui.link_says_trained() and key not in live_store():
        train_live(cfg, restoring=True)


def retrained_or(key: str, choice: str) -> str:
    """``key``; for a shipped model that was missing and has been retrained here, the retrained model's key."""
    if key.startswith("live:"):
        return key
    retrained = f"live:{config_hash(vae.SHIPPED_CONFIGS[choice])}"
    return retrained if retrained in live_store() else key


def sync_picked(latent_dim: int, n_test: int) -> None:
    """Before the controls are drawn: the picked test image (``img``) follows a new click in the latent map or a
    good/poor-fit button; choices remembered from a model with more latent dimensions or test images than this
    one are brought back into range."""
    ss = st.session_state
    try:
        picked_now = ss["latent_map"].selection["pick"][0]["idx"] if ss.get("latent_map") else None
    except (AttributeError, KeyError, IndexError, TypeError):
        picked_now = None
    if picked_now is not None and ss.get("_vae_last_click") != picked_now:
        ss["_vae_last_click"] = picked_now
        ss["img"] = int(picked_now)
    if "_vae_jump" in ss:  # set by the good/poor-fit buttons
        ss["img"] = ss.pop("_vae_jump")
    for k, hi, default in (("dx", latent_dim, 1), ("dy", latent_dim, 2), ("img", n_test - 1, 0)):
        v = ss.get(k)
        if isinstance(v, (int, float)) and v > hi:
            ss[k] = default


def jump_to_gap(key: str, best) -> None:
    """The good/poor-fit buttons' callback: pick the test image ``best`` (np.argmin / np.argmax) of the gaps
    ln p(x) - ELBO (computed on the first click only: a second of importance sampling)."""
    st.session_state.update(_vae_jump=int(best(per_image_gap(key))))


def picked_elsewhere(url, n_test: int) -> int:
    """The picked image where its control is not drawn (the generate section slices through its code):
    the last one picked on this page, else the link's, else the first."""
    v = st.session_state.get("img")
    if v is None:  # the link's value, if the control would accept it (else its default, as the control does)
        raw = url.raw.get("img", "")
        v = int(raw) if raw.isdigit() and int(raw) < n_test else 0
    return int(v or 0)
