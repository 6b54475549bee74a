"""Normalizing flows: affine or spline coupling layers, exact likelihood, layer-by-layer warps and anomaly scores."""
import hashlib

import numpy as np
import streamlit as st

from core import app_models, checkpoints, flow, runtime, snippets, ui
from core import data as gdata
from core.viz import flow as fig

ui.require_router()

st.title("Normalizing flows")
st.markdown(
    "A **normalizing flow** carries a simple base density $p_0(\\mathbf z)$, usually the standard normal, into the "
    "data distribution through a chain "
    "of invertible maps $\\mathbf x = f_K(\\dots f_1(\\mathbf z_0))$. Because every map can be undone and its "
    "Jacobian determinant is cheap, the flow gives the **exact** likelihood $\\ln p(\\mathbf x)$ of any point: it "
    "trains by plain maximum likelihood, samples by running the chain forwards, and scores anomalies by density."
)

STEPS = [
    ui.Step("The change of variables",
            r"p_x(\mathbf x)=p_0(\mathbf z)\left|\det\frac{\partial f^{-1}}{\partial \mathbf x}\right|"
            r"=p_0(\mathbf z)\left|\det\frac{\partial f}{\partial \mathbf z}\right|^{-1},\qquad \mathbf x=f(\mathbf z)",
            "Push a density through an invertible map and it must still integrate to one: where the map stretches "
            "space by a factor $|\\det J|$ the density thins by the same factor. The heatmap is exactly this, computed "
            "at every pixel: the base density of the point's pre-image times the local volume change.", "density"),
    ui.Step("A chain of maps: the log-likelihood is a sum over layers",
            r"\ln p_K(\mathbf z_K)=\ln p_0(\mathbf z_0)-\sum_{k=1}^{K}\ln\left|\det\frac{\partial f_k}{\partial \mathbf z_{k-1}}\right|",
            "Apply the rule once per layer and the logarithms add up. Slide through the layers: each bar is one "
            "layer's $\\ln|\\det J|$, averaged over the points. Positive bars stretch space (the density thins), "
            "negative bars squeeze it (the density concentrates).", "layers"),
    ui.Step("Invertible networks: the affine coupling layer",
            r"\mathbf z_{k,a}=\mathbf z_{k-1,a},\quad \mathbf z_{k,b}=\big(\mathbf z_{k-1,b}-t(\mathbf z_{k-1,a})\big)\odot e^{-s(\mathbf z_{k-1,a})},"
            r"\quad \ln\left|\det\frac{\partial f_k}{\partial\mathbf z_{k-1}}\right|=-\textstyle\sum_b s_b",
            "An ordinary network is not invertible. A coupling layer keeps half of the coordinates and moves the "
            "other half by a shift and a scale that a small network computes from the kept half. Undoing it needs "
            "the same network, never its inverse, and the Jacobian is triangular, so its determinant is the product "
            "of the scales. The next layer swaps the halves. (Set *Coupling* to spline and the moved half goes through a "
            "monotone spline instead: the Jacobian is just as triangular, its diagonal the spline's slopes.)", "layers"),
    ui.Step("Sampling by the inverse",
            r"\mathbf z_0\sim\mathcal N(\mathbf 0,I),\qquad \mathbf x=f_K\circ\dots\circ f_1(\mathbf z_0)",
            "To generate, draw from the base and run the layers forwards: the normal cloud and its grid are bent, "
            "layer by layer, into the data. To evaluate a likelihood, run the other way: the data are carried back "
            "to a round Gaussian (switch the direction).", "layers"),
    ui.Step("Why the bridges? A flow cannot tear space",
            r"p_0(\mathbf z)=\sum_{j=1}^{m}\pi_j\,\mathcal N(\mathbf z;\boldsymbol\mu_j,\operatorname{diag}\boldsymbol\sigma_j^2)",
            "Every layer is continuous and invertible, so the whole flow is too: it can stretch and squeeze the base "
            "but never cut it. From one connected Gaussian it cannot make eight separate blobs without leaving some "
            "mass on the way between them, the thin bridges you see on the ring of 8 with the standard normal base. "
            "Training narrows them only slowly. A learned mixture base with one component per cluster leaves the "
            "layers only the shapes to bend, and the likelihood is still exact: the change of variables holds for "
            "any base density. Set *Base p0* under the training settings and train live to compare.", "density"),
    ui.Step("Training by maximum likelihood",
            r"\theta^*=\arg\max_\theta\sum_{i=1}^{n}\ln p_K(\mathbf x_i;\theta)"
            r"=\arg\min_\theta\ -\frac1n\sum_{i=1}^{n}\Big[\ln p_0(f_\theta^{-1}(\mathbf x_i))+\ln\left|\det\frac{\partial f_\theta^{-1}}{\partial\mathbf x_i}\right|\Big]",
            "The loss is the negative log-likelihood itself, in nats per point, computed exactly on every minibatch: "
            "no discriminator, no bound, no noise schedule. The test curve is the same number on held-out points.",
            "training"),
    ui.Step("Exact likelihood vs the bounds of VAE and diffusion",
            r"\text{flow: } \ln p_\theta(\mathbf x)\ \text{exact};\qquad \text{VAE, diffusion: } \ln p_\theta(\mathbf x)\ \ge\ \mathrm{ELBO}",
            "Because the flow's number is exact it can be compared with other density estimators on the same "
            "points: here kernel density estimation and a Gaussian mixture. A VAE or a diffusion model reports only "
            "a lower bound on $\\ln p$, a GAN nothing at all.", "training"),
    ui.Step("Anomaly detection by density",
            r"\text{flag }\mathbf x\ \text{ if }\ \ln p_\theta(\mathbf x)<\tau,\qquad \tau=\text{the }q\text{-quantile of }\{\ln p_\theta(\mathbf x_i)\}_{\text{train}}",
            "An exact density is a ready-made anomaly score: points in regions the data never visit get a low "
            "$\\ln p$. The threshold flags the given share of the training points; type a point to see its score.",
            "anomaly"),
]

