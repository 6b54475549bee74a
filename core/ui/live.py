"""Models trained live on the server, and the one rule by which a link brings one back.

GenLab promises that a copied link reopens exactly what you saw, and that includes a model trained live. The
rule, the same on every page that trains live (the GAN; the VAE's *train my own*; flow and diffusion *Train
live*; the digit cGAN):

1. **A link names the model it shows.** Its settings and seed are the page's widgets. A model trained live adds
   how far it was trained: on the GAN page ``it``, the iterations trained so far (``it=3500``; ``n`` is only
   the iterations one Train click runs), and on the pages whose settings already hold the number of steps,
   ``trained=true``. A link without them opens on the shipped checkpoint of those settings, or on nothing
   trained, and the page says which, with the Train button next to it.
2. **Opening a link that names a trained model restores it**: from this process's store when anyone trained it
   here (a class opening the teacher's link gets it at once), else by training it again, with a progress box,
   in one of the server's training slots (:class:`core.ui.TrainingProgress`), one run however many sessions
   ask at once (:class:`core.ui.one_run_per_key`). Training is deterministic on CPU for a given config, seed
   and number of steps, so it is the same model, bit for bit. Never a silent "untrained".
3. **Labels and status lines come from the model shown**, after whatever the run trained: "Retrain" once a model
   with these settings is shown, and a GAN's status names its iteration.

:class:`ModelStore` is one page's store of such models, shared by all sessions of the process (values are
read-only for sessions) and bounded in entries, the least recently used going first. :func:`link_value` and
:func:`from_link` carry the values above through the link.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import streamlit as st

from core.ui.models import TrainingProgress, one_run_per_key
from core.ui.url import _page_id, quote, url

#: The link's word that the model shown was trained live (pages whose settings hold the number of steps).
TRAINED_KEY = "trained"
_WRITTEN_KEY = "_genlab_link_written"  # (page, key) -> what this session last put in the address bar for key


class ModelStore:
    """One page's models trained live, by a key that holds everything the model depends on (data, config, seed,
    steps), shared by every session of the process: at most ``max_entries`` and, given ``sizeof`` (value ->
    bytes), at most ``max_bytes`` in all; the least recently used go first (the newest always stays), so a class
    training many configurations cannot grow the server's memory without bound."""

    def __init__(self, name: str, max_entries: int = 16, max_bytes: int | None = None, sizeof=None):
        self.name = name
        self.max_entries = max(1, int(max_entries))
        self.max_bytes, self.sizeof = max_bytes, sizeof
        self._items: OrderedDict = OrderedDict()
        self._sizes: dict = {}
        self._lock = threading.Lock()

    def __contains__(self, key) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key, default=None):
        """The value stored under ``key`` (which becomes the most recently used), or ``default``."""
        with self._lock:
            if key not in self._items:
                return default
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key, value) -> None:
        size = int(self.sizeof(value)) if self.sizeof is not None else 0
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            self._sizes[key] = size
            while len(self._items) > 1 and (len(self._items) > self.max_entries or (
                    self.max_bytes is not None and sum(self._sizes.values()) > self.max_bytes)):
                old, _ = self._items.popitem(last=False)
                self._sizes.pop(old, None)

    def items(self) -> list:
        """The (key, value) pairs now stored (a copy: other sessions may store more meanwhile)."""
        with self._lock:
            return list(self._items.items())

    def train(self, key, fit, *, steps: int, label: str, every: int = 10, chart_keys=None,
              what: str = "this exact model", again: bool = False, restoring: bool = False):
        """The model stored under ``key``; if none (or ``again``: a deliberate retrain), ``fit(progress)`` trains
        it in one of the server's slots with one progress box, and what it returns is stored under ``key``
        (None, e.g. a run that diverged, stores nothing). ``fit`` reports through ``progress`` (a
        :class:`core.ui.TrainingProgress`) and ends it with ``progress.done(...)``. ``restoring``: a link names
        this model and the server does not hold it; the box says so. Sessions asking for the same key at once
        share one run (:class:`core.ui.one_run_per_key`). Returns the model, or None."""
        if not again and key in self:
            return self.get(key)
        with one_run_per_key(f"{self.name}:{key}", lambda: key in self, what) as mine:
            if not mine:
                return self.get(key)
            if restoring:
                label = f"Restoring the model this link names (this server does not hold it yet): {label}"
            with TrainingProgress(steps, label=label, every=every, chart_keys=chart_keys) as progress:
                if restoring:
                    done = progress.done
                    progress.done = lambda message, ok=True: done(("Restored the link's model. " if ok else "")
                                                                  + message, ok)
                model = fit(progress)
            if model is not None:  # stored before the sessions waiting for this run are woken
                self.put(key, model)
        return model


