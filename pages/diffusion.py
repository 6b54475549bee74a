"""Diffusion models: the forward and reverse processes step by step, noise prediction, DDPM vs DDIM, latent diffusion."""
import numpy as np
import streamlit as st

from core import app_models, diffusion, snippets, ui
from core.checkpoints import CheckpointError
from core.viz import diffusion as fig

ui.require_router()

st.title("Diffusion models")
st.markdown(
    "Destroy data by adding a little Gaussian noise a thousand times, then train one network to undo a single "
    "step: predict the noise $\\boldsymbol\\epsilon$ that was added to $\\mathbf x_t$. Sampling starts from pure "
    "noise $\\mathbf x_T\\sim\\mathcal N(\\mathbf 0, I)$ and runs the learned denoiser backwards, $T$ small steps "
    "(DDPM) or a few big deterministic ones (DDIM). Everything below is computed live; the digit models ship "
    "trained, the 2-D models train here in seconds."
)

STEPS = [
    ui.Step("The forward Markov chain and its variance schedule",
            r"\begin{aligned}q(\mathbf x_{1:T}|\mathbf x_0)&=\prod_{t=1}^T q(\mathbf x_t|\mathbf x_{t-1})\\ q(\mathbf x_t|\mathbf x_{t-1})&=\mathcal N\big(\mathbf x_t;\sqrt{1-\beta_t}\,\mathbf x_{t-1},\ \beta_t I\big)\end{aligned}",
            "Each step shrinks the image a little and adds noise of variance $\\beta_t$. The schedule "
            "$\\beta_1<\\dots<\\beta_T$ is fixed, not learned: linear from $10^{-4}$ to $0.02$ (Ho et al.) or cosine "
            "(Nichol & Dhariwal), which destroys information more evenly. After $T=1000$ steps $\\bar\\alpha_T\\approx 0$: "
            "nothing of $\\mathbf x_0$ is left, the chain ends in an isotropic Gaussian.", "schedule"),
    ui.Step("Reparametrization: jump straight from x_0 to x_t",
            r"\begin{aligned}\mathbf x_t&=\sqrt{\bar\alpha_t}\,\mathbf x_0+\sqrt{1-\bar\alpha_t}\,\boldsymbol\epsilon\\ q(\mathbf x_t|\mathbf x_0)&=\mathcal N\big(\mathbf x_t;\sqrt{\bar\alpha_t}\,\mathbf x_0,(1-\bar\alpha_t)I\big)\\ \alpha_t&=1-\beta_t,\quad \bar\alpha_t=\textstyle\prod_{s=1}^t\alpha_s\end{aligned}",
            "Gaussians added to Gaussians stay Gaussian, so $t$ steps collapse into one: no need to run the chain. "
            "Move $t$: the cloud drawn with the closed form (blue) and the one from running the chain step by step "
            "(orange) agree in distribution, and the means and variances below match the formula.", "forward"),
    ui.Step("The reverse process and the ELBO",
            r"\begin{aligned}p_\theta(\mathbf x_{0:T})&=p(\mathbf x_T)\prod_{t=1}^T p_\theta(\mathbf x_{t-1}|\mathbf x_t)\\ p_\theta(\mathbf x_{t-1}|\mathbf x_t)&=\mathcal N\big(\boldsymbol\mu_\theta(\mathbf x_t,t),\boldsymbol\Sigma_\theta(\mathbf x_t,t)\big)\\ \mathcal L&=\textstyle\sum_t D_{KL}\big(q(\mathbf x_{t-1}|\mathbf x_t,\mathbf x_0)\,\|\,p_\theta(\mathbf x_{t-1}|\mathbf x_t)\big)\end{aligned}",
            "With small steps the reverse of each noising step is Gaussian too, so a network only has to give its mean. "
            "Maximising the ELBO, as in a VAE whose encoder is the fixed noising chain, becomes a sum of KL "
            "divergences between Gaussians, one per step, each in closed form. Press play: points travel from noise "
            "onto the data.", "trajectories"),
    ui.Step("Noise prediction (Algorithm 1)",
            r"\begin{aligned}&\mathbf x_0\sim q(\mathbf x_0),\ t\sim\mathcal U\{1..T\},\ \boldsymbol\epsilon\sim\mathcal N(\mathbf 0,I)\\ &\nabla_\theta\big\|\boldsymbol\epsilon-\boldsymbol\epsilon_\theta\big(\sqrt{\bar\alpha_t}\mathbf x_0+\sqrt{1-\bar\alpha_t}\boldsymbol\epsilon,\ t\big)\big\|^2\end{aligned}",
            "The KL terms reduce to a plain regression: show the network a noised example and the time $t$ "
            "(as a sinusoidal embedding, since one set of weights serves every $t$), and ask for the noise. Train a "
            "2-D model live and watch the loss and the distance of its samples to held-out data fall.", "train2d"),
    ui.Step("Sampling (Algorithm 2)",
            r"\begin{aligned}&\mathbf x_T\sim\mathcal N(\mathbf 0,I);\ \text{for } t=T..1:\ \mathbf z\sim\mathcal N(\mathbf 0,I)\ (t>1)\\ &\mathbf x_{t-1}=\tfrac{1}{\sqrt{\alpha_t}}\Big(\mathbf x_t-\tfrac{1-\alpha_t}{\sqrt{1-\bar\alpha_t}}\boldsymbol\epsilon_\theta(\mathbf x_t,t)\Big)+\sigma_t\mathbf z\end{aligned}",
            "Each step removes a bit of the predicted noise and adds back fresh noise $\\sigma_t\\mathbf z$. Step through "
            "a batch of digits: the left panel is $\\mathbf x_t$, the middle the noise the U-Net predicts, the right the "
            "clean image that prediction implies. Go back to any step and continue with another sampler.", "reverse"),
    ui.Step("A chain of denoising autoencoders",
            r"\hat{\mathbf x}_0=\frac{\mathbf x_t-\sqrt{1-\bar\alpha_t}\,\boldsymbol\epsilon_\theta(\mathbf x_t,t)}{\sqrt{\bar\alpha_t}}",
            "Predicting the noise is predicting the clean image: solve the closed form for $\\mathbf x_0$. So the network "
            "is a denoising autoencoder, one for every noise level, with no bottleneck (its output has the input's "
            "size). Lightly noised digits come back sharp; heavily noised ones come back as a blurry average of "
            "digits that could have been there.", "denoise"),
    ui.Step("DDIM: fewer, deterministic steps",
            r"\mathbf x_{t'}=\sqrt{\bar\alpha_{t'}}\,\hat{\mathbf x}_0+\sqrt{1-\bar\alpha_{t'}}\,\boldsymbol\epsilon_\theta(\mathbf x_t,t),\quad t'<t",
            "The same trained network, a different sampler: DDIM jumps from $t$ to a much earlier $t'$ along the "
            "closed form, with no fresh noise, so one starting noise always gives the same sample. Both samplers start "
            "from the same $\\mathbf x_T$ here; the table measures quality against steps against seconds. Few steps "
            "cost quality with either; which one wins depends on the model, so it is measured, not assumed.", "samplers"),
    ui.Step("Latent diffusion",
            r"\mathbf z_0=\mathcal E(\mathbf x_0),\quad \mathbf z_t=\sqrt{\bar\alpha_t}\,\mathbf z_0+\sqrt{1-\bar\alpha_t}\,\boldsymbol\epsilon,\quad \hat{\mathbf x}_0=\mathcal D(\hat{\mathbf z}_0)",
            "Add the noise to an autoencoder's compressed code instead of the pixels: the denoiser works on 64 "
            "numbers instead of 256, and the decoder turns the final code into an image once. Same algorithm, "
            "same schedule, a large speed-up: how Stable Diffusion makes 512x512 images affordable.", "latent"),
]

