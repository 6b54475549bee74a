"""Normalizing flows: a RealNVP-style flow of coupling layers (affine, or rational-quadratic splines), trained by
exact maximum likelihood.

Notation of the lecture (*Flow-Based Methods / Normalizing Flows*)
------------------------------------------------------------------
A simple base density p_0 (the standard normal N(0, I), or with ``base_components = m`` a learned
mixture of m Gaussians, :class:`MixtureBase`) is carried into a complex one by a chain of K invertible
maps f_1 ... f_K:

    z_0 ~ p_0,     z_k = f_k(z_{k-1})  (k = 1..K),     x = z_K ~ p_K.

Change of variables, applied once per map and summed over the chain:

    ln p_K(z_K) = ln p_0(z_0) - sum_{k=1}^{K} ln |det d f_k / d z_{k-1}|                  (lecture, "log-likelihood")

Directions used in this module (the issue's names, RealNVP's convention):

* ``forward(x)``: data -> base, z_0 = f_1^{-1}(...f_K^{-1}(x)). Used for likelihoods. It returns
  ``sum_k ln |det d f_k^{-1} / d z_k| = - sum_k ln |det d f_k / d z_{k-1}|``, so
  ``log_prob(x) = ln p_0(z_0) + logdet_forward``.
* ``inverse(z_0)``: base -> data, x = f_K(...f_1(z_0)). Used for sampling. It returns
  ``sum_k ln |det d f_k / d z_{k-1}|``, so ``log_prob(x) = ln p_0(z_0) - logdet_inverse``.

Each f_k is one *layer*: an affine coupling map (Dinh et al., 2017, "Real NVP"), preceded on the way
data -> base by an ActNorm (Kingma & Dhariwal, 2018, "Glow") when ``actnorm`` is on. Layer k leaves
the coordinates a (mask m_k = 1) unchanged and moves the others, b, by an affine map whose log-scale s
and shift t a small MLP computes from the unchanged part; consecutive layers alternate the mask so
that every coordinate is moved. As in the Real NVP paper, the affine map is written in the
likelihood direction:

    f_k^{-1} (data -> base):  (z_{k-1})_a = (z_k)_a,   (z_{k-1})_b = (z_k)_b * exp(s) + t,   s, t = MLP((z_k)_a)
    f_k      (base -> data):  (z_k)_a = (z_{k-1})_a,   (z_k)_b = ((z_{k-1})_b - t) * exp(-s)
    ln |det d f_k / d z_{k-1}| = - sum_b s_b           (the Jacobian is triangular, its diagonal exp(-s))

With ``coupling="spline"`` (Durkan et al., 2019, "Neural Spline Flows") the moved coordinates go instead through
monotone rational-quadratic splines g with ``bins`` bins on [-B, B] (B = ``tail_bound``; the identity outside),
whose bin widths, heights and knot slopes the same kind of MLP computes from the unchanged part
(:func:`rq_spline`, :class:`SplineCoupling`):

    f_k^{-1}:  (z_{k-1})_b = g((z_k)_b; theta((z_k)_a)),    ln |det d f_k / d z_{k-1}| = - sum_b ln g'((z_k)_b)

The hand-written parts are the ones that teach (the coupling map, ActNorm, the change of variables);
they mirror ``zuko.flows.coupling.GeneralCouplingTransform`` / ``normflows.flows.AffineCouplingBlock``
and ``normflows.flows.ActNorm``. Everything else is torch (MLPs, Adam) and scikit-learn (the reference
densities :func:`reference_densities`: ``KernelDensity`` with a cross-validated bandwidth and
``GaussianMixture``).

Usage::

    Xtr, Xte = make_data("moons", n=6000, seed=0)
    model = train(FlowConfig(), (Xtr, Xte), callback=lambda step, m: print(step, m["test/nll"]))
    model.log_prob(Xte)          # exact ln p(x) per point, nats
    model.sample(500, seed=1)    # (500, 2) float32

Training a shipped checkpoint from the command line (the data its config names, :func:`load_data`)::

    python -m core train flow --data moons --out checkpoints/flow_moons
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core import checkpoints, runtime, training
from core import data as gdata
from core.training import Config, TrainingDiverged, check_choice

FAMILY = "flow"
LIKELIHOOD = "exact"  # model.log_prob is ln p(x) itself, by the change of variables
LOG_2PI = math.log(2 * math.pi)

#: The activations a conditioner MLP may use.
ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU, "tanh": nn.Tanh, "elu": nn.ELU, "gelu": nn.GELU}
#: The coupling maps a layer may use (FlowConfig.coupling).
COUPLINGS = ("affine", "spline")
#: Data sets for which checkpoints ship (names of :func:`core.data.toy`).
DEFAULT_SETS = ("moons", "ring8", "checkerboard", "spirals", "circles")



@dataclass(frozen=True)
class FlowConfig(Config):
    """Every hyperparameter of a flow and its training, and the seed. Rebuilds the model (diffusers-style)."""

    dim: int = 2  # D, the number of data coordinates
    n_layers: int = 8  # K, the number of coupling layers f_1..f_K (masks alternate between layers)
    hidden: int = 64  # width of each hidden layer of the conditioner MLP that outputs (s, t)
    depth: int = 2  # number of hidden layers in each conditioner MLP
    activation: str = "relu"  # conditioner nonlinearity, one of ACTIVATIONS
    coupling: str = "affine"  # the coupling map, one of COUPLINGS: "affine" (Real NVP) or "spline" (rational-quadratic)
    bins: int = 8  # spline coupling: number of bins K of each rational-quadratic spline
    tail_bound: float = 5.0  # spline coupling: the spline lives on [-B, B]; outside it the map is the identity
    base_components: int = 0  # p_0: 0 = the standard normal N(0, I); k >= 1 = a learned mixture of k Gaussians
    actnorm: bool = False  # an ActNorm (per-coordinate affine, data-initialised) in every layer
    scale_bound: float = 3.0  # |s| <= scale_bound via s = bound * tanh(raw / bound): keeps exp(s) finite
    batch_size: int = 512  # points per gradient step, drawn with replacement from the training set
    lr: float = 2e-3  # Adam learning rate at step 0
    lr_decay: float = 0.5  # the learning rate is multiplied by this every `lr_half_life` steps ...
    lr_half_life: int = 1000  # ... (a step-indexed exponential decay, so a run stopped early is still good)
    lr_min: float = 5e-5  # ... and never falls below this
    weight_decay: float = 0.0  # Adam's L2 penalty
    grad_clip: float = 10.0  # clip the gradient norm to this (0 = no clipping)
    ema: float = 0.99  # the model evaluated and sampled is an exponential moving average of the weights (0 = off)
    steps: int = 4000  # total gradient steps of a full training run
    eval_every: int = 50  # compute train / test NLL and call the callback every this many steps
    data: str = "moons"  # the toy set (core.data.toy) that load_data draws: what `python -m core train flow` fits
    n_points: int = 6000  # points drawn from it (2/3 train, 1/3 test)
    data_seed: int = 0  # seed of the drawn points and of their split (apart from `seed`: models share a test set)
    seed: int = 0  # seeds weight init and the batch order: same config + data -> bit-identical model

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"Unknown activation {self.activation!r}; valid choices are {sorted(ACTIVATIONS)}.")
        if self.coupling not in COUPLINGS:
            raise ValueError(f"Unknown coupling {self.coupling!r}; valid choices are {list(COUPLINGS)}.")
        check_choice("data", self.data, sorted(gdata.TOY_SETS))
        ints = {"dim": (self.dim, 2), "n_layers": (self.n_layers, 1), "hidden": (self.hidden, 1),
                "depth": (self.depth, 0), "base_components": (self.base_components, 0),
                "batch_size": (self.batch_size, 1), "steps": (self.steps, 0), "eval_every": (self.eval_every, 1),
                "lr_half_life": (self.lr_half_life, 1), "bins": (self.bins, 2), "n_points": (self.n_points, 6),
                "data_seed": (self.data_seed, 0)}
        for name, (value, low) in ints.items():
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
        if not isinstance(self.actnorm, bool):
            raise ValueError(f"actnorm must be True or False, got {self.actnorm!r}.")
        for name in ("lr", "scale_bound", "lr_decay", "tail_bound"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}.")
        for name in ("lr_min", "weight_decay", "grad_clip", "ema"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")
        if self.lr_decay > 1:
            raise ValueError(f"lr_decay must lie in (0, 1], got {self.lr_decay!r}.")
        if self.ema >= 1:
            raise ValueError(f"ema must lie in [0, 1), got {self.ema!r}.")

    def lr_at(self, step: int) -> float:
        """Learning rate used for gradient step ``step`` (0-based)."""
        return max(self.lr_min, self.lr * self.lr_decay ** (step / self.lr_half_life))


# ------------------------------------------------------------------------------------------ layers
class ActNorm(nn.Module):
    """Per-coordinate affine map (Glow's ActNorm; mirrors ``normflows.flows.ActNorm``).

    data -> base: z = (y - bias) * exp(-log_scale), ln|det| = -sum_d log_scale_d (the same for every point).
    Data-dependent initialisation (:meth:`RealNVP.initialize`, once before training): the training
    data that reaches it on the way data -> base sets ``bias`` = mean and ``log_scale`` = log std, so it
    starts by standardising its input.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.log_scale = nn.Parameter(torch.zeros(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    @torch.no_grad()
    def initialize(self, y: torch.Tensor) -> None:
        self.bias.copy_(y.mean(0))
        self.log_scale.copy_(torch.log(y.std(0).clamp_min(1e-3)))

    def to_data(self, z):  # base -> data
        y = z * torch.exp(self.log_scale) + self.bias
        return y, self.log_scale.sum().expand(z.shape[0])

    def to_base(self, y):  # data -> base
        z = (y - self.bias) * torch.exp(-self.log_scale)
        return z, -self.log_scale.sum().expand(y.shape[0])


class Coupling(nn.Module):
    """What every coupling map shares: the mask (coordinates ``a`` pass unchanged, the others ``b`` move) and the
    conditioner, an MLP from ``y_a`` to ``n_params`` numbers per moved coordinate whose last layer starts at zero."""

    def __init__(self, dim: int, parity: int, hidden: int, depth: int, activation: str, n_params: int):
        super().__init__()
        a = torch.arange(dim) % 2 == parity  # the mask m_k: True = passes unchanged (every other coordinate)
        self.parity = parity
        n_a, n_b = int(a.sum()), int((~a).sum())
        widths = [n_a] + [hidden] * depth
        layers: list[nn.Module] = []
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(w_in, w_out), ACTIVATIONS[activation]()]
        last = nn.Linear(widths[-1], n_params * n_b)
        nn.init.zeros_(last.weight)  # start as the identity map, as normflows' init_zeros
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(*layers, last)

    def _split(self, u):
        """(u_a, u_b): the coordinates the mask keeps (every other one, from ``parity``) and the rest.
        Strided slices, not index gathers: a 2-D flow's step is a few hundred tiny ops, and the gathers'
        backward (index_put) was a tenth of its time."""
        p = self.parity
        return u[:, p::2].contiguous(), u[:, 1 - p::2].contiguous()

    def _assemble(self, u_a, v_b):
        """Inverse of :meth:`_split`: interleave the two parts back into coordinate order."""
        even, odd = (u_a, v_b) if self.parity == 0 else (v_b, u_a)
        k = odd.shape[1]
        out = torch.stack((even[:, :k], odd), 2).reshape(even.shape[0], 2 * k)
        return out if even.shape[1] == k else torch.cat((out, even[:, k:]), 1)


class AffineCoupling(Coupling):
    """One affine coupling map (Real NVP): coordinates ``a`` pass unchanged and condition an affine map of ``b``.

    to_base (f^{-1}):  z_a = y_a,  z_b = y_b * exp(s(y_a)) + t(y_a),           ln|det| = +sum_b s_b
    to_data (f):       y_a = z_a,  y_b = (z_b - t(z_a)) * exp(-s(z_a)),        ln|det| = -sum_b s_b
    Mirrors ``zuko.flows.coupling.GeneralCouplingTransform`` with ``MonotonicAffineTransform``
    and ``normflows.flows.AffineCouplingBlock``.
    """

    def __init__(self, dim: int, parity: int, hidden: int, depth: int, activation: str, scale_bound: float):
        super().__init__(dim, parity, hidden, depth, activation, 2)  # (s, t) per moved coordinate
        self.scale_bound = float(scale_bound)

    def scale_shift(self, u_a):
        s_raw, t = self.net(u_a).chunk(2, dim=1)
        s = self.scale_bound * torch.tanh(s_raw / self.scale_bound)  # soft clamp |s| < bound, slope 1 at 0
        return s, t

    def to_base(self, y):  # f^{-1}: data side -> base side
        y_a, y_b = self._split(y)
        s, t = self.scale_shift(y_a)
        z_b = y_b * torch.exp(s) + t
        return self._assemble(y_a, z_b), s.sum(1)

    def to_data(self, z):  # f: base side -> data side
        z_a, z_b = self._split(z)
        s, t = self.scale_shift(z_a)
        y_b = (z_b - t) * torch.exp(-s)
        return self._assemble(z_a, y_b), -s.sum(1)


MIN_BIN = 1e-3  # smallest bin width and height, as a fraction of 2B (nflows' DEFAULT_MIN_BIN_WIDTH / _HEIGHT)
MIN_DERIVATIVE = 1e-3  # smallest slope at a knot (nflows' DEFAULT_MIN_DERIVATIVE)
_UNIT_SLOPE = math.log(math.expm1(1 - MIN_DERIVATIVE))  # softplus(this) + MIN_DERIVATIVE = 1: a zero output is slope 1


def rq_spline(x, w_raw, h_raw, d_raw, bound: float, inverse: bool = False):
    """A monotone rational-quadratic spline on [-B, B] with K bins, the identity outside (Durkan et al., 2019,
    "Neural Spline Flows", section 3.1 and appendix A). Mirrors nflows' ``unconstrained_rational_quadratic_spline``
    (``tails="linear"``; zuko's ``MonotonicRQSTransform`` is the same spline, with exp instead of softplus).

    ``x`` (n, m); ``w_raw``, ``h_raw`` (n, m, K) and ``d_raw`` (n, m, K-1): unconstrained outputs of the conditioner.
    Returns ``(g(x), ln g'(x))`` elementwise, or with ``inverse`` ``(g^{-1}(x), -ln g'(g^{-1}(x)))``.

    * Widths and heights: softmax over the K bins (at least MIN_BIN each), scaled to 2B; the knots (x^k, y^k)
      are their cumulative sums from -B. Derivatives delta^k at the K-1 inner knots: softplus (at least
      MIN_DERIVATIVE); delta = 1 at -B and B, so the spline joins the identity tails with a continuous slope.
    * In bin k, with s_k = h_k / w_k and xi = (x - x^k) / w_k in [0, 1]  (the paper's eq. 4 and 5):
          g(x)  = y^k + h_k [s_k xi^2 + delta^k xi(1-xi)] / [s_k + (delta^{k+1} + delta^k - 2 s_k) xi(1-xi)]
          g'(x) = s_k^2 [delta^{k+1} xi^2 + 2 s_k xi(1-xi) + delta^k (1-xi)^2] / [s_k + (...) xi(1-xi)]^2
    * Inverse (appendix A, eq. 6-8): xi solves a xi^2 + b xi + c = 0 with
          a = h_k (s_k - delta^k) + (y - y^k)(delta^{k+1} + delta^k - 2 s_k),
          b = h_k delta^k - (y - y^k)(delta^{k+1} + delta^k - 2 s_k),   c = -s_k (y - y^k),
      and the root in [0, 1] is taken in the form xi = 2c / (-b - sqrt(b^2 - 4ac)), which does not cancel
      catastrophically (b^2 - 4ac >= 0 and -b - sqrt(...) < 0 for a monotone spline).
    """
    K = w_raw.shape[-1]
    # widths and heights side by side, (n, m, 2, K): one softmax, one cumulative sum, fewer tiny ops per step
    wh = torch.stack((w_raw, h_raw), -2)
    wh = torch.exp(wh - wh.detach().amax(-1, keepdim=True))  # softmax by hand: torch's kernel is slow on 8 columns
    wh = MIN_BIN + (1 - MIN_BIN * K) * wh / wh.sum(-1, keepdim=True)
    knots = nn.functional.pad(torch.cumsum(wh, -1), (1, 0)) * (2 * bound) - bound  # x^0..x^K, y^0..y^K: -B ... B
    d = MIN_DERIVATIVE + nn.functional.softplus(d_raw + _UNIT_SLOPE)
    d = nn.functional.pad(d, (1, 1), value=1.0)  # slope 1 at -B and B: the identity tails join smoothly
    inside = (x > -bound) & (x < bound)
    u = x.clamp(-bound, bound)  # the tails' points go through the arithmetic harmlessly, then are replaced
    search = knots[..., 1 if inverse else 0, 1:-1]  # the inner knots on the input's axis
    k = (u[..., None] >= search).sum(-1, keepdim=True)  # the bin of each point, 0..K-1
    # one gather for the bin's two ends of all three tables: (n, m, 3, 2) = (x, y, delta) at knots k and k+1
    table = torch.cat((knots, d[..., None, :]), -2)
    ends = table.gather(-1, torch.cat((k, k + 1), -1)[..., None, :].expand(*k.shape[:-1], 3, 2))
    (x0, x1), (y0, y1), (d0, d1) = (e.unbind(-1) for e in ends.unbind(-2))
    wk, hk = x1 - x0, y1 - y0
    sk = hk / wk
    curv = d1 + d0 - 2 * sk
    if inverse:
        dy = u - y0
        a = hk * (sk - d0) + dy * curv
        b = hk * d0 - dy * curv
        c = -sk * dy
        xi = (2 * c / (-b - torch.sqrt((b * b - 4 * a * c).clamp_min(0)))).clamp(0, 1)
        out = x0 + xi * wk
    else:
        xi = (u - x0) / wk
    one = xi * (1 - xi)
    den = sk + curv * one
    if not inverse:
        out = y0 + hk * (sk * xi * xi + d0 * one) / den
    log_slope = torch.log(sk * sk * (d1 * xi * xi + 2 * sk * one + d0 * (1 - xi) ** 2) / (den * den))
    out = torch.where(inside, out, x)
    log_slope = torch.where(inside, log_slope, torch.zeros_like(log_slope))
    return out, (-log_slope if inverse else log_slope)


class SplineCoupling(Coupling):
    """One rational-quadratic spline coupling map (Durkan et al., 2019): coordinates ``a`` pass unchanged and
    give, through the same kind of MLP as the affine coupling, each moved coordinate its own monotone spline
    g_{theta(y_a)} (:func:`rq_spline`: K bins on [-B, B], the identity outside).

    to_base (f^{-1}):  z_a = y_a,  z_b = g(y_b; theta(y_a)),          ln|det| = +sum_b ln g'(y_b)
    to_data (f):       y_a = z_a,  y_b = g^{-1}(z_b; theta(z_a)),     ln|det| = -sum_b ln g'(y_b)
    Mirrors nflows' ``PiecewiseRationalQuadraticCouplingTransform`` and zuko's ``NSF`` (whose transforms are
    ``MonotonicRQSTransform``). The conditioner outputs 3K - 1 numbers per moved coordinate: K widths,
    K heights, K - 1 inner derivatives. Its zero start is the identity map (uniform bins, every slope 1).
    """

    def __init__(self, dim: int, parity: int, hidden: int, depth: int, activation: str, bins: int, bound: float):
        super().__init__(dim, parity, hidden, depth, activation, 3 * bins - 1)
        self.bins, self.bound = int(bins), float(bound)

    def spline_params(self, u_a):
        """(widths, heights, derivatives), unconstrained, each (n, n_b, .)."""
        p = self.net(u_a).reshape(u_a.shape[0], -1, 3 * self.bins - 1)
        K = self.bins
        return p[..., :K], p[..., K:2 * K], p[..., 2 * K:]

    def to_base(self, y):  # f^{-1}: data side -> base side
        y_a, y_b = self._split(y)
        z_b, ld = rq_spline(y_b, *self.spline_params(y_a), self.bound)
        return self._assemble(y_a, z_b), ld.sum(1)

    def to_data(self, z):  # f: base side -> data side
        z_a, z_b = self._split(z)
        y_b, ld = rq_spline(z_b, *self.spline_params(z_a), self.bound, inverse=True)
        return self._assemble(z_a, y_b), ld.sum(1)


class FlowLayer(nn.Module):
    """Layer f_k. Data -> base: (ActNorm, if on), then the coupling (affine or spline); base -> data the reverse."""

    def __init__(self, cfg: FlowConfig, k: int):
        super().__init__()
        if cfg.coupling == "spline":
            self.coupling = SplineCoupling(cfg.dim, k % 2, cfg.hidden, cfg.depth, cfg.activation, cfg.bins,
                                           cfg.tail_bound)
        else:
            self.coupling = AffineCoupling(cfg.dim, k % 2, cfg.hidden, cfg.depth, cfg.activation, cfg.scale_bound)
        self.actnorm = ActNorm(cfg.dim) if cfg.actnorm else None

    def to_data(self, z):  # z_k = f_k(z_{k-1}); returns ln|det d f_k / d z_{k-1}|
        y, ld = self.coupling.to_data(z)
        if self.actnorm is not None:
            y, ld2 = self.actnorm.to_data(y)
            ld = ld + ld2
        return y, ld

    def to_base(self, y):  # z_{k-1} = f_k^{-1}(z_k); returns ln|det d f_k^{-1} / d z_k|
        if self.actnorm is None:
            return self.coupling.to_base(y)
        y, ld = self.actnorm.to_base(y)
        z, ld2 = self.coupling.to_base(y)
        return z, ld + ld2


class MixtureBase(nn.Module):
    """A learned base p_0(z) = sum_j pi_j N(z; mu_j, diag sigma_j^2) of ``k`` components.

    A flow is a continuous bijection, so from a connected base (the standard normal) it cannot put zero
    mass between separate clusters: it leaves thin bridges that only long training narrows. With one
    base component per cluster the coupling layers only have to bend each component into shape; the
    likelihood stays exact, ln p(x) = ln p_0(z_0) + sum of the log-determinants, with this p_0.
    Parameters: ``logits`` (pi = softmax), ``means`` (k, D), ``log_std`` (k, D).
    """

    def __init__(self, dim: int, k: int):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(k))
        self.means = nn.Parameter(0.75 * torch.randn(k, dim) if k > 1 else torch.zeros(k, dim))
        self.log_std = nn.Parameter(torch.full((k, dim), math.log(0.5) if k > 1 else 0.0))

    @torch.no_grad()
    def initialize(self, z: torch.Tensor, seed: int = 0) -> None:
        """Means, scales and weights from scikit-learn's k-means of base-side points ``z`` (the training data)."""
        k = len(self.logits)
        if len(z) < 2 * k:
            return
        from sklearn.cluster import KMeans

        zz = z.detach().double().cpu().numpy()
        km = KMeans(k, n_init=3, random_state=seed).fit(zz)
        labels = torch.as_tensor(km.labels_)
        zc = z.detach().cpu()
        for j in range(k):
            members = zc[labels == j]
            self.means[j] = torch.as_tensor(km.cluster_centers_[j], dtype=self.means.dtype)
            std = members.std(0) if len(members) > 1 else torch.ones(z.shape[1])
            self.log_std[j] = torch.log(std.clamp_min(1e-2))
            self.logits[j] = math.log(max(len(members), 1) / len(zc))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """ln p_0(z) = logsumexp_j [ln pi_j + ln N(z; mu_j, diag sigma_j^2)]."""
        u = (z[:, None, :] - self.means) * torch.exp(-self.log_std)  # (n, k, D)
        comp = -0.5 * (u * u).sum(2) - self.log_std.sum(1) - 0.5 * z.shape[1] * LOG_2PI
        return torch.logsumexp(comp + torch.log_softmax(self.logits, 0), 1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """j ~ Categorical(pi), then z = mu_j + sigma_j * eps; on the CPU, from ``generator``."""
        probs = torch.softmax(self.logits.detach().float().cpu(), 0)
        j = torch.multinomial(probs, int(n), replacement=True, generator=generator)
        eps = torch.randn(int(n), self.means.shape[1], generator=generator)
        return self.means.detach().cpu()[j] + torch.exp(self.log_std.detach().cpu()[j]) * eps


# ------------------------------------------------------------------------------------------- model
class TrainState:
    """What training needs beyond the model it returns: the raw weights being optimised (``net``: the
    model itself when ``ema == 0``, else a twin whose moving average is the model), Adam, and the
    seeded generator that draws the batches. Kept off the module so it is not in ``state_dict``."""

    def __init__(self, net: RealNVP, optimizer: torch.optim.Optimizer, generator: torch.Generator):
        self.net, self.optimizer, self.generator = net, optimizer, generator


class RealNVP(nn.Module):
    """The flow p_K: a base p_0 (standard normal, or ``base``: a :class:`MixtureBase`) carried by K coupling
    layers, ``layers[k-1] = f_k``.

    Learned state (set by :func:`train`, carried by checkpoints) ends in ``_``: ``step_`` (gradient
    steps done), ``history_`` (one metrics dict per evaluation), ``train_seconds_`` (time spent in
    gradient steps), ``diverged_`` (None, or why training stopped on a NaN), ``train_state_``
    (:class:`TrainState`, so that training resumes exactly where it stopped), ``data_name_`` (the toy set
    of the config when :func:`train` drew it itself, which :func:`save` records with its reference scores).
    """

    def __init__(self, config: FlowConfig):
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList([FlowLayer(config, k) for k in range(config.n_layers)])
        self.base = MixtureBase(config.dim, config.base_components) if config.base_components else None
        self.step_ = 0
        self.history_: list[dict] = []
        self.train_seconds_ = 0.0
        self.diverged_: str | None = None
        self.train_state_: TrainState | None = None
        self.data_name_: str | None = None

    # -- the two directions (tensors in, tensors out) ------------------------------------------
    def forward(self, x: torch.Tensor):
        """Data -> base. ``x`` (n, D) -> ``(z_0 (n, D), sum_k ln|det d f_k^{-1}/d z_k| (n,))``."""
        logdet = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        z = x
        for layer in reversed(self.layers):  # f_K^{-1} first
            z, ld = layer.to_base(z)
            logdet = logdet + ld
        return z, logdet

    def inverse(self, z0: torch.Tensor):
        """Base -> data. ``z_0`` (n, D) -> ``(x (n, D), sum_k ln|det d f_k/d z_{k-1}| (n,))``."""
        logdet = torch.zeros(z0.shape[0], dtype=z0.dtype, device=z0.device)
        z = z0
        for layer in self.layers:  # f_1 first
            z, ld = layer.to_data(z)
            logdet = logdet + ld
        return z, logdet

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        """Data-dependent initialisation: push ``x`` data -> base, standardising at each ActNorm (Glow), then
        start a mixture base from k-means of what arrives there (as EM for a Gaussian mixture is started)."""
        z = x
        for layer in reversed(self.layers):
            if layer.actnorm is not None and len(z) > 1:
                layer.actnorm.initialize(z)
            z, _ = layer.to_base(z)
        if self.base is not None:
            self.base.initialize(z, seed=self.config.seed)

    def base_log_prob(self, z0: torch.Tensor) -> torch.Tensor:
        """ln p_0(z_0): for the standard normal base -||z_0||^2 / 2 - (D/2) ln 2 pi; else the mixture's."""
        if self.base is not None:
            return self.base.log_prob(z0)
        return -0.5 * (z0 * z0).sum(1) - 0.5 * z0.shape[1] * LOG_2PI

    def sample_base(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` draws z_0 ~ p_0 on the CPU from ``generator``."""
        if self.base is not None:
            return self.base.sample(n, generator)
        return torch.randn(int(n), self.config.dim, generator=generator)

    def log_prob_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """Exact ln p_K(x) by the change of variables: ln p_0(z_0) - sum_k ln|det d f_k / d z_{k-1}|."""
        z0, logdet_to_base = self.forward(x)
        return self.base_log_prob(z0) + logdet_to_base  # logdet_to_base = - sum_k ln|det d f_k/d z_{k-1}|

    # -- numpy conveniences for pages and notebooks ---------------------------------------------
    def _device(self):
        return next(self.parameters()).device

    def _as_tensor(self, x) -> torch.Tensor:
        t = torch.as_tensor(np.asarray(x, dtype=np.float32), device=self._device())
        if t.ndim != 2 or t.shape[1] != self.config.dim:
            raise ValueError(f"Expected points of shape (n, {self.config.dim}), got {tuple(t.shape)}.")
        return t

    @torch.no_grad()
    def log_prob(self, x, batch: int = 65536) -> np.ndarray:
        """Exact ln p(x) in nats for each row of ``x`` (array-like (n, D)) -> float64 array (n,)."""
        t = self._as_tensor(x)
        out = [self.log_prob_tensor(t[i:i + batch]).double().cpu() for i in range(0, len(t), batch)]
        return torch.cat(out).numpy() if out else np.zeros(0)

    @torch.no_grad()
    def nll(self, x) -> float:
        """Mean negative log-likelihood -1/n sum_i ln p(x_i), in nats."""
        return float(-self.log_prob(x).mean())

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, return_base: bool = False):
        """Draw ``n`` points x = f_K(...f_1(z_0)), z_0 ~ p_0 drawn from ``seed``. Returns float32 (n, D)
        (and z_0 too when ``return_base``)."""
        g = runtime.torch_generator(seed, "cpu")
        z0 = self.sample_base(int(n), g).to(self._device())
        x, _ = self.inverse(z0)
        x = x.cpu().numpy()
        return (x, z0.cpu().numpy()) if return_base else x

    @torch.no_grad()
    def trajectory(self, points, direction: str = "to_data"):
        """The points after every layer, and each layer's ln|det J| per point.

        ``direction="to_data"`` (sampling): ``points`` are z_0; returns ``[z_0, z_1, ..., z_K]`` with
        ``logdets[k-1] = ln|det d f_k / d z_{k-1}|`` at each point.
        ``direction="to_base"`` (likelihood): ``points`` are x = z_K; returns ``[z_K, z_{K-1}, ..., z_0]``
        with ``logdets[j] = ln|det d f_{K-j}^{-1} / d z_{K-j}|`` (the layer applied j-th from the data side).
        Arrays are numpy: ``states`` (K+1, n, D) float32, ``logdets`` (K, n) float64.
        """
        if direction not in ("to_data", "to_base"):
            raise ValueError(f"Unknown direction {direction!r}; valid choices are ['to_base', 'to_data'].")
        z = self._as_tensor(points)
        states, logdets = [z.cpu().numpy()], []
        order = self.layers if direction == "to_data" else list(reversed(self.layers))
        for layer in order:
            z, ld = layer.to_data(z) if direction == "to_data" else layer.to_base(z)
            states.append(z.cpu().numpy())
            logdets.append(ld.double().cpu().numpy())
        return np.stack(states), np.stack(logdets)


# ------------------------------------------------------------------------------- the page's views
def warp_start(model: RealNVP, seed: int, X_test=None, n: int = 1500) -> np.ndarray:
    """The points whose way through the layers the layer view follows: ``n`` draws from the base p_0 (sampling
    direction, ``X_test`` None) or ``n`` of the test points ``X_test`` in a seeded random order (likelihood)."""
    if X_test is None:
        return model.sample_base(n, runtime.torch_generator(seed)).numpy()
    return X_test[np.random.default_rng(seed).permutation(len(X_test))[:n]]


def warps(model: RealNVP, start, lines: list, direction: str):
    """``start`` points and grid ``lines`` ((m, 2) arrays) after every layer in ``direction`` (see
    :meth:`RealNVP.trajectory`): (point states (K+1, n, 2), line states [(K+1, m, 2)], each layer's mean ln|det J|)."""
    states, logdets = model.trajectory(start, direction)
    all_lines = model.trajectory(np.concatenate(lines).astype(np.float32), direction)[0]  # one pass for all lines
    return states, np.split(all_lines, len(lines), axis=1), logdets.mean(1)


def anomaly_scores(model: RealNVP, X_train, X_test, outliers):
    """ln p of the training points, and the test points with injected ``outliers`` appended and their ln p:
    (ln p train, points, ln p points)."""
    points = np.concatenate([X_test, outliers])
    return model.log_prob(X_train), points, model.log_prob(points)


# -------------------------------------------------------------------------------------------- data
def make_data(name: str, n: int = 6000, seed: int = 0, test_size: float = 1 / 3):
    """Draw ``n`` points of the toy set ``name`` and split them: ``(X_train, X_test)`` float32."""
    X, y = gdata.toy(name, n, seed)
    Xtr, Xte, _, _ = gdata.split(X, y, test_size=test_size, seed=seed)
    return np.ascontiguousarray(Xtr, np.float32), np.ascontiguousarray(Xte, np.float32)


def split_points(X, seed: int = 0, test_size: float = 1 / 3):
    """Split user points (no labels) into ``(X_train, X_test)``."""
    X = np.asarray(X, np.float32)
    if len(X) < 4:
        raise ValueError(f"At least 4 points are needed to train and test a flow, got {len(X)}.")
    gdata.check_spread(X, "a flow")  # one spot or one line: a DataError that says so, not a diverged loss
    Xtr, Xte, _, _ = gdata.split(X, np.zeros(len(X), np.int64), test_size=test_size, seed=seed, stratify=False)
    return np.ascontiguousarray(Xtr), np.ascontiguousarray(Xte)


def _check_points(X, dim: int, what: str) -> torch.Tensor:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[1] != dim or len(X) == 0:
        raise ValueError(f"{what} must be a non-empty array of shape (n, {dim}), got {X.shape}.")
    if not np.isfinite(X).all():
        raise ValueError(f"{what} contains NaN or infinite values.")
    return torch.from_numpy(np.ascontiguousarray(X))


def _unpack(data, config: FlowConfig):
    """``data`` is ``(X_train, X_test)`` or a single array (then split with ``config.seed``)."""
    if isinstance(data, (tuple, list)) and len(data) == 2:
        Xtr, Xte = data
    else:
        Xtr, Xte = split_points(data, seed=config.seed)
    return _check_points(Xtr, config.dim, "Training data"), _check_points(Xte, config.dim, "Test data")


# ---------------------------------------------------------------------------------------- training
def build(config: FlowConfig) -> RealNVP:
    """A fresh model whose initial weights depend on ``config.seed`` alone."""
    return runtime.seeded_init(lambda: RealNVP(config), config.seed)


def _new_train_state(model: RealNVP, Xtr: torch.Tensor) -> TrainState:
    config, device = model.config, model._device()
    if model.step_ == 0:
        model.initialize(Xtr)  # data-dependent ActNorm initialisation on the whole training set
    if config.ema > 0:  # optimise a twin; the model itself becomes the moving average of the twin
        net = build(config).to(device)
        net.load_state_dict(model.state_dict())
    else:
        net = model
    fused = True if device.type in ("cpu", "cuda") else None  # one fused kernel per step: 2x faster here
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=fused)
    return TrainState(net, optimizer, runtime.torch_generator(config.seed + 1, "cpu"))


def points_data(x_train, x_test, y_train=None, y_test=None, name: str = "custom"):
    """The protocol's data from arrays of 2-D points (core/families.py): the (train, test) pair :func:`train` takes."""
    return np.asarray(x_train, np.float32), np.asarray(x_test, np.float32)


def load_data(config: FlowConfig):
    """The data ``config`` names: ``config.n_points`` points of the toy set ``config.data`` drawn and split with
    ``config.data_seed`` (:func:`make_data`)."""
    return make_data(config.data, config.n_points, config.data_seed)


def train(config: FlowConfig, data=None, callback: Callable | None = None, *, model: RealNVP | None = None,
          until: int | None = None, device: str | None = None) -> RealNVP:
    """Fit a flow by maximum likelihood: minimise -1/B sum_i ln p_K(x_i) over minibatches with Adam, through
    :func:`core.training.loop`.

    ``data``: ``(X_train, X_test)`` arrays (n, D), or one array that is split with ``config.seed``; None (the
    command line's ``python -m core train flow``): the toy set the config names (:func:`load_data`).
    ``callback(step, metrics)`` is called every ``config.eval_every`` steps and at the last step, with
    ``metrics = {"train/nll", "test/nll", "train/batch_nll", "train/lr", "seconds"}``: the NLLs of the whole
    train / test set in nats per point, the mean minibatch NLL of the steps since the last call, the learning
    rate of the last step, and the time spent in gradient steps so far; with its ``step`` each is also a row of
    ``model.history_``. Returning ``True`` or ``"stop"`` stops training (the model returned can be resumed).
    ``model``: resume this model (from an earlier call or a checkpoint) instead of starting afresh.
    ``until``: stop at this step (default ``config.steps``).
    ``device``: where a new model lives (default :func:`core.runtime.pick_device`).
    Torch's thread count is the process's own (``core.runtime.set_threads``, set once at its start): a 2-D
    flow's matrices are tiny, so one thread is fastest, and several threads on a busy machine can be ten
    times slower (measured here: 35 s instead of 5 s for 100 steps on 2 shared cores).
    Chunks give bit-identical weights to one uninterrupted run: batches come from the model's own
    seeded generator and Adam's state lives on the model (``model.train_state_``).

    With ``config.ema > 0`` the returned model holds an exponential moving average of the optimised
    weights (what is evaluated, sampled and saved), as diffusers' ``EMAModel`` does for diffusion.

    Raises :class:`TrainingDiverged` (with ``.model`` = the last finite model and ``.reason``) if a
    loss, gradient or evaluated NLL becomes NaN or infinite; ValueError for bad data or a model of
    another config (``core.data.DataError``, a ValueError, for points all at one spot or on one line).
    """
    Xtr, Xte = _unpack(load_data(config) if data is None else data, config)
    if model is None and config.dim == 2:  # points at one spot or on one line: no maximum likelihood to find
        gdata.check_spread(torch.cat([Xtr, Xte]).numpy(), "a flow")
    model = _resumable(config, model, device)
    model.data_name_ = config.data if data is None else None
    _train(model, Xtr.to(model._device()), Xte.to(model._device()), callback,
           config.steps if until is None else min(config.steps, int(until)))
    return model


def _resumable(config: FlowConfig, model: RealNVP | None, device) -> RealNVP:
    if model is None:
        return build(config).to(device or runtime.pick_device())
    if model.config != config:
        raise ValueError("The model to resume was built with another config; pass its own config "
                         f"(model.config has hash {checkpoints.config_hash(model.config)}, "
                         f"given {checkpoints.config_hash(config)}).")
    return model


def _train(model: RealNVP, Xtr: torch.Tensor, Xte: torch.Tensor, callback, end: int) -> None:
    config, device = model.config, model._device()
    if model.train_state_ is None:
        model.train_state_ = _new_train_state(model, Xtr)
    state = model.train_state_
    net, opt = state.net, state.optimizer
    params = list(net.parameters())

    def step(s: int) -> dict:
        lr = config.lr_at(s)
        for group in opt.param_groups:
            group["lr"] = lr
        # 1. a minibatch, drawn with replacement by the model's own seeded generator
        idx = torch.randint(len(Xtr), (config.batch_size,), generator=state.generator).to(device)
        # 2. maximum likelihood: minimise -1/B sum_i ln p_K(x_i) (the change-of-variables sum over layers)
        loss = -net.log_prob_tensor(Xtr[idx]).mean()
        if not torch.isfinite(loss):
            _diverged(model, f"the training loss became {loss.item()} at step {s} "
                      f"(learning rate {lr:.3g}); lower the learning rate or the scale bound.")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        # 3. clip the gradient norm (and check it), then one Adam step
        norm = _clip_grad_norm(params, config.grad_clip)
        if not torch.isfinite(norm):
            _diverged(model, f"the gradient norm became {norm.item()} at step {s} "
                      f"(learning rate {lr:.3g}); lower the learning rate.")
        opt.step()
        # 4. moving average of the weights, with diffusers EMAModel's warm-up: decay = min(ema, (1+t)/(10+t))
        if net is not model:
            training.ema_update(model, net, config.ema, s)
        return {"batch_nll": loss.detach()}

    scores = {}

    def evaluate_now() -> dict:  # the loop files it as test/nll; the training set's NLL joins in on_log
        scores.update(evaluate(model, Xtr, Xte))
        return {"nll": scores["test/nll"]}

    def on_log(done: int, metrics: dict):
        entry = model.history_[-1]  # the loop's row of this step (every log is an evaluation here)
        entry.update(scores, **{"train/lr": config.lr_at(done - 1)}, seconds=model.train_seconds_)
        bad = [k for k in ("train/nll", "test/nll") if not math.isfinite(entry[k])]
        if bad:
            _diverged(model, f"the {bad[0].split('/')[0]} NLL became {entry[bad[0]]} at step {done} "
                      f"(learning rate {entry['train/lr']:.3g}); lower the learning rate.")
        return callback(done, {k: v for k, v in entry.items() if k != "step"}) if callback is not None else None

    training.loop(model, step, end=end, log_every=config.eval_every, eval_every=config.eval_every,
                  evaluate=evaluate_now, callback=on_log)


def _clip_grad_norm(params, max_norm: float) -> torch.Tensor:
    """``torch.nn.utils.clip_grad_norm_`` (same arithmetic, same result) in two foreach calls.

    On the CPU torch's version loops in Python over the parameters (its foreach path is for GPUs),
    about a hundred small ops per step for a 2-D flow; ``torch._foreach_*`` loops in C++ on every device.
    ``max_norm`` 0 means no clipping; the norm is still returned, to catch NaN gradients.
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    if max_norm > 0:
        torch._foreach_mul_(grads, torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total


def _diverged(model: RealNVP, reason: str):
    model.diverged_ = reason
    if model.train_state_ is not None:
        model.train_state_.optimizer.zero_grad(set_to_none=True)
    raise TrainingDiverged(reason, step=model.step_, model=model)


@torch.no_grad()
def evaluate(model: RealNVP, Xtr, Xte) -> dict:
    """Mean NLL in nats per point on the whole train and test sets: ``{"train/nll", "test/nll"}``."""
    f = lambda X: float(-model.log_prob_tensor(torch.as_tensor(X, device=model._device())).mean())  # noqa: E731
    return {"train/nll": f(Xtr), "test/nll": f(Xte)}


# ----------------------------------------------------------------------------------- density tools
@torch.no_grad()
def density_grid(model: RealNVP, box=(-3.5, 3.5, -3.5, 3.5), resolution: int = 200):
    """ln p on a ``resolution x resolution`` grid of cell centres over ``box = (x0, x1, y0, y1)``.

    Returns ``(xs, ys, logp)`` with ``logp[i, j] = ln p(xs[j], ys[i])`` (row = y, as heatmaps expect).
    The sum of exp(logp) times the cell area approximates the probability mass inside the box.
    """
    x0, x1, y0, y1 = map(float, box)
    if not (x1 > x0 and y1 > y0) or resolution < 2:
        raise ValueError(f"Need x1 > x0, y1 > y0 and resolution >= 2, got box={box}, resolution={resolution}.")
    xs = x0 + (np.arange(resolution) + 0.5) * (x1 - x0) / resolution
    ys = y0 + (np.arange(resolution) + 0.5) * (y1 - y0) / resolution
    gx, gy = np.meshgrid(xs, ys)
    logp = model.log_prob(np.stack([gx.ravel(), gy.ravel()], 1)).reshape(resolution, resolution)
    return xs, ys, logp


def mass_in_box(model: RealNVP, box, resolution: int = 400) -> float:
    """Integral of p over ``box`` by the midpoint rule (close to 1 for a box that holds the data)."""
    xs, ys, logp = density_grid(model, box, resolution)
    cell = (xs[1] - xs[0]) * (ys[1] - ys[0])
    return float(np.exp(logp).sum() * cell)


def anomaly_threshold(logp_train, quantile: float) -> float:
    """The log-density below which a fraction ``quantile`` of the training points fall."""
    if not 0 <= quantile <= 1:
        raise ValueError(f"quantile must lie in [0, 1], got {quantile}.")
    return float(np.quantile(np.asarray(logp_train, np.float64), quantile))


# ------------------------------------------------------------------------------ reference densities
@dataclass
class ReferenceDensity:
    """A fitted scikit-learn density and its mean test NLL (nats) on the held-out points."""

    name: str
    estimator: object  # fitted KernelDensity or GaussianMixture (has score_samples -> ln p)
    params: dict  # the hyperparameters chosen by cross-validation
    test_nll: float
    train_nll: float

    def log_prob(self, x) -> np.ndarray:
        return self.estimator.score_samples(np.asarray(x, np.float64))


def reference_densities(X_train, X_test, seed: int = 0, folds: int = 3) -> dict[str, ReferenceDensity]:
    """Fit the reference densities on ``X_train`` and score them on ``X_test`` (mean NLL in nats).

    * ``"kde"``: ``sklearn.neighbors.KernelDensity`` (Gaussian kernel) with the bandwidth chosen by
      ``GridSearchCV`` (``folds``-fold cross-validated log-likelihood) among 16 log-spaced values.
    * ``"gmm"``: ``sklearn.mixture.GaussianMixture`` (full covariances) with the number of components,
      among 1..32 (at most one per 20 points), chosen by the Bayesian information criterion (``GaussianMixture.bic``; one fit per
      choice, cheaper than cross-validating EM fits and as good here).
    """
    from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

    with threadpool_limits(limits=1):  # small fits: extra BLAS / OpenMP threads only contend on a busy machine
        return _reference_densities(X_train, X_test, seed, folds)


def _reference_densities(X_train, X_test, seed, folds):
    from sklearn.mixture import GaussianMixture
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.neighbors import KernelDensity

    Xtr = np.asarray(X_train, np.float64)
    Xte = np.asarray(X_test, np.float64)
    if len(Xtr) < 6:
        raise ValueError(f"At least 6 training points are needed for the reference densities, got {len(Xtr)}.")
    folds = min(folds, len(Xtr) // 2)
    search = GridSearchCV(KernelDensity(kernel="gaussian"), {"bandwidth": np.logspace(-2.0, 0.2, 16)},
                          cv=KFold(folds, shuffle=True, random_state=seed))
    search.fit(Xtr)
    kde, kde_params = search.best_estimator_, {"bandwidth": float(search.best_params_["bandwidth"])}
    best = None
    for k in (1, 2, 4, 8, 12, 16, 24, 32):
        if k > max(1, len(Xtr) // 20):  # each full-covariance component needs a fair number of points
            break
        g = GaussianMixture(k, covariance_type="full", random_state=seed, reg_covar=1e-5).fit(Xtr)
        bic = g.bic(Xtr)
        if best is None or bic < best[0]:
            best = (bic, g)
    gmm = best[1]
    out = {}
    for key, est, name, params in (
            ("kde", kde, "KDE (bandwidth by cross-validation)", kde_params),
            ("gmm", gmm, "Gaussian mixture (components by BIC)", {"n_components": int(gmm.n_components)})):
        out[key] = ReferenceDensity(name=name, estimator=est, params=params,
                                    test_nll=float(-est.score_samples(Xte).mean()),
                                    train_nll=float(-est.score_samples(Xtr).mean()))
    return out


# ------------------------------------------------------------------------------------- checkpoints
def save(model: RealNVP, path, meta: dict | None = None) -> Path:
    """Save the weights, the training state (to resume bit-identically) and the config as safetensors + JSON.

    Tensors: ``model.*`` (the weights that are evaluated and sampled), ``train.net.*`` (the optimised
    twin when ``ema > 0``), ``train.optim.<i>.<key>`` (Adam's moments, by parameter index) and
    ``train.generator`` (the batch sampler's RNG state). The JSON's ``meta`` adds to ``meta`` the step, the
    history and ``final`` (the last evaluation); for a flow that :func:`train` fitted to the data its config
    names (``python -m core train flow``) also ``data`` and ``reference``, the scores of the reference
    densities on those points (:func:`reference_densities`), which the page shows beside the flow's.
    """
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    state = model.train_state_
    if state is not None:
        if state.net is not model:
            tensors.update({f"train.net.{k}": v for k, v in state.net.state_dict().items()})
        for i, st in state.optimizer.state_dict()["state"].items():
            for key, val in st.items():
                tensors[f"train.optim.{i}.{key}"] = torch.as_tensor(val).reshape(-1) if key == "step" else val
        tensors["train.generator"] = state.generator.get_state()
    meta = dict(meta or {})
    meta.update(step=model.step_, train_seconds=model.train_seconds_, history=model.history_,
                diverged=model.diverged_)
    if model.history_:
        meta.setdefault("final", {k: model.history_[-1][k] for k in ("train/nll", "test/nll")})
    if model.data_name_ is not None and "reference" not in meta:
        meta.update(_data_record(model.config))
    return checkpoints.save(path, tensors, model.config, FAMILY, meta)


def _data_record(config: FlowConfig) -> dict:
    """The data a flow was fitted to, and the reference densities' scores on them (seconds of fitting)."""
    t0 = time.perf_counter()
    refs = reference_densities(*load_data(config), seed=config.data_seed)
    return {"data": {"name": config.data, "n": config.n_points, "seed": config.data_seed, "test_size": 1 / 3},
            "reference": {k: {"name": r.name, "params": r.params, "test_nll": r.test_nll, "train_nll": r.train_nll}
                          for k, r in refs.items()},
            "reference_fit_seconds": round(time.perf_counter() - t0, 2)}


def load(path, device: str | None = None) -> RealNVP:
    """Load a checkpoint saved by :func:`save`; raises ``CheckpointError``. The record's ``meta`` (the command, the
    data, the final and the reference scores) is ``model.meta``.

    The model can be sampled and evaluated at once, and :func:`train` resumes it exactly where it stopped.
    """
    tensors, record = checkpoints.load(path, family=FAMILY)
    config = checkpoints.config_from(record, FlowConfig.from_dict, path)
    device = torch.device(device or runtime.pick_device())

    def restore(prefix):
        return checkpoints.load_weights(build(config), tensors, path, prefix=prefix, what="flow").to(device)

    model = restore("model.")
    meta = record.get("meta", {})
    model.step_ = int(meta.get("step", 0))
    model.train_seconds_ = float(meta.get("train_seconds", 0.0))
    model.history_ = list(meta.get("history", []))
    model.diverged_ = meta.get("diverged")
    model.meta = meta
    if "train.generator" in tensors:
        net = restore("train.net.") if config.ema > 0 else model
        fused = True if device.type in ("cpu", "cuda") else None
        opt = torch.optim.Adam(net.parameters(), lr=config.lr_at(model.step_), weight_decay=config.weight_decay,
                               fused=fused)
        sd = opt.state_dict()
        for k, v in tensors.items():
            if k.startswith("train.optim."):
                i, key = k[len("train.optim."):].split(".", 1)
                sd["state"].setdefault(int(i), {})[key] = v.reshape(()) if key == "step" else v
        opt.load_state_dict(sd)
        gen = torch.Generator(device="cpu")
        gen.set_state(tensors["train.generator"].to(torch.uint8).cpu())
        model.train_state_ = TrainState(net, opt, gen)
    return model


def load_shipped(name: str, device: str | None = None) -> RealNVP:
    """Load the shipped checkpoint ``name`` (e.g. ``shipped_name("moons")``)."""
    return load(checkpoints.shipped(name), device)


COUPLING_NAMES = {"affine": "affine (Real NVP)", "spline": "rational-quadratic spline"}
COUPLING_HELP = ("Affine: each moved coordinate is scaled and shifted, z_b = y_b exp(s) + t. Spline (Durkan et al., "
                 "2019): it goes through a monotone rational-quadratic spline with K bins on [-B, B] (the identity "
                 "outside), whose bins and knot slopes the same kind of network outputs: a bendier map per layer, "
                 "inverted exactly, about three times the cost per step.")
BENCH_FILE = "flow_bench.json"  # bench/bench_flow.py --json writes it: test NLL at equal seconds against the peers


def coupling_settings(config: FlowConfig, coupling: str) -> FlowConfig:
    """``config`` with another coupling map (the page's *Coupling* choice and the benchmark's other contender)."""
    return config.replace(coupling=coupling)


def coupling_caption(config: FlowConfig) -> str:
    """One line on what each layer of this flow does to the coordinates it moves."""
    if config.coupling == "spline":
        return (f"Each layer here is a **rational-quadratic spline** coupling: the moved coordinate goes through a "
                f"monotone spline of {config.bins} bins on [-{config.tail_bound:g}, {config.tail_bound:g}] (the identity "
                "outside) that the kept coordinate chooses; ln|det J| is the log of its slope there, and sampling "
                "inverts it exactly by the root of a quadratic.")
    return ("Each layer here is an **affine** coupling: the moved coordinate is scaled by exp(-s) and shifted, both "
            "chosen by the kept coordinate; ln|det J| = -s.")


def bench_claim(data_name: str, folder=None) -> str | None:
    """The benchmark's measured claim for ``data_name`` (from the shipped :data:`BENCH_FILE`), or None.

    Names the setting, the seconds, the seeds and the command, and gives GenLab's best flow's test NLL beside
    zuko's neural spline flow (the better of the sizes benchmarked) and GenLab's other coupling.
    """
    import json

    path = Path(checkpoints.SHIPPED_DIR if folder is None else folder) / BENCH_FILE
    try:
        rec = json.loads(path.read_text())
        rows = [r for r in rec["rows"] if r["data"] == data_name]
        mark = rec["claim_seconds"]
        i = rec["marks"].index(mark)
        ours = [r for r in rows if r["model"].startswith("GenLab") and "N(0,I)" not in r["model"]]
        nsf = [r for r in rows if r["model"].startswith("zuko NSF")]
        if not ours or not nsf:
            return None
        best, other = sorted(ours, key=lambda r: r["mean"][i])[0], sorted(ours, key=lambda r: r["mean"][i])[-1]
        peer = min(nsf, key=lambda r: r["mean"][i])
        c = best["config"]
        setting = (f"{c['coupling']} coupling, {c['n_layers']} layers"
                   + (f", {c['bins']} bins on [-{c['tail_bound']:g}, {c['tail_bound']:g}]" if c["coupling"] == "spline" else "")
                   + (f", a mixture base of {c['base_components']}" if c.get("base_components") else ""))
        normal = [f"{r['config']['coupling']} {r['mean'][i]:.3f}" for r in rows if r["model"].endswith("N(0,I) base")]
        return (f"Benchmark ({setting}): test NLL **{best['mean'][i]:.3f}** on these test points vs zuko's "
                f"{peer['model'].replace('zuko ', '')} **{peer['mean'][i]:.3f}** and GenLab's {other['config']['coupling']} "
                f"coupling {other['mean'][i]:.3f}"
                + (f" (from a standard normal base, as zuko's: {', '.join(normal)})" if normal else "")
                + f", after {mark:g} s of training on 1 thread, mean of seeds {', '.join(map(str, rec['seeds']))}; "
                f"from `{rec['command']}` (load average {rec['load']}).")
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def shipped_name(data_name: str) -> str:
    return f"flow_{data_name}"
