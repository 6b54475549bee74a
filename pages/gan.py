"""Generative adversarial networks: train a GAN live and watch the two players, the JS divergence,
mode collapse and conditional GANs."""
import numpy as np
import streamlit as st

from core import admission, checkpoints, snippets, ui
from core import data as gdata
from core.steps import gan as text
from core.viz import gan as fig

ui.require_router()

from core import gan  # noqa: E402  (torch: imported after the router check so a deep link reruns fast)
from core import gan_session as session  # noqa: E402  (the session's GAN: which one a link names, its views)
from core.ui import gan as app  # noqa: E402  (the page's caches, stores and the cGANs' section)

url, wt = ui.page_header("Generative adversarial networks", text)
DEFAULT = session.PAGE_DEFAULT
CHOICES = {"noise": list(gan.NOISES), "act": list(gan.ACTIVATIONS)}  # SETTINGS' lists that core.gan holds
IT_KEY = "it"  # the link's training path of the GAN shown (core.gan.path_text): "3500", "3000-d10-500", "0"
MODEL_KEY = "_gan_model"
TICK_S = 0.6  # seconds of training per play tick
VIEW = {}  # what one section tells the next within a run (the timeline position)


def apply_preset(name: str):
    cfg = gan.preset(name)
    st.session_state.update({key: getattr(cfg, field) for row in text.SETTINGS for key, field, *_ in row})
    if cfg.data in text.SETS and cfg.data != "ring8":  # a preset made for another data set brings it along
        st.session_state["data"] = cfg.data
    st.session_state["_gan_preset_note"] = name


request = lambda action: st.session_state.update(_gan_action=action)  # a button's action, run on the next run


def setting(col, key, field, label, choices, help_):
    """One widget of the settings expander (text.SETTINGS), its default the default config's."""
    kw, default = {"help": help_} if help_ else {}, getattr(DEFAULT, field)
    if isinstance(choices, tuple):  # a whole number in (lo, hi)
        return url.number(label, *choices, default, key=key, container=col, **kw)
    choices = choices or CHOICES[key]
    return url.selectbox(label, choices, key=key, index=choices.index(default),
                         format_func=text.FORMATS.get(key, str), container=col, **kw)


with st.container(border=True):
    c = st.columns([2, 1, 3])
    name = url.selectbox("Data", list(text.SETS), key="data", format_func=text.SETS.get, container=c[0])
    seed = ui.seed_input(container=c[1])
    c[2].caption(text.PRESETS_HELP)
    for row in (text.PRESET_LABELS, text.REMEDY_LABELS):
        for col, (p, label) in zip(st.columns(len(row)), row.items()):
            col.button(label, key=f"preset_{p}", on_click=apply_preset, args=(p,), width="stretch",
                       help=gan.PRESETS[p][1])
    with st.expander("Networks and training settings (every one is in the link)", icon=":material/tune:"):
        settings = {spec[1]: setting(col, *spec) for row in text.SETTINGS for col, spec in zip(st.columns(7), row)}
    note = st.session_state.pop("_gan_preset_note", None)
    if note:
        st.info(f"**{text.ALL_PRESETS[note]}**: {gan.PRESETS[note][1]}", icon=":material/tune:")

cfg = session.page_config(name, seed, settings)

if name == "mine":  # the user's points (the page stops here while they are too few): never in the link
    ui.link_value(IT_KEY, "0", "0")
    data_key, data, Xn = app.user_points()
else:
    data_key, data = f"toy:{name}", app.toy_data(name, DEFAULT.n_data, cfg.data_seed)

# the session's own GAN (core.gan_session.Workbench): the link names it, opening the link restores it
bench = app.workbench(cfg, data, f"{data_key}:{checkpoints.config_hash(session.comparable(cfg))}", name)
action = st.session_state.pop("_gan_action", None)
slot = st.session_state[MODEL_KEY] = bench.open(st.session_state.get(MODEL_KEY), action,
                                                app.link_target(IT_KEY) if name != "mine" else None)
model = slot["model"]
write_link = lambda address_bar=True: app.write_link(IT_KEY, bench, model, address_bar)

with st.container(border=True):
    b = st.columns([1.1, 1.1, 1.1, 1.1, 1.1, 1, 2.2])
    n_steps = url.selectbox("Iterations per Train click", [100, 500, 1000, 2000, 5000], key="n", index=2,
                            container=b[0], label_visibility="visible")