@st.cache_resource(show_spinner=False)
def _stores() -> tuple[dict, threading.Lock]:
    return {}, threading.Lock()


def store(name: str, max_entries: int = 16, max_bytes: int | None = None, sizeof=None) -> ModelStore:
    """The process's :class:`ModelStore` called ``name`` (one per page and kind of model)."""
    stores, lock = _stores()
    with lock:
        if name not in stores:
            stores[name] = ModelStore(name, max_entries, max_bytes, sizeof)
        return stores[name]


def tensor_bytes(state) -> int:
    """The bytes of the tensors in a frozen state ``(tensors, record)`` (a ``sizeof`` for :func:`store`)."""
    return sum(t.numel() * t.element_size() for t in state[0].values())


# ---- the link

def link_value(key: str, value: str, default: str, address_bar: bool = True) -> None:
    """Put ``key=value`` into this view's link, the sidebar's and (``address_bar``) the browser's, left out when
    it equals ``default`` as a widget's value is. For what the page itself knows, not a widget: how far the
    model shown was trained. ``address_bar=False`` from a fragment that reruns often (a GAN playing): the
    sidebar's link follows every rerun, the address bar the next full run."""
    state = url()
    state.values[key] = (value, default)
    if not address_bar:
        return
    st.session_state.setdefault(_WRITTEN_KEY, {})[(_page_id(), key)] = value if value != default else None
    try:
        if value != default:
            if st.query_params.get(key) != value:
                st.query_params[key] = value
        elif key in st.query_params:
            del st.query_params[key]
    except Exception:  # noqa: BLE001 - the sidebar's link is right either way; the address bar follows next run
        pass


def from_link(key: str) -> str | None:
    """The value of ``key`` in the link this session was opened with (or one pasted into the address bar since),
    or None: a value the page wrote there itself, about the model it showed before, is not a request."""
    raw = url().raw.get(key)
    if raw is None:
        return None
    written = st.session_state.get(_WRITTEN_KEY, {}).get((_page_id(), key), object())
    return None if written == raw else raw


def check_link_value(key: str, ok: bool, expected: str) -> None:
    """Report a malformed ``key`` in the link with the router's other link notices (and use the default)."""
    state = url()
    if key in state.raw and not ok:
        state.problems.append(f"{quote(f'{key}={state.raw[key]}')} is not valid ({expected}); the default was used.")


def link_says_trained(key: str = TRAINED_KEY) -> bool:
    """Whether the link asks for the model of these settings as trained live (``trained=true``)."""
    raw = url().raw.get(key)
    check_link_value(key, raw in (None, "true", "false"), "true or false")
    return from_link(key) == "true"


def mark_trained(flag: bool, key: str = TRAINED_KEY) -> None:
    """Say in the link whether the model shown was trained live (``trained=true``), so the link brings it back."""
    link_value(key, "true" if flag else "false", "false")


def train_label(trained: bool, first: str = "Train live") -> str:
    """The Train button's label, from the model shown: "Retrain" once a model with these settings is shown."""
    return "Retrain" if trained else first
