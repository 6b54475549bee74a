"""Guided diffusion: a class-conditional noise predictor, classifier guidance and classifier-free guidance.

Notation of the lecture ("Conditioned generation" / "Guided Diffusion")
-----------------------------------------------------------------------
conditional model   eps_theta(x_t, t, y): one U-Net that also sees the label y (here a digit 0..9)
null label          y = null (index 10): during training the label is replaced by null with probability p_uncond,
                    so the same network also gives the unconditional prediction eps_theta(x_t, t, null)
classifier-free     eps_hat = eps(x_t | null) + s * (eps(x_t | y) - eps(x_t | null))      (Ho & Salimans 2022)
  guidance (CFG)    s = 0: unconditional, s = 1: conditional, s > 1: pushed further towards y
classifier guidance a separate noise-aware classifier p_phi(y | x_t, t) steers the UNCONDITIONAL model:
                    x_{t-1} ~ N(mu_theta(x_t, t) + s * Sigma_t * grad_{x_t} log p_phi(y | x_t, t), Sigma_t)
                    (Dhariwal & Nichol 2021, Algorithm 1). For the deterministic DDIM sampler the same idea is an
                    eps shift: eps_hat = eps(x_t) - s * sqrt(1 - alpha_bar_t) * grad log p_phi(y | x_t, t)
                    (their Algorithm 2), because grad log p(x_t) = -eps / sqrt(1 - alpha_bar_t).
guidance scale s    trades diversity for fidelity, like the inverse of a softmax temperature: s * log p(y | x) is
                    the log of the sharpened distribution p(y | x)^s.

The unconditional model used for classifier guidance is the null-label branch eps_theta(x_t, t, null) of the same
network (the one CFG also uses), so the two kinds of guidance start from the same unconditional sampler at s = 0.

From the libraries: diffusers' ``UNet2DModel`` with ``num_class_embeds`` (a learned label embedding added to the time
embedding), its ``DDPMScheduler`` / ``DDIMScheduler`` (via :func:`core.diffusion.diffusers_scheduler`) and the
sinusoidal ``Timesteps`` embedding; the schedule, the forward process and the CFG formula come from
:mod:`core.diffusion`. Written here by hand (what the lecture teaches): label dropout, the classifier-guidance mean
shift, and the evaluator's fidelity and diversity.

The evaluator is NOT part of the model: a small CNN trained on clean 16x16 digits (:class:`Evaluator`) gives
fidelity (share of samples it classifies as the requested digit, and its mean probability for that digit) and
diversity (mean pairwise distance of one digit's samples in its penultimate-layer feature space).

Command line (the shipped checkpoints are made with it; see each checkpoint's ``meta["command"]``)::

    python -m core train guided --out checkpoints/guided_mnist16 ...
    python -m core info checkpoints/guided_mnist16

The noise-aware classifier, the evaluator and the trade-off table are not the family's model: ``AUXILIARY`` names
their trainers and savers, and :func:`make_table` / :func:`write_table` make the table.
"""
from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core import checkpoints, runtime, training
from core import diffusion as dif
from core.training import Config, TrainingDiverged  # noqa: F401 - re-exported: callers catch guided.TrainingDiverged
from core.training import check_choice as _choice

FAMILY = "guided"
LIKELIHOOD = "none"                         # no density: guided sampling is not a distribution the bound describes
GUIDANCE = ("none", "classifier", "cfg")
GUIDANCE_LABELS = {"none": "none (conditional model)", "classifier": "classifier guidance",
                   "cfg": "classifier-free guidance"}
SAMPLERS = dif.SAMPLERS
NUM_CLASSES = 10
NULL = NUM_CLASSES                          # the null label's index in the class embedding
MODEL_NAME, CLASSIFIER_NAME, EVALUATOR_NAME = "guided_mnist16", "guided_classifier", "guided_evaluator"
TABLE_NAME = "guided_table.json"


# ------------------------------------------------------------------------------------------------ config

@dataclass(frozen=True)
class GuidedConfig(Config):
    image_size: int = 16                  # digit resolution (core.data.mnist(size)); pixels scaled to [-1, 1]
    schedule: str = "linear"              # variance schedule (core.diffusion.schedule)
    T: int = 1000                         # diffusion steps
    beta_start: float = 1e-4              # linear schedule: beta_1
    beta_end: float = 0.02                # linear schedule: beta_T
    channels: tuple[int, ...] = (32, 64, 64)  # U-Net block_out_channels (one resolution per entry)
    layers_per_block: int = 1             # U-Net resnet layers per block
    p_uncond: float = 0.1                 # probability that a training label is replaced by the null label
    init: str = ""                        # optional: a shipped/path core.diffusion U-Net checkpoint to start from
    lr: float = 5e-4                      # AdamW learning rate
    batch_size: int = 64                  # minibatch size
    steps: int = 4000                     # optimisation steps
    grad_clip: float = 1.0                # gradient-norm clip (0 = off)
    ema: float = 0.999                    # EMA decay of the sampling weights (0 = off)
    precision: str = "fp32"               # "bf16": autocast bfloat16 for the U-Net where the device runs bf16 natively (CUDA, CPU with AVX-512 BF16 / AMX; fp32 elsewhere)
    log_every: int = 50                   # callback gets the mean train loss every this many steps
    eval_every: int = 500                 # ... and the held-out loss every this many steps (and at the end)
    test_size: float = 0.2                # held-out fraction of the digits
    data_seed: int = 0                    # seed of the train/test split
    seed: int = 0                         # seed of the weights, minibatches, t, eps and label dropout

    def __post_init__(self):
        _choice("schedule", self.schedule, dif.SCHEDULES)
        _choice("precision", self.precision, dif.PRECISIONS)
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if not self.channels or min(self.channels) < 8:
            raise ValueError(f"channels must be U-Net widths >= 8, got {self.channels}.")
        if self.image_size % 2 ** (len(self.channels) - 1):
            raise ValueError(f"image_size {self.image_size} is not divisible by 2^{len(self.channels) - 1}.")
        if not 0 <= self.p_uncond < 1:
            raise ValueError(f"p_uncond must lie in [0, 1), got {self.p_uncond}.")
        if min(self.batch_size, self.log_every, self.eval_every, self.layers_per_block) < 1 or self.steps < 0:
            raise ValueError("batch_size, log_every, eval_every and layers_per_block must be >= 1, steps >= 0.")
        if not (self.lr > 0 and math.isfinite(self.lr)) or not 0 <= self.ema < 1 or self.grad_clip < 0:
            raise ValueError("lr must be positive, ema in [0, 1), grad_clip >= 0.")
        _ = self.diffusion_config  # checks T and the betas

    @property
    def diffusion_config(self) -> dif.DiffusionConfig:
        """The same schedule as a core.diffusion config (for its schedulers and clipping rules)."""
        return dif.DiffusionConfig(data="mnist", image_size=self.image_size, schedule=self.schedule, T=self.T,
                                   beta_start=self.beta_start, beta_end=self.beta_end, channels=self.channels,
                                   layers_per_block=self.layers_per_block, test_size=self.test_size,
                                   data_seed=self.data_seed, seed=self.seed)


