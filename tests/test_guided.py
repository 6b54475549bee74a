"""Guided diffusion: the CFG formula at s = 0 and 1, classifier guidance (s = 0 is plain sampling; the mean shift is
s Sigma grad), label dropout, the evaluator, determinism, checkpoints, and fidelity rising with the scale."""
import json

import numpy as np
import pytest
import torch

from core import checkpoints
from core import diffusion as D
from core import guided as G

TINY = G.GuidedConfig(image_size=8, channels=(8, 16), T=50, batch_size=16, steps=4, lr=2e-3, ema=0.9,
                      log_every=2, eval_every=4)
TINY_CLF = G.ClassifierConfig(image_size=8, channels=(8, 16), emb_dim=8, T=50, batch_size=32, steps=80, lr=3e-3,
                              log_every=40)
TINY_EV = G.EvaluatorConfig(image_size=8, channels=(8,), features=16, batch_size=32, steps=60, lr=3e-3, shift=0,
                            log_every=20)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data():
    return G.load_data(8)


@pytest.fixture(scope="module")
def model(data):
    return G.train(TINY, data, device="cpu")


@pytest.fixture(scope="module")
def clf(data):
    return G.train_classifier(TINY_CLF, data, device="cpu")


@pytest.fixture(scope="module")
def evaluator(data):
    return G.train_evaluator(TINY_EV, data, device="cpu")


class Unconditional:
    """The null-label branch of a guided model as a core.diffusion model (what its ``reverse`` needs), so plain
    sampling with core.diffusion's own sampler can be compared with guided sampling."""

    def __init__(self, m):
        self.m, self.config, self.shape, self.device = m, m.config.diffusion_config, m.shape, m.device

    def eps(self, x, t):
        return self.m.eps(x, t, G.NULL)


