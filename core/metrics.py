"""Sample-quality measures shared by every family (numpy + scikit-learn, no torch needed).

All take two point sets ``X`` (n, d) and ``Y`` (m, d), e.g. held-out data and model samples.

- :func:`mmd2`: squared maximum mean discrepancy with a Gaussian kernel (unbiased U-statistic).
- :func:`sliced_wasserstein`: mean 1-D Wasserstein-1 distance over random projections.
- :func:`precision_recall`: k-NN precision and recall of samples (Kynkaanniemi et al., 2019).
- :func:`mode_coverage`: for Gaussian mixtures, which modes a sampler hits and how cleanly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _as2d(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    return X.reshape(len(X), -1)


def median_bandwidth(X, Y, max_points: int = 1000, seed: int = 0) -> float:
    """The median heuristic: the median pairwise distance of the pooled points (on a subsample)."""
    Z = np.concatenate([_as2d(X), _as2d(Y)])
    rng = np.random.default_rng(seed)
    if len(Z) > max_points:
        Z = Z[rng.choice(len(Z), max_points, replace=False)]
    d2 = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)
    return float(np.sqrt(np.median(d2[np.triu_indices(len(Z), 1)])))


def mmd2(X, Y, bandwidth: float | None = None) -> tuple[float, float]:
    """Unbiased squared MMD with the kernel k(x, y) = exp(-||x - y||^2 / (2 h^2)).

    ``h`` is ``bandwidth``, or the median heuristic on the pooled points when None.
    Returns ``(mmd2, h)``. About 0 (it can be slightly negative) when X and Y share a distribution.
    """
    X, Y = _as2d(X), _as2d(Y)
    h = float(bandwidth) if bandwidth is not None else median_bandwidth(X, Y)
    if not h > 0:
        raise ValueError("bandwidth must be positive")

    def k(A, B):
        d2 = (A ** 2).sum(1)[:, None] + (B ** 2).sum(1)[None, :] - 2 * A @ B.T
        return np.exp(-np.maximum(d2, 0) / (2 * h * h))

    n, m = len(X), len(Y)
    kxx, kyy, kxy = k(X, X), k(Y, Y), k(X, Y)
    est = ((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
           - 2 * kxy.mean())
    return float(est), h


def sliced_wasserstein(X, Y, n_projections: int = 256, seed: int = 0) -> float:
    """Mean over random unit directions theta of W1(theta.X, theta.Y), the 1-D Wasserstein-1 distance.

    1-D W1 is the mean absolute difference of matching quantiles (both sets are evaluated at
    the same 200 quantile levels, so n and m may differ).
    """
    X, Y = _as2d(X), _as2d(Y)
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal((X.shape[1], n_projections))
    theta /= np.linalg.norm(theta, axis=0, keepdims=True)
    q = (np.arange(200) + 0.5) / 200
    px, py = np.quantile(X @ theta, q, axis=0), np.quantile(Y @ theta, q, axis=0)
    return float(np.abs(px - py).mean())


def precision_recall(real, fake, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al., 2019).

    Each point's k-NN radius within its own set defines a manifold (a union of balls).
    Precision = share of ``fake`` points inside the real manifold (quality);
    recall = share of ``real`` points inside the fake manifold (coverage / diversity).
    """
    from sklearn.neighbors import NearestNeighbors

    real, fake = _as2d(real), _as2d(fake)

    def inside(ref, query):
        nn = NearestNeighbors(n_neighbors=k + 1).fit(ref)
        radius = nn.kneighbors(ref)[0][:, -1]          # distance to the k-th neighbour (self excluded)
        dist, idx = NearestNeighbors(n_neighbors=min(len(ref), 50)).fit(ref).kneighbors(query)
        return float(np.mean((dist <= radius[idx]).any(1)))

    return inside(real, fake), inside(fake, real)


@dataclass(frozen=True)
class ModeCoverage:
    counts: np.ndarray        # high-quality samples at each mode (assigned to their nearest centre)
    captured: int             # modes holding at least ``need`` high-quality samples
    n_modes: int
    high_quality: float       # share of samples within n_std standard deviations of their nearest mode, per coordinate
    need: int = 1             # high-quality samples a mode needs to count as captured

    def as_dict(self) -> dict:
        """The GAN history's form: ``modes``, ``n_modes``, ``hq``, ``mode_counts``, ``mode_need``."""
        return {"modes": self.captured, "n_modes": self.n_modes, "hq": self.high_quality,
                "mode_counts": self.counts.astype(int).tolist(), "mode_need": self.need}


#: The coverage rule's constants (PacGAN, Lin et al. 2018, section 4.1, after VEEGAN and unrolled GANs)
HQ_STDS = 3.0
MIN_SHARE = 0.2