url = ui.url()
# the page is explored one view at a time; each view lists the URL keys of the widgets only it draws
VIEWS = [ui.View("Density and samples", ("density",), keys=("ns", "logp")),
         ui.View("Layer by layer", ("layers",), keys=("dir", "k")),
         ui.View("Training and exact NLL", ("training",)),
         ui.View("Anomaly detection", ("anomaly",), keys=("q", "out", "px", "py"))]
wt = ui.Walkthrough(STEPS, VIEWS)

SETS = {"moons": "Two moons", "ring8": "Ring of 8 Gaussians", "checkerboard": "Checkerboard",
        "spirals": "Two spirals", "circles": "Concentric circles", "mine": "My points (click or CSV)"}
DEFAULT = flow.FlowConfig()
WIDTHS = [16, 32, 64, 128]
LRS = [3e-4, 1e-3, 2e-3, 5e-3, 1e-2, 1e-1]
BASES = [0, 2, 4, 8, 16]  # base_components: 0 = the standard normal, k = a learned mixture of k Gaussians
N_POINTS = 6000  # the toy sets: 4,000 training and 2,000 test points, data seed 0 (as the shipped checkpoints)
TOY_BOX = (-3.5, 3.5, -3.5, 3.5)
POINTS_KEY = "_flow_points"  # where ui.points_editor("flow", ...) keeps them


# ---------------------------------------------------------------------------------------- cached pieces

@st.cache_data(max_entries=8, show_spinner=False)
def toy_data(name: str):
    return flow.make_data(name, N_POINTS, 0)


@st.cache_resource(max_entries=8, show_spinner="Loading the trained flow...")
def shipped(name: str):
    return flow.load(checkpoints.shipped(name))


def live_store() -> app_models.ModelStore:
    """Live-trained flows by data and config (shared by all sessions: training is deterministic)."""
    return app_models.store("flow", 16)


@st.cache_resource(show_spinner=False)
def user_data_store() -> dict:
    """User point sets by content hash, so the cached figures below can find them by key."""
    return ui.BoundedStore(32)


def model_for(key: str):
    if key.startswith("live:"):
        return live_store().get(key)
    return shipped(key.split(":", 1)[1])[0]


@st.cache_data(max_entries=32, show_spinner="Fitting KDE and a Gaussian mixture on the same points...")
def references(data_key: str, seed: int) -> dict:
    Xtr, Xte = get_data(data_key)
    refs = flow.reference_densities(Xtr, Xte, seed=seed)
    return {r.name: r.test_nll for r in refs.values()}