url = ui.url()
# the page is explored one view at a time; each view lists the URL keys of the widgets only it draws
VIEWS = [ui.View("Forward process", ("schedule", "forward"), keys=("t",)),
         ui.View("2-D model", ("trajectories", "train2d"), keys=("s2", "k2")),
         ui.View("Denoising digits", ("reverse", "denoise"), keys=("sampler", "steps", "n", "k", "sampler2", "steps2")),
         ui.View("DDPM vs DDIM", ("samplers",), keys=("cloud", "dig")),
         ui.View("Latent diffusion", ("latent",), keys=("lsteps",))]
wt = ui.Walkthrough(STEPS, VIEWS)

SAMPLER_LABELS = {"ddim": "DDIM", "ddpm": "DDPM"}
DATA_LABELS = {k: diffusion.gdata.TOY_SETS[k][1] for k in ("swiss_roll", "moons", "ring8", "checkerboard", "spirals",
                                                            "circles", "grid25")}
SHIPPED_2D = {"swiss_roll": "diffusion_swiss_roll", "moons": "diffusion_moons"}
PIXEL, LATENT = "diffusion_mnist16_pixel", "diffusion_mnist16_latent"


# ---------------------------------------------------------------------------------------- cached pieces

@st.cache_resource(max_entries=6, show_spinner="Loading the trained model...")
def shipped(name: str):
    return diffusion.load_shipped(name)