# the requested action runs before the buttons are drawn, so they show the state after it (e.g. disabled
# once training diverged); its progress box appears just below the control bar
if action == "train":
    with ui.TrainingProgress(n_steps, label=session.train_label(cfg, n_steps), every=session.progress_every(cfg, n_steps),
                             chart_keys=session.CHART_KEYS) as progress:
        session.train_click(model, data, n_steps, progress)
elif action in ("d", "g"):
    session.run_training(model, data, 10, action)
bench.remember(slot)  # after training, Step D/G, and the first full run after Play stopped

if slot.get("target"):
    goal = sum(n for _, n in slot["target"])
    st.info(text.RESTORE_STOPPED.format(goal=goal, step=model.step_, seconds=admission.gate().seconds),
            icon=":material/timer_off:")
    st.button(f"Go on to iteration {goal:,}", key="restore", icon=":material/fast_forward:", on_click=request,
              args=("restore",))

for col, (key, label, icon, act, help_) in zip(b[1:5], text.BUTTONS):
    col.markdown("&nbsp;")
    col.button(label, key=key, type="primary" if key == "train" else "secondary", icon=icon, width="stretch",
               on_click=request, args=(act,), disabled=bool(model.diverged_) and key != "reset", help=help_)
b[5].markdown("&nbsp;")
playing = url.toggle("Play", False, key="play", container=b[5],
                     help="Train continuously and redraw about twice a second; switch off to pause.")
if not playing:  # Play's cap counts one stretch of playing: switching it off and on starts a new one
    slot["played_s"] = 0.0
status_box = b[6].empty()  # filled by the live fragment, so it follows Play as well

box = model.box_
d_kind = "critic" if cfg.loss == "wgan-gp" else "prob"
modes = gdata.mixture_modes(name) if name in ("ring8", "grid25", *gdata.PACGAN_SETS) else None
vkey = app.view_key(bench, model, seed, name, playing)  # the views are every session's (None: this session's own)


def draw_live():
    if playing and not model.diverged_:
        said = session.play_tick(model, data, slot, admission.gate(), TICK_S)
        if said:
            st.info(text.PLAY_SAYS[said].format(seconds=admission.gate().seconds), icon=text.PLAY_ICONS[said])
        write_link(address_bar=False)  # the sidebar's link follows every tick, the address bar when Play stops
    status_box.caption(session.status_text(slot))
    if model.diverged_:
        st.error(text.DIVERGED.format(reason=model.diverged_), icon=":material/error:")
    if not any(wt.shows(s) for s in text.LIVE_SECTIONS):  # e.g. the cGAN view: Play still trains the GAN
        if playing and not model.diverged_:
            st.caption(text.PLAYING.format(step=model.step_))
        return
    view = None
    # the grids, samples and arrows: the game's two sections draw them, and the presets' step of the walkthrough
    if wt.shows("overview") or wt.shows("plane") or (wt.on and wt.shows("presets")):
        with np.errstate(all="ignore"):
            try:
                view = ui.shared("view", vkey, lambda: session.current_view(model, seed))
            except Exception:  # a diverged model may produce nothing drawable: fall back to the last snapshot
                view = None
    wt.section("overview", lambda: draw_overview(view))
    wt.section("plane", lambda: draw_plane(view))
    wt.section("curves", draw_curves)
    wt.section("presets", lambda: draw_presets(view))


no_view = lambda: st.warning("Nothing to draw: the networks hold NaN/inf.", icon=":material/warning:")


