"""What the guided page's figures compute (core.guided, numpy out), on tiny untrained models: the classifier's
gradient on a noised real digit, classifier-free guidance taken apart, and the cost estimate of a measurement."""
import numpy as np
import pytest
import torch

from core import diffusion as D
from core import guided as G

TINY = G.GuidedConfig(image_size=8, channels=(8, 16), T=50, steps=0)
TINY_CLF = G.ClassifierConfig(image_size=8, channels=(8, 16), emb_dim=8, T=50, steps=0)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data():
    return G.load_data(8)


@pytest.fixture(scope="module")
def model():
    return G.build(TINY, "cpu").eval()


def test_classifier_gradients_on_a_noised_real_digit(model, data):
    clf = G.NoisyClassifier(TINY_CLF).eval()
    x0, xt, grads, probs = G.classifier_gradients(model, clf, data, digit=3, t=20, seed=21)
    real = data.x_test[int(np.flatnonzero(data.y_test == 3)[21 % 20]), 0].numpy()
    assert np.array_equal(x0, real) and xt.shape == x0.shape == (8, 8)
    assert grads.shape == (10, 8, 8) and np.isfinite(grads).all()
    assert probs.shape == (10,) and probs.sum() == pytest.approx(1, abs=1e-5)
    same = clf.grad_log_prob(torch.from_numpy(xt)[None, None], 20, torch.tensor([4]))[0, 0].numpy()
    np.testing.assert_allclose(grads[4], same, atol=1e-6)


def test_cfg_parts_add_up(model, data):
    xt, eu, ec, diff, eg, xu, xc, xg = G.cfg_parts(model, data, digit=5, t=30, scale=2.5, seed=0, n=3)
    assert all(a.shape == (3, 8, 8) for a in (xt, eu, ec, diff, eg, xu, xc, xg))
    np.testing.assert_allclose(diff, ec - eu, atol=1e-6)
    np.testing.assert_allclose(eg, eu + 2.5 * (ec - eu), atol=1e-5)  # eps(null) + s (eps(y) - eps(null))
    ab = float(model.alpha_bar[30])
    np.testing.assert_allclose(xu, np.clip((xt - np.sqrt(1 - ab) * eu) / np.sqrt(ab), -1, 1), atol=1e-4)
    assert xg.min() >= -1 and xg.max() <= 1
    same = D.q_sample(data.x_test[np.flatnonzero(data.y_test == 5)[:3]], 30, model.alpha_bar,
                      torch.randn((3, 1, 8, 8), generator=torch.Generator().manual_seed(0)))
    np.testing.assert_allclose(xt, same[:, 0].numpy(), atol=1e-6)


def test_measure_estimate_scales_the_shipped_time_by_the_work():
    table = {"wall_seconds": 100.0, "settings": G.table_settings(64, "ddim", 50, 0)}
    assert G.measure_estimate(G.table_settings(64, "ddim", 50, 0), table) == pytest.approx(100.0)
    assert G.measure_estimate(G.table_settings(8, "ddpm", 25, 3), table) == pytest.approx(100.0 / 16)
    assert G.measure_estimate(G.table_settings(), None) is None
    assert G.measure_estimate(G.table_settings(), {"settings": table["settings"]}) is None
