"""The diffusion model's variational bound on -ln p(x_0) (core.diffusion.nll_bound) against analytic values.

For Gaussian data x_0 ~ N(m, s^2 I) and a denoiser linear in x_t, every distribution in the bound is Gaussian,
so two numbers are known in closed form, independently of the code under test:
- the expected bound, from Ho et al.'s eq. 3 form E_q[-ln p(x_T) - sum_t ln p_theta(x_{t-1}|x_t) / q(x_t|x_{t-1})]
  (joint moments of q and the forward steps' entropies; the code uses the other, KL form of eq. 5);
- the model's exact NLL: the reverse chain is linear-Gaussian, so p_theta(x_0) is a Gaussian found by recursion.
"""
import math

import numpy as np
import pytest
import torch

from core import diffusion as D

pytestmark = pytest.mark.usefixtures("one_torch_thread")

M, S = np.array([0.5, -1.0]), 0.3          # data mean and std per coordinate
CFG = D.DiffusionConfig(data="moons", T=40, beta_start=1e-3, beta_end=0.3, ema=0.0, hidden=8, depth=1, emb_dim=4)


def _coefficients(cfg, m=M, s=S):
    """The optimal (posterior-mean) denoiser of Gaussian data: eps_theta(x_t, t) = a_t x_t + b_t."""
    ab = D.schedule(cfg.schedule, cfg.T, cfg.beta_start, cfg.beta_end)["alpha_bar"].numpy()
    a = np.sqrt(1 - ab) / (ab * s * s + 1 - ab)
    b = -a[:, None] * np.sqrt(ab)[:, None] * m[None, :]
    a[0], b[0] = 0.0, 0.0
    return a, b


class LinearEps(torch.nn.Module):
    def __init__(self, a, b):
        super().__init__()
        self.a, self.b = torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)

    def forward(self, x, k):           # k: diffusers timestep = lecture t - 1
        t = k.long() + 1
        return self.a[t][:, None] * x + self.b[t]


def _gaussian_model(cfg, scale=1.0):
    model = D.DiffusionModel(cfg, (2,))
    a, b = _coefficients(cfg)
    model.net = LinearEps(a * scale, b * scale)
    return model


def _analytic(cfg, variance, scale=1.0, m=M, s=S):
    """(expected bound, the model's exact NLL) per point, summed over the 2 coordinates."""
    sch = {k: v.numpy() for k, v in D.schedule(cfg.schedule, cfg.T, cfg.beta_start, cfg.beta_end).items()}
    beta, alpha, ab = sch["beta"], sch["alpha"], sch["alpha_bar"]
    T = cfg.T
    a, b = _coefficients(cfg)
    a, b = a * scale, b * scale
    bt = np.zeros(T + 1)
    bt[1:] = (1 - ab[:-1]) / (1 - ab[1:]) * beta[1:]
    sig2 = beta.copy() if variance == "large" else np.where(np.arange(T + 1) <= 1, beta, bt)
    A = (1 - beta * a / np.sqrt(np.maximum(1 - ab, 1e-300))) / np.sqrt(alpha)        # mu_theta = A x_t + c
    c = -(beta / np.sqrt(np.maximum(1 - ab, 1e-300)) / np.sqrt(alpha))[:, None] * b
    bound = exact = 0.0
    for i in range(2):
        # eq. 3: E[-ln p(x_T)] + sum_t E[-ln p_theta(x_{t-1}|x_t)] - sum_t H(q(x_t|x_{t-1}))
        L = 0.5 * math.log(2 * math.pi) + 0.5 * (ab[T] * (s * s + m[i] ** 2) + 1 - ab[T])
        for t in range(1, T + 1):
            mu_prev, v_prev = np.sqrt(ab[t - 1]) * m[i], ab[t - 1] * s * s + 1 - ab[t - 1]
            k = 1 - A[t] * np.sqrt(alpha[t])             # r = x_{t-1} - A x_t - c = k x_{t-1} - A sqrt(beta) eps - c
            r2 = (k * k * v_prev + A[t] ** 2 * beta[t]) + (k * mu_prev - c[t, i]) ** 2
            L += 0.5 * math.log(2 * math.pi * sig2[t]) + r2 / (2 * sig2[t])
            L -= 0.5 * math.log(2 * math.pi * math.e * beta[t])
        bound += L
        # exact: x_T ~ N(0, 1), x_{t-1} = A x_t + c + sigma_t z  ->  p_theta(x_0) = N(mean, var)
        mean, var = 0.0, 1.0
        for t in range(T, 0, -1):
            mean, var = A[t] * mean + c[t, i], A[t] ** 2 * var + sig2[t]
        exact += 0.5 * math.log(2 * math.pi * var) + (s * s + (m[i] - mean) ** 2) / (2 * var)
    return bound, exact


