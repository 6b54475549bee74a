"""Variational autoencoder (VAE) and the autoencoders that lead to it.

Notation follows the lecture ("Variational Autoencoders"):

- prior                 p(z) = N(0, I)                               (the "simple distribution")
- decoder               p_theta(x | z)    Bernoulli for pixel intensities in [0, 1],
                                          diagonal Gaussian for 2-D points
- encoder (amortized)   q_phi(z | x) = N(mu_phi(x), diag sigma_phi(x)^2)   approximates the
                        intractable posterior p_theta(z | x) = p_theta(x|z) p(z) / int p_theta(x|z) p(z) dz
- loss (negative ELBO)  L(x; theta, phi) = E_q[-ln p_theta(x|z)] + beta * KL(q_phi(z|x) || p(z))
                        with beta = 1 this is  -ELBO  and  ln p_theta(x) >= ELBO
                        (the gap is KL(q_phi(z|x) || p_theta(z|x)) >= 0)
- reparameterization    z = mu + sigma * eps,  eps ~ N(0, I)   so the gradient reaches phi
- importance weighting  ln p(x) ~= ln 1/K sum_k p_theta(x|z_k) p(z_k) / q_phi(z_k|x),  z_k ~ q_phi
                        (Burda et al. 2016, IWAE): a tighter bound that grows with K towards ln p(x).

Three models share the same networks (``VAEConfig.model``):

- ``"vae"``: the variational autoencoder above;
- ``"ae"``:  the plain autoencoder of the lecture's recap: z = mu_phi(x) (no sampling, no KL),
             loss = reconstruction only;
- ``"dae"``: the denoising autoencoder: the input is corrupted, x~ = x + noise * N(0, I)
             (clipped to [0, 1] for images), and the target is the clean x.

What is written by hand here is what the lecture teaches (the ELBO terms, the analytic KL,
the reparameterization, the IWAE estimate); it mirrors diffusers'
``models.autoencoders.vae.DiagonalGaussianDistribution`` (``sample``, ``kl``, ``nll``) and
``torch.distributions`` (``Normal.rsample``, ``kl_divergence``), which the tests compare against.
Everything else is plain torch (``nn.Linear``, ``torch.optim.Adam``).

Shape of the module (see DESIGN.md): a frozen :class:`VAEConfig`; :func:`train` (deterministic
per config and seed, a callback that may stop it, resumable in chunks); ``model.sample(n, seed)``;
``model.log_prob(x, k)`` (a bound, not exact: numpy out; :func:`iwae_log_prob` for torch code); :func:`save` / :func:`load` as safetensors + JSON.

A run that diverges raises :class:`TrainingDiverged` (a ``RuntimeError``) naming the step and the
term that went NaN/inf; the model as it was before that step is attached as ``.model``.

The shipped checkpoints are made by the one command line (see each checkpoint's ``meta["command"]``)::

    python -m core train vae --out checkpoints/vae_mnist_z2_beta1 --threads 1
    python -m core info checkpoints/vae_mnist_z2_beta1
"""
from __future__ import annotations

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

FAMILY = "vae"
LIKELIHOOD = "bound"  # model.log_prob is the IWAE estimate, a lower bound on ln p(x) (the ELBO at K = 1)
MODELS = ("vae", "ae", "dae")
IMAGE_SETS = ("mnist", "digits8")
DATA_SETS = IMAGE_SETS + tuple(sorted(gdata.TOY_SETS))
LIKELIHOODS = ("auto", "bernoulli", "gaussian")
#: The checkpoints that ship with GenLab (name -> what it is), all MNIST with a 2-D latent space.
SHIPPED = {
    "vae_mnist_z2_beta1": "VAE, beta = 1",
    "vae_mnist_z2_beta0_25": "VAE, beta = 0.25",
    "vae_mnist_z2_beta4": "VAE, beta = 4",
    "vae_mnist_ae_z2": "plain autoencoder",
    "vae_mnist_dae_z2": "denoising autoencoder",
}
LOG2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class VAEConfig(Config):
    model: str = "vae"                    # "vae" (variational), "ae" (plain autoencoder) or "dae" (denoising AE)
    data: str = "mnist"                   # "mnist" (5,000 28x28 digits), "digits8" (sklearn 8x8) or a 2-D toy set name
    latent_dim: int = 2                   # dimension of z; 2 lets the page draw the latent plane directly
    hidden: tuple = (256, 128)            # widths of the encoder's hidden layers (the decoder mirrors them)
    beta: float = 1.0                     # weight of KL(q_phi(z|x) || p(z)) in the loss; 1 is the true ELBO (VAE only)
    noise: float = 0.5                    # DAE only: std of the Gaussian noise added to the input (clipped to [0,1] for images)
    likelihood: str = "auto"              # p_theta(x|z): "bernoulli" (images in [0,1]), "gaussian" (2-D points); auto picks
    lr: float = 1e-3                      # Adam learning rate
    batch_size: int = 128                 # minibatch size
    steps: int = 3000                     # total optimisation steps
    log_every: int = 25                   # the callback gets train metrics (averaged) every this many steps
    eval_every: int = 100                 # ... and test-set metrics every this many steps (and at the last step)
    test_size: float = 0.2                # fraction of the data held out as the test set
    n_points: int = 2000                  # number of points drawn for a 2-D toy set (ignored for images)
    data_seed: int = 0                    # seed of the train/test split and of toy data (kept apart so models share a test set)
    seed: int = 0                         # seed of the weights, minibatch order and eps draws

    def __post_init__(self):
        _choice("model", self.model, MODELS)
        _choice("data", self.data, DATA_SETS)
        _choice("likelihood", self.likelihood, LIKELIHOODS)
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.likelihood == "bernoulli" and self.data not in IMAGE_SETS:
            raise ValueError("A Bernoulli decoder needs values in [0, 1]; 2-D points need likelihood 'gaussian' (or 'auto').")
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim}.")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden must be a non-empty list of positive widths, got {self.hidden}.")
        if not (self.beta >= 0 and math.isfinite(self.beta)):
            raise ValueError(f"beta must be a finite number >= 0, got {self.beta}.")
        if not (self.noise >= 0 and math.isfinite(self.noise)):
            raise ValueError(f"noise must be a finite number >= 0, got {self.noise}.")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr}.")
        if self.batch_size < 1 or self.steps < 0 or self.log_every < 1 or self.eval_every < 1:
            raise ValueError("batch_size, log_every and eval_every must be >= 1 and steps >= 0.")
        if not 0 < self.test_size < 1:
            raise ValueError(f"test_size must lie strictly between 0 and 1, got {self.test_size}.")
        if self.n_points < 10:
            raise ValueError(f"n_points must be >= 10, got {self.n_points}.")

    @property
    def decoder_likelihood(self) -> str:
        """The likelihood actually used: ``likelihood`` unless "auto" (bernoulli for images, gaussian for points)."""
        if self.likelihood != "auto":
            return self.likelihood
        return "bernoulli" if self.data in IMAGE_SETS else "gaussian"



