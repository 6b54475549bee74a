"""Generative adversarial networks (GAN): two MLPs playing the lecture's zero-sum game.

Notation follows the lecture ("Generative Adversarial Networks"):

- generator       x = G(z),  z ~ p_z  (Gaussian N(0, I) or uniform U[-1, 1]^d): the fake samples, x ~ p_g
- discriminator   D(x) in (0, 1): the probability that x is real (x ~ p_r) rather than fake.
                  D outputs a logit a(x) and D(x) = sigmoid(a(x)), so every log below is a softplus:
                  ln D(x) = -softplus(-a),  ln(1 - D(x)) = -softplus(a)   (numerically stable).
- common loss     L = E_{x~p_r}[ln D(x)] + E_{x~p_g}[ln(1 - D(x))]      D maximizes it, G minimizes it.
- optimal D       D*(x) = p_r(x) / (p_r(x) + p_g(x)), and then  L(D*, G) = -ln 4 + 2 JSD(p_r || p_g),
                  so  JSD_hat = (L + ln 4) / 2  estimates the Jensen-Shannon divergence (a lower bound
                  for a D that is not optimal). At the optimum of both players p_g = p_r and D = 0.5.
- losses (``GANConfig.loss``):
  ``"minimax"``        the lecture's game as written: D minimizes -L, G minimizes E_z[ln(1 - D(G(z)))].
                       This *saturates*: when D confidently rejects the fakes (D(G(z)) ~ 0) G's gradient vanishes.
  ``"nonsaturating"``  same D; G minimizes -E_z[ln D(G(z))] (Goodfellow et al. 2014's fix): the same fixed
                       point, but strong gradients exactly when G is losing.
  ``"wgan-gp"``        Wasserstein GAN with gradient penalty (Gulrajani et al. 2017), the common stable
                       alternative: a critic f (no sigmoid) minimizes
                       E_g[f] - E_r[f] + lambda E[(||grad f(x_hat)|| - 1)^2],
                       G minimizes -E_g[f]. Its outputs are scores, not probabilities (no JS estimate).
- conditional GAN the label y is an extra input of both networks: G(z | y), D(x | y) (one-hot or a learned
                  embedding concatenated to the input), and L = E_r[ln D(x|y)] + E_g[ln(1 - D(G(z|y)|y))].

Training alternates k discriminator steps with one generator step (Adam with lr and betas). Because G
does not change during the k D steps, their k batches of fakes are drawn in one forward pass (the same
numbers as k separate passes, less Python overhead). Losses are accumulated as tensors and read (one
sync) only at log steps, where the metrics of :func:`evaluate` are computed on a fixed evaluation set.

What is written by hand is what the lecture teaches (the losses above, the JS estimate, the alternating
game); it mirrors ``torch.nn.BCEWithLogitsLoss`` (the softplus forms) and the training loops of PyTorch's
DCGAN example and GAN Lab. Networks are plain ``nn.Linear`` stacks, the optimizer is ``torch.optim.Adam``.

Shape of the module (see DESIGN.md and core/training.py): a frozen :class:`GANConfig` on the shared config base;
:func:`train` (``until=``, deterministic per config and seed, a callback that may stop it, resumable in chunks,
through :func:`core.training.loop`; :meth:`GAN.fit` with ``phase="d"`` / ``"g"`` for one player only);
``model.sample(n, seed, y)``; no ``log_prob`` (a GAN is an implicit model: it has no likelihood);
:func:`save` / :func:`load` as safetensors + JSON (the full training state, so a loaded model resumes
bit-identically; a model's ``path_`` records the (phase, iterations) chunks it was trained with, so config
and path name it, see :func:`path_text`). A run that diverges raises :class:`TrainingDiverged` (a
``RuntimeError``) naming the step and what went wrong (a loss became NaN/inf, or the samples became NaN/inf
or exploded far beyond the data); the model is attached as ``.model``. The losses are checked at every
iteration (:func:`core.training.loop`), the samples at every log step, so it is never hidden.

Metrics (``model.history_``, one dict per log step; see :func:`fit` and :func:`evaluate`): ``train/d_loss`` and
``train/g_loss`` (averaged over the iterations since the last log step), and on the fixed evaluation set
``test/d_real``, ``test/d_fake``, ``test/value`` (L), ``test/js_value`` = (L + ln 4) / 2, ``test/js_hist``
(grid-histogram JSD), and on the Gaussian mixtures (ring8, grid25 and PacGAN's two) ``test/modes``, ``test/hq``,
``test/mode_counts``, ``test/mode_need``. Snapshots (``model.snapshots_``) keep the fakes of a fixed noise batch,
D(x) on a 40x40 grid and G's manifold, for a timeline.

Command line (the shipped checkpoints are made with it; see each checkpoint's ``meta["command"]``)::

    python -m core train gan --preset converges --out checkpoints/gan_ring8 --threads 1
    python -m core train gan --preset mode_collapse --out checkpoints/gan_ring8_collapse --threads 1
    python -m core train gan --preset grid25 --out checkpoints/gan_grid25 --threads 1
    python -m core train gan --preset ring8_cgan --out checkpoints/gan_ring8_cgan --threads 1
    python -m core train gan --preset mnist_cgan --out checkpoints/gan_mnist_cgan --threads 1
    python -m core train gan --preset ring_pacgan --out checkpoints/gan_ring8p_default --threads 1
    python -m core train gan --preset collapse_pacgan --out checkpoints/gan_ring8p_collapse --threads 1
    python -m core train gan --preset pacgan2 --out checkpoints/gan_ring8p_pacgan2 --threads 1   # also pacgan4, mbstd
    python -m core train gan --preset grid_pacgan --out checkpoints/gan_grid25p_default --threads 1
    python -m core train gan --preset grid_pacgan2 --out checkpoints/gan_grid25p_pacgan2 --threads 1
    python -m core train gan --preset grid_ema --out checkpoints/gan_grid25p_ema --threads 1
    python -m core info checkpoints/gan_ring8

Mode collapse and its remedies (``REMEDIES``; measured by ``bench/bench_gan.py --coverage`` next to PacGAN's
Table 1): ``pack = m`` is PacGAN (Lin et al. 2018): D's input is m samples concatenated, all real or all fake, so
D judges the variety of a pack, not one point; each D step sees B packs of each kind (m * B samples), G's step
m * B fakes. ``mbstd = g`` is ProGAN's minibatch standard deviation (Karras et al. 2018): D's input gets one more
feature, the mean std of its group of g inputs (:func:`mbstd_feature`). ``ema = d`` keeps an exponential moving
average of G's weights (Yazici et al. 2019; :func:`core.training.ema_update` after every G step), and the average
(``model.sampler``) draws every sample that is shown or scored: G's own weights circle the game's equilibrium
(coverage found, lost, refound), their average sits near its centre. Every remedy preset samples from the average
(decay 0.999): packing or minibatch std finds the modes, the average keeps them (``collapse_pacgan``, the strong D
they fix, samples from G itself, and with the average alone it still collapses). Per-point views (the heatmap) show D on a
pack of m copies of the point, with the minibatch-std feature real data gives. Mode coverage is
:func:`core.metrics.mode_coverage` (PacGAN's rule), the one rule every page uses.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core import checkpoints, runtime, training
from core import data as gdata
from core import metrics as gmetrics
from core.training import Config, TrainingDiverged
from core.training import check_choice as _choice

FAMILY = "gan"
LIKELIHOOD = "none"  # an implicit model: it samples, and has no ln p(x) to report (model.log_prob refuses)
LOSSES = ("minimax", "nonsaturating", "wgan-gp")
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "elu", "silu", "gelu")
NOISES = ("gaussian", "uniform")
CONDITIONINGS = ("onehot", "embedding")
OUTPUTS = ("linear", "tanh", "sigmoid")
IMAGE_SETS = ("mnist",)
DATA_SETS = tuple(sorted(gdata.TOY_SETS)) + tuple(gdata.PACGAN_SETS) + IMAGE_SETS + ("custom",)
PHASES = ("both", "d", "g")
LN4 = math.log(4.0)




@dataclass(frozen=True)
class GANConfig(Config):
    # --- data
    data: str = "ring8"            # a core.data toy set, "mnist" (digits, x in [-1, 1]) or "custom" (passed in)
    n_data: int = 10_000           # points drawn from a toy set (ignored for mnist / custom)
    data_seed: int = 0             # seed of the toy-set draw
    image_size: int = 28           # mnist side length (x_dim = image_size**2)
    # --- networks
    noise_dim: int = 2             # dimension of z (2 lets the page draw the generator's manifold directly)
    noise: str = "gaussian"        # p_z: "gaussian" N(0, I) or "uniform" U[-1, 1]^d
    g_width: int = 64              # hidden units per layer of G
    g_depth: int = 3               # hidden layers of G
    d_width: int = 64              # hidden units per layer of D
    d_depth: int = 2               # hidden layers of D
    activation: str = "tanh"       # hidden activation of both networks (one of ACTIVATIONS)
    output: str = "linear"         # G's output activation: "linear" (2-D points), "tanh" (images in [-1, 1]), "sigmoid"
    # --- conditional GAN
    n_classes: int = 0             # 0: unconditional; K > 0: the label y in {0..K-1} is an input of both G and D
    conditioning: str = "onehot"   # how y enters: "onehot" concatenated, or a learned "embedding" concatenated
    embed_dim: int = 8             # size of the label embedding (conditioning="embedding")
    # --- remedies for mode collapse (both change D's input; 1 / 0 leave the lecture's D exactly as it was)
    pack: int = 1                  # PacGAN's m: D judges m samples concatenated (all real or all fake), input m * x_dim
    mbstd: int = 0                 # minibatch standard deviation: groups of this many D inputs; each input gets the
                                   # mean (over coordinates) std of its group appended as one more feature (0: off)
    ema: float = 0.0               # decay of an exponential moving average of G's weights (Yazici et al. 2019): 0 off;
                                   # else the averaged G draws every sample shown and scored (G itself still trains)
    # --- the game
    loss: str = "nonsaturating"    # "minimax" (lecture, saturating), "nonsaturating" or "wgan-gp"
    gp_weight: float = 10.0        # lambda of the WGAN-GP gradient penalty
    k_d: int = 1                   # discriminator steps per generator step (k in Goodfellow et al.'s Algorithm 1)
    batch_size: int = 150          # real and fake samples per step
    lr_d: float = 1e-3             # Adam learning rate of D
    lr_g: float = 1e-3             # Adam learning rate of G
    beta1: float = 0.5             # Adam beta1 (0.5 is the usual GAN choice, DCGAN)
    beta2: float = 0.999           # Adam beta2
    steps: int = 3000              # training iterations (each: k_d D steps + 1 G step) run by train()
    seed: int = 0                  # seed of both networks' init, the noise and the minibatches
    # --- logging
    log_every: int = 50            # iterations between metric evaluations / callback calls
    snapshot_every: int = 100      # iterations between snapshots (doubles whenever max_snapshots is exceeded)
    max_snapshots: int = 80        # snapshots kept for the timeline
    n_eval: int = 2000             # fake and real samples used by the metrics

    def __post_init__(self):
        _choice("data set", self.data, DATA_SETS)
        _choice("noise", self.noise, NOISES)
        _choice("activation", self.activation, ACTIVATIONS)
        _choice("output", self.output, OUTPUTS)
        _choice("conditioning", self.conditioning, CONDITIONINGS)
        _choice("loss", self.loss, LOSSES)
        for name in ("n_data", "image_size", "noise_dim", "g_width", "d_width", "embed_dim", "k_d",
                     "batch_size", "log_every", "snapshot_every", "max_snapshots", "n_eval"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if int(self.pack) < 1 or int(self.mbstd) < 0 or int(self.mbstd) == 1:
            raise ValueError(f"pack must be at least 1 and mbstd 0 (off) or a group size >= 2, got pack={self.pack}, "
                             f"mbstd={self.mbstd}.")
        if self.n_classes and (self.pack > 1 or self.mbstd):
            raise ValueError("Packing and minibatch std are for unconditional GANs (n_classes=0).")
        for name in ("g_depth", "d_depth", "n_classes", "steps"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}.")
        for name in ("lr_d", "lr_g", "gp_weight"):
            v = float(getattr(self, name))
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v}.")
        for name in ("beta1", "beta2", "ema"):
            if not 0.0 <= float(getattr(self, name)) < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {getattr(self, name)}.")

    @property
    def d_in(self) -> int:
        """Width of D's input: pack * x_dim samples, plus one minibatch-std feature when mbstd is on."""
        return self.pack * self.x_dim + (1 if self.mbstd else 0)

    @property
    def x_dim(self) -> int:
        """Dimension of a sample x: image_size**2 for mnist, else 2."""
        return self.image_size ** 2 if self.data in IMAGE_SETS else 2



