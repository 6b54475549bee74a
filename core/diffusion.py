"""Denoising diffusion: the forward and reverse processes, noise prediction, DDPM and DDIM, latent diffusion.

Notation of the lecture ("Diffusion Models"; Ho et al. 2020, "Denoising Diffusion Probabilistic Models")
------------------------------------------------------------------------------------------------------
variance schedule   beta_1 .. beta_T (increasing),  alpha_t = 1 - beta_t,  alpha_bar_t = prod_{s=1}^t alpha_s
forward step  (F1)  q(x_t | x_{t-1}) = N(x_t; sqrt(1 - beta_t) x_{t-1}, beta_t I)
                    x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps                      (reparametrization)
closed form   (F2)  q(x_t | x_0) = N(x_t; sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)
                    x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps
reverse       (R1)  p(x_T) = N(0, I),  p_theta(x_{t-1} | x_t) = N(x_{t-1}; mu_theta(x_t, t), sigma_t^2 I)
predicted x_0 (X0)  x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps_theta(x_t, t)) / sqrt(alpha_bar_t)   (F2 solved for x_0)
signal-to-noise     SNR(t) = alpha_bar_t / (1 - alpha_bar_t)
Algorithm 1         training: regress eps_theta(sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, t) on eps (MSE)
Algorithm 2         sampling: x_{t-1} = (x_t - (1 - alpha_t) / sqrt(1 - alpha_bar_t) eps_theta(x_t, t)) / sqrt(alpha_t) + sigma_t z

Indexing. The schedule arrays here are indexed by the lecture's t = 0..T (entry 0 is "no noise":
beta_0 = 0, alpha_bar_0 = 1). diffusers numbers its timesteps 0..T-1, so the network is always
called with ``t - 1`` (diffusers' timestep k is the lecture's t = k + 1).

Written by hand (what the lecture teaches): the schedules (checked against diffusers' ``DDPMScheduler``
in the tests), the forward process (F1, F2), Algorithm 1 (:meth:`DiffusionModel.loss`) and Algorithm 2
(:func:`algorithm2`, checked against diffusers' ``DDPMScheduler.step``). From diffusers: the samplers
actually used for generation (``DDPMScheduler``, ``DDIMScheduler``), the image network
(``UNet2DModel``), the sinusoidal time embedding (``Timesteps``) and the latent autoencoder
(``AutoencoderKL``). The 2-D denoiser is a small MLP.

Shape of the module (DESIGN.md, core/training.py): frozen :class:`DiffusionConfig` / :class:`AEConfig` on the
shared config base; :func:`train` through the one training loop (callback, resumable chunks, deterministic per
seed, raises :class:`TrainingDiverged` on NaN/inf); ``model.sample(n, seed, sampler, steps)``; :func:`reverse`
returns every intermediate x_t with the predicted noise and x_0; :func:`save` / :func:`load` as safetensors + JSON
(EMA weights only). There is no exact ``log_prob``: diffusion models only give a bound (the ELBO),
:func:`nll_bound` (nats per example), hence ``LIKELIHOOD = "bound"``.

Command line (the shipped checkpoints are made with it; see each checkpoint's ``meta["command"]``)::

    python -m core train diffusion --data mnist --out checkpoints/diffusion_mnist16_pixel ...
    python -m core train diffusion --data mnist --space latent --autoencoder diffusion_mnist16_ae --out ...
    python -m core info checkpoints/diffusion_mnist16_pixel

The latent model's autoencoder is trained by :func:`train_autoencoder` and saved by :func:`save_autoencoder`
(``AUXILIARY["diffusion-autoencoder"]``).
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core import checkpoints, metrics, runtime, training
from core import data as gdata
from core.training import Config, TrainingDiverged  # noqa: F401 - re-exported: callers catch diffusion.TrainingDiverged
from core.training import check_choice as _choice

FAMILY = "diffusion"
LIKELIHOOD = "bound"                      # log_prob is the variational bound (nll_bound), never an exact density
SCHEDULES = ("linear", "cosine")
SAMPLERS = ("ddpm", "ddim")
SPACES = ("pixel", "latent")
NETS = ("auto", "mlp", "unet")
PRECISIONS = ("fp32", "bf16")
IMAGE_SETS = ("mnist",)
DATA_SETS = IMAGE_SETS + tuple(sorted(gdata.TOY_SETS))


@dataclass(frozen=True)
class DiffusionConfig(Config):
    data: str = "swiss_roll"              # a 2-D toy set (core.data.toy) or "mnist" (5,000 digits)
    space: str = "pixel"                  # "pixel": diffuse the data itself; "latent": diffuse an autoencoder's codes (mnist)
    autoencoder: str = ""                 # latent space only: name or path of the AEConfig checkpoint that encodes the digits
    image_size: int = 16                  # mnist resolution (16 keeps the U-Net CPU-sized)
    schedule: str = "linear"              # variance schedule: "linear" (beta_start..beta_end) or "cosine" (Nichol & Dhariwal)
    T: int = 1000                         # number of diffusion steps
    beta_start: float = 1e-4              # linear schedule: beta_1
    beta_end: float = 0.02                # linear schedule: beta_T
    net: str = "auto"                     # eps_theta: "mlp" (+ sinusoidal time embedding), "unet" (diffusers UNet2DModel); auto: mlp for points, unet for images
    hidden: int = 128                     # MLP width
    depth: int = 3                        # MLP residual blocks
    emb_dim: int = 32                     # MLP sinusoidal time-embedding size
    channels: tuple[int, ...] = (32, 64, 64)  # U-Net block_out_channels (one resolution per entry, halving each time)
    layers_per_block: int = 1             # U-Net resnet layers per block
    lr: float = 3e-3                      # AdamW learning rate
    batch_size: int = 256                 # minibatch size
    steps: int = 2000                     # total optimisation steps
    grad_clip: float = 1.0                # clip the gradient norm to this (0 = off)
    ema: float = 0.99                     # decay of the exponential moving average of the weights used for sampling (0 = off)
    precision: str = "fp32"               # "bf16": torch.autocast bfloat16 for the network where the device runs bf16 natively (CUDA, CPU with AVX-512 BF16 / AMX; fp32 elsewhere: runtime.autocast); "fp32": off
    clip_sample: str = "auto"             # clip the predicted x_0 to the data's range when sampling ("auto" = "on"; "off" for Algorithm 2 as written)
    log_every: int = 50                   # the callback gets the mean train loss every this many steps
    eval_every: int = 500                 # ... and held-out metrics every this many steps (and at the end)
    eval_samples: int = 500               # points: DDIM-50 samples drawn for the held-out sliced Wasserstein distance (0 = skip)
    test_size: float = 0.2                # fraction of the data held out
    n_points: int = 4000                  # points drawn for a 2-D toy set (ignored for images)
    data_seed: int = 0                    # seed of the toy data and of the train/test split
    seed: int = 0                         # seed of the weights, minibatches, t and eps draws

    def __post_init__(self):
        _choice("data", self.data, DATA_SETS)
        _choice("space", self.space, SPACES)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("net", self.net, NETS)
        _choice("precision", self.precision, PRECISIONS)
        _choice("clip_sample", self.clip_sample, ("auto", "on", "off"))
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if self.space == "latent" and (self.data not in IMAGE_SETS or not self.autoencoder):
            raise ValueError("space 'latent' needs image data ('mnist') and an autoencoder checkpoint name.")
        if self.net == "unet" and self.data not in IMAGE_SETS:
            raise ValueError("net 'unet' needs image data ('mnist'); 2-D points use 'mlp' (or 'auto').")
        if self.T < 2 or not 0 < self.beta_start < self.beta_end < 1:
            raise ValueError(f"Need T >= 2 and 0 < beta_start < beta_end < 1, got T={self.T}, "
                             f"betas {self.beta_start}..{self.beta_end}.")
        if min(self.hidden, self.depth, self.emb_dim, self.batch_size, self.log_every, self.eval_every,
               self.layers_per_block, self.image_size) < 1 or self.steps < 0 or self.emb_dim % 2:
            raise ValueError("hidden, depth, batch_size, log_every, eval_every, layers_per_block and image_size "
                             "must be >= 1, emb_dim even and >= 2, steps >= 0.")
        if not self.channels or min(self.channels) < 8:
            raise ValueError(f"channels must be U-Net widths >= 8, got {self.channels}.")
        if not (self.lr > 0 and math.isfinite(self.lr)) or not 0 <= self.ema < 1 or self.grad_clip < 0:
            raise ValueError("lr must be positive, ema in [0, 1), grad_clip >= 0.")
        if not 0 < self.test_size < 1 or self.n_points < 10 or self.eval_samples < 0:
            raise ValueError("test_size must lie in (0, 1), n_points >= 10, eval_samples >= 0.")

    @property
    def kind(self) -> str:
        return "image" if self.data in IMAGE_SETS else "points"

    @property
    def network(self) -> str:
        """The denoiser actually built: ``net`` unless "auto" (mlp for points, unet for images)."""
        return self.net if self.net != "auto" else ("mlp" if self.kind == "points" else "unet")

    @property
    def clip_range(self) -> float:
        """Where x0_hat is clipped (0 = nowhere): pixels lie in [-1, 1], toy points in [-3, 3]^2 (so 4), latents have
        unit std (so 5). Near t = T, x0_hat divides by sqrt(alpha_bar_T) ~ 0 (the cosine schedule's 2e-4): clipping keeps
        DDIM's first steps from throwing points far away."""
        if self.clip_sample == "off":
            return 0.0
        return 1.0 if self.kind == "image" and self.space == "pixel" else 4.0 if self.kind == "points" else 5.0


# ------------------------------------------------------------------------------------------- schedules

def schedule(kind: str = "linear", T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> dict:
    """The variance schedule as float64 tensors of length T + 1, indexed by the lecture's t = 0..T.

    Keys: ``beta``, ``alpha`` (= 1 - beta), ``alpha_bar`` (= cumulative product), ``snr``
    (= alpha_bar / (1 - alpha_bar)), ``sigma`` (the reverse step's std of Algorithm 2, sigma_t^2 = beta_t).
    Entry t = 0 means "no noise": beta_0 = 0, alpha_bar_0 = 1, SNR_0 = inf.

    - linear (Ho et al.): beta_t evenly spaced from beta_start to beta_end (diffusers ``beta_schedule="linear"``);
    - cosine (Nichol & Dhariwal 2021): alpha_bar(t) = f(t) / f(0), f(t) = cos^2(pi/2 (t/T + s) / (1 + s)), s = 0.008,
      beta_t = 1 - alpha_bar(t) / alpha_bar(t - 1) clipped at 0.999 (diffusers ``"squaredcos_cap_v2"``).
    """
    _choice("schedule", kind, SCHEDULES)
    if kind == "linear":
        beta = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
    else:
        f = lambda u: torch.cos((u / T + 0.008) / 1.008 * math.pi / 2) ** 2
        t = torch.arange(T, dtype=torch.float64)
        beta = torch.clamp(1 - f(t + 1) / f(t), max=0.999)
    beta = torch.cat([torch.zeros(1, dtype=torch.float64), beta])       # t = 0: no noise
    alpha = 1 - beta                                                     # alpha_t = 1 - beta_t
    alpha_bar = torch.cumprod(alpha, 0)                                  # alpha_bar_t = prod_{s<=t} alpha_s
    return {"beta": beta, "alpha": alpha, "alpha_bar": alpha_bar, "snr": alpha_bar / (1 - alpha_bar),
            "sigma": beta.sqrt()}


def diffusers_scheduler(config: DiffusionConfig, sampler: str = "ddpm"):
    """diffusers' scheduler for this config's schedule: ``DDPMScheduler`` (sigma_t^2 = beta_t, "fixed_large",
    as Algorithm 2) or ``DDIMScheduler`` (eta = 0, deterministic). Timesteps are spaced "trailing" so the first
    step always starts at pure noise t = T."""
    from diffusers import DDIMScheduler, DDPMScheduler

    _choice("sampler", sampler, SAMPLERS)
    kw = dict(num_train_timesteps=config.T, beta_start=config.beta_start, beta_end=config.beta_end,
              beta_schedule="linear" if config.schedule == "linear" else "squaredcos_cap_v2",
              clip_sample=config.clip_range > 0, clip_sample_range=config.clip_range or 1.0,
              timestep_spacing="trailing", prediction_type="epsilon")
    if sampler == "ddpm":
        return DDPMScheduler(variance_type="fixed_large", **kw)
    return DDIMScheduler(set_alpha_to_one=True, **kw)


# ----------------------------------------------------------------------------------- forward process

def _bcast(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-example coefficients (B,) -> (B, 1, ..., 1) to broadcast against x."""
    return v.to(x.dtype).reshape((-1,) + (1,) * (x.dim() - 1))


def q_step(x_prev: torch.Tensor, t, beta: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """One forward step (F1): x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps,  eps ~ N(0, I)."""
    b = _bcast(torch.as_tensor(beta[t]).reshape(-1).expand(len(x_prev)), x_prev)
    return (1 - b).sqrt() * x_prev + b.sqrt() * eps


def q_sample(x0: torch.Tensor, t, alpha_bar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The closed form (F2): x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, straight from x_0.

    ``t`` is an int or a (B,) tensor of lecture times 0..T (diffusers' ``DDPMScheduler.add_noise``)."""
    ab = _bcast(torch.as_tensor(alpha_bar[t]).reshape(-1).expand(len(x0)), x0)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * eps


def forward_iterated(x0: torch.Tensor, t: int, beta: torch.Tensor, generator=None, every: int = 0):
    """Run the Markov chain q(x_1|x_0) ... q(x_t|x_{t-1}) step by step (F1 applied t times).

    Returns x_t, or with ``every`` > 0 the list [x_0, x_every, x_2every, ..., x_t] of snapshots."""
    x, snaps = x0, [x0]
    for s in range(1, int(t) + 1):
        x = q_step(x, s, beta, torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device))
        if every and (s % every == 0 or s == t):
            snaps.append(x)
    return snaps if every else x


def predict_x0(x_t: torch.Tensor, t, alpha_bar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """(X0): x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t); exact when eps is the true noise."""
    ab = _bcast(torch.as_tensor(alpha_bar[t]).reshape(-1).expand(len(x_t)), x_t)
    return (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()


def classifier_free(eps_uncond: torch.Tensor, eps_cond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance (lecture, "Guided Diffusion"; Ho & Salimans 2022):
    eps_hat(x_t | y) = eps(x_t | null) + s * (eps(x_t | y) - eps(x_t | null)).

    s = 0 is the unconditional prediction, s = 1 the conditional one (both returned exactly, not
    recomputed through the formula, so no rounding creeps in), s > 1 extrapolates past the condition.
    diffusers' pipelines write the same line as ``noise_uncond + guidance_scale * (noise_text - noise_uncond)``.
    """
    if not (scale >= 0):
        raise ValueError(f"guidance scale must be a real number >= 0, got {scale!r}")
    if scale == 0:
        return eps_uncond
    if scale == 1:
        return eps_cond
    return eps_uncond + scale * (eps_cond - eps_uncond)


# -------------------------------------------------------------------------------------------- networks

class MLPDenoiser(nn.Module):
    """eps_theta(x_t, t) for points or flat codes: [x_t, sinusoidal(t)] -> Linear -> depth x pre-norm residual
    blocks (LayerNorm, SiLU, Linear) -> LayerNorm, SiLU, Linear.

    The time embedding is diffusers' ``Timesteps`` (the Transformer's sinusoidal position embedding, which
    lets one set of weights serve every noise level). The LayerNorms keep eps_theta bounded on inputs unlike
    the training data (without them a sampler's x_t can feed back into ever larger outputs).
    x: (B, *shape), t: (B,) diffusers timesteps -> (B, *shape)."""

    def __init__(self, dim: int, hidden: int = 128, depth: int = 3, emb_dim: int = 32):
        from diffusers.models.embeddings import Timesteps

        super().__init__()
        self.embed = Timesteps(emb_dim, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.inp = nn.Linear(dim + emb_dim, hidden)
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(depth + 1))
        self.blocks = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth))
        self.out = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        h = self.inp(torch.cat([x.reshape(len(x), -1), self.embed(t).to(x.dtype)], 1))
        for norm, lin in zip(self.norms, self.blocks):
            h = h + lin(F.silu(norm(h)))
        return self.out(F.silu(self.norms[-1](h))).reshape(shape)


class UNetDenoiser(nn.Module):
    """eps_theta(x_t, t) for images: diffusers' ``UNet2DModel`` (convolutional U-Net, sinusoidal time embedding
    added in every resnet block). x: (B, C, H, W), t: (B,) diffusers timesteps -> (B, C, H, W)."""

    def __init__(self, channels_in: int, size: int, channels=(32, 64, 64), layers_per_block: int = 1):
        from diffusers import UNet2DModel

        super().__init__()
        n = len(channels)
        self.unet = UNet2DModel(sample_size=size, in_channels=channels_in, out_channels=channels_in,
                                block_out_channels=tuple(channels), layers_per_block=layers_per_block,
                                down_block_types=("DownBlock2D",) * n, up_block_types=("UpBlock2D",) * n,
                                norm_num_groups=8)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.unet(x, t).sample


# ------------------------------------------------------------------------------------------------ data

@dataclass
class DiffData:
    """A train/test split of x_0 in the space the model diffuses: points (n, 2), images (n, 1, H, W) in [-1, 1]
    or latents (n, C, h, w). ``y`` are labels (digits / toy components)."""

    x_train: torch.Tensor
    x_test: torch.Tensor
    y_train: np.ndarray
    y_test: np.ndarray

    @property
    def shape(self) -> tuple:
        return tuple(self.x_train.shape[1:])


def points_data(x_train, x_test, y_train=None, y_test=None, name: str = "custom") -> DiffData:
    """The protocol's data from arrays of 2-D points (core/families.py), already split."""
    as_t = lambda x: torch.as_tensor(np.asarray(x, np.float32))
    return DiffData(as_t(x_train), as_t(x_test), y_train, y_test)


def load_data(config: DiffusionConfig) -> DiffData:
    """x_0 for ``config.data`` split with ``config.data_seed``: toy points as they are, digits scaled to [-1, 1]
    (in latent space they are encoded later, by :func:`train`, with the config's autoencoder)."""
    if config.kind == "image":
        X, y = gdata.mnist(config.image_size)
        X = 2 * X[:, None] - 1
    else:
        X, y = gdata.toy(config.data, config.n_points, seed=config.data_seed)
    Xtr, Xte, ytr, yte = gdata.split(X, y, test_size=config.test_size, seed=config.data_seed)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float32))
    return DiffData(t(Xtr), t(Xte), np.asarray(ytr), np.asarray(yte))


def make_points(X, test_size: float = 0.2, seed: int = 0) -> DiffData:
    """Wrap user points (n, 2) into a :class:`DiffData` split (e.g. drawn or uploaded data)."""
    X = np.asarray(X, np.float32)
    if X.ndim != 2 or X.shape[1] != 2 or len(X) < 10 or not np.isfinite(X).all():
        raise ValueError(f"Need at least 10 finite 2-D points of shape (n, 2), got {X.shape}.")
    Xtr, Xte = gdata.split(X, np.zeros(len(X)), test_size=test_size, seed=seed, stratify=False)[:2]
    return DiffData(torch.from_numpy(Xtr), torch.from_numpy(Xte), np.zeros(len(Xtr), np.int64), np.zeros(len(Xte), np.int64))


# ----------------------------------------------------------------------------------------------- model

class DiffusionModel(nn.Module):
    """A noise-prediction network eps_theta, the schedule it was trained with (buffers named after their
    symbols), an optional EMA copy of the weights and, in latent space, the autoencoder.

    ``forward``/``loss`` is Algorithm 1; :func:`reverse` (diffusers schedulers) and :func:`algorithm2`
    (by hand) are Algorithm 2. ``shape`` is one x_0's shape in the diffused space.
    """

    def __init__(self, config: DiffusionConfig, shape: tuple, autoencoder=None):
        super().__init__()
        self.config, self.shape = config, tuple(int(s) for s in shape)
        s = schedule(config.schedule, config.T, config.beta_start, config.beta_end)
        for name in ("beta", "alpha", "alpha_bar"):
            self.register_buffer(name, s[name].float())                  # indexed by lecture t = 0..T
        if config.network == "mlp":
            self.net = MLPDenoiser(int(np.prod(self.shape)), config.hidden, config.depth, config.emb_dim)
        else:
            self.net = UNetDenoiser(self.shape[0], self.shape[-1], config.channels, config.layers_per_block)
        self.ema_net = copy.deepcopy(self.net).requires_grad_(False) if config.ema > 0 else None
        self.autoencoder = autoencoder                                    # an Autoencoder (latent space) or None
        self.step_, self.history_, self.train_seconds_, self._opt_state = 0, [], 0.0, None

    @property
    def device(self) -> torch.device:
        return self.beta.device

    def _autocast(self):  # bf16 autocast only where the device runs bf16 natively (runtime.autocast)
        return runtime.autocast(self.device, self.config.precision)

    def eps(self, x_t: torch.Tensor, t, ema: bool = True) -> torch.Tensor:
        """eps_theta(x_t, t) with lecture t (int or (B,)); the EMA weights when there are some and ``ema``."""
        net = self.ema_net if ema and self.ema_net is not None else self.net
        k = (torch.as_tensor(t, device=x_t.device).reshape(-1) - 1).expand(len(x_t))  # diffusers' timestep t - 1
        with self._autocast():
            return net(x_t, k).float()

    def loss(self, x0: torch.Tensor, generator) -> torch.Tensor:
        """Algorithm 1, one minibatch (lines 2-5); returns the per-example squared error, shape (B,)."""
        # 2: x_0 ~ q(x_0) is the minibatch given
        # 3: t ~ Uniform({1, ..., T})
        t = torch.randint(1, self.config.T + 1, (len(x0),), generator=generator, device=x0.device)
        # 4: eps ~ N(0, I)
        eps = torch.randn(x0.shape, generator=generator, device=x0.device)
        # 5: gradient step on || eps - eps_theta(sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, t) ||^2  (F2 inside)
        x_t = q_sample(x0, t, self.alpha_bar, eps)
        return (eps - self.eps(x_t, t, ema=False)).pow(2).reshape(len(x0), -1).mean(1)

    forward = loss

    # ---- data <-> diffused space
    @torch.no_grad()
    def to_data(self, x0: torch.Tensor) -> np.ndarray:
        """Diffused x_0 -> what is shown: points (n, 2), or images (n, H, W) in [0, 1] (latents are decoded)."""
        if self.autoencoder is not None:
            x0 = self.autoencoder.decode(x0)
        if self.config.kind == "image":
            return ((x0[:, 0] + 1) / 2).clamp(0, 1).float().cpu().numpy()
        return x0.float().cpu().numpy()

    @torch.no_grad()
    def log_prob(self, x, seed: int = 0, timesteps: int = 0) -> np.ndarray:
        """ln p(x_0) per example as the family has it: a lower bound (``LIKELIHOOD = "bound"``), minus
        :func:`nll_bound` (nats; ``timesteps``: 0 sums every t, else a Monte Carlo estimate over that many)."""
        return -nll_bound(self, x, seed=seed, timesteps=timesteps)["bound"].double().numpy()

    def sample(self, n: int, seed: int = 0, sampler: str = "ddim", steps: int = 50) -> np.ndarray:
        """``n`` samples from x_T ~ N(0, I) (drawn with ``seed``) through ``steps`` reverse steps of ``sampler``.

        Returns points (n, 2) or images (n, H, W) in [0, 1], float32 numpy."""
        return self.to_data(reverse(self, n, sampler, steps, seed).x_0)


def build(config: DiffusionConfig, shape: tuple, autoencoder=None, device: str | None = None) -> DiffusionModel:
    """A fresh model whose weights depend on ``config.seed`` only."""
    model = runtime.seeded_init(lambda: DiffusionModel(config, shape, autoencoder), config.seed)
    return model.to(device or runtime.pick_device())


# -------------------------------------------------------------------------------------------- sampling

@dataclass
class Trajectory:
    """A reverse run. ``t`` (K,) are the lecture times whose x_t entered the network, descending to the last
    step; ``x`` (K + 1, n, *shape) holds x_t before each step and the final x_0 last; ``eps`` and ``x0`` (K, n,
    *shape) the predicted noise eps_theta(x_t, t) and predicted x_0 (X0) at each step. Without ``record``
    only the final sample is kept (``x`` has one entry; ``eps``/``x0`` are empty). Tensors on the CPU."""

    t: list
    x: torch.Tensor
    eps: torch.Tensor
    x0: torch.Tensor
    sampler: str
    steps: int
    seconds: float

    @property
    def x_0(self) -> torch.Tensor:
        return self.x[-1]


def timesteps(T: int, steps: int, t_start: int | None = None) -> list[int]:
    """Lecture times visited by a ``steps``-step sampler: t_start, t_start - T//steps, ... (>= 1).

    Starting at T this is diffusers' "trailing" spacing; starting elsewhere continues a run from any x_t."""
    if not 1 <= steps <= T:
        raise ValueError(f"steps must lie in 1..{T}, got {steps}.")
    t_start = T if t_start is None else int(t_start)
    if not 1 <= t_start <= T:
        raise ValueError(f"t_start must lie in 1..{T}, got {t_start}.")
    return list(range(t_start, 0, -(T // steps)))


def noise(model: DiffusionModel, n: int, seed: int) -> torch.Tensor:
    """x_T ~ N(0, I) for ``n`` examples, the first draw of the generator of ``seed`` (so every sampler run with
    the same seed starts from the same noise)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}.")
    g = runtime.torch_generator(seed, str(model.device))
    return torch.randn((int(n),) + model.shape, generator=g, device=model.device)


@torch.no_grad()
def reverse(model: DiffusionModel, n: int | None = None, sampler: str = "ddim", steps: int = 50, seed: int = 0,
            x_t: torch.Tensor | None = None, t_start: int | None = None, record: bool = False,
            eta: float = 0.0) -> Trajectory:
    """Algorithm 2 with diffusers' schedulers: from x_T ~ N(0, I) (or a given ``x_t`` at lecture time ``t_start``,
    to continue a run from any step) through ``steps`` steps of ``sampler`` ("ddpm" or "ddim"; ``eta`` > 0 adds
    DDIM's noise). Random draws come from the generator of ``seed``: x_T first, then each step's z, so DDPM and
    DDIM with one seed start from the same x_T. With ``record`` every x_t, eps_theta and x0_hat is returned.
    """
    sched = diffusers_scheduler(model.config, sampler)
    ts = timesteps(model.config.T, steps, t_start)
    g = runtime.torch_generator(seed, str(model.device))
    if x_t is None:
        x = torch.randn((int(n or 1),) + model.shape, generator=g, device=model.device)   # 1: x_T ~ N(0, I)
    else:
        x = torch.as_tensor(x_t, dtype=torch.float32).to(model.device)
    if sampler == "ddpm":
        sched.set_timesteps(timesteps=[t - 1 for t in ts], device=model.device)        # diffusers' 0-based steps
    else:
        sched.set_timesteps(steps, device=model.device)                                  # sets T // steps spacing
    xs, es, x0s = [x.cpu()], [], []
    t0 = time.perf_counter()
    for t in ts:                                                                          # 2: for t = T, ..., 1
        e = model.eps(x, t)                                                               # eps_theta(x_t, t)
        kw = {"eta": eta} if sampler == "ddim" else {}
        out = sched.step(e, t - 1, x, generator=g, **kw)                                 # 3-4: x_{t-1} (+ sigma_t z)
        x = out.prev_sample
        if record:
            xs.append(x.cpu()), es.append(e.cpu()), x0s.append(out.pred_original_sample.cpu())
    seconds = time.perf_counter() - t0
    empty = torch.empty((0,) + tuple(x.shape))
    return Trajectory(ts, torch.stack(xs) if record else x.cpu()[None], torch.stack(es) if record else empty,
                      torch.stack(x0s) if record else empty, sampler, len(ts), seconds)


@torch.no_grad()
def algorithm2(model: DiffusionModel, n: int, seed: int = 0) -> torch.Tensor:
    """The lecture's Algorithm 2 written out (T steps, sigma_t^2 = beta_t); equals ``reverse(..., "ddpm", T)``
    for unclipped data. Returns x_0 (n, *shape)."""
    g = runtime.torch_generator(seed, str(model.device))
    x = torch.randn((int(n),) + model.shape, generator=g, device=model.device)         # 1: x_T ~ N(0, I)
    a, ab, b = model.alpha, model.alpha_bar, model.beta
    for t in range(model.config.T, 0, -1):                                                # 2: for t = T, ..., 1
        z = torch.randn(x.shape, generator=g, device=x.device) if t > 1 else torch.zeros_like(x)  # 3: z ~ N(0, I) if t > 1
        e = model.eps(x, t)
        x = (x - (1 - a[t]) / (1 - ab[t]).sqrt() * e) / a[t].sqrt() + b[t].sqrt() * z   # 4: x_{t-1}
    return x                                                                              # 6: return x_0


# ------------------------------------------------------------------------------ what the page's figures show
# Plain arguments, numpy out: the page caches and draws these; each is checked in tests/test_diffusion_figures.py.

def noised_digits(x0: torch.Tensor, t: int, kind: str, seed: int) -> tuple:
    """Images ``x0`` (n, 1, H, W) noised to lecture time ``t`` by the closed form (F2) of the ``kind`` schedule,
    with the noise of ``seed``: (x_0, x_t, eps), each (n, H, W)."""
    s = schedule(kind)
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    return x0[:, 0].numpy(), q_sample(x0, t, s["alpha_bar"].float(), eps)[:, 0].numpy(), eps[:, 0].numpy()


def chain_strip(x0: torch.Tensor, kind: str, seed: int, every: int = 100) -> np.ndarray:
    """One image ``x0`` (1, 1, H, W) run through the Markov chain (F1) for all T = 1000 steps in float64,
    a snapshot every ``every`` steps: (1000 // every + 1, H, W) float32."""
    snaps = forward_iterated(x0.double(), 1000, schedule(kind)["beta"], torch.Generator().manual_seed(seed), every)
    return np.stack([x[0, 0].numpy() for x in snaps]).astype(np.float32)


def forward_points(x0: torch.Tensor, t: int, kind: str, seed: int, copies: int = 20) -> tuple:
    """Points ``x0`` (n, 2), each repeated ``copies`` times and noised to ``t`` twice, in float64: by the closed
    form (F2) and by running the chain t steps (F1), one generator for both. Returns (x_0, closed, chain,
    alpha_bar_t), arrays of shape (copies * n, 2)."""
    s = schedule(kind)
    x0 = x0.double().repeat(copies, 1)
    g = torch.Generator().manual_seed(seed)
    closed = q_sample(x0, t, s["alpha_bar"], torch.randn(x0.shape, generator=g, dtype=x0.dtype))
    chain = forward_iterated(x0, t, s["beta"], g)
    return x0.numpy(), closed.numpy(), chain.numpy(), float(s["alpha_bar"][t])


def same_model(model: DiffusionModel, config: DiffusionConfig) -> bool:
    """Whether ``model`` (a loaded checkpoint: its ``ema`` is off) is the model ``config`` trains."""
    mine = model.config.replace(ema=config.ema)
    return checkpoints.config_hash(mine) == checkpoints.config_hash(config) or mine == config


def n_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def with_last_test(callback):
    """``callback(step, metrics)`` of :func:`train`, called with the latest ``test/...`` metrics added to every
    call (a live progress chart then keeps its held-out curves between evaluations)."""
    last: dict = {}

    def wrapped(step, metrics):
        last.update({k: v for k, v in metrics.items() if k.startswith("test/")})
        return callback(step, {**metrics, **last})

    return wrapped


def trajectory_frames(model: DiffusionModel, sampler: str, steps: int, seed: int, n: int = 600,
                      frames: int = 60) -> tuple:
    """A recorded reverse run of ``n`` points thinned to about ``frames`` animation frames plus the final x_0:
    (lecture times of the kept frames, x (frames + 1, n, 2), seconds the run took)."""
    tr = reverse(model, n, sampler, steps, seed, record=True)
    keep = list(range(0, len(tr.t), max(1, len(tr.t) // frames)))
    return [tr.t[k] for k in keep], np.concatenate([tr.x[keep].numpy(), tr.x[-1:].numpy()]), tr.seconds


#: (sampler, steps) of the sampler comparisons: on a 2-D model, and on the latent digit model
RUNS_2D = (("ddim", 5), ("ddim", 10), ("ddim", 50), ("ddim", 200), ("ddpm", 10), ("ddpm", 50), ("ddpm", 200), ("ddpm", 1000))
RUNS_DIGITS = (("ddim", 10), ("ddim", 50), ("ddim", 200), ("ddpm", 50), ("ddpm", 200), ("ddpm", 1000))


def compare_samplers_2d(model: DiffusionModel, test: np.ndarray, seed: int, n: int = 500, runs=RUNS_2D) -> tuple:
    """Each (sampler, steps) of ``runs`` from the same x_T (one ``seed``): rows {sampler, steps, seconds, swd}
    (sliced Wasserstein to the held-out ``test`` points) and the samples by (sampler, steps)."""
    rows, clouds = [], {}
    for sampler, steps in runs:
        tr = reverse(model, n, sampler, steps, seed)
        x = tr.x_0.numpy()
        rows.append({"sampler": sampler, "steps": steps, "seconds": tr.seconds,
                     "swd": metrics.sliced_wasserstein(x, test, seed=seed)})
        clouds[sampler, steps] = x
    return rows, clouds


def timed_sample(model: DiffusionModel, n: int, seed: int, sampler: str, steps: int) -> tuple:
    """``model.sample`` and the wall-clock seconds it took (decoding included): (images or points, seconds)."""
    t0 = time.perf_counter()
    x = model.sample(n, seed=seed, sampler=sampler, steps=steps)
    return x, time.perf_counter() - t0


def recorded_digits(model: DiffusionModel, n: int, sampler: str, steps: int, seed: int) -> tuple:
    """A recorded reverse run of ``n`` images: (t (K,), x (K + 1, n, H, W), eps (K, n, H, W), x0_hat (K, n, H, W),
    seconds), channel 0 of each."""
    tr = reverse(model, n, sampler, steps, seed, record=True)
    return tr.t, tr.x[:, :, 0].numpy(), tr.eps[:, :, 0].numpy(), tr.x0[:, :, 0].numpy(), tr.seconds


def continue_digits(model: DiffusionModel, x_t: np.ndarray, t: int, sampler: str, steps: int, seed: int) -> tuple:
    """Continue a run from images ``x_t`` (n, H, W) at lecture time ``t`` with another sampler; its fresh noise
    comes from the generator of ``seed + 1`` (not the first run's). Returns (x_0 (n, H, W), steps run, seconds)."""
    tr = reverse(model, sampler=sampler, steps=steps, seed=seed + 1, x_t=torch.from_numpy(x_t[:, None]), t_start=t)
    return tr.x_0[:, 0].numpy(), tr.steps, tr.seconds


@torch.no_grad()
def denoise_levels(model: DiffusionModel, x0: torch.Tensor, seed: int, levels=(50, 150, 300, 500, 700, 900)) -> tuple:
    """One network call per noise level: ``x0`` (n, 1, H, W) noised to each t of ``levels`` (F2, noise drawn in
    order from the generator of ``seed``) and the x0_hat (X0) of the predicted noise, clipped to [-1, 1].
    Returns (x_0 (n, H, W), [(t, x_t (n, H, W), x0_hat (n, H, W)) per level])."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for t in levels:
        x_t = q_sample(x0, t, model.alpha_bar, torch.randn(x0.shape, generator=g))
        x0_hat = predict_x0(x_t, t, model.alpha_bar, model.eps(x_t, t)).clamp(-1, 1)
        rows.append((t, x_t[:, 0].numpy(), x0_hat[:, 0].numpy()))
    return x0[:, 0].numpy(), rows


# ----------------------------------------------------------------------------------------- autoencoder

@dataclass(frozen=True)
class AEConfig(Config):
    image_size: int = 16                  # digit resolution (core.data.mnist(size))
    channels: tuple[int, ...] = (16, 32, 32)  # AutoencoderKL block_out_channels; len(channels) - 1 halvings: 16 -> 4
    latent_channels: int = 4              # channels of the latent image (4 x 4 x 4 = 64 numbers for a 16x16 digit)
    kl_weight: float = 1e-4               # weight of KL(q(z|x) || N(0, I)) (Stable Diffusion's VAE uses ~1e-6)
    lr: float = 1e-3                      # AdamW learning rate
    batch_size: int = 64                  # minibatch size
    steps: int = 2500                     # optimisation steps
    log_every: int = 50                   # callback every this many steps (test loss every 10x)
    test_size: float = 0.2                # held-out fraction (same split as DiffusionConfig with the same data_seed)
    data_seed: int = 0                    # seed of the train/test split
    seed: int = 0                         # seed of the weights and minibatches

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if len(self.channels) < 2 or min(self.channels) < 8 or self.latent_channels < 1:
            raise ValueError("channels needs >= 2 widths >= 8 and latent_channels >= 1.")
        if self.image_size % 2 ** (len(self.channels) - 1):
            raise ValueError(f"image_size {self.image_size} is not divisible by 2^{len(self.channels) - 1}.")
        if min(self.batch_size, self.log_every) < 1 or self.steps < 0 or self.kl_weight < 0 or not self.lr > 0:
            raise ValueError("batch_size and log_every must be >= 1, steps >= 0, kl_weight >= 0, lr > 0.")


class Autoencoder(nn.Module):
    """diffusers' ``AutoencoderKL`` (Stable Diffusion's VAE, shrunk) plus ``scale``: 1 / std of the training
    latents, so that the diffused codes have unit variance (Stable Diffusion's ``scaling_factor``)."""

    def __init__(self, config: AEConfig):
        from diffusers import AutoencoderKL

        super().__init__()
        self.config, n = config, len(config.channels)
        self.vae = AutoencoderKL(in_channels=1, out_channels=1, down_block_types=("DownEncoderBlock2D",) * n,
                                 up_block_types=("UpDecoderBlock2D",) * n, block_out_channels=config.channels,
                                 layers_per_block=1, latent_channels=config.latent_channels, norm_num_groups=8,
                                 sample_size=config.image_size)
        self.register_buffer("scale", torch.ones(()))
        self.step_, self.history_, self.train_seconds_ = 0, [], 0.0

    @property
    def latent_shape(self) -> tuple:
        s = self.config.image_size // 2 ** (len(self.config.channels) - 1)
        return (self.config.latent_channels, s, s)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 1, H, W) in [-1, 1] -> scaled latent means (B, C, h, w)."""
        return self.vae.encode(x).latent_dist.mode() * self.scale

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Scaled latents -> images (B, 1, H, W) in about [-1, 1]."""
        return self.vae.decode(z / self.scale).sample


def train_autoencoder(config: AEConfig, callback=None, device: str | None = None) -> Autoencoder:
    """Train the latent autoencoder on the digits: MSE reconstruction + kl_weight * KL, then set ``scale``.

    Through :func:`core.training.loop`: ``train/mse`` every ``log_every`` steps, ``test/mse`` every ten times that
    and at the end; ``callback(step, metrics)`` as in :func:`train`. Deterministic per config; raises
    TrainingDiverged on NaN."""
    d = load_data(DiffusionConfig(data="mnist", image_size=config.image_size, test_size=config.test_size,
                                  data_seed=config.data_seed))
    ae = runtime.seeded_init(lambda: Autoencoder(config), config.seed).to(device or runtime.pick_device())
    dev = ae.scale.device
    x_train, x_test = d.x_train.to(dev), d.x_test.to(dev)
    opt = torch.optim.AdamW(ae.parameters(), lr=config.lr, weight_decay=0.0)

    def step(s: int) -> dict:
        g = training.step_generator(config.seed, s, str(dev))
        x = x_train[torch.from_numpy(training.batch_index(len(x_train), config.batch_size, config.seed, s)).to(dev)]
        post = ae.vae.encode(x).latent_dist
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=g, device=dev)   # reparameterization
        rec = F.mse_loss(ae.vae.decode(z).sample, x)
        loss = rec + config.kl_weight * post.kl().mean() / x[0].numel()
        training.check_terms({"autoencoder loss": loss}, s, ae)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"mse": rec}

    @torch.no_grad()
    def held_out() -> dict:
        ae.eval()
        out = {"mse": F.mse_loss(ae.vae.decode(ae.vae.encode(x_test).latent_dist.mode()).sample, x_test).item()}
        ae.train()
        return out

    ae.train()
    training.loop(ae, step, end=config.steps, log_every=config.log_every, eval_every=10 * config.log_every,
                  evaluate=held_out, callback=callback)
    ae.eval()
    with torch.no_grad():
        ae.scale.fill_(1.0)
        ae.scale.fill_(1.0 / ae.encode(x_train).std().item())
    return ae


# -------------------------------------------------------------------------------------------- training

class DigitJudge:
    """Sample quality of generated digits against real held-out ones, in two numbers (a small stand-in for FID
    and the Inception score, fitted on the real training digits with scikit-learn):

    - ``fd``: Frechet distance ||m_a - m_b||^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2)) between Gaussians fitted to the
      two sets' 32 principal components (0 for identical distributions);
    - ``confidence``: mean top-class probability a logistic regression trained on real digits gives the samples
      (legible digits score high; the real held-out digits' own score is the reference).
    """

    def __init__(self, size: int = 16, data_seed: int = 0, components: int = 32):
        from sklearn.decomposition import PCA
        from sklearn.linear_model import LogisticRegression

        X, y = gdata.mnist(size)
        Xtr, Xte, ytr, _ = gdata.split(X.reshape(len(X), -1), y, test_size=0.2, seed=data_seed)
        self.pca = PCA(components, random_state=0).fit(Xtr)
        self.clf = LogisticRegression(max_iter=300, C=0.5).fit(Xtr, ytr)
        self.reference = Xte

    def __call__(self, images) -> dict:
        from scipy import linalg

        A = np.asarray(images, np.float64).reshape(len(images), -1)
        fa, fb = self.pca.transform(A), self.pca.transform(self.reference)
        ma, mb, ca, cb = fa.mean(0), fb.mean(0), np.cov(fa, rowvar=False), np.cov(fb, rowvar=False)
        root = linalg.sqrtm(ca @ cb).real
        fd = float(((ma - mb) ** 2).sum() + np.trace(ca + cb - 2 * root))
        return {"fd": fd, "confidence": float(self.clf.predict_proba(A).max(1).mean())}


VARIANCES = ("large", "small")


@torch.no_grad()
def nll_bound(model: DiffusionModel, x0, seed: int = 0, timesteps: int = 0, variance: str = "large",
              rows: int = 65536) -> dict:
    """The variational bound on the negative log-likelihood, -ln p_theta(x_0) <= L, per example, in nats.

    Ho et al. (2020), eq. 5, as the lecture writes it (the ELBO of the reverse chain, with every term a KL between
    Gaussians where one exists)::

        L = L_T + sum_{t=2}^{T} L_{t-1} + L_0
        L_T     = KL( q(x_T | x_0) || p(x_T) ),             p(x_T) = N(0, I)           (no parameters: analytic)
        L_{t-1} = KL( q(x_{t-1} | x_t, x_0) || p_theta(x_{t-1} | x_t) ),  x_t ~ q(x_t | x_0)   (F2, one eps draw)
        L_0     = -ln p_theta(x_0 | x_1),                   x_1 ~ q(x_1 | x_0)

    - the forward posterior q(x_{t-1} | x_t, x_0) = N(mu~_t, beta~_t I) with
      mu~_t = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t) x_0 + sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) x_t
      and beta~_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t;
    - the reverse step p_theta(x_{t-1} | x_t) = N(mu_theta, sigma_t^2 I) with the mean of Algorithm 2,
      mu_theta = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_theta(x_t, t)) / sqrt(alpha_t), and
      ``variance`` "large": sigma_t^2 = beta_t (what the DDPM sampler here uses) or "small": sigma_t^2 = beta~_t;
    - the decoder (continuous data, so a Gaussian density, not Ho et al.'s discretized one) is the last reverse
      step p_theta(x_0 | x_1) = N(mu_theta(x_1, 1), beta_1 I) for either choice (beta~_1 = 0).

    Each KL is the closed form between Gaussians, summed over the coordinates:
    KL(N(m1, s1 I) || N(m2, s2 I)) = 1/2 sum_i [s1 / s2 - 1 - ln(s1 / s2) + (m1_i - m2_i)^2 / s2].
    The expectation over x_t is one Monte Carlo draw per example and t (``seed``). ``timesteps`` = 0 sums all
    T - 1 middle terms; K > 0 estimates their sum without bias from K stratified draws of t per example (t in
    K equal blocks of 2..T, one per block, weighted by the block's size): cheaper, noisier.

    Units: nats per example (per 2-D point for toy data), the same units as a flow's exact -ln p(x) and the
    VAE's IWAE bound. It is an *upper* bound on -ln p_theta(x_0) (in expectation over the draws) of the
    Gaussian reverse chain of Algorithm 2 as written: DDIM and the x_0 clipping of :meth:`DiffusionModel.sample`
    sample other, nearby distributions. The EMA weights are used (the sampling weights). Pixel-space images get
    a density of their continuous [-1, 1] values, not bits per dimension; latent space is refused (the bound
    would be on the autoencoder's codes, not on the images).

    Returns float64 tensors (B,): ``prior`` (L_T), ``diffusion`` (sum of the L_{t-1}), ``decoder`` (L_0) and
    ``bound`` (their sum); with ``timesteps`` = 0 also ``per_t`` (T + 1,), the mean L_{t-1} over the examples at
    each t = 2..T (zeros elsewhere): where along the chain the nats are spent.
    """
    _choice("variance", variance, VARIANCES)
    if model.config.space == "latent":
        raise ValueError("The bound of a latent diffusion model would be on the autoencoder's codes, not on the "
                         "images; compute it for pixel-space or 2-D models.")
    dev = model.device
    x0 = torch.as_tensor(np.asarray(x0, np.float32) if not isinstance(x0, torch.Tensor) else x0,
                         dtype=torch.float32).to(dev)
    if tuple(x0.shape[1:]) != model.shape or len(x0) < 1:
        raise ValueError(f"x_0 must have shape (n, {', '.join(map(str, model.shape))}), got {tuple(x0.shape)}.")
    if not torch.isfinite(x0).all():
        raise ValueError("x_0 contains NaN or infinite values.")
    T, B = model.config.T, len(x0)
    if not 0 <= int(timesteps) <= T - 1:
        raise ValueError(f"timesteps must lie in 0..{T - 1} (0 = all), got {timesteps}.")
    s = schedule(model.config.schedule, T, model.config.beta_start, model.config.beta_end)
    beta, alpha, ab = (s[k].to(dev) for k in ("beta", "alpha", "alpha_bar"))                      # float64
    ab_prev = torch.cat([ab[:1], ab[:-1]])                                                        # alpha_bar_{t-1}
    beta_tilde = (1 - ab_prev) / (1 - ab).clamp_min(1e-300) * beta                                # beta~_t (0 at t=1)
    sigma2 = beta if variance == "large" else torch.where(torch.arange(T + 1, device=dev) <= 1, beta, beta_tilde)
    g = runtime.torch_generator(seed, str(dev))
    flat = lambda v: v.reshape(len(v), -1)
    X0 = flat(x0).double()

    def draw(t: torch.Tensor, x: torch.Tensor):
        """x_t ~ q(x_t | x_0) (F2) and the Algorithm-2 mean mu_theta(x_t, t), float64, for (N,) times t."""
        eps = torch.randn(x.shape, generator=g, device=dev)
        x_t = q_sample(x, t, model.alpha_bar, eps)
        e = flat(model.eps(x_t, t)).double()
        xt = flat(x_t).double()
        c = lambda v: v[t][:, None]
        return xt, (xt - c(beta) / c(1 - ab).sqrt() * e) / c(alpha).sqrt()

    # L_T: KL(N(sqrt(ab_T) x_0, (1 - ab_T) I) || N(0, I)), analytic
    v = 1 - ab[T]
    prior = 0.5 * (v - 1 - torch.log(v) + ab[T] * X0.pow(2)).sum(1)

    # L_0: -ln N(x_0; mu_theta(x_1, 1), beta_1 I)
    _, mu = draw(torch.ones(B, dtype=torch.long, device=dev), x0)
    decoder = 0.5 * (torch.log(2 * math.pi * beta[1]) + (X0 - mu).pow(2) / beta[1]).sum(1)

    # L_{t-1}, t = 2..T: KL(q(x_{t-1} | x_t, x_0) || p_theta(x_{t-1} | x_t))
    if timesteps:
        edges = np.linspace(2, T + 1, int(timesteps) + 1).round().astype(int)
        lo = torch.as_tensor(edges[:-1], device=dev)
        width = torch.as_tensor(np.diff(edges), device=dev)
        u = torch.rand((B, len(lo)), generator=g, device=dev, dtype=torch.float64)
        ts, weights = (lo + (u * width).long().clamp_max(width - 1)), width.double().expand(B, -1)
    else:
        ts = torch.arange(2, T + 1, device=dev).expand(B, -1)
        weights = torch.ones(ts.shape, dtype=torch.float64, device=dev)
    K = ts.shape[1]
    middle = torch.zeros(B, dtype=torch.float64, device=dev)
    per_t = torch.zeros(T + 1, dtype=torch.float64, device=dev)
    d = X0.shape[1]
    chunk = max(1, rows // B)
    for j in range(0, K, chunk):
        t = ts[:, j:j + chunk].T.reshape(-1)                                                      # (k * B,) t-major
        x = x0.repeat((len(t) // B,) + (1,) * (x0.dim() - 1))
        xt, mu = draw(t, x)
        c = lambda v_, t=t: v_[t][:, None]
        mu_tilde = (c(ab_prev).sqrt() * c(beta) / c(1 - ab)) * X0.repeat(len(t) // B, 1) \
            + (c(alpha).sqrt() * c(1 - ab_prev) / c(1 - ab)) * xt
        r = beta_tilde[t] / sigma2[t]
        kl = 0.5 * (d * (r - 1 - torch.log(r)) + (mu_tilde - mu).pow(2).sum(1) / sigma2[t])        # (k * B,)
        kl = kl.reshape(-1, B)
        middle += (kl * weights[:, j:j + chunk].T).sum(0)
        if not timesteps:
            per_t.index_add_(0, ts[0, j:j + chunk], kl.mean(1))
    out = {"prior": prior, "diffusion": middle, "decoder": decoder, "bound": prior + middle + decoder}
    out = {k: v_.cpu() for k, v_ in out.items()}
    if not timesteps:
        out["per_t"] = per_t.cpu()
    return out


@torch.no_grad()
def evaluate(model: DiffusionModel, x_test: torch.Tensor, seed: int = 0, samples: int = 0) -> dict:
    """Held-out Algorithm-1 loss with fixed (t, eps) draws (``loss``), and for points the sliced Wasserstein
    distance of ``samples`` DDIM-50 samples to the held-out set (``swd``)."""
    was = model.training
    model.eval()
    x = x_test[:2000]
    out = {"loss": model.loss(x, runtime.torch_generator(seed, str(model.device))).mean().item()}
    if samples and model.config.kind == "points":
        out["swd"] = metrics.sliced_wasserstein(model.sample(samples, seed=seed), x_test.cpu().numpy())
    model.train(was)
    return out


def train(config: DiffusionConfig, data: DiffData | None = None, callback=None, *, model: DiffusionModel | None = None,
          until: int | None = None, device: str | None = None, autoencoder: Autoencoder | None = None) -> DiffusionModel:
    """Algorithm 1 (repeat: x_0, t, eps, gradient step), with AdamW, gradient clipping and an optional EMA.

    - ``data``: a :class:`DiffData` (default :func:`load_data`); in latent space the images are encoded by the
      ``autoencoder`` (default: loaded from ``config.autoencoder``) before training.
    - ``callback(step, metrics)`` every ``log_every`` steps (``train/loss``) and every ``eval_every`` steps and at
      the end (``test/loss``, for points ``test/swd``); returning True or "stop" stops training.
    - ``model``: a model returned earlier with the same config; training resumes at ``model.step_`` (optimizer
      and EMA included) and chunks are bit-identical to one long run. ``until``: stop at this step.

    Raises :class:`TrainingDiverged` on a NaN/inf loss or weights. Deterministic per config and seed on CPU.
    """
    data = load_data(config) if data is None else data
    if config.space == "latent":
        if model is not None:
            autoencoder = model.autoencoder
        autoencoder = autoencoder or load_autoencoder(config.autoencoder, device)
        with torch.no_grad():
            enc = lambda x: torch.cat([autoencoder.encode(b.to(autoencoder.scale.device)) for b in x.split(500)]).cpu()
            data = DiffData(enc(data.x_train), enc(data.x_test), data.y_train, data.y_test)
    if model is None:
        model = build(config, data.shape, autoencoder, device)
    elif model.config.replace(steps=config.steps) != config or model.shape != data.shape:
        raise ValueError("Can only resume a model trained with the same config (apart from steps) and data.")
    x_train, x_test = data.x_train.to(model.device), data.x_test.to(model.device)
    return fit(model, config, lambda idx, g: model.loss(x_train[idx], g),                   # Algorithm 1, lines 2-5
               lambda: evaluate(model, x_test, config.seed + 1, config.eval_samples), len(x_train), callback, until)


def fit(model, config, batch_loss, held_out, n: int, callback=None, until: int | None = None):
    """The training both diffusion families share (:func:`train`, :func:`core.guided.train`), through
    :func:`core.training.loop`: AdamW on ``model.net`` (resuming its state when the model was trained before);
    step s's per-example losses are ``batch_loss(rows, generator)`` on the minibatch rows of
    :func:`core.training.batch_index` out of ``n`` and the generator of :func:`core.training.step_generator`, so
    chunks equal one long run; then the gradient clipped to ``config.grad_clip``, the weights checked and the EMA
    copy (``config.ema``) moved. ``held_out()`` gives the ``test/...`` metrics."""
    model.config = config
    dev = str(model.device)
    opt = torch.optim.AdamW(model.net.parameters(), lr=config.lr, weight_decay=0.0)
    if model._opt_state is not None:
        opt.load_state_dict(model._opt_state)
    params = list(model.net.parameters())

    def step(s: int) -> dict:
        g = training.step_generator(config.seed, s, dev)
        loss = batch_loss(torch.from_numpy(training.batch_index(n, config.batch_size, config.seed, s)).to(dev), g).mean()
        training.check_terms({"loss": loss}, s, model)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        training.clip_and_step(opt, params, config.grad_clip)
        training.check_weights(params, s, model)
        if model.ema_net is not None:  # theta_ema <- d theta_ema + (1 - d) theta, warm-up as diffusers' EMAModel
            training.ema_update(model.ema_net, model.net, config.ema, s)
        return {"loss": loss}

    end = config.steps if until is None else min(int(until), config.steps)
    model.train()
    try:
        training.loop(model, step, end=end, log_every=config.log_every, eval_every=config.eval_every,
                      evaluate=held_out, callback=callback)
    finally:
        model.eval()
    model._opt_state = opt.state_dict()
    return model


# ----------------------------------------------------------------------------------------- checkpoints

def save(model: DiffusionModel, path, meta: dict | None = None) -> Path:
    """Save the sampling weights (the EMA copy when there is one) as ``net.*``, the autoencoder (latent space)
    as ``ae.*``, and config + history as JSON."""
    meta = dict(meta or {})
    meta.setdefault("step", model.step_)
    meta.setdefault("history", model.history_)
    meta.setdefault("train_seconds", round(model.train_seconds_, 2))
    meta["shape"] = list(model.shape)
    net = model.ema_net if model.ema_net is not None else model.net
    tensors = {f"net.{k}": v.detach().cpu() for k, v in net.state_dict().items()}
    if model.autoencoder is not None:
        meta["ae_config"] = dataclasses.asdict(model.autoencoder.config)
        tensors.update({f"ae.{k}": v.detach().cpu() for k, v in model.autoencoder.state_dict().items()})
    return checkpoints.save(path, tensors, model.config, FAMILY, meta)


def load(path, device: str | None = None) -> DiffusionModel:
    """Load a :func:`save` checkpoint (sampling weights only: ``ema`` is off in the loaded model's net)."""
    tensors, record = checkpoints.load(path, family=FAMILY)
    if "ae_only" in record.get("meta", {}):
        raise checkpoints.CheckpointError(f"Checkpoint {checkpoints._label(path)} holds an autoencoder, not a "
                                          "diffusion model.", path)
    config = checkpoints.config_from(record, DiffusionConfig.from_dict, path)
    meta = record.get("meta", {})
    try:
        ae = Autoencoder(AEConfig(**meta["ae_config"])) if config.space == "latent" else None
        model = DiffusionModel(config.replace(ema=0.0), tuple(int(d) for d in meta["shape"]), ae)
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        raise checkpoints.CheckpointError(f"Checkpoint {checkpoints._label(path)} does not rebuild a diffusion "
                                          f"model: {e}", path) from e
    # the tensors are "ae.*" (latent space only) and "net.*": every one checked, none left over
    expected = {f"net.{k}": v.shape for k, v in model.net.state_dict().items()}
    if ae is not None:
        expected.update({f"ae.{k}": v.shape for k, v in ae.state_dict().items()})
    checkpoints.check_tensors(tensors, expected, path, "diffusion model")
    if ae is not None:
        checkpoints.load_weights(ae, tensors, path, prefix="ae.", what="autoencoder").eval()
    checkpoints.load_weights(model.net, tensors, path, prefix="net.", what="denoiser")
    model.net.requires_grad_(False)  # as the EMA copy it was saved from: oneDNN picks its conv kernel by this flag
    model.step_, model.history_ = int(meta.get("step", 0)), list(meta.get("history", []))
    model.train_seconds_, model.meta = float(meta.get("train_seconds", 0.0)), meta
    return model.eval().to(device or runtime.pick_device())


def save_autoencoder(ae: Autoencoder, path, meta: dict | None = None) -> Path:
    meta = {"ae_only": True, "step": ae.step_, "history": ae.history_, "train_seconds": round(ae.train_seconds_, 2),
            **(meta or {})}
    return checkpoints.save(path, {k: v.detach().cpu() for k, v in ae.state_dict().items()}, ae.config, FAMILY, meta)


def load_autoencoder(name_or_path, device: str | None = None) -> Autoencoder:
    """Load an autoencoder checkpoint by shipped name or path; raises CheckpointError if missing or corrupt."""
    p = Path(str(name_or_path))
    path = p if p.parent != Path(".") or p.with_suffix(".json").exists() else checkpoints.shipped(str(name_or_path))
    tensors, record = checkpoints.load(path, family=FAMILY)
    if not record.get("meta", {}).get("ae_only"):
        raise checkpoints.CheckpointError(f"Checkpoint {checkpoints._label(path)} does not hold a diffusion "
                                          "autoencoder.", path)
    ae = checkpoints.config_from(record, lambda c: Autoencoder(AEConfig(**c)), path)
    checkpoints.load_weights(ae, tensors, path, what="autoencoder").requires_grad_(False)
    ae.step_, ae.meta = int(record["meta"].get("step", 0)), record["meta"]
    return ae.eval().to(device or runtime.pick_device())


def load_shipped(name: str, device: str | None = None) -> DiffusionModel:
    return load(checkpoints.shipped(name), device)


#: The image checkpoints that ship with GenLab (name -> what it is).
SHIPPED = {
    "diffusion_mnist16_pixel": "pixel space: UNet2DModel (1.06 M parameters, bf16 autocast) on 16x16 digits",
    "diffusion_mnist16_latent": "latent space: MLP (0.89 M parameters) on the 4x4x4 codes of diffusion_mnist16_ae",
    "diffusion_mnist16_ae": "the AutoencoderKL (0.24 M parameters) whose codes the latent model diffuses",
    "diffusion_swiss_roll": "2-D MLP on the swiss roll (the page's default)",
    "diffusion_moons": "2-D MLP on two moons",
}

#: The model trained apart from the family's own (not a family in core.families): its command name -> (config
#: class, trainer ``(config, callback=None, device=None)``, saver ``(model, path, meta=None)``).
AUXILIARY = {"diffusion-autoencoder": (AEConfig, train_autoencoder, save_autoencoder)}
