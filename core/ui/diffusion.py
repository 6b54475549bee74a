"""The diffusion page's app layer: Streamlit's caches over core.diffusion (the shipped models, the data and each
view's numbers, keyed by the widgets' values), and the 2-D models trained live on this server."""
from __future__ import annotations

import streamlit as st

from core import diffusion, ui
from core.checkpoints import CheckpointError, config_hash
from core.steps import diffusion as text
from core.steps.diffusion import LATENT, PIXEL, SAMPLER_LABELS, SHIPPED_2D


@st.cache_resource(max_entries=6, show_spinner="Loading the trained model...")
def shipped(name: str):
    return diffusion.load_shipped(name)


def live_store() -> ui.ModelStore:
    """Live-trained 2-D models by config hash (shared by all sessions: training is deterministic per config)."""
    return ui.model_store("diffusion", 8)


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
    return diffusion.noised_digits(digits().x_test[:n], t, kind, seed)


@st.cache_data(max_entries=8, show_spinner=False)
def chain_strip(kind: str, seed: int, every: int = 100):
    return diffusion.chain_strip(digits().x_test[:1], kind, seed, every)


@st.cache_data(max_entries=32, show_spinner=False)
def forward_points(name: str, t: int, kind: str, seed: int, copies: int = 20):
    return diffusion.forward_points(points(name).x_test, t, kind, seed, copies)


@st.cache_data(max_entries=16, show_spinner="Running the reverse process...")
def traj_2d(_m, key: str, sampler: str, steps: int, seed: int, n: int = 600):
    return diffusion.trajectory_frames(_m, sampler, steps, seed, n)


@st.cache_data(max_entries=8, show_spinner="Comparing samplers from the same noise...")
def compare_2d(_m, key: str, name: str, seed: int, n: int = 500):
    rows, clouds = diffusion.compare_samplers_2d(_m, points(name).x_test.numpy(), seed, n)
    return rows, {f"{SAMPLER_LABELS[s]} {k}": x for (s, k), x in clouds.items()}


@st.cache_data(max_entries=12, show_spinner="Running the U-Net through the reverse process...")
def traj_digits(sampler: str, steps: int, seed: int, n: int):
    return diffusion.recorded_digits(shipped(PIXEL), n, sampler, steps, seed)


@st.cache_data(max_entries=12, show_spinner="Continuing from that step...")
def continue_digits(sampler: str, steps: int, seed: int, n: int, k: int, sampler2: str, steps2: int):
    t, x, _, _, _ = traj_digits(sampler, steps, seed, n)
    return diffusion.continue_digits(shipped(PIXEL), x[k], t[k], sampler2, steps2, seed)


@st.cache_data(max_entries=8, show_spinner="Denoising at several noise levels...")
def denoise_levels(seed: int, n: int = 6):
    return diffusion.denoise_levels(shipped(PIXEL), digits().x_test[8: 8 + n], seed)


@st.cache_data(max_entries=8, show_spinner="Sampling in pixel space and in latent space...")
def pixel_vs_latent(seed: int, steps: int, n: int = 16):
    return {name: diffusion.timed_sample(shipped(name), n, seed, "ddim", steps) for name in (PIXEL, LATENT)}


@st.cache_data(max_entries=8, show_spinner="Comparing samplers on the latent digit model...")
def compare_digits(seed: int, n: int = 16):
    runs = [(s, k, *diffusion.timed_sample(shipped(LATENT), n, seed, s, k)) for s, k in diffusion.RUNS_DIGITS]
    return ([{"sampler": s, "steps": k, "seconds": secs} for s, k, _, secs in runs],
            {f"{SAMPLER_LABELS[s]} {k}": x for s, k, x, _ in runs})


# ---- the 2-D models

def model_2d(cfg: diffusion.DiffusionConfig) -> tuple:
    """(model, None) for the 2-D model of ``cfg``, live-trained if trained here, else shipped if it is a shipped
    config; (None, None) without one; (None, error) when its shipped checkpoint fails to load (to be said, not
    hidden)."""
    if config_hash(cfg) in live_store():
        return live_store().get(config_hash(cfg)), None
    try:
        m = shipped(SHIPPED_2D[cfg.data]) if cfg.data in SHIPPED_2D else None
    except CheckpointError as e:
        return None, e
    return (m if m is not None and diffusion.same_model(m, cfg) else None), None


def model_key(m) -> str:
    return config_hash(m.config) + f":{m.step_}"


def trained_here(cfg: diffusion.DiffusionConfig) -> bool:
    return config_hash(cfg) in live_store()


def train_live(cfg: diffusion.DiffusionConfig, again: bool = False, restoring: bool = False):
    """Train ``cfg`` with a progress box and keep it for every session (``again``: even if it is kept already).
    Returns the model or None. Sessions asking for the same model at once share one run (core.ui.live)."""

    def fit(progress):
        try:
            m = diffusion.train(cfg, points(cfg.data), callback=diffusion.with_last_test(progress))
        except diffusion.TrainingDiverged as e:
            progress.done("Training diverged", ok=False)
            st.error(f"{e}", icon=":material/error:")
            return None
        h = m.history_[-1]
        progress.done(text.TRAINED.format(steps=m.step_, seconds=m.train_seconds_, loss=h["test/loss"],
                                          swd=h.get("test/swd", float("nan"))))
        return m

    return live_store().train(config_hash(cfg), fit, steps=cfg.steps, every=100, again=again,
                              label=f"Training eps_theta for {cfg.steps:,} steps (Algorithm 1)", restoring=restoring,
                              chart_keys=["train/loss", "test/loss", "test/swd"], what="this exact 2-D model")