# ----------------------------------------------------------------------------- presets

#: One-click configurations for the ring of 8, each with the sentence the page shows.
PRESETS: dict[str, tuple[GANConfig, str]] = {
    "converges": (
        GANConfig(),
        "Non-saturating loss, one D step per G step at equal learning rates, tanh networks with a 3-layer G: "
        "neither player runs away from the other, so D's gradient keeps pointing fakes towards every real "
        "mode and G spreads over all 8 (on 2 cores in a few seconds).",
    ),
    "mode_collapse": (
        GANConfig(k_d=3, lr_d=3e-3),
        "The same networks, but D takes 3 steps per G step at 3x the learning rate: D stays far ahead and "
        "sharply rejects whatever G has not already put on a mode, so G piles its samples onto the few modes "
        "it found first; D's gradient at those fakes points only to nearby modes, never to the empty ones. "
        "Sharp samples, half the modes: mode collapse.",
    ),
    "saturating": (
        GANConfig(loss="minimax", k_d=10, lr_d=1e-2, lr_g=2e-4, d_width=128),
        "The lecture's minimax loss, G minimizes ln(1 - D(G(z))), against a strong D (10 steps per G step, "
        "50x G's learning rate): D soon rejects every fake with D(G(z)) ~ 0, where ln(1 - D) is flat, so G's "
        "gradient vanishes (the arrows shrink to nothing) and the fakes never move.",
    ),
    "nonsaturating": (
        GANConfig(loss="nonsaturating", k_d=10, lr_d=1e-2, lr_g=2e-4, d_width=128),
        "The same strong D, but G minimizes -ln D(G(z)): the same fixed point, yet the gradient is largest "
        "exactly when D rejects the fakes, so G escapes and reaches the data (though a D this strong still "
        "lets it find only a few modes at first).",
    ),
    "ring8_cgan": (
        GANConfig(n_classes=8),
        "Conditional GAN on the ring: the mode label y is an extra input of G and D, so G(z | y) "
        "learns to put its samples on the mode you ask for.",
    ),
    "grid25": (
        GANConfig(data="grid25", g_width=128, d_width=128, noise="uniform", steps=12000),
        "The 5x5 grid: 25 modes need twice the width in G and D, and uniform noise on a square, which G only "
        "has to cut into a 5x5 grid of cells; even so a GAN rarely finds every mode.",
    ),
    # --- mode collapse on PacGAN's ring (Lin et al. 2018, Table 1: 8 Gaussians on the unit circle, std 0.01;
    # 2,500 samples scored, as there), and what fixes it; bench/bench_gan.py --coverage measures each over 3 seeds
    "ring_pacgan": (
        GANConfig(data="ring8_pacgan", n_eval=2500, steps=12000, ema=0.999),
        "Balanced players on PacGAN's ring (std 0.01 on the unit circle; high quality means within 0.03 of a mode "
        "in each coordinate): one D step per G step at equal learning rates, the converging settings, and every "
        "sample drawn by a moving average of G's weights (decay 0.999). A D that does not run far ahead keeps pointing "
        "G towards every mode, but G itself keeps circling the game's equilibrium: without the average these settings "
        "fell back to 4, 1 and 0 of 8 modes after first covering all 8 (seeds 0-2, 12,000 iterations); the average "
        "over G's last ~1,000 steps held all 8 in every seed.",
    ),
    "collapse_pacgan": (
        GANConfig(data="ring8_pacgan", k_d=3, lr_d=3e-3, n_eval=2500, steps=4000),
        "Mode collapse on PacGAN's ring: D takes 3 steps per G step at 3x the learning rate, rejects whatever G has "
        "not yet put on a mode, and G jumps between a few modes instead of covering all 8. A moving average of G alone "
        "does not stop it (with decay 0.999: 4, 6 and 6 of 8 modes, never all 8, seeds 0-2): packing or minibatch "
        "std is what finds the missing modes.",
    ),
    "pacgan2": (
        GANConfig(data="ring8_pacgan", k_d=3, lr_d=3e-3, n_eval=2500, steps=4000, pack=2, ema=0.999),
        "PacGAN packing, m = 2, against the same strong D: D judges two samples side by side, both real or both "
        "fake; two real samples fall on different modes 7 times in 8, two from a collapsed G rarely do, so D sees "
        "the missing variety and its gradient pushes G's samples apart onto the empty modes. Packing finds all 8; "
        "the moving average of G (decay 0.999) keeps them: without it G fell back to 2, 6 and 4 of 8 after first "
        "covering all 8 (seeds 0-2), with it every seed held all 8.",
    ),
    "pacgan4": (
        GANConfig(data="ring8_pacgan", k_d=3, lr_d=3e-3, n_eval=2500, steps=4000, pack=4, ema=0.999),
        "PacGAN packing, m = 4: four samples per D input make a collapsed G's packs even easier to tell from real "
        "ones (four real samples share one mode with probability 1/512), for 4x the samples per step. With the moving "
        "average of G (decay 0.999) every seed held all 8 modes once found; without it G fell back to 2, 2 and 0 of "
        "8 (seeds 0-2).",
    ),
    "mbstd": (
        GANConfig(data="ring8_pacgan", k_d=3, lr_d=3e-3, n_eval=2500, steps=4000, mbstd=2, ema=0.999),
        "Minibatch standard deviation (ProGAN), against the same strong D: each of D's inputs gets one more feature, "
        "the spread of the group of 2 samples it came in; real pairs are spread across the ring, a collapsed G's "
        "pairs are not, so D penalises collapse directly. With the moving average of G (decay 0.999) seeds 0 and 2 "
        "held all 8 modes once found (without it they fell back to 5 and 0); seed 1 stops at 6 of 8 either way.",
    ),
    "grid_pacgan": (
        GANConfig(data="grid25_pacgan", g_width=128, d_width=128, noise="uniform", n_eval=2500, steps=9000),
        "The 5x5 grid settings on PacGAN's grid ({-4,-2,0,2,4}^2, std 0.05): 25 modes twice as far apart as "
        "GenLab's grid, where a plain GAN misses some.",
    ),
    "grid_pacgan2": (
        GANConfig(data="grid25_pacgan", g_width=128, d_width=128, noise="uniform", n_eval=2500, steps=20000, pack=2,
                  ema=0.999),
        "PacGAN2 on PacGAN's grid: D judges 2 samples at once, so a G that leaves cells of the grid empty (or "
        "crowds others) is caught by its pairs' lack of variety, and is pushed into every cell; the moving average "
        "of G (decay 0.999) keeps the cells once found. Seeds 0 and 2 held all 25 (without the average they fell "
        "back to 20 and 21); with uniform noise seed 1 stops at 20 of 25, average or not.",
    ),
    "grid_ema": (
        GANConfig(data="grid25_pacgan", g_width=128, d_width=128, n_eval=2500, steps=16000, pack=2, ema=0.999),
        "PacGAN2 and the moving average of G's weights (decay 0.999, Yazici et al. 2019) on PacGAN's grid, with "
        "Gaussian noise instead of uniform: every seed finds all 25 cells. The game keeps circling its equilibrium, "
        "so G itself keeps dropping and refinding cells (without the average these settings fell back to 19, 8 and "
        "12 of 25 modes after first covering all 25, seeds 0-2 over 20,000 iterations), while the average over its "
        "last ~1,000 steps sits near the centre of that circling and holds every cell.",
    ),
    "mnist_cgan": (
        GANConfig(data="mnist", n_classes=10, noise_dim=64, g_width=256, d_width=256, g_depth=2, d_depth=2,
                  activation="leaky_relu", output="tanh", k_d=1, batch_size=64, lr_d=2e-4, lr_g=2e-4, beta1=0.5,
                  steps=20000, log_every=200, snapshot_every=500, max_snapshots=24, n_eval=500),
        "Conditional GAN on the 5,000 MNIST digits: G(z | digit) and D(x | digit) are MLPs on 28x28 pixels.",
    ),
}


