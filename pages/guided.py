"""Guided diffusion: classifier guidance and classifier-free guidance on digits, with fidelity and diversity measured."""
import numpy as np
import streamlit as st

from core import guided, snippets, ui
from core.checkpoints import CheckpointError
from core.viz import guided as fig
from core.viz.common import image_mosaic

ui.require_router()

st.title("Guided diffusion")
st.markdown(
    "A diffusion model that knows what it should draw: ask for a digit and steer the sampler towards it. Two ways "
    "from the lecture, both live here on 16x16 digits: **classifier guidance** (a separate classifier trained on "
    "noisy images pushes every step towards the class) and **classifier-free guidance** (one network trained with "
    "and without the label; extrapolate from the unconditional prediction towards the conditional one). The "
    "guidance scale $s$ buys fidelity with diversity, and an independent digit classifier measures both."
)

STEPS = [
    ui.Step("Why condition?",
            r"p(\mathbf x)\ \longrightarrow\ p(\mathbf x\,|\,y)",
            "An unconditional model draws whatever digit the noise leads to. To ask for a *7* the model must see the "
            "label, or be steered towards it while sampling. Pick a digit and a guidance kind: the grid shows 16 "
            "samples from the same 16 starting noises; at scale 0 both guidance kinds are the plain unconditional "
            "model.", "samples"),
    ui.Step("Conditional GANs did it first",
            r"\min_G\max_D\ \mathbb E\big[\log D(\mathbf x|y)\big]+\mathbb E\big[\log\big(1-D(G(\mathbf z|y)\,|\,y)\big)\big]",
            "A conditional GAN feeds the label to both players: the generator must draw a *7* that the discriminator, "
            "also told *7*, cannot tell from real sevens. The label is an extra input, nothing more. Diffusion models "
            "can do the same, and add a knob the GAN does not have: how hard to push.", "cgan"),
    ui.Step("Classifier guidance",
            r"\begin{aligned}\nabla\log p(\mathbf x_t|y)&=\nabla\log p(\mathbf x_t)+\nabla\log p_\phi(y|\mathbf x_t)\\ \mathbf x_{t-1}&\sim\mathcal N\big(\boldsymbol\mu_\theta+s\,\boldsymbol\Sigma_t\,\nabla\log p_\phi(y|\mathbf x_t,t),\ \boldsymbol\Sigma_t\big)\end{aligned}",
            "Bayes' rule for scores: the conditional score is the unconditional one plus the gradient of a classifier. "
            "The classifier must work on *noisy* images, so it is trained on x_t at every t. Each reverse step of the "
            "unconditional model is nudged along that gradient, scaled by s. Below: the gradient for each digit, the "
            "pixels the classifier wants brighter (blue) or darker (red).", "classifier"),
    ui.Step("Classifier-free guidance",
            r"\begin{aligned}\hat{\boldsymbol\epsilon}(\mathbf x_t|y)=\ &\boldsymbol\epsilon_\theta(\mathbf x_t|\varnothing)\\ &+s\,\big(\boldsymbol\epsilon_\theta(\mathbf x_t|y)-\boldsymbol\epsilon_\theta(\mathbf x_t|\varnothing)\big)\end{aligned}",
            "No classifier: train one network with the label, and replace the label by a null token 10 % of the time, "
            "so it also learns the unconditional prediction. At sampling, run both and extrapolate: s = 0 is "
            "unconditional, s = 1 conditional, s > 1 exaggerates what the label changes. The difference of the two "
            "predictions plays the role of the classifier's gradient.", "cfg"),
    ui.Step("The guidance scale: fidelity against diversity",
            r"p_s(y|\mathbf x)\propto p(y|\mathbf x)^s=\mathrm{softmax}\big(s\log p(y|\mathbf x)\big)",
            "Raising s sharpens the class distribution, as lowering the temperature of a softmax sharpens a language "
            "model's next-word distribution: samples look more like the typical digit and less like each other. "
            "The curve measures it with an evaluator that is not part of any model.", "curve"),
]

url = ui.url()
# explore mode: one view at a time; the samples open the page, the scale rows and the measured curve wait for theirs
VIEWS = [ui.View("Samples", ("samples", "cgan")),
         ui.View("Classifier guidance", ("classifier",), keys=("tclf",)),
         ui.View("Classifier-free guidance", ("cfg",), keys=("tcfg",)),
         ui.View("Guidance scale", ("curve",), keys=("per", "csteps"))]
wt = ui.Walkthrough(STEPS, VIEWS)

