"""Unit tests of core/gan.py on tiny configs (CPU, a few seconds each)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from core import checkpoints, gan
from core import data as gdata

TINY = gan.GANConfig(data="ring8", n_data=2000, g_width=32, d_width=32, batch_size=64, k_d=1,
                     steps=60, log_every=20, snapshot_every=20, max_snapshots=4, n_eval=400)


def _data(cfg=TINY):
    return gan.load_data(cfg)


def _weights(model):
    return {k: v.clone() for k, v in model.state_tensors(optimizer=False, snapshots=False).items()}


# ----------------------------------------------------------------------------- the game

def test_discriminator_learns_real_from_fake_with_g_fixed():
    cfg = TINY.replace(lr_d=2e-3)
    data = _data(cfg)
    model = gan.train(cfg, data, until=0)
    g_before = _weights(model)
    start = model.evaluate()
    model.fit(data, 300, phase="d")
    end = model.evaluate()
    # G untouched, D now separates: high on real, low on fake
    for k, v in _weights(model).items():
        if k.startswith("G."):
            assert torch.equal(v, g_before[k]), k
    assert abs(start["d_real"] - start["d_fake"]) < 0.2
    assert end["d_real"] > 0.85 and end["d_fake"] < 0.15, end
    assert end["js_value"] > start["js_value"] + 0.3   # a better D gives a larger JS estimate
    assert model.d_steps_ == 300 and model.g_steps_ == 0


@pytest.mark.parametrize("loss", gan.LOSSES)
def test_generator_step_raises_d_of_fake(loss):
    cfg = TINY.replace(loss=loss, lr_g=5e-3)
    data = _data(cfg)
    model = gan.train(cfg, data, until=0).fit(data, 200, phase="d")    # D first learns to reject the fakes
    d_before = _weights(model)
    before = model.evaluate()
    model.fit(data, 5, phase="g")  # then only G moves
    after = model.evaluate()
    for k, v in _weights(model).items():
        if k.startswith("D."):
            assert torch.equal(v, d_before[k]), k
    assert after["d_fake"] > before["d_fake"], (before["d_fake"], after["d_fake"])


def test_generator_gradient_arrows_point_uphill_on_d():
    cfg = TINY
    data = _data(cfg)
    model = gan.train(cfg, data, until=0).fit(data, 150, phase="d")
    x, v = model.g_gradients(n=300, seed=3)
    assert x.shape == v.shape == (300, 2)
    step = 0.01 * v / (np.linalg.norm(v, axis=1, keepdims=True) + 1e-12)
    assert (model.discriminate(x + step) >= model.discriminate(x)).mean() > 0.9


def test_full_training_learns_the_ring():
    """Not a tiny run: the default preset must spread over the ring (coverage grows, JS falls)."""
    cfg = gan.preset("converges", steps=1200, log_every=100)
    model = gan.train(cfg)
    first, last = model.history_[0], model.history_[-1]
    assert last["test/modes"] >= 4 and last["test/hq"] > 0.3, last
    assert last["test/js_hist"] < first["test/js_hist"] - 0.2


# ----------------------------------------------------------------------------- determinism and resuming

def test_same_config_and_seed_give_identical_samples_and_chunks_equal_one_run():
    data = _data()
    a = gan.train(TINY, data)
    b = gan.train(TINY, data)
    assert np.array_equal(a.sample(500, seed=7), b.sample(500, seed=7))
    c = gan.train(TINY, data, until=25)
    gan.train(TINY, data, model=c)
    assert np.array_equal(a.sample(500, seed=7), c.sample(500, seed=7))
    strip = lambda h: [{k: v for k, v in m.items() if k != "seconds"} for m in h]
    assert strip(a.history_) == strip(c.history_)
    d = gan.train(TINY.replace(seed=1), data)
    assert not np.array_equal(a.sample(500, seed=7), d.sample(500, seed=7))
    assert not np.array_equal(a.sample(500, seed=7), a.sample(500, seed=8))


def test_the_training_path_names_the_model():
    """A model records the (phase, iterations) chunks it was trained with; a fresh model trained along the same
    path, in other chunks, has the same weights; the path's text is what a link carries."""
    data = _data()
    a = gan.GAN(TINY)
    a.fit(data, 25)
    a.fit(data, 15)
    a.fit(data, 10, phase="d")
    a.fit(data, 5, phase="g")
    a.fit(data, 0)
    a.fit(data, 20)
    assert a.path_ == [("both", 40), ("d", 10), ("g", 5), ("both", 20)] and a.step_ == 75
    assert gan.path_text(a.path_) == "40-d10-g5-20" and gan.parse_path("40-d10-g5-20") == a.path_
    b = gan.GAN(TINY)
    for phase, n in gan.parse_path("40-d10-g5-20"):
        b.fit(data, n, phase=phase)
    assert all(torch.equal(x, y) for x, y in zip(_weights(a).values(), _weights(b).values()))
    # a callback that stops a chunk: the path holds what ran
    c = gan.GAN(TINY)
    c.fit(data, 500, callback=lambda step, m: step >= 20)
    assert c.path_ == [("both", 20)]
    assert gan.path_text([]) == "0" and gan.parse_path("0") == [] and gan.parse_path("10-10") == [("both", 20)]
    for bad in ("abc", "-5", "10--5", "d", "x10", "1.5", "10-0", "1" * 12):
        with pytest.raises(ValueError):
            gan.parse_path(bad)
    with pytest.raises(ValueError, match="at most"):
        gan.parse_path("5000", max_iterations=4000)
    assert gan.path_rest(a.path_, [("both", 30)]) == [("both", 10), ("d", 10), ("g", 5), ("both", 20)]
    assert gan.path_rest(a.path_, [("both", 40), ("d", 10)]) == [("g", 5), ("both", 20)]
    assert gan.path_rest(a.path_, a.path_) == [] and gan.path_rest(a.path_, []) == a.path_
    assert gan.path_rest(a.path_, [("both", 50)]) is None and gan.path_rest(a.path_, [("d", 5)]) is None


