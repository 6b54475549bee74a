"""Gaussian naive Bayes vs logistic regression: the generative-discriminative pair.

Everything here is scikit-learn (``GaussianNB``, ``LogisticRegression``, ``learning_curve``,
its datasets); what is written by hand is what the lecture teaches: naive Bayes rewritten
as a linear (or quadratic) model of the log-odds, and sampling from NB's joint P(Y) P(X|Y).
"""
from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

import numpy as np


def _single_threaded(fn):
    """Run ``fn`` with BLAS/OpenMP limited to one thread.

    These are many tiny fits: threaded BLAS only adds synchronisation, and on a busy 2-core
    server it made the learning curves 7x slower (13 s vs 1.9 s measured here).
    """
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            return fn(*args, **kwargs)
    return wrapper

#: 2-D data sets of the page. "gaussians" is generated; the rest come with scikit-learn.
DATASETS = ("gaussians", "moons", "wine", "breast_cancer", "iris")
#: Full-dimensional sets of the learning-curve experiment (Ng & Jordan 2002).
CURVE_SETS = ("digits_0v1", "digits_2v3", "digits", "breast_cancer", "wine")


@dataclass(frozen=True)
class BayesConfig:
    dataset: str = "gaussians"    # one of DATASETS
    n_per_class: int = 100        # training points per class (before the test split)
    separation: float = 2.0       # distance between the two Gaussian class means ("gaussians" only)
    correlation: float = 0.0      # correlation of the two features within each class ("gaussians" only)
    features: tuple = (0, 1)      # the two feature indices of a scikit-learn set
    test_size: float = 0.3        # share of points held out for test accuracy / log-loss
    seed: int = 0                 # draws the data and the split

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"Unknown dataset {self.dataset!r}; valid choices are {list(DATASETS)}.")
        if not -0.99 <= self.correlation <= 0.99:
            raise ValueError("correlation must lie in [-0.99, 0.99].")
        if self.n_per_class < 2:
            raise ValueError("n_per_class must be at least 2.")


def _sk_set(name: str):
    from sklearn import datasets

    loader = {"wine": datasets.load_wine, "breast_cancer": datasets.load_breast_cancer, "iris": datasets.load_iris}[name]
    return loader()


def feature_names(dataset: str) -> list[str]:
    """Names of the features a dataset offers (two for the generated sets)."""
    if dataset in ("gaussians", "moons"):
        return ["x1", "x2"]
    return [str(n) for n in _sk_set(dataset).feature_names]


def make_dataset(cfg: BayesConfig):
    """Return ``(X, y, class_names)`` with X of shape (n, 2) for the page's 2-D view.

    - gaussians: class k in {0, 1} ~ N(mu_k, Sigma), mu_0 = (-s/2, 0), mu_1 = (s/2, 0),
      Sigma = [[1, r], [r, 1]] with r = ``correlation`` (correlated features break NB's assumption).
    - moons: scikit-learn's ``make_moons`` with noise 0.25.
    - wine / breast_cancer / iris: the two chosen features, up to ``n_per_class`` points per class.
    """
    rng = np.random.default_rng(cfg.seed)
    n = cfg.n_per_class
    if cfg.dataset == "gaussians":
        cov = np.array([[1.0, cfg.correlation], [cfg.correlation, 1.0]])
        L = np.linalg.cholesky(cov)
        means = np.array([[-cfg.separation / 2, 0.0], [cfg.separation / 2, 0.0]])
        X = np.concatenate([means[k] + rng.standard_normal((n, 2)) @ L.T for k in (0, 1)])
        y = np.repeat([0, 1], n)
        return X, y, ["class 0", "class 1"]
    if cfg.dataset == "moons":
        from sklearn.datasets import make_moons

        X, y = make_moons(2 * n, noise=0.25, random_state=cfg.seed)
        return X, y, ["moon 0", "moon 1"]
    d = _sk_set(cfg.dataset)
    nf = d.data.shape[1]
    f = tuple(int(i) for i in cfg.features)
    if len(f) != 2 or len(set(f)) != 2 or not all(0 <= i < nf for i in f):
        raise ValueError(f"features must be two different indices in 0..{nf - 1}, got {cfg.features}.")
    idx = np.concatenate([rng.permutation(np.flatnonzero(d.target == k))[:n] for k in np.unique(d.target)])
    return d.data[idx][:, list(f)], d.target[idx], [str(c) for c in d.target_names]


@dataclass
class PairResult:
    """The fitted pair and their scores on one split."""
    nb: object
    lr: object
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    scores: dict  # {"NB": {"train_acc", "test_acc", "train_logloss", "test_logloss"}, "LR": {...}}


