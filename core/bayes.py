"""Gaussian naive Bayes vs logistic regression: the generative-discriminative pair.

Everything here is scikit-learn (``GaussianNB``, ``LogisticRegression``, ``StratifiedShuffleSplit``,
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
#: Digit sets (scikit-learn's 8x8 digits) of the learning-curve experiment (Ng & Jordan 2002): pairs and all ten.
CURVE_SETS = ("digits_0v1", "digits_2v3", "digits_3v8", "digits")


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


def make_lr(C: float = 1.0, standardise: bool = True):
    """Logistic regression (lbfgs, multinomial for several classes), on features standardised with the
    training set's mean and std (the 2-D view; ``lr_log_odds`` undoes it) or, ``standardise=False``, as given."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    lr = LogisticRegression(C=C, max_iter=2000)
    return make_pipeline(StandardScaler(), lr) if standardise else lr


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

#: Training examples per class of the learning curves (the bench uses the same).
CURVE_SIZES = (2, 4, 6, 10, 20, 50, 100)
#: GaussianNB's ``var_smoothing`` choices: scikit-learn's default (a floor only), and three real smoothings.
NB_SMOOTHINGS = (1e-9, 1e-2, 0.1, 1.0)
#: Logistic regression's input: pixels / 16 (a fixed scale, nothing learned) or standardised on the training set.
LR_PREPS = ("raw", "standardised")
#: Logistic regression's inverse L2 strength (scikit-learn's ``C``; large = nearly unregularised).
LR_CS = (0.01, 1.0, 100.0, 1e4)


@dataclass(frozen=True)
class CurveConfig:
    """One learning-curve experiment. The defaults are the setting closest to Ng & Jordan's protocol:
    NB by plain maximum likelihood (1e-9 only keeps a variance off zero), LR by (nearly unregularised)
    conditional likelihood on the pixels as they are. C = 100 rather than no penalty: with a few
    separable training images the unregularised optimum lies at infinity."""
    data: str = "digits_0v1"          # one of CURVE_SETS
    var_smoothing: float = 1e-9       # GaussianNB's variance floor, a share of the largest pixel variance
    lr_prep: str = "raw"              # one of LR_PREPS
    C: float = 100.0                  # logistic regression's inverse regularisation strength
    n_splits: int = 20                # random train/test splits per training size
    seed: int = 0                     # draws the splits and the training images
    sizes: tuple = CURVE_SIZES        # training examples per class, increasing
    test_size: float = 0.3            # share of each class held out for the test error

    def __post_init__(self):
        if self.data not in CURVE_SETS:
            raise ValueError(f"Unknown curve data set {self.data!r}; valid choices are {list(CURVE_SETS)}.")
        if self.lr_prep not in LR_PREPS:
            raise ValueError(f"Unknown LR preprocessing {self.lr_prep!r}; valid choices are {list(LR_PREPS)}.")
        if not (self.var_smoothing >= 0 and self.C > 0 and self.n_splits >= 2 and 0 < self.test_size < 1):
            raise ValueError("need var_smoothing >= 0, C > 0, n_splits >= 2 and 0 < test_size < 1.")
        m = list(self.sizes)
        if not m or m[0] < 1 or m != sorted(set(m)) or any(int(v) != v for v in m):
            raise ValueError(f"sizes must be increasing whole numbers >= 1, got {self.sizes}.")


def curve_data(name: str):
    """The digits of the learning-curve experiment, ``(X, y)``: 8x8 pixels scaled to [0, 1] (the raw
    0..16 grey levels / 16, a fixed scale), and for a pair "digits_avb" the labels 0 (digit a) and 1 (digit b)."""
    from sklearn import datasets

    if name not in CURVE_SETS:
        raise ValueError(f"Unknown curve data set {name!r}; valid choices are {list(CURVE_SETS)}.")
    d = datasets.load_digits()
    X, y = d.data / 16.0, d.target
    if name != "digits":
        a, b = int(name[-3]), int(name[-1])
        keep = (y == a) | (y == b)
        X, y = X[keep], (y[keep] == b).astype(int)
    return X, y