def test_a_frozen_state_rebuilds_independent_models():
    """gan.state_of: what the page's store keeps of a session's GAN while the session trains on."""
    data = _data()
    a = gan.train(TINY.replace(steps=30), data)
    state = gan.state_of(a)
    b = gan.from_checkpoint(*state)
    a.fit(data, 20)  # the original trains on: the frozen state does not move with it
    c = gan.from_checkpoint(*state)
    assert b.step_ == c.step_ == 30 and b.path_ == [("both", 30)]
    assert all(torch.equal(x, y) for x, y in zip(_weights(b).values(), _weights(c).values()))
    b.fit(data, 20)  # and a model rebuilt from it resumes exactly as the original went on
    assert all(torch.equal(x, y) for x, y in zip(_weights(a).values(), _weights(b).values()))


def test_training_leaves_global_rng_alone():
    torch.manual_seed(123)
    ref = torch.rand(3)
    torch.manual_seed(123)
    gan.train(TINY.replace(steps=10), _data())
    assert torch.equal(torch.rand(3), ref)


def test_callback_stops_training_and_sees_metrics():
    seen = []

    def cb(step, m):
        seen.append((step, m))
        return "stop" if step >= 20 else None

    model = gan.train(TINY.replace(steps=500), _data(), callback=cb)
    assert model.step_ == 20
    assert [s for s, _ in seen] == [0, 20]
    m = seen[-1][1]
    for key in ("train/d_loss", "train/g_loss", "test/d_real", "test/d_fake", "test/value", "test/js_value",
                "test/js_hist", "test/modes", "test/hq", "test/mode_counts"):
        assert key in m, key
    assert m["test/n_modes"] == 8 and len(m["test/mode_counts"]) == 8
    assert math.isclose(m["test/js_value"], (m["test/value"] + math.log(4)) / 2)
    assert {k.split("/")[0] for k in m} == {"train", "test"}  # the protocol's keys only