@st.cache_data(max_entries=32, show_spinner=False)
def density(model_key: str, box: tuple, res: int = 110):
    return flow.density_grid(model_for(model_key), box, res)


@st.cache_data(max_entries=32, show_spinner=False)
def mass(model_key: str, box: tuple) -> float:
    return flow.mass_in_box(model_for(model_key), box, resolution=400)


@st.cache_data(max_entries=64, show_spinner=False)
def samples(model_key: str, n: int, seed: int):
    return model_for(model_key).sample(n, seed=seed)


@st.cache_data(max_entries=32, show_spinner=False)
def warps(model_key: str, data_key: str, direction: str, seed: int, box: tuple):
    """Points and grid lines after every layer, per-layer ln|det J| (mean over the points)."""
    m = model_for(model_key)
    rng = np.random.default_rng(seed)
    if direction == "to_data":
        start = m.sample_base(1500, runtime.torch_generator(seed)).numpy()
        if m.base is None:
            colors = np.arctan2(start[:, 1], start[:, 0])
            ticks = np.linspace(-2.5, 2.5, 11)
            lo, hi = -3.0, 3.0
        else:  # a mixture base lives in data units: colour by component side, grid over where its draws are
            c = start - start.mean(0)
            colors = np.arctan2(c[:, 1], c[:, 0])
            lo, hi = float(np.percentile(start, 0.5)) - 0.3, float(np.percentile(start, 99.5)) + 0.3
            ticks = None
    else:
        Xtr, Xte = get_data(data_key)
        start = Xte[rng.permutation(len(Xte))[:1500]]
        c = start - start.mean(0)
        colors = np.arctan2(c[:, 1], c[:, 0])
        x0, x1, y0, y1 = box
        ticks = None
        lo, hi = min(x0, y0), max(x1, y1)
    ticks = np.linspace(lo + (hi - lo) / 12, hi - (hi - lo) / 12, 11) if ticks is None else ticks
    t = np.linspace(lo, hi, 120)
    lines = [np.stack([np.full_like(t, c), t], 1) for c in ticks] + [np.stack([t, np.full_like(t, c)], 1) for c in ticks]
    pts_states, logdets = m.trajectory(start, direction)
    all_lines = m.trajectory(np.concatenate(lines).astype(np.float32), direction)[0]  # one pass for all lines
    line_states = np.split(all_lines, len(lines), axis=1)
    return pts_states, colors, line_states, logdets.mean(1)


@st.cache_data(max_entries=32, show_spinner=False)
def scores(model_key: str, data_key: str, seed: int, n_out: int, box: tuple):
    Xtr, Xte = get_data(data_key)
    m = model_for(model_key)
    rng = np.random.default_rng(seed + 7)
    x0, x1, y0, y1 = box
    out = np.stack([rng.uniform(x0, x1, n_out), rng.uniform(y0, y1, n_out)], 1).astype(np.float32)
    return m.log_prob(Xtr), np.concatenate([Xte, out]), m.log_prob(np.concatenate([Xte, out])), out


def get_data(data_key: str):
    if data_key.startswith("toy:"):
        return toy_data(data_key[4:])
    return user_data_store()[data_key]


def data_box(X) -> tuple:
    """A square box holding the points with a margin (the toy sets all fit [-3.5, 3.5]^2)."""
    lo, hi = X.min(0), X.max(0)
    if lo.min() >= -3.2 and hi.max() <= 3.2:
        return TOY_BOX
    c, r = (lo + hi) / 2, 0.6 * max(hi - lo) + 1e-3
    return (float(c[0] - r), float(c[0] + r), float(c[1] - r), float(c[1] + r))


# ---------------------------------------------------------------------------------------------- controls