#: the remedies for mode collapse, shown side by side with ``collapse_pacgan`` (the same strong D without them)
REMEDIES = ("ring_pacgan", "pacgan2", "pacgan4", "mbstd", "grid_pacgan2", "grid_ema")


#: the shipped checkpoint of each preset on PacGAN's data (made by the CLI: ``train --preset NAME --out ...``)
PRESET_CHECKPOINTS = {"ring_pacgan": "gan_ring8p_default", "collapse_pacgan": "gan_ring8p_collapse",
                      "pacgan2": "gan_ring8p_pacgan2", "pacgan4": "gan_ring8p_pacgan4", "mbstd": "gan_ring8p_mbstd",
                      "grid_pacgan": "gan_grid25p_default", "grid_pacgan2": "gan_grid25p_pacgan2",
                      "grid_ema": "gan_grid25p_ema"}


def preset(name: str, **changes) -> GANConfig:
    """The config of preset ``name`` (with ``changes`` applied). Raises ValueError listing the presets."""
    _choice("preset", name, PRESETS)
    return PRESETS[name][0].replace(**changes) if changes else PRESETS[name][0]


# ----------------------------------------------------------------------------- data

@dataclass
class GANData:
    """Training data: ``X`` float32 (n, x_dim), ``y`` int64 labels (n,) or None, and the name it came from."""
    X: np.ndarray
    y: np.ndarray | None = None
    name: str = "custom"


def load_data(config: GANConfig) -> GANData:
    """The data ``config.data`` names: a toy set drawn with ``n_data`` / ``data_seed``, or mnist in [-1, 1]."""
    if config.data == "custom":
        raise ValueError("config.data is 'custom': pass the points to train(config, data=...).")
    if config.data == "mnist":
        X, y = gdata.mnist(config.image_size)
        return GANData((X.reshape(len(X), -1) * 2 - 1).astype(np.float32), y, "mnist")
    X, y = gdata.toy(config.data, config.n_data, config.data_seed)
    return GANData(X, y, config.data)


def make_data(X, y=None, name: str = "custom") -> GANData:
    """Wrap arrays (points (n, 2), or flattened images) into :class:`GANData`, checking shapes and values."""
    X = np.asarray(X, np.float32)
    if X.ndim != 2 or len(X) < 2:
        raise ValueError(f"X must have shape (n >= 2, dim), got {X.shape}.")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinite values.")
    if y is not None:
        y = np.asarray(y, np.int64)
        if y.shape != (len(X),):
            raise ValueError(f"y must have shape ({len(X)},), got {y.shape}.")
    return GANData(X, y, name)


def points_data(x_train, x_test, y_train=None, y_test=None, name: str = "custom") -> GANData:
    """The protocol's data from arrays of 2-D points (core/families.py): the GAN trains on ``x_train`` only (its
    evaluations draw from the model); ``name`` is the toy set's, for its modes."""
    return make_data(x_train, None, name)


def to_images(x: np.ndarray, size: int | None = None) -> np.ndarray:
    """Flattened samples in [-1, 1] -> images (n, size, size) in [0, 1] (the mnist data convention)."""
    x = np.asarray(x, np.float32)
    size = size or int(round(math.sqrt(x.shape[-1])))
    return np.clip((x.reshape(-1, size, size) + 1) / 2, 0, 1)


# ----------------------------------------------------------------------------- networks

def _act(name: str) -> nn.Module:
    return {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh, "elu": nn.ELU,
            "silu": nn.SiLU, "gelu": nn.GELU}[name]()


def _mlp(d_in: int, width: int, depth: int, d_out: int, act: str, out: str = "linear") -> nn.Sequential:
    layers, d = [], d_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), _act(act)]
        d = width
    layers.append(nn.Linear(d, d_out))
    if out == "tanh":
        layers.append(nn.Tanh())
    elif out == "sigmoid":
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


class Net(nn.Module):
    """An MLP with an optional label input: ``net(v, c)`` = mlp(concat(v, c)), where c is the one-hot label
    (given) or the label's learned embedding (computed here from integer labels)."""

    def __init__(self, d_in: int, width: int, depth: int, d_out: int, act: str, out: str,
                 n_classes: int, conditioning: str, embed_dim: int):
        super().__init__()
        self.n_classes, self.conditioning = n_classes, conditioning
        d_c = 0
        if n_classes:
            d_c = n_classes if conditioning == "onehot" else embed_dim
            if conditioning == "embedding":
                self.embed = nn.Embedding(n_classes, embed_dim)
        self.mlp = _mlp(d_in + d_c, width, depth, d_out, act, out)

    def cond(self, y: torch.Tensor) -> torch.Tensor:
        """The label input for integer labels ``y``: one-hot (float) or the embedding."""
        if self.conditioning == "onehot":
            return F.one_hot(y, self.n_classes).to(torch.float32)
        return self.embed(y)

    def forward(self, v: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_classes:
            if c is None:
                raise ValueError("This is a conditional GAN: pass the labels.")
            if c.dtype == torch.int64:
                c = self.cond(c)
            v = torch.cat([v, c], 1)
        return self.mlp(v)


def mbstd_feature(v: torch.Tensor, group: int) -> torch.Tensor:
    """The minibatch-std feature (Karras et al. 2018, ProGAN): the batch ``v`` (n, d) split into groups of ``group``
    consecutive rows (a last incomplete group is filled with the first rows); for each group the standard deviation
    of every coordinate over its members, averaged over the coordinates -> one number per group, given to each of
    its members: (n, 1). A collapsed G gives groups of near-identical fakes, so a feature near 0 gives them away."""
    n = len(v)
    pad = -n % group
    w = torch.cat([v, v[:pad]]) if pad else v
    sd = torch.sqrt(w.reshape(-1, group, v.shape[1]).var(1, unbiased=False) + 1e-8).mean(1)
    return sd.repeat_interleave(group)[:n, None]


# ----------------------------------------------------------------------------- metrics (plain numpy)

def histogram_js(real: np.ndarray, fake: np.ndarray, box: float, bins: int = 40) -> float:
    """Jensen-Shannon divergence (nats, in [0, ln 2]) between the 2-D histograms of two point sets.

    The histograms use ``bins x bins`` cells over [-box, box]^2 plus one overflow cell for points outside
    (so fakes that fly away count as mismatch). Normalized counts p, q, m = (p + q) / 2, and
    JSD = 1/2 KL(p || m) + 1/2 KL(q || m) (the lecture's formula, 0 ln 0 = 0).
    """
    def hist(x):
        x = np.asarray(x, np.float64)
        ok = np.isfinite(x).all(1) & (np.abs(x) <= box).all(1)
        h, _, _ = np.histogram2d(x[ok, 0], x[ok, 1], bins=bins, range=[[-box, box], [-box, box]])
        return np.append(h.ravel(), (~ok).sum()) / max(len(x), 1)

    p, q = hist(real), hist(fake)
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0).sum()
    return float(max(0.5 * kl_p + 0.5 * kl_q, 0.0))


