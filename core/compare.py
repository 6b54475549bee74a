"""The four families side by side: a GAN, a VAE, a flow and a diffusion model on the same 2-D points.

The lecture's "different model types" slide, measured. One data set is split once (the same training and test
points for everyone); each family's own core module trains its own model on the training points for the same
budget of seconds (or, to reproduce a run exactly, for given numbers of steps); then every model is judged by
the same measures against the same held-out points:

- what it can do: sample; exact log-likelihood (flow); a bound on it (VAE: IWAE, Burda et al. 2016;
  diffusion: the variational bound of Ho et al. 2020, :func:`core.diffusion.nll_bound`); none (GAN);
- test NLL in nats per point (lower is better; for the bounds an upper bound on the model's true NLL),
  beside scikit-learn's KDE (bandwidth by cross-validation) on the same split;
- sample quality against the held-out points (:mod:`core.metrics`): MMD^2 (Gaussian kernel, one bandwidth for
  every row: a quarter of the median pairwise distance of the training and test points, see :func:`mmd_bandwidth`),
  sliced Wasserstein-1 (256 directions),
  k-NN precision and recall (k = 3), and mode coverage on the Gaussian-mixture sets;
- cost: training seconds and steps, sampling seconds per 1,000 points, parameters trained.

Two reference rows frame the numbers: KDE (a classical density estimator that also samples) and real training
points (the floor every sample measure would reach for a perfect model, given the finite test set).

Clock. A family's training seconds are the wall-clock time inside its ``train`` call, its own logging and
evaluation included, minus the time spent in this module's callback (the curve evaluations and the page's
progress drawing). The budget is enforced through the callback, which asks training to stop once the budget is
spent, so a family may overrun by one callback interval (about 0.1-0.4 s; the table shows the measured time).
Every family runs on the process's torch threads (the CLI sets ``threads``, 1 by default: 2-D models are tiny).

Determinism. With a budget in seconds, the number of steps reached depends on the machine and its load, so two
runs differ. Every result records the steps each family reached; ``CompareConfig(steps=...)`` with those steps
trains exactly that many and, on the same CPU and thread count, reproduces the models and the table's
quality columns bit for bit (timings aside).

CLI (the shipped results in ``checkpoints/compare_*.json`` are made with it; the command is stored in them)::

    python -m core compare --data moons --budget 10 --out checkpoints/compare_moons.json
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import data as gdata
from core import families, metrics, runtime
from core.training import Config
from core.training import check_choice as _choice

FAMILIES = ("gan", "vae", "flow", "diffusion")
LABELS = {"gan": "GAN", "vae": "VAE", "flow": "Flow", "diffusion": "Diffusion"}
CAPABILITIES = {
    "gan": "sample only (implicit density: no likelihood)",
    "vae": "sample; lower bound on ln p (IWAE)",
    "flow": "sample; exact ln p",
    "diffusion": "sample; lower bound on ln p (ELBO)",
}
# what each family's test NLL is, as core/families.py declares its likelihood ("none": no NLL column)
NLL_KIND = {f: (None if families.get(f).likelihood == "none" else families.get(f).likelihood) for f in FAMILIES}
TOY_SETS = tuple(gdata.TOY_SETS)
FORMAT = 1  # version of the result dict (to_dict / from_dict)


@dataclass(frozen=True)
class CompareConfig(Config):
    data: str = "moons"                   # a core.data toy set, or "custom" (points passed to compare())
    budget: float = 10.0                  # training seconds per family (ignored when ``steps`` is given)
    steps: tuple[int, ...] = ()           # () or one step count per family (in FAMILIES order): train exactly that many
    seed: int = 0                         # seed of every model's weights, minibatches and samples
    n_points: int = 4000                  # points drawn from a toy set
    test_size: float = 0.25               # share held out (the same test points for every family)
    data_seed: int = 0                    # seed of the toy draw and of the split
    n_samples: int = 1000                 # samples per family for the measures (capped at the test set's size)
    curve_points: int = 10                # evaluations along training (sliced Wasserstein of curve_samples samples)
    curve_samples: int = 400
    iwae_k: int = 100                     # importance samples of the VAE's bound
    bound_timesteps: int = 0              # diffusion bound: 0 sums all T terms; K > 0 a stratified estimate from K
    threads: int = 1                      # torch threads the CLI runs with (a server keeps its own policy)

    def __post_init__(self):
        _choice("data", self.data, TOY_SETS + ("custom",))
        object.__setattr__(self, "steps", tuple(int(s) for s in self.steps))
        if self.steps and (len(self.steps) != len(FAMILIES) or min(self.steps) < 1):
            raise ValueError(f"steps must be empty or {len(FAMILIES)} positive step counts ({', '.join(FAMILIES)}), "
                             f"got {self.steps}.")
        if not (math.isfinite(self.budget) and self.budget > 0):
            raise ValueError(f"budget must be a positive number of seconds, got {self.budget}.")
        if not 0 < self.test_size < 1 or self.n_points < 20:
            raise ValueError("test_size must lie in (0, 1) and n_points be >= 20.")
        if min(self.n_samples, self.curve_points, self.curve_samples, self.iwae_k) < 1 or self.bound_timesteps < 0 \
                or self.threads < 0:
            raise ValueError("n_samples, curve_points, curve_samples and iwae_k must be >= 1, bound_timesteps and "
                             "threads >= 0.")


# ------------------------------------------------------------------------------------------------ data

@dataclass
class Split:
    """The one train/test split every family sees: float32 (n, 2) points and their labels (mixture component)."""

    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    name: str
    note: str = ""                        # e.g. how user points were rescaled


#: At most this many user points enter a comparison (a random subset beyond): with more, measuring (KDE,
#: MMD, precision/recall) grew past the page's stated cost (20,000 points took 140 s at a 2 s budget).
MAX_POINTS = 4000


def make_split(config: CompareConfig, points=None) -> Split:
    """Draw the toy set (or take the user's ``points``) and split it with ``config.data_seed``.

    User points must be finite (n >= 20, 2) arrays; if they reach beyond |x| = 3.5 they are scaled into
    [-3, 3]^2 (the diffusion sampler clips at 4 and the GAN draws in a box of about 3), and ``note`` says so."""
    note = ""
    if config.data == "custom":
        if points is None:
            raise ValueError("data 'custom' needs the points: compare(config, points=...).")
        X = np.asarray(points, np.float32)
        if X.ndim != 2 or X.shape[1] != 2 or len(X) < 20 or not np.isfinite(X).all():
            raise ValueError(f"Need at least 20 finite 2-D points of shape (n, 2), got {X.shape}.")
        gdata.check_spread(X, "a density model")  # one spot (KDE: "bandwidth must be positive") or one line
        if len(X) > MAX_POINTS:  # the measuring cost grows with the points: keep the stated cost true
            keep = np.sort(np.random.default_rng(config.data_seed).choice(len(X), MAX_POINTS, replace=False))
            X = X[keep]
            note = f"A random {MAX_POINTS:,} of your {len(points):,} points were used (the comparison's bound). "
        reach = float(np.abs(X).max())
        if reach > 3.5:
            X = X * np.float32(3.0 / reach)
            note += f"Your points were scaled by 3/{reach:.3g} to fit [-3, 3]^2 (NLLs are in the scaled units)."
        y = np.zeros(len(X), np.int64)
        Xtr, Xte, ytr, yte = gdata.split(X, y, test_size=config.test_size, seed=config.data_seed, stratify=False)
    else:
        X, y = gdata.toy(config.data, config.n_points, seed=config.data_seed)
        Xtr, Xte, ytr, yte = gdata.split(X, y, test_size=config.test_size, seed=config.data_seed)
    f = lambda a: np.ascontiguousarray(a, np.float32)
    return Split(f(Xtr), f(Xte), np.asarray(ytr, np.int64), np.asarray(yte, np.int64), config.data, note)


# ------------------------------------------------------------------------------------ the four families

@dataclass(frozen=True)
class Setup:
    """How one family is set up for 2-D points here: the comparison's design, not the family's defaults. Every
    family is then driven through the same protocol (core/families.py): ``points_data``, ``train``, ``sample``,
    ``log_prob``."""

    config: dict                                # the config's fields besides data, steps and seed (below)
    loss: tuple[str, str]                       # the metric the training curves show, and its label
    toy_data: bool = True                       # the config names a toy set (custom points pass a 2-D stand-in)
    data_seed: bool = True                      # the config has a data_seed
    sample: dict = field(default_factory=dict)  # keywords of model.sample (diffusion: the fast sampler)
    log_prob: tuple = ()                        # keywords of model.log_prob taken from the CompareConfig
    nets: tuple = ()                            # the model's trained networks, by attribute (default: the model)


SETUPS = {
    # frequent callbacks so the budget stops each on time, and the in-loop evaluations kept light
    "gan": Setup({"log_every": 25, "n_eval": 500, "snapshot_every": 10**8}, ("train/g_loss", "generator loss -ln D(G(z))"),
                 toy_data=False, data_seed=False, nets=("G", "D")),
    "vae": Setup({"likelihood": "gaussian", "latent_dim": 2, "log_every": 25, "eval_every": 10**8},
                 ("train/loss", "-ELBO per point (nats)"), log_prob=(("k", "iwae_k"),)),
    "flow": Setup({"eval_every": 20}, ("train/batch_nll", "NLL per point (nats, exact)"), toy_data=False,
                  data_seed=False),
    "diffusion": Setup({"log_every": 25, "eval_every": 10**8, "eval_samples": 0},
                       ("train/loss", "noise-prediction MSE (Algorithm 1)"), sample={"sampler": "ddim", "steps": 50},
                       log_prob=(("timesteps", "bound_timesteps"),), nets=("net",)),
}


def family_config(family: str, config: CompareConfig, steps: int | None = None):
    """The config ``family`` trains with here: its :data:`SETUPS` fields, the comparison's seed (and data seed) and a
    step limit (``steps``, or practically unlimited when the budget in seconds decides)."""
    _choice("family", family, FAMILIES)
    setup = SETUPS[family]
    toy = config.data if config.data in TOY_SETS else "moons"  # custom points are passed in; the name only picks 2-D defaults
    fields = {**setup.config, "steps": int(steps) if steps else 10**8, "seed": config.seed}
    if setup.toy_data:
        fields["data"] = toy
    elif family == "gan":
        fields["data"] = config.data
    if setup.data_seed:
        fields["data_seed"] = config.data_seed
    return families.get(family).config_class()(**fields)


class _Family:
    """One family's model on the comparison's split, through the family protocol."""

    def __init__(self, family: str, config: CompareConfig, split: Split, device: str, steps: int | None):
        self.family, self.setup, self.cfg = family, SETUPS[family], family_config(family, config, steps)
        self.mod = families.get(family).load()
        self.data = self.mod.points_data(split.x_train, split.x_test, split.y_train, split.y_test, split.name)
        self.model = self.mod.train(self.cfg, self.data, until=0, device=device)  # built, not trained yet
        self.loss_key, self.loss_label = self.setup.loss

    def train(self, callback) -> None:
        self.model = self.mod.train(self.cfg, self.data, callback, model=self.model)

    @property
    def step(self) -> int:
        return int(self.model.step_)

    def sample(self, n: int, seed: int) -> np.ndarray:
        return np.asarray(self.model.sample(n, seed=seed, **self.setup.sample), np.float32).reshape(n, 2)

    def test_nll(self, x_test: np.ndarray, config: CompareConfig, seed: int) -> tuple[float | None, float | None]:
        """Mean -log_prob over the test points, nats per point: exact (flow), -IWAE (VAE), the ELBO bound
        (diffusion); and for the Monte Carlo estimates (the bounds) their standard error (std / sqrt(n))."""
        if NLL_KIND[self.family] is None:
            return None, None
        kw = {name: getattr(config, field) for name, field in self.setup.log_prob}
        v = -np.asarray(self.model.log_prob(x_test, seed=seed, **kw) if kw else self.model.log_prob(x_test), np.float64)
        if NLL_KIND[self.family] == "exact":
            return float(v.mean()), None
        return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else None

    def parameters(self) -> int:
        """Trained parameters: G + D for the GAN, encoder + decoder for the VAE, the flow, eps_theta (not its EMA copy)."""
        nets = [getattr(self.model, a) for a in self.setup.nets] or [self.model]
        return int(sum(p.numel() for net in nets for p in net.parameters()))


class _Clock:
    """One family's training under the comparison's clock: the curve of held-out sliced Wasserstein points it
    takes along the way (at ``curve_points`` marks of the steps or the seconds), the time its callbacks and curve
    points take kept out of its training seconds, and the budget that stops it."""

    def __init__(self, fam: _Family, config: CompareConfig, split: Split, curve: list, steps: int | None, report):
        self.fam, self.config, self.split, self.curve, self.steps, self.report = fam, config, split, curve, steps, report
        self.marks = np.linspace(0, steps or config.budget, config.curve_points + 1)[1:]
        self.excluded, self.last_loss = 0.0, None
        self.evaluate(0.0, 0)
        self.start = time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self.start - self.excluded

    def evaluate(self, seconds: float, step: int) -> None:
        S = self.fam.sample(self.config.curve_samples, self.config.seed + 2)
        swd = metrics.sliced_wasserstein(self.split.x_test, S, n_projections=64) if np.isfinite(S).all() else None
        self.curve.append({"seconds": round(seconds, 3), "step": int(step), "swd": swd, "loss": self.last_loss})

    def callback(self, step: int, m: dict):
        t_in = time.perf_counter()
        seconds = t_in - self.start - self.excluded
        loss = m.get(self.fam.loss_key)
        if loss is not None and math.isfinite(float(loss)):
            self.last_loss = float(loss)
        j = len(self.curve) - 1  # curve points taken so far after the start
        done_by_time = not self.steps and seconds >= self.config.budget
        if j < len(self.marks) and ((step if self.steps else seconds) >= self.marks[j] or done_by_time):
            self.evaluate(seconds, step)
        frac = min(1.0, step / self.steps) if self.steps else min(1.0, seconds / self.config.budget)
        stop = self.report(frac, seconds, step)
        self.excluded += time.perf_counter() - t_in
        return "stop" if (done_by_time or stop) else None


def _warm_up() -> None:
    """Pay one-time imports before any clock starts (the first Adam of a process imports torch._dynamo: ~2 s)."""
    import torch

    p = torch.zeros(1, requires_grad=True)
    for kw in ({"fused": True}, {}):
        try:
            torch.optim.Adam([p], lr=1e-3, **kw).step()
        except (RuntimeError, TypeError):
            pass


# --------------------------------------------------------------------------------------------- measures

def mmd_bandwidth(split: Split) -> float:
    """The MMD kernel's bandwidth for every row: the median heuristic on the pooled training and test points,
    divided by 4. The plain median measures the data's whole extent (about 2.8 on the ring of 8), where every
    Gaussian kernel sees one blob and all models score about 0; a quarter of it (0.7 there, half the distance
    between neighbouring modes) is the scale of the data's structure."""
    return metrics.median_bandwidth(split.x_train, split.x_test) / 4

def sample_measures(samples: np.ndarray, split: Split, bandwidth: float, seed: int = 0) -> dict:
    """MMD^2 (fixed ``bandwidth``), sliced Wasserstein, precision and recall against the test points, and mode
    coverage (modes captured, share of high-quality samples) on the Gaussian-mixture sets."""
    S = np.asarray(samples, np.float64)
    out = {"mmd2": None, "swd": None, "precision": None, "recall": None, "modes": None, "n_modes": None, "hq": None}
    if not np.isfinite(S).all():
        return {**out, "finite": False}
    out["mmd2"] = metrics.mmd2(split.x_test, S, bandwidth)[0]
    out["swd"] = metrics.sliced_wasserstein(split.x_test, S, seed=seed)
    out["precision"], out["recall"] = metrics.precision_recall(split.x_test, S)
    modes = gdata.mixture_modes(split.name)
    if modes is not None:
        cov = metrics.mode_coverage(S, *modes)
        out.update(modes=cov.captured, n_modes=cov.n_modes, hq=cov.high_quality)
    return {**out, "finite": True}


def _timed_sample(fam: _Family, n: int, seed: int, repeats: int = 3) -> float:
    """Best of ``repeats`` wall-clock times to draw ``n`` samples, in seconds (after one warm-up draw)."""
    fam.sample(min(n, 10), seed)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fam.sample(n, seed)
        best = min(best, time.perf_counter() - t0)
    return best


# -------------------------------------------------------------------------------------------- the result

@dataclass
class CompareResult:
    """Everything the page and the bench show; plain numbers and lists, so it round-trips through JSON."""

    config: CompareConfig
    rows: list                                  # one dict per family (FAMILIES order), see compare()
    references: list                            # KDE and the training points, same columns
    curves: dict                                # family -> list of {seconds, step, swd, loss}
    samples: dict                               # family -> (n, 2) float32 samples (also "kde")
    test: np.ndarray                            # the held-out points
    bandwidth: float                            # the MMD kernel's bandwidth
    loss_labels: dict                           # family -> what its own training loss is
    note: str = ""
    meta: dict = field(default_factory=dict)    # torch version, threads, device, wall seconds, command

    @property
    def steps(self) -> tuple:
        """The steps each family reached: ``CompareConfig(steps=result.steps)`` reproduces the models."""
        return tuple(int(r["steps"]) for r in self.rows)

    def row(self, family: str) -> dict:
        return next(r for r in self.rows if r["family"] == family)

    def to_dict(self, digits: int = 4) -> dict:
        rnd = lambda a: np.round(np.asarray(a, np.float64), digits).tolist()
        return {"format": FORMAT, "config": dataclasses.asdict(self.config), "rows": self.rows,
                "references": self.references, "curves": self.curves,
                "samples": {k: rnd(v) for k, v in self.samples.items()}, "test": rnd(self.test),
                "bandwidth": self.bandwidth, "loss_labels": self.loss_labels, "note": self.note, "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict) -> CompareResult:
        if d.get("format") != FORMAT:
            raise ValueError(f"Unknown comparison format {d.get('format')!r} (this GenLab reads {FORMAT}).")
        arr = lambda a: np.asarray(a, np.float32).reshape(-1, 2)
        return cls(CompareConfig.from_dict(d["config"]), list(d["rows"]), list(d["references"]),
                   {k: list(v) for k, v in d["curves"].items()}, {k: arr(v) for k, v in d["samples"].items()},
                   arr(d["test"]), float(d["bandwidth"]), dict(d["loss_labels"]), d.get("note", ""),
                   dict(d.get("meta", {})))

    def save(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), separators=(",", ":")))
        return path

    @classmethod
    def load(cls, path) -> CompareResult:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError, KeyError, TypeError) as e:
            from core.checkpoints import CheckpointError

            raise CheckpointError(f"{path} does not hold a comparison result: {e}", path) from e


