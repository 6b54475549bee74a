"""Diffusion models: the forward and reverse processes step by step, noise prediction, DDPM vs DDIM, latent diffusion."""
import numpy as np
import streamlit as st

from core import diffusion, snippets, ui
from core.checkpoints import CheckpointError
from core.steps import diffusion as text
from core.steps.diffusion import DATA_LABELS, LATENT, PIXEL, SAMPLER_LABELS, STEPS, VIEWS
from core.ui import diffusion as app
from core.viz import diffusion as fig

ui.require_router()

st.title("Diffusion models")
st.markdown(text.INTRO)

url = ui.url()
wt = ui.Walkthrough(STEPS, VIEWS)
NAN = float("nan")


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
    # a click, or a link that says this model was trained live and this server does not hold it (core.ui.live)
    if st.session_state.pop("_diff_train", False):
        app.train_live(cfg2d, again=True)
    elif ui.link_says_trained() and not app.trained_here(cfg2d):
        app.train_live(cfg2d, restoring=True)
    model, ship_error = app.model_2d(cfg2d)
    # drawn after any training of this run, so its label says what is shown now
    c[5].button(ui.train_label(model is not None), icon=":material/model_training:", key="train",
                type="primary", width="stretch", on_click=lambda: st.session_state.update(_diff_train=True))
    ui.mark_trained(model is not None and app.trained_here(cfg2d))
    if model is None and ship_error is not None:
        st.warning(text.SHIP_FAILED.format(data=DATA_LABELS[data_name].lower(), error=ship_error),
                   icon=":material/error:")
    elif model is None:
        st.info(text.NO_MODEL.format(data=DATA_LABELS[data_name], kind=kind, steps=train_steps, lr=lr), icon=":material/info:")
    else:
        h = model.history_[-1] if model.history_ else {}
        st.caption(text.MODEL.format(data=DATA_LABELS[data_name], kind=model.config.schedule, steps=model.step_,
                                     source="trained here" if app.trained_here(model.config) else "shipped checkpoint",
                                     loss=h.get("test/loss", NAN), swd=h.get("test/swd", NAN)))


_warned: list = []


def digit_models_or_warn() -> bool:
    """True when both shipped digit models load; otherwise one warning per run (not one per section)."""
    try:
        return app.shipped(PIXEL) is not None and app.shipped(LATENT) is not None
    except CheckpointError as e:
        if _warned:
            st.caption("The digit models are unavailable (see the warning above).")
            return False
        _warned.append(True)
        st.warning(text.DIGITS_FAILED.format(error=e), icon=":material/error:")
        return False


# -------------------------------------------------------------------------------------------- sections

def show_panels(panels, ncols: int = 4, scale: int = 4, container=st):
    """Image mosaics side by side as static pictures: ``panels`` = [(caption, images (n, H, W) in [-1, 1], signed?)]."""
    for col, (caption, imgs, signed) in zip(container.columns(len(panels)), panels):
        # every panel its column's width: equal panels, equal sizes
        col.image(fig.panel_image(imgs, ncols=ncols, signed=signed, scale=scale), caption=caption, width="stretch")


def draw_schedule():
    st.subheader("The forward process: a Markov chain with a variance schedule")
    t = url.slider("t (forward time)", 0, 1000, 250, key="t", help="0 is the data, 1000 pure noise.")
    st.plotly_chart(fig.schedule_fig(app.schedules(), t=t if t > 0 else None), key="schedules")
    strip = app.chain_strip(kind, seed)
    st.image(fig.panel_image(strip, ncols=len(strip), scale=4),
             caption=f"One digit run through the chain step by step (F1), shown at t = 0, 100, ..., 1000 ({kind} schedule).")
    s = app.schedules()[kind]
    st.caption(text.SCHEDULE_NOTE.format(t=t, beta=s["beta"][t], alpha_bar=s["alpha_bar"][t], snr=s["snr"][t],
                                         end=max(app.schedules()[k]["alpha_bar"][-1] for k in app.schedules())))