def draw_overview(view):
    st.subheader("The model: noise, G, samples, D, predictions, losses")
    h = model.metrics
    real = data.X[:: max(1, len(data.X) // 500)]
    if view is None:
        return no_view()
    xs = view["xs"]
    st.plotly_chart(ui.shared("overview", vkey, lambda: fig.overview(
        view["z"], view["fake"], real, model.discriminate(real), model.discriminate(view["fake"]), (xs, xs, view["Z"]),
        box, h.get("train/d_loss"), h.get("train/g_loss"), d_kind)), key="overview")
    st.caption(text.OVERVIEW_CAPTION.format(step=model.step_, d_steps=model.d_steps_, g_steps=model.g_steps_))


def draw_plane(view):
    st.subheader("Real vs generated, D(x) over the plane, G's manifold and gradient arrows")
    snaps = model.snapshots_
    a, b_ = st.columns([1, 3])
    with a:
        shows = {key for key, label, help_ in text.PLANE_TOGGLES if url.toggle(label, True, key=key, help=help_)}
        idx = len(snaps)
        if len(snaps) > 1 and not playing:
            idx = st.slider("Timeline: snapshot", 0, len(snaps), len(snaps), key=f"timeline_{len(snaps)}",
                            help="Scrub back through training: the last position is the model as it is now.")
        VIEW["timeline"] = snaps[idx].step if idx < len(snaps) else None
        if idx < len(snaps):
            st.caption(f"Showing the snapshot at iteration **{snaps[idx].step:,}** (of {model.step_:,}).")
    if idx == len(snaps) and view is None:
        return st.warning(text.PLANE_NAN, icon=":material/warning:")
    snap = snaps[idx] if idx < len(snaps) else None
    plane, grad_note = ui.shared("plane", vkey and (*vkey, tuple(sorted(shows)), idx), lambda: fig.plane_at(
        box, data.X[:: max(1, len(data.X) // 800)], shows, d_kind, view, snap,
        model.grid(snap.heat.shape[0])[0] if snap else None, model.step_))
    b_.plotly_chart(plane, key="plane")
    a.caption(grad_note + (text.CRITIC_NOTE if d_kind == "critic" else ""))


def draw_curves():
    st.subheader("Training curves: the two players, the JS divergence and mode coverage")
    st.plotly_chart(ui.shared("curves", vkey and (*vkey, VIEW.get("timeline")),
                              lambda: fig.curves(model.history_, VIEW.get("timeline"), d_kind)), key="curves")
    h = model.metrics
    cols = st.columns(5)
    for col, (label, value, help_) in zip(cols, session.curve_metrics(h, d_kind)):
        col.metric(label, value, help=help_)
    if "test/modes" in h:
        cols[4].metric("modes captured", f"{h['test/modes']} / {h['test/n_modes']}", f"{100 * h['test/hq']:.0f}% high quality",
                       delta_color="off")
    if modes is not None and "test/mode_counts" in h:
        st.plotly_chart(fig.mode_bars(h["test/mode_counts"], model.config.n_eval,
                                      title=f"High-quality samples per mode (of {model.config.n_eval:,}) at iteration "
                                            f"{h['step']:,}"), key="modebars")
        st.caption(text.MODES_CAPTION)
    st.caption(text.CURVES_CAPTION)


def draw_presets(view=None):
    st.subheader("Why GAN training is unstable: the presets")
    if wt.on:  # the walkthrough's step shows this section alone: the GAN itself, so the step shows what it says
        draw_preset_figures(view)
        coverage_verdict()
    st.markdown(text.PRESETS_TEXT)
    for p, label in text.PRESET_LABELS.items():
        st.markdown(f"- **{label}**: {gan.PRESETS[p][1]}")
    st.markdown(text.REMEDIES_TEXT)
    for p, label in text.REMEDY_LABELS.items():
        st.markdown(f"- **{label}**: {gan.PRESETS[p][1]} *{session.measured(p, app.shipped_record)}*")
    if not wt.on:
        coverage_verdict()


def coverage_verdict():
    said = session.coverage_verdict(model.metrics)
    if said:
        getattr(st, said[0])(said[1], icon=":material/warning:" if said[0] == "warning" else ":material/check:")


def draw_preset_figures(view):
    """The plane now (samples, D, G's gradient arrows) and the mode coverage: collapse and saturation at a glance."""
    if view is None:
        return no_view()
    xs = view["xs"]
    a, b_ = st.columns([3, 2]) if modes is not None else (st.container(), None)
    a.plotly_chart(ui.shared("preset_plane", vkey, lambda: fig.plane(
        box, data.X[:: max(1, len(data.X) // 800)], view["fake"], (xs, xs, view["Z"]), None, view["arrows"], d_kind,
        title=f"Iteration {model.step_:,} (now)")), key="preset_plane")
    h = model.metrics
    if b_ is not None and "test/mode_counts" in h:
        b_.plotly_chart(fig.mode_bars(h["test/mode_counts"], model.config.n_eval, title="High-quality samples per mode"),
                        key="preset_modebars")


wt.switch()  # the view switch, drawn outside the fragment (the fragment's sections are its first)
live = ui.fragment(draw_live, run_every=TICK_S + 0.2 if playing and not model.diverged_ else None)
live()
write_link()  # a full run: the link and the address bar name the GAN shown
wt.section("cgan", lambda: app.draw_cgan(url, seed), isolated=True)

ui.reproduce(snippets.gan(cfg.replace(steps=int(model.step_)), int(seed), points=Xn if name == "mine" else None),
             "genlab_gan.py")
ui.show_code(gan.Trainer.d_step, gan.Trainer.g_step, gan.GAN._g_loss, gan.GAN._packed, gan.mbstd_feature, gan.evaluate,
             gan.histogram_js, gan.gmetrics.mode_coverage)
