"""The GAN page's app layer (Streamlit-aware): its cached checkpoints and data, the server's stores of GANs trained
live, the session's :class:`core.gan_session.Workbench` made from them, and the conditional GANs' section. The rules
themselves (which GAN a link names, how it is restored, what a tick of Play trains) are core.gan's, without
Streamlit."""
from __future__ import annotations

import numpy as np
import streamlit as st

from core import checkpoints, gan, ui
from core import data as gdata
from core import gan_session as session
from core.metrics import mosaic
from core.steps import gan as text
from core.viz import gan as fig


@st.cache_resource(max_entries=12, show_spinner=False)
def shipped_state(name: str):
    """(tensors, record) of a shipped checkpoint, loaded once per process (each session rebuilds its own GAN)."""
    return checkpoints.load(checkpoints.shipped(name))


def shipped_record(name: str) -> dict:
    return shipped_state(name)[1]


def from_shipped(name: str):
    """A session's own GAN from the shipped checkpoint ``name`` (config and every tensor checked by core.gan);
    raises CheckpointError."""
    tensors, record = shipped_state(name)
    return gan.from_checkpoint(tensors, record, name), record


@st.cache_resource(max_entries=12, show_spinner=False)
def shipped_config(name: str):
    """The config of the shipped checkpoint ``name``, once the whole checkpoint was checked by building a GAN from
    it (raises CheckpointError, which is not cached: a broken file is said on every open)."""
    return from_shipped(name)[0].config


@st.cache_resource(max_entries=8, show_spinner=False)
def toy_data(name: str, n: int, seed: int) -> gan.GANData:
    """The toy set as GANData, one object per process (a model keeps its evaluation set while it sees the
    same object, so reruns do not rebuild it). Read-only."""
    X, y = gdata.toy(name, n, seed)
    return gan.GANData(X, y, name)


@st.cache_resource(show_spinner=False)
def user_data_store() -> dict:
    return ui.BoundedStore(32)


def user_points():
    """The user's points: the editor, then (key, GANData, the points in the toy sets' box; core.gan_session.user_points),
    the data kept in a bounded store (memory stays bounded on a shared server). While the points are too few or
    cannot be used the page says so and stops here."""
    X_user = ui.points_editor("gan", 3.0, text.POINTS_INTRO, text.POINTS_CAPTION, color=fig.REAL)
    if len(X_user) < gdata.PointLimits.min_rows:
        st.info(f"Add at least {gdata.PointLimits.min_rows} points (you have {len(X_user)}) to train a GAN on them.",
                icon=":material/touch_app:")
        st.stop()
    try:
        key, Xn = session.user_points(X_user)
    except gdata.DataError as e:
        st.warning(ui.escape_md(e), icon=":material/scatter_plot:")
        st.stop()
    store = user_data_store()
    if key not in store:
        store[key] = gan.make_data(Xn, None, "custom")
    return key, store[key], Xn


def workbench(cfg, data, key: str, name: str) -> session.Workbench:
    """The session's :class:`core.gan_session.Workbench`: the server's store of GANs trained here (a ring GAN is about
    0.6 MB) and the shipped GAN trained with exactly these settings, if any. A shipped checkpoint of this data set
    that cannot be loaded is said, not hidden."""
    models = ui.model_store("gan", 32, max_bytes=64 * 2**20, sizeof=ui.tensor_bytes)
    found = None
    for ck in session.SHIPPED_2D.get(name, ()) if name != "mine" else ():
        try:
            config = shipped_config(ck)
        except checkpoints.CheckpointError as e:
            st.warning(f"The shipped GAN `{ck}` could not be loaded ({e}); the settings it was trained with open "
                       "untrained.", icon=":material/error:")
            continue
        if found is None and session.comparable(config) == session.comparable(cfg):
            found = (ck, shipped_state(ck))
    return session.Workbench(cfg, data, key, models, found, shared=name != "mine")


def link_target(key: str):
    """The training path the link asks for under ``key`` (None: these settings' default), checked."""
    raw = ui.from_link(key)
    if raw is None:
        return None
    try:
        return gan.parse_path(raw, session.MAX_LINK_ITERATIONS)
    except ValueError as e:
        ui.check_link_value(key, False, str(e))
        return None


def write_link(key: str, bench: session.Workbench, model: gan.GAN, address_bar: bool = True) -> None:
    """Put the GAN's training path into the link under ``key`` (none for the user's own points: they never leave
    the session)."""
    if bench.shared:
        ui.link_value(key, gan.path_text(model.path_), gan.path_text(bench.default_path), address_bar)


def view_key(bench: session.Workbench, model: gan.GAN, seed: int, name: str, playing: bool):
    """The key under which the figures of the session's GAN are every session's (core.ui.shared): its settings
    and data (``bench.key``), its training path and the seed of the view. A class following one lesson step
    builds them once; each student's rerun only sends them. None (the session's own) for the user's points, a GAN
    that Play is training, or a diverged one."""
    if name == "mine" or playing or model.diverged_:
        return None
    return bench.key, gan.path_text(model.path_), int(model.step_), int(seed)


# ---------------------------------------------------------------------------------------------- conditional GANs

@st.cache_resource(max_entries=4, show_spinner="Loading the conditional GAN...")
def cgan_model(name: str):
    m, rec = from_shipped(name)
    return m, rec