# --------------------------------------------------------------------------------------------- data

@dataclass
class VAEData:
    """A train/test split as float32 tensors of shape (n, D); ``shape`` is one example's shape."""

    x_train: torch.Tensor
    y_train: np.ndarray
    x_test: torch.Tensor
    y_test: np.ndarray
    shape: tuple
    kind: str  # "image" or "points"

    @property
    def dim(self) -> int:
        return int(np.prod(self.shape))


def points_data(x_train, x_test, y_train=None, y_test=None, name: str = "custom") -> VAEData:
    """The protocol's data from arrays of 2-D points (core/families.py), already split."""
    as_t = lambda x: torch.as_tensor(np.asarray(x, np.float32))
    return VAEData(as_t(x_train), y_train, as_t(x_test), y_test, (int(np.shape(x_train)[1]),), "points")


def load_data(config: VAEConfig) -> VAEData:
    """The data set named by ``config.data``, split with ``config.data_seed`` (deterministic)."""
    if config.data == "mnist":
        X, y = gdata.mnist(28)
    elif config.data == "digits8":
        X, y = gdata.digits8()
    else:
        X, y = gdata.toy(config.data, config.n_points, seed=config.data_seed)
    return make_data(X, y, test_size=config.test_size, seed=config.data_seed)


def make_data(X, y=None, test_size: float = 0.2, seed: int = 0) -> VAEData:
    """Wrap arrays (images (n, H, W) in [0, 1] or points (n, 2)) into a :class:`VAEData` split."""
    X = np.asarray(X, np.float32)
    y = np.zeros(len(X), np.int64) if y is None else np.asarray(y)
    if X.ndim < 2 or len(X) < 4:
        raise ValueError(f"Need at least 4 examples of shape (n, ...); got an array of shape {X.shape}.")
    if not np.isfinite(X).all():
        raise ValueError("The data contain NaN or infinite values.")
    kind = "image" if X.ndim == 3 else "points"
    Xtr, Xte, ytr, yte = gdata.split(X, y, test_size=test_size, seed=seed)
    flat = lambda a: torch.from_numpy(np.ascontiguousarray(a.reshape(len(a), -1)))
    return VAEData(flat(Xtr), np.asarray(ytr), flat(Xte), np.asarray(yte), tuple(X.shape[1:]), kind)


# ------------------------------------------------------------------------------- the probabilistic pieces