def test_snapshots_thin_out_and_keep_the_timeline():
    model = gan.train(TINY.replace(steps=200), _data())
    snaps = model.snapshots_
    assert 1 < len(snaps) <= TINY.max_snapshots
    steps = [s.step for s in snaps]
    assert steps == sorted(steps) and steps[0] == 0
    s = snaps[-1]
    assert s.samples.shape == (400, 2) and s.heat.shape == (40, 40) and s.manifold.shape == (15, 15, 2)
    assert ((s.heat > 0) & (s.heat < 1)).all()


# ----------------------------------------------------------------------------- conditional GAN

def test_tiny_cgan_puts_samples_on_the_requested_mode():
    cfg = gan.GANConfig(data="ring8", n_data=4000, n_classes=8, g_width=32, d_width=32, batch_size=64,
                        k_d=1, lr_d=2e-3, lr_g=2e-3, steps=1200, log_every=300, snapshot_every=600, n_eval=400)
    model = gan.train(cfg)
    centers, _ = gdata.mixture_modes("ring8")
    for label in (0, 3, 6):
        x = model.sample(200, seed=label, y=label)
        nearest = np.linalg.norm(x[:, None] - centers[None], axis=2).argmin(1)
        assert (nearest == label).mean() > 0.8, (label, np.bincount(nearest, minlength=8))


def test_cgan_embedding_conditioning_and_label_checks():
    cfg = TINY.replace(n_classes=8, conditioning="embedding", steps=5)
    model = gan.train(cfg, _data(cfg))
    assert model.sample(10, seed=0, y=2).shape == (10, 2)
    assert model.sample(10, seed=0).shape == (10, 2)
    with pytest.raises(ValueError, match="Labels"):
        model.sample(10, seed=0, y=8)
    with pytest.raises(ValueError, match="labels"):
        gan.train(cfg, gan.make_data(_data(cfg).X))


# ----------------------------------------------------------------------------- divergence

def test_nan_training_is_reported_not_hidden():
    data = _data()
    model = gan.train(TINY.replace(steps=10), data)
    with torch.no_grad():
        model.G.mlp[0].weight[0, 0] = float("nan")
    with pytest.raises(gan.TrainingDiverged) as e:
        gan.train(TINY.replace(steps=10), data, model=model, until=40)
    # the losses are checked at every iteration (core.training.loop): the first one with a NaN loss, iteration 10
    assert "nan" in str(e.value) and e.value.model is model and e.value.step == 10
    assert model.history_[-1]["diverged"]
    with pytest.raises(gan.TrainingDiverged):  # a diverged model refuses to continue silently
        model.fit(data, 1)


@pytest.mark.parametrize("lr", [10.0, 1e12])
def test_huge_learning_rate_diverges_with_a_clear_reason(lr):
    # ReLU-type networks blow up (tanh ones saturate instead: bounded garbage, no NaN)
    cfg = TINY.replace(lr_d=lr, lr_g=lr, activation="leaky_relu", steps=400)
    with pytest.raises(gan.TrainingDiverged, match="learning rate") as e:
        gan.train(cfg, _data(cfg))
    assert any(w in e.value.reason for w in ("nan", "inf", "exploded")), e.value.reason


def test_zero_learning_rate_changes_nothing():
    cfg = TINY.replace(lr_d=0.0, lr_g=0.0, steps=20)
    data = _data(cfg)
    m0 = gan.train(cfg, data, until=0)
    w0 = _weights(m0)
    gan.train(cfg, data, model=m0)
    for k, v in _weights(m0).items():
        assert torch.equal(v, w0[k]), k


# ----------------------------------------------------------------------------- checkpoints

