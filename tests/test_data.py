import numpy as np
import pytest

from core import data


@pytest.mark.parametrize("name", sorted(data.TOY_SETS))
def test_toy_sets_are_seeded_shaped_and_boxed(name):
    X, y = data.toy(name, 500, seed=3)
    X2, y2 = data.toy(name, 500, seed=3)
    X3, _ = data.toy(name, 500, seed=4)
    assert X.shape == (500, 2) and X.dtype == np.float32 and y.shape == (500,)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    assert not np.array_equal(X, X3)
    assert np.abs(X).max() < 3.5


def test_mixtures_match_their_definition():
    for name, k in (("ring8", 8), ("grid25", 25)):
        centers, std = data.mixture_modes(name)
        X, y = data.toy(name, 20000, seed=0)
        assert len(centers) == k and set(np.unique(y)) == set(range(k))
        resid = X - centers[y]
        assert np.allclose(resid.mean(0), 0, atol=0.005)
        assert np.allclose(resid.std(0), std, rtol=0.05)
    assert np.allclose(np.linalg.norm(data.ring_centers(8), axis=1), data.RING_RADIUS)
    assert np.allclose(np.sort(np.unique(data.grid_centers(5)[:, 0])), [-2, -1, 0, 1, 2])


def test_checkerboard_fills_alternate_squares():
    X, _ = data.checkerboard(20000, seed=0)
    parity = (np.floor(X[:, 0]) + np.floor(X[:, 1])) % 2
    assert np.all(parity == 0)  # only the "black" squares of the board
    assert np.allclose(X.min(0), -2, atol=0.01) and np.allclose(X.max(0), 2, atol=0.01)


def test_moons_and_circles_follow_sklearn():
    from sklearn.datasets import make_moons

    X, y = data.moons(200, seed=5)
    Xs, ys = make_moons(200, noise=0.05, random_state=5)
    assert np.allclose(X, 1.5 * (Xs - [0.5, 0.25]), atol=1e-6) and np.array_equal(y, ys)
    X, _ = data.circles(200, seed=5, noise=0.0)
    r = np.sort(np.unique(np.round(np.linalg.norm(X, axis=1), 4)))
    assert np.allclose(r, [1.0, 2.0])


def test_spirals_and_swiss_roll_radius_grows_with_angle():
    X, y = data.spirals(2000, seed=0, noise=0.0)
    assert set(np.unique(y)) == {0, 1} and np.linalg.norm(X, axis=1).max() <= 2.5 + 1e-5
    X, y = data.swiss_roll(2000, seed=0, noise=0.0)
    r = np.linalg.norm(X, axis=1)
    assert np.all(np.diff([r[y == k].mean() for k in range(4)]) > 0)


def test_unknown_set_lists_choices():
    with pytest.raises(ValueError, match="valid choices"):
        data.toy("blobs", 10)


def test_image_sets():
    X, y = data.digits8()
    assert X.shape == (1797, 8, 8) and X.min() >= 0 and X.max() <= 1 and set(np.unique(y)) == set(range(10))
    X, y = data.mnist()
    assert X.shape == (5000, 28, 28) and X.dtype == np.float32 and 0 <= X.min() and X.max() <= 1
    assert set(np.unique(y)) == set(range(10))
    small = data.resize(X[:10], 16)
    assert small.shape == (10, 16, 16) and abs(small.mean() - X[:10].mean()) < 0.02


def test_split_is_seeded_and_stratified():
    X, y = data.digits8()
    a = data.split(X, y, 0.2, seed=1)
    b = data.split(X, y, 0.2, seed=1)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert len(a[1]) == int(np.ceil(0.2 * len(X)))
    assert np.allclose(np.bincount(a[3]) / len(a[3]), np.bincount(y) / len(y), atol=0.01)


def test_points_csv_parses_and_rejects_clearly():
    good = b"x,y\n" + b"\n".join(f"{i},{-i}".encode() for i in range(20))
    X = data.parse_points_csv(good)
    assert X.shape == (20, 2) and X[3].tolist() == [3, -3]
    cases = {
        b"\xff\xfe\x00garbage": "not UTF-8",
        b"1,2,3\n" * 20: "Expected 2 columns",
        b"1,abc\n" * 20: "Could not read",
        b"1,nan\n" * 20: "NaN",
        b"1,2\n" * 3: "at least",
        b"": "no data",
        b"1,2\n" * 30000: "limit",
    }
    for raw, msg in cases.items():
        with pytest.raises(data.DataError, match=msg):
            data.parse_points_csv(raw)
