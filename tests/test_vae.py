"""Units for core/vae.py: tiny models on sklearn's 8x8 digits and 2-D toy data (CPU, a few seconds in all)."""
import math

import numpy as np
import pytest
import torch

from core import checkpoints, runtime, vae

TINY = dict(data="digits8", hidden=(64,), batch_size=64, log_every=50, eval_every=100, seed=0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits():
    return vae.load_data(vae.VAEConfig(**TINY))


@pytest.fixture(scope="module")
def trained(digits):
    cfg = vae.VAEConfig(**TINY, steps=400)
    return vae.train(cfg, digits, device="cpu")


def _state(m):
    return {k: v.clone() for k, v in m.state_dict().items()}


# ---------------------------------------------------------------------------------------- KL, ELBO, IWAE

def test_analytic_kl_matches_monte_carlo_and_torch():
    g = runtime.torch_generator(0)
    mu = torch.randn(5, 3, generator=g)
    logvar = torch.randn(5, 3, generator=g) * 0.5
    kl = vae.gaussian_kl(mu, logvar)
    # Monte Carlo: KL = E_q[ln q(z) - ln p(z)], z ~ q
    eps = torch.randn(200_000, 5, 3, generator=g)
    z = vae.reparameterize(mu, logvar, eps)
    log_q = vae.gaussian_log_density(z, mu, logvar)
    log_p = vae.gaussian_log_density(z, torch.zeros_like(mu), torch.zeros_like(logvar))
    mc = (log_q - log_p).mean(0)
    assert torch.allclose(kl, mc, atol=0.02, rtol=0.01), (kl, mc)
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, torch.exp(0.5 * logvar)), torch.distributions.Normal(0.0, 1.0)).sum(-1)
    assert torch.allclose(kl, ref, atol=1e-5)
    assert (kl >= 0).all() and vae.gaussian_kl(torch.zeros(1, 3), torch.zeros(1, 3)).item() == 0.0


def test_gaussian_log_density_matches_torch():
    g = runtime.torch_generator(1)
    z, mu, lv = (torch.randn(4, 2, generator=g) for _ in range(3))
    ref = torch.distributions.Normal(mu, torch.exp(0.5 * lv)).log_prob(z).sum(-1)
    assert torch.allclose(vae.gaussian_log_density(z, mu, lv), ref, atol=1e-5)


def test_iwae_is_above_elbo_and_grows_with_k(trained, digits):
    x = digits.x_test
    elbo = vae.elbo_terms(trained, x, seed=3, samples=20)["elbo"]
    iw = {k: trained.log_prob(x, k=k, seed=5).mean().item() for k in (1, 5, 50)}
    assert abs(iw[1] - elbo) < 1.0  # K = 1 is a one-sample ELBO
    assert iw[1] < iw[5] < iw[50]
    assert iw[50] > elbo
    assert all(math.isfinite(v) for v in iw.values())


def test_training_raises_test_elbo(trained):
    first, last = trained.history_[0], trained.history_[-1]
    assert [h["step"] for h in trained.history_] == [100, 200, 300, 400]
    assert last["test/elbo"] > first["test/elbo"] + 1.0
    untrained = vae.build(trained.config, trained.dim, trained.shape, "cpu")
    assert last["test/elbo"] > vae.evaluate(untrained, vae.load_data(trained.config).x_test)["elbo"] + 10
    for h in trained.history_:  # the logged terms add up: elbo = -(recon + kl), loss = recon + beta kl
        assert h["test/elbo"] == pytest.approx(-(h["test/recon"] + h["test/kl"]), rel=1e-5)
        assert h["train/loss"] == pytest.approx(h["train/recon"] + h["train/kl"], rel=1e-5)


def test_beta_weights_the_kl_and_shrinks_it(digits):
    kls = {}
    for beta in (0.1, 4.0):
        m = vae.train(vae.VAEConfig(**TINY, steps=300, beta=beta), digits, device="cpu")
        h = m.history_[-1]
        assert h["train/loss"] == pytest.approx(h["train/recon"] + beta * h["train/kl"], rel=1e-4)
        kls[beta] = h["test/kl"]
    assert kls[4.0] < kls[0.1]


# --------------------------------------------------------------------------------- shapes and ranges