def test_checkpoint_round_trip_is_bit_identical_and_resumes_exactly(tmp_path):
    data = _data()
    cfg = TINY.replace(steps=30)
    model = gan.train(cfg, data)
    gan.save(model, tmp_path / "g", meta={"command": "test"})
    loaded = gan.load(tmp_path / "g")
    a, b = model.state_tensors(), loaded.state_tensors()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert np.array_equal(model.sample(100, seed=1), loaded.sample(100, seed=1))
    assert [s.step for s in loaded.snapshots_] == [s.step for s in model.snapshots_]
    assert np.array_equal(loaded.snapshots_[-1].heat, model.snapshots_[-1].heat)
    # resuming the loaded model continues exactly as the original would have
    model.fit(data, 30)
    loaded.fit(data, 30)
    assert np.array_equal(model.sample(100, seed=1), loaded.sample(100, seed=1))
    strip = lambda h: [{k: v for k, v in m.items() if k != "seconds"} for m in h]
    assert strip(model.history_) == strip(loaded.history_)


def test_models_built_from_shared_tensors_do_not_touch_them(tmp_path):
    """The page caches a checkpoint's tensors once and builds one GAN per session from them."""
    data = _data()
    gan.save(gan.train(TINY.replace(steps=30), data), tmp_path / "g")
    tensors, record = checkpoints.load(tmp_path / "g")
    pristine = {k: v.clone() for k, v in tensors.items()}
    a = gan.GAN(TINY.replace(steps=30)).load_state(tensors, record["meta"])
    gan.train(TINY.replace(steps=30), data, model=a, until=70)
    for k, v in tensors.items():
        assert torch.equal(v, pristine[k]), k
    b = gan.GAN(TINY.replace(steps=30)).load_state(tensors, record["meta"])
    gan.train(TINY.replace(steps=30), data, model=b, until=70)
    assert np.array_equal(a.sample(50, seed=0), b.sample(50, seed=0))


def test_corrupt_checkpoint_raises_checkpoint_error(tmp_path):
    model = gan.train(TINY.replace(steps=5), _data())
    path = gan.save(model, tmp_path / "g")
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(checkpoints.CheckpointError):
        gan.load(tmp_path / "g")


def test_shipped_checkpoints_load_and_are_trained():
    reg = {k: v for k, v in checkpoints.registry().items() if v["family"] == "gan"}
    assert "gan_ring8" in reg and "gan_mnist_cgan" in reg
    for name, rec in reg.items():
        assert rec["meta"]["command"].startswith("python -m core train gan ")
        model = gan.load_shipped(name, device="cpu")
        m = {k.removeprefix("test/"): v for k, v in model.metrics.items()}
        if model.config.data == "ring8" and rec["meta"].get("preset") == "mode_collapse":
            # the collapse lesson's GAN: sharp samples on a few modes only
            assert m["modes"] < 8 and m["hq"] >= 0.9, (name, m["modes"], m["hq"])
            assert gan.path_text(model.path_) == str(model.step_)  # its link's it= opens it
        elif model.config.data == "ring8":
            assert m["modes"] == 8 and m["hq"] >= 0.9, (name, m["modes"], m["hq"])
        if model.config.data == "grid25":
            assert m["modes"] >= 15 and m["hq"] >= 0.8, (name, m["modes"], m["hq"])
        preset = rec["meta"].get("preset")
        if preset in gan.PRESET_CHECKPOINTS:  # PacGAN's set-ups: made by the CLI from the preset, under its name
            assert gan.PRESET_CHECKPOINTS[preset] == name and model.config == gan.preset(preset)
        if preset == "collapse_pacgan":  # the strong D collapses on PacGAN's ring; packing fixes it (seed 0)
            assert m["modes"] < 8, m
        if preset in ("pacgan2", "ring_pacgan"):
            assert m["modes"] == 8 and m["hq"] >= 0.9, (name, m["modes"], m["hq"])
        if preset == "grid_ema":  # the moving average holds every cell of PacGAN's grid once it has them (seed 0)
            c = gan.coverage_along(model.history_)
            assert c["modes"] == 25 and c["hq"] >= 0.9 and c["modes_after_full"] == 25, (name, c)
        if model.config.x_dim == 2:  # the timeline ships with it, and the page's default settings match
            assert len(model.snapshots_) > 5 and model.snapshots_[-1].step == model.step_
        if model.config.data == "mnist":
            x = model.sample(20, seed=0, y=3)
            assert x.shape == (20, 784) and np.isfinite(x).all()


