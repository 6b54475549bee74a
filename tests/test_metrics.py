import numpy as np
import pytest

from core import data, metrics


def _gauss(n, mu, seed, sigma=1.0):
    return np.random.default_rng(seed).normal(mu, sigma, size=(n, 2))


def test_a_distribution_against_itself_scores_about_zero():
    X, Y = _gauss(1500, 0, 1), _gauss(1500, 0, 2)
    assert abs(metrics.mmd2(X, Y)[0]) < 2e-3
    assert metrics.sliced_wasserstein(X, Y) < 0.06
    p, r = metrics.precision_recall(X, Y)
    assert p > 0.85 and r > 0.85


def test_mmd_of_shifted_gaussians_matches_the_closed_form():
    # N(0, s^2 I) vs N(mu, s^2 I), kernel width h, d = 2:
    # MMD^2 = 2 (h^2 / (h^2 + 2 s^2))^(d/2) (1 - exp(-|mu|^2 / (2 (h^2 + 2 s^2))))
    h, s, shift = 1.0, 1.0, np.array([1.5, 0.0])
    X, Y = _gauss(3000, 0, 1), _gauss(3000, shift, 2)
    expected = 2 * (h * h / (h * h + 2 * s * s)) * (1 - np.exp(-shift @ shift / (2 * (h * h + 2 * s * s))))
    est, used = metrics.mmd2(X, Y, bandwidth=h)
    assert used == h and est == pytest.approx(expected, abs=0.01)


def test_sliced_wasserstein_of_a_shift_is_its_mean_projection():
    # W1 between a set and its copy shifted by d, along unit theta, is |d . theta|; E|d . theta| = 2|d|/pi in 2-D.
    X = _gauss(4000, 0, 3)
    d = np.array([0.0, 2.0])
    sw = metrics.sliced_wasserstein(X, X + d, n_projections=2000)
    assert sw == pytest.approx(2 * 2.0 / np.pi, rel=0.03)


def test_precision_and_recall_separate_quality_from_coverage():
    real, _ = data.toy("ring8", 2000, seed=0)
    centers, std = data.mixture_modes("ring8")
    collapsed = centers[[0, 1]][np.arange(2000) % 2] + std * np.random.default_rng(1).standard_normal((2000, 2))
    p, r = metrics.precision_recall(real, collapsed)
    assert p > 0.9 and r < 0.4  # good samples, poor coverage
    noise = np.random.default_rng(2).uniform(-3, 3, (2000, 2))
    p, _ = metrics.precision_recall(real, noise)
    assert p < 0.2


def test_mode_coverage_counts_modes_and_quality():
    centers, std = data.mixture_modes("ring8")
    X, y = data.toy("ring8", 4000, seed=0)
    cov = metrics.mode_coverage(X, centers, std)
    assert cov.captured == 8 and cov.high_quality > 0.98 and cov.counts.sum() == pytest.approx(4000, abs=40)
    half = X[y < 4]
    assert metrics.mode_coverage(half, centers, std).captured == 4
    far = X + 1.0
    assert metrics.mode_coverage(far, centers, std).high_quality < 0.05


def test_coverage_rule_on_constructed_samples():
    """PacGAN's rule: HQ within 3 std of the nearest mode in each coordinate; captured from a fifth of n / K."""
    centers, std = data.mixture_modes("ring8_pacgan")
    n = 2500
    on = centers[np.arange(n) % 8] + 2.9 * std * np.array([1.0, -1.0])  # every coordinate just inside 3 std
    cov = metrics.mode_coverage(on, centers, std)
    assert cov.captured == 8 and cov.high_quality == 1.0 and cov.need == 63  # ceil(0.2 * 2500 / 8)
    half = centers[np.arange(n) % 4]
    assert metrics.mode_coverage(half, centers, std).captured == 4
    junk = centers[np.arange(n) % 8] + 3.1 * std * np.array([1.0, 0.0])  # one coordinate just outside
    cj = metrics.mode_coverage(junk, centers, std)
    assert cj.captured == 0 and cj.high_quality == 0.0
    few = np.concatenate([centers[np.arange(n - 62) % 7], np.repeat(centers[7:], 62, 0)])  # mode 7: one short
    cf = metrics.mode_coverage(few, centers, std)
    assert cf.counts[7] == 62 and cf.captured == 7
    nan = np.full((10, 2), np.nan)
    assert metrics.mode_coverage(nan, centers, std).high_quality == 0.0
    g25, s25 = data.mixture_modes("grid25_pacgan")
    assert metrics.mode_coverage(g25.repeat(100, 0), g25, s25).need == 20  # PacGAN's 20 of 2,500 on the grid


def test_mosaic_tiles_row_major_with_padding_of_the_fill_and_says_where_the_gaps_are():
    from core.metrics import mosaic

    imgs = np.stack([np.full((2, 3), i, np.float32) for i in range(5)])
    m, gaps = mosaic(imgs, ncols=3, pad=1, fill=-1.0, gaps=True)
    assert m.shape == (2 * 3 - 1, 3 * 4 - 1) and gaps.shape == m.shape
    assert m[0, 0] == 0 and m[0, 4] == 1 and m[3, 0] == 3 and m[3, 4] == 4  # row-major
    assert (m[gaps] == -1).all() and not (m[~gaps] == -1).any()
    assert gaps.sum() == m.size - 5 * 2 * 3  # the sixth cell is empty: all of it counts as gap
    rgb = mosaic(np.zeros((4, 2, 2, 3)), pad=0)
    assert rgb.shape == (4, 4, 3)  # channels kept; default: a square