def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Analytic KL(N(mu, diag exp(logvar)) || N(0, I)) per example, summed over latent dims.

    KL = 1/2 * sum_j (mu_j^2 + sigma_j^2 - 1 - ln sigma_j^2)   (Kingma & Welling 2014, appendix B;
    diffusers' DiagonalGaussianDistribution.kl with other=None).
    """
    return 0.5 * torch.sum(mu.pow(2) + logvar.exp() - 1.0 - logvar, dim=-1)


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """ln N(z; mu, diag exp(logvar)), summed over the last dim (torch.distributions.Normal.log_prob(...).sum(-1))."""
    return -0.5 * torch.sum(LOG2PI + logvar + (z - mu).pow(2) / logvar.exp(), dim=-1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The reparameterization trick: z = mu + sigma * eps with sigma = exp(logvar / 2), eps ~ N(0, I).

    The randomness lives in eps, which does not depend on phi, so dz/dmu = 1 and dz/dsigma = eps:
    back-propagation passes through the sampling step into the encoder (torch's Normal.rsample).
    """
    return mu + torch.exp(0.5 * logvar) * eps


def _mlp(sizes) -> nn.Sequential:
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class VAEModel(nn.Module):
    """Encoder and decoder networks plus what training learned (``step_``, ``history_``).

    Shapes: ``x`` is (B, D) flattened data, ``z`` is (B, latent_dim).
    Encoder output: (mu, logvar) for the VAE; the AE/DAE use only mu (no log-variance head).
    Decoder output: Bernoulli logits (B, D), or Gaussian (mean, logvar) concatenated (B, 2D).
    """

    def __init__(self, config: VAEConfig, dim: int, shape: tuple):
        super().__init__()
        self.config = config
        self.dim = int(dim)
        self.shape = tuple(int(s) for s in shape)
        L, H = config.latent_dim, list(config.hidden)
        self.encoder = _mlp([self.dim] + H + [2 * L if config.model == "vae" else L])
        out = self.dim if config.decoder_likelihood == "bernoulli" else 2 * self.dim
        self.decoder = _mlp([L] + H[::-1] + [out])
        # AE/DAE have no prior: sampling draws from a Gaussian fitted to the training codes instead
        self.register_buffer("code_mean", torch.zeros(L))
        self.register_buffer("code_std", torch.ones(L))
        self.step_ = 0
        self.history_: list[dict] = []
        self.train_seconds_ = 0.0
        self._opt_state = None  # Adam state, kept in memory so training can resume in chunks

    # ---- the two networks
    @property
    def is_vae(self) -> bool:
        return self.config.model == "vae"

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def encode(self, x: torch.Tensor):
        """q_phi(z|x): returns (mu, logvar), each (B, latent_dim); logvar is None for the AE/DAE."""
        h = self.encoder(x)
        if not self.is_vae:
            return h, None
        mu, logvar = h.chunk(2, dim=-1)
        return mu, logvar.clamp(-30.0, 20.0)  # same clamp as diffusers' DiagonalGaussianDistribution

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The parameters of p_theta(x|z): logits (Bernoulli) or mean|logvar (Gaussian)."""
        return self.decoder(z)

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        """E[x|z]: pixel probabilities sigmoid(logits) (Bernoulli) or the Gaussian mean, (B, D)."""
        out = self.decode(z)
        if self.config.decoder_likelihood == "bernoulli":
            return torch.sigmoid(out)
        return out[..., : self.dim]

    def recon_nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-ln p_theta(x|z) per example (nats), summed over the D data dimensions.

        Bernoulli: sum_d -[x_d ln p_d + (1 - x_d) ln(1 - p_d)] (binary cross-entropy on logits; for grey
        values this is the usual "Bernoulli" loss of the VAE literature).
        Gaussian:  1/2 sum_d [ln 2 pi + ln s_d^2 + (x_d - m_d)^2 / s_d^2], with ln s^2 kept in [-7, 3] for stability.
        """
        if self.config.decoder_likelihood == "bernoulli":
            return F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(-1)
        mean, raw = out[..., : self.dim], out[..., self.dim:]
        logvar = -7.0 + 10.0 * torch.sigmoid(raw)  # soft bound: a point cannot shrink its variance to 0
        return -gaussian_log_density(x, mean, logvar)

    # ---- the objective
    def corrupt(self, x: torch.Tensor, noise: float, generator) -> torch.Tensor:
        """DAE corruption x~ = x + noise * N(0, I), clipped to [0, 1] for images."""
        xt = x + noise * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return xt.clamp(0.0, 1.0) if self.config.decoder_likelihood == "bernoulli" else xt

    def terms(self, x: torch.Tensor, generator=None, x_in: torch.Tensor | None = None) -> dict:
        """Per-example loss terms on a batch (a one-sample Monte Carlo estimate of the expectation).

        VAE: recon = -ln p_theta(x|z), z = mu + sigma * eps, eps ~ N(0, I);  kl = KL(q_phi(z|x) || p(z));
             elbo = -(recon + kl);  loss = recon + beta * kl.
        AE / DAE: z = mu_phi(x_in), recon = -ln p_theta(x|z) (x_in is the corrupted x for the DAE), loss = recon.
        """
        x_in = x if x_in is None else x_in
        mu, logvar = self.encode(x_in)
        if self.is_vae:
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            z = reparameterize(mu, logvar, eps)
            recon = self.recon_nll(self.decode(z), x)
            kl = gaussian_kl(mu, logvar)
            return {"recon": recon, "kl": kl, "elbo": -(recon + kl), "loss": recon + self.config.beta * kl}
        recon = self.recon_nll(self.decode(mu), x)
        return {"recon": recon, "loss": recon}

    # ---- likelihood bound
    def log_prob(self, x, k: int = 50, seed: int = 0) -> np.ndarray:
        """The family protocol's ln p(x) per example (array-like or tensor (B, ...)): :func:`iwae_log_prob`, the
        importance-weighted bound, as a float64 numpy array (B,)."""
        return iwae_log_prob(self, _as_tensor(x, self.device), k=k, seed=seed).double().cpu().numpy()

    # ---- generation
    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, mean: bool | None = None) -> np.ndarray:
        """Draw ``n`` samples: z ~ p(z) = N(0, I), then x from p_theta(x|z). Returns (n, *shape) float32.

        ``mean=True`` returns E[x|z] (pixel probabilities), ``False`` draws from p_theta(x|z)
        (Bernoulli pixels / Gaussian noise); ``None`` picks the mean for images and a draw for points.
        AE/DAE have no prior: z is drawn from N(code_mean, code_std^2) fitted to their training codes.
        """
        n = int(n)
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}.")
        g = runtime.torch_generator(seed, str(self.device))
        eps = torch.randn(n, self.config.latent_dim, generator=g, device=self.device)
        z = eps if self.is_vae else self.code_mean + self.code_std * eps
        return self._emit(self.decode(z), g, mean)

    def _emit(self, out: torch.Tensor, g, mean) -> np.ndarray:
        bern = self.config.decoder_likelihood == "bernoulli"
        mean = bern if mean is None else mean
        if bern:
            p = torch.sigmoid(out)
            x = p if mean else torch.bernoulli(p, generator=g)
        else:
            m, raw = out[..., : self.dim], out[..., self.dim:]
            std = torch.exp(0.5 * (-7.0 + 10.0 * torch.sigmoid(raw)))
            x = m if mean else m + std * torch.randn(m.shape, generator=g, device=m.device)
        return x.reshape((len(x),) + self.shape).float().cpu().numpy()

    @torch.no_grad()
    def reconstruct(self, x, seed: int | None = None, noise: float | None = None) -> np.ndarray:
        """Encode and decode ``x`` ((n, *shape) array or tensor); returns E[x|z] as (n, *shape) float32.

        ``seed=None`` decodes the posterior mean z = mu; a seed draws z = mu + sigma * eps (VAE).
        ``noise`` corrupts the input first (x~ = x + noise * N(0, I)), as the DAE is trained to undo.
        """
        x = _as_tensor(x, self.device)
        g = runtime.torch_generator(0 if seed is None else seed, str(self.device))
        if noise:
            x = self.corrupt(x, noise, g)
        mu, logvar = self.encode(x)
        z = mu
        if seed is not None and self.is_vae:
            z = reparameterize(mu, logvar, torch.randn(mu.shape, generator=g, device=mu.device))
        return self._emit(self.decode(z), g, True)