# ------------------------------------------------------------------------------------------- comparison

def compare(config: CompareConfig = CompareConfig(), points=None, progress=None, device: str | None = None,
            families: tuple = FAMILIES) -> CompareResult:
    """Train every family on the same split for the same budget and measure them alike (see the module doc).

    - ``points``: the user's (n, 2) points when ``config.data == "custom"``.
    - ``progress(event)``: called during training and evaluation with a dict ``{"family", "phase" ("train" or
      "evaluate", then "references" and "done" with family None), "fraction" (of the whole comparison, 0..1), "seconds", "step", "curves"}``; its time is not
      counted as training time. Returning True or "stop" ends the current family's training early.
    - ``families``: a subset of FAMILIES to run (the others are left out of the result).

    Rows (nats per point; None where a family has no such number): ``family``, ``label``, ``capability``,
    ``nll`` and ``nll_kind`` ("exact", "bound" or None), ``nll_se`` (the Monte Carlo standard error of a bound), ``mmd2``, ``swd``, ``precision``, ``recall``, ``modes``,
    ``n_modes``, ``hq``, ``steps``, ``train_seconds``, ``sample_seconds_per_1000``, ``params``, ``diverged``.
    A family whose training diverges keeps its row, with ``diverged`` saying why and its model as it was.
    """
    import torch

    from core.training import TrainingDiverged

    for f in families:
        _choice("family", f, FAMILIES)
    families = tuple(f for f in FAMILIES if f in families)
    device = device or runtime.pick_device()
    split = make_split(config, points)
    n_eval = min(config.n_samples, len(split.x_test))
    bandwidth = mmd_bandwidth(split)
    wall0 = time.perf_counter()
    curves, rows, samples, labels = {}, [], {}, {}
    total = len(families) + 1  # the last share of the progress bar: evaluation

    def report(event) -> bool:
        if progress is None:
            return False
        r = progress(event)
        return r is True or r == "stop"

    _warm_up()
    for i, fam_name in enumerate(families):
        steps = config.steps[FAMILIES.index(fam_name)] if config.steps else None
        fam = _Family(fam_name, config, split, device, steps)
        labels[fam_name] = fam.loss_label
        run = _Clock(fam, config, split, curves.setdefault(fam_name, []), steps,
                     lambda frac, seconds, step, i=i, name=fam_name: report({"family": name, "phase": "train",
                                                               "fraction": (i + frac) / total, "seconds": seconds,
                                                               "step": step, "curves": curves}))
        diverged = None
        try:
            fam.train(run.callback)
        except TrainingDiverged as e:
            diverged = str(e)
            if getattr(e, "model", None) is not None:
                fam.model = e.model
        train_seconds = run.seconds()
        if not run.curve or run.curve[-1]["step"] != fam.step:
            run.evaluate(train_seconds, fam.step)
        report({"family": fam_name, "phase": "evaluate", "fraction": (i + 1) / total, "seconds": train_seconds,
                "step": fam.step, "curves": curves})
        # -- the table row (not timed as training)
        fam.model.eval() if hasattr(fam.model, "eval") else None
        with torch.no_grad():
            S = fam.sample(n_eval, config.seed + 1)
        samples[fam_name] = S
        nll = nll_se = None
        if diverged is None or np.isfinite(S).all():
            try:
                nll, nll_se = fam.test_nll(split.x_test, config, config.seed + 3)
            except (ValueError, RuntimeError):
                nll = None
            nll = nll if nll is not None and math.isfinite(nll) else None
        rows.append({"family": fam_name, "label": LABELS[fam_name], "capability": CAPABILITIES[fam_name],
                     "nll": nll, "nll_kind": NLL_KIND[fam_name], "nll_se": nll_se if nll is not None else None,
                     **sample_measures(S, split, bandwidth, seed=config.seed),
                     "steps": fam.step, "train_seconds": round(train_seconds, 3),
                     "sample_seconds_per_1000": _timed_sample(fam, 1000, config.seed + 4),
                     "params": fam.parameters(), "diverged": diverged})
        del fam
    report({"family": None, "phase": "references", "fraction": len(families) / total + 0.5 / total,
            "seconds": 0.0, "step": 0, "curves": curves})
    refs = _references(split, n_eval, bandwidth, config.seed)
    samples["kde"] = refs.pop("_kde_samples")
    report({"family": None, "phase": "done", "fraction": 1.0, "seconds": 0.0, "step": 0, "curves": curves})
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "device": device,
            "wall_seconds": round(time.perf_counter() - wall0, 1), "n_train": len(split.x_train),
            "n_test": len(split.x_test)}
    return CompareResult(config, rows, refs["rows"], curves, samples, split.x_test, bandwidth, labels, split.note, meta)


