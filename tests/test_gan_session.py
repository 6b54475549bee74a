"""Unit tests of the GAN page's session logic in core/gan.py (no Streamlit): the page's config, the user's points,
which GAN a link's training path opens and how it is restored (a fake store stands in for the server's), a Train
click, a tick of Play, the views' model calls and the texts the page quotes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core import admission, checkpoints, gan
from core import data as gdata
from core import gan_session as session
from core.steps import gan as text

TINY = gan.GANConfig(data="ring8", n_data=2000, g_width=32, d_width=32, batch_size=64, k_d=1,
                     steps=60, log_every=20, snapshot_every=20, max_snapshots=4, n_eval=400)


class Progress:
    """A progress box: records the steps reported and the closing message."""

    def __init__(self, stop_at: int | None = None):
        self.steps, self.message, self.ok, self.stop_at = [], None, None, stop_at

    def __call__(self, step, metrics):
        self.steps.append(step)
        return False

    @property
    def stopped_for_time(self):
        return self.stop_at is not None and self.steps and self.steps[-1] >= self.stop_at

    def done(self, message, ok=True):
        self.message, self.ok = message, ok


class Store:
    """The server's store of frozen states (core.ui.ModelStore's interface), training at once."""

    def __init__(self, stop_at: int | None = None):
        self.items_, self.trained, self.stop_at = {}, [], stop_at

    def items(self):
        return list(self.items_.items())

    def get(self, key, default=None):
        return self.items_.get(key, default)

    def put(self, key, value):
        self.items_[key] = value

    def train(self, key, fit, *, steps, label, every=10, chart_keys=None, what="", again=False, restoring=False):
        self.trained.append((key, steps, label))
        value = fit(Progress(self.stop_at))
        if value is not None:
            self.put(key, value)
        return value


def _weights(model):
    return [v.clone() for v in model.state_tensors(optimizer=False, snapshots=False).values()]


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(_weights(a), _weights(b)))


@pytest.fixture(scope="module")
def data():
    return gan.load_data(TINY)


def test_page_config_and_the_settings_table():
    settings = {field: session.PAGE_DEFAULT.__getattribute__(field) for row in text.SETTINGS for _, field, *_ in row}
    assert session.page_config("ring8", 0, settings) == session.PAGE_DEFAULT  # the page opens on the default preset
    cfg = session.page_config("ring8_pacgan", 3.0, {**settings, "k_d": 3.0, "pack": 2.0, "loss": "minimax"})
    assert cfg.data == "ring8_pacgan" and cfg.seed == 3 and cfg.k_d == 3 and isinstance(cfg.pack, int)
    assert cfg.n_eval == 2500 and cfg.loss == "minimax"  # PacGAN scores 2,500 samples
    assert session.page_config("mine", 0, settings).data == "custom"
    assert session.comparable(cfg.replace(steps=7)) == session.comparable(cfg)
    fields = {f for row in text.SETTINGS for _, f, *_ in row}
    assert fields <= set(gan.GANConfig.__dataclass_fields__) and len(fields) == 17
    for row in text.SETTINGS:  # every default of a selectbox is among its choices
        for key, field, _, choices, _ in row:
            if isinstance(choices, list):
                assert getattr(session.PAGE_DEFAULT, field) in choices, key
    assert text.VIEWS[2].keys[-1] == "trained"  # core.ui.TRAINED_KEY (core.ui imports Streamlit)
    assert set(session.SHIPPED_2D) >= set(gdata.PACGAN_SETS) and "gan_ring8" in session.SHIPPED_2D["ring8"]


def test_user_points_are_normalised_and_named_by_their_values():
    X = np.array([[float(i % 7), float(i // 7)] for i in range(40)])
    key, Xn = session.user_points(X)
    assert key.startswith("mine:") and np.abs(Xn).max() <= 2.5 + 1e-9
    assert session.user_points(X)[0] == key and session.user_points(X * [1, 2])[0] != key
    with pytest.raises(gdata.DataError):
        session.user_points(np.ones((40, 2)))  # points that do not spread


def test_workbench_opens_fresh_and_restores_a_link_by_training_along_its_path(data):
    store = Store()
    bench = session.Workbench(TINY, data, "toy:ring8:x", store)
    slot = bench.open(None, None, None)  # no shipped GAN for these settings: untrained
    assert slot["model"].step_ == 0 and slot["origin"]["step"] == 0 and slot["target"] is None
    assert session.status_text(slot).startswith("Untrained")
    target = [("both", 40), ("d", 10)]
    slot = bench.open(slot, None, target)  # a link names a GAN: trained again here, deterministically
    m = slot["model"]
    assert m.path_ == target and slot["target"] is None and "Restored from the link" in session.status_text(slot)
    ref = gan.GAN(TINY)
    ref.fit(data, 40)
    ref.fit(data, 10, phase="d")
    assert _same(m, ref)
    assert store.trained[0][0] == "toy:ring8:x|40-d10" and "from untrained to iteration 50" in store.trained[0][2]
    assert "toy:ring8:x|40-d10" in store.items_  # kept for the next session with that link
    again = session.Workbench(TINY, data, "toy:ring8:x", store).open(None, None, target)
    assert "this server already held" in session.status_text(again) and _same(again["model"], m)
    on = bench.open(None, None, target + [("both", 20)])  # further: trained on from the stored state
    assert "from iteration 50, trained on this server" in store.trained[-1][2]
    session.run_training(ref, data, 20)
    assert _same(on["model"], ref)
    assert bench.open(slot, None, target) is slot  # the same link again keeps the session's GAN
    assert bench.open(slot, "reset", None)["model"].step_ == 0


def test_a_restore_stopped_by_the_time_cap_is_kept_and_goes_on(data):
    store = Store(stop_at=20)
    bench = session.Workbench(TINY, data, "k", store)
    target = [("both", 40), ("g", 10)]
    slot = bench.open(None, None, target)
    assert slot["model"].path_ == [("both", 40)] and slot["target"] == target  # the first chunk ran, then the cap
    assert "k|40" in store.items_
    store.stop_at = None
    slot = bench.open(slot, "restore", target)
    assert slot["model"].path_ == target and slot["target"] is None


def test_shipped_settings_open_on_the_checkpoint_and_remember_stores_what_was_trained(data):
    state = checkpoints.load(checkpoints.shipped("gan_ring8"))
    cfg = gan.from_checkpoint(*state).config
    store = Store()
    bench = session.Workbench(cfg, gan.load_data(cfg), "toy:ring8:s", store, shipped=("gan_ring8", state))
    assert bench.default_path == session.shipped_path(state[1]) and sum(n for _, n in bench.default_path) >= 1000
    slot = bench.open(None, None, None)
    assert slot["model"].path_ == bench.default_path and not store.trained
    assert session.status_text(slot).startswith("Opened trained: shipped checkpoint `gan_ring8`")
    bench.remember(slot)
    assert not store.items_  # what the settings open on is not stored again
    session.run_training(slot["model"], bench.data, 10, "d")
    bench.remember(slot)
    assert list(store.items_) == [f"toy:ring8:s|{gan.path_text(slot['model'].path_)}"]
    assert "then trained 10 more here" in session.status_text(slot)
    session.Workbench(TINY, data, "mine:1", store, shared=False).remember({**slot, "stored": None})
    assert len(store.items_) == 1  # the user's own points never leave the session


def test_train_click_and_divergence(data):
    m = gan.GAN(TINY)
    m.fit(data, 0)
    p = Progress()
    session.train_click(m, data, 40, p)
    assert m.step_ == 40 and p.ok and p.message.startswith("Trained 40 iterations") and p.steps[-1] == 40
    assert session.train_label(TINY.replace(k_d=3), 500) == "Training 500 iterations (3 D steps + 1 G step each)"
    assert session.progress_every(TINY, 100) == 20 and session.progress_every(TINY, 4000) == 200
    bad = gan.GAN(TINY.replace(lr_d=10.0, lr_g=10.0, activation="relu"))
    p = Progress()
    session.train_click(bad, data, 400, p)
    assert bad.diverged_ and p.ok is False and p.message == "Training diverged"
    step = bad.step_
    session.run_training(bad, data, 20)  # a diverged GAN trains no more
    assert bad.step_ == step


def test_play_tick_trains_within_its_slot_and_says_when_it_cannot(data):
    m = gan.GAN(TINY)
    m.fit(data, 0)
    gate, slot = admission.Gate(n=1, seconds=30.0), {}
    assert session.play_tick(m, data, slot, gate, 0.05) is None
    assert m.step_ > 0 and m.step_ % TINY.log_every == 0 and 0 < slot["played_s"] < 30 and gate.free() == 1
    with gate.enter("another"):
        assert session.play_tick(m, data, slot, gate, 0.05) == "busy"
    slot["played_s"] = 30.0
    assert session.play_tick(m, data, slot, gate, 0.05) == "cap"
    assert set(text.PLAY_SAYS) == {"busy", "cap"}


def test_current_view_and_the_texts_the_page_quotes(data):
    m = gan.train(TINY, data)
    v = session.current_view(m, 3)
    assert v["Z"].shape == (60, 60) and v["z"].shape == (500, TINY.noise_dim) and v["fake"].shape == (500, 2)
    assert v["manifold"].shape == (15, 15, 2) and v["arrows"][0].shape == (150, 2)
    assert np.array_equal(v["fake"], session.current_view(m, 3)["fake"])  # the same seed, the same view
    assert not np.array_equal(v["fake"], session.current_view(m, 4)["fake"])
    rows = session.curve_metrics(m.metrics)
    assert [r[0] for r in rows] == ["mean D(real)", "mean D(fake)", "JS from the value", "JS of grid histograms"]
    assert [r[0] for r in session.curve_metrics({}, "critic")][2] == "Wasserstein estimate"
    assert session.curve_metrics({}, "critic")[0][1] == "nan"
    h = {"step": 10, "test/modes": 3, "test/n_modes": 8, "test/hq": 0.9}
    assert session.coverage_verdict(h)[0] == "warning" and "**3 of 8**" in session.coverage_verdict(h)[1]
    assert session.coverage_verdict({**h, "test/modes": 8})[0] == "success"
    assert session.coverage_verdict({**h, "test/hq": 0.2}) is None and session.coverage_verdict({**h, "step": 0}) is None
    assert session.origin_of("fresh", 0)["short"] == "from untrained"

    def missing(ck):
        raise checkpoints.CheckpointError("gone", ck)

    assert session.measured("pacgan2", missing) == "(checkpoint `gan_ring8p_pacgan2` missing: no measured number)"
    record = {"meta": {"history": [{"step": 100, "test/modes": 8, "test/n_modes": 8, "test/hq": 0.95}]}}
    assert session.measured("pacgan2", lambda ck: record).startswith("Measured: 8/8 modes, 95 % HQ after 100")


def test_the_ring_cgan_view_and_digit_images():
    cm = gan.load_shipped("gan_ring8_cgan")
    v = session.ring_cgan_view(cm, 5, 200, 0)
    assert v["fake"].shape == (200, 2) and v["Z"].shape == (50, 50) and v["on_mode"] > 0.8
    assert len(v["centers"]) == 8
    tiny = gan.GAN(gan.preset("mnist_cgan", g_width=8, d_width=8))
    imgs = session.digit_images(tiny, 3, 4, 0)
    assert imgs.shape == (4, 28, 28) and imgs.min() >= 0 and imgs.max() <= 1