# --------------------------------------------------------------------------- the likelihood bound

@torch.no_grad()
def iwae_log_prob(model: VAEModel, x: torch.Tensor, k: int = 50, seed: int = 0, chunk: int = 20_000) -> torch.Tensor:
    """Importance-weighted estimate of ln p_theta(x) per example, shape (B,) (a lower bound in expectation).

    ln p(x) ~= logsumexp_k [ln p_theta(x|z_k) + ln p(z_k) - ln q_phi(z_k|x)] - ln K,  z_k ~ q_phi(z|x).
    K = 1 is the one-sample ELBO; the estimate grows with K towards ln p(x) (Burda et al. 2016).
    Only the VAE has one: the AE/DAE define no density.
    """
    if not model.is_vae:
        raise ValueError("A plain or denoising autoencoder defines no likelihood p(x); only model='vae' has log_prob.")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}.")
    x = x.to(model.device).reshape(len(x), -1)
    g = runtime.torch_generator(seed, str(model.device))
    per = max(1, chunk // k)
    out = []
    for i in range(0, len(x), per):
        xb = x[i: i + per]
        mu, logvar = model.encode(xb)
        eps = torch.randn((k,) + mu.shape, generator=g, device=mu.device, dtype=mu.dtype)
        z = reparameterize(mu, logvar, eps)                                  # (K, B, L)
        log_q = gaussian_log_density(z, mu, logvar)                          # ln q_phi(z_k|x)
        log_prior = -0.5 * (LOG2PI + z.pow(2)).sum(-1)                      # ln p(z_k), N(0, I)
        out_dec = model.decode(z.reshape(-1, z.shape[-1]))
        log_lik = -model.recon_nll(out_dec, xb.repeat(k, 1)).reshape(k, len(xb))  # ln p_theta(x|z_k)
        log_w = log_lik + log_prior - log_q
        out.append(torch.logsumexp(log_w, 0) - math.log(k))
    return torch.cat(out)


@torch.no_grad()
def elbo_terms(model: VAEModel, x: torch.Tensor, seed: int = 0, samples: int = 1) -> dict:
    """Mean ELBO terms over ``x`` (nats per example): recon (MC, ``samples`` draws), kl (analytic), elbo."""
    x = x.to(model.device).reshape(len(x), -1)
    g = runtime.torch_generator(seed, str(model.device))
    acc = {}
    for _ in range(samples):
        t = model.terms(x, g, model.corrupt(x, model.config.noise, g) if model.config.model == "dae" else None)
        for key, v in t.items():
            acc[key] = acc.get(key, 0.0) + v.mean().item() / samples
    return acc


def _as_tensor(x, device) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x, np.float32) if not isinstance(x, torch.Tensor) else x, dtype=torch.float32)
    return t.reshape(len(t), -1).to(device)