@_single_threaded
def learning_curves(cfg: CurveConfig | None = None) -> dict:
    """Test error against training examples per class m, for NB and LR, over ``cfg.n_splits`` random splits.

    Each split holds out ``test_size`` of every class; from the rest it draws one random order per class,
    and size m trains on the first m images of each class (so a split's training sets are nested, and every
    class has exactly m). NB is ``GaussianNB(var_smoothing)``; LR is ``LogisticRegression(C)`` on the pixels
    in [0, 1] or standardised with the mean and std of its m-per-class training images.
    Returns ``{"sizes": m, "NB": errors, "LR": errors}``, errors of shape (len(m), n_splits), in [0, 1].
    """
    from sklearn.model_selection import StratifiedShuffleSplit
    from sklearn.naive_bayes import GaussianNB

    cfg = cfg or CurveConfig()
    X, y = curve_data(cfg.data)
    classes = np.unique(y)
    sizes = np.asarray(cfg.sizes, int)
    out = {"sizes": sizes, "NB": np.empty((len(sizes), cfg.n_splits)), "LR": np.empty((len(sizes), cfg.n_splits))}
    rng = np.random.default_rng(cfg.seed)
    splitter = StratifiedShuffleSplit(n_splits=cfg.n_splits, test_size=cfg.test_size, random_state=cfg.seed)
    for s, (tr, te) in enumerate(splitter.split(X, y)):
        pools = [rng.permutation(tr[y[tr] == k]) for k in classes]
        if min(len(p) for p in pools) < sizes[-1]:
            raise ValueError(f"{cfg.data!r} has only {min(len(p) for p in pools)} training images in its smallest "
                             f"class; sizes must not exceed that.")
        for i, m in enumerate(sizes):
            idx = np.concatenate([p[:m] for p in pools])
            nb = GaussianNB(var_smoothing=cfg.var_smoothing).fit(X[idx], y[idx])
            lr = make_lr(cfg.C, standardise=cfg.lr_prep == "standardised").fit(X[idx], y[idx])
            out["NB"][i, s] = np.mean(nb.predict(X[te]) != y[te])
            out["LR"][i, s] = np.mean(lr.predict(X[te]) != y[te])
    return out


def curve_summary(curves: dict) -> dict:
    """Mean and std (over the splits) of both curves, and the sizes m at which NB's mean error is the lower:
    ``{"NB": (mean, std), "LR": (mean, std), "nb_wins": [m, ...], "nb_wins_up_to": m or None}``, where
    ``nb_wins_up_to`` is the largest m such that NB wins at every size up to it (None if not at the smallest)."""
    m = [int(v) for v in curves["sizes"]]
    out = {k: (curves[k].mean(1), curves[k].std(1, ddof=1)) for k in ("NB", "LR")}
    wins = out["NB"][0] < out["LR"][0]
    out["nb_wins"] = [v for v, w in zip(m, wins) if w]
    upto = None
    for v, w in zip(m, wins):
        if not w:
            break
        upto = v
    out["nb_wins_up_to"] = upto
    return out


def curve_report(curves: dict) -> str:
    """The measured numbers of one learning-curve experiment, in words (markdown): smallest and largest m,
    and where NB's mean error is the lower."""
    s = curve_summary(curves)
    m = [int(v) for v in curves["sizes"]]
    at = lambda i: (f"at **m = {m[i]}** per class: NB {s['NB'][0][i]:.1%} ± {s['NB'][1][i]:.1%}, "
                    f"LR {s['LR'][0][i]:.1%} ± {s['LR'][1][i]:.1%}")
    wins = s["nb_wins"]
    if not wins:
        verdict = "**NB is better at no m**: LR has the lower mean error at every size."
    elif s["nb_wins_up_to"] == wins[-1]:
        verdict = f"**NB is better up to m = {wins[-1]}**, LR from there on." if wins[-1] != m[-1] else \
            "**NB is better at every m** measured here."
    else:
        verdict = f"**NB has the lower mean error at m = {', '.join(map(str, wins))}** only."
    return f"Measured ({curves['NB'].shape[1]} splits, mean ± std): {at(0)}; {at(len(m) - 1)}. {verdict}"


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