GUIDANCE_LABELS = {"cfg": "Classifier-free", "classifier": "Classifier", "none": "None"}
SAMPLER_LABELS = {"ddim": "DDIM", "ddpm": "DDPM"}
ROW_SCALES = (0.0, 1.0, 2.0, 3.0, 5.0, 8.0)


# ---------------------------------------------------------------------------------------- cached pieces

@st.cache_resource(show_spinner="Loading the guided model, its classifier and the evaluator...")
def models():
    """(model, noise-aware classifier, evaluator), loaded once per process; raises CheckpointError."""
    return guided.load(), guided.load_classifier(), guided.load_evaluator()


@st.cache_data(max_entries=32, show_spinner="Sampling...")
def grid(digit: int, kind: str, scale: float, sampler: str, steps: int, seed: int, n: int = 16):
    m, c, ev = models()
    out = guided.guided_reverse(m, np.full(n, digit), kind, scale, sampler, steps, seed, c)
    return out.images, out.seconds, ev.measure(out.images, out.labels)


@st.cache_data(max_entries=16, show_spinner="Sampling the same noise at six scales...")
def scale_rows(digit: int, kind: str, sampler: str, steps: int, seed: int, noises: int = 4):
    m, c, _ = models()
    return guided.scale_rows(m, digit, ROW_SCALES, kind, sampler, steps, range(seed, seed + noises), c)


@st.cache_data(max_entries=8, show_spinner="Computing the classifier's gradient...")
def classifier_gradients(digit: int, t: int, seed: int):
    """One noisy x_t (a real held-out digit noised to time t) and grad log p_phi(y | x_t, t) for y = 0..9."""
    import torch

    m, c, _ = models()
    d = test_digits()
    x0 = d.x_test[[int(np.flatnonzero(d.y_test == digit)[seed % 20])]]
    e = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    from core.diffusion import q_sample

    x_t = q_sample(x0, t, m.alpha_bar.cpu(), e).to(m.device)
    grads = c.grad_log_prob(x_t.expand(10, -1, -1, -1), t, torch.arange(10))
    with torch.no_grad():
        probs = torch.softmax(c(x_t, t), -1)[0].cpu().numpy()
    return x0[0, 0].numpy(), x_t[0, 0].cpu().numpy(), grads[:, 0].cpu().numpy(), probs


@st.cache_data(max_entries=8, show_spinner="Running both branches of the network...")
def cfg_parts(digit: int, t: int, scale: float, seed: int, n: int = 4):
    """x_t, eps(x_t | null), eps(x_t | y), their difference and the guided eps, and the x0_hat each implies."""
    import torch

    from core.diffusion import classifier_free, predict_x0, q_sample

    m, _, _ = models()
    d = test_digits()
    idx = np.flatnonzero(d.y_test == digit)[:n]
    x0 = d.x_test[idx].to(m.device)
    e = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed)).to(m.device)
    x_t = q_sample(x0, t, m.alpha_bar, e)
    with torch.no_grad():
        eu, ec = m.eps(x_t, t, guided.NULL), m.eps(x_t, t, digit)
    eg = classifier_free(eu, ec, scale)
    x0h = lambda eps: predict_x0(x_t, t, m.alpha_bar, eps).clamp(-1, 1)[:, 0].cpu().numpy()
    np_ = lambda a: a[:, 0].cpu().numpy()
    return np_(x_t), np_(eu), np_(ec), np_(ec - eu), np_(eg), x0h(eu), x0h(ec), x0h(eg)


@st.cache_resource(max_entries=1, show_spinner=False)
def test_digits():
    return guided.load_data(16)


@st.cache_resource(show_spinner=False)
def measured() -> dict:
    """Trade-off tables measured on this server, by settings (shared by every session: sampling is deterministic);
    the 8 most recent are kept."""
    return ui.BoundedStore(8)


def measure_estimate(settings: dict) -> float | None:
    """Seconds a measurement costs, stated before it runs: the shipped table's time scaled by samples x steps
    (the sampler's per-step cost is the same for DDIM and DDPM); None without a shipped table to scale."""
    table = guided.load_table()
    if not table or not table.get("wall_seconds"):
        return None
    ref = table["settings"]
    work = lambda st_: st_["per_class"] * st_["steps"] * len(st_["scales"])
    return float(table["wall_seconds"]) * work(settings) / max(1, work(ref))


class _OverTime(Exception):
    pass


