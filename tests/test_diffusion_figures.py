"""What the diffusion page's figures compute (core.diffusion, numpy out), on tiny untrained models: the forward
process panels, the reverse-run recordings, the sampler comparisons and the denoising levels."""
import numpy as np
import pytest
import torch

from core import diffusion as D
from core import metrics
from core.viz import diffusion as fig

TINY_2D = D.DiffusionConfig(data="moons", n_points=100, hidden=16, depth=1, emb_dim=8, T=100, steps=0)
TINY_IMG = D.DiffusionConfig(data="mnist", image_size=8, channels=(8, 16), T=50, steps=0)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model2d():
    return D.build(TINY_2D, (2,), device="cpu").eval()


@pytest.fixture(scope="module")
def model_img():
    return D.build(TINY_IMG, (1, 8, 8), device="cpu").eval()


def _images(n=3, seed=0):
    return torch.rand((n, 1, 8, 8), generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_noised_digits_are_the_closed_form_with_the_seeds_noise():
    x0 = _images()
    a, xt, eps = D.noised_digits(x0, 300, "cosine", seed=4)
    ab = float(D.schedule("cosine")["alpha_bar"][300])
    assert a.shape == xt.shape == eps.shape == (3, 8, 8)
    assert np.array_equal(eps, torch.randn(x0.shape, generator=torch.Generator().manual_seed(4))[:, 0].numpy())
    np.testing.assert_allclose(xt, np.sqrt(ab) * a + np.sqrt(1 - ab) * eps, atol=1e-6)
    assert np.array_equal(D.noised_digits(x0, 0, "linear", 4)[1], a)  # t = 0: no noise


def test_chain_strip_starts_at_the_image_and_ends_in_noise():
    x0 = _images(1)
    strip = D.chain_strip(x0, "linear", seed=0, every=250)
    assert strip.shape == (5, 8, 8) and strip.dtype == np.float32
    assert np.array_equal(strip[0], x0[0, 0].numpy())
    assert abs(np.corrcoef(strip[-1].ravel(), strip[0].ravel())[0, 1]) < 0.5  # alpha_bar_T ~ 0: x_0 is gone


def test_forward_points_closed_form_and_chain_agree_in_distribution():
    x0 = torch.randn((200, 2), generator=torch.Generator().manual_seed(0))
    p0, closed, chain, ab = D.forward_points(x0, 400, "linear", seed=1, copies=10)
    assert p0.shape == closed.shape == chain.shape == (2000, 2) and p0.dtype == np.float64
    assert ab == pytest.approx(float(D.schedule("linear")["alpha_bar"][400]))
    rows = fig.forward_moments(p0, closed, chain, ab, 400)
    assert [r[""] for r in rows] == ["closed form", "chain (400 steps)", "formula"]
    for r in rows[:2]:  # both match the formula's noise variance 1 - alpha_bar_t within sampling error
        assert r["noise var x"] == pytest.approx(1 - ab, rel=0.1) and r["noise var y"] == pytest.approx(1 - ab, rel=0.1)


def test_trajectory_frames_are_thinned_and_end_with_x0(model2d):
    t, x, secs = D.trajectory_frames(model2d, "ddpm", 100, seed=0, n=20, frames=10)
    tr = D.reverse(model2d, 20, "ddpm", 100, 0, record=True)
    assert t == tr.t[::10] and x.shape == (11, 20, 2) and secs >= 0
    assert np.array_equal(x[-1], tr.x_0.numpy()) and np.array_equal(x[0], tr.x[0].numpy())


def test_sampler_comparison_starts_every_run_from_the_same_noise(model2d):
    test = np.random.default_rng(0).standard_normal((50, 2))
    rows, clouds = D.compare_samplers_2d(model2d, test, seed=3, n=30, runs=(("ddim", 5), ("ddpm", 10)))
    assert [(r["sampler"], r["steps"]) for r in rows] == [("ddim", 5), ("ddpm", 10)] == list(clouds)
    assert np.array_equal(clouds["ddim", 5], D.reverse(model2d, 30, "ddim", 5, 3).x_0.numpy())
    assert rows[0]["swd"] == metrics.sliced_wasserstein(clouds["ddim", 5], test, seed=3)


def test_recorded_digits_and_continuing_with_fresh_noise(model_img):
    t, x, eps, x0, secs = D.recorded_digits(model_img, 2, "ddim", 5, seed=0)
    assert len(t) == 5 and x.shape == (6, 2, 8, 8) and eps.shape == x0.shape == (5, 2, 8, 8)
    out, used, _ = D.continue_digits(model_img, x[2], t[2], "ddpm", 10, seed=0)
    again = D.reverse(model_img, sampler="ddpm", steps=10, seed=1, x_t=torch.from_numpy(x[2][:, None]), t_start=t[2])
    assert out.shape == (2, 8, 8) and used == again.steps and np.array_equal(out, again.x_0[:, 0].numpy())


def test_denoise_levels_one_network_call_per_level(model_img):
    x0 = _images(2)
    clean, rows = D.denoise_levels(model_img, x0, seed=0, levels=(5, 40))
    assert np.array_equal(clean, x0[:, 0].numpy()) and [t for t, _, _ in rows] == [5, 40]
    assert all(xh.min() >= -1 and xh.max() <= 1 and xt.shape == (2, 8, 8) for _, xt, xh in rows)
    noised, denoised, levels = fig.denoise_columns(clean, rows)
    assert noised.shape == denoised.shape == (6, 8, 8) and levels == "5, 40"


def test_timed_sample_equals_model_sample(model2d):
    x, secs = D.timed_sample(model2d, 7, seed=2, sampler="ddim", steps=5)
    assert np.array_equal(x, model2d.sample(7, seed=2, sampler="ddim", steps=5)) and secs >= 0


def test_same_model_ignores_ema_only(model2d):
    loaded = D.build(TINY_2D.replace(ema=0.0), (2,), device="cpu")
    assert D.same_model(loaded, TINY_2D) and not D.same_model(loaded, TINY_2D.replace(lr=1e-2))
    assert D.n_parameters(loaded.net) == sum(p.numel() for p in loaded.net.parameters()) > 0


def test_with_last_test_keeps_the_latest_held_out_metrics():
    seen = []
    cb = D.with_last_test(lambda s, m: seen.append((s, m)) or s == 3)
    assert cb(1, {"train/loss": 1.0}) is False
    cb(2, {"train/loss": 0.5, "test/loss": 0.7})
    assert cb(3, {"train/loss": 0.4}) is True
    assert seen[-1] == (3, {"train/loss": 0.4, "test/loss": 0.7}) and seen[0] == (1, {"train/loss": 1.0})