def _references(split: Split, n: int, bandwidth: float, seed: int) -> dict:
    """The KDE row (its test NLL and its own samples) and the training-points row (the measures' floor)."""
    t0 = time.perf_counter()
    kde = metrics.kde_reference(split.x_train, split.x_test, seed=seed)
    fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    S_kde = kde.estimator.sample(1000, random_state=seed + 1).astype(np.float32)
    per_1000 = time.perf_counter() - t0
    S_kde = S_kde[:n] if n <= 1000 else kde.estimator.sample(n, random_state=seed + 1).astype(np.float32)
    rng = np.random.default_rng(seed + 5)
    real = split.x_train[rng.choice(len(split.x_train), min(n, len(split.x_train)), replace=False)]
    rows = [
        {"family": "kde", "label": f"KDE (reference, bandwidth {kde.bandwidth:.3g})",
         "capability": "sample; exact ln p (scikit-learn KernelDensity)", "nll": kde.test_nll, "nll_kind": "exact",
         **sample_measures(S_kde, split, bandwidth, seed=seed), "steps": None, "train_seconds": round(fit, 3),
         "sample_seconds_per_1000": per_1000, "params": int(kde.estimator.tree_.data.size), "diverged": None},
        {"family": "train", "label": "Training points (the floor)", "capability": "real data, not a model",
         "nll": None, "nll_kind": None, **sample_measures(real, split, bandwidth, seed=seed), "steps": None,
         "train_seconds": None, "sample_seconds_per_1000": None, "params": None, "diverged": None},
    ]
    return {"rows": rows, "_kde_samples": S_kde}