def live_store() -> app_models.ModelStore:
    """Live-trained 2-D models by config hash (shared by all sessions: training is deterministic per config)."""
    return app_models.store("diffusion", 8)


@st.cache_resource(max_entries=4, show_spinner=False)
def points(name: str):
    return diffusion.load_data(diffusion.DiffusionConfig(data=name))


@st.cache_resource(max_entries=1, show_spinner="Loading the digits...")
def digits():
    return diffusion.load_data(diffusion.DiffusionConfig(data="mnist"))


@st.cache_data(max_entries=4, show_spinner=False)
def schedules(T: int = 1000):
    return {k: {n: v.numpy() for n, v in diffusion.schedule(k, T).items()} for k in diffusion.SCHEDULES}


@st.cache_data(max_entries=32, show_spinner=False)
def forward_digits(t: int, kind: str, seed: int, n: int = 8):
    import torch

    s = diffusion.schedule(kind)
    x0 = digits().x_test[:n]
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    return x0[:, 0].numpy(), diffusion.q_sample(x0, t, s["alpha_bar"].float(), eps)[:, 0].numpy(), eps[:, 0].numpy()


@st.cache_data(max_entries=8, show_spinner=False)
def chain_strip(kind: str, seed: int, every: int = 100):
    """One digit run through the Markov chain step by step (F1), a snapshot every ``every`` steps."""
    import torch

    s = diffusion.schedule(kind)
    snaps = diffusion.forward_iterated(digits().x_test[:1].double(), 1000, s["beta"], torch.Generator().manual_seed(seed), every)
    return np.stack([x[0, 0].numpy() for x in snaps]).astype(np.float32)


@st.cache_data(max_entries=32, show_spinner=False)
def forward_points(name: str, t: int, kind: str, seed: int, copies: int = 20):
    """The held-out points, each noised ``copies`` times by the closed form (F2) and by the chain (F1, t steps)."""
    import torch

    s = diffusion.schedule(kind)
    x0 = points(name).x_test.double().repeat(copies, 1)
    g = torch.Generator().manual_seed(seed)
    closed = diffusion.q_sample(x0, t, s["alpha_bar"], torch.randn(x0.shape, generator=g, dtype=x0.dtype))
    chain = diffusion.forward_iterated(x0, t, s["beta"], g)
    return x0.numpy(), closed.numpy(), chain.numpy(), float(s["alpha_bar"][t])


SHIP_ERRORS: dict = {}  # this run: data set -> why its shipped 2-D model could not be loaded


def model_2d(cfg: diffusion.DiffusionConfig):
    """The 2-D model of ``cfg``: shipped if it is a shipped config, live-trained if trained here, else None
    (a shipped checkpoint that fails to load leaves its reason in SHIP_ERRORS, to be said, not hidden)."""
    key = diffusion.checkpoints.config_hash(cfg)
    if key in live_store():
        return live_store().get(key)
    if cfg.data in SHIPPED_2D:
        try:
            m = shipped(SHIPPED_2D[cfg.data])
        except CheckpointError as e:
            SHIP_ERRORS[cfg.data] = e
            return None
        if diffusion.checkpoints.config_hash(m.config.replace(ema=cfg.ema)) == key or m.config.replace(ema=cfg.ema) == cfg:
            return m
    return None


def model_key(m) -> str:
    return diffusion.checkpoints.config_hash(m.config) + f":{m.step_}"