def live_digit_store() -> ui.ModelStore:
    """Digit cGANs trained live, by config (shared by all sessions: training is deterministic)."""
    return ui.model_store("gan_digits", 4)


@st.cache_data(max_entries=64, show_spinner=False)
def digit_samples(model_key: str, digit: int, n: int, seed_: int):
    m = live_digit_store().get(model_key) if model_key.startswith("live:") else cgan_model(model_key)[0]
    return session.digit_images(m, digit, n, seed_)


@st.cache_resource(show_spinner="Loading MNIST...")
def digit_data():
    return gan.load_data(gan.preset("mnist_cgan"))


def draw_cgan(url: ui.UrlState, seed: int):
    st.subheader("Conditional GAN: choose a label, see it generated")
    t1, t2 = st.tabs(["Ring of 8: the mode is the label", "MNIST digits: the digit is the label"])
    with t1:
        a, b_ = st.columns([1, 2.5])
        with a:
            label = url.selectbox("Mode label y", list(range(8)), key="y", container=a,
                                  help="The cGAN was trained with each ring point's mode as its label.")
            n_show = url.slider("Samples", 50, 1000, 300, key="cn", step=50, container=a)
        try:
            cm, rec = cgan_model("gan_ring8_cgan")
        except checkpoints.CheckpointError as e:
            st.warning(f"The shipped ring cGAN could not be loaded: {e}", icon=":material/error:")
            return
        ring = toy_data("ring8", session.PAGE_DEFAULT.n_data, cm.config.data_seed)
        v = session.ring_cgan_view(cm, label, n_show, seed)
        b_.plotly_chart(fig.conditional_plane(cm.box_, ring.X[::10], ring.y[::10], v["fake"], label,
                                              (v["xs"], v["xs"], v["Z"]), v["centers"],
                                              title=f"G(z | y={label}) and D(x | y={label})"), key="cgan_plane")
        a.metric(f"samples on mode {label}", f"{100 * v['on_mode']:.0f}%",
                 help="Within 3 standard deviations of the chosen mode's centre.")
        a.caption(text.RING_CGAN_CAPTION.format(command=rec["meta"].get("command", "?"), label=label))
    with t2:
        draw_digits(url, seed)


def draw_digits(url: ui.UrlState, seed: int):
    a, b_ = st.columns([1, 2.5])
    with a:
        digit = url.selectbox("Digit", list(range(10)), key="digit", container=a)
        msteps = url.selectbox("Iterations for *Train live*", text.DIGIT_STEPS, key="ms", index=3, container=a,
                               help=text.DIGIT_STEPS_HELP)
        mcfg = gan.preset("mnist_cgan", steps=msteps, seed=int(seed))
        live_key = f"live:{checkpoints.config_hash(mcfg)}"
    # a click, or a link that says this cGAN was trained live and this server does not hold it (core.ui.live's rule)
    if st.session_state.pop("_gan_mtrain", False):
        train_digits_live(mcfg, live_key, again=True)
    elif ui.link_says_trained() and live_key not in live_digit_store():
        train_digits_live(mcfg, live_key, restoring=True)
    # drawn after any training of this run: the label says what is shown
    a.button(ui.train_label(live_key in live_digit_store()), key="mtrain", icon=":material/model_training:",
             width="stretch", on_click=lambda: st.session_state.update(_gan_mtrain=True),
             help="Train the digit cGAN here with these iterations and this seed (progress below).")
    ui.mark_trained(live_key in live_digit_store())
    if live_key in live_digit_store():
        key, note = live_key, f"Trained live on this server (by you or anyone who asked for the same settings): {msteps:,} iterations, seed {seed}."
    else:
        try:
            _, rec = cgan_model("gan_mnist_cgan")
        except checkpoints.CheckpointError as e:
            b_.warning(f"The shipped digit cGAN could not be loaded: {e}  Click **Train live** to train one.",
                       icon=":material/error:")
            return
        key = "gan_mnist_cgan"
        note = f"Shipped checkpoint `gan_mnist_cgan`, made by `{rec['meta'].get('command', '?')}`."
    imgs = digit_samples(key, digit, 64, int(seed))
    b_.plotly_chart(fig.digit_grid(imgs, 8, title=f"64 samples of G(z | y={digit})"), key="digits")
    ui.download_png(np.kron(mosaic(np.asarray(imgs), ncols=8), np.ones((4, 4))),
                    {"model": key, "digit": digit, "samples": 64, "seed": int(seed)},
                    f"genlab_cgan_{digit}_seed{int(seed)}.png", label="Download these digits (PNG)", container=b_)
    a.caption(note + " G and D are MLPs on 28x28 pixels; the label enters both as a one-hot vector.")


def train_digits_live(mcfg, key: str, again: bool = False, restoring: bool = False):
    def fit(progress):
        try:
            m = gan.train(mcfg, digit_data(), callback=progress)
        except gan.TrainingDiverged as e:
            progress.done("Training diverged", ok=False)
            st.error(str(e), icon=":material/error:")
            return None
        progress.done(f"Trained {m.step_:,} iterations in {m.train_seconds_:.0f} s")
        return m

    live_digit_store().train(key, fit, steps=mcfg.steps, every=mcfg.log_every, again=again, restoring=restoring,
                             label=f"Training the digit cGAN for {mcfg.steps:,} iterations",
                             chart_keys=session.CHART_KEYS, what="this digit cGAN")