# ----------------------------------------------------------------------------------------- the reading

#: column -> (label, True if larger is better)
COLUMNS = {
    "nll": ("test NLL", False), "mmd2": ("MMD^2", False), "swd": ("sliced Wasserstein", False),
    "precision": ("precision", True), "recall": ("recall", True), "modes": ("modes captured", True),
    "train_seconds": ("training seconds", False), "sample_seconds_per_1000": ("sampling time", False),
    "params": ("parameters", False),
}


def winners(result: CompareResult, column: str, rel_tie: float = 0.05) -> tuple[list[str], list[tuple[str, float]]]:
    """The families that win ``column`` (all those within ``rel_tie`` of the best, relative to the spread of the
    values, count as tied) and every (family, value) ranked best first. Families without a value are left out."""
    _, larger = COLUMNS[column]
    vals = [(r["family"], float(r[column])) for r in result.rows if r.get(column) is not None and not r["diverged"]]
    vals = [(f, v) for f, v in vals if math.isfinite(v)]
    if not vals:
        return [], []
    ranked = sorted(vals, key=lambda fv: -fv[1] if larger else fv[1])
    best = ranked[0][1]
    scale = max(abs(best), max(v for _, v in vals) - min(v for _, v in vals), 1e-12)
    tied = [f for f, v in ranked if abs(v - best) <= rel_tie * scale]
    return tied, ranked