# ----------------------------------------------------------------------------- metrics and views

def test_histogram_js_and_mode_stats():
    X, _ = gdata.ring8(4000, seed=0)
    Y, _ = gdata.ring8(4000, seed=1)
    assert gan.histogram_js(X, Y, 3.0) < 0.05
    assert gan.histogram_js(X, X + 10.0, 3.0) == pytest.approx(math.log(2))
    centers, std = gdata.mixture_modes("ring8")
    s = gan.mode_stats(X, centers, std)
    assert s["modes"] == 8 and s["hq"] > 0.98 and sum(s["mode_counts"]) == pytest.approx(s["hq"] * 4000)
    one = centers[2] + 0.01 * np.random.default_rng(0).standard_normal((500, 2))
    s1 = gan.mode_stats(one, centers, std)
    assert s1["modes"] == 1 and s1["mode_counts"][2] == 500


def test_views_have_the_documented_shapes():
    model = gan.train(TINY.replace(steps=5), _data())
    assert model.d_grid(30).shape == (30, 30)
    assert model.manifold(11).shape == (11, 11, 2)
    one_d = gan.train(TINY.replace(noise_dim=1, noise="uniform", steps=5), _data())
    assert one_d.manifold(11).shape == (1, 11, 2)
    with pytest.raises(ValueError):
        model.manifold(11, dims=(0, 0))
    with pytest.raises(NotImplementedError):
        model.log_prob(np.zeros((1, 2)))


@pytest.mark.parametrize("field,value", [("loss", "hinge"), ("activation", "swish"), ("noise", "cauchy"),
                                         ("data", "faces"), ("conditioning", "film"), ("output", "relu")])
def test_bad_options_list_the_valid_choices(field, value):
    with pytest.raises(ValueError, match="valid choices"):
        gan.GANConfig(**{field: value})


@pytest.mark.parametrize("field,value", [("lr_d", -1.0), ("lr_g", float("nan")), ("beta1", 1.0), ("k_d", 0),
                                         ("batch_size", 0)])
def test_bad_numbers_are_refused(field, value):
    with pytest.raises(ValueError):
        gan.GANConfig(**{field: value})


def test_presets_exist_with_a_reason():
    for name in ("converges", "mode_collapse", "saturating", "nonsaturating"):
        cfg, why = gan.PRESETS[name]
        assert isinstance(cfg, gan.GANConfig) and len(why) > 40
    with pytest.raises(ValueError, match="valid choices"):
        gan.preset("nope")


def test_config_json_round_trip():
    cfg = gan.preset("mnist_cgan")
    assert gan.GANConfig.from_dict(json.loads(json.dumps(checkpoints._plain(cfg)))) == cfg


# ----------------------------------------------------------------------------- PacGAN's data, packing, minibatch std

@pytest.mark.parametrize("name,k,radius_or_side,std", [("ring8_pacgan", 8, 1.0, 0.01), ("grid25_pacgan", 25, 4.0, 0.05)])
def test_pacgan_data_sets_follow_the_paper(name, k, radius_or_side, std):
    X, y = gdata.toy(name, 20000, seed=0)
    assert X.shape == (20000, 2) and X.dtype == np.float32 and y.shape == (20000,)
    centers, s = gdata.mixture_modes(name)
    assert s == std and len(centers) == k and set(np.unique(y)) == set(range(k))
    if k == 8:
        assert np.allclose(np.linalg.norm(centers, axis=1), radius_or_side)
    else:
        assert sorted(set(np.round(centers[:, 0], 6))) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    resid = X - centers[y]
    assert np.allclose(resid.std(0), std, rtol=0.05) and np.allclose(resid.mean(0), 0, atol=std / 20)
    assert name in gan.DATA_SETS and name not in gdata.TOY_SETS  # beside GenLab's own sets, not among them