def mode_coverage(samples, centers, std: float, n_std: float = HQ_STDS, min_share: float = MIN_SHARE) -> ModeCoverage:
    """Mode coverage of samples from a Gaussian mixture of K equally weighted components of standard deviation
    ``std`` (GenLab's one rule: the GAN page, its bench and the comparison page all count modes with it).

    - Each sample is assigned to its nearest centre (Euclidean). It is **high quality** (HQ) when *each coordinate*
      lies within ``n_std`` (3) standard deviations of that centre: ``max_j |x_j - c_j| <= 3 std`` (PacGAN's rule).
    - A mode is **captured** when it holds at least ``need = ceil(min_share * n / K)`` HQ samples: a fifth of the
      n / K it would hold if the samples were spread evenly (PacGAN: fewer than 20 of 2,500 samples on the 25-mode
      grid is a lost mode; the same fifth on the ring of 8 is 63 of 2,500). Non-finite samples count as junk.
    """
    S, C = _as2d(samples), _as2d(centers)
    S = np.where(np.isfinite(S), S, 1e12)
    diff = S[:, None, :] - C[None, :, :]
    nearest = (diff ** 2).sum(-1).argmin(1) if len(S) else np.zeros(0, int)
    good = np.abs(S - C[nearest]).max(1) <= n_std * std if len(S) else np.zeros(0, bool)
    counts = np.bincount(nearest[good], minlength=len(C))
    need = max(1, int(np.ceil(min_share * len(S) / len(C) - 1e-9)))
    captured = int((counts >= need).sum()) if len(S) else 0
    return ModeCoverage(counts, captured, len(C), float(good.mean()) if len(S) else 0.0, need)


@dataclass(frozen=True)
class KDEReference:
    estimator: object         # the fitted sklearn.neighbors.KernelDensity (score_samples -> ln p, sample)
    bandwidth: float          # the Gaussian kernel's bandwidth, chosen by cross-validated log-likelihood
    test_nll: float           # mean -ln p over the held-out points, nats per point
    train_nll: float


def kde_reference(X_train, X_test, seed: int = 0, folds: int = 3,
                  bandwidths=None, rtol: float = 1e-3) -> KDEReference:
    """A reference density for any family's test log-likelihood: scikit-learn's ``KernelDensity`` (Gaussian
    kernel) with the bandwidth that maximises the ``folds``-fold cross-validated log-likelihood on ``X_train``
    (``GridSearchCV``), scored on ``X_test`` in nats per point (the same units as a flow's exact NLL).
    ``rtol``: the kernel sums' relative tolerance (scikit-learn's tree approximation; 1e-3 halves the time and
    moves the NLL by about 1e-4 nats). ``bandwidths``: the grid searched (default 12 from 0.01 to 1.6, log-spaced)."""
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.neighbors import KernelDensity
    from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

    bandwidths = np.logspace(-2.0, 0.2, 12) if bandwidths is None else bandwidths
    Xtr, Xte = _as2d(X_train), _as2d(X_test)
    if len(Xtr) < 6 or len(Xte) < 1:
        raise ValueError(f"Need at least 6 training points and 1 test point, got {len(Xtr)} and {len(Xte)}.")
    with threadpool_limits(limits=1):  # small fits: extra threads only contend on a busy machine
        search = GridSearchCV(KernelDensity(kernel="gaussian", rtol=rtol), {"bandwidth": list(bandwidths)},
                              cv=KFold(min(folds, len(Xtr) // 2), shuffle=True, random_state=seed))
        search.fit(Xtr)
    kde = search.best_estimator_
    return KDEReference(kde, float(kde.bandwidth), float(-kde.score_samples(Xte).mean()),
                        float(-kde.score_samples(Xtr).mean()))


# ----------------------------------------------------------------------------------------------- mosaics

def mosaic(images, ncols: int | None = None, pad: int = 1, fill: float = 1.0, gaps: bool = False):
    """Tile (n, H, W) images (or (n, H, W, C)) into one array, row-major, ``ncols`` wide (default: a square), with
    ``pad`` pixels of ``fill`` between them: the one image grid of every page. ``gaps``: also return the (rows, cols)
    mask of the padding, for figures that colour it apart."""
    images = np.asarray(images, np.float32)
    n, h, w = images.shape[:3]
    ncols = int(ncols or np.ceil(np.sqrt(n)))
    nrows = int(np.ceil(n / ncols))
    out = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad) + images.shape[3:], fill, np.float32)
    mask = np.ones(out.shape[:2], bool)
    for i, im in enumerate(images):
        r, c = divmod(i, ncols)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = im
        mask[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = False
    return (out, mask) if gaps else out