def mode_stats(fake: np.ndarray, centers: np.ndarray, std: float) -> dict:
    """Mode coverage in the history's form (``modes``, ``n_modes``, ``hq``, ``mode_counts``, ``mode_need``): GenLab's
    one rule, :func:`core.metrics.mode_coverage` (PacGAN's: high quality within 3 std of the nearest mode in each
    coordinate; a mode is captured with at least a fifth of its even share n / K of the samples)."""
    return gmetrics.mode_coverage(fake, centers, std).as_dict()


def coverage_along(history: list[dict], hq_min: float = 0.9) -> dict:
    """Mode coverage along a training run (a model's ``history_``): the last log step's ``test/modes`` / ``test/n_modes`` /
    ``test/hq`` (as ``modes``, ``n_modes``, ``hq``) and ``step``; ``full_step``, the first log step with every mode captured and at least ``hq_min``
    high-quality samples (None if never); ``modes_after_full``, the fewest modes at any later log step (a drop
    below ``n_modes`` is a collapse after full coverage) and ``full_share_after``, the share of the log steps from
    ``full_step`` on that still capture every mode (1.0: it never lost one; a brief dip lowers it a little)."""
    H = [h for h in history if "test/modes" in h]
    if not H:
        return {}
    last = H[-1]
    full = next((i for i, h in enumerate(H) if h["test/modes"] == h["test/n_modes"] and h["test/hq"] >= hq_min), None)
    return {"modes": last["test/modes"], "n_modes": last["test/n_modes"], "hq": last["test/hq"], "step": last["step"],
            "full_step": H[full]["step"] if full is not None else None,
            "modes_after_full": min(h["test/modes"] for h in H[full:]) if full is not None else None,
            "full_share_after": (sum(h["test/modes"] == h["test/n_modes"] for h in H[full:]) / len(H[full:])
                                 if full is not None else None)}


def coverage_text(history: list[dict], source: str) -> str:
    """One sentence of what a run measured (see :func:`coverage_along`), naming ``source``: the GAN page quotes it
    for each remedy's shipped checkpoint."""
    c = coverage_along(history)
    if not c:
        return ""
    full = (f"; every mode with >= 90 % HQ first at iteration {c['full_step']:,}, never fewer than "
            f"{c['modes_after_full']} after that" if c["full_step"] is not None else "; never every mode with >= 90 % HQ")
    return (f"Measured: {c['modes']}/{c['n_modes']} modes, {100 * c['hq']:.0f} % HQ after {c['step']:,} iterations "
            f"({source}{full}).")


# ----------------------------------------------------------------------------- the model

@dataclass
class Snapshot:
    """What the timeline needs to redraw an earlier moment: fakes of the fixed evaluation noise,
    D(x) on the heatmap grid, the generator's manifold and the metrics at that step."""
    step: int
    samples: np.ndarray
    heat: np.ndarray | None
    manifold: np.ndarray | None
    metrics: dict