def test_packing_feeds_d_m_samples_concatenated_and_trains():
    cfg = TINY.replace(pack=2)
    model = gan.GAN(cfg)
    assert model.D.mlp[0].in_features == 4 and cfg.d_in == 4
    x = torch.arange(12, dtype=torch.float32).reshape(6, 2)
    p = model._packed(x)
    assert p.shape == (3, 4) and torch.equal(p[1], torch.tensor([4.0, 5.0, 6.0, 7.0]))  # samples 2 and 3 side by side
    assert model._packed(x[:5]).shape == (3, 4)  # an incomplete last pack is filled with the first samples
    data = _data(cfg)
    gan.train(cfg, data, model=model, until=0)
    first = model.evaluate()
    model.fit(data, 60, phase="d")  # a few D steps: D separates packs of real from fake
    d = model.evaluate()
    assert d["d_real"] > first["d_real"] and d["d_fake"] < first["d_fake"]
    assert model.history_[-1]["train/d_loss"] < 1.3 < math.log(4) and math.isfinite(model.history_[-1]["train/d_loss"])
    model.fit(data, 20)
    assert all(math.isfinite(h["train/g_loss"]) for h in model.history_ if h.get("train/g_loss") is not None)
    assert model.d_grid(10).shape == (10, 10) and model.g_gradients(15)[1].shape == (15, 2)


def test_minibatch_std_feature_and_d_input():
    v = torch.tensor([[0.0, 0.0], [2.0, 0.0], [5.0, 5.0], [5.0, 5.0]])
    f = gan.mbstd_feature(v, 2)
    assert f.shape == (4, 1)
    assert f[0, 0] == pytest.approx(0.5, abs=1e-3) and f[1, 0] == f[0, 0]  # std (1, 0) averaged over the coordinates
    assert f[2, 0] == pytest.approx(1e-4, rel=0.01)                # a group of identical samples: ~0
    cfg = TINY.replace(mbstd=4)
    model = gan.train(cfg, _data(cfg), until=20)
    assert model.D.mlp[0].in_features == 3 and model._mbstd_ref > 0
    assert math.isfinite(model.history_[-1]["train/d_loss"]) and model.discriminate(np.zeros((3, 2))).shape == (3,)
    with pytest.raises(ValueError):
        gan.GANConfig(mbstd=1)
    with pytest.raises(ValueError):
        gan.GANConfig(pack=2, n_classes=8)


def test_remedy_presets_exist_and_say_why():
    for name in gan.REMEDIES:
        cfg, why = gan.PRESETS[name]
        assert cfg.data in gdata.PACGAN_SETS and len(why) > 40
    assert gan.preset("pacgan2").pack == 2 and gan.preset("pacgan4").pack == 4 and gan.preset("mbstd").mbstd
    assert gan.preset("grid_ema").ema and gan.preset("grid_ema").pack == 2 and "grid_ema" in gan.PRESET_CHECKPOINTS
    # every remedy samples from G's moving average; the collapse they fix samples from G itself, and each ring remedy
    # is that collapse's strong D with one remedy and the average added, nothing else
    assert all(gan.preset(name).ema == 0.999 for name in gan.REMEDIES) and not gan.preset("collapse_pacgan").ema
    for name, change in (("pacgan2", {"pack": 1}), ("pacgan4", {"pack": 1}), ("mbstd", {"mbstd": 0})):
        assert gan.preset(name, ema=0.0, **change) == gan.preset("collapse_pacgan"), name