def _x_t(model, n=6, seed=3):
    return torch.randn((n,) + model.shape, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------------------- formulas

def test_cfg_scale_0_is_unconditional_and_1_conditional_exactly(model):
    x, y = _x_t(model), torch.tensor([0, 1, 2, 3, 4, 5])
    eu, ec = model.eps(x, 20, G.NULL), model.eps(x, 20, y)
    assert not torch.equal(eu, ec), "a trained label embedding changes the prediction"
    for s, ref in ((0.0, eu), (1.0, ec)):
        assert torch.equal(G.guided_eps(model, x, 20, y, "cfg", torch.full((6,), s)), ref)
    assert torch.equal(G.guided_eps(model, x, 20, y, "none", torch.zeros(6)), ec)
    # one batch holding several scales gives each sample exactly the formula of its own scale
    s = torch.tensor([0.0, 1.0, 2.5, 3.0, 0.0, 7.0])
    got = G.guided_eps(model, x, 20, y, "cfg", s)
    for i in range(6):
        torch.testing.assert_close(got[i], D.classifier_free(eu[i], ec[i], float(s[i])), rtol=0, atol=1e-6)
    torch.testing.assert_close(got[3], eu[3] + 3 * (ec[3] - eu[3]), rtol=0, atol=1e-6)


@pytest.mark.parametrize("sampler", G.SAMPLERS)
def test_classifier_guidance_at_scale_0_is_plain_unconditional_sampling(model, clf, sampler):
    out = G.guided_reverse(model, np.arange(6), "classifier", 0.0, sampler, 5, seed=4, classifier=clf)
    if sampler == "ddpm":  # core.diffusion's DDIM keeps diffusers' default (unclipped eps), guided DDIM does not
        plain = D.reverse(Unconditional(model), 6, sampler, 5, seed=4)
        torch.testing.assert_close(out.x, plain.x_0, rtol=0, atol=1e-6)
    else:
        unguided = G.guided_reverse(model, np.arange(6), "none", 0.0, sampler, 5, seed=4)
        assert not torch.equal(unguided.x, out.x)  # the conditional model is not what s = 0 samples
    cfg0 = G.guided_reverse(model, np.arange(6), "cfg", 0.0, sampler, 5, seed=4)
    assert torch.equal(cfg0.x, out.x)  # both kinds start from the same unconditional sampler
    guided = G.guided_reverse(model, np.arange(6), "classifier", 2.0, sampler, 5, seed=4, classifier=clf)
    assert not torch.allclose(guided.x, out.x)


def test_ddpm_classifier_guidance_shifts_the_mean_by_s_sigma_grad(model, clf):
    """One DDPM step from x_T: the guided x_{t-1} minus the unguided one is s * Sigma_t * grad log p(y | x_T, T)."""
    x_T, y, s = _x_t(model), np.array([1, 2, 3, 4, 5, 6]), 2.5
    a = G.guided_reverse(model, y, "classifier", 0.0, "ddpm", 1, seed=0, classifier=clf, x_T=x_T).x
    b = G.guided_reverse(model, y, "classifier", s, "ddpm", 1, seed=0, classifier=clf, x_T=x_T).x
    T = model.config.T
    sigma2 = 1 - model.alpha_bar[T] / model.alpha_bar[0]       # the scheduler's variance for a step T -> 0
    grad = clf.grad_log_prob(x_T, T, torch.as_tensor(y))
    torch.testing.assert_close(b - a, s * sigma2 * grad, rtol=1e-4, atol=1e-5)


def test_ddim_classifier_guidance_is_the_eps_shift(model, clf):
    x, y, t, s = _x_t(model), torch.arange(6), 30, 4.0
    got = G.guided_eps(model, x, t, y, "classifier", torch.full((6,), s), clf)
    want = model.eps(x, t, G.NULL) - s * (1 - model.alpha_bar[t]).sqrt() * clf.grad_log_prob(x, t, y)
    torch.testing.assert_close(got, want)


def test_grad_log_prob_matches_finite_differences(clf):
    x = torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    g = clf.grad_log_prob(x, 10, 3)
    logp = lambda z: torch.log_softmax(clf(z, 10), -1)[0, 3].double()
    for (i, j) in ((2, 3), (5, 5)):
        h = torch.zeros_like(x)
        h[0, 0, i, j] = 1e-2
        fd = (logp(x + h) - logp(x - h)) / 2e-2
        assert fd.item() == pytest.approx(g[0, 0, i, j].item(), rel=0.05, abs=1e-3)


def test_label_dropout_uses_the_null_label(data):
    """With p_uncond = 0 the null embedding gets no gradient; with p_uncond near 1 the digit embeddings get none."""
    for p, trained, frozen in ((0.0, slice(0, 10), slice(10, 11)), (0.999, slice(10, 11), slice(0, 10))):
        m = G.build(TINY.replace(p_uncond=p, ema=0.0), "cpu")
        loss = m.loss(data.x_train[:32], torch.as_tensor(data.y_train[:32]), torch.Generator().manual_seed(0)).mean()
        loss.backward()
        gw = m.net.unet.class_embedding.weight.grad
        assert gw[frozen].abs().sum() == 0 and gw[trained].abs().sum() > 0


# ------------------------------------------------------------------------------------ shapes, determinism

def test_shapes_and_same_seed_same_samples(model, clf):
    for kind in G.GUIDANCE:
        a = G.sample(model, 3, n=5, guidance=kind, scale=2.0, steps=4, seed=1, classifier=clf)
        b = G.sample(model, 3, n=5, guidance=kind, scale=2.0, steps=4, seed=1, classifier=clf)
        assert a.shape == (5, 8, 8) and a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1
        np.testing.assert_array_equal(a, b)
    c = G.sample(model, 3, n=5, guidance="cfg", scale=2.0, steps=4, seed=2)
    assert not np.array_equal(a, c)
    row = G.scale_row(model, 3, (0, 1, 3), "cfg", steps=4, seed=1)
    assert row.shape == (3, 8, 8)
    # the row's first column is the seed's first starting noise, unguided: the same as a 1-sample run at s = 0
    one = G.sample(model, 3, n=1, guidance="cfg", scale=0.0, sampler="ddim", steps=4, seed=1)
    np.testing.assert_allclose(row[0], one[0], atol=1e-6)
    rows = G.scale_rows(model, 3, (0, 1, 3), "cfg", steps=4, seeds=[5, 1])   # one batch, one row per seed
    assert rows.shape == (2, 3, 8, 8)
    np.testing.assert_allclose(rows[1], row, atol=1e-5)


def test_bad_inputs_raise_clear_errors(model):
    with pytest.raises(ValueError, match="cfg"):
        G.guided_reverse(model, [1], "magic")
    with pytest.raises(ValueError, match=">= 0"):
        G.guided_reverse(model, [1], "cfg", -1.0)
    with pytest.raises(ValueError, match="0..9"):
        G.guided_reverse(model, [12], "cfg", 1.0)
    with pytest.raises(ValueError, match="classifier"):
        G.guided_reverse(model, [1], "classifier", 1.0)
    with pytest.raises(ValueError, match="ddim"):
        G.guided_reverse(model, [1], "cfg", 1.0, sampler="euler")
    with pytest.raises(ValueError, match="p_uncond"):
        G.GuidedConfig(p_uncond=1.0)
    with pytest.raises(ValueError, match="linear"):
        G.GuidedConfig(schedule="quadratic")


def test_training_is_deterministic_resumable_and_lowers_the_loss(data):
    cfg = TINY.replace(steps=6, log_every=3, eval_every=3)
    a = G.train(cfg, data, device="cpu")
    b = G.train(cfg, data, device="cpu", until=3)
    b = G.train(cfg, data, model=b, device="cpu")
    for p, q in zip(a.net.parameters(), b.net.parameters()):
        assert torch.equal(p, q)
    calls = []
    G.train(cfg, data, callback=lambda s, m: calls.append(s) or "stop", device="cpu")
    assert calls == [3]
    longer = G.train(TINY.replace(steps=60, ema=0.0, lr=3e-3, log_every=30, eval_every=30), data, device="cpu")
    h = longer.history_
    assert h[-1]["test/loss_cond"] < h[0]["test/loss_cond"]


def test_divergence_is_reported(data):
    with pytest.raises(G.TrainingDiverged):
        G.train(TINY.replace(lr=1e12, grad_clip=0.0, steps=30), data, device="cpu")


def test_init_from_an_unconditional_checkpoint_starts_unconditional(tmp_path, data):
    src_cfg = D.DiffusionConfig(data="mnist", image_size=8, channels=(8, 16), T=50, batch_size=16, steps=3, ema=0.0,
                                log_every=3, eval_every=3)
    src = D.train(src_cfg, D.load_data(src_cfg), device="cpu")
    D.save(src, tmp_path / "src")
    m = G.build(TINY.replace(init=str(tmp_path / "src")), "cpu")
    x = _x_t(m)
    ref = D.load(tmp_path / "src", "cpu").eps(x, 17)
    torch.testing.assert_close(m.eps(x, 17, torch.arange(6)), ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(m.eps(x, 17, G.NULL), ref, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="U-Net"):
        G.build(TINY.replace(init=str(tmp_path / "src"), channels=(16, 16)), "cpu")


# ------------------------------------------------------------------------------------------- evaluator

def test_evaluator_scores_real_digits_and_measures_spread(data, evaluator):
    real = ((data.x_test[:, 0] + 1) / 2).numpy()
    m = evaluator.measure(real, data.y_test)
    assert m["fidelity"] > 0.3 and 0 < m["confidence"] <= 1   # 60 training steps: well above chance (10 %)
    assert m["diversity_rel"] == pytest.approx(1.0)              # the reference is exactly these digits
    wrong = evaluator.measure(real, (data.y_test + 1) % 10)
    assert wrong["fidelity"] < m["fidelity"]
    same = evaluator.measure(np.repeat(real[:1], 5, 0), np.full(5, data.y_test[0]))
    assert same["diversity"] == 0.0
    with pytest.raises(ValueError, match="label"):
        evaluator.measure(real[:3], [1, 2])


def test_tradeoff_rows_and_scale_zero_is_shared(model, clf, evaluator):
    rows = G.tradeoff(model, clf, evaluator, scales=(0.0, 2.0), per_class=2, steps=3, batch=7)
    assert [(r["guidance"], r["scale"]) for r in rows] == [("classifier", 0.0), ("classifier", 2.0), ("cfg", 0.0), ("cfg", 2.0)]
    assert all(r["n"] == 20 and 0 <= r["fidelity"] <= 1 and r["diversity"] > 0 for r in rows)
    assert rows[0]["fidelity"] == rows[2]["fidelity"] and rows[0]["diversity"] == rows[2]["diversity"]


# ----------------------------------------------------------------------------------------- checkpoints

def test_save_load_round_trips_and_corruption(tmp_path, model, clf, evaluator):
    G.save(model, tmp_path / "m", {"command": "test"})
    G.save_classifier(clf, tmp_path / "c")
    G.save_evaluator(evaluator, tmp_path / "e")
    m2, c2, e2 = G.load(tmp_path / "m", "cpu"), G.load_classifier(tmp_path / "c", "cpu"), G.load_evaluator(tmp_path / "e", "cpu")
    x = _x_t(model)
    torch.testing.assert_close(m2.eps(x, 9, 4), model.eps(x, 9, 4), rtol=0, atol=0)  # the EMA weights were saved
    torch.testing.assert_close(c2(x, 9), clf(x, 9))
    assert e2.meta["real_diversity"] == pytest.approx(evaluator.meta["real_diversity"])
    assert m2.meta["command"] == "test" and m2.step_ == TINY.steps
    with pytest.raises(checkpoints.CheckpointError, match="classifier"):
        G.load_classifier(tmp_path / "m", "cpu")
    with pytest.raises(checkpoints.CheckpointError, match="No shipped"):
        G.load("no_such_checkpoint", "cpu")
    w = (tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "m.safetensors").write_bytes(w[:-8] + b"\0" * 8)
    with pytest.raises(checkpoints.CheckpointError, match="corrupt"):
        G.load(tmp_path / "m", "cpu")


# ---------------------------------------------------------------------- fidelity rises with the scale

def test_classifier_guidance_raises_the_classifiers_own_belief(model, clf):
    """The mechanism on a tiny model: with a larger scale, samples move up the classifier's log-probability."""
    y = np.repeat(np.arange(10), 3)
    p = []
    for s in (0.0, 20.0, 100.0):
        x = G.guided_reverse(model, y, "classifier", s, "ddim", 5, seed=0, classifier=clf).x
        p.append(torch.softmax(clf(x, 1), -1)[np.arange(30), y].mean().item())
    assert p[0] < p[1] < p[2] and p[2] > p[0] + 0.04, p   # (measured: 0.10, 0.14, 0.17)


@pytest.fixture(scope="module")
def shipped():
    try:
        return G.load(device="cpu"), G.load_classifier(device="cpu"), G.load_evaluator(device="cpu")
    except checkpoints.CheckpointError as e:  # pragma: no cover - the shipped checkpoints are in the repository
        pytest.fail(f"shipped checkpoints missing: {e}")


def test_shipped_models_fidelity_rises_with_the_scale(shipped):
    """A statistical check with a fixed seed on the shipped 16x16 models: 4 samples per digit, 10 DDIM steps."""
    m, c, ev = shipped
    rows = G.tradeoff(m, c, ev, scales=(0.0, 4.0), per_class=4, steps=10, seed=0)
    fid = {(r["guidance"], r["scale"]): r["fidelity"] for r in rows}
    assert fid[("cfg", 0.0)] < 0.4                       # unconditional: the asked-for digit by chance (~10 %)
    assert fid[("cfg", 4.0)] > fid[("cfg", 0.0)] + 0.4
    assert fid[("classifier", 4.0)] > fid[("classifier", 0.0)] + 0.2


def test_shipped_table_is_complete_and_consistent():
    t = G.load_table()
    assert t is not None and t["settings"] == G.table_settings()
    rows = {(r["guidance"], r["scale"]): r for r in t["rows"]}
    assert set(rows) == {(k, s) for k in ("classifier", "cfg") for s in G.DEFAULT_SCALES}
    assert all(r["n"] == 10 * G.DEFAULT_PER_CLASS for r in t["rows"])
    assert rows[("cfg", 0.0)]["fidelity"] == rows[("classifier", 0.0)]["fidelity"]   # the same unconditional sampler
    assert rows[("cfg", 3.0)]["fidelity"] >= 0.95
    assert rows[("cfg", 8.0)]["diversity"] < rows[("cfg", 1.0)]["diversity"]
    rec = json.loads((checkpoints.SHIPPED_DIR / "guided_mnist16.json").read_text())
    assert rec["meta"]["command"].startswith("python -m core train guided") and not rec["meta"].get("partial")


def test_make_table_records_its_settings_and_reads_back(tmp_path):
    t = G.make_table(scales=(0.0, 2.0), per_class=2, steps=2, meta={"command": "test"})
    assert t["settings"] == G.table_settings(2, "ddim", 2, 0, (0.0, 2.0)) and t["command"] == "test"
    assert {(r["guidance"], r["scale"]) for r in t["rows"]} == {(k, s) for k in ("classifier", "cfg") for s in (0.0, 2.0)}
    assert t["models"]["model"] == G.MODEL_NAME and t["wall_seconds"] > 0 and t["real_diversity"] > 0
    assert G.load_table(G.write_table(t, tmp_path / "table.json")) == json.loads(json.dumps(t))
    assert G.measure_estimate(G.table_settings(), t) > t["wall_seconds"]


def test_configs_are_on_the_shared_base_and_train_options_are_keywords():
    import argparse

    from core import families, training

    for cls in (G.GuidedConfig, G.ClassifierConfig, G.EvaluatorConfig, D.DiffusionConfig, D.AEConfig):
        assert issubclass(cls, training.Config) and cls.from_dict(cls().to_dict()) == cls()
        p = argparse.ArgumentParser()
        cls.add_arguments(p)
        assert cls.from_arguments(p.parse_args(["--channels", "8", "16"])).channels == (8, 16)
        with pytest.raises(ValueError, match="valid fields are"):
            cls.from_dict({"chanels": [8]})
    for mod in (G, D):
        with pytest.raises(TypeError):
            mod.train(TINY, None, None, None)  # model=, until=, device= are keyword-only
    assert G.LIKELIHOOD == families.get("guided").likelihood and D.LIKELIHOOD == families.get("diffusion").likelihood
    assert set(G.AUXILIARY) == {"guided-classifier", "guided-evaluator"} and set(D.AUXILIARY) == {"diffusion-autoencoder"}


def test_load_shipped_is_the_protocols_name_for_the_shipped_model():
    a, b = G.load_shipped(device="cpu"), G.load(device="cpu")
    assert a.step_ == b.step_ and all(torch.equal(p, q) for p, q in zip(a.net.state_dict().values(), b.net.state_dict().values()))
    with pytest.raises(checkpoints.CheckpointError):
        G.load_shipped("no_such_model")


def test_the_model_samples_as_every_family_does(model):
    a, b = model.sample(3, seed=1, steps=5), model.sample(3, seed=1, steps=5)
    assert a.shape == (3, 8, 8) and np.array_equal(a, b) and 0 <= a.min() <= a.max() <= 1