def test_samples_reconstructions_grid_interpolation_shapes(trained, digits):
    s = trained.sample(7, seed=1)
    assert s.shape == (7, 8, 8) and s.dtype == np.float32 and s.min() >= 0 and s.max() <= 1
    b = trained.sample(5, seed=1, mean=False)
    assert set(np.unique(b)) <= {0.0, 1.0}
    x = digits.x_test[:6].reshape(6, 8, 8).numpy()
    r = trained.reconstruct(x)
    assert r.shape == (6, 8, 8) and r.min() >= 0 and r.max() <= 1
    assert np.abs(r - x).mean() < np.abs(trained.sample(6, seed=2) - x).mean()  # reconstructions look like the input
    mos, axis = vae.decode_grid(trained, n=5, span=2.0)
    assert mos.shape == (5 * 9 - 1, 5 * 9 - 1) and axis.shape == (5,) and 0 <= mos.min() and mos.max() <= 1
    mos_q, axis_q = vae.decode_grid(trained, n=4, spacing="quantile")
    assert np.all(np.diff(axis_q) > 0) and abs(axis_q.mean()) < 1e-9
    imgs, path = vae.interpolate(trained, x[0], x[1], steps=6)
    assert imgs.shape == (6, 8, 8) and path.shape == (6, 2)
    mu, logvar = vae.encode(trained, x[:2])
    assert np.allclose(path[0], mu[0], atol=1e-6) and np.allclose(path[-1], mu[1], atol=1e-6)
    assert np.allclose(imgs[0], r[0], atol=1e-6)
    assert mu.shape == logvar.shape == (2, 2)


def test_reparameterization_values_and_gradient(trained, digits):
    x = digits.x_test[0].reshape(8, 8).numpy()
    r = vae.reparameterization(trained, x, seed=4)
    assert np.allclose(r["z"], r["mu"] + r["sigma"] * r["eps"], atol=1e-6)
    assert (r["sigma"] > 0).all() and r["x_hat"].shape == (8, 8)
    assert np.abs(r["grad_mu"]).sum() > 0 and np.abs(r["grad_sigma"]).sum() > 0  # the gradient reaches phi
    mu, logvar = vae.encode(trained, x[None])
    assert np.allclose(r["mu"], mu[0], atol=1e-6)
    assert r["loss"] == pytest.approx(r["recon"] + trained.config.beta * r["kl"], rel=1e-6)
    assert vae.reparameterization(trained, x, seed=4)["eps"].tolist() == r["eps"].tolist()


def test_posterior_grid_is_normalised(trained, digits):
    p = vae.posterior_grid(trained, digits.x_test[0].reshape(8, 8).numpy(), n=61)
    cell = (p["z0"][1] - p["z0"][0]) * (p["z1"][1] - p["z1"][0])
    assert np.exp(p["log_post"]).sum() * cell == pytest.approx(1.0, rel=1e-4)
    assert p["kl_q_p"] >= -1e-3 and p["log_post"].shape == (61, 61)


def test_gaussian_decoder_on_2d_toy_data():
    cfg = vae.VAEConfig(data="moons", n_points=400, hidden=(32, 32), steps=150, batch_size=64, eval_every=50)
    assert cfg.decoder_likelihood == "gaussian"
    m = vae.train(cfg, device="cpu")
    s = m.sample(50, seed=0)
    assert s.shape == (50, 2) and np.isfinite(s).all()
    lp = m.log_prob(vae.load_data(cfg).x_test, k=10)
    assert lp.shape == (80,) and lp.dtype == np.float64 and np.isfinite(lp).all()  # the protocol: numpy out
    assert m.history_[-1]["test/elbo"] > m.history_[0]["test/elbo"]


def test_autoencoders(digits):
    ae = vae.train(vae.VAEConfig(**TINY, model="ae", steps=200), digits, device="cpu")
    mu, logvar = vae.encode(ae, digits.x_test[:3].reshape(3, 8, 8).numpy())
    assert logvar is None and mu.shape == (3, 2)
    assert ae.history_[-1]["test/recon"] < ae.history_[0]["test/recon"]
    assert "test/kl" not in ae.history_[-1]
    with pytest.raises(ValueError, match="no likelihood"):
        ae.log_prob(digits.x_test[:2])
    # AE samples come from a Gaussian fitted to its codes
    assert np.allclose(ae.code_mean.numpy(), vae.encode(ae, digits.x_train.numpy())[0].mean(0), atol=1e-4)
    assert ae.sample(4, seed=0).shape == (4, 8, 8)
    dae = vae.train(vae.VAEConfig(**TINY, model="dae", noise=0.4, steps=300), digits, device="cpu")
    x = digits.x_test.reshape(-1, 8, 8).numpy()
    err = lambda m: np.abs(m.reconstruct(x, noise=0.4) - x).mean()
    assert err(dae) < err(ae)  # the DAE undoes the noise it was trained on better than the plain AE


# ------------------------------------------------------------------------------------------ determinism