def _names(fams) -> str:
    names = [LABELS.get(f, f) for f in fams]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


_THE = {"gan": "the GAN", "vae": "the VAE", "flow": "the flow", "diffusion": "the diffusion model"}


def _the(f: str, cap: bool = False) -> str:
    s = _THE.get(f, f)
    return s[0].upper() + s[1:] if cap else s


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def mmd_text(v: float | None, spec: str = ".2e") -> str:
    """MMD^2 as shown: the unbiased estimator scatters around 0 for a model as good as the test set can tell, and
    can come out below 0 (-2.9e-04 for KDE on the moons); a negative value is "about 0", not a distance."""
    if v is None:
        return "—"
    return "≈ 0 (within noise)" if v < 0 else format(v, spec)


#: What a model draws when it finds where a mixture's modes lie but not the modes themselves, by data set.
_CONTINUOUS = {"ring8": "a continuous ring: it finds the circle but not the {n} modes",
               "grid25": "a continuous blur over the square: it finds where the grid is but not its {n} modes"}


def _samples_sentence(f: str, r: dict, data: str) -> str | None:
    """One sentence on where a family's samples lie, chosen by its numbers (precision, recall, mode coverage), so
    the words follow what the panels show: a VAE at precision 0.02 fills the box, it is not "broad but blurry"."""
    p, rc = r["precision"], r["recall"]
    n, m, hq = r.get("n_modes"), r.get("modes"), r.get("hq")
    if p < 0.1:
        return (f"{_the(f, True)} spreads its samples over the whole box: only {p:.0%} of them land near the data "
                f"(precision {p:.2f})" + (f", so its recall of {rc:.2f} says little: samples everywhere cover "
                                          "everything." if rc >= 0.5 else "."))
    if n and m is not None and hq is not None and hq < 0.5:
        if m <= n // 4:
            shape = _CONTINUOUS.get(data, "a continuous smear: it finds where the data lie but not the {n} modes")
            return (f"{_the(f, True)} draws {shape.format(n=n)} ({m}/{n} captured: only {hq:.0%} of its samples lie "
                    "within 3 standard deviations of a mode).")
        return (f"{_the(f, True)} finds {m} of the {n} modes but puts {1 - hq:.0%} of its samples between them "
                f"(precision {p:.2f}).")
    if p >= 0.8 and rc < 0.6:
        return (f"{_the(f, True)} is sharp but narrow: precision {p:.2f}, recall {rc:.2f}; its samples sit on the "
                "data but miss parts of it.")
    if p < 0.6 and rc >= 0.8:
        return (f"{_the(f, True)} is broad but blurry: recall {rc:.2f}, precision {p:.2f}; it covers the data but "
                "puts many samples between its parts.")
    return None


