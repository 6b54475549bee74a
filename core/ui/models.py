"""Models and heavy work shared by the sessions of one process: bounded stores, figures built once per
settings, the server's training slots (core.admission) with one progress box, one run per model key."""
from __future__ import annotations

import threading

import streamlit as st

from core.ui.url import _page_id


class BoundedStore(dict):
    """A dict that forgets its oldest entries beyond ``max_entries``: for the server-wide stores of
    live-trained models and uploaded point sets (``st.cache_resource`` returns one per process), so a
    class training many configurations cannot grow the server's memory without bound."""

    def __init__(self, max_entries: int = 32):
        super().__init__()
        self.max_entries = max(1, int(max_entries))

    def __setitem__(self, key, value):
        if key in self:
            super().pop(key)
        super().__setitem__(key, value)
        while len(self) > self.max_entries:
            super().pop(next(iter(self)))


# ---- figures and numbers built once per process


@st.cache_resource(max_entries=512, show_spinner=False)
def _shared(page: str, name: str, key, _build):
    out = _build()
    try:
        from plotly.basedatatypes import BaseFigure
    except ImportError:  # plotly is a requirement; this only keeps the helper generic
        return out
    import plotly.io as pio

    def wire(v):
        # a figure is kept in its wire form (numpy arrays already as plotly's base64 typed arrays): st.plotly_chart
        # then only copies and dumps strings on every open, 2.5 -> 1.5 ms a chart here
        return pio.from_json(pio.to_json(v, validate=False), skip_invalid=True) if isinstance(v, BaseFigure) else v

    return tuple(wire(v) for v in out) if isinstance(out, tuple) else wire(out)


def shared(name: str, key, build):
    """What ``build()`` returns (a figure, a view's numbers), built once per process for this page, ``name`` and
    settings ``key``, then shared read-only by every session that asks for the same: a class of 30 opening one
    lesson link builds its figures once, and each open only sends them. ``key`` must hold every setting the
    result depends on (a config dataclass, a tuple of widget values); nothing may change the result later.
    ``key`` None: the result is this session's own (a model only it has, or one that changes while it plays), built
    on every call. A tuple's figures are kept in wire form too."""
    return build() if key is None else _shared(_page_id(), name, key, build)


# ---- heavy actions: one admission path (core.admission), drawn

def _admit(what: str, box):
    """A ticket from the server's gate for ``what``, drawn in ``box`` (an ``st.status``): "queued" while
    every slot is taken; after 5 minutes the box says the server is busy and the run stops (``st.stop``)."""
    from core import admission

    gate = admission.gate()
    ticket = gate.try_enter(what)
    if ticket is not None:
        return ticket
    with box:
        note = st.empty()
        note.info(f"Queued: the server already runs {gate.n} heavy action{'s' if gate.n > 1 else ''} (its limit). "
                  "Yours starts as soon as one finishes.", icon=":material/hourglass_top:")
        try:
            ticket = gate.enter(what, wait=300)
        except admission.Busy:
            box.update(label="The server is busy: no slot freed up in 5 minutes. Try again later; what is shown "
                             "stays as it was.", state="error")
            st.stop()
        try:
            note.empty()  # any st call may raise Streamlit's stop (the tab closed): never leave with the slot held
        except BaseException:
            ticket.release()
            raise
    return ticket


class heavy:
    """``with ui.heavy("Measuring the trade-off", estimate_s=...) as ticket:`` -- any heavy action that is not a
    step-by-step training (those use :class:`TrainingProgress`): refused with a clear message when its stated
    estimate exceeds the server's cap on one action, queued for a slot, the slot released whatever ends the
    block. Loops inside ask ``ticket.expired()`` to stop at the time cap. ``label`` heads an ``st.status`` box."""

    def __init__(self, label: str, estimate_s: float | None = None):
        self.label, self.estimate_s, self.ticket = label, estimate_s, None

    def __enter__(self):
        from core import admission

        if self.estimate_s is not None:
            try:
                admission.check_cost(self.estimate_s, self.label)
            except admission.TooCostly as e:
                st.error(str(e), icon=":material/timer_off:")
                st.stop()
        self.status = st.status(self.label, expanded=True)
        self.ticket = _admit(self.label, self.status)
        return self.ticket

    def __exit__(self, exc_type, exc, tb):
        if self.ticket is not None:
            self.ticket.release()
        self.status.update(state="error" if exc_type is not None else "complete", expanded=False)
        return False


def max_action_seconds() -> float:
    """The server's cap on one heavy action, in seconds (``GENLAB_MAX_TRAIN_SECONDS``)."""
    from core import admission

    return admission.gate().seconds


@st.cache_resource(show_spinner=False)
def _runs_in_flight():
    """Process-wide: live trainings running now, by the key of what they will store -> threading.Event."""
    return {}, threading.Lock()