def load_data(size: int = 16, test_size: float = 0.2, data_seed: int = 0) -> dif.DiffData:
    """The digits as x_0 in [-1, 1], (n, 1, size, size), with labels, split as core.diffusion splits them."""
    return dif.load_data(dif.DiffusionConfig(data="mnist", image_size=size, test_size=test_size, data_seed=data_seed))


# ---------------------------------------------------------------------------------- conditional model

class CondUNet(nn.Module):
    """eps_theta(x_t, t, y): diffusers' ``UNet2DModel`` with ``num_class_embeds = 11`` (digits 0..9 and the null
    label 10). The label's learned embedding is added to the time embedding in every resnet block (the class
    conditioning of Dhariwal & Nichol's ADM). x: (B, 1, H, W), t: (B,) diffusers timesteps, y: (B,) -> (B, 1, H, W)."""

    def __init__(self, size: int, channels=(32, 64, 64), layers_per_block: int = 1):
        from diffusers import UNet2DModel

        super().__init__()
        n = len(channels)
        self.unet = UNet2DModel(sample_size=size, in_channels=1, out_channels=1, block_out_channels=tuple(channels),
                                layers_per_block=layers_per_block, down_block_types=("DownBlock2D",) * n,
                                up_block_types=("UpBlock2D",) * n, norm_num_groups=8,
                                num_class_embeds=NUM_CLASSES + 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.unet(x, t, class_labels=y).sample


class GuidedModel(nn.Module):
    """The class-conditional noise predictor, its schedule (buffers named after their symbols) and an EMA copy.

    :meth:`eps` is eps_theta(x_t, t, y) (y = :data:`NULL` for the unconditional branch); :meth:`loss` is
    Algorithm 1 with label dropout. Sampling with guidance is :func:`guided_reverse`."""

    def __init__(self, config: GuidedConfig):
        super().__init__()
        self.config = config
        self.shape = (1, config.image_size, config.image_size)
        s = dif.schedule(config.schedule, config.T, config.beta_start, config.beta_end)
        for name in ("beta", "alpha", "alpha_bar"):
            self.register_buffer(name, s[name].float())                  # indexed by lecture t = 0..T
        self.net = CondUNet(config.image_size, config.channels, config.layers_per_block)
        self.ema_net = copy.deepcopy(self.net).requires_grad_(False) if config.ema > 0 else None
        self.step_, self.history_, self.train_seconds_, self._opt_state, self.meta = 0, [], 0.0, None, {}

    @property
    def device(self) -> torch.device:
        return self.beta.device

    def _autocast(self):  # bf16 autocast only where the device runs bf16 natively (runtime.autocast)
        return runtime.autocast(self.device, self.config.precision)

    def eps(self, x_t: torch.Tensor, t, y, ema: bool = True) -> torch.Tensor:
        """eps_theta(x_t, t, y) with lecture time t (int or (B,)) and labels y (int or (B,); NULL = unconditional)."""
        net = self.ema_net if ema and self.ema_net is not None else self.net
        k = (torch.as_tensor(t, device=x_t.device).reshape(-1) - 1).expand(len(x_t))   # diffusers' timestep t - 1
        y = torch.as_tensor(y, device=x_t.device, dtype=torch.long).reshape(-1).expand(len(x_t))
        with self._autocast():
            return net(x_t, k, y).float()

    def sample(self, n: int, seed: int = 0, labels=None, scale: float = 3.0, **kw) -> np.ndarray:
        """The family protocol's sampling: ``n`` digits (n, H, W) in [0, 1] of ``labels`` (default: 0..9 in turn)
        with classifier-free guidance at ``scale`` (the other keywords are :func:`guided_reverse`'s)."""
        labels = np.arange(n) % NUM_CLASSES if labels is None else labels
        return guided_reverse(self, labels, "cfg", scale, seed=seed, **kw).images

    def loss(self, x0: torch.Tensor, y: torch.Tensor, generator) -> torch.Tensor:
        """Algorithm 1 with label dropout, one minibatch; per-example squared error (B,)."""
        B = len(x0)
        t = torch.randint(1, self.config.T + 1, (B,), generator=generator, device=x0.device)  # t ~ U{1..T}
        eps = torch.randn(x0.shape, generator=generator, device=x0.device)                    # eps ~ N(0, I)
        drop = torch.rand(B, generator=generator, device=x0.device) < self.config.p_uncond    # y -> null w.p. p_uncond
        y = torch.where(drop, torch.full_like(y, NULL), y)
        x_t = dif.q_sample(x0, t, self.alpha_bar, eps)                                        # (F2)
        return (eps - self.eps(x_t, t, y, ema=False)).pow(2).reshape(B, -1).mean(1)

    forward = loss


def build(config: GuidedConfig, device: str | None = None) -> GuidedModel:
    """A fresh model whose weights depend on ``config.seed`` only, or (``config.init``) start from an unconditional
    core.diffusion U-Net of the same shape, the label embedding zero so that every label starts as 'unconditional'."""
    model = runtime.seeded_init(lambda: GuidedModel(config), config.seed)
    if config.init:
        p = Path(config.init)
        src = dif.load(p if p.parent != Path(".") else checkpoints.shipped(config.init), "cpu")
        if src.config.network != "unet" or src.shape != model.shape or src.config.channels != config.channels:
            raise ValueError(f"init checkpoint {config.init!r} is not a {config.channels} U-Net on {model.shape} digits.")
        state = {k: v for k, v in src.net.unet.state_dict().items()}
        missing, unexpected = model.net.unet.load_state_dict(state, strict=False)
        if unexpected or set(missing) != {"class_embedding.weight"}:
            raise ValueError(f"init checkpoint does not match: missing {missing}, unexpected {unexpected}.")
        with torch.no_grad():
            model.net.unet.class_embedding.weight.zero_()
        if model.ema_net is not None:
            model.ema_net.load_state_dict(model.net.state_dict())
    return model.to(device or runtime.pick_device())


@torch.no_grad()
def held_out_loss(model: GuidedModel, data: dif.DiffData, seed: int = 1) -> dict:
    """Held-out Algorithm-1 loss with fixed draws, conditional (true labels) and unconditional (null label)."""
    was = model.training
    model.eval()
    x = data.x_test[:1000].to(model.device)
    y = torch.as_tensor(data.y_test[:1000], device=model.device, dtype=torch.long)
    out = {}
    for name, lab in (("cond", y), ("uncond", torch.full_like(y, NULL))):
        g = runtime.torch_generator(seed, str(model.device))
        t = torch.randint(1, model.config.T + 1, (len(x),), generator=g, device=x.device)
        e = torch.randn(x.shape, generator=g, device=x.device)
        out[f"loss_{name}"] = (e - model.eps(dif.q_sample(x, t, model.alpha_bar, e), t, lab)).pow(2).mean().item()
    model.train(was)
    return out


def train(config: GuidedConfig, data: dif.DiffData | None = None, callback=None, *, model: GuidedModel | None = None,
          until: int | None = None, device: str | None = None) -> GuidedModel:
    """Algorithm 1 with label dropout (AdamW, gradient clipping, EMA), through :func:`core.diffusion.fit` as
    :func:`core.diffusion.train`.

    ``callback(step, metrics)`` every ``log_every`` steps (``train/loss``) and every ``eval_every`` steps and at the
    end (``test/loss_cond``, ``test/loss_uncond``); returning True or "stop" stops. ``model`` resumes a run of the
    same config (chunks are bit-identical to one long run), ``until`` stops early at that step.
    Raises :class:`TrainingDiverged` on NaN/inf. Deterministic per config and seed on CPU."""
    data = load_data(config.image_size, config.test_size, config.data_seed) if data is None else data
    if model is None:
        model = build(config, device)
    elif model.config.replace(steps=config.steps) != config:
        raise ValueError("Can only resume a model trained with the same config (apart from steps).")
    x_train = data.x_train.to(model.device)
    y_train = torch.as_tensor(data.y_train, dtype=torch.long, device=model.device)
    return dif.fit(model, config, lambda idx, g: model.loss(x_train[idx], y_train[idx], g),
                   lambda: held_out_loss(model, data, config.seed + 1), len(x_train), callback, until)


def save(model: GuidedModel, path, meta: dict | None = None) -> Path:
    """Save the sampling weights (the EMA copy when there is one) and config + history as JSON."""
    meta = dict(meta or {})
    meta.setdefault("step", model.step_)
    meta.setdefault("history", model.history_)
    meta.setdefault("train_seconds", round(model.train_seconds_, 2))
    net = model.ema_net if model.ema_net is not None else model.net
    return checkpoints.save(path, {k: v.detach().cpu() for k, v in net.state_dict().items()}, model.config, FAMILY,
                            {"kind": "model", **meta})


def _resolve(name_or_path) -> Path:
    p = Path(str(name_or_path))
    return p if p.parent != Path(".") or p.with_suffix(".json").exists() else checkpoints.shipped(str(name_or_path))


def _record(path, kind: str):
    tensors, record = checkpoints.load(path, family=FAMILY)
    if record.get("meta", {}).get("kind") != kind:
        raise checkpoints.CheckpointError(f"Checkpoint {checkpoints._label(path)} does not hold a guided-diffusion "
                                          f"{kind}.", path)
    return tensors, record


def load(name_or_path=MODEL_NAME, device: str | None = None) -> GuidedModel:
    """Load a :func:`save` checkpoint (shipped name or path); raises CheckpointError if missing or corrupt."""
    path = _resolve(name_or_path)
    tensors, record = _record(path, "model")
    config = checkpoints.config_from(record, GuidedConfig.from_dict, path)
    try:
        model = GuidedModel(config.replace(ema=0.0, init=""))
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        raise checkpoints.CheckpointError(f"Checkpoint {checkpoints._label(path)} does not rebuild a guided model: "
                                          f"{e}", path) from e
    model.config = config.replace(ema=0.0)
    checkpoints.load_weights(model.net, tensors, path, what="guided model")
    model.net.requires_grad_(False)
    meta = record.get("meta", {})
    model.step_, model.history_, model.meta = int(meta.get("step", 0)), list(meta.get("history", [])), meta
    model.train_seconds_ = float(meta.get("train_seconds", 0.0))
    return model.eval().to(device or runtime.pick_device())


def load_shipped(name: str = MODEL_NAME, device: str | None = None) -> GuidedModel:
    """A shipped guided model by name (checkpoints/<name>); raises CheckpointError if missing or corrupt."""
    return load(checkpoints.shipped(name), device)


# ------------------------------------------------------------------------------ noise-aware classifier

@dataclass(frozen=True)
class DigitNetConfig(Config):
    """What the two digit networks trained beside the guided model (the noisy classifier and the evaluator) share:
    their optimiser, minibatches and log steps, and the guided model's train/test split of the digits."""
    lr: float = 1e-3                      # AdamW learning rate
    batch_size: int = 128                 # minibatch size
    log_every: int = 100                  # callback every this many steps (held-out accuracy every 5x and at the end)
    test_size: float = 0.2                # held-out fraction (the same split as the guided model's)
    data_seed: int = 0                    # seed of the train/test split
    seed: int = 0                         # seed of the weights and of every draw in training


@dataclass(frozen=True)
class ClassifierConfig(DigitNetConfig):
    image_size: int = 16                  # digit resolution
    schedule: str = "linear"              # the noise schedule x_t is drawn from (must match the guided model's)
    T: int = 1000                         # diffusion steps
    beta_start: float = 1e-4              # linear schedule: beta_1
    beta_end: float = 0.02                # linear schedule: beta_T
    channels: tuple[int, ...] = (32, 64, 64)  # widths of the resnet blocks (each after the first halves the resolution)
    emb_dim: int = 64                     # time-embedding width
    steps: int = 3000                     # optimisation steps (seed: of the weights, minibatches, t and eps)

    def __post_init__(self):
        _choice("schedule", self.schedule, dif.SCHEDULES)
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if not self.channels or min(self.channels) < 8 or self.emb_dim < 2 or self.emb_dim % 2:
            raise ValueError("channels must be widths >= 8 and emb_dim even and >= 2.")
        if min(self.batch_size, self.log_every) < 1 or self.steps < 0 or not self.lr > 0:
            raise ValueError("batch_size and log_every must be >= 1, steps >= 0, lr > 0.")


class NoisyClassifier(nn.Module):
    """p_phi(y | x_t, t): a small time-conditioned CNN (the encoder half of a U-Net, as Dhariwal & Nichol's noise-aware
    classifier) built from diffusers' ``ResnetBlock2D`` (time embedding added in every block), ``Timesteps`` and
    ``TimestepEmbedding``; global average pooling and a linear layer give 10 logits.
    x: (B, 1, H, W) noisy digits, t: (B,) lecture times -> (B, 10) logits."""

    def __init__(self, config: ClassifierConfig):
        from diffusers.models.embeddings import TimestepEmbedding, Timesteps
        from diffusers.models.resnet import ResnetBlock2D

        super().__init__()
        self.config = config
        s = dif.schedule(config.schedule, config.T, config.beta_start, config.beta_end)
        self.register_buffer("alpha_bar", s["alpha_bar"].float())
        self.time_proj = Timesteps(config.emb_dim, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_mlp = TimestepEmbedding(config.emb_dim, 2 * config.emb_dim)
        c = config.channels
        self.inp = nn.Conv2d(1, c[0], 3, padding=1)
        self.blocks = nn.ModuleList(
            ResnetBlock2D(in_channels=(c[0] if i == 0 else c[i - 1]), out_channels=c[i], temb_channels=2 * config.emb_dim,
                          groups=8, down=i > 0) for i in range(len(c)))
        self.norm = nn.GroupNorm(8, c[-1])
        self.out = nn.Linear(c[-1], NUM_CLASSES)
        self.step_, self.history_, self.train_seconds_, self.meta = 0, [], 0.0, {}

    @property
    def device(self) -> torch.device:
        return self.alpha_bar.device

    def forward(self, x_t: torch.Tensor, t) -> torch.Tensor:
        k = (torch.as_tensor(t, device=x_t.device).reshape(-1) - 1).expand(len(x_t))   # diffusers' timestep t - 1
        emb = self.time_mlp(self.time_proj(k).to(x_t.dtype))
        h = self.inp(x_t)
        for block in self.blocks:
            h = block(h, emb)
        return self.out(F.silu(self.norm(h)).mean((2, 3)))

    def grad_log_prob(self, x_t: torch.Tensor, t, y) -> torch.Tensor:
        """grad_{x_t} log p_phi(y | x_t, t), shape of x_t (each example's gradient of its own log-probability)."""
        y = torch.as_tensor(y, device=x_t.device, dtype=torch.long).reshape(-1).expand(len(x_t))
        with torch.enable_grad():
            x = x_t.detach().float().requires_grad_(True)
            logp = F.log_softmax(self(x, t), -1).gather(1, y[:, None]).sum()
            return torch.autograd.grad(logp, x)[0]


@torch.no_grad()
def classifier_accuracy(clf: NoisyClassifier, data: dif.DiffData, times=(1, 250, 500, 750, 1000), seed: int = 1) -> dict:
    """Held-out accuracy of p_phi(y | x_t, t) at a few noise levels t (fixed eps draws)."""
    was = clf.training
    clf.eval()
    x = data.x_test.to(clf.device)
    y = torch.as_tensor(data.y_test, device=clf.device)
    out = {}
    for t in times:
        t = min(int(t), clf.config.T)
        e = torch.randn(x.shape, generator=runtime.torch_generator(seed + t, str(clf.device)), device=clf.device)
        out[f"acc_t{t}"] = (clf(dif.q_sample(x, t, clf.alpha_bar, e), t).argmax(1) == y).float().mean().item()
    clf.train(was)
    return out


def train_classifier(config: ClassifierConfig, data: dif.DiffData | None = None, callback=None,
                     device: str | None = None) -> NoisyClassifier:
    """Train p_phi(y | x_t, t) with cross-entropy on digits noised by the forward process (F2) at t ~ U{1..T}.

    ``callback(step, metrics)`` as :func:`train`. Deterministic per config; raises TrainingDiverged on NaN."""
    data = load_data(config.image_size, config.test_size, config.data_seed) if data is None else data
    clf = runtime.seeded_init(lambda: NoisyClassifier(config), config.seed).to(device or runtime.pick_device())
    dev = str(clf.device)
    x_train, y_train = data.x_train.to(dev), torch.as_tensor(data.y_train, dtype=torch.long, device=dev)
    def batch_loss(x0, y, g):
        t = torch.randint(1, config.T + 1, (len(x0),), generator=g, device=dev)
        x_t = dif.q_sample(x0, t, clf.alpha_bar, torch.randn(x0.shape, generator=g, device=dev))
        return F.cross_entropy(clf(x_t, t), y)

    _fit_cross_entropy(clf, config, x_train, y_train, batch_loss, lambda: classifier_accuracy(clf, data), "classifier",
                       callback)
    return clf.eval().requires_grad_(False)


def _fit_cross_entropy(net, config, x_train, y_train, batch_loss, test_metrics, what: str, callback) -> None:
    """The training the noise-aware classifier and the evaluator share, through :func:`core.training.loop`: AdamW
    on ``batch_loss(x, y, g)`` over seeded minibatches (``g`` and the batch depend only on (seed, step), as in
    core.diffusion), the mean cross-entropy ``train/ce`` every ``log_every`` steps, ``test_metrics()`` every fifth
    log and at the end (``test/...``), ``callback(step, metrics)`` may stop; raises TrainingDiverged on a non-finite
    loss."""
    dev = str(x_train.device)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=1e-4)

    def step(s: int) -> dict:
        g = training.step_generator(config.seed, s, dev)
        idx = torch.from_numpy(training.batch_index(len(x_train), config.batch_size, config.seed, s)).to(dev)
        loss = batch_loss(x_train[idx], y_train[idx], g)
        training.check_terms({f"{what} loss": loss}, s, net)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"ce": loss}

    @torch.no_grad()
    def held_out() -> dict:
        net.eval()
        out = test_metrics()
        net.train()
        return out

    net.train()
    training.loop(net, step, end=config.steps, log_every=config.log_every, eval_every=5 * config.log_every,
                  evaluate=held_out, callback=callback)