@st.cache_data(max_entries=16, show_spinner="Running the reverse process...")
def traj_2d(_m, key: str, sampler: str, steps: int, seed: int, n: int = 600):
    tr = diffusion.reverse(_m, n, sampler, steps, seed, record=True)
    stride = max(1, len(tr.t) // 60)  # at most ~60 animation frames
    keep = list(range(0, len(tr.t), stride))
    return [tr.t[k] for k in keep], np.concatenate([tr.x[keep].numpy(), tr.x[-1:].numpy()]), tr.seconds


@st.cache_data(max_entries=8, show_spinner="Comparing samplers from the same noise...")
def compare_2d(_m, key: str, name: str, seed: int, n: int = 500):
    rows, clouds = [], {}
    test = points(name).x_test.numpy()
    for sampler, steps in (("ddim", 5), ("ddim", 10), ("ddim", 50), ("ddim", 200),
                           ("ddpm", 10), ("ddpm", 50), ("ddpm", 200), ("ddpm", 1000)):
        tr = diffusion.reverse(_m, n, sampler, steps, seed)
        x = tr.x_0.numpy()
        rows.append({"sampler": sampler, "steps": steps, "seconds": tr.seconds,
                     "swd": diffusion.sliced_wasserstein(x, test, seed=seed)})
        clouds[f"{SAMPLER_LABELS[sampler]} {steps}"] = x
    return rows, clouds


@st.cache_data(max_entries=12, show_spinner="Running the U-Net through the reverse process...")
def traj_digits(sampler: str, steps: int, seed: int, n: int):
    tr = diffusion.reverse(shipped(PIXEL), n, sampler, steps, seed, record=True)
    return tr.t, tr.x[:, :, 0].numpy(), tr.eps[:, :, 0].numpy(), tr.x0[:, :, 0].numpy(), tr.seconds


@st.cache_data(max_entries=12, show_spinner="Continuing from that step...")
def continue_digits(sampler: str, steps: int, seed: int, n: int, k: int, sampler2: str, steps2: int):
    import torch

    t, x, _, _, _ = traj_digits(sampler, steps, seed, n)
    tr = diffusion.reverse(shipped(PIXEL), sampler=sampler2, steps=steps2, seed=seed + 1,
                           x_t=torch.from_numpy(x[k][:, None]), t_start=t[k])
    return tr.x_0[:, 0].numpy(), tr.steps, tr.seconds


@st.cache_data(max_entries=8, show_spinner="Denoising at several noise levels...")
def denoise_levels(seed: int, levels=(50, 150, 300, 500, 700, 900), n: int = 6):
    import torch

    m = shipped(PIXEL)
    x0 = digits().x_test[8: 8 + n]
    g = torch.Generator().manual_seed(seed)
    rows = []
    with torch.no_grad():
        for t in levels:
            eps = torch.randn(x0.shape, generator=g)
            x_t = diffusion.q_sample(x0, t, m.alpha_bar, eps)
            e = m.eps(x_t, t)
            rows.append((t, x_t[:, 0].numpy(), diffusion.predict_x0(x_t, t, m.alpha_bar, e).clamp(-1, 1)[:, 0].numpy()))
    return x0[:, 0].numpy(), rows


@st.cache_data(max_entries=8, show_spinner="Sampling in pixel space and in latent space...")
def pixel_vs_latent(seed: int, steps: int, n: int = 16):
    out = {}
    for name in (PIXEL, LATENT):
        m = shipped(name)
        import time

        t0 = time.perf_counter()
        imgs = m.sample(n, seed=seed, sampler="ddim", steps=steps)
        out[name] = (imgs, time.perf_counter() - t0)
    return out


@st.cache_data(max_entries=8, show_spinner="Comparing samplers on the latent digit model...")
def compare_digits(seed: int, n: int = 16):
    rows, pics = [], {}
    m = shipped(LATENT)
    for sampler, steps in (("ddim", 10), ("ddim", 50), ("ddim", 200), ("ddpm", 50), ("ddpm", 200), ("ddpm", 1000)):
        import time

        t0 = time.perf_counter()
        imgs = m.sample(n, seed=seed, sampler=sampler, steps=steps)
        rows.append({"sampler": sampler, "steps": steps, "seconds": time.perf_counter() - t0})
        pics[f"{SAMPLER_LABELS[sampler]} {steps}"] = imgs
    return rows, pics


def train_live(cfg: diffusion.DiffusionConfig, again: bool = False, restoring: bool = False):
    """Train ``cfg`` with a progress box and keep it for every session (``again``: even if it is kept already).
    Returns the model or None. Sessions asking for the same model at once share one run (app_models)."""

    def fit(progress):
        last: dict = {}

        def callback(step, metrics):
            last.update({k: v for k, v in metrics.items() if k.startswith("test/")})
            return progress(step, {**metrics, **last})

        try:
            m = diffusion.train(cfg, points(cfg.data), callback=callback)
        except diffusion.TrainingDiverged as e:
            progress.done("Training diverged", ok=False)
            st.error(f"{e}", icon=":material/error:")
            return None
        h = m.history_[-1]
        progress.done(f"Trained {m.step_:,} steps in {m.train_seconds_:.1f} s: held-out loss {h['test/loss']:.3f}, "
                      f"sliced Wasserstein to held-out data {h.get('test/swd', float('nan')):.3f}")
        return m

    return live_store().train(diffusion.checkpoints.config_hash(cfg), fit, steps=cfg.steps, every=100, again=again,
                              label=f"Training eps_theta for {cfg.steps:,} steps (Algorithm 1)", restoring=restoring,
                              chart_keys=["train/loss", "test/loss", "test/swd"], what="this exact 2-D model")


# ---------------------------------------------------------------------------------------------- controls

with st.container(border=True):
    c = st.columns([1.4, 1, 1, 1, 1, 1.2])
    data_name = url.selectbox("2-D data", list(DATA_LABELS), key="data", format_func=DATA_LABELS.get, container=c[0])
    kind = url.radio("Schedule", list(diffusion.SCHEDULES), key="sched", container=c[1], horizontal=True,
                     help="Of the forward-process views and of a 2-D model you train; the digit models use linear.")
    train_steps = url.selectbox("Training steps", [250, 500, 1000, 2000, 4000], key="tsteps", index=3, container=c[2])
    lr = url.selectbox("Learning rate", [3e-4, 1e-3, 3e-3, 1e-2, 1e-1, 1.0], key="lr", index=2, container=c[3],
                       format_func=lambda v: f"{v:g}")
    seed = ui.seed_input(container=c[4])
    cfg2d = diffusion.DiffusionConfig(data=data_name, schedule=kind, steps=train_steps, lr=lr)
    # a click, or a link that says this model was trained live and this server does not hold it (app_models)
    if st.session_state.pop("_diff_train", False):
        train_live(cfg2d, again=True)
    elif app_models.link_says_trained() and diffusion.checkpoints.config_hash(cfg2d) not in live_store():
        train_live(cfg2d, restoring=True)
    model = model_2d(cfg2d)
    # drawn after any training of this run, so its label says what is shown now
    c[5].button(app_models.train_label(model is not None), icon=":material/model_training:", key="train",
                type="primary", width="stretch", on_click=lambda: st.session_state.update(_diff_train=True))
    app_models.mark_trained(model is not None and diffusion.checkpoints.config_hash(cfg2d) in live_store())
    if model is None and data_name in SHIP_ERRORS:
        st.warning(f"The shipped 2-D model for the {DATA_LABELS[data_name].lower()} could not be loaded: "
                   f"{SHIP_ERRORS[data_name]} Click **Train live** to train one here (a few seconds).",
                   icon=":material/error:")
    elif model is None:
        st.info(f"No 2-D model for these settings yet ({DATA_LABELS[data_name]}, {kind} schedule, {train_steps:,} steps, "
                f"learning rate {lr:g}): click **Train live** (a few seconds). Shipped: swiss roll and two moons with "
                "the linear schedule, 2,000 steps, learning rate 0.003.", icon=":material/info:")
    else:
        src = "trained here" if diffusion.checkpoints.config_hash(model.config) in live_store() else "shipped checkpoint"
        h = model.history_[-1] if model.history_ else {}
        st.caption(f"2-D model: {DATA_LABELS[data_name]}, {model.config.schedule} schedule, {model.step_:,} steps ({src}); "
                   f"held-out loss {h.get('test/loss', float('nan')):.3f}, sliced Wasserstein of its samples to held-out "
                   f"data {h.get('test/swd', float('nan')):.3f}.")


def digit_models_or_warn() -> bool:
    """True when both shipped digit models load; otherwise one warning per run (not one per section)."""
    try:
        shipped(PIXEL)
        shipped(LATENT)
        return True
    except CheckpointError as e:
        if _warned:
            st.caption("The digit models are unavailable (see the warning above).")
            return False
        _warned.append(True)
        st.warning(f"The shipped digit models could not be loaded: {e} Train them with the command in "
                   "`core/diffusion.py` (they take too long to train on this page).", icon=":material/error:")
        return False


# -------------------------------------------------------------------------------------------- sections

def show_panels(panels, ncols: int = 4, scale: int = 4, container=st):
    """Image mosaics side by side as static pictures: ``panels`` = [(caption, images (n, H, W) in [-1, 1], signed?)]."""
    cols = container.columns(len(panels))
    for col, (caption, imgs, signed) in zip(cols, panels):
        img = fig.panel_image(imgs, ncols=ncols, signed=signed, scale=scale)
        col.image(img, caption=caption, width="stretch")  # every panel its column's width: equal panels, equal sizes


_warned: list = []

def draw_schedule():
    st.subheader("The forward process: a Markov chain with a variance schedule")
    t = url.slider("t (forward time)", 0, 1000, 250, key="t", help="0 is the data, 1000 pure noise.")
    st.plotly_chart(fig.schedule_fig(schedules(), t=t if t > 0 else None), key="schedules")
    strip = chain_strip(kind, seed)
    st.image(fig.panel_image(strip, ncols=len(strip), scale=4),
             caption=f"One digit run through the chain step by step (F1), shown at t = 0, 100, ..., 1000 ({kind} schedule).")
    s = schedules()[kind]
    st.caption(f"At t = {t}: beta_t = {s['beta'][t]:.5f}, alpha_bar_t = {s['alpha_bar'][t]:.4f}, "
               f"SNR = {s['snr'][t]:.4g}. The cosine schedule keeps more signal in the middle of the chain; both end "
               f"with alpha_bar_T below {max(schedules()[k]['alpha_bar'][-1] for k in schedules()):.0e}.")


def draw_forward():
    st.subheader("Sampling x_t straight from x_0")
    t = int(st.session_state.get("t", 250))
    if not wt.shows("schedule"):
        t = url.slider("t (forward time)", 0, 1000, 250, key="t")
    a, b = st.columns([3, 2])
    with a:
        x0, xt, eps = forward_digits(t, kind, seed)
        show_panels([("x_0", x0, False), (f"x_t, t = {t}", xt, False), ("ε (red -, blue +)", eps, True)])
    with b:
        p0, closed, chain, ab = forward_points(data_name, t, kind, seed)
        n = len(p0) // 20
        st.plotly_chart(fig.points_fig([("x_0 (data)", p0[:n], "#999999"), ("closed form", closed[:n], fig.PALETTE[0]),
                                        (f"chain of {t} steps", chain[:n], fig.PALETTE[1])], height=330), key="fwd_points")
    m_pred = np.sqrt(ab) * p0.mean(0)
    row = lambda name, x: {"": name, "mean x": x.mean(0)[0], "mean y": x.mean(0)[1],
                           "noise var x": (x - np.sqrt(ab) * p0).var(0)[0], "noise var y": (x - np.sqrt(ab) * p0).var(0)[1]}
    rows = [row("closed form", closed), row(f"chain ({t} steps)", chain),
            {"": "formula", "mean x": m_pred[0], "mean y": m_pred[1], "noise var x": 1 - ab, "noise var y": 1 - ab}]
    ui.table(rows, index="")
    st.caption(f"Mean of x_t, and variance of its noise part x_t - sqrt(alpha_bar_t) x_0, over {len(p0):,} draws "
               f"({len(p0) // 20} held-out points, 20 draws each; the plot shows one draw each). The formula: mean "
               "sqrt(alpha_bar_t) E[x_0], noise variance 1 - alpha_bar_t.")


def draw_trajectories():
    st.subheader("2-D: from noise onto the data")
    if model is None:
        st.info("Train the 2-D model above to see its trajectories.", icon=":material/info:")
        return
    c1, c2 = st.columns(2)
    s2 = url.radio("Sampler", list(SAMPLER_LABELS), key="s2", format_func=SAMPLER_LABELS.get, horizontal=True, container=c1)
    k2 = url.selectbox("Steps", [10, 20, 50, 100, 200, 1000], key="k2", index=2, container=c2)
    t, x, secs = traj_2d(model, model_key(model), s2, k2, seed)
    st.plotly_chart(fig.trajectory_animation(t, x, points(data_name).x_test.numpy()), key="traj2d")
    st.caption(f"{x.shape[1]} points, {k2} {SAMPLER_LABELS[s2]} steps in {secs:.2f} s (at most 60 frames shown). "
               "Thin lines: the whole path of 30 points.")


def draw_train2d():
    st.subheader("Noise prediction: training eps_theta on 2-D data (Algorithm 1)")
    if model is None:
        st.info("Click **Train live** above: the loss and sample quality appear here while it trains.", icon=":material/info:")
        return
    a, b = st.columns([3, 2])
    a.plotly_chart(fig.loss_fig(model.history_), key="loss2d")
    samples = model.sample(800, seed=seed, sampler="ddpm", steps=100)
    b.plotly_chart(fig.points_fig([("held-out data", points(data_name).x_test.numpy(), "#999999"),
                                   ("samples (DDPM, 100 steps)", samples, fig.PALETTE[0])], height=330),
                   key="samples2d")
    st.caption("The loss stays well above 0: near t = 0 the added noise is tiny and hard to tell from the data's own "
               "spread. What matters is the samples: the sliced Wasserstein distance to held-out points (for "
               "reference, two independent draws of 800 points from the same set are about 0.05 apart).")


def draw_reverse():
    st.subheader("The reverse process, step by step (16x16 digits, U-Net)")
    if not digit_models_or_warn():
        return
    c = st.columns([1, 1, 1])
    sampler = url.radio("Sampler", list(SAMPLER_LABELS), key="sampler", format_func=SAMPLER_LABELS.get, horizontal=True, container=c[0])
    steps = url.selectbox("Sampling steps", [10, 20, 50, 100, 200], key="steps", index=1, container=c[1],
                          help="DDPM with 1000 steps takes a minute here: see the table below for its timing.")
    n = url.selectbox("Digits", [4, 8, 16], key="n", index=1, container=c[2])
    t, x, eps, x0, secs = traj_digits(sampler, steps, seed, n)
    K = len(t)
    if st.session_state.get("k", 1) > K:  # fewer steps than before: keep the slider in range
        st.session_state["k"] = K
    k = url.slider("Step", 1, K, 1, key="k", help="Go back to any step; the animation starts here.") - 1
    st.plotly_chart(fig.reverse_animation(t, x, eps, x0, ncols=4, start=k, height=120 + 75 * (n // 4)), key="reverse")
    st.caption(f"{n} digits, {K} {SAMPLER_LABELS[sampler]} steps in {secs:.2f} s. Showing step {k + 1} of {K} "
               f"(t = {t[k]}) first; ▶ plays the rest in the browser.")
    final = fig.image_mosaic((np.clip(np.asarray(x[-1]), -1, 1) + 1) / 2, ncols=4)
    ui.download_png(np.kron(final, np.ones((8, 8))), {"model": PIXEL, "sampler": sampler, "steps": steps, "seed": seed,
                                                      "n": n}, f"genlab_digits_{sampler}{steps}_seed{seed}.png",
                    label="Download the final digits (PNG)")
    st.markdown(f"**Continue from step {k + 1} (t = {t[k]}) with another sampler**")
    d = st.columns([1, 1, 3])
    s2 = url.radio("Continue with", list(SAMPLER_LABELS), key="sampler2", format_func=SAMPLER_LABELS.get, index=1,
                   horizontal=True, container=d[0])
    k2 = url.selectbox("Its steps (over the whole chain)", [10, 20, 50, 100, 200], key="steps2", index=1, container=d[1])
    cont, used, secs2 = continue_digits(sampler, steps, seed, n, k, s2, k2)
    show_panels([(f"original: {K} {SAMPLER_LABELS[sampler]} steps", x[-1], False),
                 (f"continued from step {k + 1}: {used} {SAMPLER_LABELS[s2]} steps, {secs2:.2f} s", cont, False)],
                container=d[2])


def draw_denoise():
    st.subheader("One network, every noise level: a chain of denoising autoencoders")
    if not digit_models_or_warn():
        return
    x0, rows = denoise_levels(seed)
    n = len(x0)
    noised = np.concatenate([x0] + [xt for _, xt, _ in rows])
    denoised = np.concatenate([x0] + [xh for _, _, xh in rows])
    levels = ", ".join(str(t) for t, _, _ in rows)
    show_panels([("x_t, noised by the closed form", noised, False), ("x̂_0, the U-Net's one-step estimate from x_t", denoised, False)],
                ncols=n, scale=4)
    st.caption(f"Top row: the clean digits x_0; the rows below: t = {levels}. Each estimate is one network call "
               "(X0 with the predicted noise), no sampling chain: up to t = 300 the digit comes back; beyond, the "
               "estimate is the blurry average of the digits that could be hiding under the noise, and the sampler "
               "needs many small steps to commit to one.")


def draw_samplers():
    st.subheader("DDPM vs DDIM from the same starting noise")
    if model is not None:
        rows, clouds = compare_2d(model, model_key(model), data_name, seed)
        a, b = st.columns([2, 3])
        a.plotly_chart(fig.sampler_quality_fig(rows), key="quality2d")
        b.dataframe([{"sampler": SAMPLER_LABELS[r["sampler"]], "steps": r["steps"], "seconds": r["seconds"],
                      "sliced Wasserstein": r["swd"]} for r in rows], hide_index=True,
                    column_config={"seconds": st.column_config.NumberColumn(format="%.3f"),
                                   "sliced Wasserstein": st.column_config.NumberColumn(format="%.3f")})
        pick = url.selectbox("Show the samples of", list(clouds), key="cloud", index=2, container=b)
        b.plotly_chart(fig.points_fig([("held-out data", points(data_name).x_test.numpy(), "#999999"),
                                       (pick, clouds[pick], fig.PALETTE[0])], height=320), key="cloud_fig")
    else:
        st.info("Train the 2-D model above to compare the samplers on it.", icon=":material/info:")
    if digit_models_or_warn() and url.toggle("Digits too (latent model, 6 runs)", False, key="dig"):
        rows, pics = compare_digits(seed)
        show_panels([(f"{k}: {r['seconds']:.2f} s", 2 * v - 1, False) for (k, v), r in zip(pics.items(), rows)], ncols=4, scale=3)


def draw_latent():
    st.subheader("Latent vs pixel diffusion")
    if not digit_models_or_warn():
        return
    pix, lat = shipped(PIXEL), shipped(LATENT)
    steps = url.selectbox("DDIM steps", [10, 20, 50], key="lsteps", index=1, container=st.columns(4)[0])
    out = pixel_vs_latent(seed, steps)
    (pi, pt), (li, lt) = out[PIXEL], out[LATENT]
    a, b = st.columns(2)
    a.image(fig.panel_image(2 * pi - 1, ncols=8, scale=4), caption=f"pixel space: U-Net on 1x16x16 pixels, {pt:.2f} s")
    b.image(fig.panel_image(2 * li - 1, ncols=8, scale=4),
            caption=f"latent space: {lat.config.network.upper()} on {'x'.join(map(str, lat.shape))} codes, {lt:.2f} s")
    st.caption(f"16 digits, {steps} DDIM steps each, same seed, measured just now (one thread, first run; a speed-up of "
               f"{pt / max(lt, 1e-9):.1f}x). The latent model's codes come from a small AutoencoderKL "
               f"({sum(p.numel() for p in lat.autoencoder.parameters()):,} parameters) trained on the same digits; its "
               f"decoder runs once at the end. Parameters of the denoisers: pixel {sum(p.numel() for p in pix.net.parameters()):,}, "
               f"latent {sum(p.numel() for p in lat.net.parameters()):,}.")


def forward_views():
    wt.section("schedule", draw_schedule)  # both sections follow the slider t: one fragment
    wt.section("forward", draw_forward)


# Each block with its own widgets is a fragment: moving one of them reruns only that block (a slider drag
# redraws one or two charts, not the whole page); ui.fragment keeps the sidebar's link current.
wt.switch()  # the view switch, drawn here: outside the fragment below
if wt.shows("schedule") or wt.shows("forward"):
    ui.fragment(forward_views)()
wt.section("trajectories", draw_trajectories, isolated=True)
wt.section("train2d", draw_train2d)
wt.section("reverse", draw_reverse, isolated=True)
wt.section("denoise", draw_denoise)
wt.section("samplers", draw_samplers, isolated=True)
wt.section("latent", draw_latent, isolated=True)


def digit_setting(key: str, options, default, fmt=str):
    """A widget of the digits view, also while another view is shown: the session's value (kept across views),
    else the link's (the label of one of ``options``), else ``default``."""
    if st.session_state.get(key) in options:
        return st.session_state[key]
    return {fmt(o): o for o in options}.get(url.raw.get(key), default)


ui.reproduce(snippets.diffusion(PIXEL, int(digit_setting("n", [4, 8, 16], 8)),
                                digit_setting("sampler", list(SAMPLER_LABELS), "ddim", SAMPLER_LABELS.get),
                                int(digit_setting("steps", [10, 20, 50, 100, 200], 20)), seed), "genlab_diffusion.py")
ui.show_code(diffusion.schedule, diffusion.q_sample, diffusion.DiffusionModel.loss, diffusion.algorithm2,
             diffusion.reverse)