def build(config: VAEConfig, dim: int, shape: tuple, device: str | None = None) -> VAEModel:
    """A fresh model whose weights depend on ``config.seed`` only."""
    model = runtime.seeded_init(lambda: VAEModel(config, dim, shape), config.seed)
    return model.to(device or runtime.pick_device())


# ------------------------------------------------------------------------------------------- training

@torch.no_grad()
def _fit_code_stats(model: VAEModel, x: torch.Tensor) -> None:
    mu, _ = model.encode(x)
    model.code_mean.copy_(mu.mean(0))
    model.code_std.copy_(mu.std(0).clamp_min(1e-6) if len(mu) > 1 else torch.ones_like(mu[0]))


@torch.no_grad()
def evaluate(model: VAEModel, x: torch.Tensor, seed: int = 0) -> dict:
    """Mean loss terms on ``x`` with a fixed eps draw (deterministic). Keys: recon, loss (+ kl, elbo for a VAE)."""
    was = model.training
    model.eval()
    out = elbo_terms(model, x, seed=seed)
    model.train(was)
    return out


def train(config: VAEConfig, data: VAEData | None = None, callback=None, *, model: VAEModel | None = None,
          until: int | None = None, device: str | None = None) -> VAEModel:
    """Train (or resume training) and return the model, through :func:`core.training.loop`.

    - ``data``: a :class:`VAEData` (default: :func:`load_data(config) <load_data>`).
    - ``callback(step, metrics)`` is called every ``config.log_every`` steps with the mean train terms of
      the window (``train/recon``, ``train/kl``, ``train/elbo``, ``train/loss``) and, every ``eval_every``
      steps and at the end, the test-set terms (``test/...``). Returning True or "stop" stops training.
    - ``model``: a model returned earlier for the same config; training resumes at ``model.step_``
      (Adam state included), and runs in chunks are bit-identical to one long run.
    - ``until``: stop at this step (default ``config.steps``).

    Raises :class:`TrainingDiverged` on NaN/inf. Deterministic for a given config and seed on CPU
    (with the same number of torch threads).
    """
    data = load_data(config) if data is None else data
    if model is None:
        model = build(config, data.dim, data.shape, device)
    elif dataclasses.replace(model.config, steps=config.steps) != config or model.dim != data.dim:
        raise ValueError("Can only resume a model trained with the same config (apart from steps) and data.")
    model.config = config
    dev = str(model.device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    if model._opt_state is not None:
        opt.load_state_dict(model._opt_state)
    x_train, x_test = data.x_train.to(dev), data.x_test.to(dev)
    end = config.steps if until is None else min(int(until), config.steps)

    def step(s: int) -> dict:
        # the minibatch and the eps (and DAE noise) of step s depend on (seed, s) only: chunks match one run
        g = training.step_generator(config.seed, s, dev)
        x = x_train[torch.from_numpy(training.batch_index(len(x_train), config.batch_size, config.seed, s)).to(dev)]
        t = model.terms(x, g, model.corrupt(x, config.noise, g) if config.model == "dae" else None)
        loss = t["loss"].mean()
        if not torch.isfinite(loss):  # before the update: the model keeps its last finite weights
            bad = [k for k, v in t.items() if not torch.isfinite(v).all()]
            model.eval()
            raise TrainingDiverged(f"the loss is {loss.item()} (non-finite terms: {', '.join(bad)})", s, model)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if not all(torch.isfinite(p).all() for p in model.parameters()):
            model.eval()
            raise TrainingDiverged("the weights became NaN/inf after the update", s, model)
        return t

    model.train()
    training.loop(model, step, end=end, log_every=config.log_every, eval_every=config.eval_every,
                  evaluate=lambda: evaluate(model, x_test, seed=config.seed + 1), callback=callback)
    model._opt_state = opt.state_dict()
    model.eval()
    _fit_code_stats(model, x_train)
    return model


# ------------------------------------------------------------------------------- helpers for the page

@torch.no_grad()
def encode(model: VAEModel, x) -> tuple[np.ndarray, np.ndarray | None]:
    """Posterior means and log-variances of ``x`` as numpy (n, L) arrays (log-variances None for AE/DAE)."""
    mu, logvar = model.encode(_as_tensor(x, model.device))
    return mu.cpu().numpy(), None if logvar is None else logvar.cpu().numpy()


def latent_grid(n: int = 15, span: float = 3.0, spacing: str = "linear") -> np.ndarray:
    """The 1-D grid of one latent axis: ``linear`` in [-span, span], or ``quantile``: N(0,1) quantiles of
    evenly spaced probabilities (Kingma & Welling's figure 4), which follows the prior's mass."""
    _choice("spacing", spacing, ("linear", "quantile"))
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}.")
    if spacing == "linear":
        return np.linspace(-span, span, n)
    from scipy.stats import norm

    return norm.ppf(np.linspace(0.5 / n, 1 - 0.5 / n, n))