def _save_net(net, path, kind: str, meta: dict) -> Path:
    """Save a small classifier network (the noise-aware classifier or the evaluator) as safetensors + JSON."""
    meta = {"kind": kind, "step": net.step_, "history": net.history_, "train_seconds": round(net.train_seconds_, 2),
            **meta}
    return checkpoints.save(path, {k: v.detach().cpu() for k, v in net.state_dict().items()}, net.config, FAMILY, meta)


def _load_net(name_or_path, kind: str, net_cls, config_cls, what: str, device: str | None):
    """Rebuild a network saved by :func:`_save_net` from its config; a mismatch is a CheckpointError."""
    path = _resolve(name_or_path)
    tensors, record = _record(path, kind)
    net = checkpoints.config_from(record, lambda c: net_cls(config_cls(**c)), path)
    checkpoints.load_weights(net, tensors, path, what=what)
    net.meta, net.step_ = record["meta"], int(record["meta"].get("step", 0))
    return net.eval().requires_grad_(False).to(device or runtime.pick_device())


def save_classifier(clf: NoisyClassifier, path, meta: dict | None = None) -> Path:
    return _save_net(clf, path, "classifier", dict(meta or {}))


def load_classifier(name_or_path=CLASSIFIER_NAME, device: str | None = None) -> NoisyClassifier:
    return _load_net(name_or_path, "classifier", NoisyClassifier, ClassifierConfig, "noise-aware classifier", device)


