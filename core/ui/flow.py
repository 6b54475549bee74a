"""The flow page's app layer: Streamlit's caches over core.flow (the toy sets and the user's points, the shipped
and the live-trained flows, each view's numbers, keyed by the model, the data and the widgets' values), live
training with its progress box, and which flow the page shows."""
from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from core import checkpoints, flow, ui
from core.steps import flow as text
from core.ui.models import BoundedStore
from core.viz import flow as fig

N_POINTS = 6000  # the toy sets: 4,000 training and 2,000 test points, data seed 0 (as the shipped checkpoints)
POINTS_KEY = "_flow_points"  # where ui.points_editor("flow", ...) keeps them


@st.cache_data(max_entries=8, show_spinner=False)
def toy_data(name: str):
    return flow.make_data(name, N_POINTS, 0)


@st.cache_resource(max_entries=8, show_spinner="Loading the trained flow...")
def shipped(name: str):
    return flow.load_shipped(name)


def live_store() -> ui.ModelStore:
    """Live-trained flows by data and config (shared by all sessions: training is deterministic)."""
    return ui.model_store("flow", 16)


@st.cache_resource(show_spinner=False)
def user_data_store() -> dict:
    """User point sets by content hash, so the cached figures below can find them by key."""
    return BoundedStore(32)


def model_for(key: str):
    if key.startswith("live:"):
        return live_store().get(key)
    return shipped(key.split(":", 1)[1])


def get_data(data_key: str):
    if data_key.startswith("toy:"):
        return toy_data(data_key[4:])
    return user_data_store()[data_key]


def user_data_key(X_user: np.ndarray, seed: int) -> str:
    """The key of the user's points (split with ``seed``), kept in a bounded store so that memory stays bounded
    on a shared server; raises ``core.data.DataError`` for degenerate points (all at one spot or on one line)."""
    data_key = f"mine:{hashlib.sha1(X_user.tobytes()).hexdigest()[:16]}:{seed}"
    store = user_data_store()
    if data_key not in store:
        store[data_key] = flow.split_points(X_user, seed=seed)
    return data_key


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
    to_data = direction == "to_data"
    start = flow.warp_start(m, seed, None if to_data else get_data(data_key)[1])
    colors, lines = fig.warp_grid(start, m.base is None, None if to_data else box)
    states, line_states, mean_logdet = flow.warps(m, start, lines, direction)
    return states, colors, line_states, mean_logdet


@st.cache_data(max_entries=32, show_spinner=False)
def scores(model_key: str, data_key: str, seed: int, n_out: int, box: tuple):
    Xtr, Xte = get_data(data_key)
    out = fig.uniform_points(box, n_out, seed + 7)
    return (*flow.anomaly_scores(model_for(model_key), Xtr, Xte, out), out)


def train_live(cfg: flow.FlowConfig, data, key: str, again: bool = False, restoring: bool = False):
    """Train ``cfg`` with a progress box and keep it for every session (``again``: even if it is kept already).
    Returns the model or None. Sessions asking for the same model at once share one run (core.ui.live)."""

    def fit(progress):
        try:
            m = flow.train(cfg, data, callback=progress)
        except flow.TrainingDiverged as e:
            progress.done("Training diverged", ok=False)
            st.error(f"{e.reason} Nothing was kept; try a smaller learning rate.", icon=":material/error:")
            return None
        h = m.history_[-1]
        progress.done(f"Trained {m.step_:,} steps in {m.train_seconds_:.1f} s: test NLL {h['test/nll']:.3f} nats")
        return m

    return live_store().train(key, fit, steps=cfg.steps, again=again,
                              every=max(cfg.eval_every, (cfg.steps // 25) // cfg.eval_every * cfg.eval_every),
                              label=f"Training a {cfg.n_layers}-layer flow for {cfg.steps:,} steps",
                              restoring=restoring,
                              chart_keys=["train/nll", "test/nll"], what="this exact flow")


def train_if_asked(cfg: flow.FlowConfig, data, live_key: str, from_link: bool) -> None:
    """Train on a click of the train button (its on_click sets ``_flow_train``: the request survives a rerun that
    happens before the page runs), or, ``from_link``, when the link says this flow was trained live and this server
    does not hold it (core.ui.live's rule)."""
    if st.session_state.pop("_flow_train", False):
        train_live(cfg, data, live_key, again=True)
    elif from_link and ui.link_says_trained() and live_key not in live_store():
        train_live(cfg, data, live_key, restoring=True)


def shown_flow(cfg: flow.FlowConfig, live_key: str, name: str, shipped_model) -> tuple[str | None, str, bool]:
    """Which flow the page shows: the one trained live with these settings if this server holds it, else the
    shipped one of this data set (if it loaded), else none. Returns (model key or None, the note that says which,
    whether the shown flow is the one these settings make)."""
    same_as_shipped = shipped_model is not None and cfg == shipped_model.config
    if live_key in live_store():
        return live_key, text.NOTE_LIVE.format(layers=cfg.n_layers, seed=cfg.seed), True
    if shipped_model is not None:
        note = (text.NOTE_SHIPPED.format(command=shipped_model.meta["command"]) if same_as_shipped
                else text.NOTE_SHIPPED_OTHER)
        return f"shipped:{flow.shipped_name(name)}", note, same_as_shipped
    return None, text.NOT_TRAINED, False


def samples_setting(url) -> int:
    """The "Samples to draw" of the density view, also while another view is shown: the session's value (kept
    across views), else the link's, else the default."""
    v = st.session_state.get("ns")
    if isinstance(v, int) and 100 <= v <= 5000:
        return v
    raw = url.raw.get("ns", "")
    return int(raw) if raw.isdigit() and 100 <= int(raw) <= 5000 else 1000


def shipped_for(name: str):
    """The shipped flow of toy set ``name`` and None, or None and the ``CheckpointError`` that kept it from loading."""
    try:
        return shipped(flow.shipped_name(name)), None
    except checkpoints.CheckpointError as e:
        return None, e