@pytest.fixture(scope="module")
def gaussian_points():
    return (M + S * np.random.default_rng(0).standard_normal((20000, 2))).astype(np.float32)


@pytest.mark.parametrize("variance", D.VARIANCES)
@pytest.mark.parametrize("scale", [1.0, 0.7])  # the optimal denoiser, and a deliberately worse one
def test_bound_matches_the_analytic_gaussian_case(gaussian_points, variance, scale):
    model = _gaussian_model(CFG, scale)
    out = D.nll_bound(model, gaussian_points, seed=1, variance=variance)
    est, se = out["bound"].mean().item(), out["bound"].std().item() / math.sqrt(len(gaussian_points))
    bound, exact = _analytic(CFG, variance, scale)
    entropy = 2 * 0.5 * math.log(2 * math.pi * math.e * S * S)
    assert abs(est - bound) < 4 * se + 1e-3, (est, bound, se)
    assert bound >= exact - 1e-9 >= entropy - 1e-6       # ELBO >= the model's own NLL >= the data's entropy
    torch.testing.assert_close(out["bound"], out["prior"] + out["diffusion"] + out["decoder"])
    assert out["per_t"][:2].abs().sum() == 0 and out["per_t"][2:].sum().item() == pytest.approx(
        out["diffusion"].mean().item(), rel=1e-9)


def test_a_worse_denoiser_gets_a_worse_bound(gaussian_points):
    x = gaussian_points[:4000]
    good = D.nll_bound(_gaussian_model(CFG, 1.0), x, seed=2)["bound"].mean()
    bad = D.nll_bound(_gaussian_model(CFG, 0.7), x, seed=2)["bound"].mean()
    assert bad > good + 0.05


def test_stratified_timesteps_estimate_the_same_sum(gaussian_points):
    model = _gaussian_model(CFG, 0.8)
    x = gaussian_points[:6000]
    full = D.nll_bound(model, x, seed=3)
    part = D.nll_bound(model, x, seed=4, timesteps=8)
    assert "per_t" not in part
    se = math.hypot(full["bound"].std().item(), part["bound"].std().item()) / math.sqrt(len(x))
    assert abs(full["bound"].mean().item() - part["bound"].mean().item()) < 4 * se


def test_bound_is_finite_and_falls_with_training():
    from core import diffusion as D2

    cfg = D2.DiffusionConfig(data="moons", n_points=600, hidden=32, depth=2, emb_dim=8, T=100, batch_size=128,
                             steps=400, log_every=100, eval_every=400, eval_samples=0, lr=3e-3)
    data = D2.load_data(cfg)
    early = D2.train(cfg, data, device="cpu", until=20)
    b_early = D2.nll_bound(early, data.x_test, seed=0)["bound"]
    late = D2.train(cfg, data, device="cpu")
    b_late = D2.nll_bound(late, data.x_test, seed=0)["bound"]
    assert torch.isfinite(b_early).all() and torch.isfinite(b_late).all()
    assert b_late.mean() < b_early.mean() - 0.5, (b_early.mean(), b_late.mean())
    # and same seed, same numbers
    torch.testing.assert_close(D2.nll_bound(late, data.x_test, seed=0)["bound"], b_late)


def test_bound_works_for_flat_images_and_refuses_bad_input():
    img = D.build(D.DiffusionConfig(data="mnist", image_size=8, channels=(8, 16), T=20, ema=0.0), (1, 8, 8), device="cpu")
    out = D.nll_bound(img, torch.rand(3, 1, 8, 8) * 2 - 1, timesteps=4)
    assert out["bound"].shape == (3,) and torch.isfinite(out["bound"]).all()
    model = _gaussian_model(CFG)
    with pytest.raises(ValueError, match="shape"):
        D.nll_bound(model, np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        D.nll_bound(model, np.full((4, 2), np.nan, np.float32))
    with pytest.raises(ValueError, match="large"):
        D.nll_bound(model, np.zeros((4, 2), np.float32), variance="medium")
    with pytest.raises(ValueError, match="timesteps"):
        D.nll_bound(model, np.zeros((4, 2), np.float32), timesteps=CFG.T)