# ----------------------------------------------------------------------------------------------- sampling

@dataclass
class GuidedSamples:
    """A guided reverse run: ``images`` (n, H, W) in [0, 1] float32 numpy, ``x`` the final x_0 (n, 1, H, W) in the
    model's [-1, 1] scale, unclipped (CPU tensor), the ``labels`` and ``scales`` asked for (n,), the ``guidance`` kind,
    ``sampler``, number of ``steps``, and the sampling ``seconds``."""

    images: np.ndarray
    x: torch.Tensor
    labels: np.ndarray
    scales: np.ndarray
    guidance: str
    sampler: str
    steps: int
    seconds: float


def _per_scale(scales: torch.Tensor, fn) -> torch.Tensor:
    """Apply ``fn(mask, s)`` for every distinct scale s (so one batch can hold several scales) and stitch the parts."""
    out = None
    for s in torch.unique(scales).tolist():
        mask = scales == s
        part = fn(mask, float(s))
        out = torch.empty((len(scales),) + part.shape[1:], dtype=part.dtype, device=part.device) if out is None else out
        out[mask] = part
    return out


def guided_eps(model: GuidedModel, x_t: torch.Tensor, t: int, labels: torch.Tensor, guidance: str,
               scales: torch.Tensor, classifier: NoisyClassifier | None = None) -> torch.Tensor:
    """The noise prediction a guided step uses (DDIM form; see :func:`guided_reverse` for DDPM's mean shift).

    - "none": the conditional model as trained, eps(x_t | y);
    - "cfg": eps(x_t | null) + s (eps(x_t | y) - eps(x_t | null)) (:func:`core.diffusion.classifier_free`); the two
      branches run as one batch, and a scale of exactly 0 or 1 needs only one;
    - "classifier": eps(x_t | null) - s sqrt(1 - alpha_bar_t) grad log p_phi(y | x_t, t) (Dhariwal & Nichol,
      Algorithm 2: the score of p(x_t) p(y | x_t)^s written as a noise prediction)."""
    if guidance == "none":
        return model.eps(x_t, t, labels)
    if guidance == "cfg":
        need_u, need_c = bool((scales != 1).any()), bool((scales != 0).any())
        if need_u and need_c:
            e = model.eps(torch.cat([x_t, x_t]), t, torch.cat([torch.full_like(labels, NULL), labels]))
            eps_u, eps_c = e.chunk(2)
        else:
            eps_u = model.eps(x_t, t, NULL) if need_u else None
            eps_c = model.eps(x_t, t, labels) if need_c else None
        eps_u = eps_c if eps_u is None else eps_u       # unused where the scale is 1
        eps_c = eps_u if eps_c is None else eps_c       # unused where the scale is 0
        return _per_scale(scales, lambda m, s: dif.classifier_free(eps_u[m], eps_c[m], s))
    eps_u = model.eps(x_t, t, NULL)
    if not bool((scales != 0).any()):
        return eps_u
    grad = classifier.grad_log_prob(x_t, t, labels)
    return eps_u - _bcast(scales, x_t) * (1 - model.alpha_bar[t]).sqrt() * grad