def draw_forward():
    st.subheader("Sampling x_t straight from x_0")
    t = int(st.session_state.get("t", 250))
    if not wt.shows("schedule"):
        t = url.slider("t (forward time)", 0, 1000, 250, key="t")
    a, b = st.columns([3, 2])
    with a:
        x0, xt, eps = app.forward_digits(t, kind, seed)
        show_panels([("x_0", x0, False), (f"x_t, t = {t}", xt, False), ("ε (red -, blue +)", eps, True)])
    with b:
        p0, closed, chain, ab = app.forward_points(data_name, t, kind, seed)
        n = len(p0) // 20
        st.plotly_chart(fig.points_fig([("x_0 (data)", p0[:n], "#999999"), ("closed form", closed[:n], fig.PALETTE[0]),
                                        (f"chain of {t} steps", chain[:n], fig.PALETTE[1])], height=330), key="fwd_points")
    ui.table(fig.forward_moments(p0, closed, chain, ab, t), index="")
    st.caption(text.FORWARD_NOTE.format(draws=len(p0), points=len(p0) // 20))


def draw_trajectories():
    st.subheader("2-D: from noise onto the data")
    if model is None:
        st.info("Train the 2-D model above to see its trajectories.", icon=":material/info:")
        return
    c1, c2 = st.columns(2)
    s2 = url.radio("Sampler", list(SAMPLER_LABELS), key="s2", format_func=SAMPLER_LABELS.get, horizontal=True, container=c1)
    k2 = url.selectbox("Steps", [10, 20, 50, 100, 200, 1000], key="k2", index=2, container=c2)
    t, x, secs = app.traj_2d(model, app.model_key(model), s2, k2, seed)
    st.plotly_chart(fig.trajectory_animation(t, x, app.points(data_name).x_test.numpy()), key="traj2d")
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
    b.plotly_chart(fig.points_fig([("held-out data", app.points(data_name).x_test.numpy(), "#999999"),
                                   ("samples (DDPM, 100 steps)", samples, fig.PALETTE[0])], height=330), key="samples2d")
    st.caption(text.TRAIN2D_NOTE)


def draw_reverse():
    st.subheader("The reverse process, step by step (16x16 digits, U-Net)")
    if not digit_models_or_warn():
        return
    c = st.columns([1, 1, 1])
    sampler = url.radio("Sampler", list(SAMPLER_LABELS), key="sampler", format_func=SAMPLER_LABELS.get, horizontal=True, container=c[0])
    steps = url.selectbox("Sampling steps", [10, 20, 50, 100, 200], key="steps", index=1, container=c[1],
                          help="DDPM with 1000 steps takes a minute here: see the table below for its timing.")
    n = url.selectbox("Digits", [4, 8, 16], key="n", index=1, container=c[2])
    t, x, eps, x0, secs = app.traj_digits(sampler, steps, seed, n)
    K = len(t)
    if st.session_state.get("k", 1) > K:  # fewer steps than before: keep the slider in range
        st.session_state["k"] = K
    k = url.slider("Step", 1, K, 1, key="k", help="Go back to any step; the animation starts here.") - 1
    st.plotly_chart(fig.reverse_animation(t, x, eps, x0, ncols=4, start=k, height=120 + 75 * (n // 4)), key="reverse")
    st.caption(f"{n} digits, {K} {SAMPLER_LABELS[sampler]} steps in {secs:.2f} s. Showing step {k + 1} of {K} "
               f"(t = {t[k]}) first; ▶ plays the rest in the browser.")
    final = fig.mosaic((np.clip(np.asarray(x[-1]), -1, 1) + 1) / 2, ncols=4)
    ui.download_png(np.kron(final, np.ones((8, 8))), {"model": PIXEL, "sampler": sampler, "steps": steps, "seed": seed,
                                                      "n": n}, f"genlab_digits_{sampler}{steps}_seed{seed}.png",
                    label="Download the final digits (PNG)")
    st.markdown(f"**Continue from step {k + 1} (t = {t[k]}) with another sampler**")
    d = st.columns([1, 1, 3])
    s2 = url.radio("Continue with", list(SAMPLER_LABELS), key="sampler2", format_func=SAMPLER_LABELS.get, index=1,
                   horizontal=True, container=d[0])
    k2 = url.selectbox("Its steps (over the whole chain)", [10, 20, 50, 100, 200], key="steps2", index=1, container=d[1])
    cont, used, secs2 = app.continue_digits(sampler, steps, seed, n, k, s2, k2)
    show_panels([(f"original: {K} {SAMPLER_LABELS[sampler]} steps", x[-1], False),
                 (f"continued from step {k + 1}: {used} {SAMPLER_LABELS[s2]} steps, {secs2:.2f} s", cont, False)],
                container=d[2])


def draw_denoise():
    st.subheader("One network, every noise level: a chain of denoising autoencoders")
    if not digit_models_or_warn():
        return
    x0, rows = app.denoise_levels(seed)
    noised, denoised, levels = fig.denoise_columns(x0, rows)
    show_panels([("x_t, noised by the closed form", noised, False), ("x̂_0, the U-Net's one-step estimate from x_t", denoised, False)],
                ncols=len(x0), scale=4)
    st.caption(text.DENOISE_NOTE.format(levels=levels))


def draw_samplers():
    st.subheader("DDPM vs DDIM from the same starting noise")
    if model is not None:
        rows, clouds = app.compare_2d(model, app.model_key(model), data_name, seed)
        a, b = st.columns([2, 3])
        a.plotly_chart(fig.sampler_quality_fig(rows), key="quality2d")
        b.dataframe([{"sampler": SAMPLER_LABELS[r["sampler"]], "steps": r["steps"], "seconds": r["seconds"],
                      "sliced Wasserstein": r["swd"]} for r in rows], hide_index=True,
                    column_config={"seconds": st.column_config.NumberColumn(format="%.3f"),
                                   "sliced Wasserstein": st.column_config.NumberColumn(format="%.3f")})
        pick = url.selectbox("Show the samples of", list(clouds), key="cloud", index=2, container=b)
        b.plotly_chart(fig.points_fig([("held-out data", app.points(data_name).x_test.numpy(), "#999999"),
                                       (pick, clouds[pick], fig.PALETTE[0])], height=320), key="cloud_fig")
    else:
        st.info("Train the 2-D model above to compare the samplers on it.", icon=":material/info:")
    if digit_models_or_warn() and url.toggle("Digits too (latent model, 6 runs)", False, key="dig"):
        rows, pics = app.compare_digits(seed)
        show_panels([(f"{k}: {r['seconds']:.2f} s", 2 * v - 1, False) for (k, v), r in zip(pics.items(), rows)], ncols=4, scale=3)


def draw_latent():
    st.subheader("Latent vs pixel diffusion")
    if not digit_models_or_warn():
        return
    pix, lat = app.shipped(PIXEL), app.shipped(LATENT)
    steps = url.selectbox("DDIM steps", [10, 20, 50], key="lsteps", index=1, container=st.columns(4)[0])
    out = app.pixel_vs_latent(seed, steps)
    (pi, pt), (li, lt) = out[PIXEL], out[LATENT]
    a, b = st.columns(2)
    a.image(fig.panel_image(2 * pi - 1, ncols=8, scale=4), caption=f"pixel space: U-Net on 1x16x16 pixels, {pt:.2f} s")
    b.image(fig.panel_image(2 * li - 1, ncols=8, scale=4),
            caption=f"latent space: {lat.config.network.upper()} on {'x'.join(map(str, lat.shape))} codes, {lt:.2f} s")
    st.caption(text.LATENT_NOTE.format(steps=steps, speedup=pt / max(lt, 1e-9), ae=diffusion.n_parameters(lat.autoencoder),
                                       pixel=diffusion.n_parameters(pix.net), latent=diffusion.n_parameters(lat.net)))


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
