"""Guided diffusion: classifier guidance and classifier-free guidance on digits, with fidelity and diversity measured."""
import numpy as np
import streamlit as st

from core import guided, snippets, ui
from core.checkpoints import CheckpointError
from core.metrics import mosaic
from core.steps import guided as text
from core.steps.guided import GUIDANCE_LABELS, ROW_SCALES, SAMPLER_LABELS, STEPS, VIEWS
from core.ui import guided as app
from core.viz import guided as fig
from core.viz.diffusion import panel_image

ui.require_router()

st.title("Guided diffusion")
st.markdown(text.INTRO)

url = ui.url()
wt = ui.Walkthrough(STEPS, VIEWS)


# ---------------------------------------------------------------------------------------------- controls

with st.container(border=True):
    c = st.columns([1, 1.6, 2.2, 1, 1, 1])
    digit = url.selectbox("Digit", list(range(10)), key="digit", index=7, container=c[0])
    kind = url.radio("Guidance", list(GUIDANCE_LABELS), key="guidance", format_func=GUIDANCE_LABELS.get,
                     container=c[1], help="None: the conditional network as trained (the same as classifier-free at "
                                          "s = 1). Classifier guidance steers the unconditional (null-label) network.")
    scale = url.slider("Guidance scale s", 0.0, 10.0, 3.0, key="scale", step=0.1, container=c[2],
                       disabled=kind == "none", help="0: unconditional; 1: plain conditional; above 1: pushed further.")
    sampler = url.radio("Sampler", list(SAMPLER_LABELS), key="sampler", format_func=SAMPLER_LABELS.get, container=c[3])
    steps = url.selectbox("Steps", [10, 20, 50, 100, 200], key="steps", index=2, container=c[4])
    seed = ui.seed_input(container=c[5])

try:
    model, clf, evaluator = app.models()
except CheckpointError as e:
    st.warning(text.FAILED.format(error=e), icon=":material/error:")
    st.stop()


# -------------------------------------------------------------------------------------------- sections

def draw_samples():
    st.subheader(f"Sixteen {digit}s from sixteen starting noises")
    s = 1.0 if kind == "none" else scale
    imgs, secs, m = app.grid(digit, kind, s, sampler, steps, seed)
    a, b = st.columns([2, 3])
    a.image(fig.images(imgs, ncols=4, scale=6), width="stretch",
            caption=f"{GUIDANCE_LABELS[kind]} guidance" + (f", s = {s:g}" if kind != "none" else "")
                    + f", {steps} {SAMPLER_LABELS[sampler]} steps, {secs:.2f} s")
    b.caption(f"The evaluator reads {m['fidelity']:.0%} of these as a {digit} (mean probability {m['confidence']:.2f}); "
              f"their diversity is {m['diversity_rel']:.2f} of real digits'.")
    ui.download_png(np.kron(mosaic(imgs, ncols=4), np.ones((8, 8))),
                    {"model": "guided_mnist16", "digit": digit, "guidance": kind, "scale": s, "sampler": sampler,
                     "steps": steps, "seed": seed}, f"genlab_guided_{digit}_{kind}_s{s:g}_seed{seed}.png",
                    label="Download these digits (PNG)", container=b)


def draw_scale_rows():
    st.subheader("The same noise at six scales")
    row_kind = "cfg" if kind == "none" else kind
    rows = app.scale_rows(digit, row_kind, sampler, steps, seed)
    a, _ = st.columns([3, 2])
    a.image(fig.scale_grid(rows, scale=5), width="stretch",
            caption=f"{GUIDANCE_LABELS[row_kind]} guidance at s = " + ", ".join(f"{v:g}" for v in ROW_SCALES)
                    + " (columns), four starting noises (rows, seeds "
                    + f"{seed}..{seed + 3}). Left to right the rows agree more and more: diversity falls, fidelity rises.")


def draw_cgan():
    st.subheader("Conditioning, the GAN way")
    st.markdown(text.CGAN)
    st.page_link("pages/gan.py", label="Conditional GANs on the GAN page", icon=":material/sports_kabaddi:")


def draw_classifier():
    st.subheader("Classifier guidance: the gradient of a noise-aware classifier")
    t = url.slider("Noise level t of the example", 1, 1000, 400, key="tclf", step=1)
    x0, xt, grads, probs = app.classifier_gradients(digit, t, seed)
    a, b = st.columns([1, 8])
    a.image(fig.images(np.stack([(x0 + 1) / 2, (np.clip(xt, -1, 1) + 1) / 2]), ncols=1, scale=5),
            caption=f"a real {digit} and x_t at t = {t}")
    b.image(panel_image(grads, ncols=10, signed=True, scale=5), width="stretch",
            caption="∇ log p_φ(y | x_t, t) for y = 0 ... 9 (blue: make brighter, red: darker; one colour scale)")
    st.caption(text.CLASSIFIER_NOTE.format(
        beliefs=", ".join(f"{i}: {p:.2f}" for i, p in enumerate(probs)),
        accuracies=" / ".join(f"{clf.meta.get(f'test/acc_t{k}', float('nan')):.0%}" for k in (1, 250, 500, 750, 1000))))
    st.caption(text.CLASSIFIER_DDIM)