def _bcast(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return v.to(x.dtype).reshape((-1,) + (1,) * (x.dim() - 1))


def _as_batch(v, n: int, name: str, dtype, device) -> torch.Tensor:
    a = np.asarray(v, dtype=np.float64).reshape(-1)
    if a.size == 1:
        a = np.full(n, a.item())
    if a.size != n or not np.isfinite(a).all():
        raise ValueError(f"{name} must be one finite number or {n} of them, got {v!r}.")
    return torch.as_tensor(a, dtype=dtype, device=device)


def noise(model: GuidedModel, n: int, seed: int) -> torch.Tensor:
    """x_T ~ N(0, I) for ``n`` digits: the first draw of the generator of ``seed`` (every guidance kind, scale and
    sampler with one seed starts from the same noise)."""
    if int(n) < 1:
        raise ValueError(f"n must be >= 1, got {n}.")
    g = runtime.torch_generator(seed, str(model.device))
    return torch.randn((int(n),) + model.shape, generator=g, device=model.device)


@torch.no_grad()
def guided_reverse(model: GuidedModel, labels, guidance: str = "cfg", scale=3.0, sampler: str = "ddim",
                   steps: int = 50, seed: int = 0, classifier: NoisyClassifier | None = None,
                   x_T: torch.Tensor | None = None, callback=None) -> GuidedSamples:
    """Sample digits of the requested ``labels`` (int or (n,)) with guidance.

    ``scale`` is one number >= 0 or one per sample (so a row of the same noise at several scales is one batch).
    x_T is drawn with ``seed`` (or given as ``x_T``), then each step's noise (DDPM) from the same generator.
    Each step: the noise prediction of :func:`guided_eps`, then diffusers' scheduler step. For DDPM with classifier
    guidance the step follows the lecture instead: the unconditional step's mean mu is shifted by
    s * Sigma_t * grad log p_phi(y | x_t, t), with Sigma_t the scheduler's own variance for that step
    (1 - alpha_bar_t / alpha_bar_{t_prev}, diffusers' "fixed_large"). ``callback(i, steps)`` after each step.
    """
    _choice("guidance", guidance, GUIDANCE)
    _choice("sampler", sampler, SAMPLERS)
    if guidance == "classifier" and classifier is None:
        raise ValueError("classifier guidance needs the noise-aware classifier (load_classifier()).")
    dev = model.device
    if x_T is None:
        n = int(np.asarray(labels).size)
        x = noise(model, n, seed)
    else:
        x = torch.as_tensor(x_T, dtype=torch.float32, device=dev)
        n = len(x)
    y = _as_batch(labels, n, "labels", torch.long, dev)
    if ((y < 0) | (y >= NUM_CLASSES)).any():
        raise ValueError(f"labels must be digits 0..9, got {np.asarray(labels).reshape(-1).tolist()}.")
    s = _as_batch(scale, n, "scale", torch.float32, dev)
    if (s < 0).any():
        raise ValueError(f"guidance scale must be >= 0, got {np.asarray(scale).reshape(-1).tolist()}.")
    g = runtime.torch_generator(seed, str(dev))
    if x_T is None:
        torch.randn(x.shape, generator=g, device=dev)     # advance past x_T so step noise follows it, as dif.reverse
    sched = dif.diffusers_scheduler(model.config.diffusion_config, sampler)
    ts = dif.timesteps(model.config.T, steps)
    if sampler == "ddpm":
        sched.set_timesteps(timesteps=[t - 1 for t in ts], device=dev)
    else:
        sched.set_timesteps(steps, device=dev)
    shift_mean = sampler == "ddpm" and guidance == "classifier"
    t0 = time.perf_counter()
    for i, t in enumerate(ts):
        if shift_mean:   # lecture / Dhariwal & Nichol Algorithm 1: x_{t-1} ~ N(mu + s Sigma grad log p(y | x_t), Sigma)
            e = model.eps(x, t, NULL)
            shift = 0
            if bool((s != 0).any()):
                t_prev = ts[i + 1] if i + 1 < len(ts) else 0
                sigma2 = 1 - model.alpha_bar[t] / model.alpha_bar[t_prev]
                shift = _bcast(s, x) * sigma2 * classifier.grad_log_prob(x, t, y)
            x = sched.step(e, t - 1, x, generator=g).prev_sample + shift
        else:
            e = guided_eps(model, x, t, y, guidance, s, classifier)
            # DDIM: diffusers clips x0_hat to [-1, 1] but by default keeps the unclipped eps for the direction term,
            # an inconsistent pair: with a guided eps (s > 1) that pushes samples off the data (CFG at s = 3 fell to
            # chance here). use_clipped_model_output recomputes eps from the clipped x0_hat (diffusers' own option).
            kw = {"eta": 0.0, "use_clipped_model_output": True} if sampler == "ddim" else {}
            x = sched.step(e, t - 1, x, generator=g, **kw).prev_sample
        if callback is not None:
            callback(i + 1, len(ts))
    seconds = time.perf_counter() - t0
    images = ((x[:, 0] + 1) / 2).clamp(0, 1).float().cpu().numpy()
    return GuidedSamples(images, x.float().cpu(), y.cpu().numpy(), s.cpu().numpy(), guidance, sampler, len(ts), seconds)


def sample(model: GuidedModel, digit: int, n: int = 16, guidance: str = "cfg", scale: float = 3.0,
           sampler: str = "ddim", steps: int = 50, seed: int = 0, classifier=None, callback=None) -> np.ndarray:
    """``n`` digits ``digit`` (n, H, W) in [0, 1]; deterministic per seed."""
    return guided_reverse(model, np.full(int(n), int(digit)), guidance, scale, sampler, steps, seed, classifier,
                          callback=callback).images


def scale_row(model: GuidedModel, digit: int, scales=(0, 1, 2, 3, 5, 8), guidance: str = "cfg", sampler: str = "ddim",
              steps: int = 50, seed: int = 0, classifier=None, callback=None) -> np.ndarray:
    """The same starting noise (the first x_T of ``seed``) sampled at several scales: (len(scales), H, W)."""
    return scale_rows(model, digit, scales, guidance, sampler, steps, [seed], classifier, callback)[0]


def scale_rows(model: GuidedModel, digit: int, scales=(0, 1, 2, 3, 5, 8), guidance: str = "cfg", sampler: str = "ddim",
               steps: int = 50, seeds=(0, 1, 2, 3), classifier=None, callback=None) -> np.ndarray:
    """One row per seed (its first x_T), one column per scale, all in one batch: (len(seeds), len(scales), H, W).
    DDPM's step noise comes from the first seed's generator."""
    seeds, k = [int(v) for v in seeds], len(scales)
    x_T = torch.cat([noise(model, 1, sd).expand(k, *model.shape) for sd in seeds])
    out = guided_reverse(model, np.full(len(seeds) * k, int(digit)), guidance, np.tile(np.asarray(scales, float), len(seeds)),
                         sampler, steps, seeds[0], classifier, x_T=x_T, callback=callback).images
    return out.reshape((len(seeds), k) + out.shape[1:])


def classifier_gradients(model: GuidedModel, classifier: NoisyClassifier, data: dif.DiffData, digit: int, t: int,
                         seed: int) -> tuple:
    """A real held-out ``digit`` (the ``seed % 20``-th of its class) noised to lecture time ``t`` (F2, noise of
    ``seed``), and what the noise-aware classifier makes of it: (x_0 (H, W), x_t (H, W), grad log p_phi(y | x_t, t)
    for y = 0..9 (10, H, W), p_phi(y | x_t, t) (10,))."""
    x0 = data.x_test[[int(np.flatnonzero(data.y_test == digit)[seed % 20])]]
    e = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    x_t = dif.q_sample(x0, t, model.alpha_bar.cpu(), e).to(model.device)
    grads = classifier.grad_log_prob(x_t.expand(NUM_CLASSES, -1, -1, -1), t, torch.arange(NUM_CLASSES))
    with torch.no_grad():
        probs = torch.softmax(classifier(x_t, t), -1)[0].cpu().numpy()
    return x0[0, 0].numpy(), x_t[0, 0].cpu().numpy(), grads[:, 0].cpu().numpy(), probs


def cfg_parts(model: GuidedModel, data: dif.DiffData, digit: int, t: int, scale: float, seed: int, n: int = 4) -> tuple:
    """Classifier-free guidance taken apart on the first ``n`` held-out ``digit``s noised to ``t`` (noise of ``seed``):
    (x_t, eps(x_t | null), eps(x_t | y), their difference, the guided eps, and the x0_hat that eps(x_t | null),
    eps(x_t | y) and the guided eps imply, clipped to [-1, 1]), each (n, H, W)."""
    x0 = data.x_test[np.flatnonzero(data.y_test == digit)[:n]].to(model.device)
    e = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed)).to(model.device)
    x_t = dif.q_sample(x0, t, model.alpha_bar, e)
    with torch.no_grad():
        eu, ec = model.eps(x_t, t, NULL), model.eps(x_t, t, digit)
    eg = dif.classifier_free(eu, ec, scale)
    x0h = lambda eps: dif.predict_x0(x_t, t, model.alpha_bar, eps).clamp(-1, 1)[:, 0].cpu().numpy()
    np_ = lambda a: a[:, 0].cpu().numpy()
    return np_(x_t), np_(eu), np_(ec), np_(ec - eu), np_(eg), x0h(eu), x0h(ec), x0h(eg)