def test_same_seed_same_result_and_chunks_match(digits):
    cfg = vae.VAEConfig(**TINY, steps=120)
    a = vae.train(cfg, digits, device="cpu")
    b = vae.train(cfg, digits, device="cpu")
    for k, v in _state(a).items():
        assert torch.equal(v, b.state_dict()[k]), k
    assert a.history_ == b.history_
    c = vae.train(cfg.replace(seed=1), digits, device="cpu")
    assert not torch.equal(_state(a)["decoder.0.weight"], c.state_dict()["decoder.0.weight"])
    # three chunks, the middle one stopped by the callback, resumed to the end
    m = vae.train(cfg, digits, device="cpu", until=50)
    m = vae.train(cfg, digits, callback=lambda s, _: "stop" if s >= 75 else None, model=m, device="cpu")
    assert m.step_ == 100  # the callback runs every log_every = 50 steps
    m = vae.train(cfg, digits, model=m, device="cpu")
    assert m.step_ == 120
    for k, v in _state(a).items():
        assert torch.equal(v, m.state_dict()[k]), k
    assert np.array_equal(a.sample(3, seed=9), m.sample(3, seed=9))


def test_callback_metrics_and_stop(digits):
    seen = []
    m = vae.train(vae.VAEConfig(**TINY, steps=1000), digits, device="cpu",
                  callback=lambda s, met: seen.append((s, met)) or (s >= 150))
    assert m.step_ == 150 and [s for s, _ in seen] == [50, 100, 150]
    assert "test/elbo" in seen[1][1] and "test/elbo" not in seen[0][1]
    assert {"train/recon", "train/kl", "train/elbo", "train/loss"} <= set(seen[0][1])


# ------------------------------------------------------------------------------------------ checkpoints

def test_checkpoint_round_trip_bit_identical(trained, tmp_path, digits):
    path = vae.save(trained, tmp_path / "vae_tiny", {"command": "test"})
    m = vae.load(path, device="cpu")
    assert m.config == trained.config and m.step_ == trained.step_ and m.history_ == trained.history_
    for k, v in trained.state_dict().items():
        assert torch.equal(v, m.state_dict()[k]), k
    x = digits.x_test[:20]
    assert np.array_equal(m.log_prob(x, k=5, seed=2), trained.log_prob(x, k=5, seed=2))
    assert np.array_equal(m.log_prob(x, k=5, seed=2), vae.iwae_log_prob(m, x, k=5, seed=2).double().numpy())
    assert np.array_equal(m.sample(4, seed=3), trained.sample(4, seed=3))
    # a corrupted file is refused with a clear error
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(checkpoints.CheckpointError, match="corrupt"):
        vae.load(path)


@pytest.mark.parametrize("name", sorted(vae.SHIPPED))
def test_shipped_checkpoints_load(name):
    m = vae.load_shipped(name, device="cpu")
    assert m.meta["command"].startswith("python -m core train vae ") and f"--out checkpoints/{name}" in m.meta["command"]
    assert m.config.data == "mnist" and m.config.latent_dim == 2 and m.shape == (28, 28)
    assert m.history_ and m.step_ == m.config.steps
    if m.is_vae:
        assert m.meta["test/iwae50"] >= m.meta["test/elbo"]


# ------------------------------------------------------------------------------------------ bad input

@pytest.mark.parametrize("bad, match", [
    (dict(model="gan"), "valid choices"), (dict(data="cifar"), "valid choices"),
    (dict(likelihood="poisson"), "valid choices"), (dict(latent_dim=0), "latent_dim"),
    (dict(beta=-1.0), "beta"), (dict(beta=float("nan")), "beta"), (dict(lr=0.0), "lr"),
    (dict(data="moons", likelihood="bernoulli"), "Bernoulli"), (dict(hidden=()), "hidden"),
])
def test_bad_options_raise_value_error(bad, match):
    with pytest.raises(ValueError, match=match):
        vae.VAEConfig(**bad)


def test_bad_helper_arguments(trained):
    with pytest.raises(ValueError, match="valid choices"):
        vae.latent_grid(5, spacing="log")
    with pytest.raises(ValueError, match="dims"):
        vae.decode_grid(trained, dims=(0, 0))
    with pytest.raises(ValueError):
        trained.sample(0)
    with pytest.raises(ValueError, match="same config"):
        vae.train(trained.config.replace(beta=2.0), model=trained)


def test_divergence_is_reported(digits):
    cfg = vae.VAEConfig(**TINY, steps=200, lr=1e12)
    with pytest.raises(vae.TrainingDiverged) as e:
        vae.train(cfg, digits, device="cpu")
    assert e.value.step < 200 and e.value.model is not None
    assert "diverged at step" in str(e.value) and e.value.reason