def reading(result: CompareResult) -> list[str]:
    """A short reading of the table, one sentence per finding, computed from its numbers (never canned)."""
    rows = {r["family"]: r for r in result.rows}
    refs = {r["family"]: r for r in result.references}
    cfg = result.config
    out = []
    for f, r in rows.items():
        if r["diverged"]:
            out.append(f"{_the(f, True)} diverged ({r['diverged']}); its numbers are left out of the comparison.")
    # sample quality
    tied, ranked = winners(result, "swd")
    if ranked:
        floor = refs.get("train", {}).get("swd")
        line = (f"Closest samples to the held-out points by sliced Wasserstein distance: **{_names(tied)}** "
                f"({_fmt(ranked[0][1])}), then " + ", ".join(f"{LABELS[f]} {_fmt(v)}" for f, v in ranked[len(tied):])
                if len(ranked) > len(tied) else
                f"By sliced Wasserstein distance all families tie at about {_fmt(ranked[0][1])}")
        if floor is not None:
            ratio = ranked[0][1] / max(floor, 1e-12)
            line += (f"; real training points score {_fmt(floor)}, so the best model is "
                     + (f"{ratio:.1f}x the floor" if ratio > 1.2 else "at the floor of what the test set can tell"))
        out.append(line.rstrip(".") + ".")
        mt, mr = winners(result, "mmd2")
        if mr:
            agree = set(mt) & set(tied)
            out.append(f"MMD^2 (kernel width {result.bandwidth:.2f}) " +
                       (f"agrees: **{_names(mt)}** lowest ({mmd_text(mr[0][1])})." if agree else
                        f"ranks differently: **{_names(mt)}** lowest ({mmd_text(mr[0][1])}); the two distances weigh "
                        f"errors differently (MMD local density, SWD mass moved)."))
    # precision / recall
    pt, pr = winners(result, "precision")
    rt, rr = winners(result, "recall")
    if pr and rr:
        out.append(f"Highest precision (samples that land on the data): **{_names(pt)}** ({pr[0][1]:.2f}); "
                   f"highest recall (data covered by samples): **{_names(rt)}** ({rr[0][1]:.2f}).")
        for f, r in rows.items():
            if r["diverged"] or r["precision"] is None or r["recall"] is None:
                continue
            line = _samples_sentence(f, r, cfg.data)
            if line:
                out.append(line)
    # modes
    mode_rows = [(f, r) for f, r in rows.items() if r.get("modes") is not None and not r["diverged"]]
    if mode_rows:
        n = mode_rows[0][1]["n_modes"]
        full = [f for f, r in mode_rows if r["modes"] == n]
        miss = [f"{LABELS[f]} {r['modes']}" for f, r in mode_rows if r["modes"] < n]
        out.append((f"All {n} modes found by **{_names(full)}**" if full else f"No family found all {n} modes")
                   + (f"; fewer by {', '.join(miss)}." if miss else "."))
    # likelihood: bounds against exact values
    lik = [(f, r["nll"], r["nll_kind"]) for f, r in rows.items() if r["nll"] is not None and not r["diverged"]]
    if lik:
        best_f, best_v, best_k = min(lik, key=lambda x: x[1])
        parts = ", ".join(f"{LABELS[f]} {v:.2f} ({'exact' if k == 'exact' else 'bound'})" for f, v, k in
                          sorted(lik, key=lambda x: x[1]))
        line = f"Test NLL in nats per point (lower is better): {parts}"
        kde = refs.get("kde", {}).get("nll")
        if kde is not None:
            line += f"; KDE scores {kde:.2f}"
        out.append(line + ".")
        exact = [(f, v) for f, v, k in lik if k == "exact"]
        for f, v, k in lik:
            if k != "bound":
                continue
            se = rows[f].get("nll_se") or 0.0
            for g, w in exact:
                if abs(v - w) <= 2 * se:
                    out.append(f"{_the(f, True)}'s bound ({v:.2f}) and {_the(g)}'s exact NLL ({w:.2f}) are within twice "
                               f"the bound's Monte Carlo error ({se:.2f}): too close to call.")
                elif v < w:
                    out.append(f"{_the(f, True)}'s bound ({v:.2f}) is already below {_the(g)}'s exact NLL "
                               f"({w:.2f}), so {_the(f)} is certainly the better density model of the two.")
                else:
                    out.append(f"{_the(f, True)}'s bound ({v:.2f}) lies above {_the(g)}'s exact NLL ({w:.2f}): "
                               f"that settles nothing, since its true NLL may lie anywhere below the bound.")
        if kde is not None:
            beat = [LABELS[f] for f, v, _ in lik if v < kde]
            out.append(f"Against KDE's {kde:.2f}: " + (f"{_names([f for f, v, _ in lik if v < kde])} "
                       f"{'does' if len(beat) == 1 else 'do'} better." if beat else
                       f"no family beats the classical estimator within {cfg.budget:g} s."
                       if not cfg.steps else "no family beats the classical estimator at these steps."))
        if rows.get("gan") and not rows["gan"]["diverged"]:
            out.append("The GAN has no number here at all: it defines its distribution only by sampling.")
    # cost
    st, sr = winners(result, "sample_seconds_per_1000", rel_tie=0.0)
    if sr:
        slow_f, slow_v = sr[-1]
        out.append(f"Fastest sampler: **{_names(st[:1])}** ({sr[0][1] * 1000:.2g} ms per 1,000 points); slowest "
                   f"{LABELS[slow_f]} ({slow_v * 1000:.3g} ms, {slow_v / max(sr[0][1], 1e-9):.0f}x"
                   + (", 50 network passes per sample (DDIM-50) instead of one" if slow_f == "diffusion" else "")
                   + ").")
    steps = [(LABELS[f], r["steps"], r["train_seconds"]) for f, r in rows.items()]
    if steps:
        out.append("Steps in the budget: " + ", ".join(f"{n} {s:,} in {t:.1f} s" for n, s, t in steps) + ".")
    # who won most columns
    tally = {}
    for col in ("nll", "mmd2", "swd", "precision", "recall", "modes"):
        t, ranked = winners(result, col)
        if len(ranked) > 1:
            for f in t:
                tally[f] = tally.get(f, 0) + 1
    if tally:
        top = max(tally.values())
        lead = [f for f, c in tally.items() if c == top]
        counted = sum(1 for col in ("nll", "mmd2", "swd", "precision", "recall", "modes") if len(winners(result, col)[1]) > 1)
        out.append(f"On this data, with {f'{cfg.budget:g} s per family' if not cfg.steps else 'these steps'} and "
                   f"seed {cfg.seed}: **{_names(lead)}** won {top} of the {counted} quality columns"
                   + " (ties within 5% of the spread count for each tied family). One seed, one budget: rerun with "
                   "another seed before trusting a small gap.")
    return out