class one_run_per_key:
    """``with ui.one_run_per_key(key, ready) as mine:`` -- one live training per identical configuration.

    When a class clicks *Train live* on the same preset at once, every session would train the same model
    and queue for the server's few training slots. Instead the first session trains (``mine`` is True) and
    the others wait for it with a message, then use what it stored (``mine`` is False once ``ready()``
    says the result is there). If that run failed or took too long, the waiting session trains itself.
    Models are stored in the page's shared store, read-only for sessions, so waiting sessions share one.
    """

    def __init__(self, key: str, ready, what: str = "this exact model"):
        self.key, self.ready, self.what = key, ready, what
        self.event = None

    def __enter__(self) -> bool:
        runs, lock = _runs_in_flight()
        with lock:
            other = runs.get(self.key)
            if other is None:
                self.event = runs[self.key] = threading.Event()
                return True
        with st.status(f"Another session is training {self.what} right now: waiting for its result instead of "
                       "training it twice.", expanded=False) as box:
            other.wait(timeout=max_action_seconds() + 60)
            if self.ready():
                box.update(label=f"Using the model another session just trained ({self.what}).", state="complete")
                return False
            box.update(label="The other session's run did not finish: training here.", state="error")
        return True

    def __exit__(self, *exc):
        if self.event is not None:
            runs, lock = _runs_in_flight()
            with lock:
                if runs.get(self.key) is self.event:
                    del runs[self.key]
            self.event.set()
        return False


class TrainingProgress:
    """``with ui.TrainingProgress(steps, label) as progress:`` -- a progress callback for core training loops,
    ``callback(step, metrics) -> stop?``, holding one of the server's slots for the length of the block.

    Drives an ``st.status`` box with ``st.progress`` and a live line chart of the metrics, redrawn every
    ``every`` steps (drawing is the slow part, so not on every step). On entry it takes a ticket from the
    server's gate (:mod:`core.admission`; "queued" while every slot is taken); on exit it gives it back,
    however the block ends: done, an exception, a rerun, or the stop Streamlit raises when the tab is closed.
    A run longer than the server's cap (``GENLAB_MAX_TRAIN_SECONDS``) is asked to stop, and the box says so.
    """

    def __init__(self, total_steps: int, label: str = "Training", every: int = 10, chart_keys=None):
        self.total = max(1, int(total_steps))
        self.every = max(1, int(every))
        self.keys = chart_keys
        self.label = label
        self.history: list[dict] = []
        self._drawn = 0
        self.stopped_for_time = False
        self.finished = False
        self.ticket = None

    def __enter__(self) -> TrainingProgress:
        self.status = st.status(self.label, expanded=True)
        self.ticket = _admit(self.label, self.status)
        try:  # __exit__ does not run when __enter__ raises: a stop raised while drawing must not keep the slot
            with self.status:
                self.bar = st.progress(0.0)
                self.chart = st.empty()
        except BaseException:
            self.ticket.release()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self.ticket is not None:
            self.ticket.release()
        if exc_type is not None and not self.finished and issubclass(exc_type, Exception):
            self.status.update(label="Training stopped by an error", state="error", expanded=True)
        return False

    def __call__(self, step: int, metrics: dict) -> bool:
        row = {"step": step, **{k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}}
        if len(self.history) < 5000:  # per-session memory stays bounded, whatever the step count
            self.history.append(row)
        if step - self._drawn >= self.every or step >= self.total:  # works for any callback interval
            self._drawn = step
            self.bar.progress(min(1.0, step / self.total), text=f"step {step:,} of {self.total:,}")
            import pandas as pd

            from core.viz.common import metric_label

            df = pd.DataFrame(self.history).set_index("step")
            if self.keys:
                df = df[[k for k in self.keys if k in df]]
            self.chart.line_chart(df.rename(columns=metric_label))  # "held-out sliced Wasserstein", not "test/swd"
        if self.ticket is not None and self.ticket.expired():
            self.stopped_for_time = True
            return True
        return False

    def done(self, message: str, ok: bool = True) -> None:
        self.finished = True
        if self.ticket is not None:
            self.ticket.release()
        if self.stopped_for_time:
            message += f" (stopped at the server's limit of {max_action_seconds():.0f} s per live run)"
        self.bar.progress(1.0)
        self.status.update(label=message, state="complete" if ok else "error", expanded=not ok)


# ---- checkpoints

def load_or_offer_training(load, train, what: str):
    """Return ``load()``; if the checkpoint is missing or corrupt, say so and offer to train it now.

    ``load`` raises ``core.checkpoints.CheckpointError``; ``train`` is called (with the user's
    click) to build the model live instead. Returns None while neither is available.
    """
    from core.checkpoints import CheckpointError

    try:
        return load()
    except CheckpointError as e:
        st.warning(f"The shipped {what} could not be loaded: {e}", icon=":material/error:")
        if st.button(f"Train the {what} now", icon=":material/model_training:", key=f"train_now_{what}"):
            return train()
        return None