def make_lr(C: float = 1.0):
    """Logistic regression on standardised features (lbfgs, multinomial for several classes)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))


@_single_threaded
def fit_pair(X, y, test_size: float = 0.3, seed: int = 0) -> PairResult:
    """Fit ``GaussianNB`` and logistic regression on the same stratified split and score both."""
    from sklearn.metrics import accuracy_score, log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.naive_bayes import GaussianNB

    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
    nb = GaussianNB().fit(Xtr, ytr)
    lr = make_lr().fit(Xtr, ytr)
    labels = np.unique(y)
    scores = {}
    for name, m in (("NB", nb), ("LR", lr)):
        scores[name] = {
            "train_acc": accuracy_score(ytr, m.predict(Xtr)),
            "test_acc": accuracy_score(yte, m.predict(Xte)),
            "train_logloss": log_loss(ytr, m.predict_proba(Xtr), labels=labels),
            "test_logloss": log_loss(yte, m.predict_proba(Xte), labels=labels),
        }
    return PairResult(nb, lr, Xtr, Xte, ytr, yte, scores)


def proba_grid(model, bounds, resolution: int = 100):
    """``(xs, ys, P)`` with P of shape (resolution, resolution, n_classes): P(y | x) on a grid over ``bounds``."""
    (x0, x1), (y0, y1) = bounds
    xs, ys = np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)
    gx, gy = np.meshgrid(xs, ys)
    P = model.predict_proba(np.c_[gx.ravel(), gy.ravel()])
    return xs, ys, P.reshape(resolution, resolution, -1)


def plot_bounds(X, pad: float = 0.15):
    lo, hi = X.min(0), X.max(0)
    span = np.maximum(hi - lo, 1e-9)
    return (lo[0] - pad * span[0], hi[0] + pad * span[0]), (lo[1] - pad * span[1], hi[1] + pad * span[1])


# ---- naive Bayes as a linear model

def tie_variances(nb):
    """A copy of a fitted ``GaussianNB`` whose per-feature variances are shared by all classes.

    sigma^2_j = sum_k pi_k sigma^2_{k,j} (the prior-weighted within-class variance). With shared
    variances the quadratic terms of the log-odds cancel and Gaussian NB is exactly a linear model.
    """
    tied = copy.deepcopy(nb)
    pooled = (nb.class_prior_[:, None] * nb.var_).sum(0)
    tied.var_ = np.tile(pooled, (len(nb.classes_), 1))
    return tied


def nb_log_odds(nb):
    """NB's log-odds of every class k against class 0, as a quadratic function of x.

    From the lecture's Gaussian feature likelihoods,
        log P(y=k|x) - log P(y=0|x) = b_k + sum_j w_{k,j} x_j + sum_j a_{k,j} x_j^2 with
        a_{k,j} = 1/(2 s0_j) - 1/(2 sk_j),        (s = sigma^2; zero when variances are shared)
        w_{k,j} = mu_{k,j}/sk_j - mu_{0,j}/s0_j,
        b_k     = log(pi_k/pi_0) + sum_j [ log(sqrt(s0_j/sk_j)) - mu_{k,j}^2/(2 sk_j) + mu_{0,j}^2/(2 s0_j) ].
    Returns ``(a, w, b)`` of shapes (K-1, p), (K-1, p), (K-1,).
    """
    mu, s, pi = nb.theta_, nb.var_, nb.class_prior_
    a = 1 / (2 * s[0]) - 1 / (2 * s[1:])
    w = mu[1:] / s[1:] - mu[0] / s[0]
    b = (np.log(pi[1:] / pi[0])
         + (0.5 * np.log(s[0] / s[1:]) - mu[1:] ** 2 / (2 * s[1:]) + mu[0] ** 2 / (2 * s[0])).sum(1))
    return a, w, b


def proba_from_log_odds(a, w, b, X):
    """P(y|x) from the log-odds parameters: softmax over [0, b_k + w_k.x + a_k.x^2]."""
    X = np.asarray(X, float)
    logits = np.concatenate([np.zeros((len(X), 1)), X @ w.T + (X ** 2) @ a.T + b], 1)
    logits -= logits.max(1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(1, keepdims=True)


def lr_log_odds(lr_pipeline):
    """Logistic regression's log-odds of class k vs class 0 in the original (unscaled) features.

    Undoes the ``StandardScaler``: w_orig = w / scale, b_orig = b - sum(w * mean / scale).
    For a binary model scikit-learn stores one row (class 1 vs 0); for K classes the softmax
    rows are differenced against class 0. Returns ``(w, b)`` of shapes (K-1, p), (K-1,).
    """
    scaler, lr = lr_pipeline[0], lr_pipeline[-1]
    W, B = lr.coef_, lr.intercept_
    if W.shape[0] > 1:
        W, B = W[1:] - W[0], B[1:] - B[0]
    w = W / scaler.scale_
    b = B - (W * scaler.mean_ / scaler.scale_).sum(1)
    return w, b


# ---- the generative side

def sample_joint(nb, n: int, seed: int):
    """Draw n new pairs (x, y) from NB's joint: y ~ Categorical(pi), then x_j ~ N(mu_{y,j}, sigma^2_{y,j}) independently."""
    rng = np.random.default_rng(seed)
    y = rng.choice(len(nb.classes_), size=n, p=nb.class_prior_)
    X = nb.theta_[y] + np.sqrt(nb.var_[y]) * rng.standard_normal((n, nb.theta_.shape[1]))
    return X, nb.classes_[y]