def measure(settings: dict) -> list[dict] | None:
    """The trade-off for settings other than the shipped table's, measured now with a progress bar, through
    the server's admission path (a slot, the time cap); None when it was stopped at the cap."""
    m, c, ev = models()
    heavy = ui.heavy("Measuring the trade-off: every digit at every scale", estimate_s=measure_estimate(settings))
    with heavy as ticket:
        bar = st.progress(0.0, text="Sampling every digit at every scale...")

        def cb(d, n):
            if ticket.expired():
                raise _OverTime
            bar.progress(d / n, text=f"Sampling every digit at every scale: batch {d} of {n}")

        try:
            rows = guided.tradeoff(m, c, ev, settings["scales"], per_class=settings["per_class"],
                                   sampler=settings["sampler"], steps=settings["steps"], seed=settings["seed"],
                                   batch=160, callback=cb)
        except _OverTime:
            heavy.status.update(label=f"Stopped at the server's limit of {ticket.seconds:.0f} s per run: nothing "
                                      "kept. Fewer samples per digit or fewer steps measure faster.", state="error")
            return None
        finally:
            bar.empty()
    measured()[repr(sorted(settings.items()))] = rows
    return rows


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
    model, clf, evaluator = models()
except CheckpointError as e:
    st.warning(f"The shipped guided-diffusion checkpoints could not be loaded: {e} Train them with the commands in "
               "`core/guided.py` (they take too long to train on this page).", icon=":material/error:")
    st.stop()


# -------------------------------------------------------------------------------------------- sections

def draw_samples():
    st.subheader(f"Sixteen {digit}s from sixteen starting noises")
    s = 1.0 if kind == "none" else scale
    imgs, secs, m = grid(digit, kind, s, sampler, steps, seed)
    a, b = st.columns([2, 3])
    a.image(fig.images(imgs, ncols=4, scale=6), width="stretch",
            caption=f"{GUIDANCE_LABELS[kind]} guidance" + (f", s = {s:g}" if kind != "none" else "")
                    + f", {steps} {SAMPLER_LABELS[sampler]} steps, {secs:.2f} s")
    b.caption(f"The evaluator reads {m['fidelity']:.0%} of these as a {digit} (mean probability {m['confidence']:.2f}); "
              f"their diversity is {m['diversity_rel']:.2f} of real digits'.")
    ui.download_png(np.kron(image_mosaic(imgs, ncols=4), np.ones((8, 8))),
                    {"model": "guided_mnist16", "digit": digit, "guidance": kind, "scale": s, "sampler": sampler,
                     "steps": steps, "seed": seed}, f"genlab_guided_{digit}_{kind}_s{s:g}_seed{seed}.png",
                    label="Download these digits (PNG)", container=b)


def draw_scale_rows():
    st.subheader("The same noise at six scales")
    row_kind = "cfg" if kind == "none" else kind
    rows = scale_rows(digit, row_kind, sampler, steps, seed)
    a, _ = st.columns([3, 2])
    a.image(fig.scale_grid(rows, scale=5), width="stretch",
            caption=f"{GUIDANCE_LABELS[row_kind]} guidance at s = " + ", ".join(f"{v:g}" for v in ROW_SCALES)
                    + " (columns), four starting noises (rows, seeds "
                    + f"{seed}..{seed + 3}). Left to right the rows agree more and more: diversity falls, fidelity rises.")


def draw_cgan():
    st.subheader("Conditioning, the GAN way")
    st.markdown("A conditional GAN gives the label to the generator *and* the discriminator; the GAN page trains one "
                "live on the ring of Gaussians (one label per mode) and ships one on digits. Diffusion conditions "
                "the noise predictor the same way (the label's embedding is added to the time embedding of every "
                "block of the U-Net here), and guidance adds the scale.")
    st.page_link("pages/gan.py", label="Conditional GANs on the GAN page", icon=":material/sports_kabaddi:")


def draw_classifier():
    st.subheader("Classifier guidance: the gradient of a noise-aware classifier")
    t = url.slider("Noise level t of the example", 1, 1000, 400, key="tclf", step=1)
    x0, xt, grads, probs = classifier_gradients(digit, t, seed)
    a, b = st.columns([1, 8])
    a.image(fig.images(np.stack([(x0 + 1) / 2, (np.clip(xt, -1, 1) + 1) / 2]), ncols=1, scale=5),
            caption=f"a real {digit} and x_t at t = {t}")
    from core.viz.diffusion import panel_image

    b.image(panel_image(grads, ncols=10, signed=True, scale=5), width="stretch",
            caption="∇ log p_φ(y | x_t, t) for y = 0 ... 9 (blue: make brighter, red: darker; one colour scale)")
    st.caption("The classifier's belief p_φ(y | x_t, t): " + ", ".join(f"{i}: {p:.2f}" for i, p in enumerate(probs))
               + ". Held-out accuracy of the classifier at t = 1 / 250 / 500 / 750 / 1000: "
               + " / ".join(f"{clf.meta.get(f'test/acc_t{k}', float('nan')):.0%}" for k in (1, 250, 500, 750, 1000))
               + ". At large t nothing of the digit is left and it can only guess: its gradient then steers towards "
                 "the class as a whole rather than to this image.")
    st.caption("DDPM steps shift the mean by s Σ_t ∇ log p_φ (the lecture's formula); DDIM has no noise to shift, so "
               "the same gradient enters as ε̂ = ε(x_t) − s √(1 − ᾱ_t) ∇ log p_φ (Dhariwal & Nichol).")