@pytest.mark.parametrize("name", gan.REMEDIES)
def test_shipped_remedy_checkpoints_hold_full_coverage_after_first_reaching_it(name):
    """Target 3 of the coverage bench on each remedy's shipped checkpoint (seed 0, its JSON's history): it covers every
    mode with >= 90 % HQ at some log step and never loses a mode at any later one, sampled by G's moving average."""
    record = json.loads(checkpoints.shipped(gan.PRESET_CHECKPOINTS[name]).with_suffix(".json").read_text())
    assert gan.GANConfig.from_dict(record["config"]) == gan.preset(name) and record["config"]["ema"] > 0
    c = gan.coverage_along(record["meta"]["history"])
    assert c["step"] == gan.preset(name).steps and c["full_step"] is not None, (name, c)
    assert c["modes_after_full"] == c["n_modes"] and c["full_share_after"] == 1.0, (name, c)


def test_moving_average_of_g_draws_the_samples_and_resumes_exactly(tmp_path):
    plain = gan.GAN(TINY)
    assert plain.G_ema is None and plain.sampler is plain.G and not any(k.startswith("G_ema.") for k in plain.state_tensors())
    data = _data()
    cfg = TINY.replace(ema=0.9, steps=40)  # a snapshot step (snapshot_every=20)
    model = gan.train(cfg, data)
    assert model.sampler is model.G_ema and not any(p.requires_grad for p in model.G_ema.parameters())
    # the average trails G: its weights differ from G's, and G's own training is the plain GAN's, step for step
    w, ema = dict(model.G.named_parameters()), dict(model.G_ema.named_parameters())
    assert all(not torch.equal(w[k], ema[k]) for k in w)
    base = gan.train(TINY.replace(steps=40), data)
    assert all(torch.equal(a, b) for a, b in zip(base.G.parameters(), model.G.parameters()))
    # every sample shown and scored comes from the average
    z = model.noise(50, torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert np.array_equal(model.generate(z), model.G_ema(z).numpy())
        assert not np.array_equal(model.generate(z), model.G(z).numpy())
    assert model.snapshots_[-1].step == 40
    assert np.array_equal(model.snapshots_[-1].samples, model.G_ema(model.trainer.z_eval[:500]).detach().numpy())
    # checkpoint holds the average; resuming continues exactly, chunks equal one run
    gan.save(model, tmp_path / "e", meta={"command": "test"})
    loaded = gan.load(tmp_path / "e")
    assert np.array_equal(model.sample(100, seed=1), loaded.sample(100, seed=1))
    model.fit(data, 30)
    loaded.fit(data, 30)
    once = gan.train(cfg.replace(steps=70), data)
    assert np.array_equal(model.sample(100, seed=1), loaded.sample(100, seed=1))
    assert np.array_equal(once.sample(100, seed=1), model.sample(100, seed=1))
    # a checkpoint without the average does not load as one with it
    t = {k: v for k, v in model.state_tensors().items() if not k.startswith("G_ema.")}
    with pytest.raises(checkpoints.CheckpointError):
        gan.GAN(cfg).load_state(t, model.state_meta())
    with pytest.raises(ValueError):
        gan.GANConfig(ema=1.0)


def test_gan_page_and_compare_count_modes_with_one_rule():
    from core import compare, metrics

    centers, std = gdata.mixture_modes("grid25_pacgan")
    rng = np.random.default_rng(0)
    S = np.concatenate([centers[rng.integers(0, 12, 2000)] + std * rng.standard_normal((2000, 2)),
                        rng.uniform(-5, 5, (500, 2))])
    g = gan.mode_stats(S, centers, std)
    cov = metrics.mode_coverage(S, centers, std)
    split = compare.Split(S[:10].astype(np.float32), S[:50].astype(np.float32), np.zeros(10, int), np.zeros(50, int),
                          "grid25_pacgan")
    c = compare.sample_measures(S, split, bandwidth=1.0)
    assert g["modes"] == cov.captured == c["modes"] == 12 and g["hq"] == cov.high_quality == c["hq"]