def train_live(cfg: flow.FlowConfig, data, key: str, again: bool = False, restoring: bool = False):
    """Train ``cfg`` with a progress box and keep it for every session (``again``: even if it is kept already).
    Returns the model or None. Sessions asking for the same model at once share one run (app_models)."""

    def fit(progress):
        try:
            m = flow.train(cfg, data, callback=progress)
        except flow.TrainingDiverged as e:
            progress.done("Training diverged", ok=False)
            st.error(f"{e.reason} Nothing was kept; try a smaller learning rate.", icon=":material/error:")
            return None
        h = m.history_[-1]
        progress.done(f"Trained {m.step_:,} steps in {m.train_seconds_:.1f} s: test NLL {h['test_nll']:.3f} nats")
        return m

    return live_store().train(key, fit, steps=cfg.steps, again=again,
                              every=max(cfg.eval_every, (cfg.steps // 25) // cfg.eval_every * cfg.eval_every),
                              label=f"Training a {cfg.n_layers}-layer flow for {cfg.steps:,} steps",
                              restoring=restoring,
                              chart_keys=["train_nll", "test_nll"], what="this exact flow")


def user_points_panel(url_box):
    """Click or upload points; returns the (n, 2) array of the session's points."""
    return ui.points_editor("flow", url_box,
                            "**Your points**: click the plane to add points (each click one point), or upload a CSV of `x,y` rows.",
                            "{n} points. A flow needs at least {min_rows}; a third are held out for the test NLL. "
                            "Scales are learned (ActNorm), so any units work.")

with st.container(border=True):
    c = st.columns([2, 1, 1.4, 2])
    name = url.selectbox("Data", list(SETS), key="data", format_func=SETS.get, container=c[0])
    seed = ui.seed_input(container=c[1])
    shipped_model, record, ship_error = None, None, None
    if name != "mine":
        try:
            shipped_model, record = shipped(flow.shipped_name(name))
        except checkpoints.CheckpointError as e:
            ship_error = e
    # the settings start at the shipped flow's (spirals and circles ship deeper flows), else the defaults
    base = shipped_model.config if shipped_model is not None else DEFAULT
    if name == "mine":
        base = DEFAULT.replace(actnorm=True)  # user units are arbitrary: ActNorm's data-dependent init standardises
    # another data set brings its own defaults: a setting left at the old default follows them, one the user set
    # stays (ui.UrlState's one rule for defaults that depend on another setting), and the link says which
    with st.expander("Flow and training settings (for *Train live*)", icon=":material/tune:"):
        s = st.columns(6)
        K = url.slider("Coupling layers K", 2, 16, int(np.clip(base.n_layers, 2, 16)), key="K", container=s[0])
        width = url.selectbox("Hidden width", WIDTHS, key="width", container=s[1],
                              index=WIDTHS.index(base.hidden) if base.hidden in WIDTHS else 2,
                              help="Width of the two hidden layers of each coupling layer's network (it outputs the "
                                   "scale and shift, or the spline's bins and slopes).")
        steps = url.slider("Training steps", 250, 8000, int(np.clip(base.steps // 250 * 250, 250, 8000)), key="steps",
                           step=250, container=s[2])
        lr = url.selectbox("Learning rate", LRS, key="lr", index=LRS.index(base.lr) if base.lr in LRS else 2,
                           format_func=lambda v: f"{v:g}", container=s[3])
        n_base = url.selectbox("Base p0", BASES, key="base", container=s[4],
                               index=BASES.index(base.base_components) if base.base_components in BASES else 0,
                               format_func=lambda k: "standard normal" if k == 0 else f"mixture of {k}",
                               help="A flow is a continuous bijection: from one connected Gaussian it cannot tear the "
                                    "space into separate clusters, so it leaves thin bridges between them. A learned "
                                    "mixture with one component per cluster removes them; the likelihood stays exact.")
        coupling = url.selectbox("Coupling", list(flow.COUPLINGS), key="coupling", container=s[5],
                                 index=flow.COUPLINGS.index(base.coupling), format_func=flow.COUPLING_NAMES.get,
                                 help=flow.COUPLING_HELP)
    cfg = flow.coupling_settings(base, coupling).replace(n_layers=K, hidden=width, steps=steps, lr=lr,
                                                         base_components=n_base, seed=seed)
    c[2].write("")
    train_button = c[2].empty()  # drawn once this run's training is done: its label says what is shown then

if name == "mine":
    X_user = user_points_panel(data_box(np.asarray(st.session_state.get(POINTS_KEY) or [[0, 0]], np.float32)))
wt.switch()  # the view switch, drawn on every run: also on one that stops below, for want of points or of a flow
if name == "mine":
    app_models.mark_trained(False)  # a flow on your own points stays with you: the points are not in the link
    if len(X_user) < gdata.PointLimits.min_rows:
        st.info(f"Add at least {gdata.PointLimits.min_rows} points (you have {len(X_user)}) to train a flow on them.",
                icon=":material/touch_app:")
        st.stop()
    digest = hashlib.sha1(X_user.tobytes()).hexdigest()[:16]
    data_key = f"mine:{digest}:{seed}"
    store = user_data_store()
    if data_key not in store:  # a BoundedStore: memory stays bounded on a shared server
        try:
            store[data_key] = flow.split_points(X_user, seed=seed)
        except gdata.DataError as e:  # all at one spot or on one line: say the data are degenerate
            st.warning(ui.escape_md(e), icon=":material/scatter_plot:")
            st.stop()
else:
    data_key = f"toy:{name}"
Xtr, Xte = get_data(data_key)
box = data_box(np.concatenate([Xtr, Xte]))

live_key = f"live:{data_key}:{checkpoints.config_hash(cfg)}"
# a click, or a link that says this flow was trained live and this server does not hold it (app_models' rule)
if st.session_state.pop("_flow_train", False):
    train_live(cfg, (Xtr, Xte), live_key, again=True)
elif name != "mine" and app_models.link_says_trained() and live_key not in live_store():
    train_live(cfg, (Xtr, Xte), live_key, restoring=True)

model_key, ref_nll, note = None, None, ""
if ship_error is not None:
    st.warning(f"The shipped flow for this data set could not be loaded: {ship_error}  Click **Train live** to train "
               "one.", icon=":material/error:")
if record is not None:  # the same data as every toy-set model here: its KDE and mixture scores apply to them all
    ref_nll = {r["name"]: r["test_nll"] for r in record["meta"]["reference"].values()}
if live_key in live_store():
    model_key, note = live_key, f"Trained live on this server (by you or anyone who asked for the same settings; training is deterministic): {cfg.n_layers} layers, seed {seed}."
elif record is not None:
    model_key = f"shipped:{flow.shipped_name(name)}"
    note = ("Shipped checkpoint, trained by `" + record["meta"]["command"] + "`." if cfg == shipped_model.config else
            "Showing the shipped flow (its own settings, seed 0) until you click **Train live** for yours.")
c[3].caption(note or "Not trained yet: click **Train live**.")
# a callback, not the button's return value: the request survives a rerun that happens before the page runs
train_button.button(app_models.train_label(model_key == live_key or (model_key is not None and record is not None
                                                                     and cfg == shipped_model.config)),
                    icon=":material/model_training:", key="train", type="primary", width="stretch",
                    help="Train a flow with these settings and seed on these points.",
                    on_click=lambda: st.session_state.update(_flow_train=True))
if name != "mine":
    app_models.mark_trained(model_key == live_key)
if model_key is None:
    st.info("No flow for these points yet: click **Train live** (under a minute with the default settings on 2 CPU cores).",
            icon=":material/model_training:")
    st.stop()

model = model_for(model_key)
K_model = model.config.n_layers


# --------------------------------------------------------------------------------------------- sections

def draw_density():
    st.subheader("The data, the learned density and samples from the flow")
    # the controls and numbers in a row above, the three maps sharing the full width below (beside the maps, the
    # controls' column left them about 200 px each on a laptop)
    a, c, d = st.columns([1.6, 1, 1], vertical_alignment="bottom")
    n_samples = url.slider("Samples to draw", 100, 5000, 1000, key="ns", step=100, container=a)
    log_scale = url.toggle("Shade ln p instead of p", False, key="logp", container=a,
                           help="The logarithm shows the tails; p itself shows where the mass is.")
    xs, ys, logp = density(model_key, box)
    total = mass(model_key, box)
    c.metric("Probability mass in the picture", f"{total:.3f}",
             help="The density integrated over the plotted box (midpoint rule on a 400 x 400 grid).")
    d.metric("Test NLL", f"{model.nll(Xte):.3f} nats")
    with st.container():
        c1, c2, c3 = st.columns(3)
        c1.plotly_chart(fig.scatter_map([("training data", Xtr, fig.DATA)], box, f"Data ({len(Xtr):,} training points)",
                                        height=360), key="data_map")
        c2.plotly_chart(fig.density_map(xs, ys, logp, box, "Learned density " + ("ln p(x)" if log_scale else "p(x)"),
                                        log_scale=log_scale, height=360), key="density_map")
        S = samples(model_key, n_samples, seed)
        c3.plotly_chart(fig.scatter_map([("samples", S, fig.FLOW)], box, f"{n_samples:,} samples x = f(z0)",
                                        height=360), key="samples_map")
        st.caption(f"*Probability mass in the picture* ({total:.3f}) is the numerical integral of the learned density "
                   "over the plotted box: about 1 means the density is normalised, as the change of variables promises, "
                   "and almost all of its mass lies where the data are (the last digits are the grid's rounding).")
        if model.base is not None:
            st.caption(f"This flow starts from a learned mixture of {model.config.base_components} Gaussians, not from "
                       "N(0, I): a flow cannot tear one Gaussian into separate clusters without leaving bridges "
                       "between them. Set *Base p0* to standard normal and click **Train live** to see them.")


def draw_layers():
    st.subheader("Layer by layer")
    a, b = st.columns([1, 3])
    direction = url.radio("Direction", ["base to data (sampling)", "data to base (likelihood)"], key="dir", container=a,
                          help="Sampling runs f_1 ... f_K on normal draws; the likelihood runs the inverses on data.")
    forward = direction.startswith("base")
    k = url.slider("Layers applied", 0, K_model, K_model, key="k", container=a)
    states, colors, lines, mean_ld = warps(model_key, data_key, "to_data" if forward else "to_base", seed, box)
    if forward:
        names = [f"f{i + 1}" for i in range(K_model)]
        base_name = "N(0, I)" if model.base is None else f"p0 (a mixture of {model.config.base_components})"
        title = f"z0 ~ {base_name}" if k == 0 else f"z{k} = f{k}(z{k - 1})" + (" = x" if k == K_model else "")
    else:
        names = [f"f{K_model - i}^-1" for i in range(K_model)]
        title = "x (test points)" if k == 0 else f"after {k} inverse layer{'s' * (k > 1)}" + (": z0" if k == K_model else "")
    if box == TOY_BOX:  # one fixed frame for every layer, so the warp can be followed
        view_box = (-4.0, 4.0, -4.0, 4.0)
    else:  # user units: frame the points of this layer
        lo, hi = np.percentile(states[k], 0.5, axis=0), np.percentile(states[k], 99.5, axis=0)
        ctr, r = (lo + hi) / 2, 0.65 * float(max(hi - lo)) + 1e-3
        view_box = (ctr[0] - r, ctr[0] + r, ctr[1] - r, ctr[1] + r)
    with b:
        c1, c2 = st.columns([1.1, 1])
        c1.plotly_chart(fig.warp_view(states[k], colors, [L[k] for L in lines], view_box, title, height=420),
                        key="warp")
        c2.plotly_chart(fig.logdet_bars(mean_ld, names, k, "Each layer's mean ln|det J|", height=300), key="logdet")
        c2.caption(flow.coupling_caption(model.config))
        sign = 1 if forward else -1
        total = float(mean_ld[:k].sum())
        c2.markdown(
            f"Sum over the first **{k}** layer{'s' * (k != 1)}: **{total:+.3f}** nats on average. "
            + ("Over all K layers this is $\\sum_k \\ln|\\det \\partial f_k/\\partial z_{k-1}|$, which the "
               "log-likelihood of a sample *subtracts* from $\\ln p_0(z_0)$."
               if sign > 0 else
               "Over all K layers this is $\\ln|\\det \\partial f^{-1}/\\partial x|$, which the log-likelihood "
               "*adds* to $\\ln p_0(z_0)$."))


def draw_training():
    st.subheader("Training by maximum likelihood, and how the exact NLL compares")
    # a shipped record carries the KDE and mixture scores; other data get them fitted here, in the one view using them
    nll = ref_nll if ref_nll is not None else references(data_key, seed)
    refs = {"KDE": next(v for k_, v in nll.items() if k_.startswith("KDE")),
            "Gaussian mixture": next(v for k_, v in nll.items() if k_.startswith("Gaussian"))}
    a, b = st.columns([3, 1.3])
    a.plotly_chart(fig.nll_curves(model.history_, refs, "Negative log-likelihood in nats per point"), key="nll")
    test_nll = model.nll(Xte)
    with b:
        st.metric("Flow, test NLL (exact)", f"{test_nll:.3f}")
        st.metric("KDE, test NLL", f"{refs['KDE']:.3f}", delta=f"{refs['KDE'] - test_nll:+.3f} vs flow",
                  delta_color="off")
        st.metric("Gaussian mixture, test NLL", f"{refs['Gaussian mixture']:.3f}",
                  delta=f"{refs['Gaussian mixture'] - test_nll:+.3f} vs flow", delta_color="off")
        st.caption(f"Same {len(Xte):,} held-out points; KDE's bandwidth by cross-validation, the mixture's size by BIC "
                   f"(scikit-learn). {model.step_:,} steps, {model.train_seconds_:.1f} s of training.")
    claim = flow.bench_claim(name)
    if claim:
        st.caption(claim)
    st.info("A flow's NLL is **exact**, so it can stand beside KDE and a Gaussian mixture on the same points. "
            "A VAE or a diffusion model reports only a **bound** (the ELBO: $\\ln p(\\mathbf x)\\ge$ ELBO), and a GAN "
            "has no likelihood at all.", icon=":material/balance:")


def draw_anomaly():
    st.subheader("Anomaly detection: flag points of low density")
    a, b = st.columns([1, 2.4])
    q = url.slider("Flag the least likely share of training points (%)", 0.0, 20.0, 1.0, key="q", step=0.5, container=a)
    n_out = url.slider("Injected uniform outliers", 0, 200, 30, key="out", step=5, container=a,
                       help="Random points over the whole picture mixed into the test points, circled in yellow.")
    x0, x1, y0, y1 = box
    px = url.number("Your point: x", round(x0, 1), round(x1, 1), 0.0 if x0 <= 0 <= x1 else round(x0, 1), key="px",
                    step=0.1, container=a)
    py = url.number("Your point: y", round(y0, 1), round(y1, 1), 0.0 if y0 <= 0 <= y1 else round(y0, 1), key="py",
                    step=0.1, container=a)
    lp_train, P, lp, out = scores(model_key, data_key, seed, n_out, box)
    tau = flow.anomaly_threshold(lp_train, q / 100)
    lp_probe = float(model.log_prob(np.array([[px, py]], np.float32))[0])
    flagged = lp < tau
    rank = float((lp_train < lp_probe).mean())
    a.metric("ln p(your point)", f"{lp_probe:.2f}", delta="flagged" if lp_probe < tau else "normal",
             delta_color="inverse" if lp_probe < tau else "normal")
    a.caption(f"Threshold tau = {tau:.2f}; {rank:.1%} of the training points have a lower density than your point.")
    xs, ys, logp = density(model_key, box)
    b.plotly_chart(fig.anomaly_map(xs, ys, logp, box, P, lp, tau, "ln p(x) with the threshold (dashed) and flagged points",
                                   probe=(px, py), probe_flagged=lp_probe < tau, outliers=out), key="anomaly")
    n_test = len(P) - n_out
    caught = int(flagged[n_test:].sum())
    b.markdown(f"Flagged: **{int(flagged[:n_test].sum())}** of {n_test:,} test points "
               f"({flagged[:n_test].mean():.1%}, close to the {q:g}% asked for on the training points)"
               + (f" and **{caught}** of the {n_out} injected outliers ({caught / n_out:.0%}; outliers that land on the "
                  "data itself cannot be told apart)." if n_out else "."))


wt.section("density", draw_density, isolated=True)
wt.section("layers", draw_layers, isolated=True)
wt.section("training", draw_training)
wt.section("anomaly", draw_anomaly, isolated=True)


def samples_setting() -> int:
    """The "Samples to draw" of the density view, also while another view is shown: the session's value (kept
    across views), else the link's, else the default."""
    v = st.session_state.get("ns")
    if isinstance(v, int) and 100 <= v <= 5000:
        return v
    raw = url.raw.get("ns", "")
    return int(raw) if raw.isdigit() and 100 <= int(raw) <= 5000 else 1000


ui.reproduce(snippets.flow(cfg, name, None if model_key.startswith("live:") else model_key.split(":", 1)[1],
                           samples_setting(), seed,
                           points=Xtr.tolist() + Xte.tolist() if name == "mine" else None), "genlab_flow.py")
ui.show_code(flow.AffineCoupling, flow.rq_spline, flow.RealNVP.log_prob_tensor, flow.RealNVP.sample, flow.train)