def draw_cfg():
    st.subheader("Classifier-free guidance: one network, two predictions")
    t = url.slider("Noise level t", 1, 1000, 700, key="tcfg", step=1)
    s = 1.0 if kind == "none" else scale
    xt, eu, ec, diff, eg, xu, xc, xg = app.cfg_parts(digit, t, s, seed)
    cols = st.columns(5)
    pics = [("x_t", xt, False), ("ε(x_t | ∅)", eu, True), (f"ε(x_t | {digit})", ec, True),
            ("difference ε(x_t|y) − ε(x_t|∅)", diff, True), (f"guided ε̂, s = {s:g}", eg, True)]
    for col, (cap, img, signed) in zip(cols, pics):
        col.image(panel_image(img, ncols=2, signed=signed, scale=4), caption=cap, width="stretch")
    st.markdown("**What each prediction implies for x̂₀** (the clean image it points at)")
    cols = st.columns(5)
    for col, (cap, img) in zip(cols[1:], [("from ε(x_t | ∅)", xu), (f"from ε(x_t | {digit})", xc), ("", None),
                                           (f"from ε̂, s = {s:g}", xg)]):
        if img is not None:
            col.image(panel_image(img, ncols=2, scale=4), caption=cap, width="stretch")
    st.caption(text.CFG_NOTE.format(digit=digit, t=t))


def draw_curve():
    draw_scale_rows()
    st.subheader("Fidelity against diversity, measured")
    shipped = guided.load_table()
    c = st.columns(3)
    per_class = url.selectbox("Samples per digit", [8, 16, 32, 64], key="per",
                              index=[8, 16, 32, 64].index(guided.DEFAULT_PER_CLASS), container=c[0],
                              help=f"The shipped table uses {guided.DEFAULT_PER_CLASS} per digit. Fewer: quicker, noisier.")
    csteps = url.selectbox(f"{SAMPLER_LABELS[sampler]} steps for the curve", [10, 25, 50, 100], key="csteps",
                           index=[10, 25, 50, 100].index(guided.DEFAULT_STEPS), container=c[1])
    settings = guided.table_settings(per_class, sampler, csteps, seed)
    rows, source = None, ""
    if shipped is not None and shipped["settings"] == settings:
        rows, source = shipped["rows"], (f"shipped table (computed by `{shipped.get('command', 'the CLI')}` in "
                                         f"{shipped.get('wall_seconds', 0):.0f} s)")
    elif repr(sorted(settings.items())) in app.measured():
        rows, source = app.measured()[repr(sorted(settings.items()))], "measured on this server for these settings"
    elif st.session_state.pop("_guided_measure", None) == settings:
        rows, source = app.measure(settings), "measured just now for these settings"
    if rows is None:
        have = (text.HAVE_TABLE.format(**{**shipped["settings"], "sampler": SAMPLER_LABELS.get(shipped["settings"]["sampler"], "")})
                if shipped else " No shipped table was found.")
        est = app.measure_estimate(settings)
        st.info(text.NO_TABLE.format(per_class=per_class, steps=csteps, sampler=SAMPLER_LABELS[sampler], seed=seed, have=have,
                                     runs=len(guided.DEFAULT_SCALES) * 2, digits=10 * per_class, cap=ui.max_action_seconds(),
                                     estimate=f", about {est:.0f} s here" if est is not None else ""), icon=":material/info:")
        st.button("Measure now", icon=":material/speed:", key="measure", type="primary",
                  on_click=lambda: st.session_state.update(_guided_measure=settings))
    else:
        a, b = st.columns([3, 2])
        a.plotly_chart(fig.tradeoff_fig(rows, mark=None if kind == "none" else scale), key="tradeoff")
        b.plotly_chart(fig.frontier_fig(rows), key="frontier")
        st.dataframe([{"guidance": fig.GUIDANCE_NAMES[r["guidance"]], "s": r["scale"], "fidelity": r["fidelity"],
                       "mean p(y)": r["confidence"], "diversity": r["diversity"], "diversity / real": r["diversity_rel"],
                       "seconds": r["seconds"]} for r in rows], hide_index=True, height=200,
                     column_config={"fidelity": st.column_config.NumberColumn(format="percent"),
                                    **{k: st.column_config.NumberColumn(format="%.3f")
                                       for k in ("mean p(y)", "diversity", "diversity / real")}})
        acc = evaluator.meta.get("test_acc", float("nan"))
        st.caption(text.CURVE_NOTE.format(source=source, n=rows[0]["n"], per_digit=rows[0]["n"] // 10, steps=csteps,
                                          sampler=SAMPLER_LABELS[sampler], acc=acc))
    st.markdown(text.TEMPERATURE)
    st.plotly_chart(fig.temperature_fig([0.45, 0.25, 0.15, 0.1, 0.05], (0.0, 1.0, 3.0, 8.0),
                                        labels=["7", "1", "9", "2", "4"]), key="temperature")
    st.caption(text.TEMPERATURE_NOTE)


wt.section("samples", draw_samples, isolated=True)
wt.section("cgan", draw_cgan)
wt.section("classifier", draw_classifier, isolated=True)
wt.section("cfg", draw_cfg, isolated=True)
wt.section("curve", draw_curve, isolated=True)

ui.reproduce(snippets.guided(digit, kind, 1.0 if kind == "none" else scale, sampler, steps, seed), "genlab_guided.py")
ui.show_code(guided.GuidedModel.loss, guided.guided_eps, guided.guided_reverse, guided.NoisyClassifier.grad_log_prob,
             guided.Evaluator.measure)