# ---- learning curves (Ng & Jordan 2002)

def curve_data(name: str):
    """Full-dimensional data of the learning-curve experiment: ``(X, y)``."""
    from sklearn import datasets

    if name not in CURVE_SETS:
        raise ValueError(f"Unknown curve data set {name!r}; valid choices are {list(CURVE_SETS)}.")
    if name.startswith("digits"):
        d = datasets.load_digits()
        X, y = d.data, d.target
        if name != "digits":
            a, b = int(name[-3]), int(name[-1])
            keep = (y == a) | (y == b)
            X, y = X[keep], (y[keep] == b).astype(int)
        return X, y
    d = _sk_set(name)
    return d.data, d.target


def _interleaved_splits(y, n_splits, test_size, seed):
    """Stratified random splits whose training indices are ordered round-robin by class.

    ``learning_curve`` trains on the first m training indices; interleaving the classes makes
    every prefix hold every class (and stay near-stratified) even for the smallest m.
    """
    from sklearn.model_selection import StratifiedShuffleSplit

    rng = np.random.default_rng(seed)
    splits = []
    for tr, te in StratifiedShuffleSplit(n_splits=n_splits, test_size=test_size, random_state=seed).split(np.zeros(len(y)), y):
        by_class = [rng.permutation(tr[y[tr] == k]) for k in np.unique(y)]
        order = [idx for group in zip(*by_class) for idx in group]  # round robin while all classes last
        used = set(order)
        rest = rng.permutation([i for i in tr if i not in used])
        splits.append((np.array(order + list(rest), dtype=int), te))
    return splits


@_single_threaded
def learning_curves(name: str, sizes=None, n_splits: int = 20, seed: int = 0, test_size: float = 0.3,
                    var_smoothing: float = 0.1):
    """Test error against training-set size for NB and LR, over ``n_splits`` random splits.

    Uses scikit-learn's ``learning_curve``. ``var_smoothing`` is GaussianNB's own hyperparameter
    (a share of the largest feature variance added to every variance): pixel features that are
    constant in a small training set would otherwise get a near-zero variance and veto a class
    on their own. LR is scikit-learn's usual recipe, standardised features with C = 1. Returns ``{"sizes": m, "NB": errors, "LR": errors}`` where
    errors has shape (len(m), n_splits), so a page can draw the mean and a band.
    """
    from sklearn.model_selection import learning_curve
    from sklearn.naive_bayes import GaussianNB

    X, y = curve_data(name)
    n_classes = len(np.unique(y))
    n_train = int(len(y) * (1 - test_size))
    if sizes is None:
        sizes = np.unique(np.geomspace(max(2 * n_classes, 4), min(n_train, 600), 12).astype(int))
    if sizes.min() < n_classes or sizes.max() > n_train:
        raise ValueError(f"training sizes must lie in [{n_classes}, {n_train}] for {name!r}.")
    sizes = np.asarray(sizes, int)
    cv = _interleaved_splits(y, n_splits, test_size, seed)
    out = {"sizes": sizes}
    for label, est in (("NB", GaussianNB(var_smoothing=var_smoothing)), ("LR", make_lr())):
        _, _, test = learning_curve(est, X, y, train_sizes=sizes, cv=cv, scoring="accuracy", n_jobs=1, shuffle=False)
        out[label] = 1.0 - test
    return out


# ---- duplicated features

@_single_threaded
def duplicate_experiment(X, y, copies=(1, 2, 4, 8, 16), feature: int = 0, test_size: float = 0.3, seed: int = 0):
    """Duplicate feature ``feature`` k times and refit both models.

    NB treats the k copies as k independent pieces of evidence and grows overconfident
    (its log-loss rises); LR spreads one weight over the copies and is unaffected.
    Returns a list of dicts with k and each model's test accuracy and log-loss.
    """
    rows = []
    for k in copies:
        Xk = np.concatenate([X] + [X[:, [feature]]] * (k - 1), 1) if k > 1 else X
        r = fit_pair(Xk, y, test_size=test_size, seed=seed)
        rows.append({"copies": k,
                     "NB test log-loss": r.scores["NB"]["test_logloss"], "LR test log-loss": r.scores["LR"]["test_logloss"],
                     "NB test accuracy": r.scores["NB"]["test_acc"], "LR test accuracy": r.scores["LR"]["test_acc"]})
    return rows