def draw_cfg():
    st.subheader("Classifier-free guidance: one network, two predictions")
    t = url.slider("Noise level t", 1, 1000, 700, key="tcfg", step=1)
    s = 1.0 if kind == "none" else scale
    xt, eu, ec, diff, eg, xu, xc, xg = cfg_parts(digit, t, s, seed)
    from core.viz.diffusion import panel_image

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
    st.caption(f"Four real {digit}s noised to t = {t}. The difference column is all that the label adds; the scale "
               "multiplies it. It is small next to the noise itself (a noise prediction is mostly the noise), which is "
               "why scales well above 1 are needed to change the samples markedly.")


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
    elif repr(sorted(settings.items())) in measured():
        rows, source = measured()[repr(sorted(settings.items()))], "measured on this server for these settings"
    elif st.session_state.pop("_guided_measure", None) == settings:
        rows, source = measure(settings), "measured just now for these settings"
    if rows is None:
        have = (f" The shipped table covers {shipped['settings']['per_class']} samples per digit, "
                f"{shipped['settings']['steps']} {SAMPLER_LABELS.get(shipped['settings']['sampler'], '')} steps, seed "
                f"{shipped['settings']['seed']}." if shipped else " No shipped table was found.")
        est = measure_estimate(settings)
        st.info(f"No table yet for {per_class} samples per digit, {csteps} {SAMPLER_LABELS[sampler]} steps, seed {seed}."
                + have + f" Measuring takes {len(guided.DEFAULT_SCALES) * 2} sampling runs of {10 * per_class} digits"
                + (f", about {est:.0f} s here" if est is not None else "") + f" (the server stops any run at "
                f"{ui.max_action_seconds():.0f} s).", icon=":material/info:")
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
        st.caption(f"Source: {source}. Each point: {rows[0]['n']:,} samples ({rows[0]['n'] // 10} per digit, the same "
                   f"starting noises for every point), {csteps} {SAMPLER_LABELS[sampler]} steps. Fidelity: share the "
                   f"evaluator (a CNN trained on clean real digits only, {acc:.1%} held-out accuracy) classifies as the "
                   "requested digit; dotted: its mean probability for that digit. Diversity: mean distance between "
                   "samples of one digit in the evaluator's feature space, divided by the same for real held-out "
                   "digits. At s = 0 both kinds are the same unconditional sampler (the requested digit is then hit "
                   "by chance, about 10 %); its diversity is above that of real digits because some unconditional "
                   "samples are malformed, and malformed shapes scatter widely in the evaluator's feature space.")
    st.markdown("**The softmax-temperature analogy.** Guidance with scale s samples, in effect, from "
                "p(y | x)^s: the class distribution raised to a power, just as dividing a language model's logits "
                "by a temperature T = 1/s sharpens its next-word distribution (s > 1) or flattens it (s < 1).")
    st.plotly_chart(fig.temperature_fig([0.45, 0.25, 0.15, 0.1, 0.05], (0.0, 1.0, 3.0, 8.0),
                                        labels=["7", "1", "9", "2", "4"]), key="temperature")
    st.caption("An example p(y | x) over five digits: at s = 0 (infinite temperature) every class is equally likely, "
               "at s = 1 it is unchanged, at s = 8 nearly all the mass sits on the most likely digit.")


wt.section("samples", draw_samples, isolated=True)
wt.section("cgan", draw_cgan)
wt.section("classifier", draw_classifier, isolated=True)
wt.section("cfg", draw_cfg, isolated=True)
wt.section("curve", draw_curve, isolated=True)

ui.reproduce(snippets.guided(digit, kind, 1.0 if kind == "none" else scale, sampler, steps, seed), "genlab_guided.py")
ui.show_code(guided.GuidedModel.loss, guided.guided_eps, guided.guided_reverse, guided.NoisyClassifier.grad_log_prob,
             guided.Evaluator.measure)