class PlaneViews:
    """What a page draws of a GAN on 2-D data, besides its samples: D over the plane, G's manifold and the arrows of
    G's gradient (GAN Lab's views). A mixin of :class:`GAN`, whose networks, noise and losses it uses."""

    def grid(self, res: int = 60, box: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The heatmap grid: (xs, ys) cell centres, each (res,), over [-box, box] (default ``box_``)."""
        b = self.box_ if box is None else float(box)
        xs = np.linspace(-b, b, res, dtype=np.float32)
        return xs, xs.copy()

    @torch.no_grad()
    def d_grid(self, res: int = 60, box: float | None = None, y=None) -> np.ndarray:
        """D(x | y) on a res x res grid over [-box, box]^2 (2-D data): array [iy, ix] for the heatmap.

        For a conditional GAN with ``y=None`` this is the label-frequency-weighted mean of D(x | y)."""
        self._need_2d()
        xs, ys = self.grid(res, box)
        P = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
        if self.conditional and y is None:
            out = sum(w * self.discriminate(P, k) for k, w in enumerate(self.label_freq_) if w > 0)
        else:
            out = self.discriminate(P, y)
        return np.asarray(out, np.float32).reshape(res, res)

    @torch.no_grad()
    def manifold(self, res: int = 21, dims: tuple[int, int] = (0, 1), y=None, span: float = 0.98) -> np.ndarray:
        """The generator's manifold: a res x res grid in z-space drawn through G -> (res, res, x_dim).

        The grid is regular in probability: coordinate u in [1 - span, span] maps to z = Phi^-1(u) for
        Gaussian noise (z = 2u - 1 for uniform), so equal cells hold equal noise mass, as GAN Lab draws it.
        Other noise dimensions are held at 0 (a 2-D slice); with 1-D noise the second axis has size 1.
        """
        nz = self.config.noise_dim
        d0, d1 = dims
        if not (0 <= d0 < nz and (nz == 1 or (0 <= d1 < nz and d1 != d0))):
            raise ValueError(f"dims must be two different noise dimensions in 0..{nz - 1}, got {dims}.")
        u = torch.linspace(1 - span, span, res, dtype=torch.float64)
        t = (torch.special.ndtri(u) if self.config.noise == "gaussian" else 2 * u - 1).float()
        rows = res if nz > 1 else 1
        z = torch.zeros(rows, res, nz)
        z[:, :, d0] = t[None, :]
        if nz > 1:
            z[:, :, d1] = t[:, None]
        out = self.generate(z.reshape(-1, nz).to(self.device), None if y is None else y)
        return out.reshape(rows, res, -1)

    def g_gradients(self, n: int = 200, seed: int = 0, y=None) -> tuple[np.ndarray, np.ndarray]:
        """Where G's loss pushes the fakes: points x = G(z) and the vectors -dL_G/dx, each (n, x_dim).

        L_G is the generator loss of ``config.loss`` summed over the points (so each arrow is that point's
        own gradient); the arrow is the direction a gradient step on x would move the point.
        """
        g = runtime.torch_generator(seed, self.device.type)
        z = self.noise(n, g)
        c = self._labels(y, n, runtime.torch_generator(seed + 1))
        with torch.no_grad():
            x = self.sampler(z, c)
        x = x.detach().requires_grad_(True)
        loss = self._g_loss(self._d(x, c)).sum()  # packed: each point's gradient through its own pack
        (grad,) = torch.autograd.grad(loss, x)
        return x.detach().cpu().numpy(), (-grad).cpu().numpy()

    def _need_2d(self):
        if self.config.x_dim != 2:
            raise ValueError("This view needs 2-D data.")


class GAN(PlaneViews):
    """Generator G and discriminator D of one config, what they compute, and the training state.

    The networks are methods (sampling, D on points), what a page draws of them on the plane
    :class:`PlaneViews`' (D on a grid, G's manifold and gradients); how they learn is a :class:`Trainer`'s (``model.trainer``, built on first use); the metrics are
    :func:`evaluate`'s, the timeline :func:`take_snapshot`'s and the checkpoint's tensors :func:`state_tensors`'.

    Learned / running state ends in ``_``: ``step_`` (iterations done), ``d_steps_``, ``g_steps_``,
    ``history_`` (the metrics of each log step: ``train/...`` and ``test/...``, see :func:`fit`), ``snapshots_``
    (:class:`Snapshot` list), ``box_`` (the plot box [-box, box]^2 for 2-D data), ``label_freq_`` (label
    frequencies of the training data), ``train_seconds_``, ``path_`` (the training it received, as (phase,
    iterations) chunks: with the config it names the model), ``diverged_`` (why training stopped, or None).
    """

    def __init__(self, config: GANConfig, device: str | None = None):
        self.config = c = config
        self.device = torch.device(device or runtime.pick_device())
        nz, xd = c.noise_dim, c.x_dim
        self.G = runtime.seeded_init(lambda: Net(nz, c.g_width, c.g_depth, xd, c.activation, c.output,
                                                 c.n_classes, c.conditioning, c.embed_dim), c.seed).to(self.device)
        self.D = runtime.seeded_init(lambda: Net(c.d_in, c.d_width, c.d_depth, 1, c.activation, "linear", c.n_classes,
                                                 c.conditioning, c.embed_dim), c.seed + 10_007).to(self.device)
        #: the moving average of G's weights (``config.ema`` > 0), which then draws every sample; None when off
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False) if c.ema else None
        self.step_ = self.d_steps_ = self.g_steps_ = 0
        self.history_: list[dict] = []
        self.snapshots_: list[Snapshot] = []
        self.snapshot_every_ = c.snapshot_every
        self.train_seconds_ = 0.0
        self.box_ = 3.0
        self.label_freq_ = np.full(max(c.n_classes, 1), 1.0 / max(c.n_classes, 1))
        self.diverged_: str | None = None
        self.path_: list[tuple[str, int]] = []  # how it was trained: (phase, iterations) chunks, see path_text
        self._trainer: Trainer | None = None
        self._mbstd_ref = 0.0  # the minibatch-std feature of real data: what D sees with a single point (views)

    @property
    def trainer(self) -> Trainer:
        """Adam for each player, the training randomness, the data and one training iteration."""
        if self._trainer is None:
            self._trainer = Trainer(self)
        return self._trainer

    def fit(self, data: GANData, steps: int, callback=None, phase: str = "both") -> GAN:
        """Train ``steps`` more iterations of ``phase`` on ``data``: :func:`fit`."""
        return fit(self, data, steps, callback, phase)

    def evaluate(self) -> dict:
        """The metrics of the model as it is now on its fixed evaluation set: :func:`evaluate`."""
        return evaluate(self)

    def state_tensors(self, optimizer: bool = True, snapshots: bool = True) -> dict:
        return state_tensors(self, optimizer, snapshots)

    def state_meta(self) -> dict:
        return state_meta(self)

    def load_state(self, tensors: dict, meta: dict, path=None) -> GAN:
        return load_state(self, tensors, meta, path)

    @property
    def metrics(self) -> dict:
        """The latest logged metrics ({} before training)."""
        return dict(self.history_[-1]) if self.history_ else {}

    # ---------------------------------------------------------------- sampling
    @property
    def sampler(self) -> Net:
        """The generator that draws what is shown and scored: G's moving average when ``config.ema`` is on, else G."""
        return self.G if self.G_ema is None else self.G_ema

    @property
    def conditional(self) -> bool:
        return self.config.n_classes > 0

    def noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """z ~ p_z: (n, noise_dim) standard normal, or uniform on [-1, 1]."""
        shape = (int(n), self.config.noise_dim)
        if self.config.noise == "gaussian":
            return torch.randn(shape, generator=generator, device=self.device)
        return torch.rand(shape, generator=generator, device=self.device).mul_(2).sub_(1)

    def _labels(self, y, n: int, generator=None) -> torch.Tensor | None:
        if not self.conditional:
            return None
        K = self.config.n_classes
        if y is None:
            p = torch.as_tensor(self.label_freq_, dtype=torch.float32)
            g = generator if generator is not None and generator.device.type == "cpu" else runtime.torch_generator(0)
            return torch.multinomial(p, n, replacement=True, generator=g).to(self.device)
        y = torch.as_tensor(np.broadcast_to(np.asarray(y, np.int64), (n,)).copy(), device=self.device)
        if (y < 0).any() or (y >= K).any():
            raise ValueError(f"Labels must lie in 0..{K - 1}.")
        return y

    @torch.no_grad()
    def generate(self, z: torch.Tensor, y=None) -> np.ndarray:
        """G(z | y) for given noise ``z`` (n, noise_dim) -> samples (n, x_dim) as numpy."""
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device)
        c = self._labels(y, len(z))
        return self.sampler(z, c).float().cpu().numpy()

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, y=None) -> np.ndarray:
        """``n`` samples x = G(z | y), z ~ p_z drawn with ``seed``: float32 (n, x_dim).

        ``y`` (conditional GANs only): one label for all samples, an array of n labels, or None (labels
        drawn from the training label frequencies with the same seed).
        """
        g = runtime.torch_generator(seed, self.device.type)
        z = self.noise(n, g)
        c = self._labels(y, int(n), runtime.torch_generator(seed + 1))
        return self.sampler(z, c).float().cpu().numpy()

    def log_prob(self, x):  # noqa: D401 - documented refusal
        """A GAN is an implicit model: it defines p_g only through sampling and has no likelihood."""
        raise NotImplementedError("A GAN has no log-likelihood: it is an implicit generative model.")

    @torch.no_grad()
    def discriminate(self, x, y=None) -> np.ndarray:
        """D(x | y) for points ``x`` (n, x_dim): probabilities in (0, 1), or critic scores for wgan-gp."""
        x = torch.as_tensor(np.asarray(x, np.float32), device=self.device)
        out = self._d_points(x, self._labels(y, len(x)))
        return (out if self.config.loss == "wgan-gp" else torch.sigmoid(out)).float().cpu().numpy()

    # ---------------------------------------------------------------- D's input: packing and minibatch std
    def _packed(self, x: torch.Tensor, mbstd: bool = True) -> torch.Tensor:
        """Samples (n, x_dim) -> D's inputs: PacGAN's packs of ``pack`` consecutive samples concatenated,
        (ceil(n / pack), pack * x_dim) (a last incomplete pack is filled with the first samples), then the
        minibatch-std feature appended (``mbstd``)."""
        c = self.config
        if c.pack > 1:
            pad = -len(x) % c.pack
            if pad:
                x = torch.cat([x, x[:pad]])
            x = x.reshape(len(x) // c.pack, c.pack * x.shape[1])
        if c.mbstd and mbstd:
            x = torch.cat([x, mbstd_feature(x, c.mbstd)], 1)
        return x

    def _d(self, x: torch.Tensor, c=None) -> torch.Tensor:
        """D's logits (critic scores) for a batch of samples of one kind (all real or all fake): one per D input,
        (ceil(n / pack),). With pack = 1 and mbstd off this is D(x | c), one per sample."""
        if self.config.pack == 1 and not self.config.mbstd:
            return self.D(x, c).squeeze(1)
        return self.D(self._packed(x)).squeeze(1)

    def _d_points(self, x: torch.Tensor, c=None) -> torch.Tensor:
        """D's output for each point on its own (the heatmap, D(real) in the map): a pack of ``pack`` copies of x,
        and as minibatch-std feature the one real data gives (D judges x as if it came in a batch of real data)."""
        cfg = self.config
        if cfg.pack == 1 and not cfg.mbstd:
            return self.D(x, c).squeeze(1)
        v = x.repeat(1, cfg.pack)
        if cfg.mbstd:
            v = torch.cat([v, torch.full((len(v), 1), self._mbstd_ref, device=v.device)], 1)
        return self.D(v).squeeze(1)

    # ---------------------------------------------------------------- the losses (the lecture's game)
    def _g_loss(self, a: torch.Tensor) -> torch.Tensor:
        """Per-sample generator loss from D's logits (or critic scores) on fakes."""
        if self.config.loss == "minimax":
            return -F.softplus(a)           # ln(1 - D(G(z)))  (G minimizes it; flat when D(G(z)) -> 0)
        if self.config.loss == "nonsaturating":
            return F.softplus(-a)           # -ln D(G(z))
        return -a                           # wgan-gp: -f(G(z))


# ----------------------------------------------------------------------------- training

class Trainer:
    """How a :class:`GAN` learns: Adam for each player (built on first use: building the first optimizer of a
    process imports torch._dynamo, ~2 s, so a page that only draws a shipped model never pays it), the training
    randomness (one generator: noise, minibatches, GP mixing), the data on the device with the fixed evaluation
    set, and one training iteration, :meth:`step`: k_d discriminator updates, then one generator update."""

    def __init__(self, model: GAN):
        self.model = model
        self.rng = runtime.torch_generator(model.config.seed + 20_011, model.device.type)
        self.opts: tuple | None = None
        self.opt_pending: dict | None = None  # optimizer tensors loaded from a checkpoint, applied when built
        self.data: GANData | None = None
        #: the current log window's summed train terms and iterations, kept across chunks (None before any fit)
        self.window: list | None = None

    def optimizers(self) -> tuple:
        if self.opts is None:
            m, c = self.model, self.model.config
            kw = {"fused": True} if m.device.type in ("cpu", "cuda") else {"foreach": True}
            opt_d = torch.optim.Adam(m.D.parameters(), lr=c.lr_d, betas=(c.beta1, c.beta2), **kw)
            opt_g = torch.optim.Adam(m.G.parameters(), lr=c.lr_g, betas=(c.beta1, c.beta2), **kw)
            for name, opt in (("opt_d", opt_d), ("opt_g", opt_g)):
                state = (self.opt_pending or {}).get(name)
                if state:
                    sd = opt.state_dict()
                    sd["state"] = state
                    opt.load_state_dict(sd)
            self.opts, self.opt_pending = (opt_d, opt_g), None
        return self.opts

    def attach(self, data: GANData) -> None:
        """Move the data to the device and build the fixed evaluation set (once per data)."""
        if self.data is data:
            return
        m, cfg = self.model, self.model.config
        if data.X.shape[1] != cfg.x_dim:
            raise ValueError(f"The data has dimension {data.X.shape[1]} but the config expects {cfg.x_dim}.")
        if m.conditional:
            if data.y is None:
                raise ValueError("A conditional GAN (n_classes > 0) needs labels y with the data.")
            if data.y.min() < 0 or data.y.max() >= cfg.n_classes:
                raise ValueError(f"Labels must lie in 0..{cfg.n_classes - 1} for n_classes={cfg.n_classes}.")
        self.data = data
        self.X = torch.as_tensor(data.X, device=m.device)
        self.Y = torch.as_tensor(data.y, device=m.device) if m.conditional else None
        self.g_params = list(m.G.parameters())
        self.window = self.window or [{}, 0]
        if m.step_ == 0:
            if cfg.x_dim == 2:  # the plot box: [-3, 3]^2 for the common toy sets, half that for PacGAN's unit ring
                big = float(np.abs(data.X).max())
                m.box_ = max(3.0 if big > 1.25 else 1.5, math.ceil(2 * 1.15 * big) / 2)
            if m.conditional:
                m.label_freq_ = np.bincount(data.y, minlength=cfg.n_classes) / len(data.y)
        # fixed evaluation set (its own generator: metrics never disturb the training randomness)
        ge = runtime.torch_generator(cfg.seed + 30_011, m.device.type)
        self.z_eval = m.noise(cfg.n_eval, ge)
        idx = torch.randint(len(self.X), (cfg.n_eval,), generator=ge, device=m.device)
        self.x_eval = self.X[idx]
        self.y_eval = self.Y[idx] if m.conditional else None
        self.x_eval_np = self.x_eval.cpu().numpy()
        self.modes = gdata.mixture_modes(data.name) if cfg.x_dim == 2 else None
        if cfg.mbstd:
            with torch.no_grad():
                m._mbstd_ref = float(mbstd_feature(m._packed(self.x_eval, mbstd=False), cfg.mbstd).mean())

    def train_labels(self, n: int):
        """Labels for n fakes, drawn like the real ones (the label of a random training point)."""
        if not self.model.conditional:
            return None
        return self.Y[torch.randint(len(self.Y), (n,), generator=self.rng, device=self.model.device)]

    def step(self, phase: str = "both") -> dict:
        """One training iteration: ``{"d_loss", "g_loss"}`` (tensors) of the players that moved.

        ``phase``: ``"both"`` (k_d D steps, then 1 G step), ``"d"`` (1 D step, G frozen) or ``"g"`` (1 G step,
        D frozen). G does not change during the D steps, so all their batches of fakes come from one pass."""
        m, cfg = self.model, self.model.config
        B = cfg.batch_size
        Bp = B * cfg.pack  # samples per D step of each kind: B of D's inputs, each a pack of `pack` samples
        kd = cfg.k_d if phase == "both" else (1 if phase == "d" else 0)
        cond = m.conditional
        terms = {}
        if kd:  # 1. k D steps (maximize L)
            idx = torch.randint(len(self.X), (kd * Bp,), generator=self.rng, device=m.device)
            real = self.X[idx]
            c_real = self.Y[idx] if cond else None
            c_fake = self.train_labels(kd * Bp)
            with torch.no_grad():
                fake = m.G(m.noise(kd * Bp, self.rng), c_fake)
            loss = 0
            for j in range(kd):
                s = slice(j * Bp, (j + 1) * Bp)
                loss = loss + self.d_step(real[s], fake[s], c_real[s] if cond else None, c_fake[s] if cond else None)
            terms["d_loss"] = loss / kd
            m.d_steps_ += kd
        if phase in ("both", "g"):  # 2. one G step (minimize its loss) with D fixed
            terms["g_loss"] = self.g_step()
            m.g_steps_ += 1
        return terms

    def d_step(self, real, fake, c_real, c_fake) -> torch.Tensor:
        """One discriminator update on a batch of reals and as many fakes; returns its loss (a tensor)."""
        m, cfg = self.model, self.model.config
        if cfg.pack == 1 and not cfg.mbstd:
            x = torch.cat([real, fake])
            c = torch.cat([c_real, c_fake]) if c_real is not None else None
            out = m.D(x, c).squeeze(1)
            a_r, a_f = out[:len(real)], out[len(real):]
        else:  # B packs of real and B of fake samples; D's inputs never mix the two (nor their minibatch std)
            a_r, a_f = m._d(real), m._d(fake)
        if cfg.loss == "wgan-gp":
            # critic: E_g[f] - E_r[f] + lambda E[(||grad f(x_hat)|| - 1)^2], x_hat = eps x_r + (1 - eps) x_g
            eps = torch.rand((len(real), 1), generator=self.rng, device=m.device)
            x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
            f_hat = m.D(x_hat, c_real) if cfg.pack == 1 and not cfg.mbstd else m._d(x_hat)
            (gx,) = torch.autograd.grad(f_hat.sum(), x_hat, create_graph=True)
            gx = gx.reshape(len(f_hat), -1)  # the gradient with respect to each of D's (packed) inputs
            loss = a_f.mean() - a_r.mean() + cfg.gp_weight * ((gx.norm(dim=1) - 1) ** 2).mean()
        else:
            # D maximizes L = E_r[ln D(x)] + E_g[ln(1 - D(x))], i.e. minimizes -L = softplus(-a_r) + softplus(a_f)
            loss = F.softplus(-a_r).mean() + F.softplus(a_f).mean()
        opt_d = self.optimizers()[0]
        opt_d.zero_grad(set_to_none=True)
        loss.backward()
        opt_d.step()
        return loss.detach()

    def g_step(self) -> torch.Tensor:
        """One generator update on fresh fakes (D fixed); returns its loss (a tensor)."""
        m, B = self.model, self.model.config.batch_size
        z = m.noise(B * m.config.pack, self.rng)
        c = self.train_labels(B)
        loss = m._g_loss(m._d(m.G(z, c), c)).mean()
        # only G's parameters get gradients: D's are left untouched (no wasted work, no stale .grad)
        grads = torch.autograd.grad(loss, self.g_params)
        for p, gr in zip(self.g_params, grads):
            p.grad = gr
        self.optimizers()[1].step()
        if m.G_ema is not None:  # the average follows G (core.training.ema_update, warmed up over the first steps)
            training.ema_update(m.G_ema, m.G, m.config.ema, m.g_steps_)
        return loss.detach()


def train_stretch(trainer: Trainer, target: int, phase: str, callback) -> bool:
    """Train ``trainer``'s GAN on to the next log step, snapshot step or ``target``, whichever comes first, through
    :func:`core.training.loop` (one loop step: one iteration of ``phase``); True when the callback asked to stop."""
    m, cfg = trainer.model, trainer.model.config
    s = m.step_
    end = min(target, (s // cfg.log_every + 1) * cfg.log_every, (s // m.snapshot_every_ + 1) * m.snapshot_every_)
    window = trainer.window  # [sums, iterations]: a window split across chunks logs as in one long run
    extra: dict = {}

    def step(_s: int) -> dict:
        terms = {k: float(v) for k, v in trainer.step(phase).items()}
        for k, v in terms.items():
            window[0][k] = window[0].get(k, 0.0) + v
        window[1] += 1
        return terms

    def evaluate_now() -> dict:  # the loop takes the float metrics; counts and lists join them in on_log
        ev = checked_evaluate(m)
        extra.update({f"test/{k}": v for k, v in ev.items() if not isinstance(v, float) and v is not None})
        return {k: v for k, v in ev.items() if isinstance(v, float)}

    def on_log(done: int, metrics: dict):
        entry = m.history_[-1]  # the loop's: step, train/ (this chunk's steps), test/
        entry.update({f"train/{k}": v / window[1] for k, v in window[0].items()}, **extra,
                     seconds=m.train_seconds_, phase=phase)
        trainer.window = [{}, 0]
        return callback(done, _metrics(entry)) if callback is not None else None

    logs = end % cfg.log_every == 0
    stopped = training.loop(m, step, end=end, log_every=cfg.log_every, eval_every=cfg.log_every,
                            evaluate=evaluate_now if logs else None, callback=on_log if logs else None)
    if m.step_ % m.snapshot_every_ == 0:
        take_snapshot(m)
    return stopped



def fit(model: GAN, data: GANData, steps: int, callback=None, phase: str = "both") -> GAN:
    """Train ``model`` ``steps`` more iterations on ``data`` (resumable: call again to continue; chunks of training
    give exactly the numbers, history included, of one long run).

    ``phase``: ``"both"`` (k_d D steps then 1 G step per iteration), ``"d"`` (1 D step, G frozen) or ``"g"``
    (1 G step, D frozen): the page's "step D only" / "step G only". Every ``log_every`` iterations (and at step 0)
    the metrics join ``model.history_``: ``train/d_loss`` and ``train/g_loss`` (the players' losses averaged over
    the iterations since the last log step), ``test/...`` (:func:`evaluate` on the fixed evaluation set), and
    ``step``, ``seconds``, ``phase``; ``callback(step, metrics)`` gets the ``train/`` and ``test/`` ones, and
    returning True or ``"stop"`` ends training. Torch's thread count is the process's (``core.runtime.set_threads``, set once at its start).
    Raises :class:`TrainingDiverged` when a loss or the samples become NaN/inf (or the samples explode).
    """
    _choice("phase", phase, PHASES)
    if model.diverged_:
        raise TrainingDiverged(model.diverged_, model.step_, model)
    model.trainer.attach(data)
    s0, target = model.step_, model.step_ + int(steps)
    try:
        if model.step_ == 0 and not model.history_:  # the starting point: step 0
            entry = {"step": 0, **{f"test/{k}": v for k, v in checked_evaluate(model).items() if v is not None},
                     "seconds": 0.0, "phase": "both"}
            model.history_.append(entry)
            take_snapshot(model, force=True)
            if callback is not None:
                callback(0, _metrics(entry))
        while model.step_ < target and not train_stretch(model.trainer, target, phase, callback):
            pass
    except TrainingDiverged as e:
        cfg = model.config
        model.diverged_ = (f"{e.reason} (lr_d={cfg.lr_d:g}, lr_g={cfg.lr_g:g}). The learning rates are probably "
                           f"too high: lower them or try the wgan-gp loss.")
        entry = {"step": model.step_, **getattr(e, "metrics", {}), "seconds": model.train_seconds_, "phase": phase,
                 "diverged": e.reason}
        model.history_.append(entry)
        if callback is not None:
            callback(model.step_, _metrics(entry))
        raise TrainingDiverged(model.diverged_, e.step, model) from e
    finally:  # whatever ends the chunk (done, asked to stop, diverged): the iterations it really ran
        model.path_ = extend_path(model.path_, phase, model.step_ - s0)
    return model


def _metrics(entry: dict) -> dict:
    """What a callback gets of a history entry: its ``train/...`` and ``test/...`` metrics."""
    return {k: v for k, v in entry.items() if "/" in k}


#: samples this many times farther out than the data count as exploded (diverged)
EXPLODED = 1e3


@torch.no_grad()
def evaluate(model: GAN) -> dict:
    """Metrics on the fixed evaluation set (needs data attached by a fit): mean D(real), mean D(fake), the value
    V = E_r ln D + E_g ln(1 - D), JS estimates (value and grid histogram) and mode coverage; ``fake_finite`` and
    ``fake_max`` say whether the samples stayed finite and how far out they went."""
    cfg, ev = model.config, model.trainer
    fake = model.sampler(ev.z_eval, ev.y_eval)
    a_r = model._d(ev.x_eval, ev.y_eval)
    a_f = model._d(fake, ev.y_eval)
    m: dict = {}
    if cfg.loss == "wgan-gp":
        m.update(d_real=float(a_r.mean()), d_fake=float(a_f.mean()), value=None, js_value=None,
                 w_estimate=float(a_r.mean() - a_f.mean()))
    else:
        V = float((-F.softplus(-a_r)).mean() + (-F.softplus(a_f)).mean())
        m.update(d_real=float(torch.sigmoid(a_r).mean()), d_fake=float(torch.sigmoid(a_f).mean()),
                 value=V, js_value=(V + LN4) / 2)
    fake_np = fake.float().cpu().numpy()
    m["fake_finite"] = bool(np.isfinite(fake_np).all())
    m["fake_max"] = float(np.abs(fake_np).max()) if m["fake_finite"] and fake_np.size else float("inf")
    if cfg.x_dim == 2:
        m["js_hist"] = histogram_js(ev.x_eval_np, fake_np, model.box_)
        if ev.modes is not None:
            m.update(mode_stats(fake_np, *ev.modes))  # core.metrics.mode_coverage: GenLab's one rule
    return m


def checked_evaluate(model: GAN) -> dict:
    """:func:`evaluate` without ``fake_finite``/``fake_max``; samples that became NaN/inf or exploded (|x| above
    EXPLODED times the data's largest |x|) raise :class:`TrainingDiverged`, the metrics attached as ``.metrics``."""
    m = evaluate(model)
    finite, biggest = m.pop("fake_finite"), m.pop("fake_max")
    scale = max(1.0, float(np.abs(model.trainer.x_eval_np).max()))
    reason = None if finite else "the generated samples became nan/inf"
    if finite and biggest > EXPLODED * scale:
        reason = f"the generated samples exploded to |x| = {biggest:.3g} (the data lie within |x| <= {scale:.3g})"
    if reason:
        e = TrainingDiverged(reason, model.step_, model)
        e.metrics = {f"test/{k}": v for k, v in m.items() if v is not None}
        raise e
    return m


@torch.no_grad()
def take_snapshot(model: GAN, force: bool = False) -> None:
    """Keep what the timeline redraws of this moment (every ``snapshot_every_`` iterations; ``force``: now)."""
    cfg, ev = model.config, model.trainer
    if not force and model.step_ % model.snapshot_every_:
        return
    if model.snapshots_ and model.snapshots_[-1].step == model.step_:
        return
    n_show = 500 if cfg.x_dim == 2 else 20
    fake = model.sampler(ev.z_eval[:n_show], None if ev.y_eval is None else ev.y_eval[:n_show]).cpu().numpy()
    heat = manifold = None
    if cfg.x_dim == 2:
        heat = model.d_grid(40)
        manifold = model.manifold(15) if not model.conditional else None
    metrics = model.history_[-1] if model.history_ and model.history_[-1]["step"] == model.step_ else {}
    model.snapshots_.append(Snapshot(model.step_, fake.astype(np.float32), heat, manifold, dict(metrics)))
    if len(model.snapshots_) > cfg.max_snapshots:  # thin out: keep every other one, snapshot half as often
        model.snapshots_ = model.snapshots_[::2]
        model.snapshot_every_ *= 2


# ----------------------------------------------------------------------------- training state

def state_tensors(model: GAN, optimizer: bool = True, snapshots: bool = True) -> dict:
    """Everything a checkpoint holds as tensors: weights, and optionally Adam's moments + the RNG (so training
    resumes bit-identically) and the snapshots (so the timeline works after loading)."""
    t = {f"G.{k}": v for k, v in model.G.state_dict().items()}
    t.update({f"D.{k}": v for k, v in model.D.state_dict().items()})
    if model.G_ema is not None:
        t.update({f"G_ema.{k}": v for k, v in model.G_ema.state_dict().items()})
    t["label_freq_"] = torch.as_tensor(model.label_freq_, dtype=torch.float64)
    tr = model.trainer
    if optimizer:
        if tr.opts is not None:
            states = {n: o.state_dict()["state"] for n, o in zip(("opt_d", "opt_g"), tr.opts)}
        else:
            states = tr.opt_pending or {}
        for name, state in states.items():
            for i, st in state.items():
                for key, v in st.items():
                    t[f"{name}.{i}.{key}"] = torch.as_tensor(v)
        t["rng_state"] = tr.rng.get_state()
        if tr.window is not None:  # the open log window: summed d_loss, g_loss (NaN: none yet) and iterations
            sums, n = tr.window
            t["acc"] = torch.tensor([sums.get(k, float("nan") if n else 0.0) for k in ("d_loss", "g_loss")] + [n],
                                    dtype=torch.float64)
    if snapshots and model.snapshots_:
        snaps = model.snapshots_
        t["snap.step"] = torch.tensor([s.step for s in snaps], dtype=torch.int64)
        t["snap.samples"] = torch.as_tensor(np.stack([s.samples for s in snaps]))
        if snaps[0].heat is not None:
            t["snap.heat"] = torch.as_tensor(np.stack([s.heat for s in snaps]))
        if snaps[0].manifold is not None:
            t["snap.manifold"] = torch.as_tensor(np.stack([s.manifold for s in snaps]))
    return t


def state_meta(model: GAN) -> dict:
    """The JSON side of the training state."""
    return {"step": model.step_, "d_steps": model.d_steps_, "g_steps": model.g_steps_, "box": model.box_,
            "snapshot_every": model.snapshot_every_, "seconds": round(model.train_seconds_, 3),
            "diverged": model.diverged_, "path": [list(c) for c in model.path_], "history": model.history_,
            "snapshot_metrics": [s.metrics for s in model.snapshots_]}


def _expected_state(model: GAN, tensors: dict) -> tuple[dict, dict]:
    """The shapes the training-state tensors must have for this model, and Adam's states they hold."""
    params = {"opt_d": [p.shape for p in model.D.parameters()], "opt_g": [p.shape for p in model.G.parameters()]}
    expected = {"label_freq_": (max(model.config.n_classes, 1),)}
    pending: dict = {}
    for key, v in tensors.items():
        name = key.split(".", 1)[0]
        if name in ("opt_d", "opt_g"):
            try:
                _, i, field = key.split(".", 2)
                i = int(i)
                if field in ("exp_avg", "exp_avg_sq"):
                    expected[key] = params[name][i]
            except (ValueError, IndexError):
                expected[key] = ()  # a name that fits no parameter: reported as the wrong shape
                continue
            # a copy: Adam updates its moments in place, and the loaded tensors may be shared (a cache)
            pending.setdefault(name, {}).setdefault(i, {})[field] = v.to(model.device).clone()
    n_snap = len(tensors["snap.step"]) if "snap.step" in tensors and tensors["snap.step"].dim() == 1 else None
    for k in ("snap.samples", "snap.heat", "snap.manifold"):  # the timeline: one row per snapshot step
        if n_snap is not None and k in tensors and (tensors[k].dim() < 2 or len(tensors[k]) != n_snap):
            expected[k] = (n_snap, *tensors[k].shape[1:])
    return expected, pending


def load_state(model: GAN, tensors: dict, meta: dict, path=None) -> GAN:
    """Restore what :func:`state_tensors` / :func:`state_meta` saved. Every tensor is checked against the networks
    this config builds before anything is loaded (core.checkpoints.load_weights): a missing tensor, a changed width
    or a forged file is a CheckpointError naming ``path``, never a traceback."""
    checkpoints.load_weights(model.G, tensors, path, prefix="G.", what="generator G")
    checkpoints.load_weights(model.D, tensors, path, prefix="D.", what="discriminator D")
    if model.G_ema is not None:
        checkpoints.load_weights(model.G_ema, tensors, path, prefix="G_ema.", what="G's moving average")
    expected, pending = _expected_state(model, tensors)
    checkpoints.check_tensors({k: tensors[k] for k in expected if k in tensors}, expected, path,
                              "training state", strict=False)
    try:
        model.label_freq_ = tensors["label_freq_"].numpy().astype(np.float64)
        tr = model.trainer
        tr.opts, tr.opt_pending = None, pending or None
        if "rng_state" in tensors:
            tr.rng.set_state(tensors["rng_state"].to(torch.uint8))
        if "acc" in tensors:
            d, g, n = tensors["acc"].tolist()
            tr.window = [{k: v for k, v in (("d_loss", d), ("g_loss", g)) if n and not math.isnan(v)}, int(n)]
        model.step_ = int(meta.get("step", 0))
        model.d_steps_ = int(meta.get("d_steps", 0))
        model.g_steps_ = int(meta.get("g_steps", 0))
        model.box_ = float(meta.get("box", 3.0))
        model.snapshot_every_ = int(meta.get("snapshot_every", model.config.snapshot_every))
        model.train_seconds_ = float(meta.get("seconds", 0.0))
        model.diverged_ = meta.get("diverged")
        # checkpoints made before the path was kept were trained in one run of both players
        trained = meta.get("path", [["both", model.step_]] if model.step_ else [])
        model.path_ = []
        for phase, n in trained:
            _choice("phase", phase, PHASES)
            model.path_ = extend_path(model.path_, phase, int(n))
        if sum(n for _, n in model.path_) != model.step_:
            raise ValueError(f"its training path {path_text(model.path_)} does not add up to step {model.step_}")
        model.history_ = list(meta.get("history", []))
        model.snapshots_ = []
        if "snap.step" in tensors:
            sm = meta.get("snapshot_metrics", [])
            for i, st in enumerate(tensors["snap.step"].tolist()):
                model.snapshots_.append(Snapshot(
                    int(st), tensors["snap.samples"][i].numpy(),
                    tensors["snap.heat"][i].numpy() if "snap.heat" in tensors else None,
                    tensors["snap.manifold"][i].numpy() if "snap.manifold" in tensors else None,
                    sm[i] if i < len(sm) else {}))
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError, AttributeError) as e:
        raise checkpoints.CheckpointError(f"Checkpoint {checkpoints._label(path)} holds a training state that "
                                          f"does not fit its config: {e}", path) from e
    return model


# ----------------------------------------------------------------------------- training paths

#: A model's training path: the (phase, iterations) chunks it was trained with, in order, consecutive chunks of
#: one phase merged (chunks of training give exactly the numbers of one long run, so the merge loses nothing).
#: With the config (which holds the seed) it names the model: training a fresh GAN along the same path gives
#: bit-identical weights on CPU. As text (a link's ``it=``): chunks joined by "-", both players' iterations as
#: a plain number, one player's with its letter: ``3000`` or ``3000-d10-g10-500``; ``0`` for an untrained model.
PATH_LETTERS = {"both": "", "d": "d", "g": "g"}
MAX_PATH_CHUNKS = 200


def extend_path(path, phase: str, n: int) -> list[tuple[str, int]]:
    """``path`` followed by ``n`` iterations of ``phase`` (merged into its last chunk when that is the same phase)."""
    path = [tuple(c) for c in path]
    if n > 0:
        if path and path[-1][0] == phase:
            path[-1] = (phase, path[-1][1] + int(n))
        else:
            path.append((phase, int(n)))
    return path


def path_text(path) -> str:
    """The path as a link writes it: ``"3000-d10-500"``; ``"0"`` for none."""
    return "-".join(f"{PATH_LETTERS[ph]}{n}" for ph, n in path) or "0"


def parse_path(text: str, max_iterations: int | None = None) -> list[tuple[str, int]]:
    """The path ``text`` names (see :func:`path_text`); ValueError for anything else, or for more than
    ``max_iterations`` iterations in all."""
    text = str(text).strip()
    parts = text.split("-") if text not in ("", "0") else []
    if len(parts) > MAX_PATH_CHUNKS:
        raise ValueError(f"a training path of at most {MAX_PATH_CHUNKS} chunks")
    path: list[tuple[str, int]] = []
    for part in parts:
        phase = {"d": "d", "g": "g"}.get(part[:1], "both")
        digits = part if phase == "both" else part[1:]
        if not digits.isdigit() or len(digits) > 9 or int(digits) == 0:
            raise ValueError("iterations as whole numbers, e.g. 3000, or 3000-d10-g10-500 after single-player steps")
        path = extend_path(path, phase, int(digits))
    if max_iterations is not None and sum(n for _, n in path) > max_iterations:
        raise ValueError(f"at most {max_iterations:,} iterations in all")
    return path


def path_rest(path, prefix) -> list[tuple[str, int]] | None:
    """The chunks that take a model trained along ``prefix`` on to ``path``; None when ``prefix`` is not the
    start of ``path``."""
    path, prefix = [tuple(c) for c in path], [tuple(c) for c in prefix]
    if not prefix:
        return path
    i = len(prefix) - 1
    if len(path) <= i or path[:i] != prefix[:i] or path[i][0] != prefix[i][0] or path[i][1] < prefix[i][1]:
        return None
    rest = [(path[i][0], path[i][1] - prefix[i][1])] if path[i][1] > prefix[i][1] else []
    return rest + path[i + 1:]


def state_of(model: GAN) -> tuple[dict, dict]:
    """A frozen copy of ``model``'s whole training state as ``(tensors, record)``, the form of a loaded checkpoint
    (weights, Adam's moments, the RNG, history, snapshots and path): a cache keeps it while the model trains on,
    and :func:`from_checkpoint` makes any number of independent models from it."""

    tensors = {k: v.detach().clone() for k, v in model.state_tensors().items()}
    record = {"family": FAMILY, "config": dataclasses.asdict(model.config), "meta": copy.deepcopy(model.state_meta())}
    return tensors, record


# ----------------------------------------------------------------------------- functional API

def build(config: GANConfig, device: str | None = None) -> GAN:
    """A fresh, untrained GAN for ``config`` (weights drawn from ``config.seed``)."""
    return GAN(config, device)


def train(config: GANConfig, data: GANData | None = None, callback=None, *, model: GAN | None = None,
          until: int | None = None, device: str | None = None) -> GAN:
    """Train a GAN and return it (deterministic for a given config and seed on CPU), through
    :func:`core.training.loop`: one step of the loop is one iteration, k_d D updates and one G update.

    - ``data``: a :class:`GANData` (default: :func:`load_data(config) <load_data>`).
    - ``callback(step, metrics)``: called at every log step (and at step 0) with ``train/...`` and ``test/...``
      metrics (see :func:`fit`); True / "stop" ends training.
    - ``model``: continue training this model (same config) instead of starting afresh; chunks of
      training give exactly the numbers of one long run.
    - ``until``: stop at this iteration (default ``config.steps``); single-player steps are :meth:`GAN.fit`'s.

    Raises :class:`TrainingDiverged` (with ``.model``) when a loss or the samples become NaN/inf.
    """
    if data is None:
        data = load_data(config)
    elif not isinstance(data, GANData):
        X, y = data if isinstance(data, tuple) else (data, None)
        data = make_data(X, y, config.data)
    if model is None:
        model = GAN(config, device)
    elif model.config != config:
        raise ValueError("model was trained with another config; start a new model for a new config.")
    return model.fit(data, max(0, (config.steps if until is None else int(until)) - model.step_), callback)


def save(model: GAN, path, meta: dict | None = None, optimizer: bool | None = None, snapshots: bool | None = None):
    """Save the model as ``path.safetensors`` + ``path.json`` (see core.checkpoints). ``optimizer`` (Adam's moments
    and the RNG: exact resuming) and ``snapshots`` (the timeline) default to True for 2-D data and to False for
    images, whose checkpoint (the digit cGAN's) is for sampling only."""
    optimizer = model.config.x_dim == 2 if optimizer is None else optimizer
    snapshots = model.config.x_dim == 2 if snapshots is None else snapshots
    m = {**model.state_meta(), **(meta or {})}
    return checkpoints.save(path, model.state_tensors(optimizer, snapshots), model.config, FAMILY, m)


def checkpoint_meta(model: GAN) -> dict:
    """What ``python -m core train gan`` adds to a checkpoint's JSON: ``preset``, the preset whose config it was
    trained with exactly (none for other settings)."""
    name = next((p for p, (cfg, _) in PRESETS.items() if cfg == model.config), None)
    return {"preset": name} if name else {}


def load(path, device: str | None = None) -> GAN:
    """Load a model saved by :func:`save` (raises core.checkpoints.CheckpointError if missing/corrupt)."""
    tensors, record = checkpoints.load(path, device="cpu")
    return from_checkpoint(tensors, record, path, device)


def from_checkpoint(tensors: dict, record: dict, path=None, device: str | None = None) -> GAN:
    """A GAN rebuilt from a loaded checkpoint's ``(tensors, record)`` (see :func:`core.checkpoints.load`): the
    config checked, every tensor checked against the networks it builds. Raises CheckpointError."""
    if record.get("family") != FAMILY:
        raise checkpoints.CheckpointError(f"Checkpoint {checkpoints._label(path)} is a {record.get('family')!r} "
                                          "checkpoint, not a GAN.", path)
    config = checkpoints.config_from(record, GANConfig.from_dict, path)
    model = GAN(config, device or runtime.pick_device())
    return model.load_state(tensors, record.get("meta", {}), path)


def load_shipped(name: str, device: str | None = None) -> GAN:
    """Load the shipped checkpoint ``name`` (e.g. ``"gan_ring8"``)."""
    return load(checkpoints.shipped(name), device)
