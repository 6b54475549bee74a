"""The guided-diffusion page's app layer: Streamlit's caches over core.guided (the shipped models and each view's
numbers, keyed by the widgets' values) and the trade-off measured live on this server."""
from __future__ import annotations

import numpy as np
import streamlit as st

from core import guided
from core.steps.guided import ROW_SCALES
from core.ui.models import BoundedStore, heavy


@st.cache_resource(show_spinner="Loading the guided model, its classifier and the evaluator...")
def models():
    """(model, noise-aware classifier, evaluator), loaded once per process; raises CheckpointError."""
    return guided.load(), guided.load_classifier(), guided.load_evaluator()


@st.cache_resource(max_entries=1, show_spinner=False)
def test_digits():
    return guided.load_data(16)


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
    m, c, _ = models()
    return guided.classifier_gradients(m, c, test_digits(), digit, t, seed)


@st.cache_data(max_entries=8, show_spinner="Running both branches of the network...")
def cfg_parts(digit: int, t: int, scale: float, seed: int, n: int = 4):
    return guided.cfg_parts(models()[0], test_digits(), digit, t, scale, seed, n)


@st.cache_resource(show_spinner=False)
def measured() -> dict:
    """Trade-off tables measured on this server, by settings (shared by every session: sampling is deterministic);
    the 8 most recent are kept."""
    return BoundedStore(8)


def measure_estimate(settings: dict) -> float | None:
    return guided.measure_estimate(settings, guided.load_table())


class _OverTime(Exception):
    pass


def measure(settings: dict) -> list[dict] | None:
    """The trade-off for settings other than the shipped table's, measured now with a progress bar, through
    the server's admission path (a slot, the time cap); None when it was stopped at the cap."""
    m, c, ev = models()
    box = heavy("Measuring the trade-off: every digit at every scale", estimate_s=measure_estimate(settings))
    with box as ticket:
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
            box.status.update(label=f"Stopped at the server's limit of {ticket.seconds:.0f} s per run: nothing "
                                    "kept. Fewer samples per digit or fewer steps measure faster.", state="error")
            return None
        finally:
            bar.empty()
    measured()[repr(sorted(settings.items()))] = rows
    return rows