# ----------------------------------------------------------------------------------------- shipped results

def shipped_path(data: str) -> Path:
    from core.checkpoints import SHIPPED_DIR

    return SHIPPED_DIR / f"compare_{data}.json"


def load_shipped(data: str) -> CompareResult:
    """The precomputed result for a toy set (``checkpoints/compare_<data>.json``); CheckpointError if absent."""
    from core.checkpoints import CheckpointError

    p = shipped_path(data)
    if not p.exists():
        raise CheckpointError(f"No precomputed comparison for {data!r} ({p.name}).", p)
    return CompareResult.load(p)


def table(result: CompareResult, references: bool = True) -> list[dict]:
    """The table as rows of display strings (the page and the bench print the same thing)."""
    def num(v, spec):
        return "—" if v is None else format(v, spec)

    out = []
    for r in result.rows + (result.references if references else []):
        nll = r["nll"]
        kind = r["nll_kind"]
        out.append({
            "model": r["label"].split(" (")[0] + (" (reference)" if r["family"] == "kde" else "")
            + (" (diverged)" if r.get("diverged") else ""),
            "test NLL": "—" if nll is None else (f"{nll:.3f}" if kind == "exact" else f"<= {nll:.3f}"),
            "MMD^2": mmd_text(r["mmd2"]), "sliced W": num(r["swd"], ".4f"),
            "precision": num(r["precision"], ".3f"), "recall": num(r["recall"], ".3f"),
            "modes": "—" if r.get("modes") is None else f"{r['modes']}/{r['n_modes']} ({r['hq']:.0%} hq)",
            "steps": num(r["steps"], ","), "train s": num(r["train_seconds"], ".1f"),
            "sample s/1000": num(r["sample_seconds_per_1000"], ".4f"), "params": num(r["params"], ","),
            "can do": r["capability"],
        })
    return out


def format_table(result: CompareResult) -> str:
    rows = table(result)
    cols = [c for c in rows[0] if c != "can do"]  # the capabilities are too wide for a terminal
    w = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    lines = ["  ".join(c.ljust(w[c]) for c in cols), "  ".join("-" * w[c] for c in cols)]
    lines += ["  ".join(str(r[c]).ljust(w[c]) for c in cols) for r in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------- CLI

def run(config: CompareConfig, out: str = "", command: str = "", device: str = "cpu") -> CompareResult:
    """``python -m core compare ...`` (core/__main__.py): run the comparison, print its table and reading, and save
    it as JSON to ``out`` (the page's precomputed results are made so; ``command`` is recorded with it)."""
    runtime.set_threads(config.threads)

    def progress(e):
        if e["phase"] == "evaluate":
            print(f"  {e['family']}: {e['step']:,} steps in {e['seconds']:.1f} s", flush=True)

    res = compare(config, progress=progress, device=device)
    res.meta["command"] = command
    print(format_table(res))
    for line in reading(res):
        print("-", line.replace("**", ""))
    if out:
        print("saved", res.save(out))
    return res
