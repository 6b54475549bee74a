"""The compare page's app layer (Streamlit-aware): its cached results, the server's store of comparisons trained
here, and a comparison's training under the server's one admission path with a live progress box."""
from __future__ import annotations

import time

import streamlit as st

from core import compare, ui
from core.viz import compare as fig


@st.cache_data(max_entries=8, show_spinner=False)
def shipped(name: str) -> compare.CompareResult:
    return compare.load_shipped(name)


@st.cache_resource(show_spinner=False)
def live_store() -> dict:
    """Results trained on this server by (data, budget, seed): shared by every session, so a class pays once."""
    return ui.BoundedStore(32)


class LiveProgress:
    """The progress callback of :func:`core.compare.compare`: a bar and the curves so far, redrawn now and then.
    It asks the comparison to stop once the server's cap on one action (the ticket's deadline) is reached."""

    def __init__(self, budget: float, box, ticket):
        self.status, self.ticket = box, ticket
        with self.status:
            self.bar = st.progress(0.0)
            self.chart = st.empty()
        self.budget, self.drawn, self.points = budget, 0.0, 0

    def __call__(self, e: dict):
        if self.ticket.expired():
            return "stop"
        now = time.perf_counter()
        n = sum(len(c) for c in e["curves"].values())
        if now - self.drawn < 0.3 and n == self.points and e["phase"] == "train":
            return None
        self.drawn, self.points = now, n
        fam = compare.LABELS.get(e["family"], "")
        text = {"train": f"{fam}: training, {e['seconds']:.1f} of {self.budget:g} s, step {e['step']:,}",
                "evaluate": f"{fam}: measuring (samples, likelihood, timing)",
                "references": "Measuring the references (KDE, training points)",
                "done": "Done"}[e["phase"]]
        self.bar.progress(min(1.0, e["fraction"]), text=text)
        if n != getattr(self, "_chart_n", -1):
            self._chart_n = n
            self.chart.plotly_chart(fig.curves_figure(e["curves"], budget=self.budget, height=300),
                                    key=f"live_curves_{n}")
        return None


def estimate_seconds(budget: float) -> float:
    """What a comparison costs, stated before it runs: four families for ``budget`` s each, then about 15 s of
    measuring (user points are thinned to ``compare.MAX_POINTS`` so this holds for any upload)."""
    return 4 * budget + 15


def train(key: tuple, config: compare.CompareConfig, points):
    """Run the comparison with a progress box, once per key on this server (a second session waits for it),
    through the server's one admission path (a slot, the time cap, released whatever ends the run)."""
    store = live_store()
    with ui.one_run_per_key(f"compare:{key}", lambda: key in store, what="exactly this comparison") as mine:
        if not mine:
            return store.get(key)
        heavy = ui.heavy(f"Training four models for {config.budget:g} s each, then measuring them",
                         estimate_s=estimate_seconds(config.budget))
        with heavy as ticket:
            progress = LiveProgress(config.budget, heavy.status, ticket)
            try:
                res = compare.compare(config, points=points, progress=progress)
            except (ValueError, RuntimeError) as e:  # bad points, or a failure inside a family's training
                heavy.status.update(label="Could not train", state="error")
                st.error(ui.escape_md(e), icon=":material/error:")
                return None
            if ticket.expired():  # the families after the cap got no training: nothing honest to show
                heavy.status.update(label=f"Stopped at the server's limit of {ticket.seconds:.0f} s per run: "
                                          "nothing kept. Try a smaller budget.", state="error")
                return None
        heavy.status.update(label=f"Trained and measured in {res.meta['wall_seconds']:.0f} s", state="complete",
                            expanded=False)
        store[key] = res
        return res