@torch.no_grad()
def decode_grid(model: VAEModel, n: int = 15, span: float = 3.0, dims=(0, 1), base=None,
                spacing: str = "linear", pad: int = 1):
    """Decode an n x n grid over the latent plane spanned by ``dims`` into one image mosaic.

    Other latent coordinates are held at ``base`` (default 0, the prior mean): a 2-D slice through
    the prior. Row 0 of the mosaic is the largest z[dims[1]] (so "up" is up), columns go with z[dims[0]].
    Returns (mosaic (n*(H+pad)-pad, n*(W+pad)-pad), axis values (n,)). Images only.
    """
    if len(model.shape) != 2:
        raise ValueError("decode_grid needs an image model (data 'mnist' or 'digits8').")
    L = model.config.latent_dim
    d0, d1 = int(dims[0]), int(dims[1])
    if L == 1:
        if d0 != 0:
            raise ValueError("A 1-D latent space has only dimension 0.")
    elif not (0 <= d0 < L and 0 <= d1 < L and d0 != d1):
        raise ValueError(f"dims must be two different latent dimensions in 0..{L - 1}, got {tuple(dims)}.")
    axis = latent_grid(n, span, spacing)
    z = torch.zeros(n * n, L) if base is None else torch.as_tensor(np.asarray(base, np.float32)).repeat(n * n, 1)
    for r in range(n):
        for c in range(n):
            z[r * n + c, d0] = axis[c]
            if L > 1:
                z[r * n + c, d1] = axis[n - 1 - r]
    imgs = model.decode_mean(z.to(model.device)).reshape((n * n,) + model.shape).cpu().numpy()
    return gmetrics.mosaic(imgs, n, pad), axis


