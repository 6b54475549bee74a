"""Variational autoencoders: latent maps, the ELBO and its two terms, reparameterization, and the autoencoders."""
import numpy as np
import streamlit as st

from core import snippets, ui, vae
from core.checkpoints import CheckpointError, config_hash
from core.steps import vae as text
from core.steps.vae import DATA_LABELS, HELP, MODEL_LABELS
from core.ui import vae as app
from core.viz import vae as fig

ui.require_router()

st.title("Variational autoencoders")
st.markdown(text.INTRO)
url = ui.url()
wt = ui.Walkthrough(text.STEPS, text.VIEWS)

with st.container(border=True):
    c = st.columns([2.2, 1, 1, 1])
    choice = url.selectbox("VAE (2-D latent unless you train your own)", list(MODEL_LABELS), key="model",
                           format_func=MODEL_LABELS.get, container=c[0])
    seed = ui.seed_input(container=c[1])
    live_cfg = None
    if choice == "live":
        lc = st.columns(6)
        ldata = url.selectbox("Data", list(DATA_LABELS), key="ldata", format_func=DATA_LABELS.get, container=lc[0],
                              help=HELP["ldata"])
        ldim = url.slider("Latent dimensions", 2, 16, 2, key="ldim", container=lc[1], help=HELP["ldim"])
        lbeta = url.slider("beta", 0.0, 10.0, 1.0, key="lbeta", step=0.05, container=lc[2])
        lsteps = url.slider("Steps", 100, 6000, 1500, key="lsteps", step=100, container=lc[3])
        lwidth = url.selectbox("Hidden width", [64, 128, 256, 512], key="lwidth", index=2, container=lc[4],
                               help=HELP["lwidth"])
        llr = url.selectbox("Learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 1e-1], key="llr", index=2,
                            format_func=lambda v: f"{v:g}", container=lc[5])
        live_cfg = vae.VAEConfig(data=ldata, latent_dim=ldim, beta=lbeta, steps=lsteps, lr=llr,
                                 hidden=(lwidth, max(8, lwidth // 2)), seed=seed)
        key = f"live:{config_hash(live_cfg)}"
        app.train_if_asked(live_cfg, key)
        # the button after any training of this run: its label says what is shown now
        c[2].button(ui.train_label(key in app.live_store()), icon=":material/model_training:", key="train",
                    type="primary", width="stretch", on_click=lambda: st.session_state.update(_vae_train=True))
        ui.mark_trained(key in app.live_store())
        if key not in app.live_store():
            c[3].caption(text.NOT_TRAINED)
            key, choice = vae.SHIPPED_VAES["beta1"], "beta1"
    else:
        key = vae.SHIPPED_VAES[choice]
        ui.mark_trained(False)  # a shipped model: nothing trained live to bring back
        c[2].caption(text.SHIPPED_NOTE)

key = app.retrained_or(key, choice)  # a shipped model that was missing may have been retrained here
model = ui.load_or_offer_training(lambda: app.model_for(key), lambda: app.train_live(vae.SHIPPED_CONFIGS[choice]),
                                  f"VAE ({MODEL_LABELS[choice]})")
if model is None:
    st.stop()

data = app.dataset(model.config.data, model.config.data_seed)
L, n_test, y_test = model.config.latent_dim, len(data.x_test), data.y_test
images_test = data.x_test.numpy().reshape((-1,) + data.shape)
app.sync_picked(L, n_test)  # the picked test image, shared by the latent map, the posterior and the reparameterization

dims = (0, 1)
if L > 2:
    dc = st.columns(2)
    dims = (url.slider("Latent dimension on the x-axis", 1, L, 1, key="dx", container=dc[0]) - 1,
            url.slider("Latent dimension on the y-axis", 1, L, 2, key="dy", container=dc[1]) - 1)
    if dims[0] == dims[1]:
        st.warning("Pick two different latent dimensions; showing 1 and 2.", icon=":material/warning:")
        dims = (0, 1)


def strip(box, images, ncols, caption, scale=2):
    box.image(fig.image_strip(images, ncols, scale=scale), clamp=True, caption=caption)


def section_ae():
    st.subheader("Autoencoder vs VAE: holes vs a filled prior region")
    try:
        ae, dae, ref_vae = (app.shipped(n) for n in ("vae_mnist_ae_z2", "vae_mnist_dae_z2", "vae_mnist_z2_beta1"))
    except CheckpointError as e:
        st.warning(f"The shipped autoencoders could not be loaded: {e}", icon=":material/error:")
        return
    st.plotly_chart(app.ae_vae_figure(), key="ae_vae_maps")
    st.markdown(text.AE_SAMPLING.format(mean=", ".join(f"{v:.1f}" for v in ae.code_mean.tolist()),
                                        std=", ".join(f"{v:.1f}" for v in ae.code_std.tolist())))
    a, b = st.columns(2)
    strip(a, ae.sample(16, seed=seed), 8, "autoencoder: decode z ~ N(codes' mean, codes' std^2)")
    strip(b, ref_vae.sample(16, seed=seed), 8, "VAE: decode z ~ N(0, I)")
    st.markdown("##### Denoising autoencoder")
    noise = url.slider("Noise level (std of the Gaussian noise added to the input)", 0.0, 1.5, 0.5, key="noise", step=0.05)
    d = vae.denoising(dae, ae, app.dataset("mnist").x_test, noise, seed)
    strip(st, np.concatenate([d["x"], d["noisy"], d["dae"], d["ae"]]), 10,
          "rows: clean test digits · corrupted input · denoising AE output · plain AE output")
    for col, label, k in zip(st.columns(3), ("mean |input - clean|", "denoising AE: mean |output - clean|",
                                             "plain AE: mean |output - clean|"), ("noisy", "dae", "ae")):
        col.metric(label, f"{d['err'][k]:.3f}")
    st.caption(text.DAE_CAPTION.format(noise=dae.config.noise, dae=dae.meta["test/recon"], ae=ae.meta["test/recon"]))


def pick_controls():
    c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
    idx = url.number("Picked test image (click a point in the map)", 0, n_test - 1, 0, key="img", container=c1)
    if model.is_vae:  # the gaps are computed on the first click only (a second of importance sampling)
        for box, label, bkey, best in ((c2, "Good Gaussian fit", "good_fit", np.argmin),
                                       (c3, "Poor Gaussian fit", "poor_fit", np.argmax)):
            box.button(label, key=bkey, width="stretch", help=HELP[bkey], on_click=app.jump_to_gap, args=(key, best))
    return int(idx)


def section_latent(idx):
    st.subheader("The latent map: where the encoder puts each test digit")
    a, b = st.columns([3, 1])
    zoom = url.toggle("Zoom in on the picked digit", False, key="zoom", container=b, help=HELP["zoom"])
    a.vega_lite_chart(spec=app.latent_spec(key, idx, dims, zoom), on_select="rerun", selection_mode="pick",
                      key="latent_map", width="stretch")
    strip(b, np.stack([images_test[idx], model.reconstruct(images_test[idx:idx + 1])[0]]), 2,
          f"test image #{idx} (digit {y_test[idx]}) and its reconstruction", scale=4 if data.shape[0] >= 16 else 12)
    mu, sigma = app.encoded(key)
    ui.table([{"dim": f"z{j + 1}", "mu": float(mu[idx, j]), "sigma": None if sigma is None else float(sigma[idx, j])}
              for j in range(min(L, 8))], index="dim", container=b)
    b.caption(text.LATENT_CAPTION)


def section_posterior(idx):
    st.subheader("The true posterior and its Gaussian approximation")
    if not model.is_vae or L != 2:
        st.info(text.POSTERIOR_NEEDS_2D, icon=":material/grid_on:")
        return
    a, b = st.columns([3, 2])
    window = url.radio("Grid window", ["around q", "whole plane"], key="window", horizontal=True, container=b,
                       help=HELP["window"])
    post_fig, p = app.posterior_figure(key, idx, window == "whole plane")
    a.plotly_chart(post_fig, key="post_fig")
    b.metric("ln p(x): the integral, summed on the grid", f"{p['log_px']:.2f} nats")
    b.metric("ELBO of this image", f"{p['elbo']:.2f} nats")
    b.metric("gap = KL(q(z|x) || p(z|x))", f"{p['kl_q_p']:.2f} nats")
    b.caption(text.POSTERIOR_CAPTION)


def section_generate():
    st.subheader("Generating: decode the latent plane, sample, reconstruct, interpolate")
    c1, c2, c3, c4 = st.columns(4)
    n = url.slider("Grid size", 3, 30, 15, key="grid", container=c1)
    span = url.slider("Grid half-width (in prior std)", 0.5, 5.0, 2.5, key="span", step=0.25, container=c2)
    spacing = url.radio("Spacing", ["linear", "quantile"], key="spacing", horizontal=True, container=c3, help=HELP["spacing"])
    through = url.radio("Slice through", ["prior mean 0", "picked image's mu"], key="slice", container=c4) if L > 2 else None
    base = tuple(float(v) for v in app.encoded(key)[0][idx]) if through == "picked image's mu" else None
    a, b = st.columns([3, 2])
    a.plotly_chart(app.manifold_figure(key, n, span, spacing, dims, base), key="manifold")
    ns = url.slider("Samples from the prior", 4, 64, 16, key="nsamp", step=4, container=b)
    prior_samples = model.sample(ns, seed=seed)
    strip(b, prior_samples, 8, f"z ~ N(0, I), x = E[x | z] (seed {seed})")
    ui.download_png(fig.image_strip(prior_samples, 8, scale=4), {"model": key, "samples": ns, "seed": seed, "x": "E[x | z]"},
                    f"genlab_vae_samples_seed{seed}.png", label="Download these samples (PNG)", container=b)
    strip(b, model.sample(min(ns, 8), seed=seed, mean=False), 8,
          "the same kind of draw with x ~ p(x | z) itself (Bernoulli pixels): the mean above is what is usually shown")
    r_idx = np.arange(8) * (n_test // 8)
    pairs = np.stack([images_test[r_idx], model.reconstruct(images_test[r_idx])], 1).reshape((-1,) + data.shape)
    strip(b, pairs, 8, "reconstructions beside their inputs (input, decoded posterior mean)")
    st.markdown("##### Interpolation between two digits")
    c1, c2, c3 = st.columns(3)
    da = url.selectbox("From digit", list(range(10)), key="from", index=3, container=c1)
    db = url.selectbox("To digit", list(range(10)), key="to", index=8, container=c2)
    steps = url.slider("Steps", 2, 20, 10, key="isteps", container=c3)
    line, ia, ib = vae.interpolation(model, images_test, y_test, da, db, steps)
    strip(st, line, len(line), f"test image #{ia} · decoded straight line from mu(#{ia}) to mu(#{ib}) · test image #{ib}", scale=3)


def section_elbo():
    st.subheader("The ELBO during training: reconstruction, KL and their sum")
    if model.history_:
        st.plotly_chart(app.elbo_figure(key), key="elbo_curves")
        h = model.history_[-1]
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("test reconstruction (nats)", f"{h['test/recon']:.1f}")
        m2.metric("test KL (nats)", f"{h['test/kl']:.2f}")
        m3.metric("test ELBO (nats)", f"{h['test/elbo']:.1f}")
        iw = getattr(model, "meta", {}).get("test/iwae50")
        if iw is None and model.is_vae:  # a live model: estimate it here (once, cached)
            iw = app.live_iwae(key)
        if iw is not None:
            m4.metric("test ln p(x), IWAE K=50", f"{iw:.1f}", f"{iw - h['test/elbo']:+.1f} above the ELBO")
        st.caption(text.ELBO_CAPTION.format(n_test=n_test))
    iwae_fig, ks, vals = app.iwae_figure(key)
    a, b = st.columns([3, 2])
    a.plotly_chart(iwae_fig, key="iwae")
    b.markdown(text.IWAE_TEXT.format(rise=vals[-1] - vals[0], k=ks[-1]))


def section_beta():
    st.subheader("Beta: what a heavier KL term does (shipped models, beta = 0.25, 1, 4)")
    try:
        models = {name: app.shipped(name) for name in vae.SHIPPED_VAES.values()}
    except CheckpointError as e:
        st.warning(f"The shipped beta models could not be loaded: {e}", icon=":material/error:")
        return
    mnist = app.dataset("mnist")
    x = mnist.x_test[np.arange(6) * (len(mnist.x_test) // 6)].numpy().reshape(-1, 28, 28)
    maps_fig, bars_fig = app.beta_figures()
    st.plotly_chart(maps_fig, key="beta_maps")
    for col, name in zip(st.columns(3), app.BETA_NAMES):
        strip(col, np.concatenate([x, models[name].reconstruct(x)]), 6,
              f"inputs and reconstructions; mean sigma {app.encoded(name)[1].mean():.3f}")
    a, b = st.columns([1, 1])
    a.plotly_chart(bars_fig, key="beta_bars")
    b.dataframe([dict(zip(text.BETA_COLUMNS, r.values())) for r in vae.beta_table([models[n] for n in app.BETA_NAMES])],
                hide_index=True, width="stretch",
                column_config={k: st.column_config.NumberColumn(format="%.2f") for k in text.BETA_COLUMNS[1:]})
    b.caption(text.BETA_CAPTION)


def section_reparam(idx):
    st.subheader(f"The reparameterization trick for test image #{idx}")
    if not model.is_vae:
        return
    eps_seed = url.number("eps seed (draw a new eps)", 0, 10_000, 0, key="eps", container=st.columns([1, 3])[0])
    r = vae.reparameterization(model, images_test[idx], seed=eps_seed)
    a, b = st.columns([3, 2])
    a.plotly_chart(fig.reparam_fig(*(r[k][list(dims)] for k in ("mu", "sigma", "eps", "z")),
                                   "eps ~ N(0, I), then z = mu + sigma * eps"), key="reparam")
    rows = vae.reparam_rows(r)
    a.dataframe(rows, hide_index=True, column_config={k: st.column_config.NumberColumn(format="%.3f") for k in rows[0] if k != "dim"})
    strip(b, np.stack([images_test[idx], r["x_hat"]]), 2, "x and E[x | z] for this z", scale=4 if data.shape[0] >= 16 else 12)
    b.markdown(text.REPARAM_TEXT.format(recon=r["recon"], kl=r["kl"], loss=r["loss"]))


picking = wt.shows("latent") or wt.shows("posterior") or wt.shows("reparam")
idx = pick_controls() if picking else app.picked_elsewhere(url, n_test)
idx = min(max(idx, 0), n_test - 1)

wt.section("ae", section_ae)
wt.section("latent", lambda: section_latent(idx))  # its clicks pick the image of every section
wt.section("posterior", lambda: section_posterior(idx), isolated=True)
wt.section("elbo", section_elbo)
wt.section("reparam", lambda: section_reparam(idx), isolated=True)
wt.section("generate", section_generate, isolated=True)
wt.section("beta", section_beta)

ui.reproduce(snippets.vae(live_cfg if key.startswith("live:") else None,
                          None if key.startswith("live:") else key, seed), "genlab_vae.py")
ui.show_code(vae.gaussian_kl, vae.reparameterize, vae.VAEModel.terms, vae.iwae_log_prob, vae.posterior_grid)