# ---------------------------------------------------------------------------------------------- evaluator

@dataclass(frozen=True)
class EvaluatorConfig(DigitNetConfig):
    image_size: int = 16                  # digit resolution
    channels: tuple[int, ...] = (32, 64)  # conv widths (each followed by 2x2 max pooling)
    features: int = 128                   # width of the penultimate layer (the feature space of the diversity)
    shift: int = 1                        # training augmentation: random translations of up to this many pixels
    steps: int = 2000                     # optimisation steps (seed: of the weights, minibatches and shifts)

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if not self.channels or min(self.channels) < 4 or self.features < 2 or self.shift < 0:
            raise ValueError("channels must be widths >= 4, features >= 2, shift >= 0.")
        if self.image_size % 2 ** len(self.channels):
            raise ValueError(f"image_size {self.image_size} is not divisible by 2^{len(self.channels)}.")
        if min(self.batch_size, self.log_every) < 1 or self.steps < 0 or not self.lr > 0:
            raise ValueError("batch_size and log_every must be >= 1, steps >= 0, lr > 0.")


class Evaluator(nn.Module):
    """A digit classifier trained on CLEAN real digits, independent of every generative model: conv-ReLU-maxpool
    blocks, a ``features``-wide ReLU layer (the space diversity is measured in) and 10 logits.
    x: (B, 1, H, W) in [-1, 1] (or (B, H, W) in [0, 1] through :meth:`measure`)."""

    def __init__(self, config: EvaluatorConfig):
        super().__init__()
        self.config = config
        layers, c_in = [], 1
        for c in config.channels:
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1), nn.ReLU(),
                       nn.MaxPool2d(2)]
            c_in = c
        side = config.image_size // 2 ** len(config.channels)
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * side * side, config.features), nn.ReLU())
        self.head = nn.Linear(config.features, NUM_CLASSES)
        self.step_, self.history_, self.train_seconds_, self.meta = 0, [], 0.0, {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    @torch.no_grad()
    def features_and_probs(self, images) -> tuple[np.ndarray, np.ndarray]:
        """Images (n, H, W) in [0, 1] -> penultimate features (n, features) and class probabilities (n, 10)."""
        dev = next(self.parameters()).device
        x = torch.as_tensor(np.asarray(images, np.float32), device=dev).reshape(-1, 1, self.config.image_size,
                                                                                self.config.image_size) * 2 - 1
        feats, probs = [], []
        for b in x.split(1024):
            f = self.body(b)
            feats.append(f.cpu()), probs.append(F.softmax(self.head(f), -1).cpu())
        return torch.cat(feats).numpy().astype(np.float64), torch.cat(probs).numpy().astype(np.float64)

    def measure(self, images, labels) -> dict:
        """Fidelity and diversity of generated digits ``images`` (n, H, W in [0, 1]) that were asked to be ``labels``:

        - ``fidelity``: share classified as the requested digit; ``confidence``: mean probability of that digit;
        - ``diversity``: mean pairwise Euclidean distance of the features of samples of one requested digit,
          averaged over the digits present (0 when every sample of a digit is the same image);
        - ``diversity_rel``: that divided by the same measure on the real held-out digits (1 = as varied as real).
        """
        labels = np.asarray(labels, np.int64).reshape(-1)
        if len(labels) != len(images) or len(labels) == 0:
            raise ValueError(f"need one label per image, got {len(labels)} labels for {len(images)} images.")
        feats, probs = self.features_and_probs(images)
        div = within_class_spread(feats, labels)
        ref = float(self.meta.get("real_diversity", 0.0))
        return {"fidelity": float((probs.argmax(1) == labels).mean()),
                "confidence": float(probs[np.arange(len(labels)), labels].mean()),
                "diversity": div, "diversity_rel": div / ref if ref > 0 else float("nan"), "n": int(len(labels))}


def within_class_spread(features: np.ndarray, labels: np.ndarray) -> float:
    """Mean over classes (with >= 2 members) of the mean pairwise Euclidean distance of that class's features."""
    from scipy.spatial.distance import pdist

    vals = [pdist(features[labels == c]).mean() for c in np.unique(labels) if (labels == c).sum() >= 2]
    if not vals:
        raise ValueError("diversity needs at least two samples of one digit.")
    return float(np.mean(vals))


def _shift(x: torch.Tensor, k: int, g) -> torch.Tensor:
    """Random translations of up to ``k`` pixels (zero padded = background -1), one per image."""
    if k == 0:
        return x
    H = x.shape[-1]
    pad = F.pad(x, (k, k, k, k), value=-1.0)
    d = torch.randint(0, 2 * k + 1, (len(x), 2), generator=g, device=x.device)
    return torch.stack([pad[i, :, a:a + H, b:b + H] for i, (a, b) in enumerate(d.tolist())])


def train_evaluator(config: EvaluatorConfig, data: dif.DiffData | None = None, callback=None,
                    device: str | None = None) -> Evaluator:
    """Train the evaluator with cross-entropy on the clean training digits (random shifts as augmentation); records
    the held-out accuracy and the real digits' own diversity (``meta["real_diversity"]``)."""
    data = load_data(config.image_size, config.test_size, config.data_seed) if data is None else data
    ev = runtime.seeded_init(lambda: Evaluator(config), config.seed).to(device or runtime.pick_device())
    dev = str(next(ev.parameters()).device)
    x_train, y_train = data.x_train.to(dev), torch.as_tensor(data.y_train, dtype=torch.long, device=dev)
    _fit_cross_entropy(ev, config, x_train, y_train,
                       lambda x, y, g: F.cross_entropy(ev(_shift(x, config.shift, g)), y),
                       lambda: {"acc": (ev(data.x_test.to(dev)).argmax(1).cpu().numpy() == data.y_test).mean().item()},
                       "evaluator", callback)
    ev.eval().requires_grad_(False)
    real = ((data.x_test[:, 0] + 1) / 2).numpy()
    ev.meta = {"test_acc": ev.history_[-1]["test/acc"] if ev.history_ else float("nan")}
    ev.meta["real_diversity"] = within_class_spread(ev.features_and_probs(real)[0], np.asarray(data.y_test))
    return ev


def save_evaluator(ev: Evaluator, path, meta: dict | None = None) -> Path:
    return _save_net(ev, path, "evaluator", {**ev.meta, **(meta or {})})


def load_evaluator(name_or_path=EVALUATOR_NAME, device: str | None = None) -> Evaluator:
    return _load_net(name_or_path, "evaluator", Evaluator, EvaluatorConfig, "evaluator", device)


# ------------------------------------------------------------------------------- fidelity vs diversity curve

DEFAULT_SCALES = (0.0, 1.0, 2.0, 3.0, 5.0, 8.0)
DEFAULT_PER_CLASS, DEFAULT_STEPS = 64, 50      # the shipped table's settings (640 samples per point)


def tradeoff(model: GuidedModel, classifier: NoisyClassifier, evaluator: Evaluator, scales=DEFAULT_SCALES,
             guidances=("classifier", "cfg"), per_class: int = DEFAULT_PER_CLASS, sampler: str = "ddim",
             steps: int = DEFAULT_STEPS,
             seed: int = 0, batch: int = 320, callback=None) -> list[dict]:
    """Fidelity and diversity against the guidance scale: for every guidance kind and scale, ``per_class`` samples
    of each digit 0..9 (the same starting noise for every kind and scale, from ``seed``), measured by the evaluator.

    Returns one row per (guidance, scale): ``guidance, scale, fidelity, confidence, diversity, diversity_rel, n,
    seconds``. ``callback(done, total)`` after every batch (for a progress bar). At s = 0 every guidance kind is the
    same unconditional sampler (tested), so that point is sampled once and shared."""
    labels = np.repeat(np.arange(NUM_CLASSES), int(per_class))
    x_T = noise(model, len(labels), seed)
    chunks = [slice(i, i + batch) for i in range(0, len(labels), batch)]
    total, done, rows = len(guidances) * len(scales) * len(chunks), 0, []
    unguided = None
    for kind in guidances:
        _choice("guidance", kind, GUIDANCE)
        for s in scales:
            if float(s) == 0 and kind != "none" and unguided is not None:
                rows.append({**unguided, "guidance": kind})
                done += len(chunks)
                if callback is not None:
                    callback(done, total)
                continue
            t0, images = time.perf_counter(), []
            for c in chunks:
                images.append(guided_reverse(model, labels[c], kind, float(s), sampler, steps, seed, classifier,
                                             x_T=x_T[c]).images)
                done += 1
                if callback is not None:
                    callback(done, total)
            m = evaluator.measure(np.concatenate(images), labels)
            rows.append({"guidance": kind, "scale": float(s), **m, "seconds": round(time.perf_counter() - t0, 2)})
            if float(s) == 0 and kind != "none":
                unguided = rows[-1]
    return rows


def table_settings(per_class: int = DEFAULT_PER_CLASS, sampler: str = "ddim", steps: int = DEFAULT_STEPS, seed: int = 0,
                   scales=DEFAULT_SCALES) -> dict:
    """The settings a trade-off table was computed with (the key that says whether a shipped table applies)."""
    return {"per_class": int(per_class), "sampler": sampler, "steps": int(steps), "seed": int(seed),
            "scales": [float(s) for s in scales]}


def measure_estimate(settings: dict, table: dict | None) -> float | None:
    """Seconds measuring the trade-off for ``settings`` costs, stated before it runs: the shipped ``table``'s time
    scaled by samples x steps (the sampler's per-step cost is the same for DDIM and DDPM); None without a shipped
    table to scale."""
    if not table or not table.get("wall_seconds"):
        return None
    work = lambda st_: st_["per_class"] * st_["steps"] * len(st_["scales"])
    return float(table["wall_seconds"]) * work(settings) / max(1, work(table["settings"]))


def load_table(path=None) -> dict | None:
    """The shipped trade-off table ``{"settings", "rows", "models", "command", ...}``, or None when absent/unreadable."""
    p = Path(path) if path is not None else checkpoints.SHIPPED_DIR / TABLE_NAME
    try:
        rec = json.loads(p.read_text())
        return rec if isinstance(rec, dict) and isinstance(rec.get("rows"), list) and "settings" in rec else None
    except (OSError, ValueError):
        return None


def make_table(model=MODEL_NAME, classifier=CLASSIFIER_NAME, evaluator=EVALUATOR_NAME, scales=DEFAULT_SCALES,
               per_class: int = DEFAULT_PER_CLASS, sampler: str = "ddim", steps: int = DEFAULT_STEPS, seed: int = 0,
               callback=None, device: str = "cpu", meta: dict | None = None) -> dict:
    """The page's trade-off table (what ``checkpoints/guided_table.json`` holds): :func:`tradeoff` of the checkpoints
    named (shipped names or paths), with its settings, the models, the evaluator's real-digit diversity and accuracy,
    ``meta`` (e.g. the command) and the wall-clock seconds, loading included. :func:`write_table` saves it."""
    t0 = time.perf_counter()
    m, clf, ev = load(model, device), load_classifier(classifier, device), load_evaluator(evaluator, device)
    rows = tradeoff(m, clf, ev, scales, per_class=per_class, sampler=sampler, steps=steps, seed=seed, callback=callback)
    return {"settings": table_settings(per_class, sampler, steps, seed, scales), "rows": rows,
            "models": {"model": str(model), "classifier": str(classifier), "evaluator": str(evaluator)},
            "model_step": m.step_, "real_diversity": ev.meta.get("real_diversity"),
            "evaluator_test_acc": ev.meta.get("test_acc"), **(meta or {}),
            "wall_seconds": round(time.perf_counter() - t0, 1)}


def write_table(table: dict, path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(table, indent=2) + "\n")
    return path


#: The models trained apart from the family's own (not families in core.families): command name -> (config class,
#: trainer ``(config, data=None, callback=None, device=None)``, saver ``(model, path, meta=None)``).
AUXILIARY = {"guided-classifier": (ClassifierConfig, train_classifier, save_classifier),
             "guided-evaluator": (EvaluatorConfig, train_evaluator, save_evaluator)}