@torch.no_grad()
def interpolate(model: VAEModel, x_a, x_b, steps: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Decode the straight line between the posterior means of ``x_a`` and ``x_b``.

    Returns (images (steps, *shape), latent path (steps, L)); the ends are the two reconstructions.
    """
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}.")
    mu, _ = model.encode(_as_tensor(np.stack([np.asarray(x_a), np.asarray(x_b)]), model.device))
    t = torch.linspace(0, 1, steps, device=mu.device)[:, None]
    z = (1 - t) * mu[0] + t * mu[1]
    imgs = model.decode_mean(z).reshape((steps,) + model.shape).cpu().numpy()
    return imgs, z.cpu().numpy()


def reparameterization(model: VAEModel, x, seed: int = 0) -> dict:
    """The reparameterization trick for one example ``x``: mu, sigma, eps, z = mu + sigma * eps.

    Also back-propagates this single-sample loss recon + beta * KL and returns its gradient with respect
    to mu and sigma (what reaches the encoder's weights phi through dz/dmu = 1 and dz/dsigma = eps),
    the decoded E[x|z] and the loss terms. All arrays are numpy (L,), the image (*shape).
    """
    if not model.is_vae:
        raise ValueError("The reparameterization trick belongs to the VAE (model='vae').")
    xt = _as_tensor(np.asarray(x)[None], model.device)
    g = runtime.torch_generator(seed, str(model.device))
    with torch.enable_grad():
        mu, logvar = model.encode(xt)
        mu = mu.detach().requires_grad_(True)
        sigma = torch.exp(0.5 * logvar).detach().requires_grad_(True)
        eps = torch.randn(mu.shape, generator=g, device=mu.device)
        z = mu + sigma * eps                                   # z = mu + sigma * eps
        out = model.decode(z)
        recon = model.recon_nll(out, xt)[0]
        kl = gaussian_kl(mu, 2 * torch.log(sigma))[0]
        loss = recon + model.config.beta * kl
        grad_mu, grad_sigma = torch.autograd.grad(loss, (mu, sigma))
    with torch.no_grad():
        x_hat = model.decode_mean(z.detach()).reshape(model.shape)
    f = lambda t: t.detach().reshape(-1).cpu().numpy()
    return {"mu": f(mu), "sigma": f(sigma), "eps": f(eps), "z": f(z), "x_hat": x_hat.cpu().numpy(),
            "recon": recon.item(), "kl": kl.item(), "loss": loss.item(),
            "grad_mu": f(grad_mu), "grad_sigma": f(grad_sigma)}


@torch.no_grad()
def posterior_grid(model: VAEModel, x, n: int = 81, span: float | None = None, center=None) -> dict:
    """The true posterior p_theta(z|x) and its Gaussian approximation q_phi(z|x) on an n x n grid (2-D latent).

    p_theta(z|x) is proportional to p_theta(x|z) p(z); it is normalised numerically on the grid (this is the
    integral the VAE avoids; it is affordable only because z is 2-D). The grid is centred on mu with half-width
    ``span`` (default 4 sigma, at least 0.5); ``center`` moves the grid's centre (e.g. (0, 0) with span 4 for
    the whole plane). Returns dict with "z0", "z1" (n,), "log_post" and "log_q" (n, n),
    "mu", "sigma", "log_px" = ln p_theta(x) = ln sum_grid p_theta(x|z) p(z) dz (the numerical integral),
    "kl_q_p" = KL(q || p(z|x)) on the grid (the ELBO's gap) and "elbo" = log_px - kl_q_p. The grid only
    covers q's neighbourhood, so log_px misses posterior mass far from mu (it is then slightly too low).
    """
    if not model.is_vae or model.config.latent_dim != 2:
        raise ValueError("posterior_grid needs a VAE with a 2-D latent space.")
    xt = _as_tensor(np.asarray(x)[None], model.device)
    mu, logvar = model.encode(xt)
    mu, sigma = mu[0], torch.exp(0.5 * logvar[0])
    half = torch.clamp(4 * sigma, min=0.5) if span is None else torch.full_like(sigma, float(span))
    c = mu if center is None else torch.as_tensor(np.asarray(center, np.float32), device=mu.device)
    a0 = torch.linspace(-1, 1, n, device=mu.device) * half[0] + c[0]
    a1 = torch.linspace(-1, 1, n, device=mu.device) * half[1] + c[1]
    zz = torch.stack(torch.meshgrid(a0, a1, indexing="xy"), -1).reshape(-1, 2)   # row i: z1 = a1[i]
    log_lik = torch.cat([-model.recon_nll(model.decode(zb), xt.expand(len(zb), -1)) for zb in zz.split(8192)])
    log_joint = log_lik - 0.5 * (LOG2PI + zz.pow(2)).sum(-1)                   # ln p(x|z) + ln p(z)
    cell = math.log(float((a0[1] - a0[0]) * (a1[1] - a1[0])))
    log_px = torch.logsumexp(log_joint, 0) + cell                               # ln p(x) = ln int p(x|z) p(z) dz
    log_post = log_joint - log_px                                              # Bayes: p(z|x) = p(x|z) p(z) / p(x)
    log_q = gaussian_log_density(zz, mu, 2 * torch.log(sigma))
    q = torch.softmax(log_q, 0)                                                # q's mass per cell on the grid
    kl = (q * (log_q - log_post)).sum().item()
    shape = (n, n)
    return {"z0": a0.cpu().numpy(), "z1": a1.cpu().numpy(), "log_post": log_post.reshape(shape).cpu().numpy(),
            "log_q": log_q.reshape(shape).cpu().numpy(), "mu": mu.cpu().numpy(), "sigma": sigma.cpu().numpy(),
            "log_px": log_px.item(), "kl_q_p": kl, "elbo": log_px.item() - kl}


def encode_sigma(model: VAEModel, x) -> tuple[np.ndarray, np.ndarray | None]:
    """Posterior means and standard deviations sigma = exp(logvar / 2) of ``x`` as numpy (n, L) arrays
    (sigma None for AE/DAE, which have no posterior spread)."""
    mu, logvar = encode(model, x)
    return mu, (None if logvar is None else np.exp(0.5 * logvar))


@torch.no_grad()
def per_image_gap(model: VAEModel, x: torch.Tensor, k: int = 50) -> np.ndarray:
    """ln p(x) (the IWAE estimate with K = ``k``, seed 1) minus the ELBO (analytic KL, reconstruction averaged
    over 10 eps draws of seed 2), per example of ``x``: the gap KL(q_phi(z|x) || p_theta(z|x)), small where the
    Gaussian q_phi fits the true posterior well and large where it fits badly. Returns (n,) numpy."""
    x = x.to(model.device)
    iw = iwae_log_prob(model, x, k=k, seed=1).cpu().numpy()
    mu, logvar = model.encode(x)
    g = torch.Generator(device=str(model.device)).manual_seed(2)
    rec = 0.0
    for _ in range(10):
        z = reparameterize(mu, logvar, torch.randn(mu.shape, generator=g, device=mu.device))
        rec = rec + model.recon_nll(model.decode(z), x) / 10
    elbo = -(rec + gaussian_kl(mu, logvar))
    return iw - elbo.cpu().numpy()


def iwae_curve(model: VAEModel, x: torch.Tensor, ks=(1, 2, 5, 10, 20, 50)) -> tuple[list, list, float]:
    """The IWAE bound's mean over ``x`` for each K in ``ks`` (seed 3), and the ELBO (10 eps draws, seed 4):
    ln p(x) >= IWAE_K >= ELBO, the bound tightening as K grows. Returns (ks, values, elbo)."""
    ks = list(ks)
    return ks, [iwae_log_prob(model, x, k=k, seed=3).mean().item() for k in ks], elbo_terms(model, x, seed=4, samples=10)["elbo"]


def denoising(dae: VAEModel, ae: VAEModel, x_test, noise: float, seed: int, n: int = 10) -> dict:
    """The denoising demo: ``n`` test images spread over ``x_test`` ((N, D) tensor), corrupted with Gaussian noise
    of std ``noise`` (drawn with ``seed``, clipped to [0, 1]) and reconstructed by the denoising and the plain
    autoencoder. Returns images (n, *shape) "x", "noisy", "dae", "ae" and the mean absolute errors against the
    clean images, "err" = {"noisy", "dae", "ae"}."""
    idx = np.arange(0, len(x_test), max(1, len(x_test) // n))[:n]
    x = x_test[idx].numpy().reshape((-1,) + tuple(dae.shape))
    g = torch.Generator().manual_seed(int(seed))
    noisy = np.clip(x + noise * torch.randn(x.shape, generator=g).numpy(), 0, 1)
    out = {"x": x, "noisy": noisy, "dae": dae.reconstruct(noisy), "ae": ae.reconstruct(noisy)}
    out["err"] = {k: float(np.abs(out[k] - x).mean()) for k in ("noisy", "dae", "ae")}
    return out


def interpolation(model: VAEModel, images: np.ndarray, labels, digit_a: int, digit_b: int, steps: int = 10):
    """The first test images of ``digit_a`` and ``digit_b`` (else images 0 and 1) with the decoded straight line
    between their posterior means in between: (strip (steps + 2, *shape), index a, index b)."""
    ia = int(np.flatnonzero(labels == digit_a)[0]) if (labels == digit_a).any() else 0
    ib = int(np.flatnonzero(labels == digit_b)[0]) if (labels == digit_b).any() else 1
    imgs, _ = interpolate(model, images[ia], images[ib], steps)
    return np.concatenate([images[ia][None], imgs, images[ib][None]]), ia, ib


def reparam_rows(r: dict, n: int = 8) -> list[dict]:
    """The first ``n`` latent dimensions of :func:`reparameterization`'s result as table rows."""
    return [{"dim": f"z{j + 1}", "mu": r["mu"][j], "sigma": r["sigma"][j], "eps": r["eps"][j],
             "z = mu + sigma*eps": r["z"][j], "dL/dmu": r["grad_mu"][j], "dL/dsigma": r["grad_sigma"][j]}
            for j in range(min(len(r["mu"]), n))]


def beta_table(models: list[VAEModel]) -> list[dict]:
    """The final train/test terms of trained VAEs as their training recorded them (no recomputation): one row
    {label, train_recon, recon, kl, elbo, iwae50} per model; iwae50 from the checkpoint's meta, else None."""
    rows = []
    for m in models:
        h = m.history_[-1]
        rows.append({"label": f"beta = {m.config.beta:g}", "train_recon": h["train/recon"], "recon": h["test/recon"],
                     "kl": h["test/kl"], "elbo": h["test/elbo"], "iwae50": getattr(m, "meta", {}).get("test/iwae50")})
    return rows


def with_last_test(callback):
    """Wrap a training ``callback(step, metrics)`` so that every call also carries the last test terms
    (``test/...`` arrive only every ``eval_every`` steps): a live chart then draws them as a continuous line."""
    last: dict = {}

    def call(step, metrics):
        last.update({k: v for k, v in metrics.items() if k.startswith("test/")})
        return callback(step, {**metrics, **last})

    return call


# ------------------------------------------------------------------------------------------ checkpoints

def save(model: VAEModel, path, meta: dict | None = None):
    """Save weights (safetensors) and config + training history (JSON) via core.checkpoints."""
    meta = dict(meta or {})
    meta.setdefault("step", model.step_)
    meta.setdefault("history", model.history_)
    meta.setdefault("train_seconds", round(model.train_seconds_, 2))
    meta["dim"], meta["shape"] = model.dim, list(model.shape)
    tensors = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return checkpoints.save(path, tensors, model.config, FAMILY, meta)


def load(path, device: str | None = None) -> VAEModel:
    """Load a checkpoint saved by :func:`save`; raises CheckpointError if it is missing or corrupt."""
    tensors, record = checkpoints.load(path, family=FAMILY)
    config = checkpoints.config_from(record, VAEConfig.from_dict, path)
    meta = record.get("meta", {})
    try:
        model = VAEModel(config, int(meta["dim"]), tuple(int(d) for d in meta["shape"]))
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        raise checkpoints.CheckpointError(f"Checkpoint {checkpoints._label(path)} does not rebuild a VAE: {e}",
                                          path) from e
    checkpoints.load_weights(model, tensors, path, what="VAE")
    model.step_ = int(meta.get("step", 0))
    model.history_ = list(meta.get("history", []))
    model.train_seconds_ = float(meta.get("train_seconds", 0.0))
    model.meta = meta
    model.eval()
    return model.to(device or runtime.pick_device())


def load_shipped(name: str, device: str | None = None) -> VAEModel:
    """Load the shipped checkpoint ``name`` (see :data:`SHIPPED`)."""
    return load(checkpoints.shipped(name), device)


#: The VAEs a page may choose by beta (the link's value -> the shipped checkpoint), and the configs their CLI
#: commands used (they set only beta), to retrain one whose checkpoint is missing.
SHIPPED_VAES = {"beta1": "vae_mnist_z2_beta1", "beta0_25": "vae_mnist_z2_beta0_25", "beta4": "vae_mnist_z2_beta4"}
SHIPPED_CONFIGS = {"beta1": VAEConfig(), "beta0_25": VAEConfig(beta=0.25), "beta4": VAEConfig(beta=4.0)}
BETA_ORDER = ("beta0_25", "beta1", "beta4")  # smallest beta first, as the beta view shows them


# -------------------------------------------------------------------------------------- the checkpoint

def checkpoint_meta(model: VAEModel, k: int = 50) -> dict:
    """What a shipped checkpoint records besides its history (``python -m core train vae`` adds it): for a VAE the
    importance-weighted estimate of the test log-likelihood, ``test/iwae50``, which the page shows beside the
    ELBO."""
    if not model.is_vae:
        return {}
    data = load_data(model.config)
    return {f"test/iwae{k}": round(float(model.log_prob(data.x_test, k=k, seed=model.config.seed).mean()), 4)}
