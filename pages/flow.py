"""Normalizing flows: affine or spline coupling layers, exact likelihood, layer-by-layer warps and anomaly scores."""
import numpy as np
import streamlit as st

from core import checkpoints, flow, snippets, ui
from core import data as gdata
from core.steps import flow as text
from core.steps.flow import HELP, SETS
from core.ui import flow as app
from core.viz import flow as fig

ui.require_router()

st.title("Normalizing flows")
st.markdown(text.INTRO)
url = ui.url()
wt = ui.Walkthrough(text.STEPS, text.VIEWS)

DEFAULT = flow.FlowConfig()
WIDTHS = [16, 32, 64, 128]
LRS = [3e-4, 1e-3, 2e-3, 5e-3, 1e-2, 1e-1]
BASES = [0, 2, 4, 8, 16]  # base_components: 0 = the standard normal, k = a learned mixture of k Gaussians

with st.container(border=True):
    c = st.columns([2, 1, 1.4, 2])
    name = url.selectbox("Data", list(SETS), key="data", format_func=SETS.get, container=c[0])
    seed = ui.seed_input(container=c[1])
    shipped_model, ship_error = app.shipped_for(name) if name != "mine" else (None, None)
    # the settings start at the shipped flow's (spirals and circles ship deeper flows), else the defaults
    base = shipped_model.config if shipped_model is not None else DEFAULT
    if name == "mine":
        base = DEFAULT.replace(actnorm=True)  # user units are arbitrary: ActNorm's data-dependent init standardises
    # another data set brings its own defaults: a setting left at the old default follows them, one the user set
    # stays (ui.UrlState's one rule for defaults that depend on another setting), and the link says which
    with st.expander("Flow and training settings (for *Train live*)", icon=":material/tune:"):
        s = st.columns(6)
        K = url.slider("Coupling layers K", 2, 16, int(np.clip(base.n_layers, 2, 16)), key="K", container=s[0])
        width = url.selectbox("Hidden width", WIDTHS, key="width", container=s[1], help=HELP["width"],
                              index=WIDTHS.index(base.hidden) if base.hidden in WIDTHS else 2)
        steps = url.slider("Training steps", 250, 8000, int(np.clip(base.steps // 250 * 250, 250, 8000)), key="steps",
                           step=250, container=s[2])
        lr = url.selectbox("Learning rate", LRS, key="lr", index=LRS.index(base.lr) if base.lr in LRS else 2,
                           format_func=lambda v: f"{v:g}", container=s[3])
        n_base = url.selectbox("Base p0", BASES, key="base", container=s[4], help=HELP["base"],
                               index=BASES.index(base.base_components) if base.base_components in BASES else 0,
                               format_func=lambda k: "standard normal" if k == 0 else f"mixture of {k}")
        coupling = url.selectbox("Coupling", list(flow.COUPLINGS), key="coupling", container=s[5],
                                 index=flow.COUPLINGS.index(base.coupling), format_func=flow.COUPLING_NAMES.get,
                                 help=flow.COUPLING_HELP)
    cfg = flow.coupling_settings(base, coupling).replace(n_layers=K, hidden=width, steps=steps, lr=lr,
                                                         base_components=n_base, seed=seed)
    c[2].write("")
    train_button = c[2].empty()  # drawn once this run's training is done: its label says what is shown then

if name == "mine":
    own = np.asarray(st.session_state.get(app.POINTS_KEY) or [[0, 0]], np.float32)
    X_user = ui.points_editor("flow", fig.data_box(own), text.POINTS_INTRO, text.POINTS_CAPTION)
wt.switch()  # the view switch, drawn on every run: also on one that stops below, for want of points or of a flow
if name == "mine":
    ui.mark_trained(False)  # a flow on your own points stays with you: the points are not in the link
    if len(X_user) < gdata.PointLimits.min_rows:
        st.info(f"Add at least {gdata.PointLimits.min_rows} points (you have {len(X_user)}) to train a flow on them.",
                icon=":material/touch_app:")
        st.stop()
    try:
        data_key = app.user_data_key(X_user, seed)
    except gdata.DataError as e:  # all at one spot or on one line: say the data are degenerate
        st.warning(ui.escape_md(e), icon=":material/scatter_plot:")
        st.stop()
else:
    data_key = f"toy:{name}"
Xtr, Xte = app.get_data(data_key)
box = fig.data_box(np.concatenate([Xtr, Xte]))

live_key = f"live:{data_key}:{checkpoints.config_hash(cfg)}"
app.train_if_asked(cfg, (Xtr, Xte), live_key, from_link=name != "mine")
if ship_error is not None:
    st.warning(text.SHIP_ERROR.format(error=ship_error), icon=":material/error:")
# the same data as every toy-set model here: the shipped record's KDE and mixture scores apply to them all
ref_nll = None if shipped_model is None else {r["name"]: r["test_nll"] for r in shipped_model.meta["reference"].values()}
model_key, note, settings_shown = app.shown_flow(cfg, live_key, name, shipped_model)
c[3].caption(note)
# a callback, not the button's return value: the request survives a rerun that happens before the page runs
train_button.button(ui.train_label(settings_shown), icon=":material/model_training:", key="train",
                    type="primary", width="stretch", help=HELP["train"],
                    on_click=lambda: st.session_state.update(_flow_train=True))
if name != "mine":
    ui.mark_trained(model_key == live_key)
if model_key is None:
    st.info(text.NO_FLOW, icon=":material/model_training:")
    st.stop()

model = app.model_for(model_key)
K_model = model.config.n_layers


# --------------------------------------------------------------------------------------------- sections

def draw_density():
    st.subheader("The data, the learned density and samples from the flow")
    # the controls and numbers in a row above, the three maps sharing the full width below (beside the maps, the
    # controls' column left them about 200 px each on a laptop)
    a, c, d = st.columns([1.6, 1, 1], vertical_alignment="bottom")
    n_samples = url.slider("Samples to draw", 100, 5000, 1000, key="ns", step=100, container=a)
    log_scale = url.toggle("Shade ln p instead of p", False, key="logp", container=a, help=HELP["logp"])
    xs, ys, logp = app.density(model_key, box)
    total = app.mass(model_key, box)
    c.metric("Probability mass in the picture", f"{total:.3f}", help=HELP["mass"])
    d.metric("Test NLL", f"{model.nll(Xte):.3f} nats")
    with st.container():
        c1, c2, c3 = st.columns(3)
        c1.plotly_chart(fig.scatter_map([("training data", Xtr, fig.DATA)], box, f"Data ({len(Xtr):,} training points)",
                                        height=360), key="data_map")
        c2.plotly_chart(fig.density_map(xs, ys, logp, box, "Learned density " + ("ln p(x)" if log_scale else "p(x)"),
                                        log_scale=log_scale, height=360), key="density_map")
        c3.plotly_chart(fig.scatter_map([("samples", app.samples(model_key, n_samples, seed), fig.FLOW)], box,
                                        f"{n_samples:,} samples x = f(z0)", height=360), key="samples_map")
        st.caption(text.MASS_CAPTION.format(total=total))
        if model.base is not None:
            st.caption(text.MIXTURE_CAPTION.format(k=model.config.base_components))


def draw_layers():
    st.subheader("Layer by layer")
    a, b = st.columns([1, 3])
    direction = url.radio("Direction", ["base to data (sampling)", "data to base (likelihood)"], key="dir", container=a,
                          help=HELP["dir"])
    forward = direction.startswith("base")
    k = url.slider("Layers applied", 0, K_model, K_model, key="k", container=a)
    states, colors, lines, mean_ld = app.warps(model_key, data_key, "to_data" if forward else "to_base", seed, box)
    if forward:
        names = [f"f{i + 1}" for i in range(K_model)]
        base_name = "N(0, I)" if model.base is None else f"p0 (a mixture of {model.config.base_components})"
        title = f"z0 ~ {base_name}" if k == 0 else f"z{k} = f{k}(z{k - 1})" + (" = x" if k == K_model else "")
    else:
        names = [f"f{K_model - i}^-1" for i in range(K_model)]
        title = "x (test points)" if k == 0 else f"after {k} inverse layer{'s' * (k > 1)}" + (": z0" if k == K_model else "")
    c1, c2 = b.columns([1.1, 1])
    c1.plotly_chart(fig.warp_view(states[k], colors, [line[k] for line in lines], fig.layer_box(states[k], box), title,
                                  height=420), key="warp")
    c2.plotly_chart(fig.logdet_bars(mean_ld, names, k, "Each layer's mean ln|det J|", height=300), key="logdet")
    c2.caption(flow.coupling_caption(model.config))
    c2.markdown(text.LOGDET_SUM.format(k=k, s="s" * (k != 1), total=float(mean_ld[:k].sum()))
                + (text.LOGDET_TO_DATA if forward else text.LOGDET_TO_BASE))


def draw_training():
    st.subheader("Training by maximum likelihood, and how the exact NLL compares")
    # a shipped record carries the KDE and mixture scores; other data get them fitted here, in the one view using them
    nll = ref_nll if ref_nll is not None else app.references(data_key, seed)
    refs = {"KDE": next(v for k_, v in nll.items() if k_.startswith("KDE")),
            "Gaussian mixture": next(v for k_, v in nll.items() if k_.startswith("Gaussian"))}
    a, b = st.columns([3, 1.3])
    a.plotly_chart(fig.nll_curves(model.history_, refs, "Negative log-likelihood in nats per point"), key="nll")
    test_nll = model.nll(Xte)
    b.metric("Flow, test NLL (exact)", f"{test_nll:.3f}")
    for label, ref in (("KDE, test NLL", "KDE"), ("Gaussian mixture, test NLL", "Gaussian mixture")):
        b.metric(label, f"{refs[ref]:.3f}", delta=f"{refs[ref] - test_nll:+.3f} vs flow", delta_color="off")
    b.caption(text.REFS_CAPTION.format(n=len(Xte), steps=model.step_, seconds=model.train_seconds_))
    claim = flow.bench_claim(name)
    if claim:
        st.caption(claim)
    st.info(text.EXACT_INFO, icon=":material/balance:")


def draw_anomaly():
    st.subheader("Anomaly detection: flag points of low density")
    a, b = st.columns([1, 2.4])
    q = url.slider("Flag the least likely share of training points (%)", 0.0, 20.0, 1.0, key="q", step=0.5, container=a)
    n_out = url.slider("Injected uniform outliers", 0, 200, 30, key="out", step=5, container=a, help=HELP["out"])
    x0, x1, y0, y1 = box
    px = url.number("Your point: x", round(x0, 1), round(x1, 1), 0.0 if x0 <= 0 <= x1 else round(x0, 1), key="px",
                    step=0.1, container=a)
    py = url.number("Your point: y", round(y0, 1), round(y1, 1), 0.0 if y0 <= 0 <= y1 else round(y0, 1), key="py",
                    step=0.1, container=a)
    lp_train, P, lp, out = app.scores(model_key, data_key, seed, n_out, box)
    tau = flow.anomaly_threshold(lp_train, q / 100)
    lp_probe = float(model.log_prob(np.array([[px, py]], np.float32))[0])
    a.metric("ln p(your point)", f"{lp_probe:.2f}", delta="flagged" if lp_probe < tau else "normal",
             delta_color="inverse" if lp_probe < tau else "normal")
    a.caption(f"Threshold tau = {tau:.2f}; {(lp_train < lp_probe).mean():.1%} of the training points have a lower "
              "density than your point.")
    xs, ys, logp = app.density(model_key, box)
    b.plotly_chart(fig.anomaly_map(xs, ys, logp, box, P, lp, tau, "ln p(x) with the threshold (dashed) and flagged points",
                                   probe=(px, py), probe_flagged=lp_probe < tau, outliers=out), key="anomaly")
    flagged, n_test = lp < tau, len(P) - n_out
    caught = int(flagged[n_test:].sum())
    b.markdown(text.FLAGGED.format(flagged=int(flagged[:n_test].sum()), n_test=n_test, share=flagged[:n_test].mean(), q=q)
               + (text.CAUGHT.format(caught=caught, n_out=n_out, rate=caught / n_out) if n_out else "."))


wt.section("density", draw_density, isolated=True)
wt.section("layers", draw_layers, isolated=True)
wt.section("training", draw_training)
wt.section("anomaly", draw_anomaly, isolated=True)

ui.reproduce(snippets.flow(cfg, name, None if model_key.startswith("live:") else model_key.split(":", 1)[1],
                           app.samples_setting(url), seed,
                           points=Xtr.tolist() + Xte.tolist() if name == "mine" else None), "genlab_flow.py")
ui.show_code(flow.AffineCoupling, flow.rq_spline, flow.RealNVP.log_prob_tensor, flow.RealNVP.sample, flow.train)
